"""The dashboard and a live build page in Debian's headless Chromium.

Chromium is driven through the DevTools protocol over
C{--remote-debugging-pipe}: JSON messages separated by NUL bytes, read
from its file descriptor 4 and written to its descriptor 3. That needs
no websocket client and no extra package. Every wait is for a condition
(a reply, an event, a predicate in the page) with a bounded timeout.
"""

import json
import os

from twisted.internet import defer, error, protocol, reactor

from lp_buildmaster.web import makeWebService
from tests.database import DatabaseTestCase
from tests.test_web import BUILD8, BUILD10, testConfig

CHROMIUM = "/usr/bin/chromium"
TIMEOUT = 30


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


class BrowserTests(DatabaseTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        # The pages' "now" is the real time here: the browser polls in it.
        web = makeWebService(self.store, testConfig(), clock=reactor)
        web.startService()
        self.addCleanup(web.stopService)
        self.base = "http://127.0.0.1:%d" % web.port.getHost().port
        profile = os.path.abspath(self.mktemp())
        os.makedirs(profile)
        self.browser = Chromium.start(profile)
        self.addCleanup(self.browser.close)
        yield self.browser.send("Browser.getVersion")

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
