"""``make run``'s demo: a whole master with simulated builders at work."""

import treq
from twisted.internet import defer, reactor, task

from lp_buildmaster import config as configmodule
from lp_buildmaster import demo
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.service import MasterService
from lp_buildmaster.testing.simulator import PROFILES
from lp_buildmaster.slave import makePool
from tests.database import DatabaseTestCase
from tests.test_slave_fixtures import closePoolAtEnd

TIMEOUT = 60


class DemoTestCase(DatabaseTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        # Builds of seconds, not minutes: the wiring is under test here.
        self.patch(demo, "PROFILES", {"demo": PROFILES["fast"]})
        config = configmodule.load(environ={}, overrides={
            ("master", "database"): self.dsn,
            ("master", "state_dir"): str(self.librarian_root.parent),
            ("master", "scan_interval"): "0.5",
            ("master", "demo"): "3",
            ("web", "port"): "0",
            ("librarian", "port"): "0",
        })
        self.master = MasterService(config, self.dsn, reactor=reactor)
        yield self.master.startService()
        self.addCleanup(self.master.stopService)

    @defer.inlineCallbacks
    def waitFor(self, check, what):
        deadline = reactor.seconds() + TIMEOUT
        while True:
            result = yield check()
            if result:
                return result
            if reactor.seconds() > deadline:
                self.fail("timed out waiting for " + what)
            yield task.deferLater(reactor, 0.1, lambda: None)

    @defer.inlineCallbacks
    def finishedOnDemoBuilder(self):
        builders = {b.id: b.name for b in (yield self.store.builders.all())}
        for build in (yield self.store.builds.list(limit=50)):
            if (build.buildstate == BuildStatus.FULLYBUILT
                    and build.buildlog is not None
                    and builders.get(build.builder, "").startswith("demo-")):
                return build
        return None

    @defer.inlineCallbacks
    def demoBuilders(self):
        names = sorted(b.name for b in (yield self.store.builders.all()))
        # The demo registers its builders one by one: all three, or none.
        names = [n for n in names if n.startswith("demo-")]
        return names if len(names) == 3 else None

    @defer.inlineCallbacks
    def test_farmAtWork(self):
        names = yield self.waitFor(self.demoBuilders, "demo builders")
        self.assertEqual(names, ["demo-1", "demo-2", "demo-3"])
        build = yield self.waitFor(self.finishedOnDemoBuilder,
                                   "a build finished on a demo builder")
        pool = makePool(reactor)
        closePoolAtEnd(self, pool)
        url = "http://127.0.0.1:%d/" % self.master.web.port.getHost().port
        response = yield treq.get(url, pool=pool)
        page = (yield treq.content(response)).decode()
        self.assertEqual(response.code, 200)
        self.assertIn("demo-1", page)
        self.assertIn(build.source_name, page)

    @defer.inlineCallbacks
    def test_webOfTheRunningMaster(self):
        """The master's own pages: a finished build's log through its
        librarian client, the end of it on the build page, and the
        builders' last scans from the scanners."""
        build = yield self.waitFor(self.finishedOnDemoBuilder,
                                   "a build finished on a demo builder")
        pool = makePool(reactor)
        closePoolAtEnd(self, pool)
        base = "http://127.0.0.1:%d" % self.master.web.port.getHost().port
        response = yield treq.get("%s/builds/%d/log" % (base, build.id),
                                  pool=pool)
        text = yield treq.content(response)
        self.assertEqual(response.code, 200)
        last = text.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode()
        self.assertTrue(last)
        response = yield treq.get("%s/builds/%d" % (base, build.id),
                                  pool=pool)
        page = (yield treq.content(response)).decode()
        box = page[page.index('id="logtail"'):]
        self.assertIn(last.replace("<", "&lt;").replace(">", "&gt;"),
                      box[:box.index("</pre>")])
        response = yield treq.get(base + "/api/builders/demo-1", pool=pool)
        builder = yield treq.json_content(response)
        self.assertIsNotNone(builder["last_scanned"])
        self.assertIsNotNone(builder["state_since"])


class DemoFeedTestCase(DatabaseTestCase):
    """The demo's stream of requests rebuilds only sample sources that
    upload processing can accept: the seed's cnews C{cr.g7-37} is no valid
    Debian version, so a rebuild of it could only end FAILEDTOUPLOAD."""

    @defer.inlineCallbacks
    def test_feedSkipsInvalidVersions(self):
        class Master:
            store = self.store
        farm = demo.DemoFarm(Master(), builders=1000, seed=1)
        before = max(b.id for b in (yield self.store.builds.list(limit=1)))
        for _ in range(30):
            yield farm.feed()
        requested = [b.source_version
                     for b in (yield self.store.builds.list(limit=200))
                     if b.id > before]
        self.assertEqual(len(requested), 30)
        self.assertNotIn("cr.g7-37", requested)
        self.assertGreater(len(set(requested)), 1)
