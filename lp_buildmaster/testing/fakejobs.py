"""The fake store's components that change jobs' states: jobs (the
scan's vitals, leases and transitions), dispatch (candidate selection,
reservation, start), binaries (dependency waits) and scan times.

Each mirrors its real component in L{lp_buildmaster.store} statement by
statement, on the rows of L{lp_buildmaster.testing.faketables.Tables}.
"""

import datetime
import re

from zope.interface import implementer

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.interfaces import (
    IBinaryStore, IDispatchStore, IJobStore, IScanTimeStore)
from lp_buildmaster.model.packages import DepWaitingBuild, PublishedBinary
from lp_buildmaster.model.records import Builder, fromRow
from lp_buildmaster.store.dispatch import DispatchContext, Reservation
from lp_buildmaster.store.jobs import (
    ACTIVE_STATES, AWAITING_UPLOAD, NotAwaitingUpload)
from lp_buildmaster.store.vitals import BuilderVitals, LeasedVitals
from lp_buildmaster.testing.faketables import (
    BUILDER_FIELDS, FakeComponent, _published, _succeed, blocked)
from lp_buildmaster.text import notes


def _vitals(tables, builder, previous):
    """L{BuilderVitals} of a builder row, reusing C{previous}'s when its
    values did not change (as the real store compares its JSON)."""
    queue = tables.one("buildqueue", builder=builder["id"])
    build = queue and tables.get("build", queue["build"])
    raw = tuple(builder[f] for f in BUILDER_FIELDS) + (
        queue and queue["id"], queue and queue["build"],
        build and build["buildstate"], queue and queue["buildstart"],
        build and build["failure_count"])
    old = (previous or {}).get(builder["name"])
    if old is not None and old.raw == raw:
        return old
    return BuilderVitals(
        builder=fromRow(Builder, builder),
        queue_id=queue["id"] if queue else None,
        build_id=queue["build"] if queue else None,
        build_state=(BuildStatus(build["buildstate"]) if build else None),
        buildstart=queue["buildstart"] if queue else None,
        job_failures=build["failure_count"] if build else None, raw=raw)


def _delete(tables, table, row_id):
    tables.table(table).pop(row_id, None)


def _release(tables, queue_id, build_id, builder_id, state, givenback=False,
             job_failed=False, builder_failed=False, failnotes=None,
             buildlog=None, build_failnotes=None):
    """L{lp_buildmaster.store.jobs._release} on the rows."""
    failnotes = notes(failnotes)
    build_failnotes = notes(build_failnotes)
    waiting = state == BuildStatus.NEEDSBUILD
    build = tables.get("build", build_id)
    build["buildstate"] = state.value
    build["failure_count"] += int(job_failed)
    if buildlog is not None:
        build["buildlog"] = buildlog
    if build_failnotes is not None:
        build["failnotes"] = build_failnotes
    if waiting:
        build["builder"] = build["date_started"] = None
        entry = tables.get("buildqueue", queue_id)
        entry.update(builder=None, buildstart=None, logtail=None)
        if givenback:
            entry["lastscore"] = 0
    else:
        _delete(tables, "buildqueue", queue_id)
    builder = tables.get("builder", builder_id)
    builder["clean"] = not builder["virtualized"]
    builder["failure_count"] += int(builder_failed)
    builder["builderok"] = builder["builderok"] and failnotes is None
    if failnotes is not None:
        builder["failnotes"] = failnotes


def _held(tables, queue_id, builder_id):
    entry = tables.get("buildqueue", queue_id)
    if entry is None or entry["builder"] != builder_id:
        return None
    return entry


@implementer(IJobStore)
class FakeJobStore(FakeComponent):

    @_succeed
    def allVitals(self, previous=None):
        return {b["name"]: _vitals(self.tables, b, previous)
                for b in self.tables.where("builder")}

    @_succeed
    def leasedVitals(self, owner, wanted, previous=None, now=None):
        t = self.tables
        now = self.store.now() if now is None else \
            datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        live = {m["name"] for m in t.table("master").values()
                if m["expires"] > now}
        wanted = set(wanted)
        taken = {}
        for b in t.where("builder"):
            if (b["name"] in wanted and b["active"] and b["builderok"]
                    and (b["owner"] is None or b["owner"] not in live)):
                taken[b["name"]] = b["owner"]
                b["owner"] = owner
        vitals = {b["name"]: _vitals(t, b, previous)
                  for b in t.where("builder", owner=owner)
                  if b["name"] in wanted and b["active"] and b["builderok"]}
        owners = {b["name"]: (b["owner"], b["active"] and b["builderok"])
                  for b in t.where("builder")}
        return LeasedVitals(vitals=vitals, owners=owners, taken=taken)

    @_succeed
    def vitals(self, name):
        builder = self.tables.one("builder", name=name)
        return None if builder is None else _vitals(self.tables, builder,
                                                    None)

    @_succeed
    def setLogtails(self, logtails):
        for queue_id, text in logtails.items():
            entry = self.tables.get("buildqueue", queue_id)
            if entry is not None:
                entry["logtail"] = text

    @_succeed
    def finishJob(self, queue_id, build_id, builder_id, state, datebuilt,
                  buildlog=None, dependencies=None, success=False):
        t = self.tables
        entry = _held(t, queue_id, builder_id)
        build = t.get("build", build_id)
        if (entry is None or entry["build"] != build_id
                or build["buildstate"] not in ACTIVE_STATES):
            return False
        start = entry["buildstart"]
        build.update(
            buildstate=state.value, builder=builder_id, datebuilt=datebuilt,
            buildduration=(datebuilt - start) if start is not None
            else None, dependencies=dependencies)
        if buildlog is not None:
            build["buildlog"] = buildlog
        _delete(t, "buildqueue", queue_id)
        builder = t.get("builder", builder_id)
        builder["clean"] = not builder["virtualized"]
        if success:
            builder["failure_count"] = 0
        return True

    @_succeed
    def releaseJob(self, queue_id, builder_id, state=BuildStatus.NEEDSBUILD,
                   givenback=False, job_failed=False, builder_failed=False,
                   failnotes=None, buildlog=None, build_failnotes=None):
        entry = _held(self.tables, queue_id, builder_id)
        if entry is None:
            return False
        _release(self.tables, queue_id, entry["build"], builder_id, state,
                 givenback, job_failed, builder_failed, failnotes, buildlog,
                 build_failnotes)
        return True

    @_succeed
    def countAndAct(self, builder_id, judge, queue_id=None):
        t = self.tables
        build_id = None
        if queue_id is not None:
            entry = _held(t, queue_id, builder_id)
            if entry is None:
                return None
            build_id = entry["build"]
        # Judged before anything changes: a judge that raises leaves the
        # rows as they were, as the real transaction's rollback does.
        builder = t.get("builder", builder_id)
        build = None if build_id is None else t.get("build", build_id)
        builder_count = None if builder is None else \
            builder["failure_count"] + 1
        job_count = None if build is None else build["failure_count"] + 1
        action = judge(builder_count, job_count)
        if builder is not None:
            builder["failure_count"] = builder_count
        if build is not None:
            build["failure_count"] = job_count
        if build_id is not None and action.job_state is not None:
            _release(t, queue_id, build_id, builder_id, action.job_state,
                     failnotes=action.failnotes,
                     build_failnotes=action.build_failnotes)
        elif action.failnotes is not None and builder is not None:
            builder.update(builderok=False, failnotes=notes(action.failnotes))
        if action.reset_builder_count and builder is not None:
            builder["failure_count"] = 0
        return builder_count, job_count, action

    @_succeed
    def countFailures(self, builder_id, build_id=None):
        builder = self.tables.get("builder", builder_id)
        build = None if build_id is None else self.tables.get(
            "build", build_id)
        for row in (builder, build):
            if row is not None:
                row["failure_count"] += 1
        return (builder and builder["failure_count"],
                build and build["failure_count"])

    @_succeed
    def recordUpload(self, build_id, stored, binaries=(), changes=None):
        t = self.tables
        build = t.get("build", build_id)
        state = None if build is None else BuildStatus(build["buildstate"])
        if state not in AWAITING_UPLOAD:
            raise NotAwaitingUpload(build_id, state)
        for alias, filetype in stored:
            t.insert("buildfile", build=build_id, libraryfile=alias,
                     filetype=filetype)
        recordBinaries(t, build_id, binaries)
        buildinfo = next((alias for alias, filetype in stored
                          if filetype == "buildinfo"), None)
        build.update(buildstate=BuildStatus.FULLYBUILT.value,
                     changesfile=changes, buildinfo=buildinfo)
        if changes is not None or buildinfo is not None:
            for row in t.where("binarypackagerelease", build=build_id):
                row.update(changesfile=changes, buildinfo=buildinfo)

    @_succeed
    def markFailedToUpload(self, build_id, failnotes=None):
        build = self.tables.get("build", build_id)
        if build is None or BuildStatus(build["buildstate"]) not in \
                AWAITING_UPLOAD:
            return False
        build["buildstate"] = BuildStatus.FAILEDTOUPLOAD.value
        if notes(failnotes) is not None:
            build["failnotes"] = notes(failnotes)
        log = self.tables.get("libraryfilealias", build["buildlog"])
        if log is not None:
            log["filename"] = re.sub(r"_FULLYBUILT[.]txt[.]gz$",
                                     "_FAILEDTOUPLOAD.txt.gz",
                                     log["filename"])
        return True

    @_succeed
    def release(self, owner, names):
        for b in self.tables.where("builder", owner=owner):
            if b["name"] in names:
                b["owner"] = None


@implementer(IDispatchStore)
class FakeDispatchStore(FakeComponent):

    def _candidate(self, processor, virtualized, queue_id):
        t = self.tables
        rows = [q for q in t.where("buildqueue")
                if q["builder"] is None and q["processor"] == processor
                and q["virtualized"] == virtualized
                and (queue_id is None or q["id"] == queue_id)
                and t.get("build", q["build"])["buildstate"]
                == BuildStatus.NEEDSBUILD.value
                and not blocked(t, q["build"])]
        rows.sort(key=lambda q: (-q["lastscore"], q["id"]))
        return rows[0] if rows else None

    @_succeed
    def reserve(self, builder_id, processor, virtualized, queue_id=None):
        t = self.tables
        superseded = []
        while True:
            entry = self._candidate(processor, virtualized, queue_id)
            if entry is None:
                return (None if not superseded
                        else Reservation(None, None, tuple(superseded)))
            build = t.get("build", entry["build"])
            series = t.get("distroarchrelease",
                           build["distroarchrelease"])["distrorelease"]
            if not _published(t, build["sourcepackagerelease"], series,
                              build["archive"]):
                build["buildstate"] = BuildStatus.SUPERSEDED.value
                _delete(t, "buildqueue", entry["id"])
                superseded.append(build["id"])
                continue
            t.set("buildqueue", entry, builder=builder_id, buildstart=None)
            return Reservation(entry["id"], build["id"], tuple(superseded))

    @_succeed
    def start(self, queue_id, builder_id, when):
        entry = _held(self.tables, queue_id, builder_id)
        if entry is None or entry["buildstart"] is not None:
            return False
        entry.update(buildstart=when, logtail=None)
        self.tables.get("build", entry["build"]).update(
            buildstate=BuildStatus.BUILDING.value, builder=builder_id,
            date_started=when, failnotes=None)
        return True

    @_succeed
    def release(self, queue_id, builder_id):
        entry = _held(self.tables, queue_id, builder_id)
        if entry is not None and entry["buildstart"] is None:
            entry["builder"] = None

    @_succeed
    def refuse(self, queue_id, builder_id, failnotes):
        entry = _held(self.tables, queue_id, builder_id)
        if entry is None or entry["buildstart"] is not None:
            return False
        _delete(self.tables, "buildqueue", queue_id)
        self.tables.get("build", entry["build"]).update(
            buildstate=BuildStatus.FAILEDTOBUILD.value,
            failnotes=notes(failnotes))
        return True

    @_succeed
    def context(self, build_id, sourcepackagerelease):
        t = self.tables
        build = t.get("build", build_id)
        chroot = arch_indep = None
        if build is not None:
            dar = t.get("distroarchrelease", build["distroarchrelease"])
            series = t.get("distrorelease", dar["distrorelease"])
            pc = t.one("pocketchroot", distroarchrelease=dar["id"],
                       pocket=build["pocket"])
            chroot = pc and pc["chroot"]
            nominated = series["nominatedarchindep"]
            arch_indep = (nominated == dar["id"] if nominated is not None
                          else dar["id"] == min(
                              d["id"] for d in t.where(
                                  "distroarchrelease",
                                  distrorelease=series["id"])))
        files = sorted(t.where("sourcepackagereleasefile",
                               sourcepackagerelease=sourcepackagerelease),
                       key=lambda r: (r["filetype"] != "dsc", r["id"]))
        return DispatchContext(
            chroot=chroot, arch_indep=bool(arch_indep),
            source_files=tuple(r["libraryfile"] for r in files))


def recordBinaries(tables, build_id, binaries):
    """L{lp_buildmaster.store.binaries.recordBinaries} on the rows."""
    binaries = list(binaries)
    if not binaries:
        return 0
    build = tables.get("build", build_id)
    if build is None:
        raise KeyError("no build %d" % (build_id,))
    series = tables.get("distroarchrelease",
                        build["distroarchrelease"])["distrorelease"]
    for b in binaries:
        tables.insert("binarypackagerelease", build=build_id, name=b.name,
                      version=b.version, architecture=b.architecture,
                      distroarchrelease=build["distroarchrelease"],
                      distrorelease=series, archive=build["archive"],
                      pocket=build["pocket"], changesfile=None,
                      buildinfo=None)
    return len(binaries)


@implementer(IBinaryStore)
class FakeBinaryStore(FakeComponent):

    @_succeed
    def add(self, build_id, binaries):
        return recordBinaries(self.tables, build_id, binaries)

    @_succeed
    def getByBuild(self, build_id):
        return [fromRow(PublishedBinary, r) for r in self.tables.where(
            "binarypackagerelease", build=build_id)]

    @_succeed
    def depWaiting(self):
        result = []
        for b in self.tables.where(
                "build", buildstate=BuildStatus.MANUALDEPWAIT):
            dar = self.tables.get("distroarchrelease",
                                  b["distroarchrelease"])
            result.append(fromRow(DepWaitingBuild, dict(
                b, architecturetag=dar["architecturetag"],
                distrorelease=dar["distrorelease"])))
        return result

    @_succeed
    def available(self, series_archives, names):
        pairs, names = set(series_archives), set(names)
        return [fromRow(PublishedBinary, r) for r in self.tables.where(
            "binarypackagerelease")
            if (r["distrorelease"], r["archive"]) in pairs
            and r["name"] in names]


@implementer(IScanTimeStore)
class FakeScanTimeStore(FakeComponent):

    @_succeed
    def markScanned(self, times):
        for builder_id, at in times.items():
            row = self.tables.get("builder", builder_id)
            if row is not None and (row["last_scanned"] is None
                                    or row["last_scanned"] < at):
                row["last_scanned"] = at
