"""Hostile and broken builders on real loopback sockets: each failure is the
specific L{SlaveError}, names the builder, costs no other builder anything,
and leaves nothing on disk."""

import io
import os

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from lp_buildmaster.slave import downloads
from lp_buildmaster.slave import (
    BuilderSlave, SlaveChecksumMismatch, SlaveConnectionError,
    SlaveFileTooLarge, SlaveHTTPError, SlaveProtocolError,
    SlaveDownloadCancelled, SlaveReplyTooLarge, SlaveTimeout,
    SlaveUnsafeReply, UnsafeFilename)
from tests.test_slave_fixtures import (
    cannedFactory, daemonSite, floodFactory, httpAnswer, listen, makeSlave,
    sha1)

MB = 1024 * 1024


class FakeTransport:
    lost = False

    def loseConnection(self):
        self.lost = True


class FakeCollector:
    transport = None


class FakeResponse:
    """What L{downloads._WatchedBody} needs of a response."""

    def __init__(self, length):
        self.length = length
        self.protocol = None

    def deliverBody(self, protocol):
        self.protocol = protocol
        protocol.transport = FakeTransport()


class HostileTestCase(unittest.TestCase):

    @defer.inlineCallbacks
    def assertSlaveError(self, d, exctype, builder="bob"):
        """C{d} fails with exactly an C{exctype} naming C{builder}."""
        e = yield self.assertFailure(d, exctype)
        self.assertIs(type(e), exctype)
        self.assertEqual(e.builder, builder)
        self.assertTrue(str(e).startswith("Builder %r: " % builder), str(e))
        return e

    def makeDestdir(self):
        destdir = self.mktemp()
        os.mkdir(destdir)
        return destdir


class RPCTests(HostileTestCase):
    """XML-RPC calls to builders that misbehave."""

    @defer.inlineCallbacks
    def test_connectionRefused(self):
        port = reactor.listenTCP(0, cannedFactory(), interface="127.0.0.1")
        url = "http://127.0.0.1:%d/" % port.getHost().port
        yield port.stopListening()
        e = yield self.assertSlaveError(
            makeSlave(self, url).status(), SlaveConnectionError)
        self.assertTrue(e.transient)

    @defer.inlineCallbacks
    def test_neverAnswers(self):
        """The timeout fires on the injected clock and closes the
        connection, while another builder's call carries on meanwhile."""
        clock = task.Clock()
        hungUrl, hung = listen(self, cannedFactory(None))
        site, daemon, files = daemonSite()
        goodUrl, good = listen(self, site)
        connected = hung.whenConnected()
        d = makeSlave(self, hungUrl, clock=clock, timeout=30).status()
        yield connected
        other = makeSlave(self, goodUrl, name="alice", clock=clock)
        self.assertEqual((yield other.echo("still here")), ["still here"])
        clock.advance(29)
        self.assertNoResult(d)
        clock.advance(1)
        e = yield self.assertSlaveError(d, SlaveTimeout)
        self.assertTrue(e.transient)
        yield hung.whenIdle()  # the builder saw us hang up

    @defer.inlineCallbacks
    def test_ensurepresentHasLongTimeout(self):
        clock = task.Clock()
        url, hung = listen(self, cannedFactory(None))
        connected = hung.whenConnected()
        slave = makeSlave(self, url, clock=clock, timeout=30,
                          ensurepresent_timeout=1800)
        d = slave.ensurepresent("a" * 40, "http://librarian/1")
        yield connected
        clock.advance(1799)
        self.assertNoResult(d)
        clock.advance(1)
        yield self.assertSlaveError(d, SlaveTimeout)
        yield hung.whenIdle()

    @defer.inlineCallbacks
    def test_cancelCloses(self):
        url, hung = listen(self, cannedFactory(None))
        connected = hung.whenConnected()
        d = makeSlave(self, url).status()
        yield connected
        d.cancel()
        yield self.assertFailure(d, defer.CancelledError)
        yield hung.whenIdle()

    @defer.inlineCallbacks
    def test_clockAsReactor(self):
        """A bare Clock passed as the reactor times the calls."""
        clock = task.Clock()
        url, hung = listen(self, cannedFactory(None))
        connected = hung.whenConnected()
        d = BuilderSlave("bob", url, reactor=clock, timeout=5).info()
        yield connected
        clock.advance(5)
        yield self.assertSlaveError(d, SlaveTimeout)
        yield hung.whenIdle()

    @defer.inlineCallbacks
    def test_garbageXML(self):
        url, _ = listen(self, cannedFactory(httpAnswer(b"<methodResponse><<")))
        yield self.assertSlaveError(
            makeSlave(self, url).status(), SlaveProtocolError)

    @defer.inlineCallbacks
    def test_garbageHTTP(self):
        for answer in (b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.0 OK 200\r\n",
                       httpAnswer(b"", headers=b"Content-Length: x\r\n")):
            url, _ = listen(self, cannedFactory(answer))
            yield self.assertSlaveError(
                makeSlave(self, url).status(), SlaveProtocolError)

    @defer.inlineCallbacks
    def test_http500(self):
        url, _ = listen(self, cannedFactory(httpAnswer(
            b"oops", status=b"500 Internal Server Error")))
        e = yield self.assertSlaveError(
            makeSlave(self, url).status(), SlaveHTTPError)
        self.assertEqual(e.code, 500)
        self.assertFalse(e.transient)

    @defer.inlineCallbacks
    def test_hangsUpMidReply(self):
        url, _ = listen(self, cannedFactory(httpAnswer(
            b"<?xml version='1.0'?><methodResponse><par", length=500)))
        yield self.assertSlaveError(
            makeSlave(self, url).status(), SlaveProtocolError)

    @defer.inlineCallbacks
    def test_wrongShape(self):
        url, _ = listen(self, cannedFactory(httpAnswer(
            b"<?xml version='1.0'?><methodResponse><params><param><value>"
            b"<string>yes</string></value></param></params>"
            b"</methodResponse>")))
        slave = makeSlave(self, url)
        yield self.assertSlaveError(
            slave.ensurepresent("a" * 40, None), SlaveProtocolError)
        yield self.assertSlaveError(slave.status(), SlaveProtocolError)

    @defer.inlineCallbacks
    def test_hugeReplyNotBuffered(self):
        """A 100 MB status reply is dropped once it passes the cap: the
        builder never got to write most of it."""
        flood = floodFactory(100 * MB)
        url, server = listen(self, flood)
        slave = makeSlave(self, url, max_reply_size=1 * MB)
        e = yield self.assertSlaveError(slave.status(), SlaveReplyTooLarge)
        self.assertIsInstance(e, SlaveProtocolError)
        yield server.whenIdle()
        # Kernel socket buffers hold a few MB; the rest was never produced.
        self.assertLess(flood.sent, 20 * MB, flood.sent)

    @defer.inlineCallbacks
    def test_hugeContentLength(self):
        """A declared length past the cap is refused before any body."""
        url, _ = listen(self, cannedFactory(httpAnswer(
            b"", length=100 * MB), hangUp=False))
        yield self.assertSlaveError(
            makeSlave(self, url, max_reply_size=MB).info(), SlaveReplyTooLarge)

    @defer.inlineCallbacks
    def test_entityBomb(self):
        """A status reply whose DTD entity, repeated, would expand far past
        the reply cap is refused, as a protocol error naming what it was."""
        body = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "'
                + b"x" * 290 + b'">]><methodResponse><params><param><value>'
                b"<struct><member><name>builder_status</name><value>"
                b"<string>BuilderStatus.BUILDING</string></value></member>"
                b"<member><name>build_id</name><value><string>8-1</string>"
                b"</value></member><member><name>logtail</name><value>"
                b"<string>" + b"&a;" * 100000 + b"</string></value></member>"
                b"</struct></value></param></params></methodResponse>")
        url, _ = listen(self, cannedFactory(httpAnswer(body)))
        e = yield self.assertSlaveError(
            makeSlave(self, url).status(), SlaveUnsafeReply)
        self.assertIn("unsafe reply (refused after", str(e))
        self.assertIn("declares a DOCTYPE 'r'", str(e))
        self.assertFalse(e.transient)

    @defer.inlineCallbacks
    def test_deeplyNested(self):
        """200,000 nested arrays as the status: refused by depth, never
        reaching code that recurses over it."""
        depth = 200000
        body = (b"<methodResponse><params><param><value><array><data>"
                + b"<value><array><data>" * depth
                + b"</data></array></value>" * depth
                + b"</data></array></value></param></params></methodResponse>")
        url, _ = listen(self, cannedFactory(httpAnswer(body)))
        e = yield self.assertSlaveError(
            makeSlave(self, url).status(), SlaveUnsafeReply)
        self.assertIn("nested deeper", str(e))

    @defer.inlineCallbacks
    def test_traversalInFilemap(self):
        site, daemon, files = daemonSite()
        url, _ = listen(self, site)
        daemon.builder_status, daemon.cookie = "BuilderStatus.WAITING", "8-1"
        daemon.build_status = "BuildStatus.OK"
        daemon.filemap = {"../../etc/passwd": "a" * 40}
        yield self.assertSlaveError(makeSlave(self, url).status(),
                                    UnsafeFilename)


class DownloadTests(HostileTestCase):
    """File fetches from builders that misbehave leave nothing behind."""

    def setUp(self):
        site, self.daemon, self.files = daemonSite()
        self.url, self.server = listen(self, site)
        self.destdir = self.makeDestdir()

    def assertNothingWritten(self):
        self.assertEqual(os.listdir(self.destdir), [])

    @defer.inlineCallbacks
    def test_pathTraversal(self):
        data = b"root:x:0:0"
        self.files.files[sha1(data)] = data
        slave = makeSlave(self, self.url)
        for name in ("../../etc/passwd", "/etc/passwd", "..", "a/b", ""):
            yield self.assertSlaveError(
                slave.fetchFile(sha1(data), self.destdir, name),
                UnsafeFilename)
        yield self.assertSlaveError(
            slave.getFile("../rpc", io.BytesIO()), UnsafeFilename)
        self.assertEqual(self.files.requests, [])
        self.assertNothingWritten()
        self.assertFalse(os.path.exists(os.path.join(
            self.destdir, "..", "..", "etc", "passwd")))

    @defer.inlineCallbacks
    def test_checksumMismatch(self):
        claimed = sha1(b"the real deb")
        self.files.files[claimed] = b"a trojan deb"
        e = yield self.assertSlaveError(
            makeSlave(self, self.url).fetchFile(
                claimed, self.destdir, "foo.deb"),
            SlaveChecksumMismatch)
        self.assertIn(sha1(b"a trojan deb"), str(e))
        self.assertNothingWritten()

    @defer.inlineCallbacks
    def test_missing(self):
        e = yield self.assertSlaveError(
            makeSlave(self, self.url).fetchFile(
                "a" * 40, self.destdir, "foo.deb"),
            SlaveHTTPError)
        self.assertEqual(e.code, 404)
        self.assertNothingWritten()

    @defer.inlineCallbacks
    def test_tooLargeDeclared(self):
        data = b"x" * 5000
        self.files.files[sha1(data)] = data
        slave = makeSlave(self, self.url, max_file_size=4096)
        yield self.assertSlaveError(
            slave.fetchFile(sha1(data), self.destdir, "foo.deb"),
            SlaveFileTooLarge)
        yield self.assertSlaveError(
            makeSlave(self, self.url).fetchFile(
                sha1(data), self.destdir, "foo.deb", max_size=4096),
            SlaveFileTooLarge)
        self.assertNothingWritten()

    @defer.inlineCallbacks
    def test_tooLargeUndeclared(self):
        """Without a Content-Length the bytes are counted as they come."""
        url, _ = listen(self, cannedFactory(httpAnswer(
            b"y" * 100000, length=None)))
        sink = io.BytesIO()
        yield self.assertSlaveError(
            makeSlave(self, url, max_file_size=4096).getFile("buildlog", sink),
            SlaveFileTooLarge)
        self.assertLessEqual(len(sink.getvalue()), 4096)
        yield self.assertSlaveError(
            makeSlave(self, url, max_file_size=4096).fetchFile(
                "a" * 40, self.destdir, "foo.deb"),
            SlaveFileTooLarge)
        self.assertNothingWritten()

    @defer.inlineCallbacks
    def test_truncated(self):
        """A builder hanging up mid-file is a transient connection error."""
        url, _ = listen(self, cannedFactory(httpAnswer(
            b"partial", length=1000)))
        e = yield self.assertSlaveError(
            makeSlave(self, url).fetchFile("a" * 40, self.destdir, "foo.deb"),
            SlaveConnectionError)
        self.assertTrue(e.transient)
        self.assertNothingWritten()

    @defer.inlineCallbacks
    def test_garbageHTTP(self):
        url, _ = listen(self, cannedFactory(b"HTTP/9 nonsense\r\n\r\n"))
        yield self.assertSlaveError(
            makeSlave(self, url).getFile("buildlog", io.BytesIO()),
            SlaveProtocolError)

    @defer.inlineCallbacks
    def test_refused(self):
        port = reactor.listenTCP(0, cannedFactory(), interface="127.0.0.1")
        url = "http://127.0.0.1:%d/" % port.getHost().port
        yield port.stopListening()
        yield self.assertSlaveError(
            makeSlave(self, url).fetchFile("a" * 40, self.destdir, "f"),
            SlaveConnectionError)
        self.assertNothingWritten()

    @defer.inlineCallbacks
    def test_noHeaders(self):
        """A builder that accepts but never answers times out."""
        clock = task.Clock()
        url, hung = listen(self, cannedFactory(None))
        connected = hung.whenConnected()
        d = makeSlave(self, url, clock=clock, timeout=30).fetchFile(
            "a" * 40, self.destdir, "foo.deb")
        yield connected
        clock.advance(30)
        yield self.assertSlaveError(d, SlaveTimeout)
        yield hung.whenIdle()
        self.assertNothingWritten()

    @defer.inlineCallbacks
    def test_stalls(self):
        """A body that stops arriving times out on the injected clock, even
        when nothing marks where it should end."""
        for length in (1000, None):
            clock = task.Clock()
            url, hung = listen(self, cannedFactory(
                httpAnswer(b"half", length=length), hangUp=False))
            arrived = defer.Deferred()

            class Sink:
                def write(self, data):
                    if not arrived.called:
                        arrived.callback(data)

            slave = makeSlave(self, url, clock=clock, timeout=30)
            d = slave.getFile("buildlog", Sink())
            self.assertEqual((yield arrived), b"half")
            clock.advance(29)
            self.assertNoResult(d)
            clock.advance(1)
            yield self.assertSlaveError(d, SlaveTimeout)
            yield hung.whenIdle()

    def test_slowDripHasADeadline(self):
        """A body arriving one byte every 5 s never trips the idle timer,
        but passes its overall deadline: the timeout plus its size (or,
        unknown, what arrived so far) at the minimum rate; the connection
        is dropped then."""
        for length, deadline in ((1000, 130), (None, 35)):
            clock = task.Clock()
            response = FakeResponse(length)
            body = downloads._WatchedBody(response, clock, 30, 10)
            body.deliverBody(FakeCollector())
            elapsed = 0
            while body.timedOut is None and elapsed < 400:
                body.touch(1)
                clock.advance(5)
                elapsed += 5
            self.assertEqual(body.timedOut, "too slow")
            self.assertEqual(elapsed, deadline, length)
            self.assertTrue(response.protocol.transport.lost)
            body.stop()
            self.assertEqual(clock.getDelayedCalls(), [])

    def test_fastEnoughIsNotTooSlow(self):
        clock = task.Clock()
        body = downloads._WatchedBody(FakeResponse(1000), clock, 30, 10)
        body.deliverBody(FakeCollector())
        for _ in range(9):
            body.touch(100)
            clock.advance(10)
        self.assertIsNone(body.timedOut)
        body.stop()

    @defer.inlineCallbacks
    def test_cancelDownloadsFreesSlots(self):
        """Cancelling a builder's downloads (it was disabled, removed or
        failed) frees the farm-wide slots at once, for the running ones
        and those still waiting."""
        url, server = listen(self, cannedFactory(
            httpAnswer(b"x", length=1000), hangUp=False))
        slave = makeSlave(self, url, maxDownloads=1, max_downloads=2)
        slots = slave._allSlots
        destdir = self.makeDestdir()
        running = slave.fetchFile("a" * 40, destdir, "a.deb")
        waiting = slave.fetchFile("b" * 40, destdir, "b.deb")
        yield server.whenConnected()
        self.assertEqual(slots.tokens, 0)
        self.assertEqual(slave.cancelDownloads("builder disabled"), 2)
        for d in (running, waiting):
            e = yield self.assertSlaveError(d, SlaveDownloadCancelled)
            self.assertIn("builder disabled", str(e))
        self.assertEqual(slots.tokens, slots.limit)
        self.assertEqual(os.listdir(destdir), [])
        yield server.whenIdle()

    @defer.inlineCallbacks
    def test_cancelMidBody(self):
        """A caller's cancel mid-file drops the connection; nothing more
        reaches the sink and nothing is left on disk."""
        url, server = listen(self, cannedFactory(
            httpAnswer(b"half", length=1000), hangUp=False))
        arrived = defer.Deferred()
        slave = makeSlave(self, url)
        download = slave._download

        def spy(name, write, limit):
            def spyingWrite(data):
                write(data)
                if not arrived.called:
                    arrived.callback(data)
            return download(name, spyingWrite, limit)

        self.patch(slave, "_download", spy)
        d = slave.fetchFile("a" * 40, self.destdir, "foo.deb")
        yield arrived
        d.cancel()
        yield self.assertFailure(d, defer.CancelledError)
        yield server.whenIdle()
        self.assertNothingWritten()
