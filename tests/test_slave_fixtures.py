"""Loopback builders for the slave client's tests: a fake daemon that answers
like launchpad-buildd 206 (PROTOCOL.md), and raw hostile servers.

Every listener and every server-side connection is closed in the test's
cleanup, and cleanup waits until they are gone, so trial's dirty-reactor check
stays meaningful.
"""

import hashlib

from twisted.internet import defer, protocol, reactor, task
from twisted.protocols import policies
from twisted.web import resource, server, xmlrpc

from lp_buildmaster.slave import BuilderSlave, makePool


class TrackingFactory(policies.WrappingFactory):
    """Knows its open connections, so a test can close them and wait."""

    def __init__(self, wrappedFactory):
        policies.WrappingFactory.__init__(self, wrappedFactory)
        self.connectionsMade = 0
        self._made = []
        self._idle = []

    def registerProtocol(self, p):
        policies.WrappingFactory.registerProtocol(self, p)
        self.connectionsMade += 1
        made, self._made = self._made, []
        for d in made:
            d.callback(p)

    def unregisterProtocol(self, p):
        policies.WrappingFactory.unregisterProtocol(self, p)
        if not self.protocols:
            idle, self._idle = self._idle, []
            for d in idle:
                d.callback(None)

    def whenConnected(self):
        """Fires at the next connection."""
        d = defer.Deferred()
        self._made.append(d)
        return d

    def whenIdle(self):
        """Fires once no connection is open."""
        if not self.protocols:
            return defer.succeed(None)
        d = defer.Deferred()
        self._idle.append(d)
        return d

    def closeAll(self):
        for p in list(self.protocols):
            p.transport.abortConnection()
        return self.whenIdle()


def listen(testcase, factory):
    """Serve C{factory} on 127.0.0.1 until the test ends.

    @return: C{(base_url, tracker)}.
    """
    tracker = TrackingFactory(factory)
    port = reactor.listenTCP(0, tracker, interface="127.0.0.1")
    testcase.addCleanup(port.stopListening)
    testcase.addCleanup(tracker.closeAll)
    return "http://127.0.0.1:%d/" % port.getHost().port, tracker


def makeSlave(testcase, url, name="bob", **kwargs):
    """A L{BuilderSlave} with a pool that is closed when the test ends."""
    pool = makePool(reactor, maxDownloads=kwargs.pop("maxDownloads", 16))
    closePoolAtEnd(testcase, pool)
    # A test case saying keepalive = True runs its calls kept alive.
    kwargs.setdefault("keepalive", getattr(testcase, "keepalive", False))
    return BuilderSlave(name, url, pool=kwargs.pop("pool", pool), **kwargs)


def closePoolAtEnd(testcase, pool):
    """Close C{pool} once the test is over, after a reactor turn: a finished
    response hands its connection back to the pool just after the Deferred
    that the test waited on has fired."""
    @defer.inlineCallbacks
    def close():
        yield task.deferLater(reactor, 0, lambda: None)
        yield pool.closeCachedConnections()
    testcase.addCleanup(close)


def sha1(data):
    return hashlib.sha1(data).hexdigest()


class FakeDaemon(xmlrpc.XMLRPC):
    """The daemon's XML-RPC interface over settable state.

    Faults are the real daemon's: 8002 for any refusal.
    """

    build_types = ["binarypackage", "sourcepackagerecipe"]

    def __init__(self):
        xmlrpc.XMLRPC.__init__(self, allowNone=True)
        self.builder_status = "BuilderStatus.IDLE"
        self.build_status = None
        self.cookie = None
        self.logtail = b""
        self.filemap = None
        self.dependencies = None
        self.version = "206"
        self.cache = set()
        self.calls = []

    def _refuse(self):
        raise xmlrpc.Fault(8002, "error")

    def xmlrpc_echo(self, *args):
        return args

    def xmlrpc_info(self):
        return ["1.0", "amd64", self.build_types]

    def xmlrpc_status(self):
        reply = {"builder_status": self.builder_status,
                 "builder_version": self.version}
        if self.builder_status == "BuilderStatus.BUILDING":
            reply.update(build_id=self.cookie,
                         logtail=xmlrpc.Binary(self.logtail))
        elif self.builder_status == "BuilderStatus.WAITING":
            reply.update(build_id=self.cookie, build_status=self.build_status)
            if self.filemap is not None:
                reply.update(filemap=self.filemap,
                             dependencies=self.dependencies or "")
        elif self.builder_status == "BuilderStatus.ABORTING":
            reply.update(build_id=self.cookie)
        return reply

    def xmlrpc_ensurepresent(self, sha1sum, url, username, password):
        self.calls.append(("ensurepresent", sha1sum, url, username, password))
        if sha1sum in self.cache:
            return [True, "Cache"]
        if url is None:
            return [False, "No URL"]
        self.cache.add(sha1sum)
        return [True, "Download"]

    def xmlrpc_build(self, cookie, build_type, chroot, filemap, args):
        self.calls.append(("build", cookie, build_type, chroot, filemap, args))
        if build_type not in self.build_types:
            return ["BuilderStatus.UNKNOWNBUILDER",
                    "%s not in %r" % (build_type, self.build_types)]
        if chroot not in self.cache:
            return ["BuilderStatus.UNKNOWNSUM", "CHROOTSUM -> %s" % chroot]
        if not cookie or self.builder_status != "BuilderStatus.IDLE":
            self._refuse()
        self.builder_status, self.cookie = "BuilderStatus.BUILDING", cookie
        return ["BuilderStatus.BUILDING", cookie]

    def xmlrpc_abort(self):
        if self.builder_status != "BuilderStatus.BUILDING":
            self._refuse()
        self.builder_status = "BuilderStatus.ABORTING"
        return "BuilderStatus.ABORTING"

    def xmlrpc_clean(self):
        if self.builder_status != "BuilderStatus.WAITING":
            self._refuse()
        self.builder_status, self.cookie = "BuilderStatus.IDLE", None
        self.build_status = self.filemap = self.dependencies = None
        return "BuilderStatus.IDLE"


class FileCache(resource.Resource):
    """C{/filecache/<name>} from a dict; 404 for anything else.

    @ivar gated: when True, requests wait in C{waiting} until the test
        calls L{release}.
    """

    def __init__(self):
        resource.Resource.__init__(self)
        self.files = {}
        self.requests = []
        self.gated = False
        self.waiting = []
        self.active = self.peak = 0

    def getChild(self, name, request):
        return self

    def render_GET(self, request):
        name = request.prepath[-1].decode()
        self.requests.append(name)
        if name not in self.files:
            request.setResponseCode(404)
            return b"Not Found"
        if not self.gated:
            return self.files[name]
        self.active += 1
        self.peak = max(self.peak, self.active)
        self.waiting.append((request, name))
        request.notifyFinish().addBoth(self._finished)
        return server.NOT_DONE_YET

    def _finished(self, ignored):
        self.active -= 1

    def release(self):
        """Answer the oldest waiting request."""
        request, name = self.waiting.pop(0)
        request.write(self.files[name])
        request.finish()


def daemonSite():
    """A Site with the daemon at /rpc and its files at /filecache/."""
    root = resource.Resource()
    daemon, files = FakeDaemon(), FileCache()
    root.putChild(b"rpc", daemon)
    root.putChild(b"filecache", files)
    site = server.Site(root)
    site.timeOut = None
    site.log = lambda request: None
    return site, daemon, files


class CannedProtocol(protocol.Protocol):
    """Sends C{factory.answer} once a request arrives, then hangs up
    (or, with no answer, says nothing ever)."""

    def dataReceived(self, data):
        answer = self.factory.answer
        if answer is not None:
            self.transport.write(answer)
            if self.factory.hangUp:
                self.transport.loseConnection()
            self.factory.answer = None if not self.factory.repeat else answer


def cannedFactory(answer=None, hangUp=True, repeat=True):
    f = protocol.ServerFactory.forProtocol(CannedProtocol)
    f.answer, f.hangUp, f.repeat = answer, hangUp, repeat
    return f


def httpAnswer(body, status=b"200 OK", length=True, headers=b""):
    """A raw HTTP/1.0 response."""
    head = b"HTTP/1.0 " + status + b"\r\nContent-Type: text/xml\r\n" + headers
    if length is True:
        head += b"Content-Length: %d\r\n" % len(body)
    elif length is not None:
        head += b"Content-Length: %d\r\n" % length
    return head + b"\r\n" + body


class FloodProtocol(protocol.Protocol):
    """Answers any request with C{factory.total} bytes of a status reply,
    produced lazily: a chunk only when the client's socket takes it, so
    C{factory.sent} shows how much the client actually consumed."""

    chunk = b"A" * 65536

    def dataReceived(self, data):
        if self.factory.sent:
            return
        self.transport.write(httpAnswer(
            b"<?xml version='1.0'?><methodResponse><params><param><value>"
            b"<string>", length=None))
        self.transport.registerProducer(self, False)

    def resumeProducing(self):
        if self.factory.sent >= self.factory.total:
            self.transport.unregisterProducer()
            self.transport.loseConnection()
            return
        self.factory.sent += len(self.chunk)
        self.transport.write(self.chunk)

    def stopProducing(self):
        pass


def floodFactory(total):
    f = protocol.ServerFactory.forProtocol(FloodProtocol)
    f.total, f.sent = total, 0
    return f
