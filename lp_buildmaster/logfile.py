"""The master's logging: C{[log] level}, C{[log] json_file} as one plain
JSON object per line, and the seed's stdlib lines forwarded.

Each line holds C{time} (ISO 8601, UTC), C{level}, C{namespace} and the
formatted C{message}; a logged failure adds C{failure} (its traceback as
text). Fields the event was logged with are added when they are plain
values (strings, numbers, booleans, None); Twisted's own C{log_*} keys
and objects are left out.
"""

import datetime
import json
import logging

from twisted.logger import (
    FilteringLogObserver, ILogObserver, Logger, LogLevel,
    LogLevelFilterPredicate, formatEvent, globalLogPublisher)
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


class StdlibToTwisted(logging.Handler):
    """Forwards the seed-style stdlib log lines to twisted.logger."""

    LEVELS = {logging.DEBUG: LogLevel.debug, logging.INFO: LogLevel.info,
              logging.WARNING: LogLevel.warn, logging.ERROR: LogLevel.error,
              logging.CRITICAL: LogLevel.critical}

    def emit(self, record):
        level = self.LEVELS.get(record.levelno, LogLevel.info)
        Logger(namespace=record.name).emit(
            level, "{message}", message=record.getMessage())


class MasterLogging:
    """The master's log set up at its start and undone at its stop."""

    def __init__(self, config):
        self.config = config
        self._handler = None
        self._jsonlog = None
        self._filtered = []

    def start(self):
        """Forward stdlib logging, filter by C{[log] level}, and write
        C{[log] json_file}."""
        self._handler = StdlibToTwisted()
        root = logging.getLogger()
        root.addHandler(self._handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        self._filterObservers(LogLevel.levelWithName(self.config.log_level))
        if self.config.log_json_file:
            self._jsonlog = JSONLinesObserver(
                open(self.config.log_json_file, "a", encoding="utf-8"))
            globalLogPublisher.addObserver(self._filter(self._jsonlog))

    def _filter(self, observer):
        level = LogLevel.levelWithName(self.config.log_level)
        filtered = FilteringLogObserver(
            observer, [LogLevelFilterPredicate(defaultLogLevel=level)])
        self._filtered.append((observer, filtered))
        return filtered

    def _filterObservers(self, level):
        """Put C{[log] level} in front of the observers twistd set up
        (its log file or terminal): below it, events are dropped."""
        # LogPublisher offers no listing of its observers; twistd's are
        # the ones present before the master starts.
        for observer in list(globalLogPublisher._observers):
            globalLogPublisher.removeObserver(observer)
            globalLogPublisher.addObserver(self._filter(observer))

    def stop(self):
        """Undo L{start}: twistd's observers as they were."""
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler = None
        for observer, filtered in self._filtered:
            globalLogPublisher.removeObserver(filtered)
            if observer is not self._jsonlog:
                globalLogPublisher.addObserver(observer)
        self._filtered = []
        if self._jsonlog is not None:
            self._jsonlog.close()
            self._jsonlog = None
