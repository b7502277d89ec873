"""BuildQueue rows: the jobs waiting or running."""

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster import scoring
from lp_buildmaster.enums import (
    ArchivePurpose, PackagePublishingPocket, SourcePackageUrgency)
from lp_buildmaster.interfaces import IBuildQueueStore
from lp_buildmaster.model.records import BuildQueue, fromRow
from lp_buildmaster.store import Component

QUEUE_COLUMNS = """
    id, build, builder, buildstart, lastscore, manual, logtail, processor,
    virtualized"""

ENQUEUE = """
    INSERT INTO buildqueue (build, lastscore, processor, virtualized)
    SELECT b.id, %s, dar.processor, a.require_virtualized
      FROM build b
      JOIN distroarchrelease dar ON dar.id = b.distroarchrelease
      JOIN archive a ON a.id = b.archive
     WHERE b.id = %s
    RETURNING id"""


# What the automatic score of a build is computed from (see scoring).
SCORE_INPUTS = """
    SELECT b.id AS build, b.pocket, spr.component, spr.urgency,
           a.purpose, a.private, a.relative_build_score
      FROM build b
      JOIN sourcepackagerelease spr ON spr.id = b.sourcepackagerelease
      JOIN archive a ON a.id = b.archive"""

RESCORE_INPUTS = """
    SELECT b.id AS build, bq.id AS queue, bq.lastscore, b.pocket,
           spr.component, spr.urgency, a.purpose, a.private,
           a.relative_build_score
      FROM buildqueue bq
      JOIN build b ON b.id = bq.build
      JOIN sourcepackagerelease spr ON spr.id = b.sourcepackagerelease
      JOIN archive a ON a.id = b.archive
     WHERE bq.builder IS NULL AND NOT bq.manual"""


def automaticScore(row):
    """The L{scoring.scoreBuild} of a row of C{SCORE_INPUTS}."""
    return scoring.scoreBuild(
        PackagePublishingPocket(row["pocket"]), row["component"],
        SourcePackageUrgency(row["urgency"]),
        ArchivePurpose(row["purpose"]), row["private"],
        row["relative_build_score"])


@defer.inlineCallbacks
def enqueueScored(txn, build_id):
    """Inside a transaction: queue C{build_id} with its automatic score;
    fires with the new entry's id."""
    inputs = yield txn.fetchone(SCORE_INPUTS + " WHERE b.id = %s",
                                (build_id,))
    if inputs is None:
        raise KeyError("no build %d" % (build_id,))
    row = yield txn.fetchone(ENQUEUE, (automaticScore(inputs), build_id))
    return row["id"]


@defer.inlineCallbacks
def rescoreAutomatic(txn, build_id=None):
    """Inside a transaction: recompute the scores of waiting entries not
    scored by hand (of C{build_id} only, if given); fires with
    C{{build_id: new score}} of those that changed."""
    sql = RESCORE_INPUTS
    args = ()
    if build_id is not None:
        sql += " AND bq.build = %s"
        args = (build_id,)
    rows = yield txn.fetchall(sql + " FOR UPDATE OF bq", args)
    changed = {}
    for row in rows:
        score = automaticScore(row)
        if score != row["lastscore"]:
            yield txn.execute(
                "UPDATE buildqueue SET lastscore = %s WHERE id = %s",
                (score, row["queue"]))
            changed[row["build"]] = score
    return changed


@implementer(IBuildQueueStore)
class BuildQueueStore(Component):

    @defer.inlineCallbacks
    def get(self, buildqueue_id):
        row = yield self._one(
            "SELECT %s FROM buildqueue WHERE id = %%s" % QUEUE_COLUMNS,
            (buildqueue_id,))
        return None if row is None else fromRow(BuildQueue, row)

    @defer.inlineCallbacks
    def getByBuild(self, build_id):
        row = yield self._one(
            "SELECT %s FROM buildqueue WHERE build = %%s" % QUEUE_COLUMNS,
            (build_id,))
        return None if row is None else fromRow(BuildQueue, row)

    @defer.inlineCallbacks
    def getByBuilder(self, builder_id):
        row = yield self._one(
            "SELECT %s FROM buildqueue WHERE builder = %%s" % QUEUE_COLUMNS,
            (builder_id,))
        return None if row is None else fromRow(BuildQueue, row)

    @defer.inlineCallbacks
    def enqueue(self, build_id, score=0):
        """A queue entry for C{build_id}; fires with its id."""
        row = yield self._one(ENQUEUE, (score, build_id))
        if row is None:
            raise KeyError("no build %d" % (build_id,))
        return row["id"]

    @defer.inlineCallbacks
    def pending(self, processor=None):
        """Entries waiting for a builder, in dispatch order."""
        sql = "SELECT %s FROM buildqueue WHERE builder IS NULL" % (
            QUEUE_COLUMNS,)
        args = ()
        if processor is not None:
            sql += " AND processor = %s"
            args = (processor,)
        rows = yield self._all(sql + " ORDER BY lastscore DESC, id", args)
        return [fromRow(BuildQueue, row) for row in rows]

    def enqueueBuild(self, build_id):
        """Queue C{build_id} with its automatic score (L{scoring});
        fires with the new entry's id."""
        return self.store.runInteraction(enqueueScored, build_id)

    @defer.inlineCallbacks
    def rescore(self, buildqueue_id, score):
        """Set a score by hand: automatic rescoring keeps it. Fires with
        whether the entry exists."""
        count = yield self.store.runInteraction(
            lambda txn: txn.rowcount(
                "UPDATE buildqueue SET lastscore = %s, manual = true"
                " WHERE id = %s", (score, buildqueue_id)))
        return count == 1

    def automatic(self, buildqueue_id):
        """Hand a waiting entry's score back to automatic scoring: its
        computed score at once. Fires with the new score, or None if the
        entry is gone or running."""
        @defer.inlineCallbacks
        def automatic(txn):
            row = yield txn.fetchone(
                "UPDATE buildqueue SET manual = false WHERE id = %s"
                " AND builder IS NULL RETURNING build", (buildqueue_id,))
            if row is None:
                return None
            inputs = yield txn.fetchone(SCORE_INPUTS + " WHERE b.id = %s",
                                        (row["build"],))
            score = automaticScore(inputs)
            yield txn.execute(
                "UPDATE buildqueue SET lastscore = %s WHERE id = %s",
                (score, buildqueue_id))
            return score
        return self.store.runInteraction(automatic)

    def rescoreAll(self):
        """Recompute the scores of every waiting entry not scored by hand;
        fires with C{{build_id: new score}} of those that changed."""
        return self.store.runInteraction(rescoreAutomatic)

    def rescoreBuild(self, build_id):
        """L{rescoreAll} for the entry of C{build_id} only."""
        return self.store.runInteraction(rescoreAutomatic, build_id)

    @defer.inlineCallbacks
    def all(self):
        """Every entry: the running ones (by builder), then the waiting
        ones in dispatch order."""
        rows = yield self._all(
            "SELECT %s FROM buildqueue ORDER BY builder IS NULL, builder,"
            " lastscore DESC, id" % QUEUE_COLUMNS)
        return [fromRow(BuildQueue, row) for row in rows]
