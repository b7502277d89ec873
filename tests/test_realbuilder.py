"""Integration tests against the real launchpad-buildd daemon.

Each test starts its own daemon (tests/realbuilder) on 127.0.0.1 and drives
it with the project's client, L{lp_buildmaster.slave.BuilderSlave}; the
daemon-level oddities the client deliberately refuses to send (an empty
cookie, a filemap without a .dsc, unknown methods) go through a plain
L{twisted.web.xmlrpc.Proxy}.  Waiting on the daemon polls status() on the
real reactor with a short interval and an overall bound.
"""

import hashlib
import io
import os
import xmlrpc.client

import treq
from debian.deb822 import Changes
from twisted.internet import defer, reactor
from twisted.trial import unittest
from twisted.web import resource, server, static
from twisted.web.xmlrpc import Fault

from lp_buildmaster.slave import BuilderSlave, SlaveFault, makePool
from tests.realbuilder import (
    RealBuilder, RealBuilderError, makeBuildArgs, makeDsc, pollUntil)

COOKIE = "1-1"
WAITING = "BuilderStatus.WAITING"
BUILDING = "BuilderStatus.BUILDING"
IDLE = "BuilderStatus.IDLE"
ABORTING = "BuilderStatus.ABORTING"


class _Sink:
    def __init__(self):
        self.buf = io.BytesIO()

    def write(self, data):
        self.buf.write(data)

    def getvalue(self):
        return self.buf.getvalue()


class RealBuilderTestCase(unittest.TestCase):
    """Starts a daemon per test; gives a client and a raw proxy."""

    abort_timeout = 120.0

    @defer.inlineCallbacks
    def setUp(self):
        self.builder = RealBuilder(
            self.mktemp(), abort_timeout=self.abort_timeout)
        yield self.builder.start()
        self.addCleanup(self.builder.stop)
        self.pool = makePool(reactor)
        self.addCleanup(self.pool.closeCachedConnections)
        self.slave = BuilderSlave(
            "bob", self.builder.url, pool=self.pool, timeout=30.0)
        self.proxy = self.builder.proxy()

    def startBuild(self, outcome="OK", cookie=COOKIE, source="foo",
                   version="1.0-1", args=None, **outcome_options):
        """Set the outcome and start a binarypackage build."""
        self.builder.setOutcome(outcome, **outcome_options)
        chroot, filemap = self.builder.prepareBuild(source, version)
        if args is None:
            args = makeBuildArgs()
        d = self.slave.build(cookie, "binarypackage", chroot, filemap, args)
        d.addCallback(self.assertEqual, (BUILDING, cookie))
        return d

    def waitFor(self, *builder_statuses, timeout=20.0):
        """Poll the client's status() until one of builder_statuses."""
        return pollUntil(
            self.slave.status,
            lambda s: s.builder_status in builder_statuses,
            timeout=timeout, description=" or ".join(builder_statuses))

    def rawWaitFor(self, *builder_statuses, timeout=20.0):
        """The same through the raw proxy: the daemon's own dict."""
        return self.builder.waitForStatus(*builder_statuses, timeout=timeout)

    @defer.inlineCallbacks
    def httpStatus(self, name):
        """The HTTP status of GET /filecache/<name>, body discarded."""
        response = yield treq.get(
            self.builder.url + "filecache/" + name, pool=self.pool)
        yield treq.content(response)
        return response.code

    @defer.inlineCallbacks
    def fetch(self, name):
        sink = _Sink()
        yield self.slave.getFile(name, sink)
        return sink.getvalue()


class OutcomeTests(RealBuilderTestCase):
    """Every build outcome ends in WAITING with the keys the daemon gives."""

    @defer.inlineCallbacks
    def test_ok_build_results(self):
        yield self.startBuild("OK")
        raw = yield self.rawWaitFor(WAITING)
        self.assertEqual("BuildStatus.OK", raw["build_status"])
        self.assertEqual(COOKIE, raw["build_id"])
        self.assertEqual("", raw["dependencies"])
        self.assertEqual(
            {"foo_1.0-1_i386.changes", "foo_1.0-1_i386.buildinfo",
             "foo_1.0-1_i386.deb"}, set(raw["filemap"]))

        status = yield self.slave.status()
        self.assertEqual(WAITING, status.builder_status)
        self.assertEqual("BuildStatus.OK", status.build_status)
        self.assertEqual(COOKIE, status.cookie)
        self.assertEqual(raw["filemap"], dict(status.filemap))

        # Every file is served at /filecache/<sha1> and hashes to it.
        contents = {}
        for name, sha1 in status.filemap.items():
            data = yield self.fetch(sha1)
            self.assertEqual(sha1, hashlib.sha1(data).hexdigest(), name)
            contents[name] = data

        # fetchFile verifies and renames into place.
        destdir = self.mktemp()
        os.mkdir(destdir)
        path = yield self.slave.fetchFile(
            status.filemap["foo_1.0-1_i386.deb"], destdir,
            "foo_1.0-1_i386.deb")
        with open(path, "rb") as f:
            self.assertEqual(contents["foo_1.0-1_i386.deb"], f.read())
        self.assertTrue(contents["foo_1.0-1_i386.deb"].startswith(
            b"!<arch>\ndebian-binary   "))

        # The .changes is a valid Debian .changes describing the build.
        changes = Changes(contents["foo_1.0-1_i386.changes"])
        self.assertEqual("foo", changes["Source"])
        self.assertEqual("1.0-1", changes["Version"])
        self.assertEqual("i386", changes["Architecture"])
        self.assertEqual("hoary", changes["Distribution"])
        listed = {f["name"]: f for f in changes["Files"]}
        self.assertEqual(
            {"foo_1.0-1_i386.buildinfo", "foo_1.0-1_i386.deb"}, set(listed))
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

        # The build log: the daemon's RUN lines, the build URL, sbuild's log.
        buildlog = yield self.fetch("buildlog")
        self.assertIn(b"http://launchpad.test/ubuntu/+source/foo/", buildlog)
        self.assertIn(b"RUN: ", buildlog)
        self.assertIn(b"sbuild-package 1-1 i386 hoary", buildlog)
        self.assertIn(b"Status: successful", buildlog)

        # clean() forgets everything: the files and the log are gone.
        self.assertEqual(IDLE, (yield self.slave.clean()))
        status = yield self.slave.status()
        self.assertEqual(IDLE, status.builder_status)
        for name in (raw["filemap"]["foo_1.0-1_i386.deb"], "buildlog"):
            self.assertEqual(404, (yield self.httpStatus(name)))

    @defer.inlineCallbacks
    def test_ok_arch_indep_adds_all_package(self):
        yield self.startBuild(
            "OK", source="bar", version="1:2.0-3",
            args=makeBuildArgs(arch_indep=True, pocket="updates"))
        status = yield self.waitFor(WAITING)
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
    def test_ok_with_given_files(self):
        yield self.startBuild(
            "OK", files={"foo_1.0-1_i386.deb": b"one",
                         "foo-dev_1.0-1_i386.deb": b"two"})
        status = yield self.waitFor(WAITING)
        self.assertEqual(4, len(status.filemap))
        self.assertEqual(
            b"two", (yield self.fetch(
                status.filemap["foo-dev_1.0-1_i386.deb"])))

    @defer.inlineCallbacks
    def test_packagefail(self):
        yield self.startBuild("PACKAGEFAIL")
        raw = yield self.rawWaitFor(WAITING)
        self.assertEqual("BuildStatus.PACKAGEFAIL", raw["build_status"])
        # The keys are there, empty.
        self.assertEqual({}, raw["filemap"])
        self.assertEqual("", raw["dependencies"])
        buildlog = yield self.fetch("buildlog")
        self.assertIn(b"Fail-Stage: build", buildlog)

    @defer.inlineCallbacks
    def test_depfail(self):
        yield self.startBuild("DEPFAIL", dependencies="baz (>=1.0.1)")
        raw = yield self.rawWaitFor(WAITING)
        self.assertEqual("BuildStatus.DEPFAIL", raw["build_status"])
        self.assertEqual({}, raw["filemap"])
        # Normalised by the daemon (python-debian's PkgRelation.str).
        self.assertEqual("baz (>= 1.0.1)", raw["dependencies"])
        status = yield self.slave.status()
        self.assertEqual("baz (>= 1.0.1)", status.dependencies)

    @defer.inlineCallbacks
    def test_chrootfail(self):
        yield self.startBuild("CHROOTFAIL")
        raw = yield self.rawWaitFor(WAITING)
        self.assertEqual("BuildStatus.CHROOTFAIL", raw["build_status"])
        self.assertNotIn("filemap", raw)
        self.assertNotIn("dependencies", raw)
        # It failed unpacking: sbuild never ran.
        self.assertNotIn("sbuild-package",
                         [call[0] for call in self.builder.calls()])

    @defer.inlineCallbacks
    def test_givenback(self):
        yield self.startBuild("GIVENBACK")
        raw = yield self.rawWaitFor(WAITING)
        self.assertEqual("BuildStatus.GIVENBACK", raw["build_status"])
        self.assertNotIn("filemap", raw)
        self.assertNotIn("dependencies", raw)

    @defer.inlineCallbacks
    def test_builderfail(self):
        yield self.startBuild("BUILDERFAIL")
        raw = yield self.rawWaitFor(WAITING)
        self.assertEqual("BuildStatus.BUILDERFAIL", raw["build_status"])
        self.assertNotIn("filemap", raw)
        self.assertNotIn("dependencies", raw)
        status = yield self.slave.status()
        self.assertIsNone(status.filemap)
        self.assertIsNone(status.dependencies)

    @defer.inlineCallbacks
    def test_builds_again_after_clean(self):
        yield self.startBuild("PACKAGEFAIL")
        yield self.waitFor(WAITING)
        yield self.slave.clean()
        yield self.startBuild("OK", cookie="2-2")
        status = yield self.waitFor(WAITING)
        self.assertEqual(("BuildStatus.OK", "2-2"),
                         (status.build_status, status.cookie))


class LogTests(RealBuilderTestCase):

    @defer.inlineCallbacks
    def test_logtail_while_building_and_log_size(self):
        log_size = 200000
        yield self.startBuild("OK", log_size=log_size, duration=1.5)
        raw = yield pollUntil(
            lambda: self.proxy.callRemote("status"),
            lambda s: s["builder_status"] != BUILDING
            or b"x86_64-linux-gnu-gcc" in s["logtail"].data,
            description="compiler lines in the logtail")
        self.assertEqual(BUILDING, raw["builder_status"])
        self.assertEqual(COOKIE, raw["build_id"])
        self.assertIsInstance(raw["logtail"], xmlrpc.client.Binary)
        self.assertLessEqual(len(raw["logtail"].data), 2048)
        self.assertNotIn("filemap", raw)
        # The whole log so far is readable while the build runs.
        partial = yield self.fetch("buildlog")
        self.assertIn(b"Forking launchpad-buildd slave process", partial)

        status = yield self.waitFor(WAITING)
        self.assertEqual("BuildStatus.OK", status.build_status)
        buildlog = yield self.fetch("buildlog")
        self.assertTrue(0.9 * log_size < len(buildlog) < 1.1 * log_size,
                        len(buildlog))


class AbortTests(RealBuilderTestCase):

    @defer.inlineCallbacks
    def waitUntilSbuildRuns(self):
        yield pollUntil(
            lambda: self.proxy.callRemote("status"),
            lambda s: b"dpkg-buildpackage: info: host architecture"
            in s.get("logtail", xmlrpc.client.Binary(b"")).data,
            description="sbuild to be building")

    @defer.inlineCallbacks
    def test_abort_kills_the_build(self):
        yield self.startBuild("OK", duration=60.0)
        yield self.waitUntilSbuildRuns()
        self.assertEqual(ABORTING, (yield self.slave.abort()))
        status = yield self.waitFor(WAITING)
        self.assertEqual("BuildStatus.ABORTED", status.build_status)
        self.assertEqual(COOKIE, status.cookie)
        self.assertIsNone(status.filemap)
        helpers = [call[:2] for call in self.builder.calls()]
        self.assertIn(["in-target", "scan-for-processes"], helpers)
        self.assertEqual(IDLE, (yield self.slave.clean()))

    @defer.inlineCallbacks
    def test_abort_when_idle_is_a_fault(self):
        e = yield self.assertFailure(self.slave.abort(), SlaveFault)
        self.assertEqual(8002, e.faultCode)


class UnkillableAbortTests(RealBuilderTestCase):

    abort_timeout = 1.0

    @defer.inlineCallbacks
    def test_abort_that_cannot_kill_ends_in_builderfail(self):
        yield self.startBuild("OK", duration=60.0, unkillable=True)
        yield pollUntil(
            lambda: self.proxy.callRemote("status"),
            lambda s: b"host architecture" in s["logtail"].data,
            description="sbuild to be building")
        yield self.slave.abort()
        raw = yield self.proxy.callRemote("status")
        self.assertEqual({"builder_status": ABORTING, "build_id": COOKIE},
                         {k: raw[k] for k in ("builder_status", "build_id")})
        self.assertNotIn("logtail", raw)
        # Still ABORTING while the reaper hangs; after abort_timeout the
        # daemon kills sbuild itself and reports a builder failure.
        status = yield self.waitFor(WAITING)
        self.assertEqual("BuildStatus.BUILDERFAIL", status.build_status)


class EnsurePresentTests(RealBuilderTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield RealBuilderTestCase.setUp(self)
        self.chroot = b"chroot tarball contents\n" * 100
        root = resource.Resource()
        root.putChild(b"chroot.tar.gz", static.Data(
            self.chroot, "application/octet-stream"))
        site = server.Site(root)
        self.port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.base = "http://127.0.0.1:%d/" % self.port.getHost().port

    @defer.inlineCallbacks
    def test_download_then_cache(self):
        sha1 = hashlib.sha1(self.chroot).hexdigest()
        url = self.base + "chroot.tar.gz"
        self.assertEqual(
            (True, "Download"), (yield self.slave.ensurepresent(sha1, url)))
        self.assertEqual(
            (True, "Cache"), (yield self.slave.ensurepresent(sha1, url)))
        self.assertEqual(self.chroot, (yield self.fetch(sha1)))
        # Without a URL, only the cache is consulted.
        self.assertEqual(
            (True, "No URL"), (yield self.slave.ensurepresent(sha1, None)))

    @defer.inlineCallbacks
    def test_failures(self):
        # A 404 from the file's server.
        ok, info = yield self.slave.ensurepresent(
            "0" * 40, self.base + "missing")
        self.assertFalse(ok)
        self.assertEqual(
            "Error accessing Librarian: HTTP Error 404: Not Found", info)
        # A file whose sha1 is not the one asked for; nothing is kept.
        self.assertEqual(
            (False, "Digests did not match, removing again!"),
            (yield self.slave.ensurepresent(
                "1" * 40, self.base + "chroot.tar.gz")))
        self.assertEqual(404, (yield self.httpStatus("1" * 40)))
        # Not cached and no URL to fetch it from.
        self.assertEqual(
            (False, "No URL"),
            (yield self.slave.ensurepresent("2" * 40, None)))

    @defer.inlineCallbacks
    def test_ensurepresent_then_build(self):
        dsc = makeDsc("foo", "1.0-1")
        dsc_sha1 = hashlib.sha1(dsc).hexdigest()
        chroot_sha1 = hashlib.sha1(self.chroot).hexdigest()
        self.port.factory.resource.putChild(
            b"foo_1.0-1.dsc", static.Data(dsc, "text/plain"))
        for sha1, name in ((chroot_sha1, "chroot.tar.gz"),
                           (dsc_sha1, "foo_1.0-1.dsc")):
            ok, info = yield self.slave.ensurepresent(sha1, self.base + name)
            self.assertTrue(ok, info)
        self.builder.setOutcome("OK")
        result = yield self.slave.build(
            COOKIE, "binarypackage", chroot_sha1,
            {"foo_1.0-1.dsc": dsc_sha1}, makeBuildArgs())
        self.assertEqual((BUILDING, COOKIE), result)
        status = yield self.waitFor(WAITING)
        self.assertEqual("BuildStatus.OK", status.build_status)


class ProtocolTests(RealBuilderTestCase):
    """The daemon's replies to odd requests."""

    @defer.inlineCallbacks
    def test_echo_info_status(self):
        self.assertEqual(["a", 1, ["b"]],
                         (yield self.slave.echo("a", 1, ("b",))))
        version, arch, types = yield self.slave.info()
        self.assertEqual(("1.0", "i386"), (version, arch))
        self.assertIn("binarypackage", types)
        raw = yield self.proxy.callRemote("status")
        self.assertEqual(IDLE, raw["builder_status"])
        # The apt stub reports the installed daemon's version.
        self.assertEqual("206", raw["builder_version"])

    @defer.inlineCallbacks
    def test_build_refusals(self):
        chroot, filemap = self.builder.prepareBuild()
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
        # A build type the daemon does not have.
        status, info = yield self.slave.build(
            COOKIE, "nosuchtype", chroot, filemap, makeBuildArgs())
        self.assertEqual("BuilderStatus.UNKNOWNBUILDER", status)
        self.assertIn("nosuchtype not in", info)
        self.assertIn("binarypackage", info)
        # None of these touched the builder.
        self.assertEqual(IDLE, (yield self.slave.status()).builder_status)

    @defer.inlineCallbacks
    def test_faults(self):
        e = yield self.assertFailure(self.slave.clean(), SlaveFault)
        self.assertEqual(8002, e.faultCode)
        e = yield self.assertFailure(
            self.proxy.callRemote("nosuchmethod"), Fault)
        self.assertEqual(8001, e.faultCode)
        # An empty cookie is refused once the files are found in the cache.
        chroot, filemap = self.builder.prepareBuild()
        e = yield self.assertFailure(
            self.proxy.callRemote("build", "", "binarypackage", chroot,
                                  filemap, makeBuildArgs()), Fault)
        self.assertEqual(8002, e.faultCode)
        self.assertEqual(IDLE, (yield self.slave.status()).builder_status)
        self.assertIn("ValueError", self.builder.log())

    @defer.inlineCallbacks
    def test_build_without_dsc_wedges(self):
        chroot, _ = self.builder.prepareBuild()
        e = yield self.assertFailure(
            self.proxy.callRemote("build", COOKIE, "binarypackage", chroot,
                                  {}, makeBuildArgs()), Fault)
        self.assertEqual(8002, e.faultCode)
        # The daemon took the build before its manager refused it: it says
        # BUILDING for ever, and abort() cannot help (no subprocess).
        status = yield self.slave.status()
        self.assertEqual((BUILDING, COOKIE),
                         (status.builder_status, status.cookie))
        self.assertEqual(ABORTING, (yield self.slave.abort()))
        status = yield self.slave.status()
        self.assertEqual(ABORTING, status.builder_status)

    @defer.inlineCallbacks
    def test_refused_build_on_waiting_builder_overwrites_cookie(self):
        yield self.startBuild("PACKAGEFAIL")
        yield self.waitFor(WAITING)
        before = yield self.fetch("buildlog")
        self.assertNotEqual(b"", before)
        chroot, filemap = self.builder.prepareBuild()
        e = yield self.assertFailure(
            self.slave.build("9-9", "binarypackage", chroot, filemap,
                             makeBuildArgs()), SlaveFault)
        self.assertEqual(8002, e.faultCode)
        status = yield self.slave.status()
        self.assertEqual((WAITING, "BuildStatus.PACKAGEFAIL", "9-9"),
                         (status.builder_status, status.build_status,
                          status.cookie))
        self.assertEqual(b"", (yield self.fetch("buildlog")))


class FixtureTests(unittest.TestCase):
    """The fixture itself."""

    def test_setOutcome_validates(self):
        builder = RealBuilder(self.mktemp())
        self.assertRaises(ValueError, builder.setOutcome, "FINE")
        self.assertRaises(ValueError, builder.setOutcome, "DEPFAIL",
                          dependencies="a, b")
        self.assertRaises(ValueError, builder.setOutcome, "OK",
                          dependencies="a")
        self.assertRaises(ValueError, builder.setOutcome, "OK",
                          files=["../evil.deb"])

    def test_makeBuildArgs(self):
        args = makeBuildArgs(pocket="security", arch_tag="amd64")
        self.assertEqual("hoary-security", args["suite"])
        for key in ("series", "distribution", "suite", "ogrecomponent",
                    "arch_tag", "arch_indep", "archive_private",
                    "archive_purpose", "archives", "build_url",
                    "trusted_keys"):
            self.assertIn(key, args)

    @defer.inlineCallbacks
    def test_start_failure_reports_the_log(self):
        builder = RealBuilder(self.mktemp())
        writeConfig = builder._writeConfig

        def writeBrokenConfig():
            # The daemon refuses a file cache that is not a directory.
            builder.filecache = os.path.join(builder.basedir, "not-a-dir")
            with open(builder.filecache, "w"):
                pass
            writeConfig()

        builder._writeConfig = writeBrokenConfig
        e = yield self.assertFailure(builder.start(), RealBuilderError)
        self.assertIn("exited during start-up", str(e))
        self.assertIn("FileCache path is not a dir", str(e))
        yield builder.stop()
