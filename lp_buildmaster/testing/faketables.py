"""The fake store's rows: L{Tables} (dicts of rows with the schema's
columns and defaults, enumerations as integers), the seed's sample data as
rows, and the helpers the fake components share (a build joined as the
real store joins it, its automatic score, whether it is blocked, queueing
it). See L{lp_buildmaster.testing.fakestore}.
"""

import dataclasses
import datetime
import hashlib
import itertools

import psycopg2

from twisted.internet import defer

from lp_buildmaster import scoring
from lp_buildmaster.enums import (
    LIVE_PUBLISHING_STATUSES, ArchivePurpose, BuildStatus,
    DistroReleaseStatus, PackagePublishingPocket, PackagePublishingStatus,
    SourcePackageUrgency)
from lp_buildmaster.model.records import Builder
from lp_buildmaster.store import sampledata

UTC = datetime.timezone.utc
_LIVE = frozenset(s.value for s in LIVE_PUBLISHING_STATUSES)

#: Column defaults of the schema, per table.
DEFAULTS = {
    "processor": dict(description=""),
    "distrorelease": dict(version="", parent_series=None,
                          nominatedarchindep=None),
    "distroarchrelease": dict(official=True),
    "archive": dict(owner="", private=False, require_virtualized=False,
                    enabled=True, relative_build_score=0, archive_url=None,
                    signing_key_fingerprint=None, signing_key=None,
                    external_dependencies=None),
    "libraryfilealias": dict(restricted=False, expires=None),
    "pocketchroot": dict(chroot=None),
    "sourcepackagerelease": dict(component="main", section="misc",
                                 urgency=1, maintainer="",
                                 architecturehintlist="any", dsc="",
                                 changed_by=""),
    "sourcepackagepublishinghistory": dict(component="main",
                                           datesuperseded=None),
    "builder": dict(title="", virtualized=False, manual=False, active=True,
                    builderok=True, failnotes=None, failure_count=0,
                    vm_host=None, clean=True, owner=None,
                    last_scanned=None),
    "build": dict(builder=None, date_started=None, datebuilt=None,
                  buildduration=None, buildlog=None, upload_log=None,
                  dependencies=None, failure_count=0, failnotes=None,
                  changesfile=None, buildinfo=None,
                  job_type="binarypackage"),
    "buildqueue": dict(builder=None, buildstart=None, lastscore=0,
                       manual=False, logtail=None, blocked=False),
}


#: The tables with a C{datecreated} column.
DATECREATED = frozenset([
    "archivedependency", "binarypackagerelease", "build", "builder",
    "buildqueue", "libraryfilealias", "libraryfilecontent",
    "sourcepackagepublishinghistory", "sourcepackagerelease"])

#: Tables whose key is not an C{id} column: the fake keys their rows by
#: C{id} all the same.
KEYED_OTHERWISE = {"master": "name", "translationtemplatesbuild": "build"}

#: The schema's unique indexes the logic could trip over.
UNIQUE = {
    "builder": [("name",)],
    "buildqueue": [("build",), ("builder",)],
    "libraryfilecontent": [("sha1",)],
    "sourcepackagename": [("name",)],
    "pocketchroot": [("distroarchrelease", "pocket")],
}


class Tables:
    """The rows, by table and id, and the sequences."""

    def __init__(self, now):
        self.now = now
        self.rows = {}
        self._ids = {}

    def table(self, name):
        return self.rows.setdefault(name, {})

    def insert(self, table, **values):
        """A new row (the schema's defaults filled in); its id."""
        rows = self.table(table)
        if values.get("id") is None:
            ids = self._ids.setdefault(table, itertools.count(1))
            row_id = next(ids)
            while row_id in rows:
                row_id = next(ids)
            values["id"] = row_id
        row = dict(DEFAULTS.get(table, {}))
        if table in DATECREATED:
            row["datecreated"] = self.now()
        if table == "builder":
            # Kept by triggers in PostgreSQL as the builder changes state;
            # here only set: the pages that show it run on PostgreSQL.
            row["state_since"] = self.now()
        row.update({k: getattr(v, "value", v) for k, v in values.items()})
        for columns in UNIQUE.get(table, ()):
            self.checkUnique(table, row, columns)
        rows[row["id"]] = row
        return row["id"]

    def checkUnique(self, table, row, columns):
        """Refuse C{row} as the schema's unique index on C{columns} of
        C{table} does (NULLs never conflict), with the same exception."""
        key = tuple(row[c] for c in columns)
        if None in key:
            return
        for other in self.table(table).values():
            if other is not row and other["id"] != row["id"] and tuple(
                    other[c] for c in columns) == key:
                raise psycopg2.IntegrityError(
                    "duplicate key value violates unique constraint on"
                    " %s (%s)" % (table, ", ".join(columns)))

    def set(self, table, row, **values):
        """Change columns of C{row}, checking the unique indexes."""
        changed = dict(row, **{k: getattr(v, "value", v)
                               for k, v in values.items()})
        for columns in UNIQUE.get(table, ()):
            if set(columns) & set(values):
                self.checkUnique(table, changed, columns)
        row.update(changed)

    def get(self, table, row_id):
        return self.table(table).get(row_id)

    def where(self, table, **values):
        """The rows of C{table} whose columns equal C{values}, by id."""
        values = {k: getattr(v, "value", v) for k, v in values.items()}
        return [row for _, row in sorted(self.table(table).items())
                if all(row.get(k) == v for k, v in values.items())]

    def one(self, table, **values):
        rows = self.where(table, **values)
        return rows[0] if rows else None


def _published(tables, spr_id, distrorelease, archive, pocket=None):
    """Whether a source is live in a series and archive (and pocket)."""
    for row in tables.where("sourcepackagepublishinghistory",
                            sourcepackagerelease=spr_id,
                            distrorelease=distrorelease, archive=archive):
        if row["status"] in _LIVE and (
                pocket is None or row["pocket"] == pocket.value):
            return True
    return False


def buildRow(tables, build_id):
    """A build's row joined as the real store's BUILD_SELECT joins it."""
    b = tables.get("build", build_id)
    if b is None:
        return None
    a = tables.get("archive", b["archive"])
    dar = tables.get("distroarchrelease", b["distroarchrelease"])
    dr = tables.get("distrorelease", dar["distrorelease"])
    spr = tables.get("sourcepackagerelease", b["sourcepackagerelease"])
    row = dict(b)
    row.update(
        archive_name=a["name"], archive_purpose=a["purpose"],
        archive_private=a["private"],
        archive_require_virtualized=a["require_virtualized"],
        archive_enabled=a["enabled"], architecturetag=dar["architecturetag"],
        processor=dar["processor"],
        processor_name=tables.get("processor", dar["processor"])["name"],
        distrorelease=dr["id"], distrorelease_name=dr["name"],
        releasestatus=dr["releasestatus"], distribution=dr["distribution"],
        distribution_name=tables.get("distribution",
                                     dr["distribution"])["name"],
        source_name=tables.get("sourcepackagename",
                               spr["sourcepackagename"])["name"],
        source_version=spr["version"], component=spr["component"],
        urgency=spr["urgency"], maintainer=spr["maintainer"],
        architecturehintlist=spr["architecturehintlist"],
        changed_by=spr["changed_by"])
    return row


def automaticScore(tables, build_id):
    """The automatic score of a build (as L{scoring} computes it)."""
    b = tables.get("build", build_id)
    spr = tables.get("sourcepackagerelease", b["sourcepackagerelease"])
    a = tables.get("archive", b["archive"])
    return scoring.scoreBuild(
        PackagePublishingPocket(b["pocket"]), spr["component"],
        SourcePackageUrgency(spr["urgency"]), ArchivePurpose(a["purpose"]),
        a["private"], a["relative_build_score"])


def blocked(tables, build_id):
    """Whether nothing can dispatch a build (migration 0005's
    C{build_blocked}): archive disabled, pocket not allowed by the
    series' status, or no chroot for its pocket."""
    b = tables.get("build", build_id)
    a = tables.get("archive", b["archive"])
    dar = tables.get("distroarchrelease", b["distroarchrelease"])
    dr = tables.get("distrorelease", dar["distrorelease"])
    released = DistroReleaseStatus(dr["releasestatus"]) in (
        DistroReleaseStatus.CURRENT, DistroReleaseStatus.SUPPORTED,
        DistroReleaseStatus.OBSOLETE)
    chroot = any(pc["chroot"] is not None for pc in tables.where(
        "pocketchroot", distroarchrelease=dar["id"], pocket=b["pocket"]))
    return not (a["enabled"] and released == (b["pocket"] != 0) and chroot)


def enqueue(tables, build_id, score):
    """A queue entry for a build; its id (KeyError for no such build)."""
    b = tables.get("build", build_id)
    if b is None:
        raise KeyError("no build %d" % (build_id,))
    dar = tables.get("distroarchrelease", b["distroarchrelease"])
    a = tables.get("archive", b["archive"])
    return tables.insert("buildqueue", build=build_id, lastscore=score,
                         processor=dar["processor"],
                         virtualized=a["require_virtualized"])


def _succeed(fn):
    """A method whose result (or exception) comes in a fired Deferred."""
    def method(*args, **kwargs):
        return defer.maybeDeferred(fn, *args, **kwargs)
    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    method.__wrapped__ = fn
    return method


class FakeComponent:

    def __init__(self, store):
        self.store = store
        self.tables = store.tables




def loadSampleData(tables):
    """The seed's world (L{sampledata}'s tables) as rows."""
    t = tables
    x86 = t.insert("processor", name="x86", title="Intel 386",
                   description="Intel 386 and its many derivatives.")
    amd64 = t.insert("processor", name="amd64", title="AMD 64",
                     description="64-bit x86.")
    ubuntu = t.insert("distribution", name="ubuntu", title="Ubuntu",
                      displayname="Ubuntu")
    series = {
        "warty": t.insert("distrorelease", distribution=ubuntu,
                          name="warty", title="The Warty Warthog Release",
                          version="4.10",
                          releasestatus=DistroReleaseStatus.CURRENT),
        "hoary": t.insert("distrorelease", distribution=ubuntu,
                          name="hoary", title="The Hoary Hedgehog Release",
                          version="5.04",
                          releasestatus=DistroReleaseStatus.DEVELOPMENT),
    }
    dars = {
        ("warty", "i386"): t.insert(
            "distroarchrelease", distrorelease=series["warty"],
            architecturetag="i386", processor=x86),
        ("hoary", "i386"): t.insert(
            "distroarchrelease", distrorelease=series["hoary"],
            architecturetag="i386", processor=x86),
        ("hoary", "amd64"): t.insert(
            "distroarchrelease", distrorelease=series["hoary"],
            architecturetag="amd64", processor=amd64),
    }
    primary = t.insert("archive", distribution=ubuntu, name="primary",
                       purpose=ArchivePurpose.PRIMARY, owner="ubuntu")
    t.insert("archive", distribution=ubuntu, name="ppa",
             purpose=ArchivePurpose.PPA, owner="cprov",
             require_virtualized=True, relative_build_score=-10)
    builders = {
        "bob": t.insert("builder", name="bob", title="Bob The Builder",
                        url="http://127.0.0.1:8221/", processor=x86),
        "frog": t.insert("builder", name="frog", title="The Frog Builder",
                         url="http://127.0.0.1:8222/", processor=x86,
                         manual=True),
    }
    sprs = []
    for index, files in sampledata.allSourceFiles():
        name, version, component, urgency, maintainer = \
            sampledata.SOURCES[index]
        spn = t.insert("sourcepackagename", name=name)
        spr = t.insert("sourcepackagerelease", sourcepackagename=spn,
                       version=version, component=component,
                       urgency=urgency, maintainer=maintainer,
                       dsc=files[0][1].decode("utf-8"))
        sprs.append(spr)
        for filename, data, filetype in files:
            content = t.insert(
                "libraryfilecontent", sha1=hashlib.sha1(data).hexdigest(),
                sha256=hashlib.sha256(data).hexdigest(),
                filesize=len(data))
            alias = t.insert(
                "libraryfilealias", content=content, filename=filename,
                mimetype=("text/plain" if filetype == "dsc"
                          else "application/gzip"))
            t.insert("sourcepackagereleasefile", sourcepackagerelease=spr,
                     libraryfile=alias, filetype=filetype)
        for series_name, pocket in [("warty", "RELEASE"),
                                    ("warty", "SECURITY"),
                                    ("warty", "UPDATES"),
                                    ("hoary", "RELEASE")]:
            t.insert("sourcepackagepublishinghistory",
                     sourcepackagerelease=spr,
                     distrorelease=series[series_name], archive=primary,
                     pocket=PackagePublishingPocket[pocket],
                     component=component,
                     status=PackagePublishingStatus.PUBLISHED)
    base = datetime.datetime(2005, 3, 1, 10, 0, tzinfo=UTC)
    for (build_id, source, series_name, arch, pocket, state, builder,
         dependencies) in sampledata.BUILDS:
        t.insert("build", id=build_id,
                 distroarchrelease=dars[(series_name, arch)],
                 sourcepackagerelease=sprs[source], archive=primary,
                 pocket=PackagePublishingPocket[pocket],
                 buildstate=BuildStatus[state],
                 builder=builders[builder] if builder else None,
                 dependencies=dependencies,
                 datebuilt=(None if state in ("NEEDSBUILD", "BUILDING")
                            else base + datetime.timedelta(hours=build_id)))
    start = datetime.datetime(2005, 1, 1, 8, 0, tzinfo=UTC)
    for queue_id, build_id, builder, score in sampledata.QUEUE:
        b = t.get("build", build_id)
        t.insert("buildqueue", id=queue_id, build=build_id,
                 builder=builders[builder] if builder else None,
                 buildstart=start if builder else None, lastscore=score,
                 processor=t.get("distroarchrelease",
                                 b["distroarchrelease"])["processor"],
                 virtualized=False)


#: The fields of a builder's vitals, as the real store reads them.
BUILDER_FIELDS = [f.name for f in dataclasses.fields(Builder)]

