"""C{/metrics} over real HTTP, its gauges read at scrape time."""

import re

import treq
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor
from twisted.trial import unittest
from twisted.web.client import Agent, HTTPConnectionPool

from lp_buildmaster import metrics
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.store.views import BuilderSummary
from lp_buildmaster.web import makeWebService
from lp_buildmaster.web.metrics import builderCounts
from tests.database import ROOT, DatabaseTestCase
from tests.test_web import testConfig


def samples(text):
    """C{{(name, frozenset(labels)): value}} of a scrape."""
    result = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            result[(sample.name, frozenset(sample.labels.items()))] = \
                sample.value
    return result


class CountTests(unittest.TestCase):

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

    def setUp(self):
        d = DatabaseTestCase.setUp(self)

        def started(_):
            self.web = makeWebService(self.store, testConfig())
            self.web.startService()
            self.addCleanup(self.web.stopService)
            pool = HTTPConnectionPool(reactor)
            self.addCleanup(pool.closeCachedConnections)
            self.http = treq.client.HTTPClient(Agent(reactor, pool=pool))
        return d.addCallback(started)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.web.port.getHost().port,
                                          path)

    @defer.inlineCallbacks
    def scrape(self):
        response = yield self.http.get(self.url("/metrics"))
        self.assertEqual(response.code, 200)
        return samples((yield response.content()).decode("utf-8"))

    @defer.inlineCallbacks
    def test_scrape_reads_the_farm_as_it_is_now(self):
        """A build queued just before a scrape is counted by it, as the
        API counts it (the issue: queue_depth 1 while 2 were queued)."""
        key = ("buildmaster_queue_depth", frozenset({"processor": "x86"}
                                                   .items()))
        self.assertEqual((yield self.scrape())[key], 1)
        yield self.store.builds.transition(3, BuildStatus.FAILEDTOBUILD,
                                           BuildStatus.NEEDSBUILD)
        yield self.store.queue.enqueueBuild(3)
        response = yield self.http.get(self.url("/api/queue"))
        api = yield response.json()
        self.assertEqual((yield self.scrape())[key], len(api))
        self.assertEqual(len(api), 2)

    @defer.inlineCallbacks
    def test_readme_names_what_is_scraped(self):
        """Every metric the README names is scraped under that name."""
        readme = (ROOT / "README.md").read_text()
        section = readme[readme.index("`/metrics` has"):]
        section = section[:section.index("\n\n")]
        named = set(re.findall(r"`(buildmaster_[a-z_]+)", section))
        self.assertGreater(len(named), 6)
        yield self.store.runOperation("SELECT 1")
        # The masters' gauges describe the registered masters.
        yield self.store.masters.heartbeat("alpha", 15.0)
        metrics.BUILDS_FINISHED.labels("FULLYBUILT")
        metrics.FAILURES.labels("builder", "x")
        scraped = {name for name, _ in (yield self.scrape())}
        # A histogram is named by its family; it is scraped as _bucket,
        # _sum and _count.
        self.assertEqual({name for name in named if name not in scraped
                          and name + "_bucket" not in scraped}, set())

    @defer.inlineCallbacks
    def test_scrape_shows_the_farm_and_the_master_metrics(self):
        response = yield self.http.get(self.url("/metrics"))
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
