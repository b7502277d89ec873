"""Jobs changing state: what the scanner and the dispatcher write.

What a scan reads (every builder with its job) is in
L{lp_buildmaster.store.vitals}; this module writes.

Each method is one transaction. Collection and release are guarded by the
state they expect (a build still BUILDING, a queue entry still on this
builder), so a transition that was already made, by this master before a
restart or by another one, is not made twice: the method says so by
returning False.
"""

import dataclasses
import json
from typing import Optional

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.interfaces import IJobStore
from lp_buildmaster.store import Component
from lp_buildmaster.store.binaries import recordBinaries
from lp_buildmaster.store.vitals import (  # BuilderVitals: importable here
    ALL_VITALS, LEASED_VITALS, ONE_VITALS, BuilderVitals, LeasedVitals,
    _reuse, _vitals)
from lp_buildmaster.text import notes

#: States a build is in while a builder has it.
ACTIVE_STATES = [BuildStatus.BUILDING.value, BuildStatus.CANCELLING.value]


@implementer(IJobStore)
class JobStore(Component):

    @defer.inlineCallbacks
    def allVitals(self, previous=None):
        """Every builder with its job, in one statement: C{{name: vitals}}.

        @param previous: the last result; the vitals of builders whose row
            did not change are reused as they are.
        """
        row = yield self._one(ALL_VITALS)
        return _reuse(json.loads(row["vitals"]), previous)

    @defer.inlineCallbacks
    def leasedVitals(self, owner, wanted, previous=None, now=None):
        """One refresh of master C{owner}, in one statement: take the
        builders of C{wanted} that are free or held by a dead master, and
        read what L{LeasedVitals} holds.

        @param wanted: names of the builders the assignment gives it.
        @param now: seconds since the epoch (tests); None: the database's.
        """
        row = yield self._one(LEASED_VITALS, dict(
            owner=owner, wanted=sorted(wanted), now=now))
        return LeasedVitals(
            vitals=_reuse(json.loads(row["vitals"]), previous),
            owners={name: (value[0], value[1]) for name, value in
                    json.loads(row["owners"]).items()},
            taken=json.loads(row["taken"]))

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
        @defer.inlineCallbacks
        def release(txn):
            row = yield txn.fetchone(
                "SELECT build FROM buildqueue WHERE id = %s AND builder = %s"
                " FOR UPDATE", (queue_id, builder_id))
            if row is None:
                return False
            yield _release(txn, queue_id, row["build"], builder_id, state,
                           givenback, job_failed, builder_failed, failnotes,
                           buildlog, build_failnotes)
            return True
        return self.store.runInteraction(release)

    def countAndAct(self, builder_id, judge, queue_id=None):
        """One more failure of a builder and of the job C{queue_id} it
        holds, judged and acted on, in one transaction.

        @param judge: C{judge(builder_count, job_count)} (the counts
            including this failure; job_count None without a job) returning
            a L{FailureAction}.
        @return: Deferred firing with C{(builder_count, job_count,
            action)}, or None when C{queue_id} is no longer on that builder
            (then nothing is counted).
        """
        @defer.inlineCallbacks
        def act(txn):
            build_id = None
            if queue_id is not None:
                row = yield txn.fetchone(
                    "SELECT build FROM buildqueue WHERE id = %s"
                    " AND builder = %s FOR UPDATE", (queue_id, builder_id))
                if row is None:
                    return None
                build_id = row["build"]
            row = yield txn.fetchone(
                "UPDATE builder SET failure_count = failure_count + 1"
                " WHERE id = %s RETURNING failure_count", (builder_id,))
            builder_count = None if row is None else row["failure_count"]
            job_count = None
            if build_id is not None:
                row = yield txn.fetchone(
                    "UPDATE build SET failure_count = failure_count + 1"
                    " WHERE id = %s RETURNING failure_count", (build_id,))
                job_count = row["failure_count"]
            action = judge(builder_count, job_count)
            if build_id is not None and action.job_state is not None:
                yield _release(txn, queue_id, build_id, builder_id,
                               action.job_state, failnotes=action.failnotes,
                               build_failnotes=action.build_failnotes)
            elif action.failnotes is not None:
                yield txn.execute(
                    "UPDATE builder SET builderok = false, failnotes = %s"
                    " WHERE id = %s", (notes(action.failnotes), builder_id))
            if action.reset_builder_count:
                yield txn.execute(
                    "UPDATE builder SET failure_count = 0 WHERE id = %s",
                    (builder_id,))
            return builder_count, job_count, action
        return self.store.runInteraction(act)

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

    def recordUpload(self, build_id, stored, binaries=(), changes=None):
        """An accepted upload: its files (C{[(alias, filetype)]}) and
        binary packages recorded and the build FULLYBUILT, in one
        transaction with the build row locked. The build and its binary
        packages link to the upload's C{.changes} (alias C{changes}) and
        its C{.buildinfo} (the first of C{stored} of that type).

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
            buildinfo = next((alias for alias, filetype in stored
                              if filetype == "buildinfo"), None)
            yield txn.execute(
                "UPDATE build SET buildstate = %s, changesfile = %s,"
                " buildinfo = %s WHERE id = %s",
                (BuildStatus.FULLYBUILT.value, changes, buildinfo, build_id))
            if changes is not None or buildinfo is not None:
                yield txn.execute(
                    "UPDATE binarypackagerelease SET changesfile = %s,"
                    " buildinfo = %s WHERE build = %s",
                    (changes, buildinfo, build_id))
        return self.store.runInteraction(record)

    def markFailedToUpload(self, build_id, failnotes=None):
        """FAILEDTOUPLOAD, with C{failnotes} saying why, if the build still
        awaits its upload; fires with whether it did."""
        failnotes = notes(failnotes)

        @defer.inlineCallbacks
        def mark(txn):
            count = yield txn.rowcount(
                "UPDATE build SET buildstate = %s,"
                " failnotes = coalesce(%s, failnotes)"
                " WHERE id = %s AND buildstate = ANY(%s)",
                (BuildStatus.FAILEDTOUPLOAD.value, failnotes, build_id,
                 [s.value for s in AWAITING_UPLOAD]))
            if count == 1:
                # The build log, stored at collection under the state the
                # builder reported, is named after the final state.
                yield txn.execute(
                    "UPDATE libraryfilealias SET filename = regexp_replace("
                    "filename, '_FULLYBUILT[.]txt[.]gz$',"
                    " '_FAILEDTOUPLOAD.txt.gz')"
                    " WHERE id = (SELECT buildlog FROM build WHERE id = %s)",
                    (build_id,))
            return count == 1
        return self.store.runInteraction(mark)

    def release(self, owner, names):
        """Give up the builders C{names} that C{owner} holds (handed over
        between scans), and tell the other masters at once."""
        return self.store.runOperation(
            "WITH released AS ("
            "    UPDATE builder SET owner = NULL"
            "     WHERE owner = %s AND name = ANY(%s) RETURNING id)"
            " SELECT (SELECT count(*) FROM released),"
            "        pg_notify('builders', 'released')",
            (owner, sorted(names)))


#: States in which a build waits for its upload to be processed.
AWAITING_UPLOAD = frozenset([BuildStatus.UPLOADING])


@dataclasses.dataclass(frozen=True)
class FailureAction:
    """What L{JobStore.countAndAct} does after counting a failure.

    @ivar job_state: the build's new state (NEEDSBUILD requeues), or None
        to leave the job where it is.
    @ivar failnotes: when set, the builder is failed with them.
    @ivar build_failnotes: when set, why the build failed.
    @ivar reset_builder_count: the job was judged guilty: the builder's
        count goes back to 0.
    """

    job_state: Optional[BuildStatus] = None
    failnotes: Optional[str] = None
    build_failnotes: Optional[str] = None
    reset_builder_count: bool = False


@defer.inlineCallbacks
def _release(txn, queue_id, build_id, builder_id, state, givenback=False,
             job_failed=False, builder_failed=False, failnotes=None,
             buildlog=None, build_failnotes=None):
    """Take job C{queue_id} (of C{build_id}) off C{builder_id} inside a
    transaction holding its queue row (see L{JobStore.releaseJob})."""
    failnotes = notes(failnotes)
    build_failnotes = notes(build_failnotes)
    # Back to NEEDSBUILD, the build has no builder and no start time
    # until its next dispatch.
    waiting = state == BuildStatus.NEEDSBUILD
    yield txn.execute(
        "UPDATE build SET buildstate = %s,"
        " failure_count = failure_count + %s,"
        " buildlog = coalesce(%s, buildlog),"
        " failnotes = coalesce(%s, failnotes),"
        " builder = CASE WHEN %s THEN NULL ELSE builder END,"
        " date_started = CASE WHEN %s THEN NULL ELSE date_started END"
        " WHERE id = %s",
        (state.value, int(job_failed), buildlog, build_failnotes,
         waiting, waiting, build_id))
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


class NotAwaitingUpload(Exception):
    """An upload arrived for a build that is not waiting for one."""

    def __init__(self, build_id, state):
        Exception.__init__(self, "build %d is %s, not awaiting an upload" % (
            build_id, "missing" if state is None else state.name))
