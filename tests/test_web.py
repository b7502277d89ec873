"""The dashboard, the build page and the JSON API, over real HTTP on
127.0.0.1, against the sample data (bob busy with Build 8 / BuildQueue 1,
frog manual, BuildQueue 2 waiting for Build 10)."""

import datetime
import json

import treq
from twisted.internet import defer, reactor, task
from twisted.trial import unittest
from twisted.web.client import Agent, HTTPConnectionPool

from lp_buildmaster import config as configmodule
from lp_buildmaster.enums import (
    BuilderStatus, BuildStatus, PackagePublishingPocket)
from lp_buildmaster.store.views import ViewStore
from lp_buildmaster.web import makeWebResource, makeWebService
from lp_buildmaster.web.estimate import (
    DEFAULT_DURATION, estimateQueue, estimateStart)
from lp_buildmaster.model.builderstate import builderState
from tests.database import DatabaseTestCase

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
MIN = datetime.timedelta(minutes=1)
BUILD8 = "i386 build of mozilla-firefox 0.9 in ubuntu hoary RELEASE"
BUILD10 = "i386 build of cnews cr.g7-37 in ubuntu hoary RELEASE"


def testConfig(**overrides):
    values = dict(web_port=0,
                  librarian_public_url="http://librarian.example:8011/")
    values.update(overrides)
    return configmodule.load(environ={}).replace(**values)


class EstimateStartTests(unittest.TestCase):
    """The pure estimate: builders take jobs in order, one average
    duration each."""

    def test_head_of_queue_with_a_free_builder_starts_now(self):
        self.assertEqual(estimateStart(0, 1, 10 * MIN, NOW), NOW)

    def test_no_usable_builder_means_no_estimate(self):
        self.assertIsNone(estimateStart(0, 0, 10 * MIN, NOW))

    def test_jobs_ahead_are_shared_between_builders(self):
        # Two free builders: jobs 0 and 1 now, 2 and 3 after one job,
        # 4 after two.
        starts = [estimateStart(p, 2, 10 * MIN, NOW) for p in range(5)]
        self.assertEqual(starts, [NOW, NOW, NOW + 10 * MIN, NOW + 10 * MIN,
                                  NOW + 20 * MIN])

    def test_busy_builders_free_up_when_their_job_should_end(self):
        busy = [NOW + 3 * MIN, NOW + 7 * MIN]
        self.assertEqual(estimateStart(0, 2, 10 * MIN, NOW, busy),
                         NOW + 3 * MIN)
        self.assertEqual(estimateStart(1, 2, 10 * MIN, NOW, busy),
                         NOW + 7 * MIN)
        self.assertEqual(estimateStart(2, 2, 10 * MIN, NOW, busy),
                         NOW + 13 * MIN)
        # A third, free builder takes the head of the queue at once.
        self.assertEqual(estimateStart(0, 3, 10 * MIN, NOW, busy), NOW)

    def test_overdue_builders_count_as_free_now(self):
        self.assertEqual(
            estimateStart(0, 1, 10 * MIN, NOW, [NOW - 60 * MIN]), NOW)

    def test_numbers_work_as_well_as_datetimes(self):
        self.assertEqual(estimateStart(3, 2, 600, 1000.0, [1300.0]), 1900.0)

    def test_negative_position_is_refused(self):
        self.assertRaises(ValueError, estimateStart, -1, 1, MIN, NOW)

    def test_queue_estimates_agree_with_single_estimates(self):
        jobs = [("a1", "x86"), ("b1", "arm"), ("a2", "x86"), ("a3", "x86"),
                ("c1", "sparc"), ("b2", "arm")]
        busy = {"x86": [NOW - 5 * MIN]}
        result = estimateQueue(jobs, {"x86": 2, "arm": 1},
                               {"x86": 20 * MIN}, busy, NOW)
        self.assertEqual(result["a1"], (1, NOW))
        self.assertEqual(result["a2"], (2, NOW + 15 * MIN))
        self.assertEqual(result["a3"], (3, NOW + 20 * MIN))
        self.assertEqual(result["b2"], (2, NOW + DEFAULT_DURATION))
        self.assertEqual(result["c1"], (1, None))
        for key, processor in jobs:
            position, start = result[key]
            count = {"x86": 2, "arm": 1}.get(processor, 0)
            duration = 20 * MIN if processor == "x86" else DEFAULT_DURATION
            self.assertEqual(start, estimateStart(
                position - 1, count, duration, NOW,
                [t + duration for t in busy.get(processor, [])]))


class BuilderStateTests(unittest.TestCase):

    def test_states(self):
        B = BuildStatus
        self.assertEqual(builderState(True, True, False, False), "idle")
        self.assertEqual(builderState(True, True, True, False), "manual")
        self.assertEqual(builderState(True, True, True, True, B.BUILDING),
                         "building")
        self.assertEqual(builderState(True, True, False, True, B.UPLOADING),
                         "waiting")
        self.assertEqual(builderState(True, False, False, True, B.BUILDING),
                         "failed")
        self.assertEqual(builderState(False, False, False, False),
                         "disabled")
        self.assertEqual(builderState(True, True, False, True, B.BUILDING,
                                      live=BuilderStatus.WAITING), "waiting")


class WebTestCase(DatabaseTestCase):
    """A web server on 127.0.0.1 over the sample data, at a fixed time."""

    master = None

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.clock = task.Clock()
        self.clock.advance(NOW.timestamp())
        service = makeWebService(self.store, testConfig(),
                                 master=self.master, clock=self.clock)
        service.startService()
        self.addCleanup(service.stopService)
        self.base = "http://127.0.0.1:%d" % service.port.getHost().port
        pool = HTTPConnectionPool(reactor)
        self.addCleanup(pool.closeCachedConnections)
        self.http = treq.client.HTTPClient(Agent(reactor, pool=pool))

    @defer.inlineCallbacks
    def get(self, path):
        response = yield self.http.get(self.base + path)
        body = yield response.content()
        return response, body

    @defer.inlineCallbacks
    def getJSON(self, path, code=200):
        response, body = yield self.get(path)
        self.assertEqual(response.code, code, body)
        self.assertEqual(
            response.headers.getRawHeaders(b"content-type"),
            [b"application/json; charset=utf-8"])
        return json.loads(body)

    def setLogtail(self, buildqueue_id, text):
        # Nothing in the store writes a logtail except the scanner.
        return self.store.runOperation(
            "UPDATE buildqueue SET logtail = %s WHERE id = %s",
            (text, buildqueue_id))


class DashboardTests(WebTestCase):

    @defer.inlineCallbacks
    def test_dashboard_shows_builders_queue_and_recent_builds(self):
        response, body = yield self.get("/")
        self.assertEqual(response.code, 200)
        page = body.decode("utf-8")
        self.assertIn('<tr class="builder" data-name="bob">', page)
        self.assertIn('<span class="state building">building</span>', page)
        self.assertIn('<span class="state manual">manual</span>', page)
        self.assertIn('<a href="builders/bob">bob</a>', page)
        self.assertIn('<a href="builds/8">8</a> %s' % BUILD8, page)
        # The overview: one x86 builder building, one manual, one job.
        self.assertIn(
            '<tr class="pool"><td>x86, non-virtualized</td><td>0</td>'
            '<td>1</td><td>0</td><td>1</td><td>1</td><td>now</td></tr>',
            page)
        # The queue, one table per processor and virtualization:
        # BuildQueue 2 first for x86; bob's build is long overdue, so bob
        # should take it now.
        self.assertIn('<h3>x86, non-virtualized</h3>', page)
        self.assertIn(
            '<tr class="job" data-build="10"><td>1</td><td>x86</td>'
            '<td><a href="builds/10">10</a> %s</td><td>10</td>' % BUILD10,
            page)
        self.assertIn(">now</td>", page)
        # Recent builds: the finished ones, latest first (build 9).
        self.assertIn('<table id="recent">', page)
        self.assertLess(page.index('data-build="9"'),
                        page.index('data-build="1"'))
        self.assertNotIn('data-build="8"><td><a', page.split(
            '<table id="recent">')[1])

    @defer.inlineCallbacks
    def test_logtails_and_failnotes_are_escaped(self):
        yield self.setLogtail(1, '<script>alert("x")</script> & done')
        frog = yield self.store.builders.getByName("frog")
        yield self.store.builders.failBuilder(frog.id, "<b>disk</b> full")
        response, body = yield self.get("/")
        page = body.decode("utf-8")
        self.assertIn("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; "
                      "&amp; done", page)
        self.assertNotIn('<script>alert', page)
        self.assertIn("&lt;b&gt;disk&lt;/b&gt; full", page)
        self.assertIn('<span class="state failed">failed</span>', page)

    @defer.inlineCallbacks
    def test_finished_builds_link_their_log_in_the_librarian(self):
        alias = yield self.store.library.addAlias(
            "a" * 40, "b" * 64, 10, "buildlog_ubuntu-hoary-i386.pmount_0.1-1"
            "_FULLYBUILT.txt.gz", "application/gzip")
        yield self.store.builds.update(1, buildlog=alias)
        response, body = yield self.get("/")
        self.assertIn(
            ('<a href="http://librarian.example:8011/%d/buildlog_ubuntu-hoary'
             '-i386.pmount_0.1-1_FULLYBUILT.txt.gz">' % alias).encode(), body)
        data = yield self.getJSON("/api/builds/1")
        self.assertEqual(data["log"]["url"], "http://librarian.example:8011/"
                         "%d/buildlog_ubuntu-hoary-i386.pmount_0.1-1_"
                         "FULLYBUILT.txt.gz" % alias)

    @defer.inlineCallbacks
    def test_unknown_page_is_a_404_page(self):
        response, body = yield self.get("/nowhere/at/all")
        self.assertEqual(response.code, 404)
        self.assertIn(b"<h1>Not found</h1>", body)


class BuildPageTests(WebTestCase):

    @defer.inlineCallbacks
    def test_running_build_page_polls_the_api(self):
        yield self.setLogtail(1, "dpkg-buildpackage: <going>")
        response, body = yield self.get("/builds/8")
        self.assertEqual(response.code, 200)
        page = body.decode("utf-8")
        self.assertIn("<h1>%s</h1>" % BUILD8, page)
        self.assertIn('<span class="state BUILDING" id="state">Currently '
                      'building</span>', page)
        self.assertIn('<span id="builder"><a href="../builders/bob">bob</a>'
                      '</span>', page)
        self.assertIn('<dt>Build</dt><dd>8</dd>', page)
        self.assertIn('<dt>Score</dt><dd>1000</dd>', page)
        self.assertIn('<pre class="full tail" id="logtail">'
                      'dpkg-buildpackage: &lt;going&gt;</pre>', page)
        self.assertIn('fetch("../api/builds/" + id', page)
        self.assertIn("var id = 8,", page)

    @defer.inlineCallbacks
    def test_finished_build_page_does_not_poll(self):
        response, body = yield self.get("/builds/4")
        page = body.decode("utf-8")
        self.assertIn("Dependency wait", page)
        self.assertIn("libc6 (&gt;= 2.3.5)", page)
        self.assertNotIn("fetch(", page)

    @defer.inlineCallbacks
    def test_failed_upload_shows_its_reason(self):
        # Issue 12 item 12: a FAILEDTOUPLOAD's reason is on the build, in
        # the API and on its page, not only in uploader.log.
        yield self.store.runOperation(
            "UPDATE build SET buildstate = %s, failnotes = %s WHERE id = 7",
            (BuildStatus.FAILEDTOUPLOAD.value,
             "zz-extra.bin is not listed in the .changes"))
        build = yield self.getJSON("/api/builds/7")
        self.assertEqual((build["state"], build["failnotes"]),
                         ("FAILEDTOUPLOAD",
                          "zz-extra.bin is not listed in the .changes"))
        response, body = yield self.get("/builds/7")
        self.assertIn("<dt>Why it failed</dt><dd>zz-extra.bin is not listed "
                      "in the .changes</dd>", body.decode("utf-8"))

    @defer.inlineCallbacks
    def test_queued_build_page_shows_its_estimate(self):
        response, body = yield self.get("/builds/10")
        page = body.decode("utf-8")
        self.assertIn("<dt>Queue position</dt><dd>1 of x86, "
                      "non-virtualized</dd>", page)
        self.assertIn("<dt>Score</dt><dd>10</dd>", page)
        self.assertIn("<dt>Estimated start</dt><dd>now", page)

    @defer.inlineCallbacks
    def test_bad_and_unknown_build_ids(self):
        response, body = yield self.get("/builds/abc")
        self.assertEqual(response.code, 400)
        self.assertIn(b"build id must be a positive integer", body)
        response, body = yield self.get("/builds/999")
        self.assertEqual(response.code, 404)
        self.assertIn(b"no build 999", body)


class ApiTests(WebTestCase):

    @defer.inlineCallbacks
    def test_builders(self):
        yield self.setLogtail(1, "compiling")
        builders = yield self.getJSON("/api/builders")
        self.assertEqual([(b["name"], b["processor"], b["state"])
                          for b in builders],
                         [("bob", "x86", "building"), ("frog", "x86",
                                                       "manual")])
        bob = builders[0]
        self.assertEqual(bob["build"]["id"], 8)
        self.assertEqual(bob["build"]["title"], BUILD8)
        self.assertEqual(bob["logtail"], "compiling")
        self.assertEqual(bob["buildstart"], "2005-01-01T08:00:00+00:00")

    @defer.inlineCallbacks
    def test_one_builder(self):
        frog = yield self.getJSON("/api/builders/frog")
        self.assertEqual(frog["name"], "frog")
        self.assertIsNone(frog["build"])
        error = yield self.getJSON("/api/builders/nobody", code=404)
        self.assertEqual(error, {"error": "no builder named 'nobody'"})

    @defer.inlineCallbacks
    def test_queue(self):
        queue = yield self.getJSON("/api/queue")
        self.assertEqual(len(queue), 1)
        job = queue[0]
        self.assertEqual((job["id"], job["title"], job["position"],
                          job["score"], job["queued"]),
                         (10, BUILD10, 1, 10, True))
        self.assertEqual(job["estimated_start"], NOW.isoformat())

    @defer.inlineCallbacks
    def test_queue_estimate_waits_for_busy_builders(self):
        # bob started 4 minutes ago and builds take 10 (no history):
        # the waiting job starts in 6 minutes.
        yield self.store.runOperation(
            "UPDATE buildqueue SET buildstart = %s WHERE id = 1",
            (NOW - 4 * MIN,))
        queue = yield self.getJSON("/api/queue")
        self.assertEqual(queue[0]["estimated_start"],
                         (NOW + 6 * MIN).isoformat())

    @defer.inlineCallbacks
    def test_virtualized_jobs_wait_for_virtualized_builders(self):
        # A PPA build needs a virtualized builder; the farm has none.
        build10 = yield self.store.builds.get(10)
        ppa = yield self.store.builds.create(
            build10.distroarchrelease, build10.sourcepackagerelease, 2,
            PackagePublishingPocket.RELEASE)
        yield self.store.queue.enqueue(ppa, score=50)
        queue = yield self.getJSON("/api/queue")
        self.assertEqual(
            [(job["id"], job["archive"], job["position"],
              job["estimated_start"]) for job in queue],
            [(ppa, "ppa", 1, None), (10, "primary", 1, NOW.isoformat())])
        response, body = yield self.get("/")
        self.assertIn(b">no usable builder</td>", body)

    @defer.inlineCallbacks
    def test_builds_by_state_and_limit(self):
        builds = yield self.getJSON("/api/builds?state=fullybuilt&limit=3")
        self.assertEqual([b["id"] for b in builds], [9, 7, 6])
        self.assertEqual({b["state"] for b in builds}, {"FULLYBUILT"})
        builds = yield self.getJSON("/api/builds")
        self.assertEqual([b["id"] for b in builds], list(range(10, 0, -1)))

    @defer.inlineCallbacks
    def test_one_build(self):
        yield self.setLogtail(1, "still going")
        build = yield self.getJSON("/api/builds/8")
        self.assertEqual(build["state"], "BUILDING")
        self.assertEqual(build["builder"], "bob")
        self.assertEqual(build["logtail"], "still going")
        self.assertTrue(build["active"])
        self.assertEqual(build["elapsed"],
                         (NOW - datetime.datetime(
                             2005, 1, 1, 8, tzinfo=datetime.timezone.utc)
                          ).total_seconds())
        done = yield self.getJSON("/api/builds/4")
        self.assertEqual((done["state"], done["dependencies"],
                          done["active"], done["datebuilt"]),
                         ("MANUALDEPWAIT", "libc6 (>= 2.3.5)", False,
                          "2005-03-01T14:00:00+00:00"))

    @defer.inlineCallbacks
    def test_bad_parameters_are_400_with_a_json_error(self):
        for path, message in [
                ("/api/builds?limit=abc", "limit must be an integer"),
                ("/api/builds?limit=0", "limit must be an integer"),
                ("/api/builds?limit=100000", "limit must be an integer"),
                ("/api/builds?state=NOPE", "'NOPE' is not a BuildStatus"),
                ("/api/builds/abc", "build id must be a positive integer"),
                ("/api/builds/-3", "build id must be a positive integer"),
                ("/api/builds/99999999999", "build id must be a positive")]:
            error = yield self.getJSON(path, code=400)
            self.assertIn(message, error["error"], path)

    @defer.inlineCallbacks
    def test_unknown_things_are_404_with_a_json_error(self):
        error = yield self.getJSON("/api/builds/999", code=404)
        self.assertEqual(error, {"error": "no build 999"})
        error = yield self.getJSON("/api/nothing", code=404)
        self.assertEqual(error, {"error": "no such API resource: "
                                          "/api/nothing"})
        # NUL and bad UTF-8 name nothing: 404, not a 500 and a traceback.
        for path in ("/api/builders/%00", "/api/builders/bob%00",
                     "/api/builders/%ff"):
            error = yield self.getJSON(path, code=404)
            self.assertEqual(error, {"error": "no such API resource"})


class LiveMaster:
    """A master that saw bob WAITING on its last scan."""

    def liveBuilderStatus(self, name):
        return BuilderStatus.WAITING if name == "bob" else None


class LiveMasterTests(WebTestCase):

    master = LiveMaster()

    @defer.inlineCallbacks
    def test_live_status_refines_the_state(self):
        bob = yield self.getJSON("/api/builders/bob")
        self.assertEqual(bob["state"], "waiting")


class ResourceTests(DatabaseTestCase):

    @defer.inlineCallbacks
    def test_store_views_component_is_used_when_present(self):
        self.store.views = ViewStore(self.store)
        calls = []
        real = self.store.views.builders

        def builders(name=None):
            calls.append(name)
            return real(name)
        self.store.views.builders = builders
        root = makeWebResource(self.store, testConfig())
        farm = root.dashboard.farm
        result = yield farm.builders("bob")
        self.assertEqual(calls, ["bob"])
        self.assertEqual(result[0]["name"], "bob")


class DatabaseAwayTests(WebTestCase):
    """While the database cannot be reached the API answers 503 with
    Retry-After, and says so in one log line, not a traceback a request."""

    @defer.inlineCallbacks
    def test_api503OneLine(self):
        from twisted.logger import globalLogPublisher
        from txpostgres import reconnection
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self.patch(self.store, "runQuery",
                   lambda *a, **k: defer.fail(reconnection.ConnectionDead()))
        for _ in range(3):
            response, body = yield self.get("/api/builders")
            self.assertEqual(response.code, 503, body)
            self.assertEqual(response.headers.getRawHeaders(b"retry-after"),
                             [b"10"])
        said = [e for e in events
                if "answering 503" in e.get("log_format", "")]
        self.assertEqual(len(said), 1)
        self.assertEqual([e for e in events if "log_failure" in e], [])
