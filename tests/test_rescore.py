"""A given-back job: score 0 (the seed's step), no old builder or start
time, and its computed score back at the next pass of automatic
rescoring; a score set by hand is kept."""

from twisted.internet import defer, task

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.rescore import Rescorer
from tests.farm import FakeStoreTestCase


class GivenBackTests(FakeStoreTestCase):

    @defer.inlineCallbacks
    def test_givenBackRegainsItsScoreAtTheNextPass(self):
        # Sample data: bob builds build 8 (queue entry 1, score 1000).
        bob = yield self.store.builders.getByName("bob")
        yield self.store.builds.update(
            8, date_started=(yield self.store.builds.get(1)).datecreated)
        yield self.store.queue.rescore(2, 77)  # build 10, by hand
        released = yield self.store.jobs.releaseJob(
            1, bob.id, BuildStatus.NEEDSBUILD, givenback=True)
        self.assertTrue(released)
        build = yield self.store.builds.get(8)
        entry = yield self.store.queue.getByBuild(8)
        self.assertEqual(
            (build.buildstate, build.builder, build.date_started,
             entry.lastscore),
            (BuildStatus.NEEDSBUILD, None, None, 0))

        rescorer = Rescorer(self.store, task.Clock(), interval=300)
        changed = yield rescorer.run()
        self.assertEqual(changed, {8: 2675})  # main, high urgency, RELEASE
        entry = yield self.store.queue.getByBuild(8)
        self.assertEqual((entry.lastscore, entry.manual), (2675, False))
        manual = yield self.store.queue.getByBuild(10)
        self.assertEqual((manual.lastscore, manual.manual), (77, True))
        self.assertEqual((yield rescorer.run()), {})

    def test_passesEveryInterval(self):
        calls = []

        class Queue:
            def rescoreAll(self):
                calls.append(True)
                return defer.succeed({})

        class Store:
            queue = Queue()
        clock = task.Clock()
        rescorer = Rescorer(Store(), clock, interval=300)
        rescorer.startService()
        clock.advance(299)
        self.assertEqual(len(calls), 1)
        clock.advance(1)
        self.assertEqual(len(calls), 2)
        self.successResultOf(rescorer.stopService())
