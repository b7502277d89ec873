"""The Swift backend against a small Swift look-alike on loopback that
answers 503 (as a real Swift proxy does when its storage nodes are slow):
the call is tried again after each retry delay, timed by a Clock, and a
503 that lasts is the answer in the end."""

import hashlib
import os

from twisted.internet import defer, reactor, task
from twisted.trial import unittest
from twisted.web import resource, server
from twisted.web.client import HTTPConnectionPool

from lp_buildmaster.librarian.swift import SwiftBackend, SwiftError


class _Swift(resource.Resource):
    """tempauth at /auth/v1.0; PUTs to /v1/AUTH_test/... answered 503 for
    the first C{busy} object PUTs, then stored."""

    isLeaf = True

    def __init__(self, busy):
        super().__init__()
        self.busy = busy
        self.objects = {}
        self.calls = []

    def render_GET(self, request):
        if request.path == b"/auth/v1.0":
            request.setHeader(b"X-Auth-Token", b"tok")
            request.setHeader(
                b"X-Storage-Url",
                b"http://%s:%d/v1/AUTH_test" % (
                    request.getHost().host.encode(), request.getHost().port))
            return b""
        request.setResponseCode(404)
        return b""

    def render_PUT(self, request):
        self.calls.append(request.path)
        if request.path.count(b"/") == 3:      # /v1/AUTH_test/container
            request.setResponseCode(201)
            return b""
        if self.busy > 0:
            self.busy -= 1
            request.setResponseCode(503)
            return b"busy"
        self.objects[request.path.rsplit(b"/", 1)[1]] = request.content.read()
        request.setResponseCode(201)
        return b""


class SwiftRetryTests(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        self.pool = HTTPConnectionPool(reactor)
        self.addCleanup(self.pool.closeCachedConnections)

    def start(self, busy):
        self.swift = _Swift(busy)
        port = reactor.listenTCP(0, server.Site(self.swift),
                                 interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return SwiftBackend(
            "http://127.0.0.1:%d/auth/v1.0" % port.getHost().port,
            "test:tester", "testing", "librarian", spool=self.mktemp(),
            pool=self.pool, clock=self.clock, retryDelays=(1.0, 4.0))

    @defer.inlineCallbacks
    def putWithRetries(self, busy):
        backend = self.start(busy)
        data = os.urandom(1000)
        pending = backend.newFile()
        pending.write(data)
        result = pending.commit()
        waits = []
        while not result.called:
            yield self.waitForRetryOr(result)
            if result.called:
                break
            call, = self.clock.getDelayedCalls()
            waits.append(call.getTime() - self.clock.seconds())
            self.clock.advance(waits[-1])
        return result, waits, hashlib.sha1(data).hexdigest()

    @defer.inlineCallbacks
    def waitForRetryOr(self, result):
        """Until the backend waits on the clock for its next try, or is
        done (the loopback I/O runs meanwhile)."""
        while not self.clock.getDelayedCalls() and not result.called:
            d = defer.Deferred()
            reactor.callLater(0, d.callback, None)
            yield d

    @defer.inlineCallbacks
    def test_503_is_tried_again(self):
        result, waits, sha1 = yield self.putWithRetries(busy=2)
        yield result
        self.assertEqual(waits, [1.0, 4.0])
        self.assertIn(sha1.encode(), self.swift.objects)
        object_puts = [p for p in self.swift.calls if p.count(b"/") == 4]
        self.assertEqual(len(object_puts), 3)

    @defer.inlineCallbacks
    def test_lasting_503_is_the_answer(self):
        result, waits, sha1 = yield self.putWithRetries(busy=5)
        e = yield self.assertFailure(result, SwiftError)
        self.assertIn("HTTP 503", str(e))
        self.assertEqual(waits, [1.0, 4.0])
        self.assertEqual(self.swift.objects, {})
