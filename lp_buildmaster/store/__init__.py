"""The database, reached asynchronously through txpostgres.

L{Store} owns a connection pool and one connector component per table
group (C{store.builders}, C{store.builds}, ...). Components return
Deferreds of plain records from L{lp_buildmaster.model.records}; nothing
else in the master writes SQL. Each component provides its interface of
L{lp_buildmaster.interfaces} (C{STORE_COMPONENTS}), and
L{lp_buildmaster.testing.fakestore} provides the same ones in memory.

Here: the store, its pool and transactions, and the components' base.
The components: builders, builds (with C{dispatchContext} for C{why}),
queue (scores), library, distro, sources (C{publishedQuery}, the one
"is this source live" query), vitals (what a scan reads), jobs (what a
scan writes), dispatch (candidate selection, reservation, start),
binaries (dependency waits), world (the admin's definitions, a build's
archive context), masters (heartbeats), jobtypes (job types other than a
binary package build), scans (when masters last scanned their
builders); outside C{Store}: accounts and views (the web's),
bound (the components inside one transaction). Beside them: schema and
migrations/, connection (embedded PostgreSQL), sampledata.

Imports point downward: the store may import L{lp_buildmaster.model},
L{lp_buildmaster.enums}, L{lp_buildmaster.interfaces},
L{lp_buildmaster.text}, L{lp_buildmaster.scoring} and the librarian's
content storage (for the sample data), never the scanner, the dispatcher,
the web or the admin commands.
"""

import psycopg2
import psycopg2.extras
from twisted.internet import defer
from txpostgres import reconnection, retrying, txpostgres
from zope.interface import implementer

from lp_buildmaster.interfaces import IStore


def _reconnectDelays():
    """Reconnect at once, then after 0.5 s growing to 2 s: a database back
    from an outage is in use again within 2 s (well within a scan
    interval), at the cost of a connection attempt per pooled connection
    every 2 s while it is away."""
    return retrying.simpleBackoffIterator(
        initialDelay=0.5, maxDelay=2.0, factor=1.5, maxRetries=0, now=True)


class ReconnectingConnection(txpostgres.Connection):
    """A connection that, once the database has gone away (restarted,
    failed over, connection killed), reconnects by itself with backoff:
    the calls made meanwhile fail at once, and later ones work again."""

    def __init__(self, reactor=None, cooperator=None, detector=None):
        super().__init__(reactor, cooperator, detector or (
            reconnection.DeadConnectionDetector(
                reconnectionIterator=_reconnectDelays)))

    def doRead(self):
        """The server closed this idle connection (restarted, connection
        terminated): hand the error to the reactor as the reason the
        connection was lost, so that the detector reconnects, instead of
        raising it for the reactor to log as an unhandled traceback."""
        try:
            return super().doRead()
        except psycopg2.Error as e:
            return e
        except (ValueError, OSError) as e:
            # Its socket went away under it (its descriptor is -1 by the
            # time it is watched again): the same, said as a database error
            # so that the detector reconnects.
            return psycopg2.InterfaceError("connection lost: %s" % e)

    def _runInteraction(self, interaction, *args, **kwargs):
        """As txpostgres does (BEGIN, the interaction, COMMIT or ROLLBACK),
        except that a ROLLBACK failing on a dead connection is no
        traceback in the log: it only means the connection is gone, which
        the caller learns from the L{txpostgres.RollbackFailed} (one per
        interaction in flight; hundreds per outage otherwise)."""
        cursor = self.cursor()
        d = cursor.execute("begin")
        d.addCallback(interaction, *args, **kwargs)

        def commit(result):
            return cursor.execute("commit").addCallback(lambda _: result)

        def rollback(failure):
            undo = defer.maybeDeferred(cursor.execute, "rollback")
            undo.addCallbacks(
                lambda _: failure,
                lambda _: defer.fail(txpostgres.RollbackFailed(self, failure)))
            return undo
        d.addCallback(commit)
        d.addErrback(rollback)
        return d


class ReconnectingPool(txpostgres.ConnectionPool):
    connectionFactory = ReconnectingConnection


class ListeningConnection(ReconnectingConnection):
    """A connection that LISTENs on C{channels}, again after every
    reconnection (notifications sent while it was away are lost; the
    regular scans cover them)."""

    def __init__(self, channels, observer, **kwargs):
        super().__init__(**kwargs)
        self.channels = tuple(channels)
        self.addNotifyObserver(observer)
        self.detector.addRecoveryHandler(self.listenAll)

    @defer.inlineCallbacks
    def listenAll(self):
        for channel in self.channels:
            yield self.runOperation("LISTEN %s" % channel)
        return self


def listen(dsn, channels, observer):
    """A connection delivering the notifications of C{channels} to
    C{observer}; fires once it listens. Close it with C{close()}."""
    conn = ListeningConnection(channels, observer)
    d = conn.connect(dsn)
    d.addCallback(lambda _: conn.listenAll())

    def failed(f):
        # Half set up: let it not linger (or reconnect) unseen.
        try:
            conn.close()
        except Exception:
            pass
        return f
    return d.addErrback(failed)


@implementer(IStore)
class Store:
    """A txpostgres pool and the connector components over it."""

    def __init__(self, dsn, size=4):
        self.dsn = dsn
        #: Statements sent so far (for benchmarks and metrics).
        self.statements = 0
        self.pool = ReconnectingPool(
            None, dsn, min=size,
            cursor_factory=psycopg2.extras.RealDictCursor)
        # Imported here: the components import this module's helpers.
        from lp_buildmaster.store.binaries import BinaryStore
        from lp_buildmaster.store.builders import BuilderStore
        from lp_buildmaster.store.builds import BuildStore
        from lp_buildmaster.store.dispatch import DispatchStore
        from lp_buildmaster.store.distro import DistroStore
        from lp_buildmaster.store.jobs import JobStore
        from lp_buildmaster.store.jobtypes import JobTypeStore
        from lp_buildmaster.store.library import LibraryStore
        from lp_buildmaster.store.masters import MasterStore
        from lp_buildmaster.store.queue import BuildQueueStore
        from lp_buildmaster.store.scans import ScanTimeStore
        from lp_buildmaster.store.sources import SourceStore
        from lp_buildmaster.store.world import WorldStore
        self.builders = BuilderStore(self)
        self.builds = BuildStore(self)
        self.queue = BuildQueueStore(self)
        self.library = LibraryStore(self)
        self.distro = DistroStore(self)
        self.sources = SourceStore(self)
        self.jobs = JobStore(self)
        self.binaries = BinaryStore(self)
        self.dispatch = DispatchStore(self)
        self.world = WorldStore(self)
        self.masters = MasterStore(self)
        self.jobtypes = JobTypeStore(self)
        self.scans = ScanTimeStore(self)

    @classmethod
    @defer.inlineCallbacks
    def connect(cls, dsn, size=4):
        """A started L{Store} on C{dsn}."""
        store = cls(dsn, size=size)
        yield store.pool.start()
        return store

    def close(self):
        self.pool.close()

    def ping(self):
        """Whether every pooled connection answers C{SELECT 1}.

        The queries run at once, so each takes its own connection: a
        connection killed while idle is found dead (and starts
        reconnecting) here rather than under real work.

        @return: a Deferred firing True or False; it never fails.
        """
        calls = [self.pool.runQuery("SELECT 1")
                 for _ in range(self.pool.min)]
        d = defer.DeferredList(calls, consumeErrors=True)
        return d.addCallback(lambda results: all(ok for ok, _ in results))

    def runQuery(self, sql, args=None):
        """Rows of one statement, outside any transaction."""
        self.statements += 1
        return self.pool.runQuery(sql, args)

    def runOperation(self, sql, args=None):
        self.statements += 1
        return self.pool.runOperation(sql, args)

    def runInteraction(self, fn, *args, **kwargs):
        """C{fn(Transaction, ...)} in one transaction: committed when its
        Deferred fires, rolled back when it fails."""
        # BEGIN and COMMIT (or ROLLBACK) count as statements too.
        self.statements += 2
        return self.pool.runInteraction(
            lambda cursor: fn(Transaction(cursor, self), *args, **kwargs))


class Transaction:
    """A cursor inside L{Store.runInteraction}, with fetch helpers."""

    def __init__(self, cursor, store=None):
        self.cursor = cursor
        self.store = store

    def _execute(self, sql, args):
        if self.store is not None:
            self.store.statements += 1
        return self.cursor.execute(sql, args)

    @defer.inlineCallbacks
    def execute(self, sql, args=None):
        yield self._execute(sql, args)
        return self.cursor

    @defer.inlineCallbacks
    def fetchall(self, sql, args=None):
        yield self._execute(sql, args)
        return self.cursor.fetchall()

    @defer.inlineCallbacks
    def fetchone(self, sql, args=None):
        yield self._execute(sql, args)
        return self.cursor.fetchone()

    @defer.inlineCallbacks
    def rowcount(self, sql, args=None):
        yield self._execute(sql, args)
        return self.cursor.rowcount


class Component:
    """Base of the connector components: one table group each."""

    def __init__(self, store):
        self.store = store

    @defer.inlineCallbacks
    def _one(self, sql, args=None):
        rows = yield self.store.runQuery(sql, args)
        return rows[0] if rows else None

    def _all(self, sql, args=None):
        return self.store.runQuery(sql, args)
