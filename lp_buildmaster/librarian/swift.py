"""Library content in an OpenStack Swift container, one object per sha1.

Authentication is Swift's v1.0 (tempauth, Swift's all-in-one setups):
C{GET auth_url} with C{X-Storage-User} and C{X-Storage-Pass} answers with
C{X-Auth-Token} and C{X-Storage-Url}. The token is kept until Swift
answers 401, then fetched again once. New content is spooled to a local
file while it is hashed, then PUT with its md5 as C{ETag}, so Swift
refuses a body damaged on the way (422). Downloads stream: the librarian
relays Swift's answer (Range included) to its own client with flow
control, so a slow client never makes it buffer a whole file.
"""

import os
import tempfile
from urllib.parse import quote

import treq
from twisted.internet import defer, protocol, task
from twisted.logger import Logger
from twisted.web import server
from twisted.web.client import FileBodyProducer
from zope.interface import implementer

from lp_buildmaster.clock import orReactor
from lp_buildmaster.librarian.backends import (
    ContentNotFound, IContentBackend, SpooledContent)

#: Seconds any one call to Swift may take before it is given up.
TIMEOUT = 120

#: Seconds to wait before each new try of a call Swift answered with 503
#: (its proxy could not reach enough storage nodes in time: busy or
#: restarting nodes). After the last, the 503 is the answer.
RETRY_DELAYS = (0.5, 2.0, 5.0)


class SwiftError(Exception):
    """Swift answered something other than what was asked for."""


class _Pending:
    def __init__(self, backend):
        self._backend = backend
        self._spool = SpooledContent(backend.spool)

    @property
    def size(self):
        return self._spool.size

    def write(self, data):
        self._spool.write(data)

    @defer.inlineCallbacks
    def commit(self):
        spool = self._spool
        spool.close()
        sha1 = spool.sha1.hexdigest()
        try:
            yield self._backend._put(sha1, spool.tmppath, spool.size,
                                     spool.md5.hexdigest())
        finally:
            spool.abort()
        return sha1, spool.sha256.hexdigest(), spool.size

    def abort(self):
        self._spool.abort()


class _Relay(protocol.Protocol):
    """Copies Swift's response body into a librarian request, pausing
    Swift while the request's client is slow."""

    def __init__(self, request, done):
        self.request = request
        self.done = done

    def connectionMade(self):
        self.request.registerProducer(self, True)

    def pauseProducing(self):
        self.transport.pauseProducing()

    def resumeProducing(self):
        self.transport.resumeProducing()

    def stopProducing(self):
        self.transport.stopProducing()

    def dataReceived(self, data):
        self.request.write(data)

    def connectionLost(self, reason):
        self.request.unregisterProducer()
        self.done.callback(None)


@implementer(IContentBackend)
class SwiftBackend:

    log = Logger()

    def __init__(self, auth_url, user, key, container, spool,
                 reactor=None, pool=None, clock=None,
                 retryDelays=RETRY_DELAYS):
        reactor = orReactor(reactor)
        self.clock = clock if clock is not None else reactor
        self.retryDelays = tuple(retryDelays)
        self.auth_url = auth_url
        self.user = user
        self.key = key
        self.container = container
        self.spool = spool
        self.reactor = reactor
        self.pool = pool
        self._auth = None
        self._containerMade = False

    # Talking to Swift.

    @defer.inlineCallbacks
    def _authenticate(self):
        response = yield treq.get(
            self.auth_url, headers={"X-Storage-User": self.user,
                                    "X-Storage-Pass": self.key},
            pool=self.pool, reactor=self.reactor, timeout=TIMEOUT)
        yield treq.content(response)
        token = response.headers.getRawHeaders("x-auth-token")
        url = response.headers.getRawHeaders("x-storage-url")
        if response.code // 100 != 2 or not token or not url:
            raise SwiftError("Swift authentication at %s failed: HTTP %d"
                             % (self.auth_url, response.code))
        self._auth = (token[0], url[0].rstrip("/"))
        return self._auth

    @defer.inlineCallbacks
    def _request(self, method, name=None, headers=None, data=None,
                 unbuffered=False):
        """One call; a 503 (Swift's proxy timed out on its storage nodes)
        is tried again after each of C{retryDelays}, with one log line
        per retry, as Swift's own clients do."""
        delays = list(self.retryDelays)
        while True:
            response = yield self._authorized(
                method, name, headers, data, unbuffered)
            if response.code != 503 or not delays:
                return response
            yield treq.content(response)
            delay = delays.pop(0)
            self.log.info(
                "Swift answered 503 to {method} {what}; trying again in "
                "{delay} s", method=method, what=name or self.container,
                delay=delay)
            yield task.deferLater(self.clock, delay, lambda: None)

    @defer.inlineCallbacks
    def _authorized(self, method, name, headers, data, unbuffered):
        """One call, authenticating first or again after a 401."""
        for attempt in (1, 2):
            if self._auth is None:
                yield self._authenticate()
            token, storage = self._auth
            url = "%s/%s" % (storage, quote(self.container))
            if name is not None:
                url += "/" + quote(name)
            all_headers = {"X-Auth-Token": token}
            all_headers.update(headers or {})
            body = data() if callable(data) else data
            response = yield treq.request(
                method, url, headers=all_headers, data=body,
                pool=self.pool, reactor=self.reactor, timeout=TIMEOUT,
                unbuffered=unbuffered)
            if response.code == 401 and attempt == 1:
                yield treq.content(response)
                self._auth = None
                continue
            return response

    @defer.inlineCallbacks
    def _ensureContainer(self):
        if self._containerMade:
            return
        response = yield self._request("PUT")
        yield treq.content(response)
        if response.code not in (201, 202, 204):
            raise SwiftError("cannot create Swift container %s: HTTP %d"
                             % (self.container, response.code))
        self._containerMade = True

    @defer.inlineCallbacks
    def _put(self, sha1, path, size, md5):
        yield self._ensureContainer()

        def body():
            return FileBodyProducer(open(path, "rb"))
        response = yield self._request(
            "PUT", sha1, headers={"ETag": md5,
                                  "Content-Type": "application/octet-stream"},
            data=body)
        yield treq.content(response)
        if response.code != 201:
            raise SwiftError("storing %s in Swift failed: HTTP %d"
                             % (sha1, response.code))

    # IContentBackend.

    def newFile(self):
        return _Pending(self)

    @defer.inlineCallbacks
    def open(self, sha1):
        response = yield self._request("GET", sha1, unbuffered=True)
        if response.code == 404:
            yield treq.content(response)
            raise ContentNotFound(sha1)
        if response.code != 200:
            yield treq.content(response)
            raise SwiftError("reading %s from Swift failed: HTTP %d"
                             % (sha1, response.code))
        os.makedirs(self.spool, exist_ok=True)
        copy = tempfile.TemporaryFile(dir=self.spool)
        try:
            yield treq.collect(response, copy.write)
        except BaseException:
            copy.close()
            raise
        copy.seek(0)
        return copy

    def render(self, request, sha1, mimetype, encoding=None):
        method = request.method.decode("ascii")
        headers = {}
        ranges = request.getHeader(b"range")
        if ranges is not None:
            headers["Range"] = ranges.decode("latin-1")
        d = self._request(method, sha1, headers=headers, unbuffered=True)
        d.addCallback(self._relay, request, sha1, mimetype, encoding)
        d.addErrback(self._failed, request, sha1)
        return server.NOT_DONE_YET

    def _relay(self, response, request, sha1, mimetype, encoding):
        if response.code == 404:
            raise ContentNotFound(sha1)
        if response.code not in (200, 206, 416):
            raise SwiftError("reading %s from Swift failed: HTTP %d"
                             % (sha1, response.code))
        request.setResponseCode(response.code)
        request.setHeader(b"content-type", mimetype.encode("ascii"))
        if encoding is not None:
            request.setHeader(b"content-encoding", encoding.encode("ascii"))
        request.setHeader(b"accept-ranges", b"bytes")
        for name in (b"content-length", b"content-range",
                     b"last-modified"):
            value = response.headers.getRawHeaders(name)
            if value:
                request.setHeader(name, value[0])
        if request.method == b"HEAD":
            request.finish()
            return treq.content(response)
        done = defer.Deferred()
        relay = _Relay(request, done)
        response.deliverBody(relay)
        # The client went away: stop reading from Swift.
        request.notifyFinish().addErrback(
            lambda _: done.called or relay.transport.stopProducing())
        done.addCallback(lambda _: request.finished or request._disconnected
                         or request.finish())
        return done

    def _failed(self, failure, request, sha1):
        if request.finished or request._disconnected:
            return
        if failure.check(ContentNotFound):
            self.log.error("Content {sha1} is missing from Swift", sha1=sha1)
            code, message = 404, b"No such file\n"
        else:
            self.log.error("Serving {sha1} from Swift failed: {error}",
                           sha1=sha1, error=failure.getErrorMessage())
            code, message = 503, b"The librarian's storage is unavailable\n"
        if request.startedWriting:
            request.loseConnection()
            return
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.setHeader(b"content-length", b"%d" % len(message))
        request.write(message)
        request.finish()

    @defer.inlineCallbacks
    def delete(self, sha1):
        response = yield self._request("DELETE", sha1)
        yield treq.content(response)
        if response.code not in (204, 404):
            raise SwiftError("deleting %s from Swift failed: HTTP %d"
                             % (sha1, response.code))

    @defer.inlineCallbacks
    def exists(self, sha1):
        response = yield self._request("HEAD", sha1)
        yield treq.content(response)
        return response.code == 200

