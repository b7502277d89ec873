"""C{/metrics} over real HTTP, and the refresh of the farm's gauges."""

import treq
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor, task
from twisted.trial import unittest
from twisted.web.client import Agent, HTTPConnectionPool

from lp_buildmaster import metrics
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.store.views import BuilderSummary
from lp_buildmaster.web import MetricsRefresher, makeWebService
from lp_buildmaster.web.metrics import builderCounts
from tests.database import DatabaseTestCase
from tests.test_web import testConfig


def samples(text):
    """C{{(name, frozenset(labels)): value}} of a scrape."""
    result = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            result[(sample.name, frozenset(sample.labels.items()))] = \
                sample.value
    return result


class FakeViews:
    """Views that count how often the farm was read."""

    def __init__(self):
        self.reads = 0
        self.summaries = [BuilderSummary("a", "arm", True, True, False, False,
                                         None)]
        self.pending = None

    def builderSummaries(self):
        self.reads += 1
        if self.pending is not None:
            return self.pending
        return defer.succeed(self.summaries)

    def queueDepths(self):
        return defer.succeed({"arm": 3})


class FakeStore:
    def __init__(self):
        self.views = FakeViews()


class RefresherTests(unittest.TestCase):

    def test_refreshes_at_start_and_every_interval(self):
        clock = task.Clock()
        store = FakeStore()
        refresher = MetricsRefresher(store, clock, interval=15)
        refresher.startService()
        self.assertEqual(store.views.reads, 1)
        self.assertEqual(metrics.QUEUE_DEPTH.labels("arm")._value.get(), 3)
        clock.advance(14)
        self.assertEqual(store.views.reads, 1)
        clock.advance(1)
        self.assertEqual(store.views.reads, 2)
        d = refresher.stopService()
        self.assertIsNotNone(d)
        self.successResultOf(d)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_one_refresh_at_a_time_and_stop_waits_for_it(self):
        clock = task.Clock()
        store = FakeStore()
        store.views.pending = defer.Deferred()
        refresher = MetricsRefresher(store, clock, interval=15)
        refresher.startService()
        clock.advance(60)
        self.assertEqual(store.views.reads, 1)
        stopped = refresher.stopService()
        self.assertNoResult(stopped)
        store.views.pending.callback(store.views.summaries)
        self.successResultOf(stopped)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_a_failed_refresh_is_logged_and_retried(self):
        clock = task.Clock()
        store = FakeStore()
        store.views.pending = defer.fail(RuntimeError("database gone"))
        refresher = MetricsRefresher(store, clock, interval=15)
        refresher.startService()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        store.views.pending = None
        clock.advance(15)
        self.assertEqual(store.views.reads, 2)
        self.successResultOf(refresher.stopService())

    def test_counts_have_every_state_of_every_processor(self):
        counts = builderCounts([
            BuilderSummary("a", "x86", True, True, False, True,
                           BuildStatus.BUILDING),
            BuilderSummary("b", "x86", True, False, False, False, None),
            BuilderSummary("c", "arm", False, True, False, False, None)])
        self.assertEqual(counts[("building", "x86")], 1)
        self.assertEqual(counts[("failed", "x86")], 1)
        self.assertEqual(counts[("idle", "x86")], 0)
        self.assertEqual(counts[("disabled", "arm")], 1)
        self.assertEqual(len(counts), 12)


class ScrapeTests(DatabaseTestCase):

    @defer.inlineCallbacks
    def test_scrape_shows_the_farm_and_the_master_metrics(self):
        refresher = MetricsRefresher(self.store, task.Clock(), interval=15)
        yield refresher.refresh()
        web = makeWebService(self.store, testConfig())
        web.startService()
        self.addCleanup(web.stopService)
        pool = HTTPConnectionPool(reactor)
        self.addCleanup(pool.closeCachedConnections)
        http = treq.client.HTTPClient(Agent(reactor, pool=pool))
        response = yield http.get("http://127.0.0.1:%d/metrics"
                                  % web.port.getHost().port)
        self.assertEqual(response.code, 200)
        self.assertTrue(response.headers.getRawHeaders(
            b"content-type")[0].startswith(b"text/plain"))
        text = (yield response.content()).decode("utf-8")
        scraped = samples(text)

        def value(name, **labels):
            return scraped[(name, frozenset(labels.items()))]
        self.assertEqual(value("buildmaster_builders", state="building",
                               processor="x86"), 1)
        self.assertEqual(value("buildmaster_builders", state="manual",
                               processor="x86"), 1)
        self.assertEqual(value("buildmaster_builders", state="idle",
                               processor="x86"), 0)
        self.assertEqual(value("buildmaster_queue_depth", processor="x86"),
                         1)
        self.assertEqual(value("buildmaster_queue_depth",
                               processor="amd64"), 0)
        families = {family.name: family.type
                    for family in text_string_to_metric_families(text)}
        for name, kind in [
                ("buildmaster_scan_duration_seconds", "histogram"),
                ("buildmaster_dispatch_latency_seconds", "histogram"),
                ("buildmaster_queue_wait_seconds", "histogram"),
                ("buildmaster_builds_finished", "counter"),
                ("buildmaster_failures", "counter")]:
            self.assertEqual(families.get(name), kind, name)
        self.assertIn("buildmaster_scan_duration_seconds_bucket{le=\"0.005\"}",
                      text)
