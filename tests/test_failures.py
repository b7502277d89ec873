"""The one classification of errors (lp_buildmaster/failures.py), and the
scanner counting and logging each kind of scan error once."""

import logging

import psycopg2
from twisted.internet import defer, error, reactor, task
from twisted.python import failure as tfailure
from twisted.trial import unittest
from txpostgres import reconnection, txpostgres

from lp_buildmaster import failures
from lp_buildmaster.enums import BuildStatus, PackagePublishingPocket
from lp_buildmaster.librarian.client import LibrarianClient
from lp_buildmaster.librarian.storage import ContentStore
from lp_buildmaster.master import DispatchError, Dispatcher, ResetFailed
from lp_buildmaster.model.policy import PocketPolicyError
from lp_buildmaster.scanner import ScannerManager
from lp_buildmaster.slave import (
    InvalidBuildRequest, SlaveChecksumMismatch, SlaveConnectionError,
    SlaveError, SlaveFault, SlaveHTTPError, SlaveProtocolError, SlaveTimeout,
    UnsafeFilename)
from lp_buildmaster.upload import UploadRejected
from lp_buildmaster.testing import mockslaves
from tests.farm import (
    FakeStoreTestCase, addBuilder, addRunningJob, captureLogs,
    dropRunningJobs, makeGroup, takeJobBack)
from tests.test_librarian import LibrarianFixture

INTERVAL = 15.0
B = "b"


class NewBuilderFault(SlaveProtocolError):
    """Stands for a SlaveError subclass added later (issue 12's)."""


#: (error, kind, transient)
TABLE = [
    # the database, however it goes away
    (psycopg2.OperationalError("server closed the connection"),
     failures.INFRASTRUCTURE, True),
    (psycopg2.InterfaceError("connection already closed"),
     failures.INFRASTRUCTURE, True),
    (reconnection.ConnectionDead(), failures.INFRASTRUCTURE, True),
    (txpostgres.RollbackFailed(None, None), failures.INFRASTRUCTURE, True),
    (failures.DatabaseUnavailable("paused"), failures.INFRASTRUCTURE, True),
    # our own librarian and upload area
    (failures.OwnLibrarianUnavailable("503"), failures.INFRASTRUCTURE, True),
    (OSError(28, "No space left on device"), failures.INFRASTRUCTURE, True),
    (defer.CancelledError(), failures.INFRASTRUCTURE, True),
    # the builder
    (SlaveConnectionError(B, "refused"), failures.BUILDER, True),
    (SlaveTimeout(B, "status timed out"), failures.BUILDER, True),
    (error.DNSLookupError("no-such-host"), failures.BUILDER, True),
    (error.ConnectionRefusedError(), failures.BUILDER, True),
    (error.TimeoutError(), failures.BUILDER, True),
    (SlaveHTTPError(B, 503), failures.BUILDER, True),
    (SlaveHTTPError(B, 404), failures.BUILDER, False),
    (SlaveProtocolError(B, "garbage"), failures.BUILDER, False),
    (SlaveChecksumMismatch(B, "sha1"), failures.BUILDER, False),
    (UnsafeFilename(B, "../x"), failures.BUILDER, False),
    (SlaveFault(B, 8002, "error"), failures.BUILDER, False),
    (DispatchError(B, "could not fetch"), failures.BUILDER, False),
    (ResetFailed(B, "reset failed"), failures.BUILDER, False),
    (SlaveError(B, "anything"), failures.BUILDER, False),
    (NewBuilderFault(B, "a new kind"), failures.BUILDER, False),
    # the job
    (PocketPolicyError("illegal status"), failures.JOB, False),
    (InvalidBuildRequest(B, "no .dsc"), failures.JOB, False),
    (failures.LibraryFileMissing(B, "chroot gone"), failures.JOB, False),
    (UploadRejected("bad .changes"), failures.JOB, False),
    # anything else
    (KeyError("x"), failures.UNEXPECTED, True),
    (ZeroDivisionError(), failures.UNEXPECTED, True),
    (AttributeError("y"), failures.UNEXPECTED, True),
]


class ClassifyTests(unittest.TestCase):

    def test_table(self):
        for exc, kind, transient in TABLE:
            for err in (exc, tfailure.Failure(exc)):
                got = failures.classify(err)
                self.assertEqual((got.kind, got.transient),
                                 (kind, transient), repr(exc))

    def test_databaseFlag(self):
        for exc, kind, _ in TABLE:
            expected = isinstance(exc, failures.DATABASE_ERRORS)
            self.assertEqual(failures.classify(exc).database, expected,
                             repr(exc))
        self.assertTrue(failures.classify(
            reconnection.ConnectionDead()).database)
        self.assertFalse(failures.classify(OSError(28, "full")).database)

    def test_whoCounts(self):
        self.assertEqual(
            [(k, failures.Classification(k, True, "").counts_builder,
              failures.Classification(k, True, "").counts_job)
             for k in (failures.INFRASTRUCTURE, failures.BUILDER,
                       failures.JOB, failures.UNEXPECTED)],
            [(failures.INFRASTRUCTURE, False, False),
             (failures.BUILDER, True, False),
             (failures.JOB, False, True),
             (failures.UNEXPECTED, True, True)])

    def test_describeIsOneLineWithOrigin(self):
        def boom():
            return {}["missing"]
        try:
            boom()
        except KeyError:
            f = tfailure.Failure()
        text = failures.describe(f)
        self.assertNotIn("\n", text)
        self.assertIn("KeyError", text)
        self.assertIn("in boom", text)
        self.assertEqual(failures.describe(SlaveTimeout(B, "t")),
                         "SlaveTimeout: Builder 'b': t")
        rollback = txpostgres.RollbackFailed(None, tfailure.Failure(
            psycopg2.OperationalError("server closed the connection\nmore")))
        self.assertEqual(failures.describe(rollback),
                         "RollbackFailed after OperationalError: server closed"
                         " the connection")

    def test_oncePerChange(self):
        once = failures.OncePerChange()
        self.assertTrue(once.first("a", 1))
        self.assertFalse(once.first("a", 1))
        self.assertTrue(once.first("b", 1))
        self.assertTrue(once.first("a", 2))
        self.assertTrue(once.clear("a"))
        self.assertFalse(once.clear("a"))
        self.assertTrue(once.first("a", 2))


class FailingSlave(mockslaves.MockSlave):
    """status() fails with C{exc} every time."""

    def __init__(self, exc, **kwargs):
        super().__init__(**kwargs)
        self.exc = exc

    def status(self):
        self._record("status")
        return defer.fail(self.exc)


class ScannerFixture(FakeStoreTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.clock = task.Clock()
        self.logs = captureLogs(self)
        # The sample builders: bob builds 8-1, frog is idle.
        self.slaves = {"bob": mockslaves.SaneBuildingSlave(name="bob"),
                       "frog": mockslaves.OkSlave(name="frog")}
        self.group = makeGroup(self.store, clock=self.clock,
                               librarian=LibrarianClient(
                                   self.store,
                                   ContentStore(self.librarian_root),
                                   "http://127.0.0.1:1/", b"secret",
                                   clock=self.clock))
        self.manager = ScannerManager(
            self.store, self.group, lambda b: self.slaves[b.name],
            clock=self.clock, interval=INTERVAL)

    @defer.inlineCallbacks
    def start(self):
        self.manager.startService()
        self.addCleanup(self.stop)
        yield self.manager.settle()

    @defer.inlineCallbacks
    def stop(self):
        if self.manager.running:
            yield self.manager.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @defer.inlineCallbacks
    def advance(self, seconds=INTERVAL, step=1.0):
        elapsed = 0.0
        while elapsed < seconds:
            self.clock.advance(step)
            elapsed += step
            yield self.manager.settle()

    def assertNoTraceback(self):
        for line in self.logs.lines:
            self.assertNotIn("Traceback", line)


class ScanErrorTests(ScannerFixture):
    """Each kind of scan error is counted once and logged once."""

    @defer.inlineCallbacks
    def test_dnsLookupErrorCountsAgainstBuilder(self):
        """A builder whose host does not resolve: tolerated as transient
        five times, then each scan counts once, and after five counts it is
        failed with the error as its failnotes; no traceback."""
        builder_id = yield addBuilder(self.store, "nowhere")
        self.slaves["nowhere"] = FailingSlave(
            error.DNSLookupError("nowhere.invalid"), name="nowhere")
        yield self.start()
        scanner = self.manager.scanners["nowhere"]
        while scanner.scans < 5:
            yield self.advance()
        builder = yield self.store.builders.get(builder_id)
        self.assertEqual(builder.failure_count, 0)
        yield self.advance()
        builder = yield self.store.builders.get(builder_id)
        self.assertEqual(builder.failure_count, 1)
        for _ in range(6):
            yield self.advance()
        builder = yield self.store.builders.get(builder_id)
        self.assertFalse(builder.builderok)
        self.assertEqual(builder.failure_count, 5)
        self.assertIn("DNS lookup failed", builder.failnotes)
        self.assertNotIn("nowhere", self.manager.scanners)
        self.assertNoTraceback()
        self.assertEqual(self.logs.matching("ERROR"), [])

    @defer.inlineCallbacks
    def test_pocketPolicyAtCollectionFailsTheJobOnce(self):
        """A finished build its series may no longer build: the job fails
        (counted once, failnotes set), the builder is cleaned and keeps a
        count of 0, and nothing repeats at the next scans."""
        builder_id = yield addBuilder(self.store, "w")
        build_id, queue_id = yield addRunningJob(
            self.store, builder_id, series="warty",
            pocket=PackagePublishingPocket.RELEASE)
        slave = self.slaves["w"] = mockslaves.WaitingSlave(
            "BuildStatus.OK", name="w", cookie="%d-%d" % (build_id, queue_id))
        yield self.start()
        yield self.advance()
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOBUILD)
        self.assertEqual(build.failure_count, 1)
        self.assertIn("can not be built for pocket RELEASE", build.failnotes)
        self.assertIsNone((yield self.store.queue.get(queue_id)))
        builder = yield self.store.builders.get(builder_id)
        self.assertTrue(builder.builderok)
        self.assertEqual(builder.failure_count, 0)
        self.assertIn(("clean", ()), slave.calls)
        lines = [l for l in self.logs.lines if "pocket RELEASE" in l]
        yield self.advance(INTERVAL * 3)
        self.assertEqual(
            [l for l in self.logs.lines if "pocket RELEASE" in l], lines)
        self.assertEqual(len(lines), 1)
        self.assertNoTraceback()

    @defer.inlineCallbacks
    def test_unexpectedErrorCountedOnceAgainstBoth(self):
        """An error nobody expected: each scan counts it once against the
        builder and its job, with one log line and no traceback."""
        builder_id = yield addBuilder(self.store, "odd")
        build_id, queue_id = yield addRunningJob(self.store, builder_id)
        self.slaves["odd"] = FailingSlave(KeyError("surprise"), name="odd")
        yield self.start()
        yield self.advance()
        builder = yield self.store.builders.get(builder_id)
        build = yield self.store.builds.get(build_id)
        self.assertEqual((builder.failure_count, build.failure_count),
                         (1, 1))
        errors = self.logs.matching("ERROR")
        self.assertEqual(len(errors), 1)
        self.assertIn("KeyError", errors[0])
        self.assertIn("surprise", errors[0])
        self.assertNoTraceback()

    @defer.inlineCallbacks
    def test_ownSideFailureCountsAgainstNobody(self):
        """Our own side failing (a full upload area): nobody's failure,
        logged once however many scans meet it."""
        builder_id = yield addBuilder(self.store, "full")
        self.slaves["full"] = FailingSlave(
            OSError(28, "No space left on device"), name="full")
        yield self.start()
        yield self.advance(INTERVAL * 8)
        builder = yield self.store.builders.get(builder_id)
        self.assertEqual(builder.failure_count, 0)
        self.assertTrue(builder.builderok)
        lines = [l for l in self.logs.lines if "No space left" in l]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("retried at the next scan", lines[0])

    @defer.inlineCallbacks
    def test_lostJobWarnsOnlyWhenRequeued(self):
        """'lost job ...; requeued' is said only when a job was requeued."""
        builder_id = yield addBuilder(self.store, "forgetful")
        build_id, queue_id = yield addRunningJob(self.store, builder_id)
        self.slaves["forgetful"] = mockslaves.OkSlave(name="forgetful")
        yield self.start()
        # The job goes away behind the scanner's back (another master or
        # the admin tool), after the snapshot was taken.
        yield takeJobBack(self.store, queue_id)
        yield self.advance()
        self.assertEqual(
            [l for l in self.logs.lines if "lost job" in l], [])
        builder = yield self.store.builders.get(builder_id)
        self.assertEqual(builder.failure_count, 0)

    @defer.inlineCallbacks
    def test_lostJobRequeuedWarnsOnce(self):
        builder_id = yield addBuilder(self.store, "forgetful")
        yield addRunningJob(self.store, builder_id)
        self.slaves["forgetful"] = mockslaves.OkSlave(name="forgetful")
        yield self.start()
        yield self.advance(INTERVAL * 3)
        self.assertEqual(
            len([l for l in self.logs.lines if "lost job" in l]), 1)


class ScanNowTests(FakeStoreTestCase):

    @defer.inlineCallbacks
    def test_eachCallerGetsItsOwnDeferred(self):
        """A callback failing on one scanNow() caller's Deferred touches
        neither the other callers nor the scanner's loop."""
        clock = task.Clock()
        logs = captureLogs(self)
        group = makeGroup(self.store, clock=clock)
        slaves = {"bob": mockslaves.OkSlave(name="bob"),
                  "frog": mockslaves.OkSlave(name="frog")}
        yield dropRunningJobs(self.store)
        manager = ScannerManager(self.store, group,
                                 lambda b: slaves[b.name], clock=clock,
                                 interval=INTERVAL)
        manager.startService()
        yield manager.settle()
        clock.advance(INTERVAL)
        yield manager.settle()
        scanner = manager.scanners["bob"]
        idle = yield mockslaves.OkSlave(name="bob").status()
        gate = defer.Deferred()
        gates = [gate]
        slaves["bob"].status = lambda: (
            gates.pop(0) if gates else defer.succeed(idle))
        scanner.scan()
        first, second = scanner.scanNow(), scanner.scanNow()
        self.assertIsNot(first, second)
        self.assertIsNot(first, scanner._inflight)
        first.addCallback(lambda _: 1 / 0)
        first.addErrback(lambda f: f.trap(ZeroDivisionError))
        seen = []
        second.addCallback(seen.append)
        gate.callback(idle)
        yield manager.settle()
        self.assertEqual(seen, [None])
        self.assertTrue(scanner.loop.running)
        self.assertEqual(logs.lines, [])
        del slaves["bob"].status
        yield manager.stopService()
        self.assertEqual(clock.getDelayedCalls(), [])


class LibrarianFailingSlave(mockslaves.OkSlave):
    """An idle builder whose every fetch from our librarian fails with
    C{answer} (by default HTTP 500, the librarian failing as it did while
    the database was away), whether or not it really does."""

    answer = ("Error accessing Librarian: HTTP Error 500: "
              "Internal Server Error")

    def __init__(self, answer=None, **kwargs):
        super().__init__(**kwargs)
        if answer is not None:
            self.answer = answer

    def ensurepresent(self, sha1, url, username=None, password=None):
        self._record("ensurepresent", sha1, url)
        return defer.succeed((False, self.answer))


class OwnLibrarianTests(LibrarianFixture, FakeStoreTestCase):
    """A builder saying it could not fetch a file from our librarian is
    checked: the master opens the file through its own librarian client."""

    @defer.inlineCallbacks
    def runBob(self, slave, scans=8):
        """Scan C{slave} as bob (frog is manual) for C{scans} intervals
        with the chroot set; fires with bob's ensurepresent calls."""
        hoary = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        yield self.store.distro.setChroot(
            hoary.id, PackagePublishingPocket.RELEASE, 1)
        yield dropRunningJobs(self.store)
        slaves = {"bob": slave, "frog": mockslaves.OkSlave(name="frog")}
        yield self.store.builders.update(
            (yield self.store.builders.getByName("frog")).id, manual=True)
        group = makeGroup(self.store, clock=self.clock)
        dispatcher = Dispatcher(self.store, self.librarian, clock=self.clock,
                                logger=logging.getLogger("test"))
        manager = ScannerManager(self.store, group, lambda b: slaves[b.name],
                                 clock=self.clock, interval=INTERVAL,
                                 dispatcher=dispatcher)
        manager.startService()
        for _ in range(int(INTERVAL * scans)):
            self.clock.advance(1)
            yield manager.settle()
        yield manager.stopService()
        return [c for c in slave.calls if c[0] == "ensurepresent"]

    @defer.inlineCallbacks
    def test_ownLibrarianFailureIsNotTheBuilders(self):
        """A builder that cannot fetch from our own librarian while our
        librarian cannot answer the master's own check either (its
        database is away) is never counted, however often it happens; the
        job stays queued, and it is said once."""
        self.startLibrarian()
        logs = captureLogs(self)
        self.store.library.getAlias = lambda alias_id: defer.fail(
            failures.DatabaseUnavailable("the database is away"))
        fetches = yield self.runBob(LibrarianFailingSlave(name="bob"))
        self.assertGreater(len(fetches), 7)
        bob = yield self.store.builders.getByName("bob")
        self.assertTrue(bob.builderok)
        self.assertEqual(bob.failure_count, 0)
        queue = yield self.store.queue.get(2)
        self.assertIsNone(queue.builder)
        build = yield self.store.builds.get(queue.build)
        self.assertEqual(build.failure_count, 0)
        said = [l for l in logs.lines if "our librarian" in l]
        self.assertEqual(len(said), 1, said)

    @defer.inlineCallbacks
    def test_librarianClaimOfAPresentFileIsTheBuilders(self):
        """A hostile builder always answering that our librarian failed
        (HTTP 503) while the master reads the file fine is counted as any
        refusal: it is failed, and no build is counted."""
        self.startLibrarian()
        captureLogs(self)
        yield self.runBob(LibrarianFailingSlave(
            name="bob", answer="Error accessing Librarian: HTTP Error 503: "
                               "Service Unavailable"))
        bob = yield self.store.builders.getByName("bob")
        self.assertFalse(bob.builderok)
        self.assertGreater(bob.failure_count, 0)
        queue = yield self.store.queue.get(2)
        self.assertIsNone(queue.builder)
        build = yield self.store.builds.get(queue.build)
        self.assertEqual(build.failure_count, 0)
        self.assertEqual(build.buildstate, BuildStatus.NEEDSBUILD)

    @defer.inlineCallbacks
    def test_fileGoneFromOurLibrarianFailsTheJob(self):
        """A builder that gets 404 for a file whose content is gone from
        our librarian is not counted: the build fails at once, its notes
        naming the file, and the builder stays ok."""
        self.startLibrarian()
        logs = captureLogs(self)
        chroot = yield self.librarian.getAlias(1)
        yield self.librarian.backend.delete(chroot.sha1.strip())
        fetches = yield self.runBob(LibrarianFailingSlave(
            name="bob", answer="Error accessing Librarian: HTTP Error 404: "
                               "Not Found"), scans=2)
        self.assertGreater(len(fetches), 0)
        bob = yield self.store.builders.getByName("bob")
        self.assertTrue(bob.builderok)
        self.assertEqual(bob.failure_count, 0)
        # BuildQueue 2 holds build 10, the one pending build.
        build = yield self.store.builds.get(10)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOBUILD)
        self.assertIn(chroot.filename, build.failnotes)
        self.assertIn("gone from our librarian", build.failnotes)
        said = [l for l in logs.lines if chroot.filename in l]
        self.assertGreater(len(said), 0)

    @defer.inlineCallbacks
    def test_unknownAliasFailsTheJob(self):
        """The alias itself gone (deleted, expired and collected): the
        build fails, the builder is not counted."""
        self.startLibrarian()
        captureLogs(self)
        chroot = yield self.librarian.getAlias(1)
        found = self.store.library.getAlias
        self.store.library.getAlias = lambda alias_id: (
            defer.succeed(None) if alias_id == 1 else found(alias_id))
        yield self.runBob(LibrarianFailingSlave(
            name="bob", answer="Error accessing Librarian: HTTP Error 410: "
                               "Gone"), scans=2)
        bob = yield self.store.builders.getByName("bob")
        self.assertEqual((bob.builderok, bob.failure_count), (True, 0))
        build = yield self.store.builds.get(10)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOBUILD)
        self.assertIn(chroot.filename, build.failnotes)


class FailureAccountingTests(FakeStoreTestCase):
    """Counting a failure and acting on it is one transaction."""

    @defer.inlineCallbacks
    def test_guiltyJobResetsTheBuilder(self):
        """A job judged guilty (failed on builder after builder) fails; the
        builder that met it last goes back to a count of 0."""
        from lp_buildmaster.buildergroup import BuilderHandle, Job
        clock = task.Clock()
        group = makeGroup(self.store, clock=clock)
        builder_id = yield addBuilder(self.store, "b")
        build_id, queue_id = yield addRunningJob(self.store, builder_id)
        yield self.store.builds.update(build_id, failure_count=2)
        yield self.store.builders.update(builder_id, failure_count=1)
        record = yield self.store.builders.get(builder_id)
        handle = BuilderHandle(record, mockslaves.OkSlave(name="b"))
        queue = yield self.store.queue.get(queue_id)
        build = yield self.store.builds.get(build_id)
        judgement = yield group.handleFailure(
            handle, Job(queue, build, handle),
            SlaveFault("b", 8002, "error"), retryable=True)
        self.assertEqual(judgement.job, "fail")
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOBUILD)
        self.assertEqual(build.failure_count, 3)
        builder = yield self.store.builders.get(builder_id)
        self.assertEqual(builder.failure_count, 0)
        self.assertTrue(builder.builderok)

    @defer.inlineCallbacks
    def test_jobGoneMeanwhileCountsTheBuilderOnly(self):
        from lp_buildmaster.buildergroup import BuilderHandle, Job
        group = makeGroup(self.store, clock=task.Clock())
        builder_id = yield addBuilder(self.store, "b")
        build_id, queue_id = yield addRunningJob(self.store, builder_id)
        record = yield self.store.builders.get(builder_id)
        handle = BuilderHandle(record, mockslaves.OkSlave(name="b"))
        queue = yield self.store.queue.get(queue_id)
        build = yield self.store.builds.get(build_id)
        # Another master took the job back between the snapshot and now.
        yield takeJobBack(self.store, queue_id)
        yield group.handleFailure(handle, Job(queue, build, handle),
                                  SlaveTimeout("b", "timed out"))
        builder = yield self.store.builders.get(builder_id)
        build = yield self.store.builds.get(build_id)
        self.assertEqual((builder.failure_count, build.failure_count),
                         (1, 0))


class HygieneTests(ScannerFixture):
    """The deferred and accounting hazards of issue 11."""

    @defer.inlineCallbacks
    def test_builderfailAfterCancelFailsTheBuilder(self):
        """A cancel whose abort timed out on the builder ends in WAITING
        with BUILDERFAIL: the build is CANCELLED and the builder failed,
        never idle and ready for the next job."""
        from lp_buildmaster.buildergroup import BUILDERFAIL_NOTES
        builder_id = yield addBuilder(self.store, "stuck")
        build_id, queue_id = yield addRunningJob(
            self.store, builder_id, state=BuildStatus.CANCELLING)
        slave = self.slaves["stuck"] = mockslaves.WaitingSlave(
            "BuildStatus.BUILDERFAIL", name="stuck",
            cookie="%d-%d" % (build_id, queue_id))
        yield self.start()
        yield self.advance()
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.CANCELLED)
        self.assertIsNone((yield self.store.queue.get(queue_id)))
        builder = yield self.store.builders.get(builder_id)
        self.assertFalse(builder.builderok)
        self.assertEqual(builder.failnotes, BUILDERFAIL_NOTES)
        self.assertNotIn(("clean", ()), slave.calls)
        self.assertNotIn("stuck", self.manager.scanners)

    @defer.inlineCallbacks
    def givenBack(self, builder_id, name):
        build_id, queue_id = yield addRunningJob(self.store, builder_id)
        self.slaves[name].cookie = "%d-%d" % (build_id, queue_id)
        self.manager.scanners[name].slave = self.slaves[name]
        yield self.manager.refreshOne(name)
        yield self.advance()
        return build_id, queue_id

    @defer.inlineCallbacks
    def test_givenBackCountsAgainstNeither(self):
        builder_id = yield addBuilder(self.store, "giver")
        self.slaves["giver"] = mockslaves.WaitingSlave(
            "BuildStatus.GIVENBACK", name="giver")
        yield self.start()
        build_id, queue_id = yield self.givenBack(builder_id, "giver")
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.NEEDSBUILD)
        self.assertEqual(build.failure_count, 0)
        queue = yield self.store.queue.get(queue_id)
        self.assertEqual((queue.builder, queue.lastscore), (None, 0))
        builder = yield self.store.builders.get(builder_id)
        self.assertEqual(builder.failure_count, 0)
        self.assertTrue(builder.builderok)

    @defer.inlineCallbacks
    def test_givingBackInARowFailsTheBuilder(self):
        """Five jobs given back in a row fail the builder; a job collected
        in between starts the run again."""
        builder_id = yield addBuilder(self.store, "churn")
        self.slaves["churn"] = mockslaves.WaitingSlave(
            "BuildStatus.GIVENBACK", name="churn")
        yield self.start()
        for _ in range(4):
            yield self.givenBack(builder_id, "churn")
        # One build collected: the run of give-backs ends.
        self.slaves["churn"] = mockslaves.WaitingSlave(
            "BuildStatus.PACKAGEFAIL", name="churn")
        yield self.givenBack(builder_id, "churn")
        self.assertEqual(self.group.givebacks, {})
        self.slaves["churn"] = mockslaves.WaitingSlave(
            "BuildStatus.GIVENBACK", name="churn")
        for _ in range(4):
            yield self.givenBack(builder_id, "churn")
        builder = yield self.store.builders.get(builder_id)
        self.assertTrue(builder.builderok)
        yield self.givenBack(builder_id, "churn")
        builder = yield self.store.builders.get(builder_id)
        self.assertFalse(builder.builderok)
        self.assertEqual(builder.failnotes, "gave back 5 jobs in a row")
        self.assertEqual(builder.failure_count, 0)

    @defer.inlineCallbacks
    def test_olderSnapshotNeverReplacesNewer(self):
        """A full refresh read before a builder's own re-read, arriving
        after it, keeps that builder's newer snapshot."""
        yield self.start()
        real = self.store.jobs.allVitals
        gate = defer.Deferred()

        def slow(*args, **kwargs):
            d = real(*args, **kwargs)
            return d.addCallback(lambda v: gate.addCallback(lambda _: v))
        self.patch(self.store.jobs, "allVitals", slow)
        refreshing = self.manager.refresh()
        # The refresh has read its snapshot (bob idle at the time)...
        for _ in range(100):
            yield task.deferLater(reactor, 0.01, lambda: None)
            if not gate.callbacks == [] or gate.called:
                break
        bob = yield self.store.builders.getByName("bob")
        yield self.store.builders.update(bob.id, manual=True)
        # ...and bob's own re-read, later, sees the change first.
        fresh = yield self.manager.refreshOne("bob")
        self.assertTrue(fresh.builder.manual)
        gate.callback(None)
        yield refreshing
        self.assertTrue(self.manager.vitals["bob"].builder.manual)
        # The next full refresh, read after, is taken as it is.
        yield self.store.builders.update(bob.id, manual=False)
        self.patch(self.store.jobs, "allVitals", real)
        yield self.manager.refresh()
        self.assertFalse(self.manager.vitals["bob"].builder.manual)
