"""An in-memory store for logic tests, as Buildbot's fakedb backs its.

L{FakeStore} provides L{IStore} and each component's interface with the
semantics the scanner, the dispatcher, the failure judge, dependency waits
and C{why} rely on: build and queue states, a queue entry held by at most
one builder, reservations and starts, candidate selection (score
descending, then id; archive enabled; pocket allowed by the series'
status; chroot present; unpublished sources superseded on the way),
failure counts, guarded transitions that answer False when the state they
expect is gone. Tables are dicts of rows (plain dicts with the schema's
columns, enumerations as integers), so C{fromRow} makes the same records
as the real store does.

What it does not reproduce stays on PostgreSQL: SQL itself (prepared
statements, locks between two transactions, LISTEN/NOTIFY), the leases of
masters sharing a database (L{FakeJobStore.leasedVitals} refuses), the
views of the web pages and the accounts. tests/test_store_contract.py
runs the same checks of the core operations against both stores, so the
fake cannot drift from the real one.

Every method answers with an already-fired Deferred: the code under test
yields as it does on the real store.

The components over the catalogue (builders, builds, queue, library,
distro, sources) are here; those changing jobs' states (jobs, dispatch,
binaries) are in L{lp_buildmaster.testing.fakejobs}, world and masters
in L{lp_buildmaster.testing.fakeworld}.
"""

import dataclasses
import datetime
import hashlib
import itertools

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster import scoring
from lp_buildmaster.enums import (
    LIVE_PUBLISHING_STATUSES, ArchivePurpose, BuildStatus,
    DistroReleaseStatus, PackagePublishingPocket, PackagePublishingStatus,
    SourcePackageUrgency)
from lp_buildmaster.interfaces import (
    IBuilderStore, IBuildQueueStore, IBuildStore, IDistroStore,
    ILibraryStore, ISourceStore, IStore)
from lp_buildmaster.model.records import (
    Archive, Build, Builder, BuildQueue, DistroArchRelease, DistroRelease,
    Distribution, LibraryFileAlias, PocketChroot, Processor,
    SourcePackageRelease, fromRow)
from lp_buildmaster.store import sampledata
from lp_buildmaster.store.builders import DuplicateName
from lp_buildmaster.store.builds import (
    ACTIVE_BUILD_STATES, UPDATABLE, DuplicateBuild)
from lp_buildmaster.store.sources import DuplicateSource
from lp_buildmaster.text import notes

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
                                 architecturehintlist="any", dsc=""),
    "sourcepackagepublishinghistory": dict(component="main",
                                           datesuperseded=None),
    "builder": dict(title="", virtualized=False, manual=False, active=True,
                    builderok=True, failnotes=None, failure_count=0,
                    vm_host=None, clean=True, owner=None,
                    lease_expires=None),
    "build": dict(builder=None, date_started=None, datebuilt=None,
                  buildduration=None, buildlog=None, upload_log=None,
                  dependencies=None, failure_count=0, failnotes=None,
                  changesfile=None, buildinfo=None),
    "buildqueue": dict(builder=None, buildstart=None, lastscore=0,
                       manual=False, logtail=None, blocked=False),
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
        row["datecreated"] = self.now()
        row.update({k: getattr(v, "value", v) for k, v in values.items()})
        rows[row["id"]] = row
        return row["id"]

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
        architecturehintlist=spr["architecturehintlist"])
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


@implementer(IBuilderStore)
class FakeBuilderStore(FakeComponent):

    @_succeed
    def get(self, builder_id):
        row = self.tables.get("builder", builder_id)
        return None if row is None else fromRow(Builder, row)

    @_succeed
    def getByName(self, name):
        row = self.tables.one("builder", name=name)
        return None if row is None else fromRow(Builder, row)

    @_succeed
    def all(self, processor=None):
        rows = self.tables.where("builder") if processor is None else \
            self.tables.where("builder", processor=processor)
        return [fromRow(Builder, r) for r in sorted(
            rows, key=lambda r: r["name"])]

    @_succeed
    def add(self, name, url, processor, title="", virtualized=False,
            manual=False, vm_host=None):
        if self.tables.one("builder", name=name) is not None:
            raise DuplicateName("a builder named %r exists already" % name)
        return self.tables.insert(
            "builder", name=name, title=title or name, url=url,
            processor=processor, virtualized=virtualized, manual=manual,
            vm_host=vm_host)

    def update(self, builder_id, **values):
        allowed = {"url", "title", "virtualized", "manual", "active",
                   "builderok", "failnotes", "failure_count", "vm_host",
                   "clean", "processor"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError("cannot set %s" % ", ".join(sorted(unknown)))
        if values.get("failnotes") is not None:
            values["failnotes"] = notes(values["failnotes"])
        row = self.tables.get("builder", builder_id)
        if row is not None:
            row.update(values)
        return defer.succeed(None)

    def failBuilder(self, builder_id, reason):
        return self.update(builder_id, builderok=False, failnotes=reason)


@implementer(IBuildStore)
class FakeBuildStore(FakeComponent):

    def _build(self, build_id):
        row = buildRow(self.tables, build_id)
        return None if row is None else fromRow(Build, row)

    @_succeed
    def get(self, build_id):
        return self._build(build_id)

    @_succeed
    def getMany(self, build_ids):
        builds = (self._build(i) for i in set(build_ids))
        return {b.id: b for b in builds if b is not None}

    @_succeed
    def list(self, state=None, limit=100):
        ids = sorted(self.tables.table("build"), reverse=True)
        builds = (self._build(i) for i in ids)
        return [b for b in builds
                if state is None or b.buildstate == state][:limit]

    def update(self, build_id, **values):
        unknown = set(values) - UPDATABLE
        if unknown:
            raise ValueError("cannot set %s" % ", ".join(sorted(unknown)))
        row = self.tables.get("build", build_id)
        if row is not None:
            row.update({k: getattr(v, "value", v) for k, v in values.items()})
        return defer.succeed(None)

    @_succeed
    def create(self, distroarchrelease, sourcepackagerelease, archive,
               pocket, buildstate=BuildStatus.NEEDSBUILD):
        return self.tables.insert(
            "build", distroarchrelease=distroarchrelease,
            sourcepackagerelease=sourcepackagerelease, archive=archive,
            pocket=pocket, buildstate=buildstate)

    @_succeed
    def request(self, distroarchrelease, sourcepackagerelease, archive,
                pocket):
        active = {s.value for s in ACTIVE_BUILD_STATES}
        for row in self.tables.where(
                "build", sourcepackagerelease=sourcepackagerelease,
                distroarchrelease=distroarchrelease, archive=archive,
                pocket=pocket):
            if row["buildstate"] in active:
                raise DuplicateBuild(row["id"],
                                     BuildStatus(row["buildstate"]))
        build_id = self.tables.insert(
            "build", distroarchrelease=distroarchrelease,
            sourcepackagerelease=sourcepackagerelease, archive=archive,
            pocket=pocket, buildstate=BuildStatus.NEEDSBUILD)
        enqueue(self.tables, build_id,
                automaticScore(self.tables, build_id))
        return build_id

    @_succeed
    def retry(self, build_id, from_states):
        row = self.tables.get("build", build_id)
        if row is None or row["buildstate"] not in {
                s.value for s in from_states}:
            return None
        row.update(buildstate=BuildStatus.NEEDSBUILD.value, builder=None,
                   date_started=None, datebuilt=None, buildduration=None,
                   buildlog=None, upload_log=None, dependencies=None,
                   failure_count=0)
        for entry in self.tables.where("buildqueue", build=build_id):
            del self.tables.table("buildqueue")[entry["id"]]
        return enqueue(self.tables, build_id,
                       automaticScore(self.tables, build_id))

    @_succeed
    def transition(self, build_id, from_state, to_state, dequeue=False):
        row = self.tables.get("build", build_id)
        if row is None or row["buildstate"] != from_state.value:
            return False
        row["buildstate"] = to_state.value
        if dequeue:
            for entry in self.tables.where("buildqueue", build=build_id):
                del self.tables.table("buildqueue")[entry["id"]]
        return True

    @_succeed
    def dispatchContext(self, build_id):
        build = self._build(build_id)
        if build is None:
            return None
        t = self.tables
        queue = t.one("buildqueue", build=build_id)
        builders = sorted(t.where("builder", processor=build.processor),
                          key=lambda r: r["name"])
        busy = {q["builder"]: q["buildstart"] for q in t.where(
            "buildqueue", processor=build.processor)
            if q["builder"] is not None}
        chroot = t.one("pocketchroot",
                       distroarchrelease=build.distroarchrelease,
                       pocket=build.pocket)
        pending = sorted(
            (q for q in t.where(
                "buildqueue", processor=build.processor,
                virtualized=build.archive_require_virtualized)
             if q["builder"] is None),
            key=lambda q: (-q["lastscore"], q["id"]))
        durations = [b["buildduration"] for b in t.where(
            "build", buildstate=BuildStatus.FULLYBUILT)
            if b["buildduration"] is not None and t.get(
                "distroarchrelease", b["distroarchrelease"])["processor"]
            == build.processor]
        return {
            "build": build,
            "queue": None if queue is None else fromRow(BuildQueue, queue),
            "builders": [fromRow(Builder, b) for b in builders],
            "busy": busy,
            "chroot": None if chroot is None else fromRow(
                PocketChroot, chroot),
            "published": _published(t, build.sourcepackagerelease,
                                    build.distrorelease, build.archive),
            "pending": [q["id"] for q in pending],
            "mean_duration": (sum(durations, datetime.timedelta())
                              / len(durations)) if durations else None,
            "now": t.now(),
        }


@implementer(IBuildQueueStore)
class FakeBuildQueueStore(FakeComponent):

    def _one(self, **values):
        row = self.tables.one("buildqueue", **values)
        return None if row is None else fromRow(BuildQueue, row)

    @_succeed
    def get(self, buildqueue_id):
        return self._one(id=buildqueue_id)

    @_succeed
    def getByBuild(self, build_id):
        return self._one(build=build_id)

    @_succeed
    def getByBuilder(self, builder_id):
        if builder_id is None:
            return None
        return self._one(builder=builder_id)

    @_succeed
    def enqueue(self, build_id, score=0):
        return enqueue(self.tables, build_id, score)

    @_succeed
    def enqueueBuild(self, build_id):
        return enqueue(self.tables, build_id,
                       automaticScore(self.tables, build_id))

    @_succeed
    def pending(self, processor=None):
        rows = [q for q in self.tables.where("buildqueue")
                if q["builder"] is None
                and (processor is None or q["processor"] == processor)]
        rows.sort(key=lambda q: (-q["lastscore"], q["id"]))
        return [fromRow(BuildQueue, q) for q in rows]

    @_succeed
    def all(self):
        rows = sorted(self.tables.where("buildqueue"), key=lambda q: (
            q["builder"] is None, q["builder"] or 0, -q["lastscore"],
            q["id"]))
        return [fromRow(BuildQueue, q) for q in rows]

    @_succeed
    def rescore(self, buildqueue_id, score):
        row = self.tables.get("buildqueue", buildqueue_id)
        if row is None:
            return False
        row.update(lastscore=score, manual=True)
        return True

    @_succeed
    def automatic(self, buildqueue_id):
        row = self.tables.get("buildqueue", buildqueue_id)
        if row is None or row["builder"] is not None:
            return None
        row["manual"] = False
        row["lastscore"] = automaticScore(self.tables, row["build"])
        return row["lastscore"]

    def _rescore(self, build_id=None):
        changed = {}
        for row in self.tables.where("buildqueue"):
            if row["builder"] is not None or row["manual"]:
                continue
            if build_id is not None and row["build"] != build_id:
                continue
            score = automaticScore(self.tables, row["build"])
            if score != row["lastscore"]:
                row["lastscore"] = score
                changed[row["build"]] = score
        return changed

    @_succeed
    def rescoreAll(self):
        return self._rescore()

    @_succeed
    def rescoreBuild(self, build_id):
        return self._rescore(build_id)


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
            architecturehintlist="any", dsc=""):
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
            architecturehintlist=architecturehintlist, dsc=dsc)
        for alias, filetype in files:
            self.tables.insert("sourcepackagereleasefile",
                               sourcepackagerelease=spr, libraryfile=alias,
                               filetype=filetype)
        self.tables.insert(
            "sourcepackagepublishinghistory", sourcepackagerelease=spr,
            distrorelease=distrorelease, archive=archive, pocket=pocket,
            component=component, status=PackagePublishingStatus.PUBLISHED)
        return spr


@implementer(IStore)
class FakeStore:
    """The store in memory, with the seed's sample data unless
    C{sample=False}.

    @param clock: what C{now()} reads (an C{IReactorTime}); the wall
        clock by default.
    """

    def __init__(self, sample=True, clock=None):
        self.clock = clock
        self.tables = Tables(self.now)
        #: Calls made so far (the real store counts statements).
        self.statements = 0
        self.closed = False
        #: What L{ping} answers: a test may take the database away.
        self.available = True
        from lp_buildmaster.testing import fakejobs, fakeworld
        self.builders = FakeBuilderStore(self)
        self.builds = FakeBuildStore(self)
        self.queue = FakeBuildQueueStore(self)
        self.library = FakeLibraryStore(self)
        self.distro = FakeDistroStore(self)
        self.sources = FakeSourceStore(self)
        self.jobs = fakejobs.FakeJobStore(self)
        self.dispatch = fakejobs.FakeDispatchStore(self)
        self.binaries = fakejobs.FakeBinaryStore(self)
        self.world = fakeworld.FakeWorldStore(self)
        self.masters = fakeworld.FakeMasterStore(self)
        if sample:
            loadSampleData(self.tables)

    def now(self):
        if self.clock is None:
            return datetime.datetime.now(UTC)
        return datetime.datetime.fromtimestamp(self.clock.seconds(), UTC)

    def ping(self):
        return defer.succeed(self.available)

    def close(self):
        self.closed = True


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
