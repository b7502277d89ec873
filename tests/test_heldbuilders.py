"""The production BuilderGroup: the builders a running ScannerManager
scans, of every processor (HeldBuilders), on the fake store."""

from twisted.internet import defer, task

from lp_buildmaster.scanner import ScannerManager
from lp_buildmaster.testing import mockslaves
from tests.farm import FakeStoreTestCase, addBuilder, makeGroup

INTERVAL = 15.0


class HeldBuildersTestCase(FakeStoreTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.clock = task.Clock()
        self.slaves = {
            "bob": mockslaves.SaneBuildingSlave(name="bob"),
            "frog": mockslaves.OkSlave(name="frog"),
        }
        self.group = makeGroup(self.store, clock=self.clock)
        self.manager = ScannerManager(
            self.store, self.group, lambda b: self.slaves[b.name],
            clock=self.clock, interval=INTERVAL)

    @defer.inlineCallbacks
    def start(self):
        self.manager.startService()
        self.addCleanup(self.stop)
        yield self.manager.settle()

    @defer.inlineCallbacks
    def stop(self):
        yield self.manager.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @defer.inlineCallbacks
    def advance(self, seconds=INTERVAL):
        for _ in range(int(seconds)):
            self.clock.advance(1.0)
            yield self.manager.settle()

    def names(self):
        return sorted(builder.name for builder in self.group.builders)

    @defer.inlineCallbacks
    def test_groupHoldsTheScannedBuilders(self):
        """The group's builders are the scanned ones, whatever their
        processor; a disabled builder leaves it with its scanner."""
        yield addBuilder(self.store, "alpha")
        yield addBuilder(self.store, "arm1", processor="amd64")
        for name in ("alpha", "arm1"):
            self.slaves[name] = mockslaves.OkSlave(name=name)
        self.assertEqual(self.names(), [])
        yield self.start()
        self.assertEqual(self.names(), ["alpha", "arm1", "bob", "frog"])
        self.assertEqual(len(self.group.builders), 4)
        self.assertIsNone(self.group.processor)
        for builder in self.group.builders:
            self.assertIs(builder, self.manager.scanners[builder.name].builder)
            self.assertIs(builder.slave, self.slaves[builder.name])
        alpha = yield self.store.builders.getByName("alpha")
        yield self.store.builders.failBuilder(alpha.id, "disabled by hand")
        yield self.advance()
        self.assertEqual(self.names(), ["arm1", "bob", "frog"])

    @defer.inlineCallbacks
    def test_handleIsTheLatestSnapshot(self):
        """Each scan gives the builder's handle the snapshot it scans
        with: a builder set manual is seen so by the group."""
        yield self.start()
        yield self.advance()
        (frog,) = [b for b in self.group.builders if b.name == "frog"]
        self.assertTrue(frog.record.manual)
        yield self.store.builders.update(frog.id, manual=False)
        yield self.manager.refresh()
        yield self.advance()
        self.assertFalse(frog.record.manual)
        available = yield self.group.firstAvailable()
        self.assertIs(available, frog)

    @defer.inlineCallbacks
    def test_scanOnceIsForAStoppedManager(self):
        yield self.start()
        yield self.assertFailure(self.manager.scanOnce(), RuntimeError)
