"""Candidate selection and the two transactions of a dispatch.

A dispatch first I{reserves} a job for a builder (the queue entry gets the
builder, buildstart stays NULL), then talks to the builder, then I{starts}
it (buildstart set, build BUILDING). If the talk fails the reservation is
released and the job is exactly as it was. Reservation is one
C{SELECT ... FOR UPDATE SKIP LOCKED} and one UPDATE, so two scanners or two
masters never take the same job, and the unique index on
C{buildqueue(builder)} keeps a builder to one job.

Only jobs that can run are candidates: their archive is enabled, their
pocket is allowed by their series' release status, and a chroot exists
for their pocket. A candidate whose source is no longer published becomes
SUPERSEDED on the way.
"""

import dataclasses
import re
import weakref
from typing import Optional

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.enums import RELEASED_STATUSES, BuildStatus
from lp_buildmaster.interfaces import IDispatchStore
from lp_buildmaster.store import Component
from lp_buildmaster.store.sources import publishedQuery
from lp_buildmaster.text import notes

_RELEASED = [s.value for s in RELEASED_STATUSES]

CANDIDATE = """
    SELECT bq.id AS queue_id, bq.build AS build_id,
           b.sourcepackagerelease, b.archive, dar.distrorelease
      FROM buildqueue bq
      JOIN build b ON b.id = bq.build
      JOIN archive a ON a.id = b.archive
      JOIN distroarchrelease dar ON dar.id = b.distroarchrelease
      JOIN distrorelease dr ON dr.id = dar.distrorelease
     WHERE bq.builder IS NULL
       AND NOT bq.blocked
       AND bq.processor = %(processor)s
       AND bq.virtualized = %(virtualized)s
       AND b.buildstate = 0
       AND a.enabled
       AND (dr.releasestatus = ANY(%(released)s)) = (b.pocket <> 0)
       AND EXISTS (SELECT 1 FROM pocketchroot pc
                    WHERE pc.distroarchrelease = b.distroarchrelease
                      AND pc.pocket = b.pocket AND pc.chroot IS NOT NULL)
       {only}
     ORDER BY bq.lastscore DESC, bq.id
     LIMIT 1
     FOR UPDATE OF bq SKIP LOCKED"""

#: The candidate query as server-side prepared statements: planning its
#: six joins costs 2-10 ms, executing it well under one.
_PREPARED = {
    name: "PREPARE %s (integer, boolean, integer[], integer) AS %s" % (
        name, re.sub(r"%\((\w+)\)s", lambda m: {
            "processor": "$1", "virtualized": "$2", "released": "$3",
            "queue_id": "$4"}[m.group(1)], CANDIDATE.format(only=only)))
    for name, only in [("lpbm_candidate", ""),
                       ("lpbm_candidate_one", "AND bq.id = %(queue_id)s")]}

#: The prepared statements of each database connection.
_prepared = weakref.WeakKeyDictionary()


@defer.inlineCallbacks
def fetchCandidate(txn, args, prepare=True):
    """The best candidate row (C{args} of L{CANDIDATE}), by a statement
    prepared once per connection."""
    name = ("lpbm_candidate" if args.get("queue_id") is None
            else "lpbm_candidate_one")
    raw = getattr(getattr(txn.cursor, "_cursor", None), "connection", None)
    if not prepare or raw is None:
        only = "" if args.get("queue_id") is None else (
            "AND bq.id = %(queue_id)s")
        row = yield txn.fetchone(CANDIDATE.format(only=only), args)
        return row
    names = _prepared.setdefault(raw, set())
    if name not in names:
        # Not transactional: it outlives a rollback of this transaction.
        yield txn.execute(_PREPARED[name])
        names.add(name)
    row = yield txn.fetchone(
        "EXECUTE %s (%%(processor)s, %%(virtualized)s, %%(released)s,"
        " %%(queue_id)s)" % name, args)
    return row


#: What a build request needs beyond the Build record.
CONTEXT = """
    SELECT pc.chroot,
           COALESCE(dr.nominatedarchindep = dar.id,
                    dar.id = (SELECT min(id) FROM distroarchrelease
                               WHERE distrorelease = dar.distrorelease))
               AS arch_indep
      FROM build b
      JOIN distroarchrelease dar ON dar.id = b.distroarchrelease
      JOIN distrorelease dr ON dr.id = dar.distrorelease
      LEFT JOIN pocketchroot pc ON pc.distroarchrelease = dar.id
                               AND pc.pocket = b.pocket
     WHERE b.id = %s"""


@dataclasses.dataclass(frozen=True)
class Reservation:
    queue_id: int
    build_id: int
    superseded: tuple = ()


@dataclasses.dataclass(frozen=True)
class DispatchContext:
    chroot: Optional[int]
    arch_indep: bool
    source_files: tuple


@implementer(IDispatchStore)
class DispatchStore(Component):

    def reserve(self, builder_id, processor, virtualized, queue_id=None):
        """Reserve the best candidate for a builder (or the given entry).

        @return: Deferred firing with a L{Reservation}, or None when no job
            can go to that builder; its C{superseded} lists the builds
            found superseded and removed on the way.
        """
        args = dict(processor=processor, virtualized=virtualized,
                    released=_RELEASED, queue_id=queue_id)

        @defer.inlineCallbacks
        def reserve(txn):
            superseded = []
            while True:
                row = yield fetchCandidate(txn, args)
                if row is None:
                    return (None if not superseded
                            else Reservation(None, None, tuple(superseded)))
                published = yield txn.fetchone(*publishedQuery(
                    row["sourcepackagerelease"], row["distrorelease"],
                    row["archive"]))
                if published is None:
                    yield txn.execute(
                        "UPDATE build SET buildstate = %s WHERE id = %s",
                        (BuildStatus.SUPERSEDED.value, row["build_id"]))
                    yield txn.execute("DELETE FROM buildqueue WHERE id = %s",
                                      (row["queue_id"],))
                    superseded.append(row["build_id"])
                    continue
                yield txn.execute(
                    "UPDATE buildqueue SET builder = %s, buildstart = NULL"
                    " WHERE id = %s", (builder_id, row["queue_id"]))
                return Reservation(row["queue_id"], row["build_id"],
                                   tuple(superseded))
        return self.store.runInteraction(reserve)

    def start(self, queue_id, builder_id, when):
        """The builder took the job: BUILDING from C{when}.

        @return: Deferred firing True, or False if the reservation is gone.
        """
        @defer.inlineCallbacks
        def start(txn):
            count = yield txn.rowcount(
                "UPDATE buildqueue SET buildstart = %s, logtail = NULL"
                " WHERE id = %s AND builder = %s AND buildstart IS NULL",
                (when, queue_id, builder_id))
            if not count:
                return False
            yield txn.execute(
                "UPDATE build SET buildstate = %s, builder = %s,"
                " date_started = %s, failnotes = NULL"
                " WHERE id = (SELECT build FROM buildqueue WHERE id = %s)",
                (BuildStatus.BUILDING.value, builder_id, when, queue_id))
            return True
        return self.store.runInteraction(start)

    def release(self, queue_id, builder_id):
        """Undo a reservation that did not start: the job as it was."""
        return self.store.runOperation(
            "UPDATE buildqueue SET builder = NULL"
            " WHERE id = %s AND builder = %s AND buildstart IS NULL",
            (queue_id, builder_id))

    def refuse(self, queue_id, builder_id, failnotes):
        """A job that can never be sent (its request is invalid): the build
        fails with C{failnotes} and leaves the queue."""
        failnotes = notes(failnotes)

        @defer.inlineCallbacks
        def refuse(txn):
            row = yield txn.fetchone(
                "DELETE FROM buildqueue WHERE id = %s AND builder = %s"
                " AND buildstart IS NULL RETURNING build",
                (queue_id, builder_id))
            if row is None:
                return False
            yield txn.execute(
                "UPDATE build SET buildstate = %s, failnotes = %s"
                " WHERE id = %s",
                (BuildStatus.FAILEDTOBUILD.value, failnotes, row["build"]))
            return True
        return self.store.runInteraction(refuse)

    @defer.inlineCallbacks
    def context(self, build_id, sourcepackagerelease):
        """The chroot, arch-indep flag and source file aliases of a build."""
        row = yield self._one(CONTEXT, (build_id,))
        files = yield self.store.sources.files(sourcepackagerelease)
        return DispatchContext(
            chroot=None if row is None else row["chroot"],
            arch_indep=bool(row and row["arch_indep"]),
            source_files=tuple(alias for alias, _ in files))
