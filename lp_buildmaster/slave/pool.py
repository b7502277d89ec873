"""HTTP connections to builders: the keep-alive pool that XML-RPC calls and
downloads share, with what a hostile builder may make a connection hold
bounded.

Twisted's HTTP client bounds each header line (16 KiB) but neither the
number of headers nor the continuation lines of one header, so a builder
sending headers for ever would grow the master's memory until its call
timed out. Connections made here give up, as a malformed reply, once the
status line and headers of one response pass L{MAX_HEADER_BYTES}.

Each builder's XML-RPC connections are pooled under a key of its own
(L{BuilderPool}): builders that share a host and port (several simulated
builders on one port) never share a connection, so whatever one of them
leaves on a kept-alive connection can reach nobody else's calls.
"""

from twisted.internet import defer, error
from twisted.internet.abstract import isIPAddress
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.python.failure import Failure
from twisted.web._newclient import (
    HEADER, STATUS, HTTP11ClientProtocol, ParseError)
from twisted.web.client import (
    Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool, RequestNotSent,
    RequestTransmissionFailed, ResponseFailed, ResponseNeverReceived,
    _HTTP11ClientFactory, _StandardEndpointFactory)
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

__all__ = ["MAX_HEADER_BYTES", "BuilderPool", "StaleConnection",
           "builderAgent", "quietPool", "makePool", "unwrapCancel"]

#: Bytes a response's status line and headers may take. launchpad-buildd
#: sends about 200.
MAX_HEADER_BYTES = 64 * 1024


class StaleConnection(ResponseNeverReceived):
    """A request on a kept-alive connection got no answer at all: most
    likely the builder had closed the connection as it was sent."""


class _BoundedClientProtocol(HTTP11ClientProtocol):
    """An HTTP/1.1 client connection that counts each response's head, and
    says when a request on it failed after an earlier one had succeeded."""

    _headBytes = 0
    _requests = 0

    def request(self, request):
        self._headBytes = 0
        self._requests += 1
        d = HTTP11ClientProtocol.request(self, request)
        if self._requests > 1:
            d.addErrback(self._unanswered)
        return d

    def _unanswered(self, failure):
        if failure.check(RequestNotSent):
            raise StaleConnection([failure])
        if failure.check(ResponseNeverReceived, RequestTransmissionFailed):
            raise StaleConnection(failure.value.reasons)
        return failure

    def dataReceived(self, data):
        parser = self._parser
        inHead = parser is not None and parser.state in (STATUS, HEADER)
        HTTP11ClientProtocol.dataReceived(self, data)
        # Counted only while the head is still arriving after this read, so
        # a read that ends the head and starts a large body is no problem.
        if inHead and self._parser is parser and parser.state in (
                STATUS, HEADER):
            self._headBytes += len(data)
            if self._headBytes > MAX_HEADER_BYTES:
                self._giveUp(Failure(ParseError(
                    "response head passed %d bytes" % MAX_HEADER_BYTES,
                    data[:40])))


class _QuietClientFactory(_HTTP11ClientFactory):
    # Thousands of connections a minute: no "Starting factory" line each.
    noisy = False

    def buildProtocol(self, addr):
        return _BoundedClientProtocol(self._quiescentCallback)


def quietPool(pool):
    """C{pool}, its connections bounded and not logging their factories."""
    pool._factory = _QuietClientFactory
    return pool


def makePool(reactor, maxPersistentPerHost=2, maxDownloads=16):
    """A keep-alive connection pool shared by all builders' calls and
    downloads.

    @param maxDownloads: how many downloads may run at once over all the
        builders sharing this pool (attached as C{pool.downloadSlots}).
    @return: an L{HTTPConnectionPool}; close it with
        C{closeCachedConnections()} when done.
    """
    pool = quietPool(HTTPConnectionPool(reactor, persistent=True))
    pool.maxPersistentPerHost = maxPersistentPerHost
    pool.downloadSlots = defer.DeferredSemaphore(maxDownloads)
    return pool


@implementer(IAgentEndpointFactory)
class _Endpoints:
    """Each host's endpoint made once: an Agent makes (and IDNA-checks) a
    new one for every request otherwise, even one going out on a pooled
    connection, which cost about as much as the rest of a kept-alive
    call."""

    def __init__(self, reactor, connectTimeout):
        self._reactor = reactor
        self._timeout = connectTimeout
        self._factory = _StandardEndpointFactory(
            reactor, BrowserLikePolicyForHTTPS(), connectTimeout, None)
        self._endpoints = {}

    def endpointForURI(self, uri):
        key = (uri.scheme, uri.host, uri.port)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoints[key] = self._make(uri)
        return endpoint

    def _make(self, uri):
        host = uri.host.decode("ascii", "replace")
        if uri.scheme == b"http" and isIPAddress(host):
            # No name to resolve: a plain TCP endpoint, without the
            # resolver round and connection race HostnameEndpoint runs.
            return TCP4ClientEndpoint(
                self._reactor, host, uri.port, timeout=self._timeout)
        return self._factory.endpointForURI(uri)


def builderAgent(reactor, pool, builderKey, connectTimeout):
    """An Agent for one builder's calls, its connections kept in C{pool}
    under C{builderKey} (L{BuilderPool})."""
    return Agent.usingEndpointFactory(
        reactor, _Endpoints(reactor, connectTimeout),
        pool=BuilderPool(pool, builderKey))


class BuilderPool:
    """One builder's view of a shared pool: what an L{twisted.web.client.
    Agent} needs of a pool, with the builder's connections kept under a key
    of their own."""

    def __init__(self, pool, builderKey):
        self._pool = pool
        self._builderKey = builderKey
        self.persistent = pool.persistent

    def getConnection(self, key, endpoint):
        return self._pool.getConnection((self._builderKey, key), endpoint)


def unwrapCancel(failure):
    """Agent reports its own cancellation as ResponseNeverReceived or, while
    connecting, ConnectingCancelledError; say it plainly, so that addTimeout
    tells a timeout from a lost connection."""
    if failure.check(error.ConnectingCancelledError):
        raise defer.CancelledError()
    if failure.check(ResponseFailed, ResponseNeverReceived) and any(
            r.check(defer.CancelledError) for r in failure.value.reasons):
        raise defer.CancelledError()
    return failure
