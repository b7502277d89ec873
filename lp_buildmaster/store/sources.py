"""Source package releases, their files and their publications."""

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.enums import LIVE_PUBLISHING_STATUSES
from lp_buildmaster.interfaces import ISourceStore
from lp_buildmaster.model.records import SourcePackageRelease, fromRow
from lp_buildmaster.store import Component

SPR_SELECT = """
    SELECT spr.id, spn.name, spr.version, spr.component, spr.section,
           spr.urgency, spr.maintainer, spr.architecturehintlist
      FROM sourcepackagerelease spr
      JOIN sourcepackagename spn ON spn.id = spr.sourcepackagename"""


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
            "SELECT 1 FROM sourcepackagepublishinghistory"
            " WHERE sourcepackagerelease = %s AND distrorelease = %s"
            "   AND archive = %s AND status = ANY(%s) LIMIT 1",
            (spr_id, distrorelease, archive,
             [s.value for s in LIVE_PUBLISHING_STATUSES]))
        return row is not None
