"""End to end: the project's real scanner against a real launchpad-buildd.

L{ScannerEndToEnd} is a test case mixin (with L{LibrarianFixture} and
L{DatabaseTestCase}) giving each test a real builder daemon
(L{tests.realbuilder.RealBuilder}) registered as builder C{e2e}, a
L{BuilderGroup} with the librarian, in-master upload processing and a
recording notifier, and a L{ScannerManager} on the real reactor whose
slaves are L{WitnessSlave}s: real L{BuilderSlave}s that also remember
what the daemon said and keep a copy of its build log from its disk just
before the master cleans it (the daemon deletes the log on clean()).

The sample builders bob and frog are deactivated so that only the daemon
is scanned.
"""

import gzip
import logging
import os
from pathlib import Path

from twisted.internet import defer, reactor

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.model.records import makeCookie
from lp_buildmaster.scanner import ScannerManager
from lp_buildmaster.slave import BuilderSlave, makePool
from lp_buildmaster.upload import BuildUploads, UploadArea, UploadProcessor
from tests.farm import (
    RecordingNotifier, addBuilder, addRunningJob, captureLogs, makeGroup)
from tests.realbuilder import RealBuilder, makeBuildArgs, pollUntil
from tests.test_slave_fixtures import closePoolAtEnd

BUILDING = "BuilderStatus.BUILDING"
WAITING = "BuilderStatus.WAITING"
IDLE = "BuilderStatus.IDLE"

#: The sample data's build 7: the source the daemon builds, so that an OK
#: build's .changes matches the build.
SOURCE, VERSION = "pmount", "0.1-1"
SERIES, ARCH = "hoary", "i386"

#: States a build passes through on its way to where the scanner leaves it.
TRANSITIONAL = frozenset([BuildStatus.BUILDING, BuildStatus.UPLOADING,
                          BuildStatus.CANCELLING])

SCAN_INTERVAL = 0.2
#: Bound on any one wait for the daemon or the database.
TIMEOUT = 30.0


class WitnessSlave(BuilderSlave):
    """A real L{BuilderSlave} that remembers what the daemon said.

    @ivar statuses: every L{SlaveStatus} the daemon answered, in order.
    @ivar calls: the names of the state-changing calls made (abort, clean).
    @ivar logs_at_clean: the daemon's build log, read from its disk, at
        each clean() the master sent.
    """

    def __init__(self, daemon, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.daemon = daemon
        self.statuses = []
        self.calls = []
        self.logs_at_clean = []

    def status(self):
        def keep(status):
            self.statuses.append(status)
            return status
        return super().status().addCallback(keep)

    def abort(self):
        self.calls.append("abort")
        return super().abort()

    def clean(self):
        self.calls.append("clean")
        try:
            with open(os.path.join(self.daemon.filecache, "buildlog"),
                      "rb") as f:
                self.logs_at_clean.append(f.read())
        except FileNotFoundError:
            self.logs_at_clean.append(None)
        return super().clean()

    def seen(self, builder_status, build_status=None):
        """The statuses with that builder (and build) status."""
        return [s for s in self.statuses
                if s.builder_status == builder_status and (
                    build_status is None or s.build_status == build_status)]


class _SilentLog:
    """A twisted.logger-like sink for the upload processor's lines (each
    leaf keeps its own uploader.log)."""

    def __getattr__(self, level):
        return lambda *args, **kwargs: None


class ScannerEndToEnd:
    """Mixin for C{(LibrarianFixture, DatabaseTestCase)} test cases."""

    builder_name = "e2e"
    abort_timeout = 120.0

    @defer.inlineCallbacks
    def setUpEndToEnd(self):
        """Call from setUp after the database and librarian are up."""
        self.logs = captureLogs(self)
        self.notifier = RecordingNotifier()
        self.area = UploadArea(Path(self.mktemp()).resolve())
        self.area.ensure()
        processor = UploadProcessor(self.store, self.librarian, self.area,
                                    log=_SilentLog())
        self.group = makeGroup(
            self.store, librarian=self.librarian,
            uploads=BuildUploads(self.area, processor, reactor),
            notifier=self.notifier, clock=reactor,
            logger=logging.getLogger())
        # Only the daemon is scanned.
        for name in ("bob", "frog"):
            sample = yield self.store.builders.getByName(name)
            yield self.store.builders.update(sample.id, active=False)

        self.daemon = RealBuilder(self.mktemp(),
                                  abort_timeout=self.abort_timeout)
        yield self.daemon.start()
        self.addCleanup(self.daemon.stop)
        self.pool = makePool(reactor)
        closePoolAtEnd(self, self.pool)
        self.builder_id = yield addBuilder(self.store, self.builder_name)
        yield self.store.builders.update(self.builder_id,
                                         url=self.daemon.url)
        # The test's own line to the daemon (dispatching, checking).
        self.direct = BuilderSlave("direct", self.daemon.url,
                                   pool=self.pool)
        self.slaves = []
        self.manager = None

    def slaveFor(self, builder):
        """The scanner's slaveFactory."""
        slave = WitnessSlave(self.daemon, builder.name, builder.url,
                             pool=self.pool)
        self.slaves.append(slave)
        return slave

    @property
    def witness(self):
        """The scanner's slave of the daemon (one scanner, one slave)."""
        self.assertEqual(len(self.slaves), 1, self.slaves)
        return self.slaves[0]

    @defer.inlineCallbacks
    def startBuild(self, outcome, score=0, **outcome_options):
        """A job on the builder, started on the daemon as a dispatch would.

        @return: C{(build_id, queue_id)}.
        """
        self.daemon.setOutcome(outcome, **outcome_options)
        build_id, queue_id = yield addRunningJob(
            self.store, self.builder_id, series=SERIES, arch=ARCH,
            score=score)
        build = yield self.store.builds.get(build_id)
        self.assertEqual((build.source_name, build.source_version),
                         (SOURCE, VERSION))
        cookie = makeCookie(build_id, queue_id)
        chroot, filemap = self.daemon.prepareBuild(SOURCE, VERSION)
        args = makeBuildArgs(
            series=SERIES, arch_tag=ARCH,
            build_url="http://launchpad.test/ubuntu/+source/%s/%s/+build/%d"
                      % (SOURCE, VERSION, build_id))
        reply = yield self.direct.build(cookie, "binarypackage", chroot,
                                        filemap, args)
        self.assertEqual(reply, (BUILDING, cookie))
        return build_id, queue_id

    def startScanner(self):
        self.manager = ScannerManager(
            self.store, self.group, self.slaveFor, clock=reactor,
            interval=SCAN_INTERVAL)
        self.manager.startService()
        self.addCleanup(self.stopScanner)

    def stopScanner(self):
        if self.manager is not None and self.manager.running:
            return self.manager.stopService()
        return defer.succeed(None)

    @defer.inlineCallbacks
    def snapshot(self, build_id, queue_id):
        """C{(build, queue entry or None)} as the database has them."""
        build = yield self.store.builds.get(build_id)
        queue = yield self.store.queue.get(queue_id)
        return build, queue

    def waitUntil(self, build_id, queue_id, predicate, description,
                  timeout=TIMEOUT):
        """Poll the database until C{predicate((build, queue))}."""
        return pollUntil(lambda: self.snapshot(build_id, queue_id),
                         predicate, timeout=timeout, interval=0.05,
                         description=description)

    @defer.inlineCallbacks
    def runToEnd(self, build_id, queue_id, timeout=TIMEOUT):
        """Wait until the scanner has left the build in a state it stays
        in, then stop the scanner (which waits for the scan in flight).

        @return: C{(build, queue, logtails)}: the final rows and every log
            tail the database showed while the build ran.
        """
        logtails = []

        def settled(snapshot):
            build, queue = snapshot
            if queue is not None and queue.logtail and (
                    not logtails or logtails[-1] != queue.logtail):
                logtails.append(queue.logtail)
            return build.buildstate not in TRANSITIONAL

        yield self.waitUntil(build_id, queue_id, settled,
                             "build %d to settle" % build_id, timeout)
        yield self.stopScanner()
        build, queue = yield self.snapshot(build_id, queue_id)
        return build, queue, logtails

    @defer.inlineCallbacks
    def assertDaemonIdle(self):
        """The daemon is IDLE and its build log gone (cleaned)."""
        status = yield self.direct.status()
        self.assertEqual(status.builder_status, IDLE, status)
        self.assertFalse(os.path.exists(
            os.path.join(self.daemon.filecache, "buildlog")))

    @defer.inlineCallbacks
    def storedLog(self, build):
        """The build's log alias and its gunzipped content."""
        self.assertIsNotNone(build.buildlog, "no build log stored")
        alias = yield self.store.library.getAlias(build.buildlog)
        with (yield self.librarian.getFileByAlias(build.buildlog)) as f:
            return alias, gzip.decompress(f.read())

    @defer.inlineCallbacks
    def assertLogCollected(self, build, state):
        """What every terminal collection stores; the log is the daemon's
        whole build log, gzipped under the seed's name."""
        self.assertEqual(build.builder, self.builder_id)
        self.assertIsNotNone(build.datebuilt)
        self.assertIsNotNone(build.buildduration)
        alias, content = yield self.storedLog(build)
        self.assertEqual(
            (alias.filename, alias.mimetype),
            ("buildlog_ubuntu-%s-%s.%s_%s_%s.txt.gz"
             % (SERIES, ARCH, SOURCE, VERSION, state.name), "text/plain"))
        daemon_logs = self.witness.logs_at_clean
        self.assertEqual(len(daemon_logs), 1, daemon_logs)
        self.assertTrue(daemon_logs[0], "the daemon had no build log")
        self.assertEqual(content, daemon_logs[0])
        return content

    def assertNoScanErrors(self):
        self.assertEqual(self.logs.matching("ERROR"), [])
