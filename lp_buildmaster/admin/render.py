"""How C{buildmaster-admin} prints: a row or rows as JSON with C{--json}
(times ISO 8601, durations seconds, as the API writes them), else as
text: left-aligned tables, times to the second in UTC, durations
h:mm:ss."""

import datetime

from lp_buildmaster import formatting


def output(args, rows, text):
    """Print C{rows} as JSON with --json (times ISO 8601 as in the API),
    else C{text(rows)}."""
    if args.json:
        print(formatting.dumps(rows, indent=2))
    else:
        print(text(rows))


def table(header, rows):
    """Left-aligned columns; C{rows} of strings."""
    rows = [header] + [["" if c is None else str(c) for c in r]
                       for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
        for r in rows)


def showValue(key, value):
    """A value of L{buildRow} as C{build show} prints it."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return formatting.textTime(value)
    if isinstance(value, datetime.timedelta):
        return formatting.textDuration(value)
    return value
