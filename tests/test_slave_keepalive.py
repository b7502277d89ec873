"""XML-RPC calls on kept-alive connections: one connection per builder
carries its calls, each builder's connections are its own, and a builder
that misbehaves on one loses that connection and nothing else, on real
loopback sockets, against scripted servers, the simulator and the real
launchpad-buildd."""

import re
import xmlrpc.client

from twisted.internet import defer, protocol, reactor, task
from twisted.trial import unittest
from twisted.web import resource, server

from lp_buildmaster.slave import (
    BuilderSlave, SlaveConnectionError, SlaveFault, SlaveHTTPError,
    SlaveProtocolError, SlaveReplyTooLarge, SlaveTimeout, makePool)
from lp_buildmaster.slave.pool import MAX_HEADER_BYTES
from lp_buildmaster.testing.simulator import SimulatedFarm
from tests import test_slave_hostile
from tests.realbuilder import RealBuilder
from tests.test_slave_fixtures import (
    FakeDaemon, closePoolAtEnd, daemonSite, listen, makeSlave)

MB = 1024 * 1024

#: A scripted answer: hang up without answering.
HANG_UP = object()


def cached(pool):
    """The connections a pool holds for reuse, oldest first."""
    return [p for ps in pool._connections.values() for p in ps]


def reply(value, extra=b"", headers=b""):
    """An HTTP/1.1 keep-alive XML-RPC reply (C{extra} inside the body)."""
    body = xmlrpc.client.dumps((value,), methodresponse=True).encode()
    body += extra
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n%s"
            b"Content-Length: %d\r\n\r\n" % (headers, len(body)) + body)


class ScriptedHTTP(protocol.Protocol):
    """Answers each request, over any connection, with the factory's next
    answer: bytes (the connection stays open), None (silence) or
    L{HANG_UP}."""

    def connectionMade(self):
        self.buffer = b""
        self.factory.connections += 1

    def dataReceived(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            found = re.search(rb"(?i)content-length: *(\d+)",
                              self.buffer[:end])
            size = end + 4 + (int(found.group(1)) if found else 0)
            if len(self.buffer) < size:
                return
            self.buffer = self.buffer[size:]
            answer = self.factory.answers.pop(0)
            waiting, self.factory.waiting = self.factory.waiting, []
            for d in waiting:
                d.callback(None)
            if answer is HANG_UP:
                self.transport.loseConnection()
                return
            if answer is not None:
                self.transport.write(answer)


def scripted(*answers):
    f = protocol.ServerFactory.forProtocol(ScriptedHTTP)
    f.answers, f.connections, f.waiting = list(answers), 0, []
    return f


def nextRequest(factory):
    """Fires when C{factory}'s server has read its next request."""
    d = defer.Deferred()
    factory.waiting.append(d)
    return d


class HeadFlood(protocol.Protocol):
    """Answers a request with a status line and then header lines for ever
    (or one header's continuation lines), written only as the client's
    socket takes them, so C{factory.sent} is what the client consumed."""

    def dataReceived(self, data):
        if self.factory.sent:
            return
        first = b"HTTP/1.1 200 OK\r\n"
        if self.factory.continuation:
            first += b"X-Long: start\r\n"
        self.transport.write(first)
        self.factory.sent = len(first)
        self.transport.registerProducer(self, False)

    def resumeProducing(self):
        if self.factory.sent >= 100 * MB:
            self.transport.unregisterProducer()
            self.transport.loseConnection()
            return
        line = (b" more" if self.factory.continuation else b"X-A: b") \
            + b"x" * 1000 + b"\r\n"
        chunk = line * 64
        self.factory.sent += len(chunk)
        self.transport.write(chunk)

    def stopProducing(self):
        pass


class KeepAliveTests(unittest.TestCase):

    keepalive = True

    @defer.inlineCallbacks
    def test_callsShareOneConnection(self):
        """Calls and their replies go over one connection, whichever call;
        a Fault is a complete answer and keeps it."""
        site, daemon, files = daemonSite()
        url, server_ = listen(self, site)
        slave = makeSlave(self, url)
        for _ in range(3):
            self.assertEqual((yield slave.echo("x")), ["x"])
            yield slave.status()
        yield self.assertFailure(slave.abort(), SlaveFault)  # IDLE: refused
        self.assertEqual(["x"], (yield slave.echo("x")))
        self.assertEqual(1, server_.connectionsMade)
        self.assertEqual(1, len(server_.protocols))

    @defer.inlineCallbacks
    def test_hostName(self):
        """A builder named by host name (resolved once per connection, not
        per call) keeps its connection as one named by address does."""
        site, daemon, files = daemonSite()
        url, server_ = listen(self, site)
        slave = makeSlave(self, url.replace("127.0.0.1", "localhost"))
        for _ in range(3):
            yield slave.status()
        self.assertEqual(1, server_.connectionsMade)

    @defer.inlineCallbacks
    def test_keepaliveOff(self):
        """With keepalive=False (the default) every call opens and closes
        a connection."""
        site, daemon, files = daemonSite()
        url, server_ = listen(self, site)
        slave = makeSlave(self, url, keepalive=False)
        for _ in range(3):
            yield slave.status()
        self.assertEqual(3, server_.connectionsMade)
        yield server_.whenIdle()

    @defer.inlineCallbacks
    def test_buildersOnOnePortKeepTheirOwn(self):
        """Two builders served on one host and port never share a
        connection: each keeps its own, reused by its calls only."""
        root = resource.Resource()
        for name in (b"a", b"b"):
            child = resource.Resource()
            child.putChild(b"rpc", FakeDaemon())
            root.putChild(name, child)
        site = server.Site(root)
        site.log = lambda request: None
        url, server_ = listen(self, site)
        pool = makePool(reactor)
        closePoolAtEnd(self, pool)
        a = BuilderSlave("a", url + "a/", pool=pool, keepalive=True)
        b = BuilderSlave("b", url + "b/", pool=pool, keepalive=True)
        yield a.status()
        yield b.status()
        first = cached(pool)
        for _ in range(3):
            yield a.status()
            yield b.status()
        self.assertEqual(2, len(first))
        self.assertEqual(set(first), set(cached(pool)))
        self.assertEqual(2, server_.connectionsMade)

    @defer.inlineCallbacks
    def assertDroppedAfter(self, answer, exctype, slave=None, **kwargs):
        """A builder that answers well, then C{answer}, then well again:
        the bad answer fails with C{exctype}, its connection is closed,
        and the next call works on a new one."""
        factory = scripted(reply("one"), answer, reply("three"))
        url, server_ = listen(self, factory)
        slave = makeSlave(self, url, **kwargs)
        self.assertEqual("one", (yield slave.clean()))
        d = slave.clean()
        yield self.assertFailure(d, exctype)
        yield server_.whenIdle()
        self.assertEqual("three", (yield slave.clean()))
        self.assertEqual(2, factory.connections)

    def test_garbageDropsConnection(self):
        body = b"<methodResponse><<"
        return self.assertDroppedAfter(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body, SlaveProtocolError)

    def test_moreBodyThanReplyDropsConnection(self):
        """A body that goes on after its XML-RPC document."""
        return self.assertDroppedAfter(
            reply("two", extra=b"<x/>"), SlaveProtocolError)

    def test_noValidReplyDropsConnection(self):
        """A complete, well-formed body that is no XML-RPC reply."""
        body = b"<methodResponse></methodResponse>"
        return self.assertDroppedAfter(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body, SlaveProtocolError)

    def test_errorStatusDropsConnection(self):
        return self.assertDroppedAfter(
            b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\noops",
            SlaveHTTPError)

    def test_tooLargeDropsConnection(self):
        return self.assertDroppedAfter(
            reply("x" * 5000), SlaveReplyTooLarge, max_reply_size=4096)

    def test_headTooLongDropsConnection(self):
        return self.assertDroppedAfter(
            reply("two", headers=b"X-Pad: %s\r\n" % (b"p" * 8000) * 30),
            SlaveProtocolError)

    @defer.inlineCallbacks
    def test_timeoutDropsConnection(self):
        """A builder silent on a kept-alive connection times out on the
        injected clock; the connection is closed, and the next call goes
        over a new one."""
        clock = task.Clock()
        factory = scripted(reply("one"), None, reply("three"))
        url, server_ = listen(self, factory)
        slave = makeSlave(self, url, clock=clock, timeout=30)
        yield slave.clean()
        received = nextRequest(factory)
        d = slave.clean()
        yield received
        clock.advance(30)
        yield self.assertFailure(d, SlaveTimeout)
        yield server_.whenIdle()
        self.assertEqual("three", (yield slave.clean()))
        self.assertEqual(2, factory.connections)

    @defer.inlineCallbacks
    def test_trailingBytesNeverTheNextReply(self):
        """Bytes after a reply's end (here a second, forged reply) are
        never taken as the answer to the next call."""
        factory = scripted(reply("one") + reply("forged"), reply("two"))
        url, _ = listen(self, factory)
        slave = makeSlave(self, url)
        self.assertEqual("one", (yield slave.clean()))
        self.assertEqual("two", (yield slave.clean()))

    @defer.inlineCallbacks
    def test_closedIdleConnection(self):
        """A builder that closed a kept-alive connection just as a call
        went out: a read-only call is sent again on a new connection; a
        call that changes the builder fails as a connection error."""
        factory = scripted(reply(["1.0", "i386", []]), HANG_UP,
                           reply(["1.0", "i386", []]), HANG_UP)
        url, server_ = listen(self, factory)
        slave = makeSlave(self, url)
        yield slave.info()
        self.assertEqual(["1.0", "i386", []], (yield slave.info()))
        self.assertEqual(2, factory.connections)
        e = yield self.assertFailure(slave.clean(), SlaveConnectionError)
        self.assertTrue(e.transient)
        self.assertEqual(2, factory.connections)

    @defer.inlineCallbacks
    def test_endlessHeaders(self):
        """Header lines (or one header's continuation lines) for ever: the
        call fails once the head passes its bound, and the builder got to
        write little more than that."""
        for continuation in (False, True):
            flood = protocol.ServerFactory.forProtocol(HeadFlood)
            flood.sent, flood.continuation = 0, continuation
            url, server_ = listen(self, flood)
            yield self.assertFailure(
                makeSlave(self, url).status(), SlaveProtocolError)
            yield server_.whenIdle()
            # Kernel socket buffers hold a few MB; the rest never left.
            self.assertLess(flood.sent, MAX_HEADER_BYTES + 20 * MB)


class PeersKeepAliveTests(unittest.TestCase):
    """The simulator and the real daemon keep connections alive."""

    @defer.inlineCallbacks
    def test_simulator(self):
        farm = SimulatedFarm(clock=task.Clock(), reactor=reactor, seed=1,
                             fetch=False)
        yield farm.listen()
        self.addCleanup(farm.stop)
        pool = makePool(reactor)
        closePoolAtEnd(self, pool)
        for name in ("a", "b"):
            farm.addBuilder(name)
        slaves = [BuilderSlave(name, farm.urlFor(name), pool=pool,
                               keepalive=True) for name in ("a", "b")]
        for slave in slaves:
            yield slave.status()
        first = cached(pool)
        for _ in range(3):
            for slave in slaves:
                yield slave.status()
                yield slave.echo(1)
        self.assertEqual(2, len(first))
        self.assertEqual(set(first), set(cached(pool)))

    @defer.inlineCallbacks
    def test_realDaemon(self):
        builder = RealBuilder(self.mktemp())
        yield builder.start()
        self.addCleanup(builder.stop)
        pool = makePool(reactor)
        closePoolAtEnd(self, pool)
        slave = BuilderSlave("bob", builder.url, pool=pool, keepalive=True)
        yield slave.status()
        first = cached(pool)
        for _ in range(3):
            yield slave.status()
            yield slave.info()
        self.assertEqual(1, len(first))
        self.assertEqual(first, cached(pool))


class KeptAliveRPCTests(test_slave_hostile.RPCTests):
    """Every hostile XML-RPC case of test_slave_hostile, its calls kept
    alive."""

    keepalive = True
