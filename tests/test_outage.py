"""The database going away while the master runs: scans pause, one line
when it goes and one when it returns, work resumes within one interval."""

import logging

import psycopg2
from twisted.internet import defer, reactor, task
from twisted.python import failure
from twisted.trial import unittest
from txpostgres import reconnection

from lp_buildmaster.outage import DatabaseWatch
from lp_buildmaster.scanner import ScannerManager
from lp_buildmaster.store import connection
from lp_buildmaster.testing import mockslaves
from tests.database import DatabaseTestCase
from tests.farm import captureLogs, makeGroup

INTERVAL = 15.0


class FakeStore:
    """ping() answers what the test says."""

    def __init__(self):
        self.answers = []
        self.pings = 0

    def ping(self):
        self.pings += 1
        return defer.succeed(self.answers.pop(0) if self.answers else False)


class DatabaseWatchTests(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        self.store = FakeStore()
        self.logs = captureLogs(self, "test.database")
        self.watch = DatabaseWatch(self.store, self.clock, probe_interval=2.0,
                                   logger=logging.getLogger("test.database"))
        self.back = []
        self.watch.addListener(lambda: self.back.append(self.clock.seconds()))

    def test_oneLineEachWay(self):
        self.clock.advance(100)
        self.watch.failed(reconnection.ConnectionDead())
        self.assertFalse(self.watch.available)
        # Every further error of the outage says nothing more.
        for _ in range(50):
            self.watch.failed(psycopg2.OperationalError("terminated"))
            self.assertTrue(self.watch.check(
                psycopg2.InterfaceError("connection already closed")))
        self.assertFalse(self.watch.check(KeyError("not the database")))
        self.store.answers = [False] * 7 + [True]
        for _ in range(8):
            self.clock.advance(2)
        self.assertTrue(self.watch.available)
        self.assertEqual(self.store.pings, 8)
        self.assertEqual(self.back, [116.0])
        self.assertEqual(self.watch.outages, [(100.0, 116.0)])
        self.assertEqual(len(self.logs.lines), 2, self.logs.lines)
        self.assertIn("database unavailable (ConnectionDead", self.logs.lines[0])
        self.assertIn("paused", self.logs.lines[0])
        self.assertIn("available again after 16.0 s", self.logs.lines[1])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopCancelsProbing(self):
        self.watch.failed(reconnection.ConnectionDead())
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.watch.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.watch.failed(reconnection.ConnectionDead())
        self.assertEqual(self.clock.getDelayedCalls(), [])


class OutageTests(DatabaseTestCase):
    """Connections killed under a running scanner manager (a database
    restart looks the same to the master)."""

    def admin(self, *statements):
        """Run statements on the server's maintenance database."""
        conn = connection.connectSync(
            connection.withDatabase(self.dsn, "postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                for sql, args in statements:
                    cur.execute(sql, args)
        finally:
            conn.close()

    def refuse(self):
        """New connections refused, existing ones terminated."""
        self.admin(
            ("ALTER DATABASE %s ALLOW_CONNECTIONS false"
             % connection.quoteIdent(self.dbname), None),
            ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
             " WHERE datname = %s AND pid <> pg_backend_pid()",
             (self.dbname,)))
        self.addCleanup(self.allow)

    def allow(self):
        self.admin(("ALTER DATABASE %s ALLOW_CONNECTIONS true"
                    % connection.quoteIdent(self.dbname), None))

    @defer.inlineCallbacks
    def test_pausedWhileAwayAndResumedWithinAnInterval(self):
        clock = task.Clock()
        logs = captureLogs(self)
        slaves = {"bob": mockslaves.SaneBuildingSlave(name="bob"),
                  "frog": mockslaves.OkSlave(name="frog")}
        manager = ScannerManager(
            self.store, makeGroup(self.store, clock=clock),
            lambda b: slaves[b.name], clock=clock, interval=INTERVAL)
        manager.startService()
        self.addCleanup(lambda: manager.running and manager.stopService())
        yield manager.settle()

        @defer.inlineCallbacks
        def advance(seconds):
            for _ in range(int(seconds)):
                clock.advance(1)
                yield manager.settle()
                # Reconnections run on the real reactor.
                yield task.deferLater(reactor, 0.01, lambda: None)

        yield advance(INTERVAL)
        self.refuse()
        # The next refresh meets the dead connections: paused.
        yield advance(INTERVAL)
        self.assertFalse(manager.database.available)
        paused = sum(1 for c in slaves["frog"].calls if c[0] == "status")
        yield advance(INTERVAL * 2)
        self.assertEqual(
            sum(1 for c in slaves["frog"].calls if c[0] == "status"), paused)
        self.allow()
        for _ in range(1000):
            if manager.database.outages:
                break
            yield advance(1)
        self.assertEqual(len(manager.database.outages), 1)
        # Every builder is scanned again at once (spread over at most a
        # third of an interval), not at its next turn.
        before = sum(1 for c in slaves["frog"].calls if c[0] == "status")
        yield advance(INTERVAL / 3 + 1)
        after = sum(1 for c in slaves["frog"].calls if c[0] == "status")
        self.assertGreaterEqual(after, before + 1)
        # Nothing was counted against anyone, and the outage is two lines.
        for name in ("bob", "frog"):
            builder = yield self.store.builders.getByName(name)
            self.assertEqual(builder.failure_count, 0)
            self.assertTrue(builder.builderok)
        said = [l for l in logs.lines if "database" in l]
        self.assertEqual(len(said), 2, said)
        for line in logs.lines:
            self.assertNotIn("Traceback", line)
        yield manager.stopService()
        self.assertEqual(clock.getDelayedCalls(), [])


class FakeProcessor:
    def __init__(self):
        self.calls = []
        self.fail = None

    def reconcile(self):
        self.calls.append("reconcile")
        return defer.succeed({})

    def expire(self, retention):
        return defer.succeed([])

    def processIncoming(self):
        self.calls.append("process")
        if self.fail is not None:
            return defer.fail(self.fail)
        return defer.succeed([])


class UploadSweeperTests(unittest.TestCase):

    def test_pausedWhileDatabaseAwayAndErrorsSaidOnce(self):
        from twisted.logger import globalLogPublisher
        from lp_buildmaster.service import UploadSweeper
        clock = task.Clock()
        watch = DatabaseWatch(FakeStore(), clock,
                              logger=logging.getLogger("test.database"))
        captureLogs(self, "test.database")
        processor = FakeProcessor()
        sweeper = UploadSweeper(processor, clock, database=watch,
                                reconcile_every=3)
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        sweeper.startService()
        clock.advance(10)
        clock.advance(10)
        clock.advance(10)
        self.assertEqual(processor.calls, [
            "reconcile", "process", "process", "process", "reconcile",
            "process"])
        del processor.calls[:]
        watch.failed(reconnection.ConnectionDead())
        clock.advance(10)
        self.assertEqual(processor.calls, [])
        watch.store.answers = [True]
        clock.advance(2)
        self.assertTrue(watch.available)
        processor.fail = OSError(5, "Input/output error")
        for _ in range(5):
            clock.advance(10)
        said = [e for e in events
                if "upload processing failed" in e.get("log_format", "")]
        self.assertEqual(len(said), 1)
        self.assertNotIn("log_failure", said[0])
        sweeper.stopService()
        self.assertEqual(clock.getDelayedCalls(), [])


class QuietConnectionTests(unittest.TestCase):
    """A connection the server closes is a reason the connection was lost
    (the detector reconnects), not an unhandled traceback."""

    def test_doReadErrorsBecomeTheReason(self):
        from txpostgres import txpostgres
        from lp_buildmaster.store import ReconnectingConnection
        conn = ReconnectingConnection(reactor=reactor)
        for raised in (psycopg2.OperationalError("server closed the "
                                                 "connection unexpectedly"),
                       ValueError("file descriptor cannot be a negative "
                                  "integer (-1)")):
            def doRead(self, raised=raised):
                raise raised
            self.patch(txpostgres.Connection, "doRead", doRead)
            reason = conn.doRead()
            self.assertIsInstance(reason, psycopg2.Error)
            self.assertTrue(conn.detector.deathChecker(
                failure.Failure(reason)))
