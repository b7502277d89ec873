"""The farm's HTTP side: one listening site for every builder (or one per
builder), routing C{/<builder>/rpc} and C{/<builder>/filecache/<name>}.

C{_FastChannel} answers a plain XML-RPC POST without twisted.web's
machinery (thousands of status() calls a second); anything else goes to a
twisted.web channel.  Build logs are streamed by a pull producer, one chunk
at a time.

Imports C{constants}; the farm and its L{RpcHandler} are passed in.
"""

from urllib.parse import unquote_to_bytes

from twisted.internet import protocol
from twisted.web import http, resource, server

from lp_buildmaster.testing.simulator.constants import CHUNK_SIZE


class _LogProducer:
    """Writes C{[start, end)} of a L{BuildLog} to a request, a chunk each
    time the transport asks for more (a pull producer: memory stays at one
    chunk whatever the log's size)."""

    def __init__(self, request, buildlog, start, end, now):
        self.request = request
        self.log = buildlog
        self.pos = start
        self.end = end
        self.now = now
        self.done = False

    def start(self):
        self.request.notifyFinish().addBoth(self._gone)
        self.request.registerProducer(self, False)

    def _gone(self, _):
        self.done = True

    def resumeProducing(self):
        if self.done:
            return
        if self.pos >= self.end:
            self.done = True
            self.request.unregisterProducer()
            self.request.finish()
            return
        stop = min(self.end, self.pos + CHUNK_SIZE)
        data = self.log.read(self.pos, stop, self.now)
        self.pos = stop
        self.request.write(data)

    def stopProducing(self):
        self.done = True


class _WebResponder:
    """Answers an XML-RPC call that came through twisted.web."""

    __slots__ = ("request",)

    def __init__(self, request):
        self.request = request

    def send(self, data, code=200):
        request = self.request
        if request._disconnected or request.finished:
            return
        if code != 200:
            request.setResponseCode(code)
        request.setHeader(b"content-type", b"text/xml")
        request.setHeader(b"content-length", b"%d" % len(data))
        request.write(data)
        request.finish()

    def abort(self):
        self.request.channel.transport.abortConnection()

    def hold(self, hung):
        hung.add(self)
        self.request.notifyFinish().addBoth(lambda _: hung.discard(self))


class _FarmResource(resource.Resource):
    """Routes C{/<builder>/rpc} and C{/<builder>/filecache/<name>}, or, for
    a builder with a port of its own, C{/rpc} and C{/filecache/<name>}."""

    isLeaf = True

    def __init__(self, farm, builder=None):
        resource.Resource.__init__(self)
        self.farm = farm
        self.builder = builder

    def render(self, request):
        farm = self.farm
        path = request.postpath
        builder = self.builder
        if builder is None:
            if len(path) < 2:
                return self._notFound(request)
            builder = farm.builders.get(path[0].decode("utf-8", "replace"))
            path = path[1:]
            if builder is None:
                return self._notFound(request)
        if path == [b"rpc"]:
            if request.method != b"POST":
                request.setResponseCode(http.NOT_ALLOWED)
                request.setHeader(b"allow", b"POST")
                return b""
            farm._rpc.handle(builder, request.content.read(),
                             _WebResponder(request))
            return server.NOT_DONE_YET
        if builder.down:
            farm.counters["refused"] += 1
            request.channel.transport.abortConnection()
            return server.NOT_DONE_YET
        if builder.hang:
            farm.counters["hung"] += 1
            _WebResponder(request).hold(farm._hung)
            return server.NOT_DONE_YET
        if (len(path) == 2 and path[0] == b"filecache"
                and request.method in (b"GET", b"HEAD")):
            return self._file(builder, request,
                              path[1].decode("utf-8", "replace"))
        return self._notFound(request)

    def _notFound(self, request):
        request.setResponseCode(http.NOT_FOUND)
        request.setHeader(b"content-type", b"text/html")
        return b"<html><body>No Such Resource</body></html>\n"

    def _file(self, builder, request, name):
        farm = self.farm
        found = builder.fileFor(name)
        if found is None:
            return self._notFound(request)
        request.setHeader(b"content-type", b"text/html")
        if isinstance(found, bytes):
            farm.counters["files"] += 1
            request.setHeader(b"content-length", b"%d" % len(found))
            return b"" if request.method == b"HEAD" else found
        farm.counters["buildlogs"] += 1
        now = farm.clock.seconds()
        start, end = found.origin, found.length(now)
        request.setHeader(b"content-length", b"%d" % (end - start))
        if request.method == b"HEAD" or start >= end:
            return b""
        if end - start <= CHUNK_SIZE:
            return found.read(start, end, now)
        _LogProducer(request, found, start, end, now).start()
        return server.NOT_DONE_YET


class _Channel(http.HTTPChannel):
    """twisted.web's channel, tracked in its site so that stop() can drop
    every connection."""

    def connectionMade(self):
        http.HTTPChannel.connectionMade(self)
        self.site.channels.add(self)

    def connectionLost(self, reason):
        self.site.channels.discard(self)
        http.HTTPChannel.connectionLost(self, reason)


_MAX_HEAD = 16 * 1024
_MAX_RPC_BODY = 16 * 1024 ** 2


class _FastChannel(protocol.Protocol):
    """The first protocol of every connection.

    A plain XML-RPC POST with a Content-Length (all the master sends to
    /rpc) is answered here without twisted.web's machinery; an HTTP/1.1
    one without C{Connection: close} keeps its connection open for the
    next call, as the real daemon's twisted.web does. Anything else (file
    downloads, chunked bodies, odd requests) is handed, bytes and all, to a
    twisted.web channel.
    """

    def __init__(self, site, addr):
        self.site = site
        self.addr = addr
        self.inner = None
        self.buffer = b""
        self.done = False

    def connectionMade(self):
        site = self.site
        site.channels.add(self)
        builder = site.builder
        if builder is not None and builder.down:
            # A builder with its own port: down is a reset at once.
            site.farm.counters["refused"] += 1
            self.transport.abortConnection()

    def dataReceived(self, data):
        if self.inner is not None:
            self.inner.dataReceived(data)
            return
        self.buffer += data
        if self.done:
            # The next request while this one is answered (kept alive).
            if len(self.buffer) > _MAX_HEAD + _MAX_RPC_BODY:
                self.transport.abortConnection()
            return
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > _MAX_HEAD:
                self._fallback()
            return
        lines = buffer[:end].split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or parts[0] != b"POST" or \
                not parts[1].endswith(b"/rpc"):
            self._fallback()
            return
        length = None
        close = parts[2] != b"HTTP/1.1"
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                value = value.strip()
                if not value.isdigit() or length is not None:
                    self._fallback()
                    return
                length = int(value)
            elif name in (b"transfer-encoding", b"expect") or not sep:
                self._fallback()
                return
            elif name == b"connection":
                close = close or b"close" in value.lower()
        if length is None or length > _MAX_RPC_BODY:
            self._fallback()
            return
        if len(buffer) < end + 4 + length:
            return
        builder = self._builder(parts[1])
        if builder is None:
            self._fallback()
            return
        self.done = True
        self.close = close
        self.version = parts[2] if parts[2] == b"HTTP/1.0" else b"HTTP/1.1"
        body = buffer[end + 4:end + 4 + length]
        self.buffer = buffer[end + 4 + length:]
        self.site.farm._rpc.handle(builder, body, self)

    def _builder(self, target):
        path = target.split(b"?", 1)[0].split(b"/")
        site = self.site
        if site.builder is not None:
            return site.builder if path == [b"", b"rpc"] else None
        if len(path) != 3 or path[0] != b"":
            return None
        return site.farm.builders.get(
            unquote_to_bytes(path[1]).decode("utf-8", "replace"))

    def _fallback(self):
        channel = server.Site.buildProtocol(self.site, self.addr)
        self.inner = channel
        channel.makeConnection(self.transport)
        data, self.buffer = self.buffer, b""
        channel.dataReceived(data)

    # -- the responder interface -------------------------------------------

    def send(self, data, code=200):
        transport = self.transport
        if transport is None or not transport.connected:
            return
        transport.write(b"".join([
            self.version, b" 200 OK\r\n" if code == 200 else
            b" %d %s\r\n" % (code, http.RESPONSES.get(code, b"Error")),
            b"Content-Type: text/xml\r\nContent-Length: %d\r\n%s\r\n" % (
                len(data), b"Connection: close\r\n" if self.close else b""),
            data]))
        if self.close:
            transport.loseConnection()
        else:
            self.done = False
            if self.buffer:
                buffered, self.buffer = self.buffer, b""
                self.dataReceived(buffered)

    def abort(self):
        self.transport.abortConnection()

    def hold(self, hung):
        hung.add(self)

    def connectionLost(self, reason):
        site = self.site
        site.channels.discard(self)
        site.farm._hung.discard(self)
        if self.inner is not None:
            self.inner.connectionLost(reason)


class FarmSite(server.Site):
    protocol = _Channel
    noisy = False

    def __init__(self, farm, builder=None):
        # No form parsing: it costs more than the rest of a status() call.
        server.Site.__init__(self, _FarmResource(farm, builder),
                             reactor=farm.reactor,
                             parsePOSTFormSubmission=False)
        self.farm = farm
        self.builder = builder
        self.channels = set()

    def log(self, request):
        pass    # no access log: thousands of calls a second

    def buildProtocol(self, addr):
        return _FastChannel(self, addr)
