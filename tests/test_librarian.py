"""The librarian: client, content store writes and the web server over real
HTTP on 127.0.0.1."""

import datetime
import errno
import gzip
import io
import os

import treq
from treq.client import HTTPClient
from twisted.internet import defer, reactor, task
from twisted.web.client import (
    Agent, HTTPConnectionPool, PartialDownloadError, ResponseFailed,
    readBody)
from twisted.web.http_headers import Headers
from twisted.web.server import Site

from lp_buildmaster.librarian import storage
from lp_buildmaster.librarian.client import (
    AliasNotFound, LibrarianClient, SizeMismatch)
from lp_buildmaster.librarian.server import LibrarianResource
from lp_buildmaster.librarian.storage import ContentStore
from tests.database import DatabaseTestCase

SECRET = b"sekrit"
#: The injected clock's "now": 2033-05-18, after any sample expiry.
NOW = 2000000000


def fillDisk(testcase):
    """Make the librarian's disk full after the first chunk of each new
    file (for C{testcase} only, or until C{restore()} of what it
    returns)."""
    write = storage.PendingContent.write

    def full(pending, data):
        if pending.size:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write(pending, data)
    return testcase.patch(storage.PendingContent, "write", full)


class LibrarianFixture:
    """A librarian web server on 127.0.0.1 and a client of it, for
    L{DatabaseTestCase}s; C{self.http} is a treq client."""

    def startLibrarian(self):
        self.clock = task.Clock()
        self.clock.advance(NOW)
        self.content_store = ContentStore(self.librarian_root)
        self.resource = LibrarianResource(
            self.store, self.content_store, SECRET, self.clock)
        site = Site(self.resource)
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        pool = self.pool = HTTPConnectionPool(reactor)
        self.addCleanup(pool.closeCachedConnections)
        self.http = HTTPClient(Agent(reactor, pool=pool))
        self.librarian = LibrarianClient(
            self.store, self.content_store,
            "http://127.0.0.1:%d/" % port.getHost().port, SECRET,
            clock=self.clock)

    def storedFiles(self):
        """Every file under the librarian root (content and temporaries)."""
        return {os.path.join(d, f)
                for d, _, files in os.walk(self.librarian_root)
                for f in files}

    @defer.inlineCallbacks
    def aliasCount(self):
        rows = yield self.store.runQuery(
            "SELECT count(*) AS n FROM libraryfilealias")
        return rows[0]["n"]

    @defer.inlineCallbacks
    def rawDownload(self, url, accept_encoding=None):
        """C{(response, body)} as sent, with no decoding on our side."""
        headers = Headers()
        if accept_encoding is not None:
            headers.addRawHeader(b"accept-encoding", accept_encoding)
        response = yield Agent(reactor, pool=self.pool).request(
            b"GET", url.encode("ascii"), headers)
        body = yield readBody(response)
        return response, body

    @defer.inlineCallbacks
    def download(self, url, **kwargs):
        """C{(response, body)}."""
        response = yield self.http.get(url, **kwargs)
        body = yield treq.content(response)
        return response, body


class LibrarianTestCase(LibrarianFixture, DatabaseTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield DatabaseTestCase.setUp(self)
        self.startLibrarian()

    def add(self, data, name="hello.txt", mimetype="text/plain", **kwargs):
        return self.librarian.addFile(
            name, len(data), io.BytesIO(data), mimetype, **kwargs)

    @defer.inlineCallbacks
    def assertNothingStored(self, action, exception):
        """C{action()} fails with C{exception} and leaves no file and no
        alias behind."""
        files, aliases = self.storedFiles(), (yield self.aliasCount())
        yield self.assertFailure(action(), exception)
        self.assertEqual(self.storedFiles(), files)
        self.assertEqual((yield self.aliasCount()), aliases)

    # --- the client ---------------------------------------------------

    @defer.inlineCallbacks
    def test_addFile(self):
        """A stored file has an alias with its name, type, size and
        hashes, and reads back byte for byte."""
        data = os.urandom(300 * 1024)
        aliasid = yield self.add(data, "blob.bin", "application/x-blob")
        alias = yield self.store.library.getAlias(aliasid)
        self.assertEqual(
            (alias.filename, alias.mimetype, alias.filesize, alias.restricted),
            ("blob.bin", "application/x-blob", len(data), False))
        with (yield self.librarian.getFileByAlias(aliasid)) as f:
            self.assertEqual(f.read(), data)

    @defer.inlineCallbacks
    def test_addFileSameContentTwice(self):
        """Equal content is stored once, under two aliases."""
        first = yield self.add(b"same", "a.txt")
        second = yield self.add(b"same", "b.txt")
        a = yield self.store.library.getAlias(first)
        b = yield self.store.library.getAlias(second)
        self.assertNotEqual(first, second)
        self.assertEqual(a.content, b.content)

    def test_addFileShorterThanAnnounced(self):
        return self.assertNothingStored(lambda: self.librarian.addFile(
            "short", 10, io.BytesIO(b"12345"), "text/plain"), SizeMismatch)

    def test_addFileLongerThanAnnounced(self):
        data = b"x" * (200 * 1024)
        return self.assertNothingStored(lambda: self.librarian.addFile(
            "long", 1000, io.BytesIO(data), "text/plain"), SizeMismatch)

    def test_addFileDiskFull(self):
        """A full disk fails the add and leaves no partial file."""
        fillDisk(self)
        return self.assertNothingStored(
            lambda: self.add(b"y" * (300 * 1024)), OSError)

    def test_addFileBadName(self):
        return self.assertNothingStored(
            lambda: self.add(b"data", "../etc/passwd"), ValueError)

    @defer.inlineCallbacks
    def test_newFileStreams(self):
        """Content of unknown size is written chunk by chunk, then named."""
        writer = self.librarian.newFile()
        for i in range(100):
            writer.write(b"line %d\n" % i)
        aliasid = yield writer.finish("lines.txt", "text/plain")
        with (yield self.librarian.getFileByAlias(aliasid)) as f:
            self.assertEqual(f.read(), b"".join(
                b"line %d\n" % i for i in range(100)))

    def test_newFileAbort(self):
        files = self.storedFiles()
        writer = self.librarian.newFile()
        writer.write(b"never mind")
        writer.abort()
        self.assertEqual(self.storedFiles(), files)
        writer.abort()

    def test_getFileByAliasUnknown(self):
        return self.assertFailure(
            self.librarian.getFileByAlias(99999), AliasNotFound)

    @defer.inlineCallbacks
    def test_getURLForAlias(self):
        """The http_url is <base_url>/<id>/<filename>, quoted."""
        aliasid = yield self.add(b"x", "a file+1.txt")
        url = yield self.librarian.getURLForAlias(aliasid)
        self.assertEqual(url, "%s/%d/a%%20file%%2B1.txt"
                         % (self.librarian.base_url, aliasid))

    # --- the web server -----------------------------------------------

    @defer.inlineCallbacks
    def test_serve(self):
        """The server answers with the content, its type and length."""
        data = os.urandom(100000)
        aliasid = yield self.add(data, "data.tar.gz", "application/gzip")
        response, body = yield self.download(
            (yield self.librarian.getURLForAlias(aliasid)))
        self.assertEqual(response.code, 200)
        self.assertEqual(body, data)
        self.assertEqual(response.headers.getRawHeaders("content-type"),
                         ["application/gzip"])
        self.assertEqual(response.length, len(data))
        # .gz content is served as it is stored, not as an encoding.
        # (treq's decoding agent leaves an empty header when there is none.)
        self.assertFalse(any(
            response.headers.getRawHeaders("content-encoding", [])))

    @defer.inlineCallbacks
    def test_serveGzippedLogReadable(self):
        """A gzipped build log goes with Content-Encoding: gzip to a
        client that accepts it (so a browser shows text) and decompressed
        to one that does not; two gzip members read as one text."""
        text = b"".join(b"line %d of the build\n" % i for i in range(50000))
        stored = gzip.compress(text[:300000]) + gzip.compress(text[300000:])
        aliasid = yield self.add(stored, "buildlog_1.txt.gz", "text/plain")
        url = yield self.librarian.getURLForAlias(aliasid)
        response, body = yield self.rawDownload(url, b"gzip, deflate")
        self.assertEqual(response.code, 200)
        self.assertEqual(body, stored)
        self.assertEqual(response.headers.getRawHeaders(b"content-encoding"),
                         [b"gzip"])
        self.assertEqual(response.headers.getRawHeaders(b"content-type"),
                         [b"text/plain; charset=utf-8"])
        response, body = yield self.rawDownload(url)
        self.assertEqual(response.code, 200)
        self.assertEqual(body, text)
        self.assertIsNone(
            response.headers.getRawHeaders(b"content-encoding"))
        response, body = yield self.rawDownload(url, b"gzip;q=0, identity")
        self.assertEqual(body, text)

    @defer.inlineCallbacks
    def test_serveCorruptGzippedLog(self):
        """A corrupt stored log cuts the answer short, with one line in
        the log; the server goes on serving."""
        stored = gzip.compress(b"x" * 100000)[:-20] + b"garbage" * 3
        aliasid = yield self.add(stored, "buildlog_2.txt.gz", "text/plain")
        url = yield self.librarian.getURLForAlias(aliasid)
        yield self.assertFailure(self.rawDownload(url), PartialDownloadError,
                                 ResponseFailed)
        response, body = yield self.rawDownload(url, b"gzip")
        self.assertEqual(body, stored)

    @defer.inlineCallbacks
    def test_serveSampleData(self):
        """The sample .dsc (alias 1) is served from the sample files."""
        alias = yield self.store.library.getAlias(1)
        response, body = yield self.download(self.librarian.urlFor(alias))
        self.assertEqual(response.code, 200)
        self.assertIn(b"Source: pmount", body)

    @defer.inlineCallbacks
    def test_serveRange(self):
        data = bytes(range(256)) * 40
        aliasid = yield self.add(data)
        response, body = yield self.download(
            (yield self.librarian.getURLForAlias(aliasid)),
            headers={"Range": "bytes=100-199"})
        self.assertEqual(response.code, 206)
        self.assertEqual(body, data[100:200])
        self.assertEqual(response.headers.getRawHeaders("content-range"),
                         ["bytes 100-199/%d" % len(data)])

    @defer.inlineCallbacks
    def test_serveRangeRFC9110(self):
        """Ranges as RFC 9110 has them: a suffix longer than the file is
        the whole file, an unsatisfiable range a 416 saying the size,
        overlapping ranges coalesced, too many refused, an invalid header
        ignored; never a 500."""
        data = bytes(range(256)) * 40
        size = len(data)
        url = yield self.librarian.getURLForAlias((yield self.add(data)))
        for header, code, body, content_range in [
                ("bytes=-99999999999", 206, data,
                 "bytes 0-%d/%d" % (size - 1, size)),
                ("bytes=-10", 206, data[-10:],
                 "bytes %d-%d/%d" % (size - 10, size - 1, size)),
                ("bytes=100-99999999999", 206, data[100:],
                 "bytes 100-%d/%d" % (size - 1, size)),
                ("bytes=-0", 416, None, "bytes */%d" % size),
                ("bytes=%d-" % size, 416, None, "bytes */%d" % size),
                (",".join(["bytes=0-10"] + ["%d-%d" % (i, i + 10)
                                            for i in range(1000)]),
                 206, data[:1010], "bytes 0-1009/%d" % size),
                ("bytes=" + ",".join("%d-%d" % (i, i)
                                     for i in range(0, 2000, 2)),
                 416, None, "bytes */%d" % size),
                ("bytes=20-10", 200, data, None),
                ("lines=1-2", 200, data, None),
                ("bytes=x-y", 200, data, None)]:
            response, got = yield self.download(
                url, headers={"Range": header})
            self.assertEqual(response.code, code, header[:40])
            if body is not None:
                self.assertEqual(got, body, header[:40])
            self.assertEqual(response.headers.getRawHeaders("content-range"),
                             None if content_range is None
                             else [content_range], header[:40])

    @defer.inlineCallbacks
    def test_serveHostilePaths(self):
        """A badly encoded token is a 403; NUL or bad UTF-8 in the path a
        404; none a traceback."""
        aliasid = yield self.add(b"secret", "s.txt", restricted=True)
        yield self.assertRefused(
            "/%d/s.txt?token=%%ff%%fe&expires=%d" % (aliasid, NOW + 60),
            403, b"This file is restricted: a valid token is needed")
        yield self.assertRefused(
            "/%d/s.txt?token=abc&expires=%%ff" % aliasid,
            403, b"This file is restricted: a valid token is needed")
        for path in ("/%d/s%%00.txt" % aliasid, "/%d/%%00" % aliasid,
                     "/%d/%%c3%%28" % aliasid):
            yield self.assertRefused(path, 404, b"No such file")

    @defer.inlineCallbacks
    def test_serveHead(self):
        aliasid = yield self.add(b"12345")
        response = yield self.http.head(
            (yield self.librarian.getURLForAlias(aliasid)))
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders("content-length"),
                         ["5"])

    @defer.inlineCallbacks
    def test_serveConcurrently(self):
        """Many downloads of a multi-megabyte file at once all complete."""
        data = os.urandom(2 * 1024 * 1024)
        url = yield self.librarian.getURLForAlias((yield self.add(data)))
        results = yield defer.gatherResults(
            [self.download(url) for _ in range(20)])
        self.assertEqual([(r.code, len(b)) for r, b in results],
                         [(200, len(data))] * 20)
        self.assertTrue(all(b == data for _, b in results))

    @defer.inlineCallbacks
    def assertRefused(self, path, code, message):
        response, body = yield self.download(self.librarian.base_url + path)
        self.assertEqual((response.code, body), (code, message + b"\n"))
        self.assertNotIn(b"Traceback", body)

    @defer.inlineCallbacks
    def test_serveNotFound(self):
        """Unknown aliases, wrong file names and odd paths are 404s."""
        aliasid = yield self.add(b"data", "right.txt")
        for path in ["/99999/right.txt", "/%d/wrong.txt" % aliasid,
                     "/%d" % aliasid, "/%d/" % aliasid, "/",
                     "/x%d/right.txt" % aliasid,
                     "/%d/right.txt/more" % aliasid,
                     "/99999999999999999999/right.txt",
                     "/%d/%%ff" % aliasid]:
            yield self.assertRefused(path, 404, b"No such file")

    @defer.inlineCallbacks
    def test_serveRestricted(self):
        """A restricted file needs a valid, unexpired token."""
        aliasid = yield self.add(b"secret", "s.txt", restricted=True)
        path = "/%d/s.txt" % aliasid
        refused = b"This file is restricted: a valid token is needed"
        yield self.assertRefused(path, 403, refused)
        url = yield self.librarian.getURLForAlias(aliasid, token=True)
        response, body = yield self.download(url)
        self.assertEqual((response.code, body), (200, b"secret"))
        tampered = url.replace("expires=%d" % (NOW + 3600),
                               "expires=%d" % (NOW + 7200))
        yield self.assertRefused(tampered[len(self.librarian.base_url):],
                                 403, refused)
        self.clock.advance(3600)
        yield self.assertRefused(url[len(self.librarian.base_url):],
                                 403, refused)

    @defer.inlineCallbacks
    def test_serveExpired(self):
        """An alias whose expiry has passed is gone."""
        when = datetime.datetime.fromtimestamp(
            NOW + 60, datetime.timezone.utc)
        aliasid = yield self.add(b"old", "old.txt", expires=when)
        response, _ = yield self.download(
            (yield self.librarian.getURLForAlias(aliasid)))
        self.assertEqual(response.code, 200)
        self.clock.advance(60)
        yield self.assertRefused(
            "/%d/old.txt" % aliasid, 410, b"This file has expired")

    @defer.inlineCallbacks
    def test_serveUnexpectedError(self):
        """A lookup failing unexpectedly is a 500 with a short message and
        one log line while it repeats, never a traceback."""
        def broken(aliasid):
            return defer.fail(RuntimeError("on fire"))
        self.patch(self.store.library, "getAlias", broken)
        events = self.logEvents()
        for _ in range(3):
            yield self.assertRefused(
                "/1/pmount_0.1-1.dsc", 500,
                b"The librarian could not serve this file")
        said = [e for e in events if e.get("log_level") is not None
                and e["log_level"].name in ("error", "critical")]
        self.assertEqual(len(said), 1)
        self.assertIn("RuntimeError: on fire", said[0]["error"])
        self.assertNotIn("log_failure", said[0])

    def logEvents(self):
        from twisted.logger import globalLogPublisher
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        return events

    @defer.inlineCallbacks
    def test_serveDatabaseUnavailable(self):
        """The database unreachable: 503 with Retry-After, so that the
        builder fetches again, and one log line for the outage."""
        from txpostgres import reconnection
        self.patch(self.store.library, "getAlias",
                   lambda aliasid: defer.fail(reconnection.ConnectionDead()))
        events = self.logEvents()
        for _ in range(3):
            response, body = yield self.download(
                self.librarian.base_url + "/1/pmount_0.1-1.dsc")
            self.assertEqual(response.code, 503)
            self.assertEqual(response.headers.getRawHeaders("retry-after"),
                             ["10"])
            self.assertIn(b"the database cannot be reached", body)
        said = [e for e in events if "answering 503" in
                e.get("log_format", "")]
        self.assertEqual(len(said), 1)

    @defer.inlineCallbacks
    def test_serveWhileDatabaseWatchSaysAway(self):
        """With the master's DatabaseWatch saying the database is away,
        503 at once, without trying it."""
        from txpostgres import reconnection
        from lp_buildmaster.outage import DatabaseWatch
        import logging
        from tests.farm import captureLogs
        captureLogs(self, "test.database")
        watch = DatabaseWatch(self.store, self.clock,
                              logger=logging.getLogger("test.database"))
        self.resource.database = watch
        watch.failed(reconnection.ConnectionDead())
        self.addCleanup(watch.stop)
        tried = []
        self.patch(self.store.library, "getAlias",
                   lambda aliasid: tried.append(aliasid))
        response, body = yield self.download(
            self.librarian.base_url + "/1/pmount_0.1-1.dsc")
        self.assertEqual((response.code, tried), (503, []))
