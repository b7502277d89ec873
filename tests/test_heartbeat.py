"""A master's heartbeats go out on a connection of their own: while every
connection of the store its refreshes and releases use is busy, a
heartbeat is still written on time, and the master neither fences itself
nor looks dead to the others.

On PostgreSQL: the busy statements wait on an advisory lock the test
holds on a connection of its own; time is a C{task.Clock}, which the
heartbeat statements use too (C{dbclock}).
"""

from twisted.internet import defer, reactor

from lp_buildmaster import config as configmodule
from lp_buildmaster.scanner import ScannerManager
from lp_buildmaster.service import MasterService
from lp_buildmaster.store import Store
from lp_buildmaster.store.connection import connectSync
from tests.database import DatabaseTestCase
from tests.farm import makeGroup
from tests.test_masters import (
    INTERVAL, RecordingSlave, SeveralMastersTestCase)

#: The advisory lock the busy statements wait on.
LOCK = 151515

#: Real seconds a heartbeat may take before the test says it was queued
#: (a guard for the failure case only: the test never waits otherwise).
GUARD = 10.0


class HeartbeatConnectionTests(SeveralMastersTestCase):

    builders = 4

    @defer.inlineCallbacks
    def manager(self, beats):
        control = yield self.connect()

        def slave(builder):
            return RecordingSlave(self.scans, "alpha", self.clock,
                                  name=builder.name)
        manager = ScannerManager(
            control, makeGroup(control, clock=self.clock), slave,
            clock=self.clock, interval=INTERVAL, owner="alpha",
            dbclock=self.clock.seconds, beats=beats)
        self.managers["alpha"] = manager
        manager.startService()
        self.addCleanup(self.stop, manager)
        yield self.settle()
        return manager

    @defer.inlineCallbacks
    def heartbeatAt(self):
        rows = yield self.store.runQuery(
            "SELECT extract(epoch FROM heartbeat)::double precision AS t"
            "  FROM master WHERE name = 'alpha'")
        return rows[0]["t"]

    def occupy(self, store):
        """Every connection of C{store} busy on a statement that waits for
        the test's lock, and one more statement queued behind them: the
        test's connection, the Deferreds of the statements and the list
        of their answers so far."""
        holder = connectSync(self.dsn)
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        busy = [store.runQuery("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
                for _ in range(store.pool.min + 1)]
        answered = []
        for d in busy:
            d.addBoth(lambda result: answered.append(result) or result)
        return holder, busy, answered

    @defer.inlineCallbacks
    def test_heartbeatOnTimeWhileControlConnectionsBusy(self):
        beats = yield Store.connect(self.dsn, size=1)
        self.addCleanup(beats.close)
        manager = yield self.manager(beats)
        yield self.advance(INTERVAL)
        self.assertFalse(manager.fenced())
        holder, busy, answered = self.occupy(manager.control)
        try:
            # Two intervals with the refreshes' connections all taken: more
            # than a heartbeat's lifetime.
            for _ in range(2 * manager.BEATS):
                self.clock.advance(INTERVAL / manager.BEATS)
                beating = manager._beating
                self.assertIsNotNone(beating, "no heartbeat was sent")
                self.assertEqual(beats.pool._semaphore.waiting, [])
                yield beating.addTimeout(GUARD, reactor)
                written = yield self.heartbeatAt()
                self.assertEqual(written, self.clock.seconds())
                self.assertFalse(manager.fenced())
            # The control store's statements still wait: its connections
            # were busy all along.
            self.assertEqual(answered, [])
            masters = yield self.store.masters.all()
            self.assertEqual([(m.name, m.live) for m in masters],
                             [("alpha", True)])
        finally:
            holder.rollback()
            holder.close()
        yield defer.gatherResults(busy)
        yield self.advance(INTERVAL)
        self.assertFalse(manager.fenced())

    @defer.inlineCallbacks
    def test_withoutAConnectionOfTheirOwnHeartbeatsWait(self):
        """What the connection of their own is for: on the refreshes'
        store, the heartbeat waits behind the busy statements, and the
        master, without a heartbeat for three quarters of its lifetime,
        fences itself (it never acts as owner without one)."""
        manager = yield self.manager(beats=None)
        self.assertIs(manager.beats, manager.control)
        yield self.advance(INTERVAL)
        holder, busy, answered = self.occupy(manager.control)
        waiting = manager.control.pool._semaphore.waiting
        try:
            queued = len(waiting)
            self.clock.advance(INTERVAL / manager.BEATS)
            beating = manager._beating
            self.assertIsNotNone(beating)
            # Queued behind the busy statements, for a connection.
            self.assertEqual(len(waiting), queued + 1)
            self.clock.advance(manager.FENCE * manager.lifetime)
            self.assertFalse(beating.called)
            self.assertTrue(manager.fenced())
            self.assertEqual(answered, [])
        finally:
            holder.rollback()
            holder.close()
        yield defer.gatherResults(busy)
        yield beating
        yield self.advance(2 * INTERVAL)
        self.assertFalse(manager.fenced())


class ServiceTests(DatabaseTestCase):
    """The service gives a named master's heartbeats a connection of their
    own; a master alone (no name) has no heartbeat and needs none."""

    @defer.inlineCallbacks
    def start(self, name):
        overrides = {
            ("master", "state_dir"): str(self.librarian_root.parent),
            ("master", "scan_interval"): "3600",
            ("web", "port"): "0", ("librarian", "port"): "0"}
        if name:
            overrides[("master", "name")] = name
        master = MasterService(
            configmodule.load(environ={}, overrides=overrides), self.dsn,
            reactor=reactor)
        yield master.startService()
        self.addCleanup(master.stopService)
        return master

    @defer.inlineCallbacks
    def test_namedMasterHeartbeatsOnAConnectionOfItsOwn(self):
        master = yield self.start("alpha")
        manager = master.manager
        self.assertNotIn(manager.beats, (manager.control, manager.store))
        self.assertEqual(manager.beats.pool.min, 1)
        if manager._beating is not None:
            yield manager._beating
        masters = yield self.store.masters.all()
        self.assertEqual([(m.name, m.live) for m in masters],
                         [("alpha", True)])
        yield master.stopService()
        self.assertIsNone(master.beats)

    @defer.inlineCallbacks
    def test_masterAloneOpensNoHeartbeatConnection(self):
        master = yield self.start(None)
        self.assertIsNone(master.beats)
        self.assertIs(master.manager.beats, master.manager.control)
