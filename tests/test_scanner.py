"""SlaveScanner and ScannerManager, with time from a task.Clock."""

from twisted.internet import defer, task

from lp_buildmaster.enums import BuildStatus, PackagePublishingPocket
from lp_buildmaster.master import DispatchError
from lp_buildmaster.scanner import ScannerManager
from lp_buildmaster.slave import SlaveConnectionError, SlaveTimeout
from lp_buildmaster.testing import mockslaves
from tests.farm import (
    FakeStoreTestCase, addBuild, addBuilder, addRunningJob, captureLogs,
    makeGroup, startJob)

INTERVAL = 15.0


class HangingSlave(mockslaves.MockSlave):
    """status() never answers; the call times out as BuilderSlave's do."""

    def __init__(self, clock, timeout=30.0, **kwargs):
        super().__init__(**kwargs)
        self.clock = clock
        self.timeout = timeout

    def status(self):
        self._record("status")
        d = defer.Deferred()
        d.addTimeout(self.timeout, self.clock)

        def translate(f):
            f.trap(defer.TimeoutError)
            raise SlaveTimeout(self.name, "status timed out")
        return d.addErrback(translate)


class ControlledSlave(mockslaves.MockSlave):
    """status() answers when the test says so."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.pending = []

    def status(self):
        self._record("status")
        d = defer.Deferred()
        self.pending.append(d)
        return d


class RefusingSlave(mockslaves.MockSlave):
    def status(self):
        self._record("status")
        return defer.fail(SlaveConnectionError(self.name, "refused"))


class ScannerTestCase(FakeStoreTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.clock = task.Clock()
        self.logs = captureLogs(self)
        self.slaves = {
            "bob": mockslaves.SaneBuildingSlave(name="bob"),
            "frog": mockslaves.OkSlave(name="frog"),
        }
        self.group = makeGroup(self.store, clock=self.clock)
        self.manager = ScannerManager(
            self.store, self.group, self.slaveFor, clock=self.clock,
            interval=INTERVAL)

    def slaveFor(self, builder):
        return self.slaves[builder.name]

    @defer.inlineCallbacks
    def start(self):
        self.manager.startService()
        self.addCleanup(self.stop)
        yield self.manager.settle()

    @defer.inlineCallbacks
    def stop(self):
        if self.manager.running:
            stopped = self.manager.stopService()
            # A scan blocked on the clock (a hanging builder) ends when its
            # timeout fires.
            while not stopped.called:
                self.clock.advance(1)
                yield self.manager.settle(exclude=self.blocked)
            yield stopped
        self.assertEqual(self.clock.getDelayedCalls(), [])

    #: Builders whose scans block on the test, not on I/O.
    blocked = ("hung", "slow")

    @defer.inlineCallbacks
    def advance(self, seconds=INTERVAL, step=1.0):
        """Advance the clock in steps, letting each step's I/O finish."""
        elapsed = 0.0
        while elapsed < seconds:
            self.clock.advance(step)
            elapsed += step
            yield self.manager.settle(exclude=self.blocked)

    def statusCalls(self, name):
        return sum(1 for call in self.slaves[name].calls if call[0] == "status")

    @defer.inlineCallbacks
    def test_scansEachBuilderOncePerInterval(self):
        for name in ("alpha", "beta", "gamma"):
            yield addBuilder(self.store, name)
            self.slaves[name] = mockslaves.OkSlave(name=name)
        yield self.start()
        yield self.advance(INTERVAL)
        for intervals in (2, 3, 4):
            yield self.advance(INTERVAL)
            for name in self.slaves:
                self.assertIn(self.statusCalls(name),
                              (intervals, intervals + 1), name)
        # Exactly one scan per interval from the builder's first scan on.
        yield self.advance(10 * INTERVAL)
        counts = {name: self.statusCalls(name) for name in self.slaves}
        yield self.advance(INTERVAL)
        for name in self.slaves:
            self.assertEqual(self.statusCalls(name), counts[name] + 1, name)

    @defer.inlineCallbacks
    def test_hangingBuilderDelaysNoOther(self):
        yield addBuilder(self.store, "hung")
        self.slaves["hung"] = HangingSlave(self.clock, name="hung")
        yield self.start()
        yield self.advance(INTERVAL)
        before = self.statusCalls("frog")
        # While "hung" waits for its 30 s timeout, frog goes on.
        yield self.advance(2 * INTERVAL)
        self.assertEqual(self.statusCalls("frog"), before + 2)
        self.assertEqual(self.statusCalls("hung"), 1)
        yield self.advance(INTERVAL)
        self.assertEqual(self.statusCalls("hung"), 2)
        self.assertTrue(any("transient error 1 of 5" in line
                            for line in self.logs.lines))

    @defer.inlineCallbacks
    def test_errorLinesNameTheBuilderOnce(self):
        # Issue 16's noise: "Builder 'bob': Builder 'bob': ..." and
        # "job failures None". Tolerated, then counted, a hanging builder's
        # timeouts each give one line that names it once.
        yield addBuilder(self.store, "hung")
        self.slaves["hung"] = HangingSlave(self.clock, name="hung")
        yield self.start()
        for _ in range(40):
            yield self.advance(INTERVAL)
        mine = [line for line in self.logs.lines if "'hung'" in line]
        self.assertTrue(any("transient error 5 of 5" in line
                            for line in mine))
        self.assertTrue(any("tolerated" not in line for line in mine))
        for line in mine:
            self.assertEqual(line.count("'hung'"), 1, line)
            self.assertNotIn("None", line)

    @defer.inlineCallbacks
    def test_stopServiceWaitsForScanInFlight(self):
        yield addBuilder(self.store, "slow")
        slow = self.slaves["slow"] = ControlledSlave(name="slow")
        yield self.start()
        yield self.advance(INTERVAL)
        self.assertEqual(len(slow.pending), 1)
        stopped = self.manager.stopService()
        self.assertNoResult(stopped)
        slow.pending[0].callback(
            mockslaves.normaliseStatus(("BuilderStatus.IDLE",)))
        yield stopped
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @defer.inlineCallbacks
    def test_newAndDisabledBuilders(self):
        yield self.start()
        self.assertEqual(sorted(self.manager.scanners), ["bob", "frog"])
        builder_id = yield addBuilder(self.store, "newcomer")
        self.slaves["newcomer"] = mockslaves.OkSlave(name="newcomer")
        yield self.advance(INTERVAL)
        self.assertIn("newcomer", self.manager.scanners)
        yield self.advance(INTERVAL)
        self.assertGreaterEqual(self.statusCalls("newcomer"), 1)
        yield self.store.builders.update(builder_id, active=False)
        yield self.advance(INTERVAL)
        self.assertNotIn("newcomer", self.manager.scanners)
        calls = self.statusCalls("newcomer")
        yield self.advance(2 * INTERVAL)
        self.assertEqual(self.statusCalls("newcomer"), calls)

    @defer.inlineCallbacks
    def test_logtailsBatched(self):
        """All building builders' log tails go in one statement."""
        queues = {}
        for name in ("b1", "b2", "b3"):
            builder_id = yield addBuilder(self.store, name)
            build_id, queue_id = yield addRunningJob(self.store, builder_id)
            queues[name] = queue_id
            self.slaves[name] = mockslaves.BuildingSlave(
                name=name, cookie="%d-%d" % (build_id, queue_id))
        batches = []
        original = self.store.jobs.setLogtails

        def spy(logtails):
            batches.append(dict(logtails))
            return original(logtails)
        self.patch(self.store.jobs, "setLogtails", spy)
        yield self.start()
        yield self.advance(2 * INTERVAL)
        nonempty = [batch for batch in batches if batch]
        self.assertTrue(nonempty)
        self.assertTrue(any(set(queues.values()) <= set(batch)
                            for batch in nonempty))
        self.assertLessEqual(len(batches), 4)
        for queue_id in queues.values():
            queue = yield self.store.queue.get(queue_id)
            self.assertEqual(queue.logtail, "This is a build log")

    @defer.inlineCallbacks
    def test_transientErrorsTolerated(self):
        builder_id = yield addBuilder(self.store, "flaky")
        self.slaves["flaky"] = RefusingSlave(name="flaky")
        yield self.start()
        scanner = self.manager.scanners["flaky"]
        while scanner.scans < 5:
            yield self.advance(INTERVAL)
        self.assertEqual(scanner.scans, 5)
        builder = yield self.store.builders.get(builder_id)
        self.assertEqual(builder.failure_count, 0)
        # From the sixth consecutive error on, each one counts.
        yield self.advance(INTERVAL * 2)
        self.assertEqual(scanner.scans, 7)
        builder = yield self.store.builders.get(builder_id)
        self.assertEqual(builder.failure_count, 2)
        self.assertTrue(builder.builderok)

    @defer.inlineCallbacks
    def test_persistentFailureDisablesBuilder(self):
        builder_id = yield addBuilder(self.store, "broken")
        self.slaves["broken"] = mockslaves.BrokenSlave(name="broken")
        yield self.start()
        yield self.advance(INTERVAL * 6)
        builder = yield self.store.builders.get(builder_id)
        self.assertFalse(builder.builderok)
        self.assertIn("Broken slave", builder.failnotes)
        self.assertNotIn("broken", self.manager.scanners)

    @defer.inlineCallbacks
    def test_idleBuilderLostItsJob(self):
        """A builder that is IDLE while it should build: job requeued."""
        builder_id = yield addBuilder(self.store, "forgetful")
        build_id, queue_id = yield addRunningJob(self.store, builder_id)
        self.slaves["forgetful"] = mockslaves.OkSlave(name="forgetful")
        yield self.start()
        yield self.advance(INTERVAL)
        queue = yield self.store.queue.get(queue_id)
        self.assertIsNone(queue.builder)
        self.assertIsNone(queue.buildstart)
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.NEEDSBUILD)
        builder = yield self.store.builders.get(builder_id)
        self.assertEqual(builder.failure_count, 1)
        self.assertTrue(self.logs.matching("WARNING"))

    @defer.inlineCallbacks
    def test_foreignCookieFailsBuilderAtThreshold(self):
        """A builder that keeps reporting a build not its own: every scan
        counts one failure, and at the threshold it is failed; its job was
        requeued at once, counting one failure."""
        builder_id = yield addBuilder(self.store, "liar")
        build_id, queue_id = yield addRunningJob(self.store, builder_id)
        self.slaves["liar"] = mockslaves.LostBuildingSlave(name="liar")
        yield self.start()
        yield self.advance(INTERVAL)
        queue = yield self.store.queue.get(queue_id)
        self.assertIsNone(queue.builder)
        build = yield self.store.builds.get(build_id)
        self.assertEqual((build.buildstate, build.failure_count),
                         (BuildStatus.NEEDSBUILD, 1))
        builder = yield self.store.builders.get(builder_id)
        self.assertEqual((builder.builderok, builder.failure_count), (True, 1))
        yield self.advance(5 * INTERVAL)
        builder = yield self.store.builders.get(builder_id)
        self.assertFalse(builder.builderok)
        self.assertEqual(builder.failure_count, 5)
        self.assertIn("1000-10000, not its own, 5 failures in a row",
                      builder.failnotes)
        self.assertNotIn("liar", self.manager.scanners)
        self.assertEqual(self.statusCalls("liar"), 5)

    @defer.inlineCallbacks
    def test_impossibleCookieCounts(self):
        builder_id = yield addBuilder(self.store, "liar")
        self.slaves["liar"] = mockslaves.LostBuildingSlave(
            name="liar", cookie="not-a-cookie")
        yield self.start()
        yield self.advance(INTERVAL)
        builder = yield self.store.builders.get(builder_id)
        self.assertEqual(builder.failure_count, 1)

    @defer.inlineCallbacks
    def test_jobLostRepeatedlyFails(self):
        """A job lost by its builders several times in a row fails, with
        failnotes saying so, instead of going round for ever."""
        builder_id = yield addBuilder(self.store, "forgetful")
        build_id, queue_id = yield addBuild(self.store)
        self.slaves["forgetful"] = mockslaves.OkSlave(name="forgetful")
        yield self.start()
        for _ in range(3):
            yield startJob(self.store, builder_id, build_id, queue_id)
            yield self.manager.refreshOne("forgetful")
            yield self.advance(INTERVAL)
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOBUILD)
        self.assertEqual(build.failure_count, 3)
        self.assertIn("lost by its builder 3 times: lost job",
                      build.failnotes)
        self.assertIsNone((yield self.store.queue.get(queue_id)))

    @defer.inlineCallbacks
    def test_hiddenResultFileIsOneBuilderFailure(self):
        """A finished build whose filemap names C{.hidden}: one failure of
        the builder (the name is refused where the filemap arrives, by the
        same check upload processing makes), its job requeued; not an
        unexpected error every scan with the build BUILDING for ever."""
        builder_id = yield addBuilder(self.store, "sneaky")
        build_id, queue_id = yield addRunningJob(self.store, builder_id)

        class HiddenFileSlave(mockslaves.SaneWaitingSlave):
            reply = ("BuilderStatus.WAITING", "BuildStatus.OK",
                     "%(cookie)s", {".hidden": "a" * 40}, "")

        self.slaves["sneaky"] = HiddenFileSlave(
            name="sneaky", cookie="%d-%d" % (build_id, queue_id))
        yield self.start()
        yield self.advance(3 * INTERVAL)
        builder = yield self.store.builders.get(builder_id)
        self.assertFalse(builder.builderok)
        self.assertEqual(builder.failure_count, 1)
        self.assertIn("'.hidden': starts with a dot", builder.failnotes)
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.NEEDSBUILD)
        self.assertEqual(self.statusCalls("sneaky"), 1)
        self.assertFalse([l for l in self.logs.lines if "Traceback" in l])

    @defer.inlineCallbacks
    def test_disabledBuilderDownloadsCancelled(self):
        """Disabling (or removing, or failing) a builder cancels its
        downloads, freeing their farm-wide slots, at the next refresh."""
        builder_id = yield addBuilder(self.store, "dripper")
        cancelled = []

        class Slave(mockslaves.OkSlave):
            def cancelDownloads(self, why):
                cancelled.append(why)
                return 1

        self.slaves["dripper"] = Slave(name="dripper")
        yield self.start()
        yield self.advance(INTERVAL)
        self.assertEqual(cancelled, [])
        yield self.store.builders.failBuilder(builder_id, "disabled by hand")
        yield self.advance(INTERVAL)
        self.assertEqual(cancelled, ["builder removed or disabled"])
        self.assertNotIn("dripper", self.manager.scanners)

    @defer.inlineCallbacks
    def test_cancelAborts(self):
        """A CANCELLING build is aborted; ABORTED then means CANCELLED."""
        builder_id = yield addBuilder(self.store, "cancel")
        build_id, queue_id = yield addRunningJob(
            self.store, builder_id, state=BuildStatus.CANCELLING)
        cookie = "%d-%d" % (build_id, queue_id)
        slave = self.slaves["cancel"] = mockslaves.BuildingSlave(
            name="cancel", cookie=cookie)
        yield self.start()
        yield self.advance(INTERVAL)
        self.assertIn(("abort", ()), slave.calls)
        self.slaves["cancel"] = aborted = mockslaves.AbortedSlave(
            name="cancel", cookie=cookie)
        self.manager.scanners["cancel"].slave = aborted
        yield self.advance(INTERVAL)
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.CANCELLED)
        self.assertIsNone((yield self.store.queue.get(queue_id)))
        self.assertIn(("clean", ()), aborted.calls)

    @defer.inlineCallbacks
    def test_cancelTimeoutFailsBuilder(self):
        builder_id = yield addBuilder(self.store, "stubborn")
        build_id, queue_id = yield addRunningJob(
            self.store, builder_id, state=BuildStatus.CANCELLING)
        self.slaves["stubborn"] = mockslaves.BuildingSlave(
            name="stubborn", cookie="%d-%d" % (build_id, queue_id))
        yield self.start()
        # The first scan, within the first interval, asks for the abort;
        # 180 s later the builder is failed.
        yield self.advance(INTERVAL * 11)
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.CANCELLING)
        yield self.advance(INTERVAL * 3)
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.CANCELLED)
        builder = yield self.store.builders.get(builder_id)
        self.assertFalse(builder.builderok)
        self.assertIn("did not abort", builder.failnotes)

    @defer.inlineCallbacks
    def test_garbageFailsOnlyThatBuilder(self):
        """Whatever one builder sends, only that builder is affected."""
        builder_id = yield addBuilder(self.store, "liar")
        self.slaves["liar"] = LyingSlave(name="liar")
        yield self.start()
        yield self.advance(INTERVAL * 2)
        liar = yield self.store.builders.get(builder_id)
        self.assertFalse(liar.builderok)
        self.assertIn("liar", liar.failnotes)
        self.assertIn("etc/passwd", liar.failnotes)
        frog = yield self.store.builders.getByName("frog")
        self.assertTrue(frog.builderok)
        before = self.statusCalls("frog")
        yield self.advance(INTERVAL)
        self.assertEqual(self.statusCalls("frog"), before + 1)
        self.assertEqual(self.logs.matching("ERROR"), [])


    @defer.inlineCallbacks
    def reservedJob(self, name, slave_class, **kwargs):
        """A job reserved for a new builder by a dispatch that never
        finished (a master killed between its two transactions)."""
        builder_id = yield addBuilder(self.store, name)
        hoary = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        yield self.store.distro.setChroot(
            hoary.id, PackagePublishingPocket.RELEASE, 1)
        x86 = yield self.store.distro.getProcessor("x86")
        reservation = yield self.store.dispatch.reserve(builder_id, x86.id,
                                                        False)
        self.slaves[name] = slave_class(
            name=name, cookie="%d-%d" % (reservation.build_id,
                                         reservation.queue_id), **kwargs)
        return reservation

    @defer.inlineCallbacks
    def test_reservationStartedByBuilderIsCompleted(self):
        """The builder got build(): the start is recorded."""
        reservation = yield self.reservedJob("half", mockslaves.BuildingSlave)
        yield self.start()
        yield self.advance(INTERVAL)
        queue = yield self.store.queue.get(reservation.queue_id)
        self.assertIsNotNone(queue.buildstart)
        build = yield self.store.builds.get(reservation.build_id)
        self.assertEqual(build.buildstate, BuildStatus.BUILDING)

    @defer.inlineCallbacks
    def test_reservationNeverSentIsReleased(self):
        """The builder never got build(): the job is as it was."""
        reservation = yield self.reservedJob("half", mockslaves.OkSlave)
        self.manager.dispatcher = None
        yield self.start()
        yield self.advance(INTERVAL)
        queue = yield self.store.queue.get(reservation.queue_id)
        self.assertIsNone(queue.builder)
        build = yield self.store.builds.get(reservation.build_id)
        self.assertEqual(build.buildstate, BuildStatus.NEEDSBUILD)

    @defer.inlineCallbacks
    def test_failedDispatchCounts(self):
        """A builder that cannot fetch a job's files counts a failure."""
        builder_id = yield addBuilder(self.store, "nofetch")
        self.slaves["nofetch"] = mockslaves.OkSlave(name="nofetch")

        class Dispatcher:
            def builderIdle(self, builder, vitals):
                return defer.fail(DispatchError(
                    builder.name, "could not fetch the chroot"))
        self.manager.dispatcher = Dispatcher()
        yield self.start()
        yield self.advance(INTERVAL)
        builder = yield self.store.builders.get(builder_id)
        self.assertEqual(builder.failure_count, 1)
        self.assertEqual(self.logs.matching("ERROR"), [])

class LyingSlave(mockslaves.MockSlave):
    """Sends garbage: what normaliseStatus refuses (here: a filemap that
    walks out of the upload directory)."""

    def status(self):
        self._record("status")
        return defer.maybeDeferred(
            mockslaves.normaliseStatus,
            {"builder_status": "BuilderStatus.WAITING",
             "build_status": "BuildStatus.OK", "build_id": "10-2",
             "filemap": {"../../etc/passwd": "0" * 40}}, self.name)
