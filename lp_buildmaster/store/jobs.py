"""Jobs changing state: what the scanner and the dispatcher write.

Each method is one transaction. Collection and release are guarded by the
state they expect (a build still BUILDING, a queue entry still on this
builder), so a transition that was already made, by this master before a
restart or by another one, is not made twice: the method says so by
returning False.
"""

import dataclasses
import datetime
import json
from typing import Optional

from twisted.internet import defer

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.model.records import Builder
from lp_buildmaster.store import Component
from lp_buildmaster.store.binaries import recordBinaries
from lp_buildmaster.text import notes
from lp_buildmaster.store.builders import BUILDER_COLUMNS

#: States a build is in while a builder has it.
ACTIVE_STATES = [BuildStatus.BUILDING.value, BuildStatus.CANCELLING.value]


@dataclasses.dataclass(frozen=True)
class BuilderVitals:
    """A builder and its current job, as one scan sees them."""

    builder: Builder
    queue_id: Optional[int]
    build_id: Optional[int]
    build_state: Optional[BuildStatus]
    buildstart: Optional[datetime.datetime]
    job_failures: Optional[int]
    #: The row as the database sent it, to tell whether it changed.
    raw: tuple = dataclasses.field(default=(), compare=False, repr=False)

    @property
    def name(self):
        return self.builder.name


_BUILDER_FIELDS = [c.strip() for c in BUILDER_COLUMNS.split(",")]

#: One JSON array per builder: its columns, then its job's.
_VITALS_ARRAY = "json_build_array(%s, bq.id, bq.build, bd.buildstate, " \
    "bq.buildstart, bd.failure_count)" % ", ".join(
        "b." + c for c in _BUILDER_FIELDS)
_VITALS_FROM = """
      FROM builder b
      LEFT JOIN buildqueue bq ON bq.builder = b.id
      LEFT JOIN build bd ON bd.id = bq.build"""
# Every builder in one row of JSON text: with 10,000 builders, parsing it
# (in C) and comparing each builder's array with the last refresh's is
# far cheaper than making a row object and a record per builder.
ALL_VITALS = ("SELECT coalesce(json_object_agg(b.name, %s), '{}')::text"
              " AS vitals" % _VITALS_ARRAY) + _VITALS_FROM
ONE_VITALS = ("SELECT %s::text AS vitals" % _VITALS_ARRAY) + _VITALS_FROM \
    + " WHERE b.name = %s"
# With several masters on one database, each scans the builders whose
# lease it holds. The same statement takes the builders nobody holds (or
# whose lease ran out: their master died) and renews its own leases when
# half their time is gone; the SELECT sees the rows as they were before
# the UPDATE, hence "OR b.id IN claimed".
LEASED_VITALS = """
    WITH claimed AS (
        UPDATE builder
           SET owner = %(owner)s,
               lease_expires = now() + %(lease)s * interval '1 second'
         WHERE owner IS NULL OR lease_expires IS NULL
            OR lease_expires < now()
            OR (owner = %(owner)s
                AND lease_expires < now() + %(renew)s * interval '1 second')
        RETURNING id)
    SELECT coalesce(json_object_agg(b.name, """ + _VITALS_ARRAY + """),
                    '{}')::text AS vitals""" + _VITALS_FROM + """
     WHERE (b.owner = %(owner)s AND b.lease_expires > now())
        OR b.id IN (SELECT id FROM claimed)"""


def _vitals(values):
    """L{BuilderVitals} from a builder's JSON array."""
    count = len(_BUILDER_FIELDS)
    builder = Builder(**dict(zip(_BUILDER_FIELDS, values[:count])))
    queue_id, build_id, state, buildstart, job_failures = values[count:]
    return BuilderVitals(
        builder=builder, queue_id=queue_id, build_id=build_id,
        build_state=None if state is None else BuildStatus(state),
        buildstart=(None if buildstart is None
                    else datetime.datetime.fromisoformat(buildstart)),
        job_failures=job_failures, raw=tuple(values))


class JobStore(Component):

    @defer.inlineCallbacks
    def allVitals(self, previous=None, owner=None, lease=60.0):
        """Every builder with its job, in one statement: C{{name: vitals}}.

        @param previous: the last result; the vitals of builders whose row
            did not change are reused as they are.
        @param owner: this master's name when builders are leased: only
            the builders it holds (or takes now) are returned, and leases
            of C{lease} seconds are renewed when half gone.
        """
        if owner is None:
            row = yield self._one(ALL_VITALS)
        else:
            row = yield self._one(LEASED_VITALS, dict(
                owner=owner, lease=lease, renew=lease / 2.0))
        previous = previous or {}
        result = {}
        for name, values in json.loads(row["vitals"]).items():
            old = previous.get(name)
            if old is not None and old.raw == tuple(values):
                result[name] = old
            else:
                result[name] = _vitals(values)
        return result

    @defer.inlineCallbacks
    def vitals(self, name):
        row = yield self._one(ONE_VITALS, (name,))
        return None if row is None else _vitals(json.loads(row["vitals"]))

    def setLogtails(self, logtails):
        """Store many log tails in one statement.

        @param logtails: C{{queue_id: text}}.
        """
        if not logtails:
            return defer.succeed(None)
        ids, texts = zip(*sorted(logtails.items()))
        return self.store.runOperation(
            "UPDATE buildqueue SET logtail = v.logtail"
            "  FROM unnest(%s::integer[], %s::text[]) AS v(id, logtail)"
            " WHERE buildqueue.id = v.id", (list(ids), list(texts)))

    def finishJob(self, queue_id, build_id, builder_id, state, datebuilt,
                  buildlog=None, dependencies=None, success=False):
        """Record a collected build and free its builder, atomically.

        The build gets C{state}, its builder, C{datebuilt}, the duration
        since dispatch and its log; the queue entry goes away. A success
        resets the builder's failure count; every build dirties a
        virtualized builder.

        @return: Deferred firing True, or False when the build was no longer
            active on that builder (collected already).
        """
        @defer.inlineCallbacks
        def finish(txn):
            row = yield txn.fetchone(
                "SELECT bq.buildstart FROM buildqueue bq JOIN build b"
                "    ON b.id = bq.build"
                " WHERE bq.id = %s AND bq.build = %s AND bq.builder = %s"
                "   AND b.buildstate = ANY(%s) FOR UPDATE",
                (queue_id, build_id, builder_id, ACTIVE_STATES))
            if row is None:
                return False
            start = row["buildstart"]
            duration = (datebuilt - start) if start is not None else None
            yield txn.execute(
                "UPDATE build SET buildstate = %s, builder = %s,"
                " datebuilt = %s, buildduration = %s,"
                " buildlog = coalesce(%s, buildlog), dependencies = %s"
                " WHERE id = %s",
                (state.value, builder_id, datebuilt, duration, buildlog,
                 dependencies, build_id))
            yield txn.execute("DELETE FROM buildqueue WHERE id = %s",
                              (queue_id,))
            yield txn.execute(
                "UPDATE builder SET clean = NOT virtualized,"
                " failure_count = CASE WHEN %s THEN 0 ELSE failure_count END"
                " WHERE id = %s", (success, builder_id))
            return True
        return self.store.runInteraction(finish)

    def releaseJob(self, queue_id, builder_id, state=BuildStatus.NEEDSBUILD,
                   givenback=False, job_failed=False, builder_failed=False,
                   failnotes=None, buildlog=None, build_failnotes=None):
        """Take a job off its builder, atomically.

        @param state: the build's new state: NEEDSBUILD puts the job back in
            the queue (builder and buildstart cleared, and with
            C{givenback} its score reset to 0), a terminal state removes
            the queue entry.
        @param job_failed: count a failure against the build.
        @param builder_failed: count a failure against the builder.
        @param failnotes: when set, also fail (disable) the builder.
        @param build_failnotes: why the build failed, stored on it.
        @return: Deferred firing True, or False when the job was not on
            that builder any more.
        """
        failnotes = notes(failnotes)
        build_failnotes = notes(build_failnotes)

        @defer.inlineCallbacks
        def release(txn):
            row = yield txn.fetchone(
                "SELECT build FROM buildqueue WHERE id = %s AND builder = %s"
                " FOR UPDATE", (queue_id, builder_id))
            if row is None:
                return False
            build_id = row["build"]
            yield txn.execute(
                "UPDATE build SET buildstate = %s,"
                " failure_count = failure_count + %s,"
                " buildlog = coalesce(%s, buildlog),"
                " failnotes = coalesce(%s, failnotes) WHERE id = %s",
                (state.value, int(job_failed), buildlog, build_failnotes,
                 build_id))
            if state == BuildStatus.NEEDSBUILD:
                yield txn.execute(
                    "UPDATE buildqueue SET builder = NULL, buildstart = NULL,"
                    " logtail = NULL,"
                    " lastscore = CASE WHEN %s THEN 0 ELSE lastscore END"
                    " WHERE id = %s", (givenback, queue_id))
            else:
                yield txn.execute("DELETE FROM buildqueue WHERE id = %s",
                                  (queue_id,))
            yield txn.execute(
                "UPDATE builder SET clean = NOT virtualized,"
                " failure_count = failure_count + %s,"
                " builderok = builderok AND %s,"
                " failnotes = coalesce(%s, failnotes) WHERE id = %s",
                (int(builder_failed), failnotes is None, failnotes,
                 builder_id))
            return True
        return self.store.runInteraction(release)

    def countFailures(self, builder_id, build_id=None):
        """One more failure for a builder and, when given, its build.

        @return: Deferred firing with C{(builder_count, build_count)}, the
            latter None without a build.
        """
        @defer.inlineCallbacks
        def count(txn):
            row = yield txn.fetchone(
                "UPDATE builder SET failure_count = failure_count + 1"
                " WHERE id = %s RETURNING failure_count", (builder_id,))
            builder_count = None if row is None else row["failure_count"]
            build_count = None
            if build_id is not None:
                row = yield txn.fetchone(
                    "UPDATE build SET failure_count = failure_count + 1"
                    " WHERE id = %s RETURNING failure_count", (build_id,))
                build_count = None if row is None else row["failure_count"]
            return builder_count, build_count
        return self.store.runInteraction(count)

    def recordUpload(self, build_id, stored, binaries=()):
        """An accepted upload: its files (C{[(alias, filetype)]}) and
        binary packages recorded and the build FULLYBUILT, in one
        transaction with the build row locked.

        @raise NotAwaitingUpload: the build is not UPLOADING.
        """
        @defer.inlineCallbacks
        def record(txn):
            row = yield txn.fetchone(
                "SELECT buildstate FROM build WHERE id = %s FOR UPDATE",
                (build_id,))
            state = None if row is None else BuildStatus(row["buildstate"])
            if state not in AWAITING_UPLOAD:
                raise NotAwaitingUpload(build_id, state)
            for alias, filetype in stored:
                yield txn.execute(
                    "INSERT INTO buildfile (build, libraryfile, filetype)"
                    " VALUES (%s, %s, %s)", (build_id, alias, filetype))
            yield recordBinaries(txn, build_id, binaries)
            yield txn.execute(
                "UPDATE build SET buildstate = %s WHERE id = %s",
                (BuildStatus.FULLYBUILT.value, build_id))
        return self.store.runInteraction(record)

    def markFailedToUpload(self, build_id):
        """FAILEDTOUPLOAD if the build still awaits its upload; fires with
        whether it did."""
        @defer.inlineCallbacks
        def mark(txn):
            count = yield txn.rowcount(
                "UPDATE build SET buildstate = %s"
                " WHERE id = %s AND buildstate = ANY(%s)",
                (BuildStatus.FAILEDTOUPLOAD.value, build_id,
                 [s.value for s in AWAITING_UPLOAD]))
            return count == 1
        return self.store.runInteraction(mark)

    def releaseLeases(self, owner):
        """Give up every builder C{owner} holds (a master stopping), so
        that another master takes them at its next refresh."""
        return self.store.runOperation(
            "UPDATE builder SET owner = NULL, lease_expires = NULL"
            " WHERE owner = %s", (owner,))


#: States in which a build waits for its upload to be processed.
AWAITING_UPLOAD = frozenset([BuildStatus.UPLOADING])


class NotAwaitingUpload(Exception):
    """An upload arrived for a build that is not waiting for one."""

    def __init__(self, build_id, state):
        Exception.__init__(self, "build %d is %s, not awaiting an upload" % (
            build_id, "missing" if state is None else state.name))
