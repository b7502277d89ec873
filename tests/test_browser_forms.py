"""The pages' creating forms and the dashboard's finished builds in
headless Chromium (the harness is L{tests.test_browser}'s): a real
browser requests a build and adds a builder through the forms, and the
"Recently finished" table follows the database without a reload.
"""

import json

from twisted.internet import defer

from lp_buildmaster.enums import BuildStatus
from tests.test_browser import WAIT_FOR, BrowserTestCase


class FormTests(BrowserTestCase):

    @defer.inlineCallbacks
    def goTo(self, page, path):
        loaded = self.browser.expect("Page.loadEventFired", page)
        yield self.browser.send("Page.navigate", {"url": self.base + path},
                                session=page)
        yield loaded

    def fill(self, form_id, values):
        """A script setting C{values} in the form C{form_id}."""
        return "".join(
            "document.querySelector('#%s [name=%s]').value = %s;"
            % (form_id, name, json.dumps(value))
            for name, value in values.items())

    @defer.inlineCallbacks
    def test_operator_requests_a_build_from_the_form(self):
        page = yield self.logIn("olga", "operator")
        yield self.goTo(page, "/builds")
        request = self.fill("request", {
            "distribution": "ubuntu", "series": "hoary", "arch": "i386",
            "source": "pmount", "version": "0.1-1"})
        yield self.navigate(page, request + "document.getElementById("
                            "'request').submit()")
        shown = yield self.browser.evaluate(page, """[location.pathname,
            document.getElementById('state').textContent,
            document.querySelector('#audit tr.audit').textContent]""")
        self.assertRegex(shown[0], r"^/builds/\d+$")
        self.assertEqual(shown[1], "Needs building")
        self.assertIn("build request", shown[2])
        build = yield self.store.builds.get(int(shown[0].split("/")[-1]))
        self.assertEqual((build.source_name, build.buildstate),
                         ("pmount", BuildStatus.NEEDSBUILD))
        # The same again is refused: the form comes back with the reason.
        yield self.goTo(page, "/builds")
        yield self.navigate(page, request + "document.getElementById("
                            "'request').submit()")
        shown = yield self.browser.evaluate(page, """[
            document.getElementById('message').textContent,
            document.querySelector('#request [name=source]').value]""")
        self.assertIn("is NEEDSBUILD already", shown[0])
        self.assertEqual(shown[1], "pmount")

    @defer.inlineCallbacks
    def test_admin_adds_a_builder_from_the_dashboard(self):
        page = yield self.logIn("adam", "admin")
        yield self.goTo(page, "/")
        yield self.navigate(page, self.fill("add-builder", {
            "name": "alf", "url": "http://127.0.0.1:9000/",
            "processor": "x86"}) + "document.getElementById('add-builder')"
            ".submit()")
        shown = yield self.browser.evaluate(page, """[location.pathname,
            document.querySelector('h1').textContent]""")
        self.assertEqual(shown, ["/builders/alf", "Builder alf"])
        self.assertIsNotNone((yield self.store.builders.getByName("alf")))

    @defer.inlineCallbacks
    def test_viewer_sees_no_form(self):
        page = yield self.logIn("vera", "viewer")
        yield self.goTo(page, "/builds")
        forms = yield self.browser.evaluate(
            page, "document.querySelectorAll('#request').length")
        self.assertEqual(forms, 0)
        yield self.goTo(page, "/")
        forms = yield self.browser.evaluate(
            page, "document.querySelectorAll('#add-builder').length")
        self.assertEqual(forms, 0)


class RecentlyFinishedTests(BrowserTestCase):

    @defer.inlineCallbacks
    def test_recently_finished_follows_the_database(self):
        """A build that ends shows first in "Recently finished" without a
        reload, drawn as text."""
        page = yield self.browser.openPage(self.base + "/")
        yield self.browser.evaluate(page, "window.notReloaded = true")
        first = yield self.browser.evaluate(
            page, "document.querySelector('#recent tr.build')"
            ".dataset.build")
        self.assertNotEqual(first, "10")
        yield self.store.runOperation(
            "DELETE FROM buildqueue WHERE build = 10")
        yield self.store.runOperation(
            "UPDATE build SET buildstate = %s, datebuilt = now(),"
            " buildduration = interval '1 hour 2 minutes 3 seconds'"
            " WHERE id = 10", (BuildStatus.FAILEDTOBUILD.value,))
        followed = yield self.browser.evaluate(page, WAIT_FOR % {
            "ms": 15000, "predicate": "(document.querySelector("
            "'#recent tr.build') || {dataset: {}}).dataset.build === '10'"})
        self.assertTrue(followed, "the finished build never showed")
        row = yield self.browser.evaluate(page, """(function () {
            var row = document.querySelector('#recent tr.build');
            return [Array.from(row.cells).map(function (c) {
                      return c.textContent; }),
                    row.querySelector('.state').className,
                    row.querySelector('a').getAttribute('href'),
                    document.querySelectorAll('#recent tr.build').length,
                    window.notReloaded === true];
        })()""")
        cells, css, href, count, not_reloaded = row
        self.assertTrue(cells[0].startswith("10 "), cells)
        self.assertEqual(cells[1], "Failed to build")
        self.assertEqual(cells[4], "1:02:03")
        self.assertRegex(cells[3], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
        self.assertEqual((css, href, count, not_reloaded),
                         ("state FAILEDTOBUILD", "builds/10", 9, True))
