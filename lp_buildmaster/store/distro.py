"""Processors, distributions, releases, arch releases and chroots."""

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.interfaces import IDistroStore
from lp_buildmaster.model.records import (
    Archive, DistroArchRelease, DistroRelease, Distribution, PocketChroot,
    Processor, fromRow)
from lp_buildmaster.store import Component

DAR_SELECT = """
    SELECT dar.id, dar.distrorelease, dar.architecturetag, dar.processor,
           d.name AS distribution_name, dr.name AS distrorelease_name,
           dr.title AS distrorelease_title, dr.releasestatus,
           p.name AS processor_name
      FROM distroarchrelease dar
      JOIN distrorelease dr ON dr.id = dar.distrorelease
      JOIN distribution d ON d.id = dr.distribution
      JOIN processor p ON p.id = dar.processor"""


@implementer(IDistroStore)
class DistroStore(Component):

    @defer.inlineCallbacks
    def getProcessor(self, name_or_id):
        column = "id" if isinstance(name_or_id, int) else "name"
        row = yield self._one(
            "SELECT id, name, title FROM processor WHERE %s = %%s" % column,
            (name_or_id,))
        return None if row is None else fromRow(Processor, row)

    @defer.inlineCallbacks
    def processors(self):
        rows = yield self._all("SELECT id, name, title FROM processor"
                               " ORDER BY name")
        return [fromRow(Processor, row) for row in rows]

    @defer.inlineCallbacks
    def getDistribution(self, name):
        row = yield self._one(
            "SELECT id, name, title, displayname FROM distribution"
            " WHERE name = %s", (name,))
        return None if row is None else fromRow(Distribution, row)

    @defer.inlineCallbacks
    def getDistroRelease(self, distribution, name):
        row = yield self._one(
            "SELECT dr.id, dr.distribution, dr.name, dr.title, dr.version,"
            "       dr.releasestatus"
            "  FROM distrorelease dr JOIN distribution d"
            "    ON d.id = dr.distribution"
            " WHERE d.name = %s AND dr.name = %s", (distribution, name))
        return None if row is None else fromRow(DistroRelease, row)

    @defer.inlineCallbacks
    def getDistroArchRelease(self, distribution, series=None, arch=None):
        """By id, or by distribution, series and architecture tag names."""
        if series is None:
            row = yield self._one(DAR_SELECT + " WHERE dar.id = %s",
                                  (distribution,))
        else:
            row = yield self._one(
                DAR_SELECT + " WHERE d.name = %s AND dr.name = %s"
                " AND dar.architecturetag = %s", (distribution, series, arch))
        return None if row is None else fromRow(DistroArchRelease, row)

    @defer.inlineCallbacks
    def distroArchReleases(self):
        """All of them, by distribution, series and architecture tag."""
        rows = yield self._all(
            DAR_SELECT + " ORDER BY d.name, dr.name, dar.architecturetag")
        return [fromRow(DistroArchRelease, row) for row in rows]

    @defer.inlineCallbacks
    def getChroot(self, distroarchrelease, pocket):
        row = yield self._one(
            "SELECT id, distroarchrelease, pocket, chroot FROM pocketchroot"
            " WHERE distroarchrelease = %s AND pocket = %s",
            (distroarchrelease, pocket.value))
        return None if row is None else fromRow(PocketChroot, row)

    @defer.inlineCallbacks
    def chroots(self, distroarchrelease):
        rows = yield self._all(
            "SELECT id, distroarchrelease, pocket, chroot FROM pocketchroot"
            " WHERE distroarchrelease = %s ORDER BY pocket",
            (distroarchrelease,))
        return [fromRow(PocketChroot, row) for row in rows]

    def setChroot(self, distroarchrelease, pocket, alias):
        """Point the chroot of C{distroarchrelease}/C{pocket} at C{alias}."""
        return self.store.runOperation(
            "INSERT INTO pocketchroot (distroarchrelease, pocket, chroot)"
            " VALUES (%s, %s, %s) ON CONFLICT (distroarchrelease, pocket)"
            " DO UPDATE SET chroot = EXCLUDED.chroot",
            (distroarchrelease, pocket.value, alias))

    @defer.inlineCallbacks
    def getArchive(self, distribution, name):
        """The L{Archive} called C{name} of the distribution called
        C{distribution}, or None."""
        row = yield self._one(
            "SELECT a.id, a.distribution, a.name, a.purpose, a.owner,"
            "       a.private, a.require_virtualized, a.enabled,"
            "       a.relative_build_score"
            "  FROM archive a JOIN distribution d ON d.id = a.distribution"
            " WHERE d.name = %s AND a.name = %s", (distribution, name))
        return None if row is None else fromRow(Archive, row)
