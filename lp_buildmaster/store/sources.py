"""Source package releases, their files and their publications."""

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.enums import LIVE_PUBLISHING_STATUSES
from lp_buildmaster.interfaces import ISourceStore
from lp_buildmaster.model.records import SourcePackageRelease, fromRow
from lp_buildmaster.store import Component

SPR_SELECT = """
    SELECT spr.id, spn.name, spr.version, spr.component, spr.section,
           spr.urgency, spr.maintainer, spr.architecturehintlist,
           spr.changed_by
      FROM sourcepackagerelease spr
      JOIN sourcepackagename spn ON spn.id = spr.sourcepackagename"""


_LIVE = [s.value for s in LIVE_PUBLISHING_STATUSES]


def publishedQuery(spr_id, distrorelease, archive, pocket=None):
    """C{(sql, args)} of the one query asking whether a source is live
    (pending or published) in a series and archive (and C{pocket}): a row
    if it is, none if not. Dispatch, C{why} and L{SourceStore} share it."""
    sql = ("SELECT 1 FROM sourcepackagepublishinghistory"
           " WHERE sourcepackagerelease = %s AND distrorelease = %s"
           "   AND archive = %s AND status = ANY(%s)")
    args = (spr_id, distrorelease, archive, _LIVE)
    if pocket is not None:
        sql += " AND pocket = %s"
        args += (pocket.value,)
    return sql + " LIMIT 1", args


class DuplicateSource(Exception):
    """A source package release of that name and version exists."""


@implementer(ISourceStore)
class SourceStore(Component):

    @defer.inlineCallbacks
    def get(self, spr_id):
        row = yield self._one(SPR_SELECT + " WHERE spr.id = %s", (spr_id,))
        return None if row is None else fromRow(SourcePackageRelease, row)

    @defer.inlineCallbacks
    def files(self, spr_id):
        """C{[(alias_id, filetype)]} of a source, .dsc first."""
        rows = yield self._all(
            "SELECT libraryfile, filetype FROM sourcepackagereleasefile"
            " WHERE sourcepackagerelease = %s"
            " ORDER BY filetype <> 'dsc', id", (spr_id,))
        return [(row["libraryfile"], row["filetype"]) for row in rows]

    @defer.inlineCallbacks
    def isPublished(self, spr_id, distrorelease, archive):
        """Whether the source is live in that series and archive."""
        row = yield self._one(
            *publishedQuery(spr_id, distrorelease, archive))
        return row is not None

    @defer.inlineCallbacks
    def getByNameVersion(self, name, version):
        """The L{SourcePackageRelease} of C{name} C{version}, or None."""
        row = yield self._one(
            SPR_SELECT + " WHERE spn.name = %s AND spr.version = %s"
            " ORDER BY spr.id LIMIT 1", (name, version))
        return None if row is None else fromRow(SourcePackageRelease, row)

    @defer.inlineCallbacks
    def isPublishedInPocket(self, spr_id, distrorelease, archive, pocket):
        """Whether the source is live in that series, archive and pocket."""
        row = yield self._one(
            *publishedQuery(spr_id, distrorelease, archive, pocket))
        return row is not None

    def add(self, name, version, files, distrorelease, archive, pocket,
            component="main", section="misc", urgency=None, maintainer="",
            architecturehintlist="any", dsc="", changed_by=""):
        """A new source package release with its files, published in one
        series, archive and pocket, in one transaction.

        @param files: C{[(alias_id, filetype)]}, the .dsc's among them.
        @param urgency: a L{SourcePackageUrgency} (default low).
        @raise DuplicateSource: (in the Deferred) C{name} C{version}
            exists already.
        @return: a Deferred firing with the new release's id.
        """
        from lp_buildmaster.enums import (
            PackagePublishingStatus, SourcePackageUrgency)
        urgency = urgency or SourcePackageUrgency.LOW

        @defer.inlineCallbacks
        def add(txn):
            spn = yield txn.fetchone(
                "INSERT INTO sourcepackagename (name) VALUES (%s)"
                " ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name"
                " RETURNING id", (name,))
            # Serialises two uploads of one name.
            yield txn.execute("SELECT id FROM sourcepackagename"
                              " WHERE id = %s FOR UPDATE", (spn["id"],))
            existing = yield txn.fetchone(
                "SELECT id FROM sourcepackagerelease"
                " WHERE sourcepackagename = %s AND version = %s",
                (spn["id"], version))
            if existing is not None:
                raise DuplicateSource(
                    "source %s %s exists already" % (name, version))
            spr = yield txn.fetchone(
                "INSERT INTO sourcepackagerelease (sourcepackagename,"
                " version, component, section, urgency, maintainer,"
                " architecturehintlist, dsc, changed_by)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (spn["id"], version, component, section, urgency.value,
                 maintainer, architecturehintlist, dsc, changed_by))
            for alias, filetype in files:
                yield txn.execute(
                    "INSERT INTO sourcepackagereleasefile"
                    " (sourcepackagerelease, libraryfile, filetype)"
                    " VALUES (%s, %s, %s)", (spr["id"], alias, filetype))
            yield txn.execute(
                "INSERT INTO sourcepackagepublishinghistory"
                " (sourcepackagerelease, distrorelease, archive, pocket,"
                "  component, status) VALUES (%s, %s, %s, %s, %s, %s)",
                (spr["id"], distrorelease, archive, pocket.value, component,
                 PackagePublishingStatus.PUBLISHED.value))
            return spr["id"]
        return self.store.runInteraction(add)
