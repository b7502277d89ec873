"""``buildmaster-admin`` defining a world from nothing: processors, a
distribution, series, architectures, archives with dependencies, external
dependencies and a signing key exported by the real gpg; then a build of
it carries those archives and that key."""

import base64
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from twisted.internet import defer, utils

from lp_buildmaster.buildergroup import BuilderHandle, Job
from lp_buildmaster.master import Dispatcher
from lp_buildmaster.testing.mockslaves import OkSlave
from lp_buildmaster.enums import PackagePublishingPocket
from lp_buildmaster.librarian.storage import ContentStore
from tests.test_admin import ADMIN, AdminCommandTestCase, writeSource
from tests.test_librarian import LibrarianFixture


#: A public key made for these tests with gpg --quick-gen-key (ed25519).
KEY_FILE = Path(__file__).parent / "data" / "archive-signing-key.asc"
FINGERPRINT = "42DF904BBB81D39C00F73F1B84B23F7D6CF1D008"


#: (message, arguments) of commands refused after WorldCommandTests.define.
REFUSALS = [
    ("a processor named 'arm64' exists already",
     ("processor", "add", "arm64")),
    ("invalid processor name 'Arm 64': lower-case letters, "
     "digits, '+', '-' and '.', starting with a letter or digit",
     ("processor", "add", "Arm 64")),
    ("a distribution named 'debian' exists already",
     ("distribution", "add", "debian")),
    ("unknown distribution 'devuan'",
     ("series", "add", "devuan", "x", "--status", "current")),
    ("unknown release status 'stable'; choose one of "
     "experimental, development, frozen, current, supported, "
     "obsolete",
     ("series", "add", "debian", "x", "--status", "stable")),
    ("a series named 'bookworm' exists already",
     ("series", "add", "debian", "bookworm", "--status",
      "current")),
    ("unknown series 'buster' of debian",
     ("series", "add", "debian", "x", "--status", "current",
      "--parent", "buster")),
    ("invalid version '1 2': digits, letters, '.', '+', '~' "
     "and '-'", ("series", "set", "debian", "trixie",
                 "--version", "1 2")),
    ("a series cannot be its own parent",
     ("series", "set", "debian", "trixie", "--parent",
      "trixie")),
    ("unknown processor 'sparc'; known: amd64, arm64, x86",
     ("arch", "add", "debian", "bookworm", "sparc",
      "--processor", "sparc")),
    ("architecture 'amd64' of that series exists already",
     ("arch", "add", "debian", "bookworm", "amd64",
      "--processor", "amd64")),
    ("invalid architecture tag 'AMD64': lower-case letters, "
     "digits and '-'", ("arch", "add", "debian", "bookworm",
                        "AMD64", "--processor", "amd64")),
    ("debian bookworm has no architecture 'i386'",
     ("arch", "set", "debian", "bookworm", "i386",
      "--arch-indep")),
    ("debian has a primary archive already",
     ("archive", "add", "debian", "main2", "--purpose",
      "primary")),
    ("a ppa archive needs --url: where builders find it",
     ("archive", "add", "debian", "p", "--purpose", "ppa")),
    ("unknown archive purpose 'debug'; choose one of primary, "
     "ppa, partner, copy",
     ("archive", "add", "debian", "p", "--purpose", "debug")),
    ("malformed archive URL 'ftp:/x': it must be "
     "http(s)://HOST/PATH",
     ("archive", "set", "debian", "extras", "--url", "ftp:/x")),
    ("external dependency 'deb http://x/ %(suite)s main' of "
     "archive extras: bad substitution ('suite'); only "
     "%(series)s is known",
     ("archive", "set", "debian", "extras",
      "--external-dependencies", "deb http://x/ %(suite)s main")),
    ("malformed sources.list line 'curl | sh': it must be "
     "'deb URL SUITE [COMPONENT...]'",
     ("archive", "set", "debian", "extras",
      "--external-dependencies", "curl | sh")),
    ("unknown component 'free'; choose one of contrib, main, "
     "multiverse, non-free, non-free-firmware, partner, "
     "restricted, universe",
     ("archive", "depend", "debian", "extras", "primary",
      "--component", "free")),
    ("an archive cannot depend on itself",
     ("archive", "depend", "debian", "extras", "extras")),
    ("unknown archive 'nope' of debian",
     ("archive", "depend", "debian", "extras", "nope")),
    ("debian extras does not depend on primary",
     ("archive", "undepend", "debian", "extras", "primary",
      "--dependency-distribution", "ubuntu")),
    ("no such key file, and not a fingerprint: /nonexistent",
     ("archive", "set", "debian", "extras", "--signing-key",
      "/nonexistent")),
]


class WorldCommandTests(LibrarianFixture, AdminCommandTestCase):

    def writeBytes(self, name, data):
        path = self.state_dir / name
        path.write_bytes(data)
        return path

    @defer.inlineCallbacks
    def define(self):
        """Debian bookworm from nothing, as the README shows."""
        for args in [
                ("processor", "add", "arm64", "--title", "ARMv8"),
                ("distribution", "add", "debian", "--title", "Debian"),
                ("series", "add", "debian", "bookworm", "--version", "12",
                 "--status", "current"),
                ("series", "add", "debian", "trixie", "--version", "13",
                 "--status", "development", "--parent", "bookworm"),
                ("arch", "add", "debian", "bookworm", "amd64",
                 "--processor", "amd64"),
                ("arch", "add", "debian", "bookworm", "arm64",
                 "--processor", "arm64", "--arch-indep"),
                ("archive", "add", "debian", "primary", "--purpose",
                 "primary", "--url", "http://127.0.0.1:9/debian"),
                ("archive", "add", "debian", "extras", "--purpose", "ppa",
                 "--owner", "me", "--url", "http://127.0.0.1:9/extras",
                 "--external-dependencies",
                 "deb http://127.0.0.1:9/security %(series)s-security main"),
                ("archive", "depend", "debian", "extras", "primary",
                 "--pocket", "security", "--component", "main")]:
            yield self.assertSucceeds(*args)

    @defer.inlineCallbacks
    def test_defineDebianFromNothing(self):
        yield self.define()
        out = yield self.assertSucceeds("--json", "series", "list", "debian")
        self.assertEqual(
            [(r["name"], r["version"], r["releasestatus"], r["parent_series"],
              r["nominated_arch_indep"]) for r in json.loads(out)],
            [("bookworm", "12", "CURRENT", None, "arm64"),
             ("trixie", "13", "DEVELOPMENT", "bookworm", None)])
        out = yield self.assertSucceeds("arch", "list", "debian")
        self.assertEqual([line.split() for line in out.splitlines()], [
            ["DISTRIBUTION", "SERIES", "ARCH", "PROCESSOR", "ARCH-INDEP",
             "OFFICIAL"],
            ["debian", "bookworm", "amd64", "amd64", "yes"],
            ["debian", "bookworm", "arm64", "arm64", "yes", "yes"]])
        rows = json.loads((yield self.assertSucceeds(
            "arch", "list", "debian", "bookworm", "--json")))
        self.assertEqual([(r["architecturetag"], r["processor"],
                           r["arch_indep"]) for r in rows],
                         [("amd64", "amd64", False), ("arm64", "arm64", True)])
        rows = json.loads((yield self.assertSucceeds(
            "--json", "archive", "list", "debian")))
        self.assertEqual(
            [(r["name"], r["purpose"], r["archive_url"],
              r["require_virtualized"]) for r in rows],
            [("extras", "PPA", "http://127.0.0.1:9/extras", True),
             ("primary", "PRIMARY", "http://127.0.0.1:9/debian", False)])
        rows = json.loads((yield self.assertSucceeds(
            "archive", "dependencies", "debian", "extras", "--json")))
        self.assertEqual([(r["dependency"], r["pocket"], r["component"])
                          for r in rows], [("primary", "SECURITY", "main")])
        # set: nominate the other arch, change status, flags.
        out = yield self.assertSucceeds("arch", "set", "debian", "bookworm",
                                        "amd64", "--arch-indep")
        self.assertEqual(out, "debian bookworm amd64 on amd64 "
                         "(arch-indep)\n")
        out = yield self.assertSucceeds("series", "set", "debian", "trixie",
                                        "--status", "frozen", "--no-parent")
        self.assertEqual(out, "series debian trixie: version 13, FROZEN\n")
        out = yield self.assertSucceeds(
            "archive", "set", "debian", "extras", "--disabled", "--private",
            "--no-virtualized")
        self.assertEqual(out, "archive debian extras (PPA, private, "
                         "disabled): http://127.0.0.1:9/extras\n")
        out = yield self.assertSucceeds(
            "archive", "undepend", "debian", "extras", "primary")
        self.assertEqual(out, "no archive dependencies\n")
        out = yield self.assertSucceeds("processor", "set", "arm64",
                                        "--title", "AArch64")
        self.assertEqual(out, "processor arm64: AArch64\n")

    #: Many short processes; a busy machine makes them slow.
    timeout = 600

    def test_refusals(self):
        return self.checkRefusals(REFUSALS[:12])

    def test_moreRefusals(self):
        return self.checkRefusals(REFUSALS[12:])

    @defer.inlineCallbacks
    def checkRefusals(self, refusals):
        yield self.define()
        for message, args in refusals:
            yield self.assertFails(message, *args)

    @defer.inlineCallbacks
    def test_signingKeyReachesTheBuild(self):
        """The key file's public key, exported by gpg, is stored and sent
        as trusted_keys of a build in the archive; the archives follow
        the definitions."""
        self.startLibrarian()
        yield self.define()
        out = yield self.assertSucceeds("archive", "set", "debian", "extras",
                                        "--signing-key", str(KEY_FILE))
        self.assertIn("signed by %s" % FINGERPRINT, out)
        rows = yield self.query(
            "SELECT signing_key_fingerprint, signing_key FROM archive"
            " WHERE name = 'extras'")
        self.assertEqual(rows[0]["signing_key_fingerprint"], FINGERPRINT)
        key = base64.b64decode(rows[0]["signing_key"])
        # The binary export (not the armored file), which gpg reads back.
        self.assertFalse(key.startswith(b"-----BEGIN"))
        home = Path(tempfile.mkdtemp(prefix="lpbm-t-"))
        self.addCleanup(shutil.rmtree, home, True)
        out, err, code = yield utils.getProcessOutputAndValue(
            shutil.which("gpg"), ("--homedir", str(home), "--batch",
                                  "--with-colons", "--import-options",
                                  "show-only", "--import", str(
                                      self.writeBytes("key.gpg", key))))
        self.assertIn("fpr:::::::::%s:" % FINGERPRINT, out.decode())
        # A source in the PPA with a chroot, a build, a builder.
        dsc, tarball = writeSource(self.state_dir, "hello", "2.10-3")
        chroot = self.state_dir / "chroot.tar.gz"
        with tarfile.open(chroot, "w:gz") as tar:
            info = tarfile.TarInfo("chroot-autobuild")
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for args in [
                ("chroot", "set", "debian", "bookworm", "amd64",
                 "--pocket", "updates", str(chroot)),
                ("source", "add", "debian", "bookworm", "--archive",
                 "extras", "--pocket", "updates", str(dsc), str(tarball))]:
            yield self.assertSucceeds(*args)
        build_id = int((yield self.assertSucceeds(
            "build", "request", "debian", "bookworm", "amd64", "hello",
            "2.10-3", "--archive", "extras", "--pocket", "updates")))
        # The PPA has binaries in bookworm (else it is left out).
        yield self.query(
            "INSERT INTO binarypackagerelease (build, name, version,"
            " architecture, distroarchrelease, distrorelease, archive,"
            " pocket) SELECT id, 'hello', '2.10-3', 'amd64',"
            " distroarchrelease, (SELECT distrorelease FROM distroarchrelease"
            " WHERE id = build.distroarchrelease), archive, 20 FROM build"
            " WHERE id = %s RETURNING id", (build_id,))
        build = yield self.store.builds.get(build_id)
        queue = yield self.store.queue.getByBuild(build_id)
        builder_id = yield self.store.builders.add(
            "b", "http://127.0.0.1:9/", build.processor, virtualized=True)
        builder = BuilderHandle((yield self.store.builders.get(builder_id)),
                                OkSlave(name="b"))
        dispatcher = Dispatcher(self.store, self.librarian, clock=self.clock)
        request = yield dispatcher.buildRequest(Job(queue, build, builder))
        self.assertEqual(request.args["archives"], [
            "deb http://127.0.0.1:9/extras bookworm main",
            "deb http://127.0.0.1:9/security bookworm-security main",
            "deb http://127.0.0.1:9/debian bookworm main",
            "deb http://127.0.0.1:9/debian bookworm-security main"])
        self.assertEqual(request.args["trusted_keys"],
                         [rows[0]["signing_key"]])
        self.assertEqual(request.args["arch_indep"], False)
        self.assertEqual(request.args["distribution"], "debian")
        self.assertEqual(request.args["suite"], "bookworm-updates")


FAKE_DEBOOTSTRAP = r'''#!/usr/bin/env python3
"""Stands for debootstrap: a tiny tree where the real one makes a system,
its progress lines, and its arguments recorded."""
import json, os, sys
args = sys.argv[1:]
suite, target, mirror = [a for a in args if not a.startswith("--")]
with open(os.environ["FAKE_DEBOOTSTRAP_LOG"], "w") as f:
    json.dump(args, f)
if os.environ.get("FAKE_DEBOOTSTRAP_FAIL"):
    print("I: Retrieving InRelease")
    print("E: Failed getting release file %s/dists/%s/InRelease"
          % (mirror, suite))
    sys.exit(1)
for sub in ("etc/apt", "bin", "var/cache/apt/archives", "var/lib/apt/lists"):
    os.makedirs(os.path.join(target, sub), exist_ok=True)
with open(os.path.join(target, "etc/passwd"), "w") as f:
    f.write("root:x:0:0:root:/root:/bin/bash\n")
with open(os.path.join(target, "etc/group"), "w") as f:
    f.write("root:x:0:\n")
with open(os.path.join(target, "etc/shadow"), "w") as f:
    f.write("root:*:19000:0:99999:7:::\n")
with open(os.path.join(target, "etc/hostname"), "w") as f:
    f.write("the-host\n")
with open(os.path.join(target, "var/cache/apt/archives/x.deb"), "w") as f:
    f.write("cached\n")
for line in ("I: Retrieving InRelease", "I: Validating Packages",
             "some noise", "I: Extracting base-files...",
             "I: Base system installed successfully."):
    print(line, flush=True)
'''


class ChrootCreateTests(AdminCommandTestCase):
    """chroot create around a stand-in debootstrap (the real one runs in
    the real-build suite, tests/test_realbuild.py)."""

    def fakePath(self):
        bindir = self.state_dir / "fakebin"
        bindir.mkdir()
        script = bindir / "debootstrap"
        script.write_text(FAKE_DEBOOTSTRAP)
        script.chmod(0o755)
        return "%s:%s" % (bindir, os.environ["PATH"])

    @defer.inlineCallbacks
    def adminWith(self, env, *args):
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith("BUILDMASTER_")}
        environ.update(env)
        out, err, code = yield utils.getProcessOutputAndValue(
            str(ADMIN), ("--database", self.dsn, "--state-dir",
                         str(self.state_dir)) + tuple(args), env=environ)
        return out.decode(), err.decode(), code

    @defer.inlineCallbacks
    def test_createsLaunchpadLayout(self):
        if os.geteuid() != 0:
            out, err, code = yield self.adminWith(
                {"PATH": self.fakePath(), "FAKE_DEBOOTSTRAP_LOG": "/dev/null"},
                "chroot", "create", "ubuntu", "hoary", "i386", "--mirror",
                "http://127.0.0.1:9/ubuntu")
            self.assertEqual((err, code), (
                "buildmaster-admin: error: chroot create must run as root "
                "(debootstrap does)\n", 1))
            return
        log = self.state_dir / "debootstrap.json"
        out, err, code = yield self.adminWith(
            {"PATH": self.fakePath(), "FAKE_DEBOOTSTRAP_LOG": str(log)},
            "chroot", "create", "ubuntu", "hoary", "i386", "--mirror",
            "http://127.0.0.1:9/ubuntu/", "--include", "devscripts",
            "--no-check-gpg", "--pocket", "updates")
        self.assertEqual((err, code), ("", 0), out)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("chroot create: running "))
        progress = [l.split("): ", 1)[1] for l in lines
                    if l.startswith("chroot create: debootstrap (")]
        self.assertEqual(progress, [
            "I: Retrieving InRelease", "I: Validating Packages",
            "I: Extracting base-files...",
            "I: Base system installed successfully."])
        self.assertIn("chroot create: adding the buildd user (2001:2501) "
                      "and sources.list", lines)
        self.assertTrue(lines[-1].startswith(
            "chroot of ubuntu hoary i386 UPDATES is now "
            "chroot-ubuntu-hoary-i386.tar.gz (library file "), lines[-1])
        args = json.loads(log.read_text())
        self.assertEqual(args[:3], ["--variant=buildd", "--arch=i386",
                                    "--include=build-essential,fakeroot,"
                                    "devscripts"])
        self.assertEqual(args[3], "--no-check-gpg")
        self.assertEqual(args[4], "hoary")
        self.assertEqual(args[6], "http://127.0.0.1:9/ubuntu")
        # The tarball in the librarian, as chroot set would have it.
        dar = yield self.store.distro.getDistroArchRelease("ubuntu", "hoary",
                                                          "i386")
        chroot = yield self.store.distro.getChroot(
            dar.id, PackagePublishingPocket.UPDATES)
        alias = yield self.store.library.getAlias(chroot.chroot)
        path = ContentStore(self.state_dir / "librarian").path(alias.sha1)
        with open(path, "rb") as f:
            with tarfile.open(fileobj=f, mode="r:gz") as tar:
                members = {m.name: m for m in tar.getmembers()}
                passwd = tar.extractfile(
                    "chroot-autobuild/etc/passwd").read().decode()
                group = tar.extractfile(
                    "chroot-autobuild/etc/group").read().decode()
                sources = tar.extractfile(
                    "chroot-autobuild/etc/apt/sources.list").read().decode()
        self.assertEqual({n.split("/")[0] for n in members},
                         {"chroot-autobuild"})
        self.assertIn("buildd:x:2001:2501:Build Daemon user:/home/buildd:"
                      "/bin/bash\n", passwd)
        self.assertIn("buildd:x:2501:\n", group)
        home = members["chroot-autobuild/home/buildd"]
        self.assertEqual((home.uid, home.gid), (2001, 2501))
        self.assertEqual(sources, "deb http://127.0.0.1:9/ubuntu hoary main\n")
        self.assertNotIn("chroot-autobuild/etc/hostname", members)
        self.assertNotIn("chroot-autobuild/var/cache/apt/archives/x.deb",
                         members)
        # Nothing left behind but the empty tmp directory.
        self.assertEqual(list((self.state_dir / "tmp").iterdir()), [])

    @defer.inlineCallbacks
    def test_refusals(self):
        path = self.fakePath()
        for env, message, args in [
                ({"PATH": "/nonexistent"},
                 "debootstrap is not installed (Debian: apt-get install "
                 "debootstrap); chroot create needs it",
                 ("ubuntu", "hoary", "i386", "--mirror", "http://x/")),
                ({"PATH": path}, "malformed archive URL 'deb.debian.org': "
                 "it must be http(s)://HOST/PATH",
                 ("ubuntu", "hoary", "i386", "--mirror", "deb.debian.org")),
                ({"PATH": path}, "invalid package name 'a;b' in --include",
                 ("ubuntu", "hoary", "i386", "--mirror", "http://x/",
                  "--include", "a;b"))]:
            out, err, code = yield self.adminWith(
                env, "chroot", "create", *args)
            self.assertEqual((out, err, code),
                             ("", "buildmaster-admin: error: %s\n" % message,
                              1))
        if os.geteuid() != 0:
            return
        out, err, code = yield self.adminWith(
            {"PATH": path}, "chroot", "create", "ubuntu", "hoary", "sparc",
            "--mirror", "http://x/")
        self.assertEqual(err, "buildmaster-admin: error: ubuntu hoary has "
                         "no architecture 'sparc'\n")
        log = self.state_dir / "debootstrap.json"
        out, err, code = yield self.adminWith(
            {"PATH": path, "FAKE_DEBOOTSTRAP_LOG": str(log),
             "FAKE_DEBOOTSTRAP_FAIL": "1"}, "chroot", "create", "ubuntu",
            "hoary", "i386", "--mirror", "http://127.0.0.1:9/ubuntu")
        self.assertEqual((err, code), (
            "buildmaster-admin: error: debootstrap failed (exit 1): "
            "I: Retrieving InRelease / E: Failed getting release file "
            "http://127.0.0.1:9/ubuntu/dists/hoary/InRelease\n", 1))
        self.assertRegex(out, r"chroot create: debootstrap \(\d+ s\): "
                         r"E: Failed getting release file")
        self.assertEqual(list((self.state_dir / "tmp").iterdir()), [])
