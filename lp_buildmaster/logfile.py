"""C{[log] json_file}: the master's log as one plain JSON object per line.

Each line holds C{time} (ISO 8601, UTC), C{level}, C{namespace} and the
formatted C{message}; a logged failure adds C{failure} (its traceback as
text). Fields the event was logged with are added when they are plain
values (strings, numbers, booleans, None); Twisted's own C{log_*} keys
and objects are left out.
"""

import datetime
import json

from twisted.logger import ILogObserver, formatEvent
from zope.interface import implementer

_PLAIN = (str, int, float, bool, type(None))
_RESERVED = {"time", "level", "namespace", "message", "failure"}


def eventAsDict(event):
    """The plain dict of one twisted.logger event."""
    when = datetime.datetime.fromtimestamp(
        event.get("log_time", 0), datetime.timezone.utc)
    level = event.get("log_level")
    record = {
        "time": when.isoformat(timespec="milliseconds"),
        "level": level.name if level is not None else "info",
        "namespace": event.get("log_namespace", ""),
        "message": formatEvent(event),
    }
    failure = event.get("log_failure")
    if failure is not None:
        record["failure"] = failure.getTraceback()
    for key, value in event.items():
        if key.startswith("log_") or key in _RESERVED or key == "format":
            continue
        if isinstance(value, _PLAIN):
            record[key] = value
    return record


@implementer(ILogObserver)
class JSONLinesObserver:
    """Writes each event to C{file} as one JSON line, flushed."""

    def __init__(self, file):
        self._file = file

    def __call__(self, event):
        self._file.write(json.dumps(eventAsDict(event),
                                    ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self):
        self._file.close()
