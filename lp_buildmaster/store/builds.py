"""Build rows, read with the context every part of the master asks for."""

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.interfaces import IBuildStore
from lp_buildmaster.model.records import DEFAULT_JOB_TYPE, Build, fromRow
from lp_buildmaster.store import Component
from lp_buildmaster.store.queue import enqueueScored

BUILD_SELECT = """
    SELECT b.id, b.buildstate, b.builder, b.datecreated, b.date_started,
           b.datebuilt, b.buildduration, b.buildlog, b.upload_log,
           b.dependencies, b.pocket, b.failure_count, b.failnotes,
           b.job_type,
           a.id AS archive, a.name AS archive_name,
           a.purpose AS archive_purpose, a.private AS archive_private,
           a.require_virtualized AS archive_require_virtualized,
           a.enabled AS archive_enabled,
           dar.id AS distroarchrelease, dar.architecturetag, dar.processor,
           p.name AS processor_name,
           dr.id AS distrorelease, dr.name AS distrorelease_name,
           dr.releasestatus,
           d.id AS distribution, d.name AS distribution_name,
           spr.id AS sourcepackagerelease, spn.name AS source_name,
           spr.version AS source_version, spr.component, spr.urgency,
           spr.maintainer, spr.architecturehintlist, spr.changed_by
      FROM build b
      JOIN archive a ON a.id = b.archive
      JOIN distroarchrelease dar ON dar.id = b.distroarchrelease
      JOIN processor p ON p.id = dar.processor
      JOIN distrorelease dr ON dr.id = dar.distrorelease
      JOIN distribution d ON d.id = dr.distribution
      JOIN sourcepackagerelease spr ON spr.id = b.sourcepackagerelease
      JOIN sourcepackagename spn ON spn.id = spr.sourcepackagename"""

#: Columns a caller may set through L{BuildStore.update}.
UPDATABLE = frozenset([
    "buildstate", "builder", "date_started", "datebuilt", "buildduration",
    "buildlog", "upload_log", "dependencies", "failure_count", "pocket",
])


def setClause(values):
    """C{("a = %s, b = %s", (va, vb))} for an UPDATE, enums as integers."""
    unknown = set(values) - UPDATABLE
    if unknown:
        raise ValueError("cannot set %s" % ", ".join(sorted(unknown)))
    columns = sorted(values)
    args = tuple(getattr(values[c], "value", values[c]) for c in columns)
    return ", ".join("%s = %%s" % c for c in columns), args


#: States in which a build counts as wanted already: a second request for
#: the same source, architecture, archive and pocket is refused.
ACTIVE_BUILD_STATES = (BuildStatus.NEEDSBUILD, BuildStatus.BUILDING,
                       BuildStatus.UPLOADING)


class DuplicateBuild(Exception):
    """An equal build is pending or building already.

    @ivar build_id: that build.
    """

    def __init__(self, build_id, state):
        Exception.__init__(self, build_id, state)
        self.build_id = build_id
        self.state = state


@defer.inlineCallbacks
def insertRequested(txn, distroarchrelease, sourcepackagerelease, archive,
                    pocket, job_type):
    """Inside a transaction: a new NEEDSBUILD build of C{job_type} with a
    scored queue entry; fires with its id.

    @raise DuplicateBuild: one of that type and source for the same
        architecture, archive and pocket is pending or building.
    """
    # Serialises two requests for one source.
    yield txn.execute(
        "SELECT id FROM sourcepackagerelease WHERE id = %s FOR UPDATE",
        (sourcepackagerelease,))
    existing = yield txn.fetchone(
        "SELECT id, buildstate FROM build"
        " WHERE sourcepackagerelease = %s AND distroarchrelease = %s"
        "   AND archive = %s AND pocket = %s AND buildstate = ANY(%s)"
        "   AND job_type = %s ORDER BY id LIMIT 1",
        (sourcepackagerelease, distroarchrelease, archive, pocket.value,
         [s.value for s in ACTIVE_BUILD_STATES], job_type))
    if existing is not None:
        raise DuplicateBuild(existing["id"],
                             BuildStatus(existing["buildstate"]))
    row = yield txn.fetchone(
        "INSERT INTO build (distroarchrelease, sourcepackagerelease,"
        " archive, pocket, buildstate, job_type)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (distroarchrelease, sourcepackagerelease, archive, pocket.value,
         BuildStatus.NEEDSBUILD.value, job_type))
    yield enqueueScored(txn, row["id"])
    return row["id"]


@implementer(IBuildStore)
class BuildStore(Component):

    @defer.inlineCallbacks
    def get(self, build_id):
        row = yield self._one(BUILD_SELECT + " WHERE b.id = %s", (build_id,))
        return None if row is None else fromRow(Build, row)

    @defer.inlineCallbacks
    def getMany(self, build_ids):
        rows = yield self._all(BUILD_SELECT + " WHERE b.id = ANY(%s)",
                               (list(build_ids),))
        return {row["id"]: fromRow(Build, row) for row in rows}

    @defer.inlineCallbacks
    def list(self, state=None, limit=100):
        """Newest first, optionally only those in C{state}."""
        if state is None:
            rows = yield self._all(
                BUILD_SELECT + " ORDER BY b.id DESC LIMIT %s", (limit,))
        else:
            rows = yield self._all(
                BUILD_SELECT + " WHERE b.buildstate = %s"
                " ORDER BY b.id DESC LIMIT %s", (state.value, limit))
        return [fromRow(Build, row) for row in rows]

    def update(self, build_id, **values):
        clause, args = setClause(values)
        return self.store.runOperation(
            "UPDATE build SET %s WHERE id = %%s" % clause, args + (build_id,))

    @defer.inlineCallbacks
    def create(self, distroarchrelease, sourcepackagerelease, archive,
               pocket, buildstate=BuildStatus.NEEDSBUILD):
        """A new build row (no queue entry); fires with its id."""
        row = yield self._one(
            "INSERT INTO build (distroarchrelease, sourcepackagerelease,"
            " archive, pocket, buildstate) VALUES (%s, %s, %s, %s, %s)"
            " RETURNING id",
            (distroarchrelease, sourcepackagerelease, archive, pocket.value,
             buildstate.value))
        return row["id"]

    def request(self, distroarchrelease, sourcepackagerelease, archive,
                pocket, job_type=DEFAULT_JOB_TYPE):
        """A new NEEDSBUILD build of C{job_type} (a job type with no
        fields of its own) with a scored queue entry, in one transaction;
        fires with the build id.

        @raise DuplicateBuild: (in the Deferred) a build of that type and
            source for the same architecture, archive and pocket is
            pending or building.
        """
        return self.store.runInteraction(
            insertRequested, distroarchrelease, sourcepackagerelease,
            archive, pocket, job_type)

    def retry(self, build_id, from_states):
        """Make a finished build NEEDSBUILD again, as if new (no builder,
        dates, logs or failures), and queue it with its automatic score.

        @param from_states: the states it may be retried from.
        @return: a Deferred firing with the new queue entry's id, or None
            if the build is not in one of C{from_states}.
        """
        @defer.inlineCallbacks
        def retry(txn):
            count = yield txn.rowcount(
                "UPDATE build SET buildstate = %s, builder = NULL,"
                " date_started = NULL, datebuilt = NULL,"
                " buildduration = NULL, buildlog = NULL, upload_log = NULL,"
                " dependencies = NULL, failure_count = 0"
                " WHERE id = %s AND buildstate = ANY(%s)",
                (BuildStatus.NEEDSBUILD.value, build_id,
                 [s.value for s in from_states]))
            if count != 1:
                return None
            yield txn.execute("DELETE FROM buildqueue WHERE build = %s",
                              (build_id,))
            return (yield enqueueScored(txn, build_id))
        return self.store.runInteraction(retry)

    def transition(self, build_id, from_state, to_state, dequeue=False):
        """Move a build from C{from_state} to C{to_state}, and drop its
        queue entry if C{dequeue}, in one transaction.

        @return: a Deferred firing with whether the build was in
            C{from_state} (else nothing changed).
        """
        @defer.inlineCallbacks
        def transition(txn):
            count = yield txn.rowcount(
                "UPDATE build SET buildstate = %s"
                " WHERE id = %s AND buildstate = %s",
                (to_state.value, build_id, from_state.value))
            if count == 1 and dequeue:
                yield txn.execute("DELETE FROM buildqueue WHERE build = %s",
                                  (build_id,))
            return count == 1
        return self.store.runInteraction(transition)

    def dispatchContext(self, build_id):
        """Everything that decides whether and when a build is dispatched,
        read in one transaction (for C{buildmaster-admin why}).

        @return: a Deferred firing with None if there is no such build,
            else a dict: C{build} (a L{Build}), C{queue} (its
            L{BuildQueue} or None), C{builders} (the L{Builder}s of its
            processor), C{busy} (ids of those builders running a job, to
            the job's C{buildstart}), C{chroot} (the L{PocketChroot} of its
            architecture and pocket, or None), C{published} (whether its
            source is live in its series and archive), C{pending} (the ids
            of the waiting queue entries of its processor and
            virtualization, in dispatch order), C{mean_duration} (of
            finished builds on its processor, or None) and C{now} (the
            database's clock).
        """
        from lp_buildmaster.model.records import (
            Builder, BuildQueue, PocketChroot)
        from lp_buildmaster.store.builders import BUILDER_COLUMNS
        from lp_buildmaster.store.queue import QUEUE_COLUMNS
        from lp_buildmaster.store.sources import publishedQuery

        @defer.inlineCallbacks
        def read(txn):
            row = yield txn.fetchone(BUILD_SELECT + " WHERE b.id = %s",
                                     (build_id,))
            if row is None:
                return None
            build = fromRow(Build, row)
            queue = yield txn.fetchone(
                "SELECT %s FROM buildqueue WHERE build = %%s"
                % QUEUE_COLUMNS, (build_id,))
            builders = yield txn.fetchall(
                "SELECT %s FROM builder WHERE processor = %%s ORDER BY name"
                % BUILDER_COLUMNS, (build.processor,))
            busy = yield txn.fetchall(
                "SELECT builder, buildstart FROM buildqueue"
                " WHERE builder IS NOT NULL AND processor = %s",
                (build.processor,))
            chroot = yield txn.fetchone(
                "SELECT id, distroarchrelease, pocket, chroot"
                "  FROM pocketchroot"
                " WHERE distroarchrelease = %s AND pocket = %s",
                (build.distroarchrelease, build.pocket.value))
            published = yield txn.fetchone(*publishedQuery(
                build.sourcepackagerelease, build.distrorelease,
                build.archive))
            pending = yield txn.fetchall(
                "SELECT id FROM buildqueue WHERE builder IS NULL"
                "   AND processor = %s AND virtualized = %s"
                " ORDER BY lastscore DESC, id",
                (build.processor, build.archive_require_virtualized))
            duration = yield txn.fetchone(
                "SELECT avg(b.buildduration) AS mean, now() AS now"
                "  FROM build b JOIN distroarchrelease dar"
                "    ON dar.id = b.distroarchrelease"
                " WHERE dar.processor = %s AND b.buildstate = %s"
                "   AND b.buildduration IS NOT NULL",
                (build.processor, BuildStatus.FULLYBUILT.value))
            return {
                "build": build,
                "queue": None if queue is None else fromRow(
                    BuildQueue, queue),
                "builders": [fromRow(Builder, b) for b in builders],
                "busy": {b["builder"]: b["buildstart"] for b in busy},
                "chroot": None if chroot is None else fromRow(
                    PocketChroot, chroot),
                "published": published is not None,
                "pending": [p["id"] for p in pending],
                "mean_duration": duration["mean"],
                "now": duration["now"],
            }
        return self.store.runInteraction(read)
