"""Defining the world: processors, distributions, series, architectures,
archives and their dependencies; and what a build request needs of them
(the archive-dependency context of L{lp_buildmaster.model.archivedeps}).

Rows come back as plain dicts, names resolved and enumerations as their
names, ready for ``buildmaster-admin --json``.
"""

import psycopg2
from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.enums import (
    LIVE_PUBLISHING_STATUSES, ArchivePurpose, DistroReleaseStatus,
    PackagePublishingPocket)
from lp_buildmaster.interfaces import IWorldStore
from lp_buildmaster.model.archivedeps import (
    ArchiveDependency, ArchiveSource)
from lp_buildmaster.store import Component


class WorldError(Exception):
    """A definition the database refuses (a taken name, say), as one
    line."""


SERIES_SELECT = """
    SELECT dr.id, d.name AS distribution, dr.name, dr.title, dr.version,
           dr.releasestatus, parent.name AS parent_series,
           nom.architecturetag AS nominated_arch_indep
      FROM distrorelease dr
      JOIN distribution d ON d.id = dr.distribution
      LEFT JOIN distrorelease parent ON parent.id = dr.parent_series
      LEFT JOIN distroarchrelease nom ON nom.id = dr.nominatedarchindep"""

ARCH_SELECT = """
    SELECT dar.id, d.name AS distribution, dr.name AS series,
           dar.architecturetag, p.name AS processor, dar.official,
           COALESCE(dr.nominatedarchindep = dar.id,
                    dar.id = (SELECT min(id) FROM distroarchrelease
                               WHERE distrorelease = dr.id)) AS arch_indep
      FROM distroarchrelease dar
      JOIN distrorelease dr ON dr.id = dar.distrorelease
      JOIN distribution d ON d.id = dr.distribution
      JOIN processor p ON p.id = dar.processor"""

ARCHIVE_SELECT = """
    SELECT a.id, d.name AS distribution, a.name, a.purpose, a.owner,
           a.archive_url, a.private, a.enabled, a.require_virtualized,
           a.relative_build_score, a.signing_key_fingerprint,
           a.external_dependencies
      FROM archive a JOIN distribution d ON d.id = a.distribution"""

DEPENDENCY_SELECT = """
    SELECT ad.id, d.name AS distribution, a.name AS archive,
           dd.name AS dependency_distribution, dep.name AS dependency,
           ad.pocket, ad.component
      FROM archivedependency ad
      JOIN archive a ON a.id = ad.archive
      JOIN distribution d ON d.id = a.distribution
      JOIN archive dep ON dep.id = ad.dependency
      JOIN distribution dd ON dd.id = dep.distribution"""

#: The archives a build's sources.list may name: its own, its
#: distribution's primary archive, and its archive's dependencies.
SOURCES_CONTEXT = """
    SELECT a.id, a.name, a.purpose, a.archive_url, a.signing_key,
           a.external_dependencies,
           a.purpose = %(primary)s OR EXISTS (
               SELECT 1 FROM binarypackagerelease bpr
                WHERE bpr.distrorelease = %(series)s
                  AND bpr.archive = a.id) AS has_binaries,
           ad.id AS dep_id, ad.pocket AS dep_pocket,
           ad.component AS dep_component, main.id AS primary_id
      FROM (SELECT min(id) AS id FROM archive
             WHERE distribution = %(distribution)s
               AND purpose = %(primary)s) main,
           archive a
      LEFT JOIN archivedependency ad
        ON ad.dependency = a.id AND ad.archive = %(archive)s
     WHERE a.id = %(archive)s OR ad.id IS NOT NULL OR a.id = main.id
     ORDER BY ad.id NULLS FIRST"""

PRIMARY_COMPONENT = """
    SELECT sp.component
      FROM sourcepackagepublishinghistory sp
      JOIN sourcepackagerelease spr ON spr.id = sp.sourcepackagerelease
     WHERE spr.sourcepackagename = (SELECT sourcepackagename
                                      FROM sourcepackagerelease
                                     WHERE id = %s)
       AND sp.distrorelease = %s AND sp.archive = %s
       AND sp.status = ANY(%s)
     ORDER BY sp.id DESC LIMIT 1"""


def _enums(row, **enums):
    row = dict(row)
    for key, enum in enums.items():
        if row.get(key) is not None:
            row[key] = enum(row[key]).name
    return row


def seriesRow(row):
    return _enums(row, releasestatus=DistroReleaseStatus)


def archiveRow(row):
    return _enums(row, purpose=ArchivePurpose)


def dependencyRow(row):
    return _enums(row, pocket=PackagePublishingPocket)


def contextFromRows(rows, build, default_url):
    """C{(archive, primary, dependencies)} of a build from the rows of
    L{SOURCES_CONTEXT} (the fake store makes the same rows)."""
    sources = {}
    archive = primary = None
    dependencies = []
    for row in rows:
        purpose = ArchivePurpose(row["purpose"])
        url = row["archive_url"]
        if url is None and purpose == ArchivePurpose.PRIMARY:
            url = default_url
        source = sources.setdefault(row["id"], ArchiveSource(
            id=row["id"], name=row["name"], purpose=purpose, url=url,
            has_binaries=row["has_binaries"],
            signing_key=row["signing_key"],
            external_dependencies=row["external_dependencies"]))
        if row["id"] == build.archive:
            archive = source
        if row["id"] == row["primary_id"]:
            primary = source
        if row["dep_id"] is not None:
            dependencies.append(ArchiveDependency(
                source, PackagePublishingPocket(row["dep_pocket"]),
                row["dep_component"]))
    if primary is None:
        primary = archive
    return archive, primary, dependencies


@implementer(IWorldStore)
class WorldStore(Component):

    @defer.inlineCallbacks
    def _insert(self, what, sql, args):
        try:
            row = yield self._one(sql, args)
        except psycopg2.IntegrityError as e:
            if e.pgcode == "23505":
                raise WorldError("%s exists already" % (what,))
            raise
        return row["id"]

    def _update(self, table, row_id, values):
        columns = sorted(values)
        return self.store.runOperation(
            "UPDATE %s SET %s WHERE id = %%s" % (
                table, ", ".join("%s = %%s" % c for c in columns)),
            tuple(getattr(values[c], "value", values[c]) for c in columns)
            + (row_id,))

    # Processors

    def addProcessor(self, name, title, description=""):
        return self._insert(
            "a processor named %r" % (name,),
            "INSERT INTO processor (name, title, description)"
            " VALUES (%s, %s, %s) RETURNING id", (name, title, description))

    def processorRows(self):
        return self._all("SELECT id, name, title, description FROM processor"
                         " ORDER BY name")

    def updateProcessor(self, processor_id, **values):
        return self._update("processor", processor_id, values)

    # Distributions

    def addDistribution(self, name, title, displayname):
        return self._insert(
            "a distribution named %r" % (name,),
            "INSERT INTO distribution (name, title, displayname)"
            " VALUES (%s, %s, %s) RETURNING id", (name, title, displayname))

    def distributionRows(self):
        return self._all("SELECT id, name, title, displayname"
                         " FROM distribution ORDER BY name")

    def updateDistribution(self, distribution_id, **values):
        return self._update("distribution", distribution_id, values)

    # Series

    def addSeries(self, distribution, name, title, version, status,
                  parent=None):
        return self._insert(
            "a series named %r" % (name,),
            "INSERT INTO distrorelease (distribution, name, title, version,"
            " releasestatus, parent_series) VALUES (%s, %s, %s, %s, %s, %s)"
            " RETURNING id",
            (distribution, name, title, version, status.value, parent))

    @defer.inlineCallbacks
    def seriesRows(self, distribution=None, series_id=None):
        where, args = [], []
        if distribution is not None:
            where.append("d.name = %s")
            args.append(distribution)
        if series_id is not None:
            where.append("dr.id = %s")
            args.append(series_id)
        rows = yield self._all(
            SERIES_SELECT + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY d.name, dr.name", tuple(args))
        return [seriesRow(r) for r in rows]

    def updateSeries(self, series_id, **values):
        return self._update("distrorelease", series_id, values)

    # Architectures

    def addArch(self, series_id, tag, processor_id, official=True):
        return self._insert(
            "architecture %r of that series" % (tag,),
            "INSERT INTO distroarchrelease (distrorelease, architecturetag,"
            " processor, official) VALUES (%s, %s, %s, %s) RETURNING id",
            (series_id, tag, processor_id, official))

    def archRows(self, distribution=None, series=None, arch_id=None):
        where, args = [], []
        for column, value in (("d.name", distribution), ("dr.name", series),
                              ("dar.id", arch_id)):
            if value is not None:
                where.append("%s = %%s" % column)
                args.append(value)
        return self._all(
            ARCH_SELECT + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY d.name, dr.name, dar.architecturetag", tuple(args))

    def updateArch(self, arch_id, **values):
        return self._update("distroarchrelease", arch_id, values)

    # Archives

    def addArchive(self, distribution, name, purpose, **values):
        columns = ["distribution", "name", "purpose"] + sorted(values)
        args = [distribution, name, purpose.value] + [
            values[c] for c in sorted(values)]
        return self._insert(
            "an archive named %r" % (name,),
            "INSERT INTO archive (%s) VALUES (%s) RETURNING id" % (
                ", ".join(columns), ", ".join(["%s"] * len(columns))),
            tuple(args))

    @defer.inlineCallbacks
    def archiveRows(self, distribution=None, archive_id=None):
        where, args = [], []
        if distribution is not None:
            where.append("d.name = %s")
            args.append(distribution)
        if archive_id is not None:
            where.append("a.id = %s")
            args.append(archive_id)
        rows = yield self._all(
            ARCHIVE_SELECT + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY d.name, a.name", tuple(args))
        return [archiveRow(r) for r in rows]

    def updateArchive(self, archive_id, **values):
        return self._update("archive", archive_id, values)

    @defer.inlineCallbacks
    def primaryArchive(self, distribution_id):
        row = yield self._one(
            "SELECT min(id) AS id FROM archive WHERE distribution = %s"
            " AND purpose = %s",
            (distribution_id, ArchivePurpose.PRIMARY.value))
        return row["id"]

    # Archive dependencies

    @defer.inlineCallbacks
    def setDependency(self, archive_id, dependency_id, pocket, component):
        """Add or replace the dependency of one archive on another."""
        yield self.store.runOperation(
            "INSERT INTO archivedependency (archive, dependency, pocket,"
            " component) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (archive, dependency) DO UPDATE"
            " SET pocket = EXCLUDED.pocket, component = EXCLUDED.component",
            (archive_id, dependency_id, pocket.value, component))

    @defer.inlineCallbacks
    def removeDependency(self, archive_id, dependency_id):
        rows = yield self._all(
            "DELETE FROM archivedependency WHERE archive = %s"
            " AND dependency = %s RETURNING id", (archive_id, dependency_id))
        return bool(rows)

    @defer.inlineCallbacks
    def dependencyRows(self, archive_id=None):
        rows = yield self._all(
            DEPENDENCY_SELECT
            + (" WHERE ad.archive = %s" if archive_id is not None else "")
            + " ORDER BY d.name, a.name, ad.id",
            (archive_id,) if archive_id is not None else None)
        return [dependencyRow(r) for r in rows]

    # What a build request needs

    @defer.inlineCallbacks
    def sourcesContext(self, build, default_url):
        """C{(archive, primary, dependencies, primary_component)} for
        L{lp_buildmaster.model.archivedeps.sourcesList}.

        @param build: a L{lp_buildmaster.model.records.Build}.
        @param default_url: the URL of a primary archive that has none.
        """
        rows = yield self._all(SOURCES_CONTEXT, dict(
            archive=build.archive, series=build.distrorelease,
            distribution=build.distribution,
            primary=ArchivePurpose.PRIMARY.value))
        archive, primary, dependencies = contextFromRows(
            rows, build, default_url)
        primary_component = None
        if any(d.component is None for d in dependencies):
            row = yield self._one(PRIMARY_COMPONENT, (
                build.sourcepackagerelease, build.distrorelease, primary.id,
                [s.value for s in LIVE_PUBLISHING_STATUSES]))
            primary_component = row["component"] if row else None
        return archive, primary, dependencies, primary_component
