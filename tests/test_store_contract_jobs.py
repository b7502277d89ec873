"""The store's contract, second half: jobs changing state (collection,
release, failure counts), binaries, uploads, masters' heartbeats and
builder leases, against the real store (PostgreSQL) and the in-memory
fake (the first half is tests/test_store_contract.py)."""

import datetime

from twisted.internet import defer
from twisted.trial import unittest

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.model.packages import BinaryPackage
from lp_buildmaster.store.jobs import FailureAction, NotAwaitingUpload
from lp_buildmaster.testing.fakestore import FakeStore
from tests.database import DatabaseTestCase
from tests.test_store_contract import RELEASE, T0, WHEN


class JobsContract:
    """Mixed into a TestCase whose C{self.store} is a store holding the
    sample data."""

    @defer.inlineCallbacks
    def test_finishJobOnce(self):
        done = yield self.store.jobs.finishJob(
            1, 8, 1, BuildStatus.FAILEDTOBUILD, WHEN, success=False)
        self.assertTrue(done)
        again = yield self.store.jobs.finishJob(
            1, 8, 1, BuildStatus.FAILEDTOBUILD, WHEN)
        self.assertFalse(again)
        build = yield self.store.builds.get(8)
        self.assertEqual((build.buildstate, build.datebuilt,
                          build.buildduration),
                         (BuildStatus.FAILEDTOBUILD, WHEN,
                          WHEN - datetime.datetime(
                              2005, 1, 1, 8, tzinfo=datetime.timezone.utc)))
        self.assertIsNone((yield self.store.queue.getByBuilder(1)))

    @defer.inlineCallbacks
    def test_releaseJobGivenBack(self):
        self.assertFalse((yield self.store.jobs.releaseJob(1, 2)))
        self.assertTrue((yield self.store.jobs.releaseJob(
            1, 1, givenback=True, job_failed=True, builder_failed=True)))
        entry = yield self.store.queue.get(1)
        self.assertEqual((entry.builder, entry.buildstart, entry.lastscore),
                         (None, None, 0))
        build = yield self.store.builds.get(8)
        self.assertEqual((build.buildstate, build.builder,
                          build.failure_count),
                         (BuildStatus.NEEDSBUILD, None, 1))
        bob = yield self.store.builders.get(1)
        self.assertEqual((bob.failure_count, bob.builderok), (1, True))

    @defer.inlineCallbacks
    def test_countAndAct(self):
        seen = []

        def judge(builder_count, job_count):
            seen.append((builder_count, job_count))
            return FailureAction(job_state=BuildStatus.NEEDSBUILD,
                                 failnotes="it broke",
                                 reset_builder_count=True)
        result = yield self.store.jobs.countAndAct(1, judge, queue_id=1)
        self.assertEqual(result[:2], (1, 1))
        self.assertEqual(seen, [(1, 1)])
        bob = yield self.store.builders.get(1)
        self.assertEqual((bob.failure_count, bob.builderok, bob.failnotes),
                         (0, False, "it broke"))
        self.assertIsNone((yield self.store.jobs.countAndAct(
            1, judge, queue_id=1)))
        counts = yield self.store.jobs.countFailures(2, 10)
        self.assertEqual(counts, (1, 1))

    @defer.inlineCallbacks
    def test_countAndActAllOrNothing(self):
        """A judge that fails counts nothing."""
        def judge(builder_count, job_count):
            raise ZeroDivisionError()
        yield self.assertFailure(
            self.store.jobs.countAndAct(1, judge, queue_id=1),
            ZeroDivisionError)
        bob = yield self.store.builders.get(1)
        build = yield self.store.builds.get(8)
        self.assertEqual((bob.failure_count, build.failure_count), (0, 0))

    @defer.inlineCallbacks
    def test_binariesAndDepWaits(self):
        waiting = yield self.store.binaries.depWaiting()
        self.assertEqual([(w.id, w.dependencies) for w in waiting],
                         [(4, "libc6 (>= 2.3.5)")])
        yield self.store.binaries.add(1, [
            BinaryPackage("libc6", "2.4-1", "i386")])
        build = yield self.store.builds.get(1)
        found = yield self.store.binaries.available(
            [(build.distrorelease, build.archive)], ["libc6", "zlib"])
        self.assertEqual([(b.name, b.version, b.pocket) for b in found],
                         [("libc6", "2.4-1", RELEASE)])

    @defer.inlineCallbacks
    def test_upload(self):
        yield self.assertFailure(self.store.jobs.recordUpload(8, []),
                                 NotAwaitingUpload)
        self.assertFalse((yield self.store.jobs.markFailedToUpload(8)))
        yield self.store.builds.update(8, buildstate=BuildStatus.UPLOADING)
        self.assertTrue((yield self.store.jobs.markFailedToUpload(
            8, "no changes")))
        build = yield self.store.builds.get(8)
        self.assertEqual((build.buildstate, build.failnotes),
                         (BuildStatus.FAILEDTOUPLOAD, "no changes"))

    @defer.inlineCallbacks
    def test_heartbeats(self):
        """Time is the caller's (C{now}): a master is live until its
        lifetime runs out, and its first heartbeat after that starts it
        anew."""
        masters = yield self.store.masters.heartbeat("alpha", 30, now=T0)
        self.assertEqual([(m.name, m.live, m.age) for m in masters],
                         [("alpha", True, 0.0)])
        masters = yield self.store.masters.heartbeat("beta", 30, now=T0 + 10,
                                                     web_url="http://b/")
        self.assertEqual([(m.name, m.live, m.age) for m in masters],
                         [("alpha", True, 10.0), ("beta", True, 0.0)])
        masters = yield self.store.masters.heartbeat("beta", 30, now=T0 + 45)
        self.assertEqual([(m.name, m.live, m.age) for m in masters],
                         [("alpha", False, 45.0), ("beta", True, 0.0)])
        yield self.store.masters.leave("alpha")
        masters = yield self.store.masters.heartbeat("beta", 30, now=T0 + 50)
        self.assertEqual([m.name for m in masters], ["beta"])

    @defer.inlineCallbacks
    def test_leases(self):
        """A master takes the usable builders it wants that nobody holds
        or whose master is dead, and no other."""
        yield self.store.masters.heartbeat("alpha", 30, now=T0)
        yield self.store.masters.heartbeat("beta", 30, now=T0)
        leased = yield self.store.jobs.leasedVitals(
            "alpha", ["bob", "frog"], now=T0)
        self.assertEqual(sorted(leased.vitals), ["bob", "frog"])
        self.assertEqual(leased.taken, {"bob": None, "frog": None})
        self.assertEqual(leased.vitals["bob"].build_state,
                         BuildStatus.BUILDING)
        # beta wants bob: alpha, live, holds it.
        leased = yield self.store.jobs.leasedVitals("beta", ["bob"], now=T0)
        self.assertEqual((leased.vitals, leased.taken), ({}, {}))
        self.assertEqual(leased.owners["bob"], ("alpha", True))
        # alpha gives frog up; alpha dies; beta takes bob from it.
        yield self.store.jobs.release("alpha", ["frog"])
        yield self.store.masters.heartbeat("beta", 30, now=T0 + 40)
        leased = yield self.store.jobs.leasedVitals(
            "beta", ["bob", "frog"], now=T0 + 40)
        self.assertEqual(leased.taken, {"bob": "alpha", "frog": None})
        self.assertEqual(sorted(leased.vitals), ["bob", "frog"])
        # A failed builder is nobody's to take.
        yield self.store.builders.failBuilder(1, "broken")
        leased = yield self.store.jobs.leasedVitals(
            "beta", ["bob", "frog"], now=T0 + 41)
        self.assertEqual(sorted(leased.vitals), ["frog"])
        self.assertEqual(leased.owners["bob"], ("beta", False))


class FakeJobsContractTests(JobsContract, unittest.TestCase):

    def setUp(self):
        self.store = FakeStore()


class RealJobsContractTests(JobsContract, DatabaseTestCase):
    pass
