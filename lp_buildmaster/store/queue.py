"""BuildQueue rows: the jobs waiting or running."""

from twisted.internet import defer
from zope.interface import implementer

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
