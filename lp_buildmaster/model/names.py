"""File names from builders and uploads: checked by one function, the same
when a builder's filemap arrives and when its upload is processed, so a
name one refuses the other refuses too (and a bad name is one failure, not
a loop between the two).
"""

from lp_buildmaster.text import printable

__all__ = ["MAX_FILENAME_BYTES", "filenameProblem"]

#: What a file system holds in one path component.
MAX_FILENAME_BYTES = 255


def filenameProblem(name):
    """What is wrong with C{name} as a single plain file name, or None.

    Refused: anything but a non-empty str; C{.} and C{..}; separators;
    a leading dot (hidden files, and C{.part} temporaries); NUL, every
    other control character (a newline, ESC, C1) and bidi overrides;
    names not encodable as UTF-8 or longer than 255 bytes.
    """
    if not isinstance(name, str):
        return "not a string"
    if name in ("", ".", ".."):
        return "not a file name"
    if "/" in name or "\\" in name or "\0" in name:
        return "contains a separator or NUL"
    if name.startswith("."):
        return "starts with a dot"
    if printable(name, newlines=False) != name:
        return "contains a control or bidi character"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "not encodable"
    if len(encoded) > MAX_FILENAME_BYTES:
        return "too long"
    return None
