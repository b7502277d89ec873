"""XML-RPC calls to a builder: a POST over HTTP/1.1 through an
L{twisted.web.client.Agent}, normally on a connection kept alive from the
builder's previous call (L{lp_buildmaster.slave.pool}).

The reply is counted and parsed (L{lp_buildmaster.slave.replies}) as it
arrives, never held whole: past C{maxReplySize} bytes, or at the first
thing the safe parser refuses, the call fails and its connection is
dropped. So is the connection of a reply that is not 200, that declares
too large a length, whose body does not end when its XML-RPC document does
or whose complete body is no valid reply, and of a call cancelled (timed
out): a connection goes back to the pool only after a well-formed exchange,
and a builder's connections are its own, so nothing one builder sends can
reach another call.
"""

import xmlrpc.client as xmlrpclib

from twisted.internet import defer, protocol
from twisted.python.failure import Failure
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from lp_buildmaster.slave.errors import (
    SlaveFault, SlaveHTTPError, SlaveReplyTooLarge)
from lp_buildmaster.slave.pool import StaleConnection, unwrapCancel
from lp_buildmaster.slave.replies import ReplyParser, refusal

__all__ = ["callRemote", "READ_ONLY"]

#: Calls that change nothing on the builder: one sent on a kept-alive
#: connection that the builder had just closed (no answer at all) is sent
#: again, once.
READ_ONLY = frozenset(["status", "echo", "info"])

_HEADERS = Headers({b"Content-Type": [b"text/xml"],
                    b"User-Agent": [b"lp-buildmaster"]})


def callRemote(agent, url, builder, method, args, maxReplySize):
    """Call C{method(*args)} on the builder's XML-RPC endpoint C{url}.

    @param agent: an Agent over the builder's L{BuilderPool}.
    @return: a Deferred firing with the reply's value, or failing with a
        L{SlaveError} for what the builder sent, or with Twisted's failure
        for a connection that failed (the client translates those);
        cancelling it drops the connection.
    """
    body = xmlrpclib.dumps(tuple(args), method, allow_none=True)
    body = body.encode("utf-8")

    def send():
        d = agent.request(b"POST", url, _HEADERS, _BytesProducer(body))
        d.addErrback(unwrapCancel)
        return d

    d = send()
    if method in READ_ONLY:
        d.addErrback(_retryUnanswered, send)
    return d.addCallback(_readReply, builder, maxReplySize)


def _retryUnanswered(failure, send):
    failure.trap(StaleConnection)
    return send()


def _readReply(response, builder, maxReplySize):
    if response.code != 200:
        # No point reading an error page of unbounded size.
        _drop(response)
        raise SlaveHTTPError(builder, response.code,
                             response.phrase.decode("latin-1")[:80])
    if isinstance(response.length, int) and response.length > maxReplySize:
        _drop(response)
        raise SlaveReplyTooLarge(builder, (
            "Content-Length %d, over the %d byte cap" % (
                response.length, maxReplySize)))
    reader = _ReplyReader(builder, maxReplySize, response.length)
    response.deliverBody(reader)
    return reader.deferred


@implementer(IBodyProducer)
class _BytesProducer:
    """A request body already in memory, written at once."""

    def __init__(self, body):
        self.body = body
        self.length = len(body)

    def startProducing(self, consumer):
        consumer.write(self.body)
        return defer.succeed(None)

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        pass


class _Dropper(protocol.Protocol):
    def connectionMade(self):
        self.transport.loseConnection()


def _drop(response):
    """Close a response's connection without reading its body."""
    response.deliverBody(_Dropper())


class _ReplyReader(protocol.Protocol):
    """Receives one reply body: counts it against the cap and feeds the
    safe parser as it arrives. Its Deferred fires once the response has
    ended (so the connection is back in the pool before the caller's next
    call), and at once when the reply is refused.
    """

    def __init__(self, builder, maxReplySize, length):
        self.builder = builder
        self.maxReplySize = maxReplySize
        self.length = length if isinstance(length, int) else None
        self.received = 0
        self.deferred = defer.Deferred(self._cancel)
        self._parser = ReplyParser()
        self._outcome = None

    def dataReceived(self, data):
        if self.deferred.called or self._outcome is not None:
            if data.strip():
                self._drop()  # more body than its length said
            return
        self.received += len(data)
        if self.received > self.maxReplySize:
            self._refuse(SlaveReplyTooLarge(
                self.builder, "reply passed %d bytes, over the %d byte cap"
                % (self.received, self.maxReplySize)))
            return
        try:
            self._parser.feed(data)
        except Exception as e:
            self._refuse(self._refusal(e))
            return
        if self.received == self.length:
            # The last body bytes: judge the reply while its connection can
            # still be dropped, before it goes back to the pool.
            self._close()
            if (isinstance(self._outcome, Failure)
                    and not self._outcome.check(SlaveFault)):
                self._drop()

    def connectionLost(self, reason):
        if self.deferred.called:
            return
        if self._outcome is None:
            # No length given, or the builder hung up early: what arrived
            # parses as a complete reply, or says why not.
            self._close()
        outcome, self._outcome = self._outcome, None
        if isinstance(outcome, Failure):
            self.deferred.errback(outcome)
        else:
            self.deferred.callback(outcome.value)

    def _close(self):
        try:
            self._outcome = _Value(self._parser.close())
        except Exception as e:
            self._outcome = Failure(self._refusal(e))

    def _refuse(self, exc):
        self._drop()
        self.deferred.errback(exc)

    def _drop(self):
        if self.transport is not None:
            self.transport.loseConnection()

    def _cancel(self, d):
        self._drop()

    def _refusal(self, e):
        """What a reply that did not parse means."""
        return refusal(self.builder, e, self.received)


class _Value:
    """A parsed reply's value (which may itself be None or a Failure-like
    object), boxed so that it cannot be mistaken for the lack of one."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value
