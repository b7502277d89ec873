"""How times, durations and JSON look, the same in the CLI and the API.

Text shows times in UTC to the second and durations as h:mm:ss; JSON
shows times as ISO 8601 with a "T" (UTC) and durations in seconds.
"""

import datetime
import json


def utc(value):
    """An aware datetime in UTC (a naive one is taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def isoTime(value):
    """ISO 8601 in UTC to the second, e.g. 2026-11-29T04:10:34+00:00."""
    if value is None:
        return None
    return utc(value).replace(microsecond=0).isoformat()


def textTime(value):
    """E.g. "2026-11-29 04:10:34 UTC"; "-" for None."""
    if value is None:
        return "-"
    return utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def textDuration(value):
    """h:mm:ss (whole seconds, rounded down); "-" for None."""
    if value is None:
        return "-"
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    seconds = max(int(value), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return "%d:%02d:%02d" % (hours, minutes, seconds)


def jsonDefault(value):
    """C{json.dumps(default=)}: times ISO 8601, durations seconds."""
    if isinstance(value, datetime.datetime):
        return isoTime(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    raise TypeError("cannot encode %r as JSON" % (value,))


def dumps(value, indent=None):
    return json.dumps(value, default=jsonDefault, indent=indent)
