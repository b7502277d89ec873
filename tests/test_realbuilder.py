"""Integration tests against the real launchpad-buildd daemon.

Each test starts its own daemon (tests/realbuilder) on 127.0.0.1 and drives
it with the project's client, L{lp_buildmaster.slave.BuilderSlave}; the
daemon-level oddities the client deliberately refuses to send (an empty
cookie, a filemap without a .dsc, unknown methods) go through a plain
L{twisted.web.xmlrpc.Proxy}.  Waiting on the daemon polls status() on the
real reactor with a short interval and an overall bound.

The scenarios the simulator must play alike are in
C{tests/builder_scenarios.py} (L{ScenarioTests} here runs them); what is
left here only the daemon's fixture can show.
"""

import io
import os
import xmlrpc.client

from twisted.internet import defer, reactor
from twisted.trial import unittest

from lp_buildmaster.slave import BuilderSlave, makePool
from tests.builder_scenarios import (
    ABORTING, BUILDING, COOKIE, IDLE, WAITING, BuilderScenarios)
from tests.realbuilder import (
    RealBuilder, RealBuilderError, makeBuildArgs, pollUntil)


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

    # What tests/builder_scenarios.py asks of a builder.

    builder_version = "206"     # the apt stub's launchpad-buildd

    def rawCall(self, method, *args):
        return self.proxy.callRemote(method, *args)

    def prepareBuild(self, source="foo", version="1.0-1"):
        return defer.succeed(self.builder.prepareBuild(source, version))

    def setOutcome(self, outcome, **options):
        self.builder.setOutcome(outcome, **options)

    def finishBuild(self):
        return self.waitFor(WAITING)

    def elapse(self, seconds):
        """The daemon runs in real time: nothing to advance."""

    def checkChrootFailedEarly(self):
        self.assertNotIn("sbuild-package",
                         [call[0] for call in self.builder.calls()])

    def checkEmptyCookieRefused(self):
        self.assertIn("ValueError", self.builder.log())

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
    def fetch(self, name):
        sink = _Sink()
        yield self.slave.getFile(name, sink)
        return sink.getvalue()


class ScenarioTests(BuilderScenarios, RealBuilderTestCase):
    """The scenarios both builders share (tests/builder_scenarios.py),
    against the daemon."""


class OutcomeTests(RealBuilderTestCase):
    """What only the daemon's fixture can set up."""

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
