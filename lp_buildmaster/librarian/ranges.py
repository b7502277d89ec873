"""Range requests as RFC 9110 (section 14) has them, checked before
L{twisted.web.static.File} sees them.

A Range header is parsed against the file's size: an invalid one is
ignored (the whole file is served), one with no satisfiable range is a
416 with C{Content-Range: bytes */SIZE}, and the satisfiable ranges are
clipped to the file, sorted and coalesced (overlapping or adjacent ones
become one). More than L{MAX_RANGES} after that is refused with a 416, so
a thousand overlapping ranges cost nothing. What static.File then gets is
a header of plain C{first-last} ranges it handles correctly.
"""

import re

__all__ = ["MAX_RANGES", "UNSATISFIABLE", "normaliseRange"]

#: Ranges served in one multipart answer.
MAX_RANGES = 8

#: Longest Range header looked at; longer is refused.
MAX_HEADER = 16 * 1024

UNSATISFIABLE = object()

_SPEC = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")


def normaliseRange(header, size):
    """What to do with a Range header for a file of C{size} bytes.

    @param header: the raw header (bytes), or None.
    @return: None (serve the whole file), L{UNSATISFIABLE} (answer 416),
        or the header to serve instead (bytes).
    """
    if header is None:
        return None
    if len(header) > MAX_HEADER:
        return UNSATISFIABLE
    try:
        text = header.decode("ascii")
    except UnicodeDecodeError:
        return None
    unit, _, specs = text.partition("=")
    if unit.strip().lower() != "bytes" or not specs.strip():
        return None
    ranges = []
    for spec in specs.split(","):
        match = _SPEC.fullmatch(spec)
        if match is None:
            return None
        first, last = match.groups()
        if not first and not last:
            return None
        if not first:
            # A suffix: the last N bytes, or the whole file if shorter.
            length = int(last)
            if length == 0 or size == 0:
                continue
            ranges.append((max(0, size - length), size - 1))
            continue
        start = int(first)
        end = int(last) if last else size - 1
        if last and end < start:
            return None
        if start >= size:
            continue
        ranges.append((start, min(end, size - 1)))
    if not ranges:
        return UNSATISFIABLE
    ranges.sort()
    merged = [ranges[0]]
    for start, end in ranges[1:]:
        if start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    if len(merged) > MAX_RANGES:
        return UNSATISFIABLE
    return ("bytes=" + ",".join("%d-%d" % r for r in merged)).encode("ascii")
