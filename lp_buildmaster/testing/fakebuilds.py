"""The fake store's builders, builds, queue and job types components, on the rows of
L{lp_buildmaster.testing.faketables.Tables}."""

import datetime

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.interfaces import (
    IBuilderStore, IBuildQueueStore, IBuildStore, IJobTypeStore)
from lp_buildmaster.model.records import (
    DEFAULT_JOB_TYPE, Build, Builder, BuildQueue, PocketChroot, fromRow)
from lp_buildmaster.store.builders import DuplicateName, checkedValues
from lp_buildmaster.store.builds import (
    ACTIVE_BUILD_STATES, UPDATABLE, DuplicateBuild)
from lp_buildmaster.store.jobtypes import TRANSLATION_TEMPLATES
from lp_buildmaster.testing.faketables import (
    FakeComponent, _published, _succeed, automaticScore, buildRow, enqueue)


def insertRequested(tables, distroarchrelease, sourcepackagerelease,
                    archive, pocket, job_type):
    """L{lp_buildmaster.store.builds.insertRequested} on fake tables."""
    active = {s.value for s in ACTIVE_BUILD_STATES}
    for row in tables.where(
            "build", sourcepackagerelease=sourcepackagerelease,
            distroarchrelease=distroarchrelease, archive=archive,
            pocket=pocket, job_type=job_type):
        if row["buildstate"] in active:
            raise DuplicateBuild(row["id"], BuildStatus(row["buildstate"]))
    build_id = tables.insert(
        "build", distroarchrelease=distroarchrelease,
        sourcepackagerelease=sourcepackagerelease, archive=archive,
        pocket=pocket, buildstate=BuildStatus.NEEDSBUILD, job_type=job_type)
    enqueue(tables, build_id, automaticScore(tables, build_id))
    return build_id


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
        values = checkedValues(values)
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
                pocket, job_type=DEFAULT_JOB_TYPE):
        return insertRequested(self.tables, distroarchrelease,
                               sourcepackagerelease, archive, pocket,
                               job_type)

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


@implementer(IJobTypeStore)
class FakeJobTypeStore(FakeComponent):

    @_succeed
    def translationTemplates(self, build_id):
        row = self.tables.one("translationtemplatesbuild", build=build_id)
        return None if row is None else row["branch_url"]

    @_succeed
    def requestTranslationTemplates(self, distroarchrelease,
                                    sourcepackagerelease, archive, pocket,
                                    branch_url):
        build_id = insertRequested(self.tables, distroarchrelease,
                                   sourcepackagerelease, archive, pocket,
                                   TRANSLATION_TEMPLATES)
        self.tables.insert("translationtemplatesbuild", build=build_id,
                           branch_url=branch_url)
        return build_id
