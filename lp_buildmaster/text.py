"""Text from builders, made bounded and harmless where it enters.

A builder may send megabytes of log tail or fault string, and characters
that act on whatever shows them: an operator's terminal (ESC, the C1
control CSI U+009B), a page or a mail (bidi overrides such as U+202E that
reverse what follows). Every such text passes through here before it is
stored, logged or shown.
"""

import re

__all__ = ["LOGTAIL_LIMIT", "NOTES_LIMIT", "printable", "bounded", "tail",
           "notes", "REPLACEMENT"]

#: What the real daemon sends: the last 2 KiB of its log.
LOGTAIL_LIMIT = 2048

#: Fault strings, failnotes and other one-line reasons.
NOTES_LIMIT = 1024

REPLACEMENT = "\ufffd"

# C0 controls but tab and newline, DEL, C1 controls, and the bidi
# embeddings, overrides, isolates and marks.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
    "\u2066-\u2069]")
_UNSAFE_OR_NEWLINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text, newlines=True):
    """C{text} with every control and bidi character replaced by U+FFFD
    (NUL, which PostgreSQL cannot store, and CR are dropped).

    @param newlines: keep newlines and tabs; otherwise they become spaces.
    """
    text = text.replace("\0", "").replace("\r", "")
    if not newlines:
        text = text.replace("\n", " ").replace("\t", " ")
    return (_UNSAFE if newlines else _UNSAFE_OR_NEWLINE).sub(
        REPLACEMENT, text)


def bounded(text, limit):
    """C{text} cut to at most C{limit} UTF-8 bytes, ending in C{...} when
    cut, never in the middle of a character."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    return data[:limit - 3].decode("utf-8", "ignore") + "..."


def tail(value, limit=LOGTAIL_LIMIT):
    """The last C{limit} bytes of a log, decoded leniently and printable.

    @param value: bytes (cut anywhere, even inside a character) or str.
    """
    if isinstance(value, str):
        value = value.encode("utf-8", "replace")
    # A cut inside a character shows as U+FFFD, as a log cut by the
    # daemon itself does.
    return printable(bytes(value[-limit:]).decode("utf-8", "replace"))


def notes(text, limit=NOTES_LIMIT):
    """A one-line reason (fault string, failnotes) fit to show anywhere."""
    if text is None:
        return None
    # Cut first (generously: replacements may grow it), so that a text of
    # megabytes costs no more than one of a few kilobytes.
    return bounded(printable(str(text)[:2 * limit], newlines=False), limit)
