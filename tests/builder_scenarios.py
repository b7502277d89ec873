"""The builder protocol's scenarios, run against both builders the
project talks to: the real launchpad-buildd daemon (tests/realbuilder,
L{tests.test_realbuilder}) and the simulator
(L{lp_buildmaster.testing.simulator}, L{tests.test_simulator}).

L{BuilderScenarios} is a mixin of tests; each test case class that mixes it
in drives its own builder and provides:

- C{slave}: a L{BuilderSlave} on the builder;
- C{builder_version}: what status() says as C{builder_version};
- C{rawCall(method, *args)}: a plain XML-RPC call, for what the client
  will not send (an empty cookie, unknown methods) and the daemon's own
  dicts;
- C{prepareBuild(source, version)}: a Deferred of C{(chroot_sha1,
  filemap)} with both in the builder's cache;
- C{startBuild(outcome, cookie=, source=, version=, args=, **options)}:
  sets how the next build ends (C{dependencies} for DEPFAIL) and starts a
  binarypackage build;
- C{finishBuild()}: a Deferred of the L{SlaveStatus} once the build ended
  (WAITING): the daemon is polled, the simulator's clock advanced;
- C{elapse(seconds)}: lets build time pass where it can be made to (the
  simulator's clock; nothing for the daemon, which runs in real time);
- C{fetch(name)}: a Deferred of the bytes of C{/filecache/<name>}.

The hooks C{checkChrootFailedEarly} and C{checkEmptyCookieRefused} add what
only one builder can show (the daemon's helper calls and log).
"""

import hashlib
import os

import treq
from debian.deb822 import Changes
from twisted.internet import defer, reactor
from twisted.web import resource, server, static
from twisted.web.client import HTTPConnectionPool
from twisted.web.xmlrpc import Fault

from lp_buildmaster.slave import SlaveFault
from lp_buildmaster.upload import readUpload
from tests.realbuilder import makeBuildArgs, makeDsc

COOKIE = "1-1"
IDLE = "BuilderStatus.IDLE"
BUILDING = "BuilderStatus.BUILDING"
WAITING = "BuilderStatus.WAITING"
ABORTING = "BuilderStatus.ABORTING"


class FileServer:
    """A little HTTP server on 127.0.0.1 for ensurepresent() to fetch from.
    """

    def __init__(self, testcase):
        self.root = resource.Resource()
        self.port = reactor.listenTCP(0, server.Site(self.root),
                                      interface="127.0.0.1")
        testcase.addCleanup(self.port.stopListening)
        self.base = "http://127.0.0.1:%d/" % self.port.getHost().port

    def add(self, name, data):
        self.root.putChild(name.encode("ascii"),
                           static.Data(data, "application/octet-stream"))
        return self.base + name


class BuilderScenarios:
    """What both builders must do alike (see the module docstring)."""

    def fileServer(self):
        if getattr(self, "_scenarioFiles", None) is None:
            self._scenarioFiles = FileServer(self)
        return self._scenarioFiles

    def checkChrootFailedEarly(self):
        """A CHROOTFAIL build failed before sbuild ran."""

    def checkEmptyCookieRefused(self):
        """What the builder says when refusing an empty cookie."""

    @defer.inlineCallbacks
    def assertGone(self, name):
        """C{/filecache/<name>} is a 404 (asked on a connection of its
        own, read to the end, so that none is left to the test's pool)."""
        response = yield treq.get(
            self.slave.url + "filecache/" + name,
            pool=HTTPConnectionPool(reactor, persistent=False))
        yield treq.content(response)
        self.assertEqual(404, response.code)

    @defer.inlineCallbacks
    def assertFault(self, d, code=8002, kind=SlaveFault):
        e = yield self.assertFailure(d, kind)
        self.assertEqual(code, e.faultCode)

    @defer.inlineCallbacks
    def finishRaw(self, outcome, **options):
        """A build ending in C{outcome}: the daemon's own status dict."""
        yield self.startBuild(outcome, **options)
        status = yield self.finishBuild()
        self.assertEqual("BuildStatus." + outcome, status.build_status)
        raw = yield self.rawCall("status")
        self.assertEqual((WAITING, COOKIE, "BuildStatus." + outcome),
                         (raw["builder_status"], raw["build_id"],
                          raw["build_status"]))
        return raw

    # -- talking -------------------------------------------------------------

    @defer.inlineCallbacks
    def test_echo_info_status(self):
        self.assertEqual(["a", 1, ["b"]],
                         (yield self.slave.echo("a", 1, ("b",))))
        version, arch, types = yield self.slave.info()
        self.assertEqual(("1.0", "i386"), (version, arch))
        self.assertIn("binarypackage", types)
        raw = yield self.rawCall("status")
        self.assertEqual(IDLE, raw["builder_status"])
        self.assertEqual(self.builder_version, raw["builder_version"])
        status = yield self.slave.status()
        self.assertEqual((IDLE, self.builder_version),
                         (status.builder_status, status.builder_version))

    @defer.inlineCallbacks
    def test_faults(self):
        yield self.assertFault(self.rawCall("nosuchmethod"), 8001, Fault)
        # An empty cookie is refused once the files are found in the cache.
        chroot, filemap = yield self.prepareBuild()
        yield self.assertFault(
            self.rawCall("build", "", "binarypackage", chroot, filemap,
                         makeBuildArgs()), 8002, Fault)
        self.assertEqual(IDLE, (yield self.slave.status()).builder_status)
        self.checkEmptyCookieRefused()

    @defer.inlineCallbacks
    def test_abort_and_clean_in_the_wrong_state_are_faults(self):
        yield self.assertFault(self.slave.abort())
        yield self.assertFault(self.slave.clean())
        yield self.startBuild("OK")
        yield self.assertFault(self.slave.clean())
        status = yield self.slave.status()
        self.assertEqual((BUILDING, COOKIE),
                         (status.builder_status, status.cookie))

    # -- files ---------------------------------------------------------------

    @defer.inlineCallbacks
    def test_ensurepresent_download_then_cache(self):
        chroot = b"chroot tarball contents\n" * 100
        sha1 = hashlib.sha1(chroot).hexdigest()
        url = self.fileServer().add("chroot.tar.gz", chroot)
        self.assertEqual(
            (True, "Download"), (yield self.slave.ensurepresent(sha1, url)))
        self.assertEqual(
            (True, "Cache"), (yield self.slave.ensurepresent(sha1, url)))
        self.assertEqual(chroot, (yield self.fetch(sha1)))
        # Without a URL, only the cache is consulted.
        self.assertEqual(
            (True, "No URL"), (yield self.slave.ensurepresent(sha1, None)))

    @defer.inlineCallbacks
    def test_ensurepresent_failures(self):
        files = self.fileServer()
        ok, info = yield self.slave.ensurepresent(
            "0" * 40, files.base + "missing")
        self.assertEqual(
            (False, "Error accessing Librarian: HTTP Error 404: Not Found"),
            (ok, info))
        # A file whose sha1 is not the one asked for; nothing is kept.
        url = files.add("chroot.tar.gz", b"chroot\n")
        self.assertEqual((False, "Digests did not match, removing again!"),
                         (yield self.slave.ensurepresent("1" * 40, url)))
        yield self.assertGone("1" * 40)
        # Not cached and no URL to fetch it from.
        self.assertEqual((False, "No URL"),
                         (yield self.slave.ensurepresent("2" * 40, None)))
        ok, info = yield self.slave.ensurepresent(
            "5" * 40, "http://127.0.0.1:1/nothing")
        self.assertFalse(ok)
        self.assertTrue(info.startswith("Error accessing Librarian: "), info)

    @defer.inlineCallbacks
    def test_ensurepresent_then_build(self):
        files = self.fileServer()
        chroot = b"another chroot tarball\n" * 50
        dsc = makeDsc("foo", "1.0-1")
        chroot_sha1 = hashlib.sha1(chroot).hexdigest()
        dsc_sha1 = hashlib.sha1(dsc).hexdigest()
        for sha1, name, data in ((chroot_sha1, "chroot.tar.gz", chroot),
                                 (dsc_sha1, "foo_1.0-1.dsc", dsc)):
            ok, info = yield self.slave.ensurepresent(
                sha1, files.add(name, data))
            self.assertTrue(ok, info)
        self.setOutcome("OK")
        result = yield self.slave.build(
            COOKIE, "binarypackage", chroot_sha1,
            {"foo_1.0-1.dsc": dsc_sha1}, makeBuildArgs())
        self.assertEqual((BUILDING, COOKIE), result)
        status = yield self.finishBuild()
        self.assertEqual("BuildStatus.OK", status.build_status)

    # -- builds --------------------------------------------------------------

    @defer.inlineCallbacks
    def test_ok_build_results(self):
        yield self.startBuild("OK")
        status = yield self.finishBuild()
        self.assertEqual((WAITING, "BuildStatus.OK", COOKIE, ""),
                         (status.builder_status, status.build_status,
                          status.cookie, status.dependencies))
        raw = yield self.rawCall("status")
        self.assertEqual(dict(status.filemap), raw["filemap"])
        self.assertEqual(
            {"foo_1.0-1_i386.changes", "foo_1.0-1_i386.buildinfo",
             "foo_1.0-1_i386.deb"}, set(status.filemap))
        # Every file through fetchFile, which checks the sha1.
        leaf = self.mktemp()
        os.mkdir(leaf)
        contents = {}
        for name, sha1 in status.filemap.items():
            path = yield self.slave.fetchFile(sha1, leaf, name)
            with open(path, "rb") as f:
                contents[name] = f.read()
        self.assertTrue(contents["foo_1.0-1_i386.deb"].startswith(
            b"!<arch>\ndebian-binary   "))
        # The .changes is a valid Debian .changes describing the build.
        changes = Changes(contents["foo_1.0-1_i386.changes"])
        self.assertEqual(("foo", "1.0-1", "i386", "hoary"), (
            changes["Source"], changes["Version"], changes["Architecture"],
            changes["Distribution"]))
        listed = {f["name"]: f for f in changes["Files"]}
        self.assertEqual({"foo_1.0-1_i386.buildinfo", "foo_1.0-1_i386.deb"},
                         set(listed))
        sha1s = {f["name"]: f["sha1"] for f in changes["Checksums-Sha1"]}
        sha256s = {f["name"]: f["sha256"]
                   for f in changes["Checksums-Sha256"]}
        for name, entry in listed.items():
            data = contents[name]
            self.assertEqual(str(len(data)), entry["size"])
            self.assertEqual(hashlib.md5(data).hexdigest(), entry["md5sum"])
            self.assertEqual(hashlib.sha1(data).hexdigest(), sha1s[name])
            self.assertEqual(hashlib.sha256(data).hexdigest(), sha256s[name])
        self.assertIn(b"Source: foo\n",
                      contents["foo_1.0-1_i386.buildinfo"])
        # The master's own upload check accepts it.
        upload = readUpload(leaf)
        self.assertEqual(("foo", "1.0-1", 2),
                         (upload.source, upload.version, len(upload.files)))
        # The build log: the daemon's RUN lines, the build URL, sbuild's.
        buildlog = yield self.fetch("buildlog")
        self.assertIn(b"http://launchpad.test/ubuntu/+source/foo/", buildlog)
        self.assertIn(b"RUN: ", buildlog)
        self.assertIn(b"sbuild-package 1-1 i386 hoary", buildlog)
        self.assertIn(b"Status: successful", buildlog)
        # clean() forgets the build: its files and log are gone.
        self.assertEqual(IDLE, (yield self.slave.clean()))
        self.assertEqual(IDLE, (yield self.slave.status()).builder_status)
        for name in (status.filemap["foo_1.0-1_i386.deb"], "buildlog"):
            yield self.assertGone(name)

    @defer.inlineCallbacks
    def test_arch_indep_epoch_and_pocket(self):
        # The version (with its epoch) comes from the .dsc; file names drop
        # the epoch.
        yield self.startBuild(
            "OK", source="bar", version="1:2.0-3",
            args=makeBuildArgs(arch_indep=True, pocket="updates"))
        status = yield self.finishBuild()
        self.assertEqual("BuildStatus.OK", status.build_status)
        self.assertEqual(
            {"bar_2.0-3_i386.changes", "bar_2.0-3_i386.buildinfo",
             "bar_2.0-3_i386.deb", "bar-doc_2.0-3_all.deb"},
            set(status.filemap))
        changes = Changes((yield self.fetch(
            status.filemap["bar_2.0-3_i386.changes"])))
        self.assertEqual("1:2.0-3", changes["Version"])
        self.assertEqual("i386 all", changes["Architecture"])
        self.assertEqual("hoary-updates", changes["Distribution"])
        self.assertEqual("bar bar-doc", changes["Binary"])

    @defer.inlineCallbacks
    def test_builds_again_after_clean(self):
        yield self.startBuild("PACKAGEFAIL")
        yield self.finishBuild()
        self.assertEqual(IDLE, (yield self.slave.clean()))
        yield self.startBuild("OK", cookie="2-2")
        status = yield self.finishBuild()
        self.assertEqual(("BuildStatus.OK", "2-2"),
                         (status.build_status, status.cookie))

    @defer.inlineCallbacks
    def test_packagefail(self):
        raw = yield self.finishRaw("PACKAGEFAIL")
        # The keys are there, empty.
        self.assertEqual(({}, ""), (raw["filemap"], raw["dependencies"]))
        self.assertIn(b"Fail-Stage: build", (yield self.fetch("buildlog")))

    @defer.inlineCallbacks
    def test_depfail(self):
        raw = yield self.finishRaw("DEPFAIL", dependencies="baz (>= 1.0.1)")
        self.assertEqual(({}, "baz (>= 1.0.1)"),
                         (raw["filemap"], raw["dependencies"]))
        status = yield self.slave.status()
        self.assertEqual("baz (>= 1.0.1)", status.dependencies)

    @defer.inlineCallbacks
    def assertEndsWithoutFiles(self, outcome):
        raw = yield self.finishRaw(outcome)
        self.assertNotIn("filemap", raw)
        self.assertNotIn("dependencies", raw)
        status = yield self.slave.status()
        self.assertIsNone(status.filemap)
        self.assertIsNone(status.dependencies)
        self.assertNotEqual(b"", (yield self.fetch("buildlog")))
        self.assertEqual(IDLE, (yield self.slave.clean()))

    @defer.inlineCallbacks
    def test_chrootfail(self):
        yield self.assertEndsWithoutFiles("CHROOTFAIL")
        self.checkChrootFailedEarly()

    def test_givenback(self):
        return self.assertEndsWithoutFiles("GIVENBACK")

    def test_builderfail(self):
        return self.assertEndsWithoutFiles("BUILDERFAIL")

    # -- refusals ------------------------------------------------------------

    @defer.inlineCallbacks
    def test_build_refusals(self):
        chroot, filemap = yield self.prepareBuild()
        # A chroot that is not in the cache (build() never downloads).
        status, info = yield self.slave.build(
            COOKIE, "binarypackage", "3" * 40, filemap, makeBuildArgs())
        self.assertEqual("BuilderStatus.UNKNOWNSUM", status)
        self.assertTrue(info.startswith("CHROOTSUM -> " + "3" * 40), info)
        # A source file that is not in the cache.
        status, info = yield self.slave.build(
            COOKIE, "binarypackage", chroot, {"foo_1.0-1.dsc": "4" * 40},
            makeBuildArgs())
        self.assertEqual("BuilderStatus.UNKNOWNSUM", status)
        self.assertTrue(info.startswith("FILESUM -> " + "4" * 40), info)
        # A build type the builder does not have.
        status, info = yield self.slave.build(
            COOKIE, "nosuchtype", chroot, filemap, makeBuildArgs())
        self.assertEqual("BuilderStatus.UNKNOWNBUILDER", status)
        self.assertIn("nosuchtype not in", info)
        self.assertIn("binarypackage", info)
        # None of these touched the builder.
        self.assertEqual(IDLE, (yield self.slave.status()).builder_status)

    @defer.inlineCallbacks
    def test_build_without_dsc_wedges(self):
        chroot, _ = yield self.prepareBuild()
        yield self.assertFault(
            self.rawCall("build", COOKIE, "binarypackage", chroot, {},
                         makeBuildArgs()), 8002, Fault)
        # The daemon took the build before its manager refused it: it says
        # BUILDING for ever, and abort() cannot help (no subprocess).
        self.elapse(10000)
        status = yield self.slave.status()
        self.assertEqual((BUILDING, COOKIE),
                         (status.builder_status, status.cookie))
        self.assertEqual(ABORTING, (yield self.slave.abort()))
        self.elapse(10000)
        self.assertEqual(ABORTING,
                         (yield self.slave.status()).builder_status)

    @defer.inlineCallbacks
    def test_refused_build_overwrites_cookie_and_empties_log(self):
        yield self.startBuild("PACKAGEFAIL")
        yield self.finishBuild()
        self.assertNotEqual(b"", (yield self.fetch("buildlog")))
        chroot, filemap = yield self.prepareBuild()
        yield self.assertFault(self.slave.build(
            "9-9", "binarypackage", chroot, filemap, makeBuildArgs()))
        status = yield self.slave.status()
        self.assertEqual((WAITING, "BuildStatus.PACKAGEFAIL", "9-9"),
                         (status.builder_status, status.build_status,
                          status.cookie))
        self.assertEqual(b"", (yield self.fetch("buildlog")))
