"""The dashboard and a live build page in Debian's headless Chromium.

Chromium is driven through the DevTools protocol over
C{--remote-debugging-pipe}: JSON messages separated by NUL bytes, read
from its file descriptor 4 and written to its descriptor 3. That needs
no websocket client and no extra package. Every wait is for a condition
(a reply, an event, a predicate in the page) with a bounded timeout.
"""

import gzip
import io
import json
import os

from twisted.internet import defer, error, protocol, reactor
from twisted.web.server import Site

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.librarian.client import LibrarianClient
from lp_buildmaster.librarian.server import LibrarianResource
from lp_buildmaster.librarian.storage import ContentStore
from lp_buildmaster.store.accounts import AccountStore, hashPassword
from lp_buildmaster.web import makeWebService
from tests.database import DatabaseTestCase
from tests.test_web import BUILD8, BUILD10, testConfig

CHROMIUM = "/usr/bin/chromium"
TIMEOUT = 90  # a 10 MB log on a busy machine


class DevToolsError(Exception):
    """Chromium answered a command with an error."""


class Chromium(protocol.ProcessProtocol):
    """A headless Chromium and its DevTools pipe."""

    def __init__(self):
        self.ended = defer.Deferred()
        self._buffer = b""
        self._ids = 0
        self._replies = {}
        self._events = []
        self.log = b""

    @classmethod
    def start(cls, user_data_dir):
        browser = cls()
        reactor.spawnProcess(
            browser, CHROMIUM,
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-quic", "--no-first-run",
             "--disable-background-networking",
             "--disable-component-update", "--disable-sync",
             "--user-data-dir=%s" % user_data_dir,
             "--remote-debugging-pipe", "about:blank"],
            env={"PATH": "/usr/bin:/bin", "HOME": user_data_dir},
            childFDs={0: "w", 1: "r", 2: "r", 3: "w", 4: "r"})
        return browser

    def childDataReceived(self, fd, data):
        if fd != 4:
            # Kept (bounded) to explain a failure.
            self.log = (self.log + data)[-20000:]
            return
        self._buffer += data
        *messages, self._buffer = self._buffer.split(b"\0")
        for raw in messages:
            self._dispatch(json.loads(raw))

    def _dispatch(self, message):
        if "id" in message:
            d = self._replies.pop(message["id"], None)
            if d is None:
                return
            if "error" in message:
                d.errback(DevToolsError(message["error"]))
            else:
                d.callback(message.get("result", {}))
            return
        for entry in list(self._events):
            method, session, d = entry
            if message.get("method") == method and \
                    message.get("sessionId") == session:
                self._events.remove(entry)
                d.callback(message.get("params", {}))

    def send(self, method, params=None, session=None):
        """Fires with the result of one DevTools command."""
        self._ids += 1
        message = {"id": self._ids, "method": method,
                   "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        d = self._replies[self._ids] = defer.Deferred()
        self.transport.writeToChild(
            3, json.dumps(message).encode("utf-8") + b"\0")
        return d.addTimeout(TIMEOUT, reactor)

    def expect(self, method, session=None):
        """Fires with the params of the next event C{method}; call it
        before the command that causes the event."""
        d = defer.Deferred()
        self._events.append((method, session, d))
        return d.addTimeout(TIMEOUT, reactor)

    def processEnded(self, reason):
        pending = list(self._replies.values()) + [
            d for _, _, d in self._events]
        self._replies, self._events = {}, []
        for d in pending:
            d.errback(DevToolsError("chromium ended: %s\n%s" % (
                reason.value, self.log.decode("utf-8", "replace"))))
        self.ended.callback(reason.value.exitCode)

    @defer.inlineCallbacks
    def close(self):
        """Ask Chromium to quit and wait for it (killed if it dawdles)."""
        if self.ended.called:
            return
        try:
            yield self.send("Browser.close")
        except Exception:
            pass
        killer = reactor.callLater(TIMEOUT, self._kill)
        yield self.ended
        if killer.active():
            killer.cancel()

    def _kill(self):
        try:
            self.transport.signalProcess("KILL")
        except error.ProcessExitedAlready:
            pass

    @defer.inlineCallbacks
    def openPage(self, url):
        """A new tab showing C{url}, loaded; fires with its session id."""
        target = yield self.send("Target.createTarget", {"url": "about:blank"})
        attached = yield self.send("Target.attachToTarget", {
            "targetId": target["targetId"], "flatten": True})
        session = attached["sessionId"]
        yield self.send("Page.enable", session=session)
        loaded = self.expect("Page.loadEventFired", session)
        navigated = yield self.send("Page.navigate", {"url": url},
                                    session=session)
        if navigated.get("errorText"):
            raise DevToolsError("cannot load %s: %s"
                                % (url, navigated["errorText"]))
        yield loaded
        return session

    @defer.inlineCallbacks
    def evaluate(self, session, expression):
        """The value of a JavaScript expression (awaited if a promise)."""
        result = yield self.send("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True,
            "returnByValue": True}, session=session)
        if "exceptionDetails" in result:
            raise DevToolsError(result["exceptionDetails"])
        return result["result"].get("value")


# Polls a predicate in the page until it holds or the time is up.
WAIT_FOR = """
new Promise(function (resolve) {
  var deadline = Date.now() + %(ms)d;
  (function check() {
    var ok = (function () { return %(predicate)s; })();
    if (ok || Date.now() > deadline) { resolve(!!ok); }
    else { setTimeout(check, 50); }
  })();
})
"""


class BrowserTestCase(DatabaseTestCase):
    """A web server over the sample data, its librarian, and a headless
    Chromium; the tests are in the subclasses."""

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        # A librarian on loopback, so the pages' log links work.
        self.state_dir = os.path.abspath(self.mktemp())
        os.makedirs(self.state_dir)
        content = ContentStore(os.path.join(self.state_dir, "librarian"))
        librarian_port = reactor.listenTCP(0, Site(LibrarianResource(
            self.store, content, b"secret", reactor)),
            interface="127.0.0.1")
        self.addCleanup(librarian_port.stopListening)
        librarian_url = "http://127.0.0.1:%d/" % (
            librarian_port.getHost().port)
        self.librarian = LibrarianClient(self.store, content, librarian_url,
                                         b"secret")
        # The pages' "now" is the real time here: the browser polls in it.
        web = makeWebService(self.store, testConfig(
            master_state_dir=self.state_dir,
            librarian_public_url=librarian_url), clock=reactor)
        web.startService()
        self.addCleanup(web.stopService)
        self.base = "http://127.0.0.1:%d" % web.port.getHost().port
        profile = os.path.abspath(self.mktemp())
        os.makedirs(profile)
        self.browser = Chromium.start(profile)
        self.addCleanup(self.browser.close)
        yield self.browser.send("Browser.getVersion")
        self.accounts = AccountStore(self.store)

    @defer.inlineCallbacks
    def navigate(self, page, script):
        """Run C{script}, which leaves the page (a form submitted, a link
        followed), and wait for the next page to load."""
        loaded = self.browser.expect("Page.loadEventFired", page)
        yield self.browser.evaluate(page, "(function () { %s; return true; "
                                    "})()" % script)
        yield loaded

    @defer.inlineCallbacks
    def logIn(self, name, role):
        """An account with a password, logged in through the form; fires
        with the tab."""
        yield self.accounts.add(name, role, hashPassword("pass word 1"))
        page = yield self.browser.openPage(self.base + "/login")
        yield self.navigate(page, """
          document.querySelector('input[name=name]').value = %s;
          document.querySelector('input[name=password]').value =
              'pass word 1';
          document.getElementById('loginform').submit()""" % json.dumps(
            name))
        user = yield self.browser.evaluate(
            page, "document.getElementById('user').textContent")
        self.assertIn("%s (%s)" % (name, role), user)
        return page



class BrowserTests(BrowserTestCase):

    @defer.inlineCallbacks
    def test_dashboard_shows_builders_and_queue(self):
        page = yield self.browser.openPage(self.base + "/")
        seen = yield self.browser.evaluate(page, """({
          builders: Array.from(document.querySelectorAll(
              "#builders tr.builder")).map(function (row) {
            return [row.dataset.name,
                    row.querySelector(".state").textContent,
                    (row.querySelector('a[href^="builds/"]') || {})
                        .textContent || null];
          }),
          queue: Array.from(document.querySelectorAll("#queue tr.job")).map(
            function (row) {
              return Array.from(row.cells).slice(0, 4).map(
                function (cell) { return cell.textContent; });
          }),
          recent: document.querySelectorAll("#recent tr.build").length
        })""")
        self.assertEqual(seen["builders"], [["bob", "building", "8"],
                                            ["frog", "manual", None]])
        self.assertEqual(seen["queue"], [["1", "x86", "10 " + BUILD10,
                                          "10"]])
        self.assertEqual(seen["recent"], 8)

    @defer.inlineCallbacks
    def test_dashboard_queue_follows_the_database(self):
        """The queue tables and the overview are redrawn from the API: a
        new score shows, an emptied queue says so, a failed builder is
        counted, without a reload."""
        page = yield self.browser.openPage(self.base + "/")
        yield self.browser.evaluate(page, "window.notReloaded = true")
        yield self.store.runOperation(
            "UPDATE buildqueue SET lastscore = 4321 WHERE build = 10")
        rescored = yield self.browser.evaluate(page, WAIT_FOR % {
            "ms": 15000, "predicate": "(document.querySelector("
            "'#queue tr.job[data-build=\"10\"]') || {cells: []}).cells[3]"
            " && document.querySelector('#queue tr.job[data-build=\"10\"]')"
            ".cells[3].textContent === '4321'"})
        self.assertTrue(rescored, "the new score never showed")
        row = yield self.browser.evaluate(page, """Array.from(
            document.querySelector('#queue tr.job').cells).map(
              function (c) { return c.textContent; })""")
        self.assertEqual(row[:4], ["1", "x86", "10 " + BUILD10, "4321"])
        yield self.store.runOperation(
            "DELETE FROM buildqueue WHERE build = 10")
        emptied = yield self.browser.evaluate(page, WAIT_FOR % {
            "ms": 15000, "predicate": "document.getElementById('queue')"
            ".textContent === 'No job is waiting.'"})
        self.assertTrue(emptied, "the emptied queue never showed")
        # The overview by processor follows too.
        yield self.store.runOperation(
            "UPDATE builder SET builderok = false WHERE name = 'frog'")
        overview = yield self.browser.evaluate(page, WAIT_FOR % {
            "ms": 15000, "predicate": "(function () {"
            " var row = document.querySelector('#overview tr.pool');"
            " return row && row.cells[3].textContent === '1' &&"
            " row.cells[5].textContent === '0'; })()"})
        self.assertTrue(overview, "the overview never followed")
        row = yield self.browser.evaluate(page, """Array.from(
            document.querySelector('#overview tr.pool').cells).map(
              function (c) { return c.textContent; })""")
        self.assertEqual(row, ["x86, non-virtualized", "0", "1", "1", "0",
                               "0", "-"])
        self.assertTrue((yield self.browser.evaluate(
            page, "window.notReloaded === true")))

    @defer.inlineCallbacks
    def test_build_page_logtail_follows_the_database(self):
        yield self.store.runOperation(
            "UPDATE buildqueue SET logtail = 'unpacking' WHERE id = 1")
        page = yield self.browser.openPage(self.base + "/builds/8")
        text = yield self.browser.evaluate(
            page, "document.getElementById('logtail').textContent")
        self.assertEqual(text, "unpacking")
        # Untrusted text: it must show as text, not become markup.
        marker = "<b>dh_install</b> & friends"
        yield self.store.runOperation(
            "UPDATE buildqueue SET logtail = %s WHERE id = 1",
            ("unpacking\n" + marker,))
        appeared = yield self.browser.evaluate(page, WAIT_FOR % {
            "ms": 15000, "predicate": "document.getElementById('logtail')"
            ".textContent.indexOf(%s) >= 0" % json.dumps(marker)})
        self.assertTrue(appeared, "the new logtail never appeared")
        markup = yield self.browser.evaluate(
            page, "document.querySelectorAll('#logtail b').length")
        self.assertEqual(markup, 0)
        # The poll also updated the running time, formatted as the server
        # formats it (the build started in 2005).
        elapsed = yield self.browser.evaluate(
            page, "document.getElementById('elapsed').textContent")
        self.assertRegex(elapsed, r"^\d+:\d\d:\d\d$")

    @defer.inlineCallbacks
    def test_every_page_renders_filters_and_pages(self):
        checks = [
            ("/", "document.querySelectorAll('#overview tr.pool').length"),
            ("/builders/bob", "document.querySelectorAll("
             "'#history tr.build').length"),
            ("/builds/8", "document.getElementById('state').textContent"),
            ("/builds/10", "document.querySelector('h1').textContent"),
            ("/login", "document.querySelectorAll('#loginform input')"
             ".length"),
        ]
        for path, expression in checks:
            page = yield self.browser.openPage(self.base + path)
            value = yield self.browser.evaluate(page, expression)
            self.assertTrue(value, path)
        # The listing: a filter typed into its form, then paging.
        page = yield self.browser.openPage(self.base + "/builds")
        count = yield self.browser.evaluate(
            page, "document.querySelectorAll('#builds tr.build').length")
        self.assertEqual(count, 10)
        yield self.navigate(page, """
          document.querySelector('#filters input[name=source]').value =
              'pmount';
          document.getElementById('filters').submit()""")
        ids = yield self.browser.evaluate(page, """Array.from(
          document.querySelectorAll('#builds tr.build')).map(
            function (row) { return row.dataset.build; })""")
        self.assertEqual(ids, ["7", "6", "1"])
        yield self.store.runOperation(
            "INSERT INTO build (distroarchrelease, sourcepackagerelease,"
            " archive, pocket, buildstate)"
            " SELECT distroarchrelease, sourcepackagerelease, archive,"
            " pocket, 1 FROM build, generate_series(1, 30) WHERE id = 1")
        page = yield self.browser.openPage(self.base + "/builds")
        first = yield self.browser.evaluate(
            page, "document.querySelector('#builds tr.build').dataset.build")
        yield self.navigate(page, "document.getElementById('older').click()")
        older = yield self.browser.evaluate(page, """Array.from(
          document.querySelectorAll('#builds tr.build')).map(
            function (row) { return +row.dataset.build; })""")
        self.assertEqual(len(older), 15)  # 40 builds, 25 a page
        self.assertLess(max(older), int(first) - 24)
        self.assertTrue((yield self.browser.evaluate(
            page, "!!document.getElementById('newer')")))

    @defer.inlineCallbacks
    def test_live_tail_follows_and_stays_on_the_newest_line(self):
        page = yield self.browser.openPage(self.base + "/builders/bob")
        lines = "\n".join("line %d" % i for i in range(200))
        yield self.store.runOperation(
            "UPDATE buildqueue SET logtail = %s WHERE id = 1", (lines,))
        followed = yield self.browser.evaluate(page, WAIT_FOR % {
            "ms": 15000, "predicate": """(function () {
              var e = document.getElementById('logtail');
              return e.textContent.indexOf('line 199') >= 0 &&
                     e.scrollTop + e.clientHeight >= e.scrollHeight - 2;
            })()"""})
        self.assertTrue(followed, "the builder page's tail did not follow")

    @defer.inlineCallbacks
    def test_builder_page_follows_its_state_time_and_last_scan(self):
        page = yield self.browser.openPage(self.base + "/builders/bob")
        shown = yield self.browser.evaluate(
            page, "document.getElementById('last-scan').textContent")
        self.assertEqual(shown, "never")
        yield self.store.runOperation(
            "UPDATE builder SET last_scanned = '2026-01-02 03:04:05+00',"
            " state_since = now() - interval '2 hours' WHERE name = 'bob'")
        followed = yield self.browser.evaluate(page, WAIT_FOR % {
            "ms": 15000, "predicate": "document.getElementById('last-scan')"
            ".textContent === '2026-01-02 03:04:05 UTC' && /^2:0\\d:\\d\\d$/"
            ".test(document.getElementById('in-state').textContent)"})
        self.assertTrue(followed, "the builder page did not follow")
        # Failed meanwhile: its state, notes and count follow too.
        yield self.store.runOperation(
            "UPDATE builder SET builderok = false, failnotes = 'disk <full>',"
            " failure_count = 5 WHERE name = 'bob'")
        failed = yield self.browser.evaluate(page, WAIT_FOR % {
            "ms": 15000, "predicate": "document.getElementById('state')"
            ".textContent === 'failed'"})
        self.assertTrue(failed, "the builder page's state did not follow")
        shown = yield self.browser.evaluate(page, """[
            document.getElementById('state').className,
            document.getElementById('failnotes').textContent,
            document.getElementById('failure-count').textContent,
            document.getElementById('in-state').textContent,
            document.querySelectorAll('#failnotes *').length]""")
        self.assertEqual(shown[:3], ["state failed", "disk <full>", "5"])
        self.assertRegex(shown[3], r"^0:00:\d\d$")
        self.assertEqual(shown[4], 0)

    @defer.inlineCallbacks
    def test_operator_acts_viewer_is_refused(self):
        page = yield self.logIn("olga", "operator")
        loaded = self.browser.expect("Page.loadEventFired", page)
        yield self.browser.send("Page.navigate", {
            "url": self.base + "/builds/3"}, session=page)
        yield loaded
        yield self.navigate(page, "document.querySelector('#retry')"
                            ".submit()")
        state = yield self.browser.evaluate(
            page, "document.getElementById('state').textContent")
        self.assertEqual(state, "Needs building")
        self.assertEqual((yield self.store.builds.get(3)).buildstate,
                         BuildStatus.NEEDSBUILD)
        audit = yield self.browser.evaluate(
            page, "document.querySelector('#audit tr.audit').textContent")
        self.assertIn("olga", audit)
        self.assertIn("build retry", audit)

    @defer.inlineCallbacks
    def test_viewer_is_refused(self):
        page = yield self.logIn("vera", "viewer")
        loaded = self.browser.expect("Page.loadEventFired", page)
        yield self.browser.send("Page.navigate", {
            "url": self.base + "/builds/10"}, session=page)
        yield loaded
        forms = yield self.browser.evaluate(
            page, "document.querySelectorAll('#actions form').length")
        self.assertEqual(forms, 0)
        # Posting anyway, with the session's own CSRF token, is refused.
        answer = yield self.browser.evaluate(page, """
          fetch('../api/whoami').then(function (r) { return r.json(); })
            .then(function (who) {
              return fetch('../api/builds/10/cancel', {method: 'POST',
                headers: {'X-CSRF-Token': who.csrf}});
            }).then(function (r) {
              return r.json().then(function (b) { return [r.status,
                                                          b.error]; });
            })""")
        self.assertEqual(answer, [403, "vera (viewer) may not cancel builds:"
                                  " it needs the operator role"])
        self.assertEqual((yield self.store.builds.get(10)).buildstate,
                         BuildStatus.NEEDSBUILD)

    @defer.inlineCallbacks
    def test_form_without_csrf_token_is_refused(self):
        page = yield self.logIn("olga", "operator")
        loaded = self.browser.expect("Page.loadEventFired", page)
        yield self.browser.send("Page.navigate", {
            "url": self.base + "/builds/10"}, session=page)
        yield loaded
        yield self.navigate(page, """
          var form = document.getElementById('cancel');
          form.querySelector('input[name=csrf]').remove();
          form.submit()""")
        message = yield self.browser.evaluate(
            page, "document.getElementById('message').textContent")
        self.assertIn("no valid CSRF token", message)
        self.assertEqual((yield self.store.builds.get(10)).buildstate,
                         BuildStatus.NEEDSBUILD)

    @defer.inlineCallbacks
    def test_log_of_a_finished_10MB_build_opens_as_text(self):
        """10 MB through the librarian and the log page; trial's 120 s
        is not enough on a busy machine."""
        text = b"".join(b"%08d compiling something rather long here\n" % i
                        for i in range(230000))
        self.assertGreaterEqual(len(text), 10 * 1000 * 1000)
        stored = gzip.compress(text, compresslevel=1)
        alias = yield self.librarian.addFile(
            "buildlog_ubuntu-hoary-i386.pmount_0.1-1_FULLYBUILT.txt.gz",
            len(stored), io.BytesIO(stored), "text/plain")
        yield self.store.builds.update(7, buildlog=alias)
        page = yield self.browser.openPage(self.base + "/builds/7")
        href = yield self.browser.evaluate(page, """
          document.querySelector('a[href$=".txt.gz"]').href""")
        for url in (href, self.base + "/builds/7/log"):
            page = yield self.browser.openPage(url)
            seen = yield self.browser.evaluate(page, """({
              type: document.contentType,
              length: document.body.textContent.length,
              last: document.body.textContent.slice(-46)})""")
            self.assertEqual(seen, {
                "type": "text/plain", "length": len(text),
                "last": "00229999 compiling something rather long here\n"},
                url)

    test_log_of_a_finished_10MB_build_opens_as_text.timeout = 400
