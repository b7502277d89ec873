"""Bounding and cleaning text that came from builders."""

from twisted.trial import unittest

from lp_buildmaster.text import bounded, notes, printable, tail


class TextTests(unittest.TestCase):

    def test_printable(self):
        self.assertEqual(printable("a\x1b[0m\x9b\u202e\u2067b\x00\r\n\tc"),
                         "a\ufffd[0m\ufffd\ufffd\ufffdb\n\tc")
        self.assertEqual(printable("a\nb\tc", newlines=False), "a b c")
        self.assertEqual(printable("caf\u00e9 \u2603 \u05d0"),
                         "caf\u00e9 \u2603 \u05d0")

    def test_bounded(self):
        self.assertEqual(bounded("abc", 3), "abc")
        self.assertEqual(bounded("abcdef", 5), "ab...")
        # Never half a character: \u2603 is three bytes.
        self.assertEqual(bounded("\u2603" * 4, 9), "\u2603\u2603...")

    def test_tail(self):
        self.assertEqual(tail(b"0123456789", 4), "6789")
        self.assertEqual(tail("0123\x1b", 4), "123\ufffd")

    def test_notes(self):
        self.assertIsNone(notes(None))
        self.assertEqual(notes(ValueError("a\nb")), "a b")
        self.assertEqual(len(notes("x" * 10 ** 7)), 1024)
