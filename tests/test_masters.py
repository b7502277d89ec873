"""Several masters sharing one database: registration, heartbeats, the
assignment of builders, handover between scans, failover and fencing.

Each master is a L{ScannerManager} with a Store of its own; time is one
C{task.Clock}, which the database statements use too (C{dbclock}). The
assignment and failover tests run on PostgreSQL and on the fake store
(its connections share one set of rows); instant dispatch (LISTEN) and
the pages (views) only on PostgreSQL.
"""

import collections

from twisted.internet import defer, task
from twisted.trial import unittest

from prometheus_client import generate_latest

from lp_buildmaster import config as configmodule
from lp_buildmaster import metrics
from lp_buildmaster.assignment import assign, moved
from lp_buildmaster.master import InstantDispatch
from lp_buildmaster.scanner import ScannerManager
from lp_buildmaster.store import Store
from lp_buildmaster.web.metrics import FarmGauges
from lp_buildmaster.web.pages import dashboardHTML
from lp_buildmaster.web.present import Farm
from lp_buildmaster.testing import mockslaves
from tests.database import DatabaseTestCase
from lp_buildmaster.testing.fakestore import FakeStore
from tests.farm import (
    FakeStoreTestCase, addBuilder, builderOwners, captureLogs, makeGroup)

INTERVAL = 4.0
#: How finely the tests step time.
STEP = 0.25


class AssignmentTests(unittest.TestCase):
    """The pure assignment: fair within one builder, stable, few moves."""

    def test_fairShare(self):
        for count in (30, 31, 900):
            builders = ["b%d" % i for i in range(count)]
            shares = collections.Counter(
                assign(builders, ["m1", "m2", "m3"]).values())
            self.assertEqual(sorted(shares), ["m1", "m2", "m3"])
            self.assertLessEqual(max(shares.values()) - min(shares.values()),
                                 1, (count, shares))

    def test_sameAnswerWhateverTheOrder(self):
        builders = ["b%d" % i for i in range(50)]
        self.assertEqual(assign(builders, ["m1", "m2", "m3"]),
                         assign(list(reversed(builders)), ["m3", "m1", "m2"]))

    def test_fewMoveWhenAMasterLeavesOrJoins(self):
        builders = ["b%d" % i for i in range(900)]
        three = assign(builders, ["m1", "m2", "m3"])
        two = assign(builders, ["m1", "m2"])
        four = assign(builders, ["m1", "m2", "m3", "m4"])
        # Leaving: m3's 300 must move; at most 2% more do.
        self.assertLessEqual(len(moved(three, two)), 306)
        self.assertTrue(all(two[b] == three[b] for b in builders
                            if three[b] != "m3" and b not in
                            moved(three, two)))
        # Joining: m4 gets its 225; at most 5% more move.
        self.assertEqual(collections.Counter(four.values())["m4"], 225)
        self.assertLessEqual(len(moved(three, four)), 236)

    def test_noMastersNoAssignment(self):
        self.assertEqual(assign(["b1"], []), {})


class RecordingSlave(mockslaves.OkSlave):
    """An idle builder that notes which master scanned it, and when."""

    def __init__(self, scans, master, clock, **kwargs):
        super().__init__(**kwargs)
        self.scans = scans
        self.master = master
        self.clock = clock

    def status(self):
        self.scans[self.name].append((self.clock.seconds(), self.master))
        return super().status()


class SeveralMasters:
    """Mixed into a test case on PostgreSQL (each master with a Store of
    its own) or on the fake store (each master with a connection to the
    same rows)."""

    builders = 28

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.clock = task.Clock()
        self.clock.advance(1_800_000_000)
        if isinstance(self.store, FakeStore):
            self.store.clock = self.clock
        self.scans = collections.defaultdict(list)
        # The sample builders: bob builds, frog is idle; both are ours too.
        for i in range(self.builders):
            yield addBuilder(self.store, "b%02d" % i)
        self.names = yield self.builderNames()
        self.managers = {}
        #: builders whose scan hangs on purpose
        self.hanging = []
        self.logs = captureLogs(self)

    @defer.inlineCallbacks
    def builderNames(self):
        return sorted((yield builderOwners(self.store)))

    @defer.inlineCallbacks
    def connect(self):
        """A store of a master's own."""
        if isinstance(self.store, FakeStore):
            return self.store.connection()
        store = yield Store.connect(self.dsn, size=2)
        self.addCleanup(store.close)
        return store

    @defer.inlineCallbacks
    def master(self, name, start=True):
        store = yield self.connect()

        def slave(builder):
            if builder.name == "bob":
                return mockslaves.SaneBuildingSlave(name="bob")
            return RecordingSlave(self.scans, name, self.clock,
                                  name=builder.name)
        manager = ScannerManager(
            store, makeGroup(store, clock=self.clock), slave,
            clock=self.clock, interval=INTERVAL, owner=name,
            dbclock=self.clock.seconds,
            web_url="http://127.0.0.1:1/%s" % name)
        self.managers[name] = manager
        if start:
            manager.startService()
            self.addCleanup(self.stop, manager)
            yield self.settle()
        return manager

    def stop(self, manager):
        if manager.running:
            return manager.stopService()

    @defer.inlineCallbacks
    def settle(self):
        for _ in range(3):
            for manager in list(self.managers.values()):
                yield manager.settle(exclude=self.hanging)

    @defer.inlineCallbacks
    def advance(self, seconds):
        """Let C{seconds} pass in small steps, every master acting at each."""
        for _ in range(int(round(seconds / STEP))):
            self.clock.advance(STEP)
            yield self.settle()

    def owners(self):
        return builderOwners(self.store)

    def kill(self, manager):
        """As SIGKILL: nothing runs any more, nothing is said."""
        for loop in (manager.beat, manager.loop):
            if loop.running:
                loop.stop()
        for scanner in manager.scanners.values():
            scanner.stop()
        manager.running = False

    def assertNoBuilderScannedByTwo(self, handovers=2):
        """No builder was scanned by two masters at once: two masters
        both scanning it every interval would alternate, run after run;
        here each builder's scans form at most C{handovers + 1} runs of
        one master each."""
        for name, scans in self.scans.items():
            runs = [master for i, (when, master) in enumerate(sorted(scans))
                    if i == 0 or sorted(scans)[i - 1][1] != master]
            self.assertLessEqual(len(runs), handovers + 1, (name, runs))


class SeveralMastersTestCase(SeveralMasters, DatabaseTestCase):
    pass


class AssignmentInTheDatabase(SeveralMasters):

    @defer.inlineCallbacks
    def test_mastersRegisterWithTheirURLs(self):
        yield self.master("alpha")
        masters = yield self.store.masters.all()
        self.assertEqual([(m.name, m.live, m.web_url, m.builders)
                          for m in masters],
                         [("alpha", True, "http://127.0.0.1:1/alpha", 30)])

    @defer.inlineCallbacks
    def test_spreadWithinOneBuilder(self):
        for name in ("alpha", "beta", "gamma"):
            yield self.master(name)
        yield self.advance(3 * INTERVAL)
        owners = yield self.owners()
        shares = collections.Counter(owners.values())
        self.assertEqual(sorted(shares), ["alpha", "beta", "gamma"])
        self.assertLessEqual(max(shares.values()) - min(shares.values()), 1)
        self.assertEqual(owners, assign(self.names,
                                        ["alpha", "beta", "gamma"]))
        # Each scans exactly the builders it holds.
        for name, manager in self.managers.items():
            self.assertEqual(sorted(manager.scanners),
                             sorted(b for b, o in owners.items()
                                    if o == name))
        self.assertNoBuilderScannedByTwo()

    @defer.inlineCallbacks
    def test_joiningMasterTakesItsShareBetweenScans(self):
        alpha = yield self.master("alpha")
        yield self.advance(INTERVAL)
        self.assertEqual(len(alpha.scanners), 30)
        beta = yield self.master("beta")
        yield self.advance(2 * INTERVAL)
        owners = yield self.owners()
        self.assertEqual(owners, assign(self.names, ["alpha", "beta"]))
        self.assertEqual(alpha.counts["released"], 15)
        self.assertEqual(beta.counts["taken"], 15)
        self.assertEqual(beta.counts["failovers"], 0)
        self.assertNoBuilderScannedByTwo()

    @defer.inlineCallbacks
    def test_releasedOnlyOnceItsScanEnds(self):
        alpha = yield self.master("alpha")
        yield self.advance(INTERVAL)
        wanted = assign(self.names, ["alpha", "beta"])
        moving = sorted(b for b, m in wanted.items() if m == "beta"
                        and b != "bob")[0]
        # A scan of a builder bound for beta hangs.
        scanner = alpha.scanners[moving]
        pending = defer.Deferred()
        scanner.slave.status = lambda: pending
        self.hanging.append(moving)
        idle = mockslaves.normaliseStatus(("BuilderStatus.IDLE",), moving)
        self.addCleanup(lambda: pending.called or pending.callback(idle))
        yield self.advance(INTERVAL)
        self.assertIsNotNone(scanner._inflight)
        yield self.master("beta")
        yield self.advance(2 * INTERVAL)
        owners = yield self.owners()
        self.assertEqual(owners[moving], "alpha")
        self.assertNotIn(moving, self.managers["beta"].scanners)
        # The scan ends: alpha lets go, beta takes it at its next refresh.
        pending.callback(idle)
        self.hanging.remove(moving)
        yield self.advance(INTERVAL)
        owners = yield self.owners()
        self.assertEqual(owners[moving], "beta")
        self.assertIn(moving, self.managers["beta"].scanners)

    @defer.inlineCallbacks
    def test_releasesOfEndedScansBatched(self):
        """Builders handed over whose scans end while the release of
        another is in flight are released together, in one statement."""
        alpha = yield self.master("alpha")
        yield self.advance(INTERVAL)
        wanted = assign(self.names, ["alpha", "beta"])
        moving = sorted(b for b, m in wanted.items() if m == "beta"
                        and b != "bob")[:3]
        pending = {}
        for name in moving:
            d = pending[name] = defer.Deferred()
            alpha.scanners[name].slave.status = lambda d=d: d
            self.hanging.append(name)
            idle = mockslaves.normaliseStatus(("BuilderStatus.IDLE",), name)
            self.addCleanup(
                lambda d=d, idle=idle: d.called or d.callback(idle))
        yield self.advance(INTERVAL)
        calls = []
        held = []
        release = alpha.control.jobs.release

        def recorded(owner, names):
            ours = sorted(set(names) & set(moving))
            if not ours:
                return release(owner, names)
            calls.append(ours)
            if len(calls) == 1:
                d = defer.Deferred()
                held.append((d, (owner, names)))
                return d
            return release(owner, names)
        self.patch(alpha.control.jobs, "release", recorded)
        yield self.master("beta")
        yield self.advance(2 * INTERVAL)
        self.assertEqual(calls, [])
        for name in moving:
            pending[name].callback(mockslaves.normaliseStatus(
                ("BuilderStatus.IDLE",), name))
        self.assertEqual(calls, [moving[:1]])
        d, args = held.pop()
        d.callback((yield release(*args)))
        self.assertEqual(calls, [moving[:1], moving[1:]])
        del self.hanging[:]
        yield self.advance(INTERVAL)
        owners = yield self.owners()
        self.assertEqual([owners[name] for name in moving], ["beta"] * 3)

    @defer.inlineCallbacks
    def test_gracefulStopHandsEverythingOver(self):
        alpha = yield self.master("alpha")
        yield self.master("beta")
        yield self.advance(2 * INTERVAL)
        yield alpha.stopService()
        masters = yield self.store.masters.all()
        self.assertEqual([m.name for m in masters], ["beta"])
        yield self.advance(INTERVAL / 2)
        owners = yield self.owners()
        self.assertEqual(set(owners.values()), {"beta"})


class AssignmentInTheDatabaseTests(AssignmentInTheDatabase,
                                   DatabaseTestCase):
    """On PostgreSQL: the leases as the SQL takes them."""


class FakeAssignmentTests(AssignmentInTheDatabase, FakeStoreTestCase):
    """The same masters' logic on the fake store."""


class Failover(SeveralMasters):

    @defer.inlineCallbacks
    def test_killedMastersBuildersScannedWithinTwoIntervals(self):
        for name in ("alpha", "beta", "gamma"):
            yield self.master(name)
        yield self.advance(3 * INTERVAL)
        owners = yield self.owners()
        held = sorted(b for b, o in owners.items() if o == "beta")
        victims = [b for b in held if b != "bob"]
        self.assertGreater(len(victims), 5)
        killed = self.clock.seconds()
        self.kill(self.managers["beta"])
        judged = None
        for _ in range(int(3 * INTERVAL / STEP)):
            self.clock.advance(STEP)
            yield self.settle()
            if judged is None and all(
                    "beta" not in m.live for n, m in self.managers.items()
                    if n != "beta"):
                judged = self.clock.seconds() - killed
        self.assertLessEqual(judged, 1.5 * INTERVAL)
        delays = []
        for name in victims:
            after = [when for when, master in self.scans[name]
                     if when > killed and master != "beta"]
            self.assertTrue(after, name)
            delays.append(after[0] - killed)
        self.assertLessEqual(max(delays), 2 * INTERVAL, delays)
        owners = yield self.owners()
        self.assertEqual(owners, assign(self.names, ["alpha", "gamma"]))
        failovers = sum(m.counts["failovers"]
                        for n, m in self.managers.items() if n != "beta")
        self.assertEqual(failovers, len(held))
        self.assertIn("master 'beta' is dead", "\n".join(self.logs.lines))
        self.assertNoBuilderScannedByTwo()

    @defer.inlineCallbacks
    def test_masterWithoutDatabaseStopsScanningBeforeOthersTakeOver(self):
        alpha = yield self.master("alpha")
        beta = yield self.master("beta")
        yield self.advance(2 * INTERVAL)
        # alpha's heartbeats fail; its scanners keep their LoopingCalls.
        real = alpha.store.masters.heartbeat
        alpha.store.masters.heartbeat = lambda *a, **kw: defer.fail(
            ConnectionError("database gone"))
        cut = self.clock.seconds()
        yield self.advance(3 * INTERVAL)
        self.assertTrue(alpha.fenced())
        alpha_last = max(when for scans in self.scans.values()
                         for when, master in scans if master == "alpha")
        self.assertLess(alpha_last, cut + alpha.FENCE * alpha.lifetime)
        owners = yield self.owners()
        self.assertEqual(set(owners.values()), {"beta"})
        self.assertEqual(len(beta.scanners), 30)
        self.assertEqual(
            sum("heartbeat failed" in line for line in self.logs.lines), 1)
        # The database comes back: alpha scans again only what is its own
        # once a refresh said so.
        alpha.store.masters.heartbeat = real
        yield self.advance(3 * INTERVAL)
        self.assertFalse(alpha.fenced())
        owners = yield self.owners()
        self.assertEqual(owners, assign(self.names, ["alpha", "beta"]))
        self.assertNoBuilderScannedByTwo()


class FailoverTests(Failover, DatabaseTestCase):
    """On PostgreSQL."""


class FakeFailoverTests(Failover, FakeStoreTestCase):
    """On the fake store."""


class InstantDispatchOwnerTests(SeveralMastersTestCase):

    @defer.inlineCallbacks
    def test_freedBuilderWakesOnlyItsOwner(self):
        masters = {}
        for name in ("alpha", "beta"):
            masters[name] = yield self.master(name)
        yield self.advance(2 * INTERVAL)
        owners = yield self.owners()
        freed = sorted(b for b, o in owners.items() if o == "beta"
                       and b != "bob")[0]
        builder = yield self.store.builders.getByName(freed)
        Notify = collections.namedtuple("Notify", "channel payload")
        before = len(self.scans[freed])
        for manager in masters.values():
            InstantDispatch(self.dsn, manager)._notified(
                Notify("builder_freed", str(builder.id)))
        self.clock.advance(0)
        yield self.settle()
        self.assertEqual(self.scans[freed][before:],
                         [(self.clock.seconds(), "beta")])


class VisibilityTests(SeveralMastersTestCase):
    """The metrics, the dashboard and the API say which master holds
    which builder, how old each heartbeat is, and count handovers and
    failovers."""

    @defer.inlineCallbacks
    def test_metricsDashboardAndAPI(self):
        alpha = yield self.master("alpha")
        yield self.advance(INTERVAL)
        handovers = metrics.HANDOVERS.labels("released")._value.get()
        yield self.master("beta")
        yield self.advance(2 * INTERVAL)
        self.assertEqual(
            metrics.HANDOVERS.labels("released")._value.get() - handovers,
            alpha.counts["released"])
        owners = yield self.owners()

        yield FarmGauges(self.store).refresh()
        text = generate_latest(metrics.REGISTRY).decode()
        for name, owner in owners.items():
            self.assertIn('buildmaster_builder_master{builder="%s",'
                          'master="%s"} 1.0' % (name, owner), text)
        self.assertIn('buildmaster_master_live{master="alpha"} 1.0', text)
        self.assertIn('buildmaster_master_builders{master="beta"} 15.0',
                      text)
        self.assertIn("buildmaster_master_heartbeat_age_seconds"
                      "{master=\"alpha\"}", text)
        self.assertIn("buildmaster_failovers_total", text)

        config = configmodule.load(environ={})
        farm = Farm(self.store, config, clock=self.clock)
        data = yield farm.dashboard()
        self.assertEqual({b["name"]: b["master"] for b in data["builders"]},
                         owners)
        self.assertEqual([(m["name"], m["live"], m["builders"])
                          for m in data["masters"]],
                         [("alpha", True, 15), ("beta", True, 15)])
        page = dashboardHTML(data).decode("utf-8")
        self.assertIn('<tr class="master" data-name="alpha"><td>alpha</td>'
                      '<td>live</td>', page)
        self.assertIn('<td class="master">beta</td>', page)
        masters = yield farm.masters()
        self.assertEqual([(m["name"], m["web_url"]) for m in masters],
                         [("alpha", "http://127.0.0.1:1/alpha"),
                          ("beta", "http://127.0.0.1:1/beta")])
