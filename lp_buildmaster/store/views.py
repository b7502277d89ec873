"""Read-only views of the farm for the dashboard, the JSON API and metrics.

Each method reads what one page needs in one or two queries and returns
frozen records: a build with its builder's name, its queue entry and its
log file; a builder with its processor and current job. Nothing here
writes.
"""

import dataclasses
import datetime
from typing import Optional

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.enums import TERMINAL_BUILD_STATES, BuildStatus
from lp_buildmaster.interfaces import IViewStore
from lp_buildmaster.model.records import (
    Build, Builder, BuildQueue, fromRow, record)
from lp_buildmaster.store import Component
from lp_buildmaster.store.builders import BUILDER_COLUMNS
from lp_buildmaster.store.builds import BUILD_SELECT

#: How many recent successful builds per processor the average duration
#: is taken over.
DURATION_SAMPLE = 20


@record
class LogFile:
    """A librarian file: a build's log, its upload log or a binary."""
    id: int
    filename: str
    restricted: bool


@record
class BuildView:
    """A build as a page shows it."""
    build: Build
    builder_name: Optional[str]
    job: Optional[BuildQueue]
    log: Optional[LogFile]
    upload_log: Optional[LogFile] = None


@record
class BuilderView:
    """A builder as a page shows it: C{build} is what its job builds;
    C{master}, the master holding it (None: none does)."""
    builder: Builder
    processor_name: str
    job: Optional[BuildQueue]
    build: Optional[BuildView]
    master: Optional[str] = None
    #: when it last changed state in the database (enabled, failed,
    #: manual, took or lost a job)
    state_since: Optional[datetime.datetime] = None
    #: when a master last scanned it, to within a minute
    last_scanned: Optional[datetime.datetime] = None


@record
class BuilderSummary:
    """The little the metrics need to know of a builder."""
    name: str
    processor_name: str
    active: bool
    builderok: bool
    manual: bool
    has_job: bool
    buildstate: Optional[BuildStatus]
    master: Optional[str] = None


_QUEUE_FIELDS = [f.name for f in dataclasses.fields(BuildQueue)]
_JOB_COLUMNS = ", ".join("q.%s AS q_%s" % (name, name)
                         for name in _QUEUE_FIELDS)

# The builder shown is the one running the job, else the one that built it.
BUILD_VIEW_SELECT = """
    SELECT v.*, COALESCE(qb.name, bb.name) AS builder_name, %s,
           lfa.filename AS log_filename, lfa.restricted AS log_restricted,
           ula.filename AS upload_log_filename,
           ula.restricted AS upload_log_restricted
      FROM (%s) v
      LEFT JOIN buildqueue q ON q.build = v.id
      LEFT JOIN builder qb ON qb.id = q.builder
      LEFT JOIN builder bb ON bb.id = v.builder
      LEFT JOIN libraryfilealias lfa ON lfa.id = v.buildlog
      LEFT JOIN libraryfilealias ula ON ula.id = v.upload_log""" % (
    _JOB_COLUMNS, BUILD_SELECT)

BUILDERS_SELECT = """
    SELECT %s, p.name AS processor_name, b.owner AS master,
           b.state_since AS b_state_since, b.last_scanned AS b_last_scanned,
           %s
      FROM builder b
      JOIN processor p ON p.id = b.processor
      LEFT JOIN buildqueue q ON q.builder = b.id""" % (
    ", ".join("b.%s" % c.strip() for c in BUILDER_COLUMNS.split(",")),
    _JOB_COLUMNS)

AVERAGE_DURATIONS = """
    SELECT processor, avg(buildduration) AS average
      FROM (SELECT dar.processor, b.buildduration,
                   row_number() OVER (
                       PARTITION BY dar.processor
                       ORDER BY b.datebuilt DESC NULLS LAST, b.id DESC) AS n
              FROM build b
              JOIN distroarchrelease dar ON dar.id = b.distroarchrelease
             WHERE b.buildstate = %s AND b.buildduration IS NOT NULL) recent
     WHERE n <= %s
     GROUP BY processor"""

BUILDER_SUMMARIES = """
    SELECT b.name, p.name AS processor_name, b.active, b.builderok, b.manual,
           q.id IS NOT NULL AS has_job, bd.buildstate, b.owner AS master
      FROM builder b
      JOIN processor p ON p.id = b.processor
      LEFT JOIN buildqueue q ON q.builder = b.id
      LEFT JOIN build bd ON bd.id = q.build
     ORDER BY b.name"""

QUEUE_DEPTHS = """
    SELECT p.name, count(q.id) AS depth
      FROM processor p
      LEFT JOIN buildqueue q ON q.processor = p.id AND q.builder IS NULL
     GROUP BY p.name"""


def _job(row):
    if row["q_id"] is None:
        return None
    return fromRow(BuildQueue, {name: row["q_" + name]
                                for name in _QUEUE_FIELDS})


def _buildView(row):
    log = None
    if row["buildlog"] is not None and row["log_filename"] is not None:
        log = LogFile(row["buildlog"], row["log_filename"],
                      row["log_restricted"])
    upload_log = None
    if row["upload_log"] is not None and \
            row["upload_log_filename"] is not None:
        upload_log = LogFile(row["upload_log"], row["upload_log_filename"],
                             row["upload_log_restricted"])
    return BuildView(build=fromRow(Build, row),
                     builder_name=row["builder_name"], job=_job(row),
                     log=log, upload_log=upload_log)


@implementer(IViewStore)
class ViewStore(Component):
    """Read-only queries for the dashboard, the API and the metrics."""

    @defer.inlineCallbacks
    def _buildViews(self, where="", args=(), tail=""):
        rows = yield self._all(
            "%s %s %s" % (BUILD_VIEW_SELECT, where, tail), args)
        return [_buildView(row) for row in rows]

    @defer.inlineCallbacks
    def build(self, build_id):
        """The L{BuildView} of one build, or None."""
        views = yield self._buildViews("WHERE v.id = %s", (build_id,))
        return views[0] if views else None

    def builds(self, state=None, limit=50, finished=False, offset=0,
               processor=None, distribution=None, series=None,
               archive=None, source=None, builder=None):
        """L{BuildView}s, newest first.

        @param state: only builds in this L{BuildStatus}.
        @param finished: only builds in a terminal state, most recently
            finished first.
        @param processor, distribution, series, archive, source: only
            builds with these names.
        @param offset: skip that many (paging).
        """
        conditions, args = [], []
        if state is not None:
            conditions.append("v.buildstate = %s")
            args.append(state.value)
        for column, value in (("processor_name", processor),
                              ("distribution_name", distribution),
                              ("distrorelease_name", series),
                              ("archive_name", archive),
                              ("source_name", source)):
            if value is not None:
                conditions.append("v.%s = %%s" % column)
                args.append(value)
        if builder is not None:
            conditions.append("COALESCE(qb.name, bb.name) = %s")
            args.append(builder)
        if finished:
            conditions.append("v.buildstate = ANY(%s)")
            args.append(sorted(s.value for s in TERMINAL_BUILD_STATES))
            order = "ORDER BY v.datebuilt DESC NULLS LAST, v.id DESC"
        else:
            order = "ORDER BY v.id DESC"
        where = ("WHERE " + " AND ".join(conditions)) if conditions else ""
        return self._buildViews(where, tuple(args) + (limit, offset),
                                order + " LIMIT %s OFFSET %s")

    def queue(self):
        """L{BuildView}s of the jobs waiting for a builder, by processor
        name and then in dispatch order (score, then age)."""
        return self._buildViews(
            "WHERE q.id IS NOT NULL AND q.builder IS NULL",
            tail="ORDER BY v.processor_name, q.lastscore DESC, q.id")

    @defer.inlineCallbacks
    def builders(self, name=None):
        """L{BuilderView}s by name (only the one called C{name}, if given)."""
        sql, args = BUILDERS_SELECT, ()
        if name is not None:
            sql += " WHERE b.name = %s"
            args = (name,)
        rows = yield self._all(sql + " ORDER BY b.name", args)
        build_ids = [row["q_build"] for row in rows
                     if row["q_build"] is not None]
        builds = {}
        if build_ids:
            views = yield self._buildViews("WHERE v.id = ANY(%s)",
                                           (build_ids,))
            builds = {view.build.id: view for view in views}
        result = []
        for row in rows:
            job = _job(row)
            result.append(BuilderView(
                builder=fromRow(Builder, row),
                processor_name=row["processor_name"], job=job,
                build=builds.get(job.build) if job else None,
                master=row["master"], state_since=row["b_state_since"],
                last_scanned=row["b_last_scanned"]))
        return result

    @defer.inlineCallbacks
    def averageDurations(self, sample=DURATION_SAMPLE):
        """C{{processor id: timedelta}}: the mean duration of the last
        C{sample} successful builds of each processor that has any."""
        rows = yield self._all(AVERAGE_DURATIONS,
                               (BuildStatus.FULLYBUILT.value, sample))
        return {row["processor"]: row["average"] for row in rows}

    @defer.inlineCallbacks
    def builderSummaries(self):
        """L{BuilderSummary}s of every builder, in one query."""
        rows = yield self._all(BUILDER_SUMMARIES)
        return [BuilderSummary(
            name=row["name"], processor_name=row["processor_name"],
            active=row["active"], builderok=row["builderok"],
            manual=row["manual"], has_job=row["has_job"],
            buildstate=(None if row["buildstate"] is None
                        else BuildStatus(row["buildstate"])),
            master=row["master"])
            for row in rows]

    def masters(self):
        """L{lp_buildmaster.store.masters.MasterInfo}s of the registered
        masters, with their heartbeat ages and builder counts."""
        return self.store.masters.all()

    @defer.inlineCallbacks
    def binaries(self, build_id):
        """L{LogFile}s (library files) of what a build uploaded, by name."""
        rows = yield self._all(
            "SELECT a.id, a.filename, a.restricted FROM buildfile f"
            "  JOIN libraryfilealias a ON a.id = f.libraryfile"
            " WHERE f.build = %s ORDER BY a.filename", (build_id,))
        return [LogFile(id=row["id"], filename=row["filename"],
                        restricted=row["restricted"]) for row in rows]

    @defer.inlineCallbacks
    def queueDepths(self):
        """C{{processor name: jobs waiting}}, zero for idle processors."""
        rows = yield self._all(QUEUE_DEPTHS)
        return {row["name"]: row["depth"] for row in rows}
