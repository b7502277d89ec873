"""The end of a finished build's stored (gzipped) log, read in bounded
steps of the cooperator."""

import gzip
import io
import os

from twisted.internet import defer, task
from twisted.trial import unittest

from lp_buildmaster.librarian.client import AliasNotFound
from lp_buildmaster.web.logtail import StoredLogTails, gunzipTail


class Shelf:
    """Library files by alias id, opened as the embedded librarian
    client's C{getFileByAlias} opens them; counts the openings."""

    def __init__(self, files):
        self.files = files
        self.opened = []

    def getFileByAlias(self, alias_id):
        self.opened.append(alias_id)
        if alias_id not in self.files:
            return defer.fail(AliasNotFound(alias_id))
        return defer.succeed(io.BytesIO(self.files[alias_id]))


def logText(lines):
    return b"".join(b"line %d of the build\n" % i for i in range(lines))


class ManualCooperator:
    """A cooperator whose steps run only when the test says."""

    def __init__(self):
        self.calls = []
        self.cooperator = task.Cooperator(
            scheduler=lambda f: self.calls.append(f),
            terminationPredicateFactory=lambda: lambda: True)

    def step(self):
        calls, self.calls = self.calls, []
        for call in calls:
            call()
        return bool(calls)

    def run(self, d):
        """Step until C{d} has its result."""
        while self.step():
            pass
        return d


def result(test, d, manual):
    return test.successResultOf(manual.run(d))


class GunzipTailTests(unittest.TestCase):

    def setUp(self):
        self.manual = ManualCooperator()

    def tail(self, data, limit=1000):
        return self.manual.run(gunzipTail(io.BytesIO(data), limit,
                                          self.manual.cooperator))

    def test_the_last_bytes_of_a_long_log(self):
        text = logText(200000)   # 4.6 MB, many reads
        d = self.tail(gzip.compress(text))
        self.assertEqual(self.successResultOf(d), text[-1000:])

    def test_concatenated_members_are_one_log(self):
        data = gzip.compress(b"first\n") + gzip.compress(b"second\n")
        self.assertEqual(self.successResultOf(self.tail(data)),
                         b"first\nsecond\n")

    def test_a_truncated_log_fails(self):
        data = gzip.compress(logText(1000))[:-50]
        self.failureResultOf(self.tail(data))

    def test_steps_leave_the_reactor_between_them(self):
        """A 20 MB log is many steps of the cooperator, each of bounded
        output, never one long call."""
        text = b"x" * (20 * 1024 * 1024)   # compresses 1000:1
        manual = ManualCooperator()
        d = gunzipTail(io.BytesIO(gzip.compress(text)), 100,
                       cooperator=manual.cooperator)
        steps = 0
        while manual.step():
            steps += 1
        self.assertEqual(self.successResultOf(d), b"x" * 100)
        # At most 256 KiB of text per step.
        self.assertGreaterEqual(steps, 80)


class StoredLogTailsTests(unittest.TestCase):

    def setUp(self):
        self.manual = ManualCooperator()

    def tails(self, shelf, **kwargs):
        return StoredLogTails(shelf, cooperator=self.manual.cooperator,
                              **kwargs)

    def get(self, tails, alias_id):
        return self.successResultOf(self.manual.run(tails.get(alias_id)))

    def test_tail_starts_at_a_whole_line_and_is_kept(self):
        text = logText(10000)
        shelf = Shelf({7: gzip.compress(text)})
        tails = self.tails(shelf, limit=100)
        tail = self.get(tails, 7)
        # 100 bytes hold 4 lines and the end of another, left out.
        self.assertEqual(tail, "".join("line %d of the build\n" % i
                                       for i in range(9996, 10000)))
        self.assertEqual(self.successResultOf(tails.get(7)), tail)
        self.assertEqual(shelf.opened, [7])

    def test_viewers_at_once_share_one_read(self):
        shelf = Shelf({7: gzip.compress(logText(50000))})
        manual = ManualCooperator()
        tails = StoredLogTails(shelf, limit=30, cooperator=manual.cooperator)
        first, second = tails.get(7), tails.get(7)
        self.assertNoResult(first)
        while manual.step():
            pass
        self.assertEqual(self.successResultOf(first),
                         self.successResultOf(second))
        self.assertEqual(shelf.opened, [7])

    def test_missing_or_corrupt_logs_have_no_tail(self):
        shelf = Shelf({8: os.urandom(1000)})
        tails = self.tails(shelf)
        self.assertIsNone(self.get(tails, 7))
        self.assertIsNone(self.get(tails, 8))

    def test_untrusted_text_is_made_printable(self):
        shelf = Shelf({7: gzip.compress(b"ok\n\x1b[31mred\xe2\x80\xae\n")})
        tail = self.get(self.tails(shelf), 7)
        self.assertEqual(tail, "ok\n\ufffd[31mred\ufffd\n")

    def test_the_cache_is_bounded(self):
        shelf = Shelf({i: gzip.compress(b"log %d\n" % i) for i in range(5)})
        tails = self.tails(shelf, cache_size=2)
        for i in range(5):
            self.get(tails, i)
        self.get(tails, 0)
        self.assertEqual(shelf.opened, [0, 1, 2, 3, 4, 0])
        self.assertEqual(len(tails._cache), 2)
