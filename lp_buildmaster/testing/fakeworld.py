"""The fake store's world (the definitions the admin commands edit, and a
build's archive context) and masters (heartbeats), on the rows of
L{lp_buildmaster.testing.faketables.Tables}, as L{lp_buildmaster.store.world}
and L{lp_buildmaster.store.masters} keep them in PostgreSQL.
"""

import datetime

from zope.interface import implementer

from lp_buildmaster.enums import ArchivePurpose
from lp_buildmaster.interfaces import IMasterStore, IWorldStore
from lp_buildmaster.store.masters import MasterInfo
from lp_buildmaster.store.world import (
    WorldError, archiveRow, contextFromRows, dependencyRow, seriesRow)
from lp_buildmaster.testing.faketables import _LIVE, FakeComponent, _succeed

UTC = datetime.timezone.utc

#: The unique names of each table the world edits.
_UNIQUE = {
    "processor": ("name",),
    "distribution": ("name",),
    "distrorelease": ("distribution", "name"),
    "distroarchrelease": ("distrorelease", "architecturetag"),
    "archive": ("distribution", "name"),
}


@implementer(IWorldStore)
class FakeWorldStore(FakeComponent):

    def _add(self, what, table, **values):
        values = {k: getattr(v, "value", v) for k, v in values.items()}
        key = {c: values[c] for c in _UNIQUE[table]}
        if self.tables.one(table, **key) is not None:
            raise WorldError("%s exists already" % (what,))
        return self.tables.insert(table, **values)

    def _update(self, table, row_id, values):
        row = self.tables.get(table, row_id)
        if row is not None:
            row.update({k: getattr(v, "value", v) for k, v in values.items()})

    def _name(self, table, row_id):
        row = self.tables.get(table, row_id)
        return None if row is None else row["name"]

    @_succeed
    def addProcessor(self, name, title, description=""):
        return self._add("a processor named %r" % (name,), "processor",
                         name=name, title=title, description=description)

    @_succeed
    def processorRows(self):
        return [{k: r[k] for k in ("id", "name", "title", "description")}
                for r in sorted(self.tables.where("processor"),
                                key=lambda r: r["name"])]

    @_succeed
    def updateProcessor(self, processor_id, **values):
        self._update("processor", processor_id, values)

    @_succeed
    def addDistribution(self, name, title, displayname):
        return self._add("a distribution named %r" % (name,),
                         "distribution", name=name, title=title,
                         displayname=displayname)

    @_succeed
    def distributionRows(self):
        return [{k: r[k] for k in ("id", "name", "title", "displayname")}
                for r in sorted(self.tables.where("distribution"),
                                key=lambda r: r["name"])]

    @_succeed
    def updateDistribution(self, distribution_id, **values):
        self._update("distribution", distribution_id, values)

    @_succeed
    def addSeries(self, distribution, name, title, version, status,
                  parent=None):
        return self._add("a series named %r" % (name,), "distrorelease",
                         distribution=distribution, name=name, title=title,
                         version=version, releasestatus=status,
                         parent_series=parent)

    @_succeed
    def seriesRows(self, distribution=None, series_id=None):
        t = self.tables
        rows = []
        for dr in t.where("distrorelease"):
            d = self._name("distribution", dr["distribution"])
            if distribution is not None and d != distribution:
                continue
            if series_id is not None and dr["id"] != series_id:
                continue
            nominated = t.get("distroarchrelease", dr["nominatedarchindep"])
            rows.append(seriesRow(dict(
                id=dr["id"], distribution=d, name=dr["name"],
                title=dr["title"], version=dr["version"],
                releasestatus=dr["releasestatus"],
                parent_series=self._name("distrorelease",
                                         dr["parent_series"]),
                nominated_arch_indep=nominated and nominated[
                    "architecturetag"])))
        return sorted(rows, key=lambda r: (r["distribution"], r["name"]))

    @_succeed
    def updateSeries(self, series_id, **values):
        self._update("distrorelease", series_id, values)

    @_succeed
    def addArch(self, series_id, tag, processor_id, official=True):
        return self._add("architecture %r of that series" % (tag,),
                         "distroarchrelease", distrorelease=series_id,
                         architecturetag=tag, processor=processor_id,
                         official=official)

    @_succeed
    def archRows(self, distribution=None, series=None, arch_id=None):
        t = self.tables
        rows = []
        for dar in t.where("distroarchrelease"):
            dr = t.get("distrorelease", dar["distrorelease"])
            d = self._name("distribution", dr["distribution"])
            if ((distribution is not None and d != distribution)
                    or (series is not None and dr["name"] != series)
                    or (arch_id is not None and dar["id"] != arch_id)):
                continue
            first = min(x["id"] for x in t.where(
                "distroarchrelease", distrorelease=dr["id"]))
            rows.append(dict(
                id=dar["id"], distribution=d, series=dr["name"],
                architecturetag=dar["architecturetag"],
                processor=self._name("processor", dar["processor"]),
                official=dar["official"],
                arch_indep=(dr["nominatedarchindep"] == dar["id"]
                            if dr["nominatedarchindep"] is not None
                            else dar["id"] == first)))
        return sorted(rows, key=lambda r: (
            r["distribution"], r["series"], r["architecturetag"]))

    @_succeed
    def updateArch(self, arch_id, **values):
        self._update("distroarchrelease", arch_id, values)

    @_succeed
    def addArchive(self, distribution, name, purpose, **values):
        return self._add("an archive named %r" % (name,), "archive",
                         distribution=distribution, name=name,
                         purpose=purpose, **values)

    @_succeed
    def archiveRows(self, distribution=None, archive_id=None):
        rows = []
        for a in self.tables.where("archive"):
            d = self._name("distribution", a["distribution"])
            if ((distribution is not None and d != distribution)
                    or (archive_id is not None and a["id"] != archive_id)):
                continue
            row = {k: a[k] for k in (
                "id", "name", "purpose", "owner", "archive_url", "private",
                "enabled", "require_virtualized", "relative_build_score",
                "signing_key_fingerprint", "external_dependencies")}
            row["distribution"] = d
            rows.append(archiveRow(row))
        return sorted(rows, key=lambda r: (r["distribution"], r["name"]))

    @_succeed
    def updateArchive(self, archive_id, **values):
        self._update("archive", archive_id, values)

    def _primary(self, distribution_id):
        ids = [a["id"] for a in self.tables.where(
            "archive", distribution=distribution_id,
            purpose=ArchivePurpose.PRIMARY)]
        return min(ids) if ids else None

    @_succeed
    def primaryArchive(self, distribution_id):
        return self._primary(distribution_id)

    @_succeed
    def setDependency(self, archive_id, dependency_id, pocket, component):
        row = self.tables.one("archivedependency", archive=archive_id,
                              dependency=dependency_id)
        if row is None:
            self.tables.insert("archivedependency", archive=archive_id,
                               dependency=dependency_id, pocket=pocket,
                               component=component)
        else:
            row.update(pocket=pocket.value, component=component)

    @_succeed
    def removeDependency(self, archive_id, dependency_id):
        row = self.tables.one("archivedependency", archive=archive_id,
                              dependency=dependency_id)
        if row is not None:
            del self.tables.table("archivedependency")[row["id"]]
        return row is not None

    @_succeed
    def dependencyRows(self, archive_id=None):
        t = self.tables
        rows = []
        for ad in t.where("archivedependency"):
            if archive_id is not None and ad["archive"] != archive_id:
                continue
            a, dep = t.get("archive", ad["archive"]), t.get(
                "archive", ad["dependency"])
            rows.append(dependencyRow(dict(
                id=ad["id"],
                distribution=self._name("distribution", a["distribution"]),
                archive=a["name"],
                dependency_distribution=self._name(
                    "distribution", dep["distribution"]),
                dependency=dep["name"], pocket=ad["pocket"],
                component=ad["component"])))
        return sorted(rows, key=lambda r: (r["distribution"], r["archive"],
                                           r["id"]))

    @_succeed
    def sourcesContext(self, build, default_url):
        t = self.tables
        primary_id = self._primary(build.distribution)
        deps = t.where("archivedependency", archive=build.archive)
        wanted = [(build.archive, None)] + [
            (ad["dependency"], ad) for ad in deps]
        if primary_id is not None:
            wanted.append((primary_id, None))
        rows = []
        seen = set()
        for archive_id, ad in wanted:
            if ad is None and archive_id in seen:
                continue
            seen.add(archive_id)
            a = t.get("archive", archive_id)
            rows.append(dict(
                id=a["id"], name=a["name"], purpose=a["purpose"],
                archive_url=a["archive_url"], signing_key=a["signing_key"],
                external_dependencies=a["external_dependencies"],
                has_binaries=(
                    a["purpose"] == ArchivePurpose.PRIMARY.value
                    or bool(t.where("binarypackagerelease",
                                    distrorelease=build.distrorelease,
                                    archive=a["id"]))),
                dep_id=ad and ad["id"], dep_pocket=ad and ad["pocket"],
                dep_component=ad and ad["component"],
                primary_id=primary_id))
        # The real query orders by the dependency's id, NULLS FIRST.
        rows.sort(key=lambda r: (r["dep_id"] is not None, r["dep_id"] or 0))
        archive, primary, dependencies = contextFromRows(
            rows, build, default_url)
        primary_component = None
        if any(d.component is None for d in dependencies):
            name = t.get("sourcepackagerelease",
                         build.sourcepackagerelease)["sourcepackagename"]
            sprs = {s["id"] for s in t.where("sourcepackagerelease",
                                             sourcepackagename=name)}
            live = [p for p in t.where(
                "sourcepackagepublishinghistory",
                distrorelease=build.distrorelease, archive=primary.id)
                if p["sourcepackagerelease"] in sprs and p["status"] in _LIVE]
            primary_component = live[-1]["component"] if live else None
        return archive, primary, dependencies, primary_component


@implementer(IMasterStore)
class FakeMasterStore(FakeComponent):

    def _now(self, now):
        return self.store.now() if now is None else \
            datetime.datetime.fromtimestamp(now, UTC)

    @_succeed
    def heartbeat(self, name, lifetime, now=None, web_url=None,
                  librarian_url=None):
        now = self._now(now)
        masters = self.tables.table("master")
        seen = {m["name"]: MasterInfo(
            name=m["name"], live=m["expires"] > now,
            age=(now - m["heartbeat"]).total_seconds(),
            web_url=m["web_url"], librarian_url=m["librarian_url"])
            for m in masters.values()}
        old = masters.get(name)
        masters[name] = dict(
            id=name, name=name, heartbeat=now,
            expires=now + datetime.timedelta(seconds=lifetime),
            started=(old["started"] if old and old["expires"] >= now
                     else now),
            web_url=web_url, librarian_url=librarian_url)
        seen[name] = MasterInfo(name=name, live=True, age=0.0,
                                web_url=web_url, librarian_url=librarian_url)
        return [seen[key] for key in sorted(seen)]

    @_succeed
    def all(self):
        now = self.store.now()
        return [MasterInfo(
            name=m["name"], live=m["expires"] > now,
            age=(now - m["heartbeat"]).total_seconds(),
            web_url=m["web_url"], librarian_url=m["librarian_url"],
            builders=len(self.tables.where("builder", owner=m["name"])))
            for _, m in sorted(self.tables.table("master").items())]

    @_succeed
    def leave(self, name):
        for b in self.tables.where("builder", owner=name):
            b["owner"] = None
        self.tables.table("master").pop(name, None)
