"""XML-RPC calls to a builder over C{twisted.web.xmlrpc.Proxy}, one
HTTP/1.0 connection per call (C{[slave] keepalive = false}, the default):
the reply is size-capped and parsed safely (L{lp_buildmaster.slave.replies})
while it arrives, and every failure becomes a L{SlaveError}. Its lean
HTTP/1.0 client, connection included, costs the master about what a call
kept alive through Twisted's Agent (L{lp_buildmaster.slave.rpc}) costs:
the README's Performance, (d).
"""

from twisted.web import xmlrpc

from lp_buildmaster.slave.errors import (
    SlaveHTTPError, SlaveProtocolError, SlaveReplyTooLarge, _short)
from lp_buildmaster.slave.replies import ReplyParser, refusal

__all__ = ["SlaveQueryFactory"]


class _CappedQueryProtocol(xmlrpc.QueryProtocol):
    """Counts reply bytes as they arrive and drops the connection once the
    cap is passed, so an oversized reply is never buffered whole; the body
    is parsed as it arrives (L{ReplyParser}), never held whole either, and
    parsing a large reply costs many short reactor turns, not one long
    one."""

    _received = 0
    _parser = None
    _refused = False
    _ended = False
    _bodyStarted = False

    def _replyParser(self):
        if self._parser is None:
            self._parser = ReplyParser(useDateTime=self.factory.useDateTime)
        return self._parser

    def handleResponsePart(self, data):
        if self._refused:
            return
        try:
            self._replyParser().feed(data)
        except Exception as e:
            self._refused = True
            self.factory.refuse(e, self._received)
            self.transport.abortConnection()

    def handleEndHeaders(self):
        self._bodyStarted = True
        xmlrpc.QueryProtocol.handleEndHeaders(self)

    def handleResponseEnd(self):
        # A connection lost before the headers ended is no reply at all:
        # leave it to connectionLost, which fails the call as a connection
        # error (transient), as Twisted's own QueryProtocol does.
        if self._ended or self._refused or not self._bodyStarted:
            return
        self._ended = True
        parser = self._replyParser()
        parser.received = self._received
        self.handleResponse(parser)

    def dataReceived(self, data):
        self._received += len(data)
        if self._received > self.factory.maxReplySize:
            self.factory.tooLarge("reply passed %d bytes" % self._received)
            self.transport.abortConnection()
            return
        try:
            xmlrpc.QueryProtocol.dataReceived(self, data)
        except Exception as e:
            # HTTPClient raises on a garbled status line or header.
            self.factory.garbled("bad HTTP: %s" % _short(e))
            self.transport.abortConnection()

    def handleHeader(self, key, value):
        if key.lower() == b"content-length" and value.strip().isdigit():
            if int(value) > self.factory.maxReplySize:
                self.factory.tooLarge("Content-Length %d" % int(value))
                self.transport.abortConnection()
        xmlrpc.QueryProtocol.handleHeader(self, key, value)

    def handleStatus(self, version, status, message):
        if not version.startswith(b"HTTP/") or not status.isdigit():
            self.factory.garbled("bad HTTP status line")
            self.transport.abortConnection()
        elif status != b"200":
            # No point reading an error page of unbounded size.
            self.factory.badStatus(status, message)
            self.transport.abortConnection()


class SlaveQueryFactory(xmlrpc.QueryFactory):
    """A query that fails with L{SlaveError}s and whose cancellation aborts
    the connection at once."""

    # Thousands of calls a minute: no "Starting factory" line for each.
    noisy = False

    protocol = _CappedQueryProtocol
    connection = None

    def __init__(self, builder, maxReplySize, path, host, method, user,
                 password, allowNone, args, canceller, useDateTime=False):
        self.builder = builder
        self.maxReplySize = maxReplySize

        def cancel(d):
            if self.connection is not None and self.connection.transport:
                self.connection.transport.abortConnection()
            canceller(d)

        xmlrpc.QueryFactory.__init__(
            self, path, host, method, user, password, allowNone, args,
            cancel, useDateTime)

    def buildProtocol(self, addr):
        self.connection = xmlrpc.QueryFactory.buildProtocol(self, addr)
        return self.connection

    def _fail(self, exc):
        if self.deferred is not None:
            d, self.deferred = self.deferred, None
            d.errback(exc)

    def garbled(self, why):
        self._fail(SlaveProtocolError(self.builder, why))

    def tooLarge(self, why):
        self._fail(SlaveReplyTooLarge(self.builder, "%s, over the %d byte cap"
                                      % (why, self.maxReplySize)))

    def badStatus(self, status, message):
        self._fail(SlaveHTTPError(
            self.builder, int(status), message.decode("latin-1")[:80]))

    def parseResponse(self, parser):
        """The whole reply has arrived (L{_CappedQueryProtocol} fed
        C{parser} as it did): fire with its value."""
        if self.deferred is None:
            return
        try:
            reply = parser.close()
        except Exception as e:
            self.refuse(e, getattr(parser, "received", 0))
        else:
            d, self.deferred = self.deferred, None
            d.callback(reply)

    def refuse(self, e, size):
        """The reply, C{size} bytes so far, did not parse: fail with what
        it means."""
        self._fail(refusal(self.builder, e, size))

