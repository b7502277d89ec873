"""Build rows, read with the context every part of the master asks for."""

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.interfaces import IBuildStore
from lp_buildmaster.model.records import Build, fromRow
from lp_buildmaster.store import Component

BUILD_SELECT = """
    SELECT b.id, b.buildstate, b.builder, b.datecreated, b.date_started,
           b.datebuilt, b.buildduration, b.buildlog, b.upload_log,
           b.dependencies, b.pocket, b.failure_count,
           a.id AS archive, a.name AS archive_name,
           a.purpose AS archive_purpose, a.private AS archive_private,
           a.require_virtualized AS archive_require_virtualized,
           a.enabled AS archive_enabled,
           dar.id AS distroarchrelease, dar.architecturetag, dar.processor,
           p.name AS processor_name,
           dr.id AS distrorelease, dr.name AS distrorelease_name,
           dr.releasestatus,
           d.id AS distribution, d.name AS distribution_name,
           spr.id AS sourcepackagerelease, spn.name AS source_name,
           spr.version AS source_version, spr.component, spr.urgency,
           spr.maintainer, spr.architecturehintlist
      FROM build b
      JOIN archive a ON a.id = b.archive
      JOIN distroarchrelease dar ON dar.id = b.distroarchrelease
      JOIN processor p ON p.id = dar.processor
      JOIN distrorelease dr ON dr.id = dar.distrorelease
      JOIN distribution d ON d.id = dr.distribution
      JOIN sourcepackagerelease spr ON spr.id = b.sourcepackagerelease
      JOIN sourcepackagename spn ON spn.id = spr.sourcepackagename"""

#: Columns a caller may set through L{BuildStore.update}.
UPDATABLE = frozenset([
    "buildstate", "builder", "date_started", "datebuilt", "buildduration",
    "buildlog", "upload_log", "dependencies", "failure_count", "pocket",
])


def setClause(values):
    """C{("a = %s, b = %s", (va, vb))} for an UPDATE, enums as integers."""
    unknown = set(values) - UPDATABLE
    if unknown:
        raise ValueError("cannot set %s" % ", ".join(sorted(unknown)))
    columns = sorted(values)
    args = tuple(getattr(values[c], "value", values[c]) for c in columns)
    return ", ".join("%s = %%s" % c for c in columns), args


@implementer(IBuildStore)
class BuildStore(Component):

    @defer.inlineCallbacks
    def get(self, build_id):
        row = yield self._one(BUILD_SELECT + " WHERE b.id = %s", (build_id,))
        return None if row is None else fromRow(Build, row)

    @defer.inlineCallbacks
    def getMany(self, build_ids):
        rows = yield self._all(BUILD_SELECT + " WHERE b.id = ANY(%s)",
                               (list(build_ids),))
        return {row["id"]: fromRow(Build, row) for row in rows}

    @defer.inlineCallbacks
    def list(self, state=None, limit=100):
        """Newest first, optionally only those in C{state}."""
        if state is None:
            rows = yield self._all(
                BUILD_SELECT + " ORDER BY b.id DESC LIMIT %s", (limit,))
        else:
            rows = yield self._all(
                BUILD_SELECT + " WHERE b.buildstate = %s"
                " ORDER BY b.id DESC LIMIT %s", (state.value, limit))
        return [fromRow(Build, row) for row in rows]

    def update(self, build_id, **values):
        clause, args = setClause(values)
        return self.store.runOperation(
            "UPDATE build SET %s WHERE id = %%s" % clause, args + (build_id,))

    @defer.inlineCallbacks
    def create(self, distroarchrelease, sourcepackagerelease, archive,
               pocket, buildstate=BuildStatus.NEEDSBUILD):
        """A new build row (no queue entry); fires with its id."""
        row = yield self._one(
            "INSERT INTO build (distroarchrelease, sourcepackagerelease,"
            " archive, pocket, buildstate) VALUES (%s, %s, %s, %s, %s)"
            " RETURNING id",
            (distroarchrelease, sourcepackagerelease, archive, pocket.value,
             buildstate.value))
        return row["id"]
