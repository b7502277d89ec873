"""The fake store's library, distro and sources components, on the rows
of L{lp_buildmaster.testing.faketables.Tables}."""

from zope.interface import implementer

from lp_buildmaster.enums import PackagePublishingStatus, SourcePackageUrgency
from lp_buildmaster.interfaces import (
    IDistroStore, ILibraryStore, ISourceStore)
from lp_buildmaster.model.records import (
    Archive, DistroArchRelease, DistroRelease, Distribution,
    LibraryFileAlias, PocketChroot, Processor, SourcePackageRelease,
    fromRow)
from lp_buildmaster.store.sources import DuplicateSource
from lp_buildmaster.testing.faketables import (
    FakeComponent, _published, _succeed)


@implementer(ILibraryStore)
class FakeLibraryStore(FakeComponent):

    def _alias(self, alias_id):
        alias = self.tables.get("libraryfilealias", alias_id)
        if alias is None:
            return None
        content = self.tables.get("libraryfilecontent", alias["content"])
        row = dict(alias, sha1=content["sha1"], sha256=content["sha256"],
                   filesize=content["filesize"])
        return fromRow(LibraryFileAlias, row)

    @_succeed
    def getAlias(self, alias_id):
        return self._alias(alias_id)

    @_succeed
    def getAliases(self, alias_ids):
        aliases = (self._alias(i) for i in set(alias_ids))
        return {a.id: a for a in aliases if a is not None}

    @_succeed
    def addAlias(self, sha1, sha256, size, filename, mimetype,
                 restricted=False, expires=None):
        content = self.tables.one("libraryfilecontent", sha1=sha1)
        content_id = content["id"] if content else self.tables.insert(
            "libraryfilecontent", sha1=sha1, sha256=sha256, filesize=size)
        return self.tables.insert(
            "libraryfilealias", content=content_id, filename=filename,
            mimetype=mimetype, restricted=restricted, expires=expires)


def darRow(tables, dar):
    dr = tables.get("distrorelease", dar["distrorelease"])
    return dict(
        dar, distribution_name=tables.get(
            "distribution", dr["distribution"])["name"],
        distrorelease_name=dr["name"], distrorelease_title=dr["title"],
        releasestatus=dr["releasestatus"],
        processor_name=tables.get("processor", dar["processor"])["name"])


@implementer(IDistroStore)
class FakeDistroStore(FakeComponent):

    @_succeed
    def getProcessor(self, name_or_id):
        column = "id" if isinstance(name_or_id, int) else "name"
        row = self.tables.one("processor", **{column: name_or_id})
        return None if row is None else fromRow(Processor, row)

    @_succeed
    def processors(self):
        return [fromRow(Processor, r) for r in sorted(
            self.tables.where("processor"), key=lambda r: r["name"])]

    @_succeed
    def getDistribution(self, name):
        row = self.tables.one("distribution", name=name)
        return None if row is None else fromRow(Distribution, row)

    def _series(self, distribution, name):
        d = self.tables.one("distribution", name=distribution)
        return d and self.tables.one("distrorelease", distribution=d["id"],
                                     name=name)

    @_succeed
    def getDistroRelease(self, distribution, name):
        row = self._series(distribution, name)
        return None if row is None else fromRow(DistroRelease, row)

    @_succeed
    def getDistroArchRelease(self, distribution, series=None, arch=None):
        if series is None:
            row = self.tables.get("distroarchrelease", distribution)
        else:
            dr = self._series(distribution, series)
            row = dr and self.tables.one(
                "distroarchrelease", distrorelease=dr["id"],
                architecturetag=arch)
        return None if row is None else fromRow(
            DistroArchRelease, darRow(self.tables, row))

    @_succeed
    def distroArchReleases(self):
        rows = [darRow(self.tables, r)
                for r in self.tables.where("distroarchrelease")]
        rows.sort(key=lambda r: (r["distribution_name"],
                                 r["distrorelease_name"],
                                 r["architecturetag"]))
        return [fromRow(DistroArchRelease, r) for r in rows]

    @_succeed
    def getChroot(self, distroarchrelease, pocket):
        row = self.tables.one("pocketchroot",
                              distroarchrelease=distroarchrelease,
                              pocket=pocket)
        return None if row is None else fromRow(PocketChroot, row)

    @_succeed
    def chroots(self, distroarchrelease):
        return [fromRow(PocketChroot, r) for r in sorted(
            self.tables.where("pocketchroot",
                              distroarchrelease=distroarchrelease),
            key=lambda r: r["pocket"])]

    @_succeed
    def setChroot(self, distroarchrelease, pocket, alias):
        row = self.tables.one("pocketchroot",
                              distroarchrelease=distroarchrelease,
                              pocket=pocket)
        if row is None:
            self.tables.insert("pocketchroot",
                               distroarchrelease=distroarchrelease,
                               pocket=pocket, chroot=alias)
        else:
            row["chroot"] = alias

    @_succeed
    def getArchive(self, distribution, name):
        d = self.tables.one("distribution", name=distribution)
        row = d and self.tables.one("archive", distribution=d["id"],
                                    name=name)
        return None if row is None else fromRow(Archive, row)


@implementer(ISourceStore)
class FakeSourceStore(FakeComponent):

    def _spr(self, row):
        if row is None:
            return None
        name = self.tables.get("sourcepackagename",
                               row["sourcepackagename"])["name"]
        return fromRow(SourcePackageRelease, dict(row, name=name))

    @_succeed
    def get(self, spr_id):
        return self._spr(self.tables.get("sourcepackagerelease", spr_id))

    @_succeed
    def files(self, spr_id):
        rows = self.tables.where("sourcepackagereleasefile",
                                 sourcepackagerelease=spr_id)
        rows.sort(key=lambda r: (r["filetype"] != "dsc", r["id"]))
        return [(r["libraryfile"], r["filetype"]) for r in rows]

    @_succeed
    def isPublished(self, spr_id, distrorelease, archive):
        return _published(self.tables, spr_id, distrorelease, archive)

    @_succeed
    def isPublishedInPocket(self, spr_id, distrorelease, archive, pocket):
        return _published(self.tables, spr_id, distrorelease, archive,
                          pocket)

    @_succeed
    def getByNameVersion(self, name, version):
        spn = self.tables.one("sourcepackagename", name=name)
        return self._spr(spn and self.tables.one(
            "sourcepackagerelease", sourcepackagename=spn["id"],
            version=version))

    @_succeed
    def add(self, name, version, files, distrorelease, archive, pocket,
            component="main", section="misc", urgency=None, maintainer="",
            architecturehintlist="any", dsc="", changed_by=""):
        urgency = urgency or SourcePackageUrgency.LOW
        spn = self.tables.one("sourcepackagename", name=name)
        spn_id = spn["id"] if spn else self.tables.insert(
            "sourcepackagename", name=name)
        if self.tables.one("sourcepackagerelease", sourcepackagename=spn_id,
                           version=version) is not None:
            raise DuplicateSource(
                "source %s %s exists already" % (name, version))
        spr = self.tables.insert(
            "sourcepackagerelease", sourcepackagename=spn_id,
            version=version, component=component, section=section,
            urgency=urgency, maintainer=maintainer,
            architecturehintlist=architecturehintlist, dsc=dsc,
            changed_by=changed_by)
        for alias, filetype in files:
            self.tables.insert("sourcepackagereleasefile",
                               sourcepackagerelease=spr, libraryfile=alias,
                               filetype=filetype)
        self.tables.insert(
            "sourcepackagepublishinghistory", sourcepackagerelease=spr,
            distrorelease=distrorelease, archive=archive, pocket=pocket,
            component=component, status=PackagePublishingStatus.PUBLISHED)
        return spr


