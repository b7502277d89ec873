"""Build scores: the pure rule, and the queue's automatic and manual
rescoring on the sample data."""

from twisted.internet import defer
from twisted.trial import unittest

from lp_buildmaster import scoring
from lp_buildmaster.enums import (
    ArchivePurpose, PackagePublishingPocket as Pocket,
    SourcePackageUrgency as Urgency)
from tests.database import DatabaseTestCase
from tests.farm import FakeStoreTestCase

PRIMARY = ArchivePurpose.PRIMARY


class ScoreBuildTests(unittest.TestCase):

    def test_examples(self):
        # (pocket, component, urgency, purpose, private, relative, score)
        table = [
            (Pocket.RELEASE, "main", Urgency.LOW, PRIMARY, False, 0, 2625),
            (Pocket.SECURITY, "main", Urgency.LOW, PRIMARY, False, 0, 4625),
            (Pocket.UPDATES, "main", Urgency.LOW, PRIMARY, False, 0, 3625),
            (Pocket.PROPOSED, "main", Urgency.LOW, PRIMARY, False, 0, 1625),
            (Pocket.BACKPORTS, "main", Urgency.LOW, PRIMARY, False, 0, 625),
            (Pocket.RELEASE, "restricted", Urgency.LOW, PRIMARY, False, 0,
             2425),
            (Pocket.RELEASE, "universe", Urgency.LOW, PRIMARY, False, 0,
             2225),
            (Pocket.RELEASE, "multiverse", Urgency.LOW, PRIMARY, False, 0,
             2025),
            (Pocket.RELEASE, "partner", Urgency.LOW, PRIMARY, False, 0,
             2025),
            (Pocket.RELEASE, "main", Urgency.MEDIUM, PRIMARY, False, 0,
             2650),
            (Pocket.RELEASE, "main", Urgency.HIGH, PRIMARY, False, 0, 2675),
            (Pocket.RELEASE, "main", Urgency.EMERGENCY, PRIMARY, False, 0,
             2700),
            (Pocket.RELEASE, "main", None, PRIMARY, False, 0, 2625),
            (Pocket.RELEASE, "main", Urgency.LOW, ArchivePurpose.PPA, True,
             0, 3625),
            (Pocket.RELEASE, "main", Urgency.LOW, ArchivePurpose.PPA, False,
             -10, 2615),
            (Pocket.RELEASE, "main", Urgency.LOW, ArchivePurpose.COPY,
             False, 0, -375),
            (Pocket.RELEASE, "main", Urgency.LOW, PRIMARY, False, 250, 2875),
        ]
        for (pocket, component, urgency, purpose, private, relative,
             expected) in table:
            self.assertEqual(
                scoring.scoreBuild(pocket, component, urgency, purpose,
                                   private, relative), expected,
                (pocket, component, urgency, purpose, private, relative))

    def test_orderOfFactors(self):
        """A larger factor is never overturned by all smaller ones."""
        def score(pocket, component="multiverse", urgency=Urgency.LOW):
            return scoring.scoreBuild(pocket, component, urgency, PRIMARY)
        pockets = [Pocket.SECURITY, Pocket.UPDATES, Pocket.RELEASE,
                   Pocket.PROPOSED, Pocket.BACKPORTS]
        for higher, lower in zip(pockets, pockets[1:]):
            self.assertGreater(
                score(higher),
                score(lower, "main", Urgency.EMERGENCY))
        components = ["main", "restricted", "universe", "multiverse"]
        for higher, lower in zip(components, components[1:]):
            self.assertGreater(
                score(Pocket.RELEASE, higher),
                score(Pocket.RELEASE, lower, Urgency.EMERGENCY))

    def test_privateArchiveDoesNotOvertakeSecurity(self):
        private_release = scoring.scoreBuild(
            Pocket.RELEASE, "main", Urgency.EMERGENCY, ArchivePurpose.PPA,
            True)
        security = scoring.scoreBuild(
            Pocket.SECURITY, "multiverse", Urgency.LOW, PRIMARY)
        self.assertLess(private_release, security)

    def test_rescoredKeepsManualScores(self):
        for current, manual, automatic, expected in [
                (10, False, 2625, 2625),
                (5000, True, 2625, 5000),
                (2625, False, 2625, 2625)]:
            self.assertEqual(scoring.rescored(current, manual, automatic),
                             expected)


class QueueScoring:
    """Sample data: build 10 is cnews (universe, low) in hoary RELEASE of
    the primary archive, queued with the hand-made score 10. Mixed into a
    test case on PostgreSQL and one on the fake store, which computes the
    same scores."""

    @defer.inlineCallbacks
    def test_enqueueBuildScores(self):
        build_id = yield self.store.builds.create(
            (yield self.store.builds.get(10)).distroarchrelease,
            (yield self.store.builds.get(2)).sourcepackagerelease, 1,
            Pocket.RELEASE)
        queue_id = yield self.store.queue.enqueueBuild(build_id)
        entry = yield self.store.queue.get(queue_id)
        # alsa-utils: main, medium urgency.
        self.assertEqual((entry.build, entry.lastscore, entry.manual),
                         (build_id, 2000 + 600 + 50, False))

    @defer.inlineCallbacks
    def test_rescoreAllRecomputesAutomaticScores(self):
        changed = yield self.store.queue.rescoreAll()
        self.assertEqual(changed, {10: 2000 + 200 + 25})
        entry = yield self.store.queue.getByBuild(10)
        self.assertEqual((entry.lastscore, entry.manual), (2225, False))
        # Running jobs are left alone.
        running = yield self.store.queue.getByBuild(8)
        self.assertEqual(running.lastscore, 1000)
        self.assertEqual((yield self.store.queue.rescoreAll()), {})

    @defer.inlineCallbacks
    def test_manualScoreSurvivesRescoring(self):
        entry = yield self.store.queue.getByBuild(10)
        self.assertTrue((yield self.store.queue.rescore(entry.id, 7)))
        self.assertEqual((yield self.store.queue.rescoreAll()), {})
        self.assertEqual((yield self.store.queue.rescoreBuild(10)), {})
        entry = yield self.store.queue.get(entry.id)
        self.assertEqual((entry.lastscore, entry.manual), (7, True))

    @defer.inlineCallbacks
    def test_rescoreBuildOnlyTouchesThatBuild(self):
        yield self.store.builds.update(3, buildstate=0)
        other = yield self.store.queue.enqueue(3, score=1)
        self.assertEqual((yield self.store.queue.rescoreBuild(10)),
                         {10: 2225})
        self.assertEqual((yield self.store.queue.get(other)).lastscore, 1)

    @defer.inlineCallbacks
    def test_rescoreUnknownEntry(self):
        self.assertFalse((yield self.store.queue.rescore(999, 5)))


class QueueScoringTests(QueueScoring, DatabaseTestCase):
    """The queue's scores in PostgreSQL."""


class FakeQueueScoringTests(QueueScoring, FakeStoreTestCase):
    """The same on the fake store."""
