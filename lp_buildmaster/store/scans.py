"""When masters last scanned their builders (C{builder.last_scanned}),
written in batches by L{lp_buildmaster.scantimes.ScanTimes}."""

from zope.interface import implementer

from lp_buildmaster.interfaces import IScanTimeStore
from lp_buildmaster.store import Component


@implementer(IScanTimeStore)
class ScanTimeStore(Component):

    def markScanned(self, times):
        """Record many builders' last scans in one statement; an older time
        than the one recorded (another master's, later) is left alone.

        @param times: C{{builder id: datetime}}.
        """
        ids, stamps = zip(*sorted(times.items()))
        return self.store.runOperation(
            "UPDATE builder SET last_scanned = v.at"
            "  FROM unnest(%s::integer[], %s::timestamptz[]) AS v(id, at)"
            " WHERE builder.id = v.id AND (builder.last_scanned IS NULL"
            "       OR builder.last_scanned < v.at)",
            (list(ids), list(stamps)))
