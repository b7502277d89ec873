"""Dispatch: candidate selection, the two transactions, concurrency,
virtual builder reset and instant dispatch."""

import datetime
import logging
import sys

from twisted.internet import defer, reactor, task

from lp_buildmaster.enums import (
    BuildStatus, PackagePublishingPocket, PackagePublishingStatus)
from lp_buildmaster.master import (
    DispatchError, Dispatcher, InstantDispatch, ResetFailed)
from lp_buildmaster.buildergroup import BuilderHandle
from lp_buildmaster.scanner import ScannerManager
from lp_buildmaster.slave import _buildRequestProblem
from lp_buildmaster.store import Store
from lp_buildmaster.testing import mockslaves
from tests.database import DatabaseTestCase
from tests.farm import (
    FakeStoreTestCase, addBuild, addBuilder, disableArchives,
    dropSourceFiles, emptyQueue, makeGroup, publishSource,
    setPublicationStatus)
from tests.test_librarian import LibrarianFixture

RELEASE = PackagePublishingPocket.RELEASE
DONE = datetime.datetime(2006, 1, 1, tzinfo=datetime.timezone.utc)


class RefusingFileSlave(mockslaves.OkSlave):
    def ensurepresent(self, sha1, url, username=None, password=None):
        self._record("ensurepresent", sha1, url)
        return defer.succeed((False, "Error accessing Librarian: 404"))


class CandidateTests:
    """Candidate selection through the dispatcher's store calls, mixed into
    a test case on the fake store and one on PostgreSQL: the fake's
    selection is held to the SQL's."""

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.startLibrarian()
        self.hoary = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        yield self.store.distro.setChroot(self.hoary.id, RELEASE, 1)
        self.dispatcher = Dispatcher(self.store, self.librarian,
                                     clock=self.clock,
                                     logger=logging.getLogger("test"))

    @defer.inlineCallbacks
    def handle(self, name, slave=None, **kwargs):
        builder_id = yield addBuilder(self.store, name, **kwargs)
        record = yield self.store.builders.get(builder_id)
        return BuilderHandle(record, slave or mockslaves.OkSlave(name=name))

    @defer.inlineCallbacks
    def reserveAll(self, builder, store=None):
        """Queue ids reserved for C{builder} one after another (each then
        released again by starting it)."""
        store = store or self.store
        order = []
        while True:
            reservation = yield store.dispatch.reserve(
                builder.id, builder.record.processor,
                builder.record.virtualized)
            if reservation is None:
                return order
            order.append(reservation.queue_id)
            yield store.dispatch.start(reservation.queue_id, builder.id,
                                       None)
            # Collected: the entry goes and the builder is free again.
            self.assertTrue((yield store.jobs.finishJob(
                reservation.queue_id, reservation.build_id, builder.id,
                BuildStatus.FULLYBUILT, DONE)))

    @defer.inlineCallbacks
    def test_candidateOrder(self):
        """Highest score first, then the lowest id."""
        ids = []
        for score in (5, 50, 50, 20):
            _, queue_id = yield addBuild(self.store, score=score)
            ids.append(queue_id)
        builder = yield self.handle("b1")
        order = yield self.reserveAll(builder)
        self.assertEqual(order, [ids[1], ids[2], ids[3], 2, ids[0]])

    @defer.inlineCallbacks
    def test_processorAndVirtualization(self):
        """A job goes only to a builder of its processor, and a PPA job
        only to a virtualized builder."""
        amd64 = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "amd64")
        yield self.store.distro.setChroot(amd64.id, RELEASE, 1)
        _, amd64_job = yield addBuild(self.store, arch="amd64")
        ppa = yield self.store.distro.getArchive("ubuntu", "ppa")
        build7 = yield self.store.builds.get(7)
        ppa_build = yield self.store.builds.create(
            self.hoary.id, build7.sourcepackagerelease, ppa.id, RELEASE)
        ppa_job = yield self.store.queue.enqueueBuild(ppa_build)
        yield publishSource(self.store, build7.sourcepackagerelease,
                            self.hoary.distrorelease, ppa.id)
        x86 = yield self.handle("x86-builder")
        self.assertEqual((yield self.reserveAll(x86)), [2])
        virtual = yield self.handle("virtual", virtualized=True)
        self.assertEqual((yield self.reserveAll(virtual)), [ppa_job])
        amd = yield self.handle("amd", processor="amd64")
        self.assertEqual((yield self.reserveAll(amd)), [amd64_job])

    @defer.inlineCallbacks
    def test_onlyRunnableCandidates(self):
        """No chroot, a forbidden pocket or a disabled archive: not a
        candidate."""
        yield addBuild(self.store, pocket=PackagePublishingPocket.SECURITY)
        yield self.store.distro.setChroot(
            self.hoary.id, PackagePublishingPocket.SECURITY, 1)
        warty = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "warty", "i386")
        yield self.store.distro.setChroot(warty.id, RELEASE, 1)
        yield addBuild(self.store, series="warty")
        builder = yield self.handle("b1")
        self.assertEqual((yield self.reserveAll(builder)), [2])
        _, queue_id = yield addBuild(self.store)
        yield disableArchives(self.store)
        self.assertEqual((yield self.reserveAll(builder)), [])

    @defer.inlineCallbacks
    def test_supersededOnTheWay(self):
        build = yield self.store.builds.get(10)
        yield setPublicationStatus(self.store, build.sourcepackagerelease,
                                   PackagePublishingStatus.SUPERSEDED)
        _, other = yield addBuild(self.store)
        builder = yield self.handle("b1")
        job = yield self.dispatcher.builderIdle(builder)
        self.assertEqual(job.queue.id, other)
        build = yield self.store.builds.get(10)
        self.assertEqual(build.buildstate, BuildStatus.SUPERSEDED)
        self.assertIsNone((yield self.store.queue.get(2)))


class DispatcherTests(CandidateTests):
    """The dispatcher's own logic: it needs no PostgreSQL."""

    @defer.inlineCallbacks
    def test_manualFailedDisabledGetNothing(self):
        for name, kwargs in [("manual", {"manual": True})]:
            builder = yield self.handle(name, **kwargs)
            self.assertIsNone((yield self.dispatcher.builderIdle(builder)))
        for column in ("builderok", "active"):
            builder = yield self.handle("not-" + column)
            yield self.store.builders.update(builder.id, **{column: False})
            builder.record = yield self.store.builders.get(builder.id)
            self.assertIsNone((yield self.dispatcher.builderIdle(builder)))
        queue = yield self.store.queue.get(2)
        self.assertIsNone(queue.builder)

    @defer.inlineCallbacks
    def test_dispatchSendsAValidRequest(self):
        builder = yield self.handle("b1")
        job = yield self.dispatcher.builderIdle(builder)
        self.assertEqual(job.queue.id, 2)
        calls = builder.slave.calls
        ensured = [c[1][0] for c in calls if c[0] == "ensurepresent"]
        chroot = yield self.store.library.getAlias(1)
        files = yield self.store.sources.files(job.build.sourcepackagerelease)
        aliases = yield self.store.library.getAliases([a for a, _ in files])
        self.assertEqual(sorted(ensured), sorted(
            [chroot.sha1] + [a.sha1 for a in aliases.values()]))
        for call in calls:
            if call[0] == "ensurepresent":
                self.assertTrue(call[1][1].startswith(
                    self.librarian.base_url))
        (cookie, build_type, chroot_sha1, filemap, args), = [
            c[1] for c in calls if c[0] == "build"]
        self.assertEqual(cookie, "10-2")
        self.assertEqual(build_type, "binarypackage")
        self.assertEqual(chroot_sha1, chroot.sha1)
        self.assertIn("cnews_cr.g7-37.dsc", filemap)
        self.assertIsNone(_buildRequestProblem(
            cookie, build_type, chroot_sha1, filemap, args))
        self.assertEqual(
            {k: args[k] for k in ("arch_tag", "distribution", "series",
                                  "suite", "ogrecomponent",
                                  "archive_purpose", "archive_private")},
            {"arch_tag": "i386", "distribution": "ubuntu",
             "series": "hoary", "suite": "hoary",
             "ogrecomponent": "universe", "archive_purpose": "PRIMARY",
             "archive_private": False})
        for key in ("arch_indep", "archives", "build_url", "trusted_keys"):
            self.assertIn(key, args)
        queue = yield self.store.queue.get(2)
        build = yield self.store.builds.get(10)
        self.assertEqual(queue.builder, builder.id)
        self.assertIsNotNone(queue.buildstart)
        self.assertEqual(build.buildstate, BuildStatus.BUILDING)

    @defer.inlineCallbacks
    def test_failureBeforeBuildLeavesTheJob(self):
        builder = yield self.handle("b1", RefusingFileSlave(name="b1"))
        before = yield self.store.queue.get(2)
        yield self.assertFailure(self.dispatcher.builderIdle(builder),
                                 DispatchError)
        self.assertNotIn("build", [c[0] for c in builder.slave.calls])
        self.assertEqual((yield self.store.queue.get(2)), before)
        build = yield self.store.builds.get(10)
        self.assertEqual(build.buildstate, BuildStatus.NEEDSBUILD)

    @defer.inlineCallbacks
    def test_requestWithoutDscRefused(self):
        """A request the daemon would wedge on is never sent."""
        build = yield self.store.builds.get(10)
        yield dropSourceFiles(self.store, build.sourcepackagerelease, "dsc")
        builder = yield self.handle("b1")
        self.assertIsNone((yield self.dispatcher.builderIdle(builder)))
        self.assertNotIn("build", [c[0] for c in builder.slave.calls])
        build = yield self.store.builds.get(10)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOBUILD)
        self.assertIn("has no .dsc", build.failnotes)
        self.assertIsNone((yield self.store.queue.get(2)))

    @defer.inlineCallbacks
    def virtualBuilder(self, command, timeout=300.0):
        ppa = yield self.store.distro.getArchive("ubuntu", "ppa")
        build7 = yield self.store.builds.get(7)
        build_id = yield self.store.builds.create(
            self.hoary.id, build7.sourcepackagerelease, ppa.id, RELEASE)
        yield self.store.queue.enqueueBuild(build_id)
        yield publishSource(self.store, build7.sourcepackagerelease,
                            self.hoary.distrorelease, ppa.id)
        builder = yield self.handle("vm", virtualized=True, vm_host="vmhost")
        yield self.store.builders.update(builder.id, clean=False)
        builder.record = yield self.store.builders.get(builder.id)
        self.dispatcher.reset_command = command
        self.dispatcher.reset_timeout = timeout
        return builder

    @defer.inlineCallbacks
    def test_virtualBuilderReset(self):
        builder = yield self.virtualBuilder(
            "%s -c 'import sys; sys.exit(sys.argv[1] != \"vmhost\")'"
            " {vm_host}" % sys.executable)
        job = yield self.dispatcher.builderIdle(builder)
        self.assertIsNotNone(job)
        self.assertEqual([c[0] for c in builder.slave.calls][0], "echo")
        record = yield self.store.builders.get(builder.id)
        self.assertTrue(record.clean)

    @defer.inlineCallbacks
    def test_virtualBuilderResetFails(self):
        builder = yield self.virtualBuilder(
            "%s -c 'import sys; sys.exit(3)'" % sys.executable)
        e = yield self.assertFailure(self.dispatcher.builderIdle(builder),
                                     ResetFailed)
        self.assertIn("exit 3", str(e))
        self.assertEqual(builder.slave.calls, [])
        record = yield self.store.builders.get(builder.id)
        self.assertFalse(record.clean)

    @defer.inlineCallbacks
    def test_virtualBuilderResetTimesOut(self):
        builder = yield self.virtualBuilder(
            "%s -c 'import sys; sys.stdin.read()'" % sys.executable,
            timeout=60)
        d = self.dispatcher.builderIdle(builder)
        self.clock.advance(61)
        e = yield self.assertFailure(d, ResetFailed)
        self.assertIn("timed out after 60 s", str(e))


class DispatchTestCase(DispatcherTests, LibrarianFixture,
                       FakeStoreTestCase):
    """Dispatch on the fake store."""


class CandidateSQLTestCase(CandidateTests, LibrarianFixture,
                           DatabaseTestCase):
    """Candidate selection in SQL, and what only PostgreSQL can show: two
    masters' connections claiming at once."""

    @defer.inlineCallbacks
    def test_concurrentClaimsNeverShareAJob(self):
        """Builders of two masters claim at once: every job once."""
        other = yield Store.connect(self.dsn, size=4)
        self.addCleanup(other.close)
        jobs = {2}
        for score in range(7):
            _, queue_id = yield addBuild(self.store, score=score)
            jobs.add(queue_id)
        builders = []
        for i in range(12):
            builders.append((yield self.handle("c%d" % i)))
        results = yield defer.gatherResults([
            (self.store if i % 2 else other).dispatch.reserve(
                b.id, b.record.processor, False)
            for i, b in enumerate(builders)])
        claimed = [r.queue_id for r in results if r is not None]
        self.assertEqual(sorted(claimed), sorted(jobs))
        rows = yield self.store.runQuery(
            "SELECT count(DISTINCT builder) AS n FROM buildqueue"
            " WHERE builder = ANY(%s)", ([b.id for b in builders],))
        self.assertEqual(rows[0]["n"], len(jobs))


class InstantMasterFixture(LibrarianFixture, DatabaseTestCase):
    """Scanners and instant dispatch wired as the master wires them."""

    @defer.inlineCallbacks
    def startInstantMaster(self, slaves):
        """Scanners an hour apart and instant dispatch, running on the
        real reactor; fires with C{(manager, instant)} once settled."""
        group = makeGroup(self.store, clock=reactor)
        dispatcher = Dispatcher(self.store, self.librarian, clock=reactor)
        manager = ScannerManager(self.store, group,
                                 lambda b: slaves[b.name], clock=reactor,
                                 interval=3600, dispatcher=dispatcher)
        instant = InstantDispatch(self.dsn, manager)
        manager.startService()
        yield instant.startService()
        self.addCleanup(manager.stopService)
        self.addCleanup(instant.stopService)
        yield manager.settle()
        return manager, instant


class InstantDispatchTestCase(InstantMasterFixture):
    """A queued job reaches an idle builder without waiting for a scan."""

    @defer.inlineCallbacks
    def test_enqueueWakesIdleBuilder(self):
        self.startLibrarian()
        hoary = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        # No chroot yet: BuildQueue 2 cannot run.
        builder_id = yield addBuilder(self.store, "quick")
        slave = SignallingSlave(name="quick")
        slaves = {"quick": slave, "bob": mockslaves.SaneBuildingSlave(),
                  "frog": mockslaves.OkSlave(name="frog")}
        # Scans an hour apart: only the notification can be in time.
        manager, _ = yield self.startInstantMaster(slaves)
        self.assertEqual(slave.calls, [])
        yield self.store.distro.setChroot(hoary.id, RELEASE, 1)
        build7 = yield self.store.builds.get(7)
        build_id = yield self.store.builds.create(
            hoary.id, build7.sourcepackagerelease, build7.archive, RELEASE)
        queue_id = yield self.store.queue.enqueueBuild(build_id)
        cookie = yield slave.built.addTimeout(30, reactor)
        self.assertEqual(cookie, "%d-%d" % (build_id, queue_id))
        yield manager.settle()
        queue = yield self.store.queue.get(queue_id)
        self.assertEqual(queue.builder, builder_id)
        self.assertIsNotNone(queue.buildstart)


class SignallingSlave(mockslaves.OkSlave):
    """An OkSlave whose C{built} fires with the first build's cookie."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built = defer.Deferred()

    def build(self, cookie, build_type, chroot_sha1, filemap, args):
        d = super().build(cookie, build_type, chroot_sha1, filemap, args)
        if not self.built.called:
            self.built.callback(cookie)
        return d


class BlockedFlagTestCase(DatabaseTestCase):
    """Queue entries that cannot run are flagged blocked (migration 0005)
    and kept so as chroots, archives, series and builds change."""

    @defer.inlineCallbacks
    def blocked(self, queue_id):
        rows = yield self.store.runQuery(
            "SELECT blocked FROM buildqueue WHERE id = %s", (queue_id,))
        return rows[0]["blocked"]

    @defer.inlineCallbacks
    def test_followsWhatBlocks(self):
        hoary = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        build_id, queue_id = yield addBuild(self.store)
        # No chroot yet.
        self.assertTrue((yield self.blocked(queue_id)))
        yield self.store.distro.setChroot(hoary.id, RELEASE, 1)
        self.assertFalse((yield self.blocked(queue_id)))
        yield self.store.runOperation(
            "UPDATE archive SET enabled = false WHERE name = 'primary'")
        self.assertTrue((yield self.blocked(queue_id)))
        yield self.store.runOperation(
            "UPDATE archive SET enabled = true WHERE name = 'primary'")
        self.assertFalse((yield self.blocked(queue_id)))
        # hoary released: its RELEASE pocket is closed.
        yield self.store.runOperation(
            "UPDATE distrorelease SET releasestatus = 4 WHERE name = 'hoary'")
        self.assertTrue((yield self.blocked(queue_id)))
        yield self.store.runOperation(
            "UPDATE distrorelease SET releasestatus = 2 WHERE name = 'hoary'")
        self.assertFalse((yield self.blocked(queue_id)))
        # Moved to a pocket without a chroot, and back.
        yield self.store.builds.update(
            build_id, pocket=PackagePublishingPocket.PROPOSED)
        self.assertTrue((yield self.blocked(queue_id)))
        yield self.store.builds.update(build_id, pocket=RELEASE)
        self.assertFalse((yield self.blocked(queue_id)))
        yield self.store.runOperation(
            "UPDATE pocketchroot SET chroot = NULL")
        self.assertTrue((yield self.blocked(queue_id)))
        yield self.store.runOperation("DELETE FROM pocketchroot")
        self.assertTrue((yield self.blocked(queue_id)))
        yield self.store.distro.setChroot(hoary.id, RELEASE, 1)
        self.assertFalse((yield self.blocked(queue_id)))

    @defer.inlineCallbacks
    def test_blockedIsNoCandidate(self):
        """A flagged entry is skipped even were the flag wrong the other
        way round; an unflagged blocked one is still refused by the
        query's own checks."""
        hoary = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        yield self.store.distro.setChroot(hoary.id, RELEASE, 1)
        builder_id = yield addBuilder(self.store, "b1")
        x86 = yield self.store.distro.getProcessor("x86")
        yield self.store.runOperation(
            "UPDATE buildqueue SET blocked = true WHERE id = 2")
        reservation = yield self.store.dispatch.reserve(
            builder_id, x86.id, False)
        self.assertIsNone(reservation)
        yield self.store.runOperation(
            "UPDATE buildqueue SET blocked = false WHERE id = 2")
        yield self.store.runOperation("UPDATE archive SET enabled = false")
        yield self.store.runOperation(
            "UPDATE buildqueue SET blocked = false WHERE id = 2")
        reservation = yield self.store.dispatch.reserve(
            builder_id, x86.id, False)
        self.assertIsNone(reservation)

    @defer.inlineCallbacks
    def test_preparedOncePerConnection(self):
        """The candidate query is prepared once per connection and
        reused, for the best entry and for a given one."""
        hoary = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        yield self.store.distro.setChroot(hoary.id, RELEASE, 1)
        builder_id = yield addBuilder(self.store, "b1")
        x86 = yield self.store.distro.getProcessor("x86")
        for _ in range(3):
            reservation = yield self.store.dispatch.reserve(
                builder_id, x86.id, False)
            self.assertEqual(reservation.queue_id, 2)
            yield self.store.dispatch.release(2, builder_id)
            reservation = yield self.store.dispatch.reserve(
                builder_id, x86.id, False, queue_id=2)
            self.assertEqual(reservation.queue_id, 2)
            yield self.store.dispatch.release(2, builder_id)
        rows = yield self.store.runQuery(
            "SELECT name FROM pg_prepared_statements ORDER BY name")
        self.assertTrue(set(r["name"] for r in rows) <= {
            "lpbm_candidate", "lpbm_candidate_one"})


class InstantDispatchWakesOneTestCase(InstantMasterFixture):
    """A queued job wakes one idle builder of its processor and
    virtualization, not all of them."""

    @defer.inlineCallbacks
    def test_oneBuilderPerJob(self):
        self.startLibrarian()
        hoary = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        yield self.store.runOperation("DELETE FROM buildqueue WHERE id = 2")
        slaves = {"bob": mockslaves.SaneBuildingSlave(),
                  "frog": mockslaves.OkSlave(name="frog")}
        for i in range(6):
            name = "idle%d" % i
            yield addBuilder(self.store, name, virtualized=(i >= 4))
            slaves[name] = SignallingSlave(name=name)
        manager, instant = yield self.startInstantMaster(slaves)
        # Stop the regular scans: only instant dispatch may scan now.
        for scanner in manager.scanners.values():
            scanner.stop()
        for slave in slaves.values():
            del slave.calls[:]
        yield self.store.distro.setChroot(hoary.id, RELEASE, 1)
        build7 = yield self.store.builds.get(7)
        build_id = yield self.store.builds.create(
            hoary.id, build7.sourcepackagerelease, build7.archive, RELEASE)
        queue_id = yield self.store.queue.enqueueBuild(build_id)
        builds = [slaves["idle%d" % i].built for i in range(4)]
        yield defer.DeferredList(builds, fireOnOneCallback=True).addTimeout(
            30, reactor)
        yield manager.settle()
        scanned = sorted(name for name, slave in slaves.items()
                         if any(c[0] == "status" for c in slave.calls))
        self.assertEqual(len(scanned), 1, scanned)
        self.assertNotIn(scanned[0], ("idle4", "idle5"))
        queue = yield self.store.queue.get(queue_id)
        self.assertIsNotNone(queue.buildstart)
        self.assertEqual(instant.counts["queued"], 1)


class KnownEmptyQueueTestCase(FakeStoreTestCase):
    """With C{empty_for}, idle builders stop asking the database for a job
    of a kind it just had none of, until a job of that kind is queued or
    the time is up."""

    @defer.inlineCallbacks
    def test_idleBuildersSkipAKnownEmptyQueue(self):
        from lp_buildmaster.master import Dispatcher
        clock = task.Clock()
        dispatcher = Dispatcher(self.store, None, clock=clock,
                                empty_for=15.0)
        reserves = []
        reserve = self.store.dispatch.reserve

        def counted(*args, **kwargs):
            reserves.append(args)
            return reserve(*args, **kwargs)
        self.patch(self.store.dispatch, "reserve", counted)
        yield emptyQueue(self.store)
        yield addBuilder(self.store, "idle1")
        frog = yield self.store.builders.getByName("idle1")
        builder = BuilderHandle(frog, mockslaves.OkSlave(name="idle1"))
        self.assertIsNone((yield dispatcher.builderIdle(builder)))
        self.assertIsNone((yield dispatcher.builderIdle(builder)))
        self.assertEqual(len(reserves), 1)
        # A job queued for that kind: asked again at once.
        dispatcher.jobQueued(frog.processor, frog.virtualized)
        self.assertIsNone((yield dispatcher.builderIdle(builder)))
        self.assertEqual(len(reserves), 2)
        # Nothing said, but the time is up: asked again.
        clock.advance(15.0)
        self.assertIsNone((yield dispatcher.builderIdle(builder)))
        self.assertEqual(len(reserves), 3)

    @defer.inlineCallbacks
    def test_oneReservationInFlightPerKind(self):
        """Idle builders of one kind scanned while a reservation for that
        kind is in flight wait for its answer instead of asking too; when
        it found a job, they ask for themselves."""
        from lp_buildmaster.master import Dispatcher
        clock = task.Clock()
        dispatcher = Dispatcher(self.store, None, clock=clock,
                                empty_for=15.0)
        held = []
        reserve = self.store.dispatch.reserve

        def heldBack(*args):
            d = defer.Deferred()
            held.append((d, args))
            return d
        self.patch(self.store.dispatch, "reserve", heldBack)
        yield emptyQueue(self.store)
        builders = []
        for name in ("idle1", "idle2", "idle3"):
            yield addBuilder(self.store, name)
            record = yield self.store.builders.getByName(name)
            builders.append(BuilderHandle(
                record, mockslaves.OkSlave(name=name)))
        asked = [dispatcher.builderIdle(b) for b in builders]
        self.assertEqual(len(held), 1)
        d, args = held.pop()
        d.callback((yield reserve(*args)))
        results = yield defer.gatherResults(asked)
        self.assertEqual(results, [None, None, None])
        self.assertEqual(held, [])
        # A job queued while the reservation is in flight: its answer is
        # too old, and the waiting builders ask again, one at a time.
        clock.advance(1)
        record = builders[0].record
        dispatcher.jobQueued(record.processor, record.virtualized)
        asked = [dispatcher.builderIdle(b) for b in builders]
        self.assertEqual(len(held), 1)
        d, args = held.pop()
        clock.advance(1)
        dispatcher.jobQueued(record.processor, record.virtualized)
        clock.advance(1)
        d.callback((yield reserve(*args)))
        self.assertEqual(len(held), 1)
        d, args = held.pop()
        d.callback((yield reserve(*args)))
        results = yield defer.gatherResults(asked)
        self.assertEqual(results, [None, None, None])
        self.assertEqual(held, [])
