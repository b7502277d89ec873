"""EmptyKinds: an empty answer for a kind of builder holds for a while,
a queued job ends it, and builders of a kind asking at once share one
reservation. No database: the reservations are Deferreds of our own."""

from twisted.internet import defer, task
from twisted.trial import unittest

from lp_buildmaster.emptykinds import EmptyKinds
from lp_buildmaster.store.dispatch import Reservation

KIND = (1, False)


class EmptyKindsTestCase(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        self.empty = EmptyKinds(self.clock, empty_for=15.0)
        self.asked = []

    def reserve(self, answer=None):
        def reserve():
            self.asked.append(answer)
            return defer.succeed(answer)
        return reserve

    def test_emptyAnswerHoldsForEmptyFor(self):
        self.assertIsNone(self.successResultOf(
            self.empty.reserve(KIND, self.reserve())))
        self.assertTrue(self.empty.known(KIND))
        self.assertFalse(self.empty.known((1, True)))
        self.successResultOf(self.empty.reserve(KIND, self.reserve()))
        self.assertEqual(len(self.asked), 1)
        self.clock.advance(15.0)
        self.assertFalse(self.empty.known(KIND))
        self.successResultOf(self.empty.reserve(KIND, self.reserve()))
        self.assertEqual(len(self.asked), 2)

    def test_queuedJobEndsIt(self):
        self.successResultOf(self.empty.reserve(KIND, self.reserve()))
        self.clock.advance(1.0)
        self.empty.queued(1)
        self.assertFalse(self.empty.known(KIND))
        found = Reservation(7, 8)
        self.assertEqual(self.successResultOf(
            self.empty.reserve(KIND, self.reserve(found))), found)
        self.assertFalse(self.empty.known(KIND))

    def test_supersededOnlyIsNotEmpty(self):
        """A reservation that only removed superseded builds may have
        left others: the kind is asked again."""
        self.successResultOf(self.empty.reserve(
            KIND, self.reserve(Reservation(None, None, (5,)))))
        self.assertFalse(self.empty.known(KIND))

    def test_askersOfAKindShareOneReservation(self):
        pending = defer.Deferred()
        calls = []

        def reserve():
            calls.append(1)
            return pending
        first = self.empty.reserve(KIND, reserve)
        second = self.empty.reserve(KIND, reserve)
        self.assertEqual(len(calls), 1)
        pending.callback(None)
        self.assertIsNone(self.successResultOf(first))
        self.assertIsNone(self.successResultOf(second))
        self.assertEqual(len(calls), 1)

    def test_zeroRemembersNothing(self):
        empty = EmptyKinds(self.clock, empty_for=0.0)
        self.successResultOf(empty.reserve(KIND, self.reserve()))
        self.successResultOf(empty.reserve(KIND, self.reserve()))
        self.assertEqual(len(self.asked), 2)
        self.assertFalse(empty.known(KIND))
