"""One contract, two stores: the core operations the logic relies on,
checked against the real store (PostgreSQL) and the in-memory fake
(lp_buildmaster.testing.fakestore), so that the fake cannot drift."""

import datetime

import psycopg2
from twisted.internet import defer
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from lp_buildmaster import why
from lp_buildmaster.enums import (
    BuildStatus, PackagePublishingPocket, SourcePackageUrgency)
from lp_buildmaster.interfaces import STORE_COMPONENTS, IStore
from lp_buildmaster.model.packages import BinaryPackage
from lp_buildmaster.store.builders import DuplicateName
from lp_buildmaster.store.builds import DuplicateBuild
from lp_buildmaster.store.sources import DuplicateSource
from lp_buildmaster.testing.fakestore import FakeStore
from lp_buildmaster.testing.faketables import KEYED_OTHERWISE
from tests.database import DatabaseTestCase

RELEASE = PackagePublishingPocket.RELEASE
WHEN = datetime.datetime(2006, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
#: A heartbeat's time, in seconds since the epoch.
T0 = 1_800_000_000.0


class StoreContract:
    """Mixed into a TestCase whose C{self.store} is a store holding the
    sample data."""

    def test_provides(self):
        self.assertTrue(verifyObject(IStore, self.store))
        for name, interface in STORE_COMPONENTS.items():
            self.assertTrue(
                verifyObject(interface, getattr(self.store, name)), name)

    @defer.inlineCallbacks
    def test_sampleData(self):
        bob = yield self.store.builders.getByName("bob")
        self.assertEqual((bob.id, bob.processor, bob.builderok), (1, 1, True))
        build = yield self.store.builds.get(8)
        self.assertEqual((build.buildstate, build.builder, build.source_name,
                          build.distrorelease_name, build.processor_name),
                         (BuildStatus.BUILDING, 1, "mozilla-firefox",
                          "hoary", "x86"))
        queue = yield self.store.queue.getByBuilder(1)
        self.assertEqual((queue.id, queue.build, queue.lastscore),
                         (1, 8, 1000))
        files = yield self.store.sources.files(build.sourcepackagerelease)
        self.assertEqual([t for _, t in files], ["dsc", "tarball"])
        self.assertTrue((yield self.store.sources.isPublished(
            build.sourcepackagerelease, build.distrorelease,
            build.archive)))
        dar = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "amd64")
        self.assertEqual(dar.title,
                         "The Hoary Hedgehog Release for amd64 (amd64)")

    @defer.inlineCallbacks
    def test_builders(self):
        x86 = yield self.store.distro.getProcessor("x86")
        new = yield self.store.builders.add("zed", "http://z/", x86.id)
        yield self.assertFailure(
            self.store.builders.add("zed", "http://y/", x86.id),
            DuplicateName)
        self.assertRaises(ValueError, self.store.builders.update, new,
                          owner="me")
        yield self.store.builders.failBuilder(new, "broken badly")
        zed = yield self.store.builders.get(new)
        self.assertEqual((zed.title, zed.builderok, zed.failnotes),
                         ("zed", False, "broken badly"))
        names = [b.name for b in (yield self.store.builders.all(x86.id))]
        self.assertEqual(names, ["bob", "frog", "zed"])

    @defer.inlineCallbacks
    def test_libraryAndSources(self):
        """Content once per sha1, a new alias each time; a new source
        with its files, published in one pocket, once per version."""
        sha1, sha256 = "a" * 40, "b" * 64
        first = yield self.store.library.addAlias(
            sha1, sha256, 3, "x_1.dsc", "text/plain")
        second = yield self.store.library.addAlias(
            sha1, sha256, 3, "y_1.dsc", "text/plain", restricted=True)
        aliases = yield self.store.library.getAliases([first, second, 999])
        self.assertEqual(sorted(aliases), sorted([first, second]))
        self.assertEqual(aliases[first].content, aliases[second].content)
        self.assertEqual((aliases[second].filename, aliases[second].restricted,
                          aliases[second].filesize), ("y_1.dsc", True, 3))
        hoary = yield self.store.distro.getDistroRelease("ubuntu", "hoary")
        spr = yield self.store.sources.add(
            "x", "1", [(second, "tarball"), (first, "dsc")], hoary.id, 1,
            PackagePublishingPocket.PROPOSED, component="universe")
        yield self.assertFailure(self.store.sources.add(
            "x", "1", [], hoary.id, 1, RELEASE), DuplicateSource)
        source = yield self.store.sources.getByNameVersion("x", "1")
        self.assertEqual((source.id, source.component, source.urgency),
                         (spr, "universe", SourcePackageUrgency.LOW))
        self.assertEqual((yield self.store.sources.files(spr)),
                         [(first, "dsc"), (second, "tarball")])
        self.assertTrue((yield self.store.sources.isPublished(
            spr, hoary.id, 1)))
        self.assertTrue((yield self.store.sources.isPublishedInPocket(
            spr, hoary.id, 1, PackagePublishingPocket.PROPOSED)))
        self.assertFalse((yield self.store.sources.isPublishedInPocket(
            spr, hoary.id, 1, RELEASE)))
        self.assertFalse((yield self.store.sources.isPublished(
            spr, hoary.id, 2)))

    @defer.inlineCallbacks
    def test_listsNewestFirst(self):
        builds = yield self.store.builds.list(limit=3)
        self.assertEqual([b.id for b in builds], [10, 9, 8])
        builds = yield self.store.builds.list(
            state=BuildStatus.FULLYBUILT, limit=2)
        self.assertEqual([b.id for b in builds], [9, 7])
        entries = yield self.store.queue.all()
        self.assertEqual([(q.id, q.builder) for q in entries],
                         [(1, 1), (2, None)])

    @defer.inlineCallbacks
    def queueTwo(self, scores=(5, 50)):
        """Two more queued builds of build 10's source on hoary i386."""
        template = yield self.store.builds.get(10)
        ids = []
        for score in scores:
            build_id = yield self.store.builds.create(
                template.distroarchrelease, template.sourcepackagerelease,
                template.archive, RELEASE)
            queue_id = yield self.store.queue.enqueue(build_id, score)
            ids.append((build_id, queue_id))
        return template, ids

    @defer.inlineCallbacks
    def test_pendingOrder(self):
        _, [(_, low), (_, high)] = yield self.queueTwo((5, 50))
        pending = yield self.store.queue.pending()
        self.assertEqual([q.id for q in pending], [high, 2, low])
        yield self.store.queue.rescore(low, 50)
        pending = yield self.store.queue.pending(processor=1)
        # Equal scores: the older entry first.
        self.assertEqual([q.id for q in pending], [low, high, 2])

    @defer.inlineCallbacks
    def test_reserveNeedsAChroot(self):
        yield self.queueTwo()
        reservation = yield self.store.dispatch.reserve(2, 1, False)
        self.assertIsNone(reservation)

    @defer.inlineCallbacks
    def test_reserveStartRelease(self):
        template, [_, (build_id, queue_id)] = yield self.queueTwo((5, 50))
        yield self.store.distro.setChroot(template.distroarchrelease,
                                          RELEASE, 1)
        reservation = yield self.store.dispatch.reserve(2, 1, False)
        self.assertEqual((reservation.queue_id, reservation.build_id),
                         (queue_id, build_id))
        # Nothing else for another builder of a virtualized kind.
        self.assertIsNone((yield self.store.dispatch.reserve(2, 1, True)))
        yield self.store.dispatch.release(queue_id, 2)
        entry = yield self.store.queue.get(queue_id)
        self.assertIsNone(entry.builder)
        reservation = yield self.store.dispatch.reserve(2, 1, False)
        self.assertEqual(reservation.queue_id, queue_id)
        self.assertTrue((yield self.store.dispatch.start(queue_id, 2, WHEN)))
        self.assertFalse((yield self.store.dispatch.start(queue_id, 2, WHEN)))
        build = yield self.store.builds.get(build_id)
        self.assertEqual((build.buildstate, build.builder, build.date_started),
                         (BuildStatus.BUILDING, 2, WHEN))
        vitals = yield self.store.jobs.vitals("frog")
        self.assertEqual((vitals.queue_id, vitals.build_id,
                          vitals.build_state, vitals.buildstart),
                         (queue_id, build_id, BuildStatus.BUILDING, WHEN))

    @defer.inlineCallbacks
    def test_uniqueIndexes(self):
        """One queue entry per build, one job per builder."""
        yield self.assertFailure(self.store.queue.enqueue(10, 5),
                                 psycopg2.IntegrityError)
        build = yield self.store.builds.get(10)
        yield self.store.distro.setChroot(build.distroarchrelease, RELEASE,
                                          1)
        # bob (1) runs queue entry 1 already.
        yield self.assertFailure(self.store.dispatch.reserve(1, 1, False),
                                 psycopg2.IntegrityError)
        entry = yield self.store.queue.get(2)
        self.assertIsNone(entry.builder)

    @defer.inlineCallbacks
    def test_reserveSupersedesUnpublished(self):
        yield self.store.distro.setChroot(1, PackagePublishingPocket.UPDATES,
                                          1)
        build_id = yield self.store.builds.create(
            1, 1, 1, PackagePublishingPocket.UPDATES)
        queue_id = yield self.store.queue.enqueue(build_id, 9999)
        # pmount is published in warty UPDATES: reserved.
        reservation = yield self.store.dispatch.reserve(2, 1, False)
        self.assertEqual(reservation.queue_id, queue_id)
        yield self.store.dispatch.refuse(queue_id, 2, "bad request")
        build = yield self.store.builds.get(build_id)
        self.assertEqual((build.buildstate, build.failnotes),
                         (BuildStatus.FAILEDTOBUILD, "bad request"))
        self.assertIsNone((yield self.store.queue.get(queue_id)))

    @defer.inlineCallbacks
    def test_retryAndTransition(self):
        self.assertIsNone((yield self.store.builds.retry(
            3, [BuildStatus.FULLYBUILT])))
        queue_id = yield self.store.builds.retry(
            3, [BuildStatus.FAILEDTOBUILD])
        entry = yield self.store.queue.get(queue_id)
        self.assertEqual(entry.build, 3)
        yield self.assertFailure(self.store.builds.request(
            (yield self.store.builds.get(3)).distroarchrelease,
            (yield self.store.builds.get(3)).sourcepackagerelease, 1,
            RELEASE), DuplicateBuild)
        self.assertTrue((yield self.store.builds.transition(
            3, BuildStatus.NEEDSBUILD, BuildStatus.SUPERSEDED,
            dequeue=True)))
        self.assertFalse((yield self.store.builds.transition(
            3, BuildStatus.NEEDSBUILD, BuildStatus.SUPERSEDED)))
        self.assertIsNone((yield self.store.queue.getByBuild(3)))

    @defer.inlineCallbacks
    def test_dispatchContext(self):
        context = yield self.store.builds.dispatchContext(10)
        self.assertEqual(context["pending"], [2])
        self.assertEqual(sorted(context["busy"]), [1])
        self.assertEqual([b.name for b in context["builders"]],
                         ["bob", "frog"])
        self.assertEqual((context["published"], context["chroot"]),
                         (True, None))
        self.assertIsNone((yield self.store.builds.dispatchContext(999)))

    @defer.inlineCallbacks
    def test_why(self):
        """C{buildmaster-admin why} explains the same on either store:
        build 10 waits for a chroot, and once it has one, for bob (busy)
        as frog is manual."""
        explanation = why.explain(
            **(yield self.store.builds.dispatchContext(10)))
        self.assertEqual([r.code for r in explanation.reasons],
                         ["no-chroot", "busy"])
        build = yield self.store.builds.get(10)
        yield self.store.distro.setChroot(build.distroarchrelease, RELEASE,
                                          1)
        explanation = why.explain(
            **(yield self.store.builds.dispatchContext(10)))
        self.assertEqual(explanation.position, 1)
        self.assertEqual([r.code for r in explanation.reasons],
                         ["busy"])


    @defer.inlineCallbacks
    def test_translationTemplates(self):
        """A second job type's build: its own duplicate check, its branch,
        its queue entry."""
        build = yield self.store.builds.get(10)
        args = (build.distroarchrelease, build.sourcepackagerelease,
                build.archive, RELEASE)
        build_id = yield self.store.jobtypes.requestTranslationTemplates(
            *args, "lp:~a/b/c")
        yield self.assertFailure(
            self.store.jobtypes.requestTranslationTemplates(*args, "lp:x"),
            DuplicateBuild)
        new = yield self.store.builds.get(build_id)
        self.assertEqual((new.job_type, new.buildstate),
                         ("translation-templates", BuildStatus.NEEDSBUILD))
        self.assertEqual(
            (yield self.store.jobtypes.translationTemplates(build_id)),
            "lp:~a/b/c")
        self.assertIsNone((yield self.store.jobtypes.translationTemplates(10)))
        self.assertIsNotNone((yield self.store.queue.getByBuild(build_id)))


class FakeStoreContractTests(StoreContract, unittest.TestCase):

    def setUp(self):
        self.store = FakeStore()


class RealStoreContractTests(StoreContract, DatabaseTestCase):

    @defer.inlineCallbacks
    def test_fakeRowsHaveTheSchemasColumns(self):
        """The fake's rows have exactly the columns of PostgreSQL's tables
        (once every table the fake keeps has a row): a column added by a
        migration is added to the fake."""
        fake = FakeStore()
        yield fake.masters.heartbeat("alpha", 30)
        yield fake.binaries.add(1, [BinaryPackage("libc6", "2.4-1", "i386")])
        yield fake.world.setDependency(2, 1, RELEASE, "main")
        yield fake.jobtypes.requestTranslationTemplates(
            2, 1, 1, RELEASE, "lp:x")
        yield fake.builds.update(8, buildstate=BuildStatus.UPLOADING)
        yield fake.jobs.recordUpload(8, [(1, "buildinfo")])
        yield fake.distro.setChroot(2, RELEASE, 1)
        for table, rows in sorted(fake.tables.rows.items()):
            columns = yield self.store.runQuery(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema()"
                "   AND table_name = %s", (table,))
            expected = {c["column_name"] for c in columns}
            if table in KEYED_OTHERWISE:
                expected.add("id")
            self.assertTrue(rows, table)
            for row in rows.values():
                self.assertEqual(set(row), expected, table)
