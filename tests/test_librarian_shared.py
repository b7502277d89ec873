"""One librarian for all masters: the librarian on its own
(L{LibrarianService}), its API and the masters' HTTP client of it
(L{RemoteLibrarianClient}), over real HTTP on 127.0.0.1; and the Swift
backend against a real Swift started by the test."""

import datetime
import hashlib
import io
import os

import treq
from twisted.internet import defer, reactor
from twisted.web.client import HTTPConnectionPool

from lp_buildmaster import admin
from lp_buildmaster import config as configmodule
from lp_buildmaster.librarian.api import LibrarianAPI, LibrarianRoot
from lp_buildmaster.librarian.client import AliasNotFound, LibrarianClient
from lp_buildmaster.librarian.remote import (
    LibrarianUnavailable, RemoteLibrarianClient)
from lp_buildmaster.librarian.server import LibrarianResource
from lp_buildmaster.librarian.service import LibrarianService
from lp_buildmaster.librarian.swift import SwiftBackend
from tests import swiftaio
from tests.database import DatabaseTestCase

SECRET = "0123456789abcdef" * 4


class HTTPFixture:

    def pool(self):
        pool = HTTPConnectionPool(reactor)
        self.addCleanup(pool.closeCachedConnections)
        return pool

    @defer.inlineCallbacks
    def get(self, url, **kwargs):
        """C{(response, body)}."""
        response = yield treq.get(url, pool=self.http, **kwargs)
        body = yield treq.content(response)
        return response, body


class StandaloneLibrarianTests(HTTPFixture, DatabaseTestCase):
    """C{twistd -n librarian}'s service, with the local backend, and a
    master's client of it."""

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        state = self.librarian_root.parent
        secret_file = state / "shared.secret"
        secret_file.write_text(SECRET)
        config = configmodule.load(environ={}, overrides={
            ("master", "database"): self.dsn,
            ("master", "state_dir"): str(state),
            ("librarian", "port"): "0",
            ("librarian", "secret_file"): str(secret_file),
        })
        self.service = LibrarianService(config, self.dsn, reactor=reactor)
        yield self.service.startService()
        self.addCleanup(self.service.stopService)
        self.url = self.service.publicURL()
        self.http = self.pool()
        self.client = RemoteLibrarianClient(
            self.url, SECRET, state / "master-spool", pool=self.pool())

    @defer.inlineCallbacks
    def test_uploadDownloadAndURLs(self):
        data = os.urandom(300 * 1024)
        alias_id = yield self.client.addFile(
            "hello_1.0.tar.gz", len(data), io.BytesIO(data),
            "application/gzip")
        alias = yield self.store.library.getAlias(alias_id)
        self.assertEqual((alias.sha1.strip(), alias.sha256, alias.filesize),
                         (hashlib.sha1(data).hexdigest(),
                          hashlib.sha256(data).hexdigest(), len(data)))
        with (yield self.client.getFileByAlias(alias_id)) as f:
            self.assertEqual(f.read(), data)
        url = yield self.client.getURLForAlias(alias_id)
        self.assertEqual(url, "%s%d/hello_1.0.tar.gz" % (self.url, alias_id))
        response, body = yield self.get(
            url, headers={"Range": "bytes=10-19"})
        self.assertEqual((response.code, body), (206, data[10:20]))
        # Nothing of the upload stays in the master's spool.
        self.assertEqual(os.listdir(self.client.spool), [])

    @defer.inlineCallbacks
    def test_restrictedFilesGetTokensFromTheLibrarian(self):
        writer = self.client.newFile()
        writer.write(b"secret build log\n")
        alias_id = yield writer.finish("log.txt", "text/plain",
                                       restricted=True)
        alias = yield self.store.library.getAlias(alias_id)
        plain = yield self.client.getURLForAlias(alias_id)
        response, _ = yield self.get(plain)
        self.assertEqual(response.code, 403)
        urls = yield self.client.urlsFor([alias])
        self.assertIn("token=", urls[alias_id])
        response, body = yield self.get(urls[alias_id])
        self.assertEqual((response.code, body), (200, b"secret build log\n"))
        # The master reads it with its secret, no token needed.
        with (yield self.client.getFileByAlias(alias_id)) as f:
            self.assertEqual(f.read(), b"secret build log\n")

    @defer.inlineCallbacks
    def test_expiryTravels(self):
        expires = datetime.datetime(2040, 1, 2, tzinfo=datetime.timezone.utc)
        alias_id = yield self.client.addFile(
            "x.txt", 1, io.BytesIO(b"x"), "text/plain", expires=expires)
        alias = yield self.store.library.getAlias(alias_id)
        self.assertEqual(alias.expires, expires)

    @defer.inlineCallbacks
    def test_adminAddsFilesThroughTheSharedLibrarian(self):
        admin_state = self.librarian_root.parent / "admin"
        admin_state.mkdir()
        config = configmodule.load(environ={}, overrides={
            ("master", "state_dir"): str(admin_state),
            ("librarian", "url"): self.url,
            ("librarian", "secret_file"): str(
                self.librarian_root.parent / "shared.secret"),
        })
        path = admin_state / "chroot-ubuntu-hoary-i386.tar.gz"
        path.write_bytes(b"chroot" * 1000)
        alias_id = yield admin.addLibraryFile(
            self.store, admin.librarianTarget(config), path)
        with (yield self.client.getFileByAlias(alias_id)) as f:
            self.assertEqual(f.read(), b"chroot" * 1000)
        # Stored by the librarian, not in the admin's state directory.
        self.assertFalse((admin_state / "librarian").exists())

    @defer.inlineCallbacks
    def test_refusals(self):
        stranger = RemoteLibrarianClient(
            self.url, "wrong", self.librarian_root.parent / "spool",
            pool=self.http)
        error = yield self.assertFailure(
            stranger.addFile("a.txt", 1, io.BytesIO(b"a"), "text/plain"),
            LibrarianUnavailable)
        self.assertIn("HTTP 401", str(error))
        yield self.assertFailure(self.client.getFileByAlias(99999),
                                 AliasNotFound)
        yield self.assertFailure(self.client.getURLForAlias(99999),
                                 AliasNotFound)
        response = yield treq.post(
            self.url + "+api/files?name=a%2Fb", data=b"x", pool=self.http,
            headers={"Authorization": "Bearer " + SECRET})
        body = yield treq.json_content(response)
        self.assertEqual(response.code, 400)
        self.assertIn("not a library file name", body["error"])


class SwiftLibrarianTests(HTTPFixture, DatabaseTestCase):
    """The librarian storing in, serving from and deleting from a real
    Swift (Debian's packages, started under the test's directory)."""

    timeout = 240

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        missing = swiftaio.available()
        if missing is not None:
            self.fail(missing)
        self.http = self.pool()
        self.swift = swiftaio.SwiftAIO(self.mktemp())
        self.addCleanup(self.swift.stop)
        yield self.swift.start(self.http)
        self.backend = SwiftBackend(
            self.swift.auth_url, "%s:%s" % (swiftaio.ACCOUNT, swiftaio.USER),
            swiftaio.KEY, "librarian", spool=self.mktemp(),
            pool=self.pool())
        self.librarian = LibrarianClient(self.store, self.backend, "",
                                         SECRET.encode())
        root = LibrarianRoot(
            LibrarianResource(self.store, self.backend, SECRET.encode()),
            LibrarianAPI(self.librarian, SECRET))
        from twisted.web.server import Site
        port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.url = "http://127.0.0.1:%d/" % port.getHost().port
        self.librarian.base_url = self.url.rstrip("/")

    @defer.inlineCallbacks
    def swiftObject(self, sha1):
        """Swift's own answer for the object, bypassing the librarian."""
        token, storage = self.backend._auth
        response = yield treq.get("%s/librarian/%s" % (storage, sha1),
                                  headers={"X-Auth-Token": token},
                                  pool=self.http)
        body = yield treq.content(response)
        return response.code, body

    @defer.inlineCallbacks
    def test_storeServeRangeTokensDelete(self):
        data = os.urandom(2 * 1024 * 1024 + 17)
        sha1 = hashlib.sha1(data).hexdigest()
        alias_id = yield self.librarian.addFile(
            "chroot.tar.gz", len(data), io.BytesIO(data), "application/gzip")
        alias = yield self.store.library.getAlias(alias_id)
        self.assertEqual((alias.sha1.strip(), alias.sha256, alias.filesize),
                         (sha1, hashlib.sha256(data).hexdigest(), len(data)))
        # The content is in Swift, under its sha1.
        self.assertEqual((yield self.swiftObject(sha1)), (200, data))
        url = self.librarian.urlFor(alias)
        response, body = yield self.get(url)
        self.assertEqual((response.code, body), (200, data))
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["application/gzip"])
        response, body = yield self.get(
            url, headers={"Range": "bytes=1048576-1048675"})
        self.assertEqual((response.code, body),
                         (206, data[1048576:1048676]))
        self.assertEqual(response.headers.getRawHeaders("content-range"),
                         ["bytes 1048576-1048675/%d" % len(data)])
        response, body = yield self.get(
            url, headers={"Range": "bytes=-5"})
        self.assertEqual((response.code, body), (206, data[-5:]))
        with (yield self.librarian.getFileByAlias(alias_id)) as f:
            self.assertEqual(f.read(), data)

        # Restricted: a token opens it, its absence does not.
        secret_id = yield self.librarian.addFile(
            "private.log", 6, io.BytesIO(b"hidden"), "text/plain",
            restricted=True)
        secret = yield self.store.library.getAlias(secret_id)
        response, _ = yield self.get(self.librarian.urlFor(secret))
        self.assertEqual(response.code, 403)
        response, body = yield self.get(
            self.librarian.urlFor(secret, token=True))
        self.assertEqual((response.code, body), (200, b"hidden"))

        # Deleted: gone from Swift and from the librarian's answers.
        yield self.backend.delete(sha1)
        self.assertFalse((yield self.backend.exists(sha1)))
        self.assertEqual((yield self.swiftObject(sha1))[0], 404)
        response, body = yield self.get(url)
        self.assertEqual((response.code, body), (404, b"No such file\n"))
        # Deleting again is fine.
        yield self.backend.delete(sha1)

    @defer.inlineCallbacks
    def test_masterClientOverSwift(self):
        client = RemoteLibrarianClient(self.url, SECRET, self.mktemp(),
                                       pool=self.http)
        data = b"Source: hello\n" * 1000
        alias_id = yield client.addFile("hello_1.0.dsc", len(data),
                                        io.BytesIO(data), "text/plain")
        with (yield client.getFileByAlias(alias_id)) as f:
            self.assertEqual(f.read(), data)
        alias = yield self.store.library.getAlias(alias_id)
        self.assertTrue((yield self.backend.exists(alias.sha1.strip())))

    @defer.inlineCallbacks
    def test_newTokenAfterSwiftForgetsIt(self):
        """tempauth tokens live in memcached and are lost with it: a 401
        makes the backend authenticate again, once."""
        yield self.librarian.addFile("a.txt", 1, io.BytesIO(b"a"),
                                     "text/plain")
        self.backend._auth = ("AUTH_tkstale", self.backend._auth[1])
        alias_id = yield self.librarian.addFile("b.txt", 1, io.BytesIO(b"b"),
                                                "text/plain")
        with (yield self.librarian.getFileByAlias(alias_id)) as f:
            self.assertEqual(f.read(), b"b")
