"""The real-build suite: a Debian bookworm farm set up from nothing with
``buildmaster-admin``, a chroot made by ``chroot create`` (debootstrap),
the real launchpad-buildd with its own helpers and Debian's sbuild and
schroot, and a master; Debian's ``hello`` (from ``apt-get source``) and
three small sources of our own are built for real.

Expected: hello FULLYBUILT; an epoch version with two binaries
FULLYBUILT; an unsatisfiable Build-Depends MANUALDEPWAIT naming it; and,
once the series is released, a SECURITY-pocket build whose build
dependencies are only in the release pocket FULLYBUILT.

``make test-realbuild`` runs it (root, network to deb.debian.org). It
skips, saying why, only when Debian's archive cannot be reached. The
chroot is cached in var/realbuild/ (delete it to make a new one).
"""

import json
import os
import shutil
import tempfile
import textwrap
import time
from pathlib import Path

from treq.client import HTTPClient
from twisted.internet import defer, reactor, task, utils
from twisted.trial import unittest
from twisted.web import server

from lp_buildmaster import config as configmodule
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.service import MasterService
from lp_buildmaster.slave import makePool
from tests.database import ROOT, DatabaseTestCase
from tests.farm import captureLogs
from tests.realbuild import DEBIAN, MirrorProxy, RealBuild
from tests.test_admin import ADMIN

CACHE = ROOT / "var" / "realbuild"
CHROOT = CACHE / "chroot-debian-bookworm-amd64.tar.gz"
FINAL = frozenset([
    BuildStatus.FULLYBUILT, BuildStatus.FAILEDTOBUILD,
    BuildStatus.MANUALDEPWAIT, BuildStatus.CHROOTWAIT,
    BuildStatus.FAILEDTOUPLOAD, BuildStatus.SUPERSEDED,
    BuildStatus.CANCELLED])
#: One build may take this long on a busy machine.
BUILD_TIMEOUT = 1800


def ownSource(root, name, version, build_depends, binaries):
    """A native source package made with dpkg-source: its directory.

    @param binaries: C{[(package, architecture)]}.
    """
    upstream = version.split(":", 1)[-1]
    top = root / ("%s-%s" % (name, upstream))
    debian = top / "debian"
    (debian / "source").mkdir(parents=True)
    (debian / "source" / "format").write_text("3.0 (native)\n")
    stanzas = "".join(textwrap.dedent("""\

        Package: %s
        Architecture: %s
        Description: lp-buildmaster real-build test package
         Built by tests/realbuild/suite.py.
        """) % (package, arch) for package, arch in binaries)
    (debian / "control").write_text(textwrap.dedent("""\
        Source: %s
        Section: misc
        Priority: optional
        Maintainer: lp-buildmaster tests <tests@example.com>
        Build-Depends: %s
        Standards-Version: 4.6.2
        Rules-Requires-Root: no
        """) % (name, build_depends) + stanzas)
    (debian / "changelog").write_text(textwrap.dedent("""\
        %s (%s) bookworm; urgency=medium

          * A package for the real-build suite.

         -- lp-buildmaster tests <tests@example.com>  Mon, 30 Nov 2026 12:00:00 +0000
        """) % (name, version))
    (debian / "rules").write_text("#!/usr/bin/make -f\n%:\n\tdh $@\n")
    (debian / "rules").chmod(0o755)
    (top / "README").write_text("%s %s\n" % (name, version))
    return top


class RealBuildSuite(DatabaseTestCase):

    timeout = 4 * BUILD_TIMEOUT

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        missing = [tool for tool in ("sbuild", "schroot", "debootstrap",
                                     "dpkg-source", "apt-get")
                   if shutil.which(tool) is None]
        if missing or os.geteuid() != 0:
            self.fail("the real-build suite needs root and %s (make "
                      "test-realbuild installs them)" % ", ".join(
                          missing or ["nothing else"]))
        pool = makePool(reactor)
        self.addCleanup(pool.closeCachedConnections)
        from twisted.web.client import Agent
        self.http = HTTPClient(Agent(reactor, pool=pool))
        try:
            d = self.http.head(DEBIAN + "/dists/bookworm/InRelease")
            d.addTimeout(30, reactor)
            response = yield d
            if response.code != 200:
                raise Exception("HTTP %d" % response.code)
        except Exception as e:
            reason = "Debian's archive cannot be reached (%s/dists/" \
                     "bookworm/InRelease: %s)" % (DEBIAN, e)
            print("SKIPPED: " + reason)
            raise unittest.SkipTest(reason)
        self.logs = captureLogs(self)
        self.proxy = MirrorProxy(self.http)
        port = reactor.listenTCP(0, server.Site(self.proxy),
                                 interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.mirror = "http://127.0.0.1:%d/debian" % port.getHost().port
        # Short paths: schroot and the daemon's build directories.
        self.basedir = Path(tempfile.mkdtemp(prefix="lpbm-rb-"))
        self.addCleanup(self.removeBasedir)
        self.daemon = RealBuild(str(self.basedir / "buildd"),
                                arch_tag="amd64")
        yield self.daemon.start()
        self.addCleanup(self.daemon.stop)
        self.state_dir = self.librarian_root.parent
        self.times = {}

    def removeBasedir(self):
        # Never through a mount left behind by a failed build.
        with open("/proc/self/mounts") as f:
            if str(self.basedir) in f.read():
                return
        shutil.rmtree(self.basedir, ignore_errors=True)

    @defer.inlineCallbacks
    def admin(self, *args):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("BUILDMASTER_")}
        out, err, code = yield utils.getProcessOutputAndValue(
            str(ADMIN), ("--database", self.dsn, "--state-dir",
                         str(self.state_dir)) + tuple(args), env=env)
        self.assertEqual(code, 0, "%s: %s%s" % (args, out.decode(),
                                                err.decode()))
        return out.decode()

    @defer.inlineCallbacks
    def runCommand(self, argv, cwd):
        out, err, code = yield utils.getProcessOutputAndValue(
            argv[0], argv[1:], env=dict(os.environ, LC_ALL="C.UTF-8"),
            path=str(cwd))
        self.assertEqual(code, 0, "%s: %s%s" % (argv, out.decode(),
                                                err.decode()))
        return out.decode()

    @defer.inlineCallbacks
    def fetchHello(self, work):
        """Debian's hello, by apt-get source, from a private apt state."""
        state = work / "apt"
        for sub in ("lists/partial", "cache/archives/partial", "parts"):
            (state / sub).mkdir(parents=True)
        (state / "sources.list").write_text(
            "deb-src %s bookworm main\n" % DEBIAN)
        options = []
        for key, value in [
                ("Dir::Etc::SourceList", state / "sources.list"),
                ("Dir::Etc::SourceParts", state / "parts"),
                ("Dir::State::Lists", state / "lists"),
                ("Dir::Cache", state / "cache"),
                ("Debug::NoLocking", "1")]:
            options += ["-o", "%s=%s" % (key, value)]
        apt = shutil.which("apt-get")
        yield self.runCommand([apt] + options + ["update"], work)
        yield self.runCommand([apt] + options + ["source", "--download-only",
                                          "hello"], work)
        return sorted(work.glob("hello_*.dsc"))[0]

    @defer.inlineCallbacks
    def addSource(self, dsc, pocket="release"):
        files = [str(p) for p in dsc.parent.iterdir()
                 if p.is_file() and p.name.startswith(
                     dsc.name.split("_")[0] + "_")
                 and not p.name.endswith((".dsc", ".changes",
                                          ".buildinfo"))]
        yield self.admin("source", "add", "debian", "bookworm", "--pocket",
                         pocket, str(dsc), *files)

    @defer.inlineCallbacks
    def request(self, source, version, pocket="release"):
        out = yield self.admin("build", "request", "debian", "bookworm",
                               "amd64", source, version, "--pocket", pocket)
        build_id = int(out)
        self.times[build_id] = reactor.seconds()
        return build_id

    @defer.inlineCallbacks
    def waitFinal(self, build_id):
        deadline = reactor.seconds() + BUILD_TIMEOUT
        while True:
            build = yield self.store.builds.get(build_id)
            if build.buildstate in FINAL:
                self.times[build_id] = reactor.seconds() - \
                    self.times[build_id]
                return build
            if reactor.seconds() > deadline:
                self.fail("build %d still %s after %d s\ndaemon log:\n%s"
                          % (build_id, build.buildstate.name, BUILD_TIMEOUT,
                             self.daemon.log()[-6000:]))
            yield task.deferLater(reactor, 1.0, lambda: None)

    @defer.inlineCallbacks
    def buildLog(self, build):
        alias = yield self.store.library.getAlias(build.buildlog)
        path = self.state_dir / "librarian"
        from lp_buildmaster.librarian.storage import ContentStore
        import gzip
        with gzip.open(ContentStore(path).path(alias.sha1)) as f:
            return f.read().decode("utf-8", "replace")

    @defer.inlineCallbacks
    def test_realBuilds(self):
        started = time.monotonic()
        work = self.basedir / "sources"
        work.mkdir()
        # The world, from nothing (the test database's sample world has
        # an amd64 processor already; a fresh one would not).
        processors = json.loads((yield self.admin("--json", "processor",
                                                  "list")))
        if "amd64" not in [p["name"] for p in processors]:
            yield self.admin("processor", "add", "amd64", "--title", "AMD64")
        for args in [
                ("distribution", "add", "debian", "--title", "Debian"),
                ("series", "add", "debian", "bookworm", "--version", "12",
                 "--status", "development"),
                ("arch", "add", "debian", "bookworm", "amd64",
                 "--processor", "amd64", "--arch-indep"),
                ("archive", "add", "debian", "primary", "--purpose",
                 "primary", "--url", self.mirror),
                ("builder", "add", "rb1", self.daemon.url, "--processor",
                 "amd64")]:
            yield self.admin(*args)
        # The sample world's builders are not ours.
        yield self.store.runOperation(
            "UPDATE builder SET active = false WHERE name <> 'rb1'")
        yield self.store.runOperation("DELETE FROM buildqueue")
        # The chroot: made by chroot create once, then reused.
        CACHE.mkdir(parents=True, exist_ok=True)
        if not CHROOT.exists():
            chroot_started = time.monotonic()
            out = yield self.admin(
                "chroot", "create", "debian", "bookworm", "amd64",
                "--mirror", DEBIAN, "--output", str(CHROOT))
            print(out)
            print("chroot create took %.0f s"
                  % (time.monotonic() - chroot_started))
        for pocket in ("release", "security"):
            yield self.admin("chroot", "set", "debian", "bookworm", "amd64",
                             "--pocket", pocket, str(CHROOT))
        # Sources.
        hello = yield self.fetchHello(work)
        epoch = ownSource(work, "lpbm-epoch", "1:1.0",
                          "debhelper-compat (= 13)",
                          [("lpbm-epoch", "any"), ("lpbm-epoch-doc", "all")])
        depwait = ownSource(work, "lpbm-depwait", "1.0",
                            "debhelper-compat (= 13), "
                            "lpbm-no-such-package (>= 1.0)",
                            [("lpbm-depwait", "any")])
        security = ownSource(work, "lpbm-security", "1.0",
                             "debhelper-compat (= 13)",
                             [("lpbm-security", "any")])
        dpkg_source = shutil.which("dpkg-source")
        for top in (epoch, depwait, security):
            yield self.runCommand([dpkg_source, "-b", top.name], work)
        yield self.addSource(hello)
        yield self.addSource(work / "lpbm-epoch_1.0.dsc")
        yield self.addSource(work / "lpbm-depwait_1.0.dsc")
        hello_version = hello.name[len("hello_"):-len(".dsc")]

        # A master.
        config = configmodule.load(environ={}, overrides={
            ("master", "database"): self.dsn,
            ("master", "state_dir"): str(self.state_dir),
            ("master", "name"): "realbuild",
            ("master", "scan_interval"): "2",
            ("web", "port"): "0",
            ("librarian", "port"): "0",
        })
        master = MasterService(config, self.dsn, reactor=reactor)
        yield master.startService()
        self.addCleanup(lambda: master.running and master.stopService())

        ids = {}
        for source, version in [("hello", hello_version),
                                ("lpbm-epoch", "1:1.0"),
                                ("lpbm-depwait", "1.0")]:
            ids[source] = yield self.request(source, version)
        results = {}
        for source, build_id in ids.items():
            results[source] = yield self.waitFinal(build_id)
        summary = {s: b.buildstate.name for s, b in results.items()}

        # Released: a SECURITY build, its build-deps in the release pocket.
        yield self.admin("series", "set", "debian", "bookworm", "--status",
                         "current")
        yield self.addSource(work / "lpbm-security_1.0.dsc",
                             pocket="security")
        ids["lpbm-security"] = yield self.request("lpbm-security", "1.0",
                                                  pocket="security")
        results["lpbm-security"] = yield self.waitFinal(
            ids["lpbm-security"])
        summary["lpbm-security"] = results["lpbm-security"].buildstate.name
        figures = {
            "states": summary,
            "seconds": {s: round(self.times[i]) for s, i in ids.items()},
            "wall_seconds": round(time.monotonic() - started)}
        print(json.dumps(figures))
        self.assertEqual(summary, {
            "hello": "FULLYBUILT", "lpbm-epoch": "FULLYBUILT",
            "lpbm-depwait": "MANUALDEPWAIT", "lpbm-security": "FULLYBUILT"},
            json.dumps(figures))
        self.assertEqual(results["lpbm-depwait"].dependencies,
                         "lpbm-no-such-package (>= 1.0)")
        binaries = yield self.store.binaries.getByBuild(ids["lpbm-epoch"])
        self.assertEqual(sorted((b.name, b.version, b.architecture)
                                for b in binaries),
                         [("lpbm-epoch", "1:1.0", "amd64"),
                          ("lpbm-epoch-doc", "1:1.0", "all")])
        rows = yield self.store.runQuery(
            "SELECT changesfile, buildinfo FROM build WHERE id = %s",
            (ids["hello"],))
        self.assertIsNotNone(rows[0]["changesfile"])
        self.assertIsNotNone(rows[0]["buildinfo"])
        log = yield self.buildLog(results["lpbm-security"])
        self.assertIn("bookworm-security", log)
        yield master.stopService()
