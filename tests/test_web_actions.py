"""The write API over real HTTP: tokens, roles, browser sessions with
CSRF, the audit log, and the pages that show builders, builds and logs.

Every request goes to a web server on 127.0.0.1 over the sample data:
bob builds build 8, frog is manual, build 10 waits, build 3 failed.
"""

import gzip
import io
import json
import os

import psycopg2
import treq
from twisted.internet import defer, reactor, task
from twisted.web.client import Agent, HTTPConnectionPool

from lp_buildmaster.actions import Actions, Actor
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster import config as configmodule
from lp_buildmaster.librarian.client import LibrarianClient
from lp_buildmaster.librarian.remote import RemoteLibrarianClient
from lp_buildmaster.librarian.service import LibrarianService
from lp_buildmaster.librarian.storage import ContentStore
from lp_buildmaster.store.accounts import (
    AccountStore, checkPassword, hashPassword)
from lp_buildmaster.web import makeWebService
from tests.database import DatabaseTestCase
from tests.test_web import NOW, testConfig


class ActionTestCase(DatabaseTestCase):

    config = {}
    #: The web server's librarian client (None: the embedded one).
    web_librarian = None

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        yield self.startWeb()

    @defer.inlineCallbacks
    def startWeb(self):
        self.clock = task.Clock()
        self.clock.advance(NOW.timestamp())
        self.state_dir = self.mktemp()
        service = makeWebService(
            self.store, testConfig(master_state_dir=self.state_dir,
                                   **self.config), clock=self.clock,
            librarian=self.web_librarian)
        service.startService()
        self.addCleanup(service.stopService)
        self.base = "http://127.0.0.1:%d" % service.port.getHost().port
        pool = self.pool = HTTPConnectionPool(reactor)
        self.addCleanup(pool.closeCachedConnections)
        self.http = treq.client.HTTPClient(Agent(reactor, pool=pool))
        self.accounts = AccountStore(self.store)
        self.tokens = {}
        for name, role in (("vera", "viewer"), ("olga", "operator"),
                           ("adam", "admin")):
            account_id = yield self.accounts.add(name, role)
            _, self.tokens[name] = yield self.accounts.createToken(
                account_id)

    @defer.inlineCallbacks
    def call(self, method, path, body=None, token=None, code=200):
        headers = {}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode("utf-8")
        response = yield self.http.request(method, self.base + path,
                                           data=data, headers=headers)
        content = yield response.content()
        self.assertEqual(response.code, code, content)
        return json.loads(content)


class TokenTests(ActionTestCase):

    @defer.inlineCallbacks
    def test_operator_acts_viewer_is_refused(self):
        """An operator's token retries a failed build; the audit says who,
        what, when and from where; a viewer's is refused with 403, no
        token with 401, a revoked or made-up one with 401."""
        build = yield self.call("POST", "/api/builds/3/retry",
                                token=self.tokens["olga"])
        self.assertEqual((build["id"], build["state"]), (3, "NEEDSBUILD"))
        error = yield self.call("POST", "/api/builds/10/cancel",
                                token=self.tokens["vera"], code=403)
        self.assertEqual(error["error"], "vera (viewer) may not cancel "
                         "builds: it needs the operator role")
        error = yield self.call("POST", "/api/builds/10/cancel", code=401)
        self.assertIn("actions need an account", error["error"])
        yield self.call("POST", "/api/builds/10/cancel", token="bm_nonsense",
                        code=401)
        self.assertEqual((yield self.store.builds.get(10)).buildstate,
                         BuildStatus.NEEDSBUILD)
        audit = yield self.call("GET", "/api/audit?build=3")
        self.assertEqual(
            [(a["actor"], a["origin"], a["action"], a["build"])
             for a in audit], [("olga", "127.0.0.1", "build retry", 3)])
        self.assertRegex(audit[0]["time"], r"^\d{4}-\d\d-\d\dT")

        tokens = yield self.accounts.tokens()
        olga = [t["id"] for t in tokens if t["account"] == "olga"][0]
        self.assertTrue((yield self.accounts.revokeToken(olga)))
        yield self.call("POST", "/api/builds/10/cancel",
                        token=self.tokens["olga"], code=401)

    @defer.inlineCallbacks
    def test_tokens_are_stored_hashed(self):
        rows = yield self.store.runQuery("SELECT token_hash FROM apitoken")
        stored = {row["token_hash"] for row in rows}
        for secret in self.tokens.values():
            self.assertNotIn(secret, stored)
            self.assertFalse(any(secret in h for h in stored))

    @defer.inlineCallbacks
    def test_request_cancel_rescore_and_back_to_automatic(self):
        olga = self.tokens["olga"]
        build = yield self.call("POST", "/api/builds", {
            "distribution": "ubuntu", "series": "hoary", "arch": "i386",
            "source": "mozilla-firefox", "version": "0.9"}, token=olga,
            code=400)
        self.assertIn("is BUILDING already", build["error"])
        build = yield self.call("POST", "/api/builds/10/rescore",
                                {"score": 5000}, token=olga)
        self.assertEqual((build["score"], build["score_manual"]),
                         (5000, True))
        build = yield self.call("POST", "/api/builds/10/rescore",
                                {"score": "auto"}, token=olga)
        self.assertEqual((build["score"], build["score_manual"]),
                         (2225, False))
        build = yield self.call("POST", "/api/builds/10/cancel", token=olga)
        self.assertEqual(build["state"], "CANCELLED")
        error = yield self.call("POST", "/api/builds/999/retry", token=olga,
                                code=404)
        self.assertEqual(error["error"], "unknown build 999")
        error = yield self.call("POST", "/api/builds/10/rescore",
                                {"score": "high"}, token=olga, code=400)
        self.assertEqual(error["error"], 'score must be an integer or "auto"')
        audit = yield self.call("GET", "/api/audit?build=10")
        self.assertEqual([a["action"] for a in audit],
                         ["build cancel", "build rescore", "build rescore"])
        self.assertEqual(audit[1]["detail"], "automatic: 2225")

    @defer.inlineCallbacks
    def test_builders_set_add_and_remove(self):
        olga, adam = self.tokens["olga"], self.tokens["adam"]
        frog = yield self.call("POST", "/api/builders/frog",
                               {"enabled": False, "reason": "disk full"},
                               token=olga)
        self.assertEqual((frog["state"], frog["failnotes"]),
                         ("failed", "disk full"))
        frog = yield self.call("POST", "/api/builders/frog",
                               {"enabled": True, "manual": False},
                               token=olga)
        self.assertEqual(frog["state"], "idle")
        error = yield self.call("POST", "/api/builders", {
            "name": "alf", "url": "http://127.0.0.1:9000/",
            "processor": "x86"}, token=olga, code=403)
        self.assertIn("needs the admin role", error["error"])
        alf = yield self.call("POST", "/api/builders", {
            "name": "alf", "url": "http://127.0.0.1:9000/",
            "processor": "x86", "virtualized": True}, token=adam, code=201)
        self.assertEqual((alf["name"], alf["virtualized"]), ("alf", True))
        error = yield self.call("POST", "/api/builders", {
            "name": "gnu", "url": "http://127.0.0.1/",
            "processor": "x86"}, token=adam, code=400)
        self.assertIn("malformed builder URL", error["error"])
        # bob runs build 8: it cannot be retired under it.
        error = yield self.call("DELETE", "/api/builders/bob", token=adam,
                                code=400)
        self.assertEqual(error["error"], "builder bob is running build 8 "
                         "(BUILDING); cancel it or wait before removing "
                         "the builder")
        yield self.call("DELETE", "/api/builders/frog", token=olga,
                        code=403)
        gone = yield self.call("DELETE", "/api/builders/frog", token=adam)
        self.assertEqual(gone, {"name": "frog", "retired": True})
        frog = yield self.store.builders.getByName("frog")
        self.assertFalse(frog.active)
        # Retired, its record stays for the builds it made.
        frog = yield self.call("GET", "/api/builders/frog")
        self.assertEqual(frog["state"], "disabled")
        audit = yield self.call("GET", "/api/audit?builder=frog")
        self.assertEqual(
            [(a["actor"], a["action"], a["detail"]) for a in audit],
            [("adam", "builder remove", ""),
             ("olga", "builder set", "enabled, automatic"),
             ("olga", "builder set", "disabled: disk full")])

    @defer.inlineCallbacks
    def test_build_listing_filters_and_pages(self):
        builds = yield self.call("GET", "/api/builds?source=pmount")
        self.assertEqual([b["id"] for b in builds], [7, 6, 1])
        builds = yield self.call(
            "GET", "/api/builds?source=pmount&series=hoary")
        self.assertEqual([b["id"] for b in builds], [7, 1])
        builds = yield self.call("GET", "/api/builds?limit=3&offset=3")
        self.assertEqual([b["id"] for b in builds], [7, 6, 5])
        builds = yield self.call("GET", "/api/builds?state=fullybuilt"
                                 "&processor=x86&archive=primary&limit=2")
        self.assertEqual([b["id"] for b in builds], [9, 7])
        builds = yield self.call("GET", "/api/builds?distribution=debian")
        self.assertEqual(builds, [])
        yield self.call("GET", "/api/builds?offset=-1", code=400)


class AuditTransactionTests(DatabaseTestCase):
    """An action and its audit entry are one transaction: when the entry
    cannot be written, the action is not done either."""

    @defer.inlineCallbacks
    def assertUndone(self, action, *args, **kwargs):
        original = AccountStore.record

        def record(accounts, *a, **k):
            # The entry's statement reaches the database and fails there.
            return accounts.store.runOperation("SELECT 1 / 0")
        self.patch(AccountStore, "record", record)
        actions = Actions(self.store, Actor("olga", "admin", "127.0.0.1"))
        yield self.assertFailure(getattr(actions, action)(*args, **kwargs),
                                 psycopg2.DataError)
        self.patch(AccountStore, "record", original)
        entries = yield AccountStore(self.store).audit(limit=10)
        self.assertEqual(entries, [])

    @defer.inlineCallbacks
    def test_retry(self):
        yield self.assertUndone("retryBuild", 3)
        self.assertEqual((yield self.store.builds.get(3)).buildstate,
                         BuildStatus.FAILEDTOBUILD)

    @defer.inlineCallbacks
    def test_cancel_and_rescore(self):
        before = yield self.store.queue.getByBuild(10)
        yield self.assertUndone("cancelBuild", 10)
        self.assertEqual((yield self.store.builds.get(10)).buildstate,
                         BuildStatus.NEEDSBUILD)
        yield self.assertUndone("rescoreBuild", 10, 5000)
        after = yield self.store.queue.getByBuild(10)
        self.assertEqual((after.lastscore, after.manual),
                         (before.lastscore, before.manual))

    @defer.inlineCallbacks
    def test_builders(self):
        yield self.assertUndone("setBuilder", "frog", disable="disk full")
        frog = yield self.store.builders.getByName("frog")
        self.assertTrue(frog.builderok)
        yield self.assertUndone("addBuilder", "alf", "http://10.0.0.7:8221/",
                                "x86")
        self.assertIsNone((yield self.store.builders.getByName("alf")))
        yield self.assertUndone("removeBuilder", "frog")
        self.assertTrue((yield self.store.builders.getByName("frog")).active)

    @defer.inlineCallbacks
    def test_request(self):
        before = yield self.store.builds.list(limit=1000)
        yield self.assertUndone("requestBuild", "ubuntu", "hoary", "i386",
                                "pmount", "0.1-1")
        after = yield self.store.builds.list(limit=1000)
        self.assertEqual(len(after), len(before))

    @defer.inlineCallbacks
    def test_done_with_its_entry(self):
        """Without a failure both are there."""
        actions = Actions(self.store, Actor("olga", "operator", "cli"))
        yield actions.retryBuild(3)
        self.assertEqual((yield self.store.builds.get(3)).buildstate,
                         BuildStatus.NEEDSBUILD)
        entries = yield AccountStore(self.store).audit(build=3)
        self.assertEqual([(e.actor, e.action) for e in entries],
                         [("olga", "build retry")])


class AnonymousReadOffTests(ActionTestCase):

    config = {"web_anonymous_read": False}

    @defer.inlineCallbacks
    def test_reading_needs_an_account(self):
        yield self.call("GET", "/api/builders", code=401)
        builders = yield self.call("GET", "/api/builders",
                                   token=self.tokens["vera"])
        self.assertEqual([b["name"] for b in builders], ["bob", "frog"])
        response = yield self.http.get(self.base + "/builds/8")
        self.assertEqual(response.code, 401)
        yield response.content()


class SessionTests(ActionTestCase):

    @defer.inlineCallbacks
    def login(self, name, password):
        """Log in through the form; fires with the cookies and the
        session's CSRF token (from /api/whoami)."""
        response = yield self.http.get(self.base + "/login")
        form = (yield response.content()).decode()
        cookies = {c.name: c.value for c in response.cookies()}
        token = form.split('name="csrf" value="')[1].split('"')[0]
        self.assertEqual(cookies["bm_login"], token)
        response = yield self.http.post(
            self.base + "/login", data={"name": name, "password": password,
                                        "csrf": token},
            cookies=cookies, allow_redirects=False)
        yield response.content()
        if response.code != 303:
            return response.code, None, None
        cookies = {c.name: c.value for c in response.cookies()
                   if c.value}
        response = yield self.http.get(self.base + "/api/whoami",
                                       cookies=cookies)
        who = yield response.json()
        return 303, cookies, who

    @defer.inlineCallbacks
    def test_login_then_form_actions_need_the_csrf_token(self):
        yield self.accounts.update(
            (yield self.accounts.getByName("olga")).id,
            password_hash=hashPassword("correct horse"))
        code, _, _ = yield self.login("olga", "wrong")
        self.assertEqual(code, 403)
        code, cookies, who = yield self.login("olga", "correct horse")
        self.assertEqual((code, who["name"], who["role"]),
                         (303, "olga", "operator"))
        # A form posted without the session's CSRF token is refused.
        response = yield self.http.post(
            self.base + "/api/builds/3/retry",
            data={"next": "../../../builds/3"}, cookies=cookies,
            allow_redirects=False)
        body = yield response.content()
        self.assertEqual(response.code, 403, body)
        self.assertIn(b"no valid CSRF token", body)
        # Its links lead to the site's pages, from the API's path.
        self.assertIn(b'<a href="../../../builds">builds</a>', body)
        self.assertIn(b'<a href="../../../builds/3">back</a>', body)
        self.assertEqual((yield self.store.builds.get(3)).buildstate,
                         BuildStatus.FAILEDTOBUILD)
        # With it, the action is done and the browser goes back.
        response = yield self.http.post(
            self.base + "/api/builds/3/retry",
            data={"next": "../../../builds/3", "csrf": who["csrf"]},
            cookies=cookies, allow_redirects=False)
        yield response.content()
        self.assertEqual(response.code, 303)
        self.assertEqual(response.headers.getRawHeaders(b"location"),
                         [b"../../../builds/3"])
        self.assertEqual((yield self.store.builds.get(3)).buildstate,
                         BuildStatus.NEEDSBUILD)
        # The build page shows the audit entry and the operator's forms.
        response = yield self.http.get(self.base + "/builds/10",
                                       cookies=cookies)
        page = (yield response.content()).decode()
        self.assertIn('id="cancel"', page)
        self.assertIn('id="rescore-auto"', page)
        self.assertIn("olga (operator)", page)
        # treq keeps cookies: a fresh client is anonymous.
        anonymous = treq.client.HTTPClient(Agent(reactor, pool=self.pool))
        response = yield anonymous.get(self.base + "/builds/3")
        page = (yield response.content()).decode()
        self.assertIn('<td>olga</td><td>127.0.0.1</td><td>build retry</td>',
                      page)
        self.assertNotIn('id="cancel"', page)  # anonymous: no forms

    def test_password_hashes(self):
        stored = hashPassword("s3cret pass")
        self.assertTrue(stored.startswith("scrypt$"))
        self.assertNotIn("s3cret", stored)
        self.assertTrue(checkPassword("s3cret pass", stored))
        self.assertFalse(checkPassword("s3cret pasS", stored))
        self.assertFalse(checkPassword("x", "garbage"))


class PageTests(ActionTestCase):

    @defer.inlineCallbacks
    def test_builder_page_and_build_listing(self):
        response = yield self.http.get(self.base + "/builders/bob")
        page = (yield response.content()).decode()
        self.assertEqual(response.code, 200)
        self.assertIn("<h1>Builder bob</h1>", page)
        self.assertIn('<a href="../builds/8">8</a>', page)
        self.assertIn('<table id="history">', page)
        response = yield self.http.get(self.base + "/builders/nobody")
        self.assertEqual(response.code, 404)
        yield response.content()
        response = yield self.http.get(
            self.base + "/builds?source=pmount&series=hoary")
        page = (yield response.content()).decode()
        self.assertEqual(page.count('<tr class="build"'), 2)
        self.assertIn('name="source" value="pmount"', page)

    @defer.inlineCallbacks
    def test_log_page_streams_the_text(self):
        text = b"".join(b"step %d <ok>\n" % i for i in range(20000))
        stored = gzip.compress(text)
        client = LibrarianClient(
            self.store, ContentStore(os.path.join(self.state_dir,
                                                  "librarian")),
            "http://127.0.0.1:1/", b"secret")
        alias = yield client.addFile("buildlog_7.txt.gz", len(stored),
                                     io.BytesIO(stored), "text/plain")
        yield self.store.builds.update(7, buildlog=alias)
        response = yield self.http.get(self.base + "/builds/7/log")
        body = yield response.content()
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"),
                         [b"text/plain; charset=utf-8"])
        self.assertEqual(body, text)
        response = yield self.http.get(self.base + "/builds/1/log")
        self.assertEqual(response.code, 404)
        yield response.content()


class FinishedLogTailTests(ActionTestCase):
    """A finished build's page shows the end of its stored log in its log
    tail box (its job, and the job's logtail, are gone)."""

    @defer.inlineCallbacks
    def storeLog(self, text, restricted=False):
        stored = gzip.compress(text)
        client = LibrarianClient(
            self.store, ContentStore(os.path.join(self.state_dir,
                                                  "librarian")),
            "http://127.0.0.1:1/", b"secret")
        alias = yield client.addFile("buildlog_7.txt.gz", len(stored),
                                     io.BytesIO(stored), "text/plain",
                                     restricted=restricted)
        yield self.store.builds.update(7, buildlog=alias)

    @defer.inlineCallbacks
    def page(self, token=None):
        headers = {"Authorization": "Bearer " + token} if token else {}
        response = yield self.http.get(self.base + "/builds/7",
                                       headers=headers)
        body = (yield response.content()).decode("utf-8")
        self.assertEqual(response.code, 200)
        return body[body.index('id="logtail"'):]

    @defer.inlineCallbacks
    def test_the_end_of_the_stored_log(self):
        yield self.storeLog(b"".join(b"step %d <ok>\n" % i
                                     for i in range(100000)))
        box = yield self.page()
        box = box[:box.index("</pre>")]
        self.assertIn("step 99999 &lt;ok&gt;\n", box)
        self.assertNotIn("step 0 ", box)
        self.assertLessEqual(len(box), 16 * 1024 * 1.5)

    @defer.inlineCallbacks
    def test_binaries_are_linked(self):
        client = LibrarianClient(
            self.store, ContentStore(os.path.join(self.state_dir,
                                                  "librarian")),
            "http://127.0.0.1:1/", b"secret")
        for name in ("pmount_0.1-1_i386.deb", "pmount_0.1-1_i386.buildinfo"):
            alias = yield client.addFile(name, 3, io.BytesIO(b"abc"),
                                         "application/octet-stream")
            yield self.store.runOperation(
                "INSERT INTO buildfile (build, libraryfile, filetype)"
                " VALUES (7, %s, %s)", (alias, name.rsplit(".", 1)[1]))
        response = yield self.http.get(self.base + "/builds/7")
        body = (yield response.content()).decode("utf-8")
        binaries = body[body.index("<dt>Binaries</dt>"):]
        binaries = binaries[:binaries.index("</dd>")]
        self.assertEqual(binaries.count("<a href="), 2)
        self.assertLess(binaries.index("_i386.buildinfo</a>"),
                        binaries.index("_i386.deb</a>"))
        self.assertIn("http://librarian.example:8011/", binaries)

    @defer.inlineCallbacks
    def test_a_restricted_log_needs_a_reader(self):
        yield self.storeLog(b"private step\n", restricted=True)
        box = yield self.page()
        self.assertNotIn("private step", box)
        box = yield self.page(self.tokens["vera"])
        self.assertIn("private step", box)


class SharedLibrarianLogTests(ActionTestCase):
    """With a shared librarian (C{[librarian] url}), the log page goes
    through the master's librarian client: a redirect to the shared
    librarian, which nothing of this master's state directory holds."""

    secret = "0123456789abcdef" * 4

    @defer.inlineCallbacks
    def setUp(self):
        state = os.path.abspath(self.mktemp())
        os.makedirs(state)
        secret_file = os.path.join(state, "shared.secret")
        with open(secret_file, "w") as f:
            f.write(self.secret)
        # The database exists once DatabaseTestCase's setUp has run.
        yield DatabaseTestCase.setUp(self)
        config = configmodule.load(environ={}, overrides={
            ("master", "database"): self.dsn,
            ("master", "state_dir"): state,
            ("librarian", "port"): "0",
            ("librarian", "interface"): "127.0.0.1",
            ("librarian", "secret_file"): secret_file,
        })
        librarian = LibrarianService(config, self.dsn, reactor=reactor)
        yield librarian.startService()
        self.addCleanup(librarian.stopService)
        self.librarian_url = librarian.publicURL()
        spool_pool = HTTPConnectionPool(reactor)
        self.addCleanup(spool_pool.closeCachedConnections)
        self.client = RemoteLibrarianClient(
            self.librarian_url, self.secret, os.path.join(state, "spool"),
            pool=spool_pool)
        self.config = {"librarian_url": self.librarian_url}
        self.web_librarian = self.client
        yield self.startWeb()

    @defer.inlineCallbacks
    def test_log_page_redirects_to_the_shared_librarian(self):
        text = b"".join(b"line %d\n" % i for i in range(5000))
        stored = gzip.compress(text)
        alias = yield self.client.addFile(
            "buildlog_7.txt.gz", len(stored), io.BytesIO(stored),
            "text/plain")
        yield self.store.builds.update(7, buildlog=alias)
        response = yield self.http.get(self.base + "/builds/7/log",
                                       allow_redirects=False)
        yield response.content()
        self.assertEqual(response.code, 303)
        location = response.headers.getRawHeaders(b"location")[0].decode()
        self.assertTrue(location.startswith(self.librarian_url.rstrip("/")
                                            + "/%d/" % alias), location)
        # Followed, as a browser or curl -L does: the text.
        response = yield self.http.get(self.base + "/builds/7/log")
        self.assertEqual((yield response.content()), text)
        self.assertEqual(response.code, 200)

    @defer.inlineCallbacks
    def test_restricted_log_redirect_carries_a_token(self):
        stored = gzip.compress(b"secret build\n")
        alias = yield self.client.addFile(
            "buildlog_7.txt.gz", len(stored), io.BytesIO(stored),
            "text/plain", restricted=True)
        yield self.store.builds.update(7, buildlog=alias)
        response = yield self.http.get(self.base + "/builds/7/log",
                                       allow_redirects=False)
        yield response.content()
        self.assertEqual(response.code, 401)
        response = yield self.http.get(
            self.base + "/builds/7/log", headers={
                "Authorization": "Bearer " + self.tokens["vera"]})
        self.assertEqual((yield response.content()), b"secret build\n")
        self.assertEqual(response.code, 200)

    @defer.inlineCallbacks
    def test_an_unreachable_librarian_is_a_503(self):
        stored = gzip.compress(b"a log\n")
        alias = yield self.client.addFile(
            "buildlog_7.txt.gz", len(stored), io.BytesIO(stored),
            "text/plain")
        yield self.store.builds.update(7, buildlog=alias)
        # Gone from where the master knows it (nothing listens on port 1).
        self.client.base_url = "http://127.0.0.1:1"
        response = yield self.http.get(self.base + "/builds/7/log",
                                       allow_redirects=False)
        body = (yield response.content()).decode("utf-8")
        self.assertEqual(response.code, 503)
        self.assertEqual(response.headers.getRawHeaders(b"retry-after"),
                         [b"10"])
        self.assertIn("the librarian cannot be reached", body)



class CreatingFormTests(ActionTestCase):
    """The pages' forms that request a build (operators) and add a
    builder (admins): they post to the API's actions with the session's
    CSRF token, go to the new thing's page, and come back filled in with
    the refusal when refused."""

    login = SessionTests.login

    @defer.inlineCallbacks
    def session(self, name):
        yield self.accounts.update(
            (yield self.accounts.getByName(name)).id,
            password_hash=hashPassword("pw " + name))
        # treq keeps cookies: each account its own client.
        self.http = treq.client.HTTPClient(Agent(reactor, pool=self.pool))
        code, cookies, who = yield self.login(name, "pw " + name)
        self.assertEqual(code, 303)
        return cookies, who["csrf"]

    @defer.inlineCallbacks
    def page(self, path, cookies=None):
        response = yield self.http.get(self.base + path, cookies=cookies)
        body = (yield response.content()).decode()
        self.assertEqual(response.code, 200, body)
        return body

    @defer.inlineCallbacks
    def post(self, path, data, cookies):
        response = yield self.http.post(self.base + path, data=data,
                                        cookies=cookies,
                                        allow_redirects=False)
        body = (yield response.content()).decode()
        return response, body

    @defer.inlineCallbacks
    def test_request_a_build_from_the_builds_page(self):
        anonymous = yield self.page("/builds")
        self.assertNotIn('id="request"', anonymous)
        cookies, csrf = yield self.session("olga")
        listing = yield self.page("/builds", cookies)
        self.assertIn('<form method="post" action="api/builds" '
                      'id="request"', listing)
        self.assertIn('name="csrf" value="%s"' % csrf, listing)
        self.assertIn('name="next" value="../builds"', listing)
        form = {"distribution": "ubuntu", "series": "hoary", "arch": "i386",
                "source": "pmount", "version": "0.1-1", "pocket": "release",
                "archive": "primary", "job_type": "binarypackage",
                "branch": "", "next": "../builds"}
        # Without the CSRF token: refused, nothing requested.
        before = len((yield self.store.builds.list(limit=1000)))
        response, body = yield self.post("/api/builds", form, cookies)
        self.assertEqual(response.code, 403, body)
        self.assertIn("no valid CSRF token", body)
        self.assertEqual(len((yield self.store.builds.list(limit=1000))),
                         before)
        # With it: the new build's page.
        response, body = yield self.post("/api/builds",
                                         dict(form, csrf=csrf), cookies)
        self.assertEqual(response.code, 303, body)
        location = response.headers.getRawHeaders(b"location")[0].decode()
        self.assertRegex(location, r"^\.\./builds/\d+$")
        build_id = int(location.rsplit("/", 1)[1])
        build = yield self.store.builds.get(build_id)
        self.assertEqual((build.source_name, build.buildstate),
                         ("pmount", BuildStatus.NEEDSBUILD))
        audit = yield self.accounts.audit(build=build_id)
        self.assertEqual([(e.actor, e.action) for e in audit],
                         [("olga", "build request")])
        # Refused: the form again, as sent, with the refusal escaped.
        response, body = yield self.post("/api/builds", dict(
            form, csrf=csrf, source="<b>pm</b>"), cookies)
        self.assertEqual(response.code, 404, body)
        self.assertIn('<p class="error" id="message">unknown source '
                      '&lt;b&gt;pm&lt;/b&gt; 0.1-1</p>', body)
        self.assertIn('name="source" value="&lt;b&gt;pm&lt;/b&gt;"', body)
        self.assertNotIn("<b>pm", body)
        self.assertIn('id="request"', body)
        response, body = yield self.post("/api/builds", dict(
            form, csrf=csrf), cookies)
        self.assertEqual(response.code, 400, body)
        self.assertIn("is NEEDSBUILD already", body)
        # A viewer sees no form and is refused if it posts anyway.
        cookies, csrf = yield self.session("vera")
        self.assertNotIn('id="request"', (yield self.page("/builds",
                                                          cookies)))
        response, body = yield self.post("/api/builds", dict(
            form, csrf=csrf, version="0.1-1"), cookies)
        self.assertEqual(response.code, 403, body)
        self.assertIn("vera (viewer) may not request builds", body)
        self.assertNotIn('id="request"', body)

    @defer.inlineCallbacks
    def test_request_translation_templates_from_the_form(self):
        """The form's job type and branch reach the action: without a
        branch it is refused and comes back with the type still chosen."""
        cookies, csrf = yield self.session("olga")
        form = {"distribution": "ubuntu", "series": "hoary", "arch": "i386",
                "source": "pmount", "version": "0.1-1", "pocket": "release",
                "archive": "primary", "job_type": "translation-templates",
                "branch": "", "next": "../builds", "csrf": csrf}
        response, body = yield self.post("/api/builds", form, cookies)
        self.assertEqual(response.code, 400, body)
        self.assertIn("a translation-templates build needs a branch", body)
        self.assertIn("<option selected>translation-templates</option>",
                      body)
        branch = "https://git.example.org/pmount/+git/pmount"
        response, body = yield self.post("/api/builds", dict(
            form, branch=branch), cookies)
        self.assertEqual(response.code, 303, body)
        build_id = int(response.headers.getRawHeaders(
            b"location")[0].rsplit(b"/", 1)[1])
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.job_type, "translation-templates")
        self.assertEqual(
            (yield self.store.jobtypes.translationTemplates(build_id)),
            branch)

    @defer.inlineCallbacks
    def test_add_a_builder_from_the_dashboard(self):
        form = {"name": "alf", "url": "http://127.0.0.1:9000/",
                "processor": "x86", "title": "Alf", "virtualized": "on",
                "vm_host": "", "next": "../"}
        cookies, csrf = yield self.session("olga")
        self.assertNotIn('id="add-builder"', (yield self.page("/", cookies)))
        response, body = yield self.post("/api/builders", dict(
            form, csrf=csrf), cookies)
        self.assertEqual(response.code, 403, body)
        self.assertIn("needs the admin role", body)
        self.assertIn('<a href="../">back</a>', body)
        cookies, csrf = yield self.session("adam")
        dashboard = yield self.page("/", cookies)
        self.assertIn('action="api/builders" id="add-builder"', dashboard)
        self.assertIn('name="next" value="../"', dashboard)
        response, body = yield self.post("/api/builders", form, cookies)
        self.assertEqual(response.code, 403, body)
        self.assertIsNone((yield self.store.builders.getByName("alf")))
        response, body = yield self.post("/api/builders", dict(
            form, csrf=csrf, url="http://127.0.0.1/"), cookies)
        self.assertEqual(response.code, 400, body)
        self.assertIn("malformed builder URL", body)
        self.assertIn('name="virtualized" checked', body)
        self.assertIn('name="title" value="Alf"', body)
        response, body = yield self.post("/api/builders", dict(
            form, csrf=csrf), cookies)
        self.assertEqual(response.code, 303, body)
        self.assertEqual(response.headers.getRawHeaders(b"location"),
                         [b"../builders/alf"])
        alf = yield self.store.builders.getByName("alf")
        self.assertEqual((alf.url, alf.title, alf.virtualized, alf.manual),
                         ("http://127.0.0.1:9000/", "Alf", True, False))
        self.assertIn("<h1>Builder alf</h1>",
                      (yield self.page("/builders/alf", cookies)))

    @defer.inlineCallbacks
    def test_created_has_a_location(self):
        response = yield self.http.post(
            self.base + "/api/builders", headers={
                "Authorization": "Bearer " + self.tokens["adam"]},
            json={"name": "alf", "url": "http://127.0.0.1:9000/",
                  "processor": "x86"})
        yield response.content()
        self.assertEqual(response.code, 201)
        self.assertEqual(response.headers.getRawHeaders(b"location"),
                         [b"builders/alf"])


class RecentlyFinishedTests(ActionTestCase):

    @defer.inlineCallbacks
    def test_finished_filter(self):
        """C{finished=1} lists ended builds only, the latest ended first,
        as the dashboard's "Recently finished" table (which its script
        redraws from it)."""
        everything = yield self.call("GET", "/api/builds?limit=1000")
        ended = [b for b in everything if not b["active"]]
        ended.sort(key=lambda b: (b["datebuilt"] is not None,
                                  b["datebuilt"] or "", b["id"]),
                   reverse=True)
        finished = yield self.call("GET", "/api/builds?finished=1&limit=25")
        self.assertTrue(finished)
        self.assertEqual([b["id"] for b in finished],
                         [b["id"] for b in ended][:25])
        self.assertLess(len(finished), len(everything))
        error = yield self.call("GET", "/api/builds?finished=yes", code=400)
        self.assertEqual(error["error"], "finished must be 1 or 0, not 'yes'")
        response = yield self.http.get(self.base + "/")
        page = (yield response.content()).decode()
        self.assertIn('json("builds?finished=1&limit=25")', page)
        self.assertIn('<table id="recent">', page)
