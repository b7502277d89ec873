"""The scanners' last scans, recorded in the database in batches.

Each L{SlaveScanner} keeps the time of its last scan in memory
(C{last_scan}). L{ScanTimes.flush}, called at each of the manager's
refreshes, writes those that moved by at least L{PRECISION} seconds since
they were last written, all in one statement, and at most once per
L{PRECISION}: an idle farm of any size costs one statement a minute, not
one per scan. The builder page and the API read C{builder.last_scanned},
and the master holding a builder gives its exact time from memory.

A flush that fails (the database away) keeps its times for the next one
and never fails its caller: the outage is said by those who notice it
first.
"""

import datetime

from twisted.internet import defer

from lp_buildmaster.clock import orReactor

#: Seconds between writes, and the staleness of a recorded time allowed.
PRECISION = 60.0


def _utc(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


class ScanTimes:
    """Writes the scanners' C{last_scan}s into C{builder.last_scanned}.

    @param store: the store; its C{scans} component (L{IScanTimeStore})
        writes. A store without one (a test's stand-in) records nothing.
    """

    def __init__(self, store, clock=None, precision=PRECISION):
        self.clock = orReactor(clock)
        self.precision = precision
        self.writer = getattr(store, "scans", None)
        #: C{{builder id: seconds}} as last written
        self.written = {}
        self._next = None
        #: statements sent (for tests and benchmarks)
        self.flushes = 0

    def due(self, scanners):
        """C{{builder id: seconds}} of the scans to write now."""
        due = {}
        for scanner in scanners:
            record = scanner.builder.record
            at = scanner.last_scan
            if record is None or at is None:
                continue
            if at >= self.written.get(record.id, float("-inf")) \
                    + self.precision:
                due[record.id] = at
        return due

    @defer.inlineCallbacks
    def flush(self, scanners):
        """Write what is due of C{scanners} (L{SlaveScanner}s); at most
        once per L{PRECISION}. Never fails."""
        now = self.clock.seconds()
        if self.writer is None or (self._next is not None
                                   and now < self._next):
            return
        due = self.due(scanners)
        if not due:
            return
        self._next = now + self.precision
        self.flushes += 1
        try:
            yield self.writer.markScanned(
                {builder: _utc(at) for builder, at in due.items()})
        except Exception:
            # Tried again at the next flush.
            self._next = None
            return
        self.written.update(due)
