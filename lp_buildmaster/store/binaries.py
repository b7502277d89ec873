"""binarypackagerelease rows: the binary packages accepted uploads
produced, and the builds waiting for some (dependency waits)."""

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.interfaces import IBinaryStore
from lp_buildmaster.model.packages import DepWaitingBuild, PublishedBinary
from lp_buildmaster.model.records import fromRow
from lp_buildmaster.store import Component

BINARY_COLUMNS = """
    id, build, name, version, architecture, distroarchrelease,
    distrorelease, archive, pocket"""

# The series, archive and pocket come from the build row.
RECORD_BINARIES = """
    INSERT INTO binarypackagerelease (build, name, version, architecture,
        distroarchrelease, distrorelease, archive, pocket)
    SELECT b.id, p.name, p.version, p.architecture, b.distroarchrelease,
           dar.distrorelease, b.archive, b.pocket
      FROM build b
      JOIN distroarchrelease dar ON dar.id = b.distroarchrelease
     CROSS JOIN unnest(%s::text[], %s::text[], %s::text[])
           AS p (name, version, architecture)
     WHERE b.id = %s"""

DEPWAITING = """
    SELECT b.id, b.dependencies, b.distroarchrelease, dar.architecturetag,
           dar.distrorelease, b.archive
      FROM build b
      JOIN distroarchrelease dar ON dar.id = b.distroarchrelease
     WHERE b.buildstate = %s
     ORDER BY b.id"""

# Uses binarypackagerelease__series_archive_name for each wanted pair.
AVAILABLE = """
    SELECT """ + BINARY_COLUMNS + """
      FROM binarypackagerelease
     WHERE (distrorelease, archive) IN (
               SELECT * FROM unnest(%s::integer[], %s::integer[]))
       AND name = ANY(%s::text[])
     ORDER BY id"""


@defer.inlineCallbacks
def recordBinaries(txn, build_id, binaries):
    """Inside a transaction: one row per L{BinaryPackage} of C{binaries},
    in the series, archive and pocket of C{build_id}; fires with the
    number recorded."""
    binaries = list(binaries)
    if not binaries:
        return 0
    count = yield txn.rowcount(RECORD_BINARIES, (
        [b.name for b in binaries], [b.version for b in binaries],
        [b.architecture for b in binaries], build_id))
    if count != len(binaries):
        raise KeyError("no build %d" % (build_id,))
    return count


@implementer(IBinaryStore)
class BinaryStore(Component):

    def add(self, build_id, binaries):
        """Record C{binaries} (L{BinaryPackage}s) as produced by
        C{build_id}, in one transaction; fires with the number recorded."""
        return self.store.runInteraction(recordBinaries, build_id, binaries)

    @defer.inlineCallbacks
    def getByBuild(self, build_id):
        """The L{PublishedBinary}s of C{build_id}, in recording order."""
        rows = yield self._all(
            "SELECT %s FROM binarypackagerelease WHERE build = %%s"
            " ORDER BY id" % BINARY_COLUMNS, (build_id,))
        return [fromRow(PublishedBinary, row) for row in rows]

    @defer.inlineCallbacks
    def depWaiting(self):
        """Every MANUALDEPWAIT build, as L{DepWaitingBuild}s by id."""
        rows = yield self._all(DEPWAITING,
                               (BuildStatus.MANUALDEPWAIT.value,))
        return [fromRow(DepWaitingBuild, row) for row in rows]

    @defer.inlineCallbacks
    def available(self, series_archives, names):
        """The binaries named in C{names} accepted into any of
        C{series_archives}, in one query.

        @param series_archives: C{(distrorelease id, archive id)} pairs.
        @param names: package names.
        @return: a Deferred firing with L{PublishedBinary}s.
        """
        pairs = sorted(set(series_archives))
        names = sorted(set(names))
        if not pairs or not names:
            return []
        rows = yield self._all(AVAILABLE, (
            [s for s, _ in pairs], [a for _, a in pairs], names))
        return [fromRow(PublishedBinary, row) for row in rows]
