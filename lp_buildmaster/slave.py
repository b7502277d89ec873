"""The builder client: drives one launchpad-buildd ("slave") over XML-RPC and
fetches its files over HTTP.

Everything a builder sends is untrusted. Replies are size-capped while they
arrive, status replies of both shapes (the daemon's dicts, the seed's tuples)
become one validated L{SlaveStatus} here, and file names are checked before
anything touches the disk. Nothing past this module knows which shape arrived
or which Twisted exception a failure started as: callers see L{SlaveError}s.
"""

import contextlib
import hashlib
import os
import re
import tempfile
import xmlrpc.client as xmlrpclib
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Mapping, Optional
from urllib.parse import quote

import treq
from treq.client import HTTPClient
from twisted.internet import defer, error
from twisted.internet.interfaces import IReactorTCP
from twisted.python.failure import Failure
from twisted.web import xmlrpc
from twisted.web._newclient import ParseError
from twisted.web.client import (
    Agent, HTTPConnectionPool, RequestTransmissionFailed, ResponseFailed,
    ResponseNeverReceived, _HTTP11ClientFactory)
from zope.interface import implementer

from lp_buildmaster.interfaces import ISlave
from lp_buildmaster.model.names import filenameProblem
from lp_buildmaster.replies import ReplyParser, UnsafeReply
from lp_buildmaster.text import (
    LOGTAIL_LIMIT, NOTES_LIMIT, notes, printable, tail)

__all__ = [
    "BuilderSlave", "SlaveStatus", "normaliseStatus", "validateFilename",
    "makePool", "SlaveError", "SlaveTimeout", "SlaveConnectionError",
    "SlaveProtocolError", "SlaveHTTPError", "SlaveFault", "SlaveReplyTooLarge",
    "SlaveFileTooLarge", "SlaveUnsafeReply", "SlaveChecksumMismatch",
    "SlaveTooSlow", "SlaveDownloadCancelled", "UnsafeFilename",
    "InvalidBuildRequest", "BUILDER_STATUSES", "BUILD_STATUSES",
]


# --- errors -----------------------------------------------------------------

class SlaveError(Exception):
    """Something went wrong talking to a builder.

    @ivar builder: the builder's name; the message always starts with it.
    @ivar transient: True when retrying later may well succeed (a timeout,
        a dropped connection), False when the builder itself is at fault.
    """

    transient = False

    def __init__(self, builder, message):
        Exception.__init__(self, "Builder %r: %s" % (builder, message))
        self.builder = builder
        #: The message without the builder's name, for lines that name it.
        self.reason = message


class SlaveTimeout(SlaveError):
    """The builder did not answer in time; the connection was closed."""

    transient = True


class SlaveTooSlow(SlaveError):
    """A download fell behind the minimum rate: its overall deadline (the
    call timeout plus the file's size at the minimum rate) passed. The
    builder is at fault: it held a farm-wide download slot."""


class SlaveDownloadCancelled(SlaveError):
    """A download was cancelled because its builder was disabled, removed
    or failed; its slot is free again."""

    transient = True


class SlaveConnectionError(SlaveError):
    """The connection was refused, reset or closed before a reply."""

    transient = True


class SlaveProtocolError(SlaveError):
    """The builder sent something that is not a valid reply."""


class SlaveReplyTooLarge(SlaveProtocolError):
    """An XML-RPC reply grew past C{max_reply_size}; it was dropped unread."""


class SlaveUnsafeReply(SlaveProtocolError):
    """An XML-RPC reply declaring a DTD or entities, or nested too deep or
    holding too many elements (L{lp_buildmaster.replies})."""


class SlaveFileTooLarge(SlaveProtocolError):
    """A file grew past its size limit; nothing was kept."""


class SlaveChecksumMismatch(SlaveProtocolError):
    """A fetched file's sha1 is not the one asked for; nothing was kept."""


class UnsafeFilename(SlaveProtocolError):
    """A file name that could resolve outside its target directory."""


class SlaveHTTPError(SlaveError):
    """The builder answered with an HTTP status other than 200.

    @ivar code: the HTTP status as an int.
    """

    def __init__(self, builder, code, message=""):
        SlaveError.__init__(
            self, builder, ("HTTP %s %s" % (code, message)).rstrip())
        self.code = code
        # Gateway-style errors come and go; anything else is the builder's.
        self.transient = code in (502, 503, 504)


class SlaveFault(SlaveError):
    """The daemon raised: an XML-RPC Fault (8002 is any exception inside it,
    8001 an unknown method)."""

    def __init__(self, builder, faultCode, faultString):
        faultString = notes(faultString)
        SlaveError.__init__(
            self, builder, "Fault %s: %s" % (_short(faultCode), faultString))
        self.faultCode = faultCode
        self.faultString = faultString


class InvalidBuildRequest(SlaveError, ValueError):
    """A build() request the daemon would refuse or wedge on; not sent."""


# --- status replies ---------------------------------------------------------

BUILDER_STATUSES = frozenset("BuilderStatus." + s for s in (
    "IDLE", "BUILDING", "WAITING", "ABORTING", "ABORTED"))
BUILD_STATUSES = frozenset("BuildStatus." + s for s in (
    "OK", "PACKAGEFAIL", "DEPFAIL", "CHROOTFAIL", "GIVENBACK", "BUILDERFAIL",
    "ABORTED"))

_SHA1 = re.compile(r"[0-9a-fA-F]{40}")

#: Real cookies are "<Build.id>-<BuildQueue.id>".
MAX_COOKIE = 200

#: A DEPFAIL build's dependencies, stored on the build.
MAX_DEPENDENCIES = 4 * NOTES_LIMIT

#: The seed's tuple replies: fields after the status, required then optional.
_LEGACY_FIELDS = {
    "BuilderStatus.IDLE": ((), ()),
    "BuilderStatus.BUILDING": (("cookie",), ("logtail",)),
    "BuilderStatus.WAITING": (
        ("build_status", "cookie"), ("filemap", "dependencies")),
    "BuilderStatus.ABORTED": (("cookie",), ()),
    "BuilderStatus.ABORTING": (("cookie",), ()),
}


@dataclass(frozen=True)
class SlaveStatus:
    """What a builder said about itself, whichever shape it said it in.

    @ivar builder_status: one of L{BUILDER_STATUSES}.
    @ivar build_status: one of L{BUILD_STATUSES} when WAITING, else None.
    @ivar cookie: the build cookie C{"<Build.id>-<BuildQueue.id>"}; None
        only when IDLE.
    @ivar logtail: decoded log tail text without NULs, or None.
    @ivar filemap: read-only C{{filename: sha1}}, or None when absent.
    @ivar dependencies: what a DEPFAIL build waits for, or None.
    @ivar builder_version: the daemon's version, or None.
    """

    builder_status: str
    build_status: Optional[str] = None
    cookie: Optional[str] = None
    logtail: Optional[str] = None
    filemap: Optional[Mapping[str, str]] = None
    dependencies: Optional[str] = None
    builder_version: Optional[str] = None


def normaliseStatus(reply, builder=None):
    """Turn a C{status()} reply of either shape into a L{SlaveStatus}.

    @param reply: the daemon's dict, or a legacy tuple/list (PROTOCOL.md).
    @param builder: the builder's name, for error messages.
    @raise SlaveProtocolError: on anything that is not a valid reply.
    """
    if isinstance(reply, dict):
        fields = dict(
            builder_status=reply.get("builder_status"),
            build_status=reply.get("build_status"),
            cookie=reply.get("build_id"),
            logtail=reply.get("logtail"),
            filemap=reply.get("filemap"),
            dependencies=reply.get("dependencies"),
            builder_version=reply.get("builder_version"))
    elif isinstance(reply, (tuple, list)):
        fields = _legacyFields(reply, builder)
    else:
        raise SlaveProtocolError(
            builder, "status reply is a %s" % type(reply).__name__)

    status = fields["builder_status"]
    if not isinstance(status, str) or status not in BUILDER_STATUSES:
        raise SlaveProtocolError(
            builder, "unknown builder status %s" % _short(status))
    build_status = fields["build_status"]
    if build_status is not None or status == "BuilderStatus.WAITING":
        if (not isinstance(build_status, str)
                or build_status not in BUILD_STATUSES):
            raise SlaveProtocolError(
                builder, "unknown build status %s" % _short(build_status))
    cookie = _text(builder, "cookie", fields["cookie"])
    if status != "BuilderStatus.IDLE" and not cookie:
        raise SlaveProtocolError(builder, "%s without a cookie" % status)
    if cookie is not None and (len(cookie) > MAX_COOKIE
                               or printable(cookie, newlines=False) != cookie):
        raise SlaveProtocolError(builder, "bad cookie %s" % _short(cookie))
    dependencies = _text(builder, "dependencies", fields["dependencies"])
    version = _text(builder, "builder_version", fields["builder_version"])
    return SlaveStatus(
        builder_status=status,
        build_status=build_status,
        cookie=cookie,
        logtail=_decodeLogtail(builder, fields["logtail"]),
        filemap=_filemap(builder, fields["filemap"]),
        dependencies=notes(dependencies, MAX_DEPENDENCIES),
        builder_version=notes(version, 80))


def _legacyFields(reply, builder):
    status = reply[0] if reply else None
    if not isinstance(status, str) or status not in _LEGACY_FIELDS:
        raise SlaveProtocolError(
            builder, "unknown builder status %s" % _short(status))
    required, optional = _LEGACY_FIELDS[status]
    if not len(required) < len(reply) <= 1 + len(required) + len(optional):
        raise SlaveProtocolError(
            builder, "%s reply has %d fields" % (status, len(reply)))
    fields = dict.fromkeys(
        ["build_status", "cookie", "logtail", "filemap", "dependencies",
         "builder_version"])
    fields.update(zip(required + optional, reply[1:]))
    fields["builder_status"] = status
    return fields


def _short(value):
    """A bounded repr, so a hostile reply cannot bloat our logs."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _text(builder, what, value):
    """Validate an optional text field: a str PostgreSQL can store."""
    if value is None:
        return None
    if not isinstance(value, str) or "\0" in value:
        raise SlaveProtocolError(builder, "bad %s %s" % (what, _short(value)))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise SlaveProtocolError(builder, "bad %s %s" % (what, _short(value)))
    return value


def _decodeLogtail(builder, value):
    """Log tails are raw bytes cut anywhere, so decode leniently and drop
    the NULs PostgreSQL text cannot hold."""
    if value is None:
        return None
    if isinstance(value, xmlrpclib.Binary):
        value = value.data
    if not isinstance(value, (bytes, bytearray, str)):
        raise SlaveProtocolError(builder, "bad logtail %s" % _short(value))
    # The daemon sends its log's last 2 KiB; keep no more than that from
    # anyone, without the characters that would act on a terminal.
    return tail(value, LOGTAIL_LIMIT)


def _filemap(builder, value):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SlaveProtocolError(builder, "bad filemap %s" % _short(value))
    for name, sha1 in value.items():
        validateFilename(name, builder)
        if not isinstance(sha1, str) or not _SHA1.fullmatch(sha1):
            raise SlaveProtocolError(
                builder, "bad sha1 %s for %r" % (_short(sha1), name))
    return MappingProxyType(
        {name: sha1.lower() for name, sha1 in value.items()})


def validateFilename(name, builder=None):
    """Refuse a file name that is not a single plain path component
    (L{lp_buildmaster.model.names.filenameProblem}: the same check as
    upload processing's).

    @raise UnsafeFilename: naming the problem.
    """
    problem = filenameProblem(name)
    if problem:
        raise UnsafeFilename(
            builder, "unsafe file name %s: %s" % (_short(name), problem))
    return name


def _checkSha1(builder, sha1):
    if not isinstance(sha1, str) or not _SHA1.fullmatch(sha1):
        raise SlaveProtocolError(builder, "bad sha1 %s" % _short(sha1))
    return sha1.lower()


_BINARYPACKAGE_ARGS = ("series", "distribution", "suite", "ogrecomponent")


def _buildRequestProblem(cookie, build_type, chroot_sha1, filemap, args):
    """Why the daemon would refuse or wedge on this build(), or None."""
    if not isinstance(cookie, str) or not cookie:
        return "cookie must be a non-empty string, not %r" % (cookie,)
    if not isinstance(build_type, str) or not build_type:
        return "bad build type %r" % (build_type,)
    if not isinstance(chroot_sha1, str) or not _SHA1.fullmatch(chroot_sha1):
        return "bad chroot sha1 %r" % (chroot_sha1,)
    if not isinstance(filemap, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and _SHA1.fullmatch(v)
            for k, v in filemap.items()):
        return "filemap must map file names to sha1s"
    if not isinstance(args, Mapping):
        return "args must be a dict"
    if build_type == "binarypackage":
        if not any(name.endswith(".dsc") for name in filemap):
            return "binarypackage build without a .dsc in its filemap"
        missing = [a for a in _BINARYPACKAGE_ARGS if a not in args]
        if missing:
            return "binarypackage build without args %s" % ", ".join(missing)
    return None


# --- XML-RPC ----------------------------------------------------------------

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


class _SlaveQueryFactory(xmlrpc.QueryFactory):
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
        if isinstance(e, xmlrpclib.Fault):
            self._fail(SlaveFault(self.builder, e.faultCode, e.faultString))
        elif isinstance(e, UnsafeReply):
            self._fail(SlaveUnsafeReply(
                self.builder, "unsafe reply (refused after %d bytes): %s"
                % (size, e)))
        else:
            self._fail(SlaveProtocolError(
                self.builder, "unparseable reply: %s" % _short(e)))


# --- file downloads ---------------------------------------------------------

#: Bytes a second a download from a builder must keep up, by default.
DOWNLOAD_MIN_RATE = 64 * 1024

#: Bounds concurrent downloads overall when a pool does not carry its own.
_defaultDownloadSlots = defer.DeferredSemaphore(16)


class _QuietClientFactory(_HTTP11ClientFactory):
    noisy = False


def quietPool(pool):
    """A pool whose connections do not log their factories."""
    pool._factory = _QuietClientFactory
    return pool


def makePool(reactor, maxPersistentPerHost=2, maxDownloads=16):
    """A keep-alive connection pool shared by all builders' downloads.

    @param maxDownloads: how many downloads may run at once over all the
        builders sharing this pool (attached as C{pool.downloadSlots}).
    @return: an L{HTTPConnectionPool}; close it with
        C{closeCachedConnections()} when done.
    """
    pool = quietPool(HTTPConnectionPool(reactor, persistent=True))
    pool.maxPersistentPerHost = maxPersistentPerHost
    pool.downloadSlots = defer.DeferredSemaphore(maxDownloads)
    return pool


class _WatchedBody:
    """A response as C{treq.collect} sees it, plus two timers that drop
    the connection: an idle timer, when the builder stops sending, and an
    overall deadline, when it sends too slowly (C{idle} seconds plus the
    size, or while the size is unknown the bytes received so far, at
    C{minRate} bytes a second). treq.collect's Deferred cannot itself be
    cancelled."""

    def __init__(self, response, clock=None, idle=None, minRate=None):
        self._response = response
        self.length = response.length
        self._protocol = None
        self._clock = clock
        self._idle = idle
        self._minRate = minRate
        self.timedOut = None
        self.received = 0
        self._timer = self._deadline = None
        if clock is not None:
            self._timer = clock.callLater(idle, self._expire, "stalled")
            self._started = clock.seconds()
            if minRate:
                self._deadline = clock.callLater(
                    self._allowance(), self._expire, "too slow")

    def _allowance(self):
        """Seconds left before the overall deadline."""
        size = self.length if isinstance(self.length, int) else self.received
        return max(0.0, self._started + self._idle + size / self._minRate
                   - self._clock.seconds())

    def deliverBody(self, protocol):
        self._protocol = protocol
        self._response.deliverBody(protocol)

    def collect(self, collector):
        """C{treq.collect} into C{collector}, but cancelling the returned
        Deferred drops the connection instead of reading on."""
        d = defer.Deferred(lambda _: self.abort())

        def relay(result):
            if not d.called:  # a cancelled d has had its answer
                (d.errback if isinstance(result, Failure) else d.callback)(
                    result)

        treq.collect(self, collector).addBoth(relay)
        return d

    def touch(self, size=0):
        self.received += size
        if self._timer is not None and self._timer.active():
            self._timer.reset(self._idle)
        if (self._deadline is not None and self._deadline.active()
                and not isinstance(self.length, int)):
            self._deadline.reset(self._allowance())

    def abort(self):
        if self._protocol is not None and self._protocol.transport:
            self._protocol.transport.loseConnection()

    def _expire(self, why):
        if self.timedOut is None:
            self.timedOut = why
        self.abort()

    def stop(self):
        for timer in (self._timer, self._deadline):
            if timer is not None and timer.active():
                timer.cancel()


def _unwrapCancel(failure):
    """Agent reports its own cancellation as ResponseNeverReceived or, while
    connecting, ConnectingCancelledError; say it plainly, so that addTimeout
    tells a timeout from a lost connection."""
    if failure.check(error.ConnectingCancelledError):
        raise defer.CancelledError()
    if failure.check(ResponseFailed, ResponseNeverReceived) and any(
            r.check(defer.CancelledError) for r in failure.value.reasons):
        raise defer.CancelledError()
    return failure


def _discard(response):
    """Drop a response's body unread; its connection is not reused."""
    body = _WatchedBody(response)
    body.collect(lambda chunk: None).addErrback(lambda f: None)
    body.abort()


# --- the client -------------------------------------------------------------

@implementer(ISlave)
class BuilderSlave:
    """The master's end of one builder daemon.

    @ivar name: the builder's name, in every error message.
    @ivar url: the base URL, always ending in C{/}.
    """

    def __init__(self, name, url, reactor=None, pool=None, timeout=30.0,
                 ensurepresent_timeout=1800.0, max_reply_size=16 * 1024 ** 2,
                 max_file_size=64 * 1024 ** 3, clock=None, max_downloads=2,
                 download_min_rate=DOWNLOAD_MIN_RATE):
        """
        @param reactor: makes the connections (default: the global reactor).
            A bare L{twisted.internet.task.Clock} is taken as C{clock}.
        @param pool: a shared L{HTTPConnectionPool} from L{makePool}; without
            one each download uses its own short-lived connection.
        @param timeout: seconds any call, and any silence in a download, may
            last; C{ensurepresent} gets C{ensurepresent_timeout} since the
            daemon downloads before it answers.
        @param clock: times the timeouts (default: C{reactor}).
        @param max_downloads: concurrent downloads from this builder.
        @param download_min_rate: bytes a second a download must keep up:
            it fails with L{SlaveTooSlow} once it takes longer than
            C{timeout} plus its size at this rate.
        """
        if reactor is not None and not IReactorTCP.providedBy(reactor):
            clock, reactor = reactor, None
        if reactor is None:
            from twisted.internet import reactor
        self.name = name
        self.url = url if url.endswith("/") else url + "/"
        self.timeout = timeout
        self.ensurepresent_timeout = ensurepresent_timeout
        self.max_reply_size = max_reply_size
        self.max_file_size = max_file_size
        self.download_min_rate = download_min_rate
        self._downloads = set()
        self._cancelling = None
        self._clock = clock if clock is not None else reactor
        self._proxy = xmlrpc.Proxy(
            (self.url + "rpc").encode("ascii"), allowNone=True,
            connectTimeout=timeout, reactor=reactor)
        self._proxy.queryFactory = partial(
            _SlaveQueryFactory, name, max_reply_size)
        if pool is None:
            pool = quietPool(HTTPConnectionPool(reactor, persistent=False))
        self._http = HTTPClient(
            Agent(reactor, pool=pool, connectTimeout=timeout))
        self._allSlots = getattr(pool, "downloadSlots", _defaultDownloadSlots)
        self._slots = defer.DeferredSemaphore(max_downloads)

    def __repr__(self):
        return "<BuilderSlave %r at %s>" % (self.name, self.url)

    def _call(self, method, *args, timeout=None):
        d = self._proxy.callRemote(method, *args)
        d.addTimeout(self.timeout if timeout is None else timeout, self._clock)
        d.addErrback(self._translate, method)
        return d

    def _translate(self, failure, what):
        """Map a Twisted failure to the L{SlaveError} it means."""
        if failure.check(SlaveError, defer.CancelledError):
            return failure
        if failure.check(defer.TimeoutError, error.TimeoutError):
            raise SlaveTimeout(self.name, "%s timed out" % what)
        if failure.check(error.ConnectError, error.ConnectionClosed):
            raise SlaveConnectionError(
                self.name, "%s: %s" % (what, failure.getErrorMessage()))
        if failure.check(ResponseFailed, ResponseNeverReceived,
                         RequestTransmissionFailed):
            # Garbage is the builder's fault; a dropped or cut-short
            # connection (ConnectionLost, _DataLoss) may not be.
            reasons = failure.value.reasons
            if any(r.check(ParseError) for r in reasons):
                raise SlaveProtocolError(self.name, "%s: %s" % (
                    what, ", ".join(_short(r.value) for r in reasons)))
            raise SlaveConnectionError(self.name, "%s: connection lost" % what)
        return failure

    def _reply(self, reply, what, check):
        if not check(reply):
            raise SlaveProtocolError(
                self.name, "unexpected %s reply %s" % (what, _short(reply)))
        return reply

    def echo(self, *args):
        """The args back, tuples as lists."""
        return self._call("echo", *args)

    def info(self):
        """C{[protocol_version, arch_tag, [build types]]}."""
        return self._call("info").addCallback(self._reply, "info", lambda r: (
            isinstance(r, list) and len(r) == 3 and isinstance(r[0], str)
            and isinstance(r[1], str) and isinstance(r[2], list)))

    def status(self):
        """Fires with a L{SlaveStatus}."""
        return self._call("status").addCallback(normaliseStatus, self.name)

    def ensurepresent(self, sha1, url, username=None, password=None):
        """Ask the builder to fetch C{url} into its cache under C{sha1}.

        @return: a Deferred firing with C{(ok, info)}, e.g. C{(True, 'Cache')}.
        """
        d = self._call("ensurepresent", sha1, url, username, password,
                       timeout=self.ensurepresent_timeout)
        d.addCallback(self._reply, "ensurepresent", lambda r: (
            isinstance(r, list) and len(r) == 2 and isinstance(r[0], bool)
            and isinstance(r[1], (str, type(None)))))
        return d.addCallback(lambda r: (r[0], notes(r[1])))

    def build(self, cookie, build_type, chroot_sha1, filemap, args):
        """Start a build on an IDLE builder (never on a busy one: a refused
        build() overwrites its cookie).

        @return: a Deferred firing with C{(builder_status, info)}, e.g.
            C{('BuilderStatus.BUILDING', cookie)}; failing with
            L{InvalidBuildRequest}, unsent, when the daemon would refuse it.
        """
        problem = _buildRequestProblem(
            cookie, build_type, chroot_sha1, filemap, args)
        if problem:
            return defer.fail(InvalidBuildRequest(self.name, problem))
        d = self._call("build", cookie, build_type, chroot_sha1, dict(filemap),
                       dict(args))
        d.addCallback(self._reply, "build", lambda r: (
            isinstance(r, list) and len(r) == 2 and isinstance(r[0], str)
            and isinstance(r[1], str)))
        return d.addCallback(lambda r: (notes(r[0], 80), notes(r[1])))

    def abort(self):
        """Abort the running build: fires with C{'BuilderStatus.ABORTING'}."""
        return self._call("abort").addCallback(
            self._reply, "abort", lambda r: isinstance(r, str))

    def clean(self):
        """Clean a WAITING builder: fires with C{'BuilderStatus.IDLE'}."""
        return self._call("clean").addCallback(
            self._reply, "clean", lambda r: isinstance(r, str))

    def getFile(self, name, sink, max_size=None):
        """Stream C{/filecache/<name>} into C{sink.write}.

        @param name: a sha1, or C{'buildlog'}.
        @param max_size: bytes allowed (default and ceiling: max_file_size).
        @return: a Deferred firing with the number of bytes written.
        """
        try:
            validateFilename(name, self.name)
        except SlaveError:
            return defer.fail()
        return self._download(name, sink.write, self._limit(max_size))

    def fetchFile(self, sha1, destdir, filename, max_size=None):
        """Fetch a file into C{destdir/filename} via a temporary file in
        C{destdir}, verify its sha1 and rename it into place. On any failure
        nothing is left behind.

        @return: a Deferred firing with the final path.
        """
        try:
            validateFilename(filename, self.name)
            sha1 = _checkSha1(self.name, sha1)
        except SlaveError:
            return defer.fail()
        return self._fetchFile(sha1, destdir, filename, self._limit(max_size))

    def _limit(self, max_size):
        if max_size is None:
            return self.max_file_size
        return min(max_size, self.max_file_size)

    @defer.inlineCallbacks
    def _fetchFile(self, sha1, destdir, filename, limit):
        fd, temp = tempfile.mkstemp(
            dir=destdir, prefix=".%s." % filename[:64], suffix=".part")
        done = False
        try:
            digest = hashlib.sha1()
            with os.fdopen(fd, "wb") as f:
                # Plain file writes on the reactor thread: each is one
                # network read (at most 64 KiB), so none blocks for long.
                def write(chunk):
                    digest.update(chunk)
                    f.write(chunk)
                yield self._download(sha1, write, limit)
            if digest.hexdigest() != sha1:
                raise SlaveChecksumMismatch(self.name, "%s has sha1 %s" % (
                    filename, digest.hexdigest()) + ", expected %s" % sha1)
            # Only a complete, verified file ever appears under its name.
            os.rename(temp, os.path.join(destdir, filename))
            done = True
        finally:
            if not done:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
        return os.path.join(destdir, filename)

    def _download(self, name, write, limit):
        # Take this builder's slot first, so its queued downloads do not sit
        # on the farm-wide slots other builders could use.
        d = self._slots.run(
            self._allSlots.run, self._stream, name, write, limit)
        self._downloads.add(d)

        def done(result):
            self._downloads.discard(d)
            # Whatever a cancelled download fails with (CancelledError, or
            # a connection attempt's own error), it was cancelled.
            if isinstance(result, Failure) and self._cancelling:
                raise SlaveDownloadCancelled(
                    self.name, "GET /filecache/%s cancelled: %s" % (
                        name, self._cancelling))
            return result
        return d.addBoth(done)

    def cancelDownloads(self, why="builder disabled"):
        """Cancel every download from this builder, running or waiting for
        a slot: their slots are free at once, and each fails with
        L{SlaveDownloadCancelled}. Later downloads are not affected.

        @return: how many were cancelled.
        """
        downloads = list(self._downloads)
        self._cancelling = why
        try:
            for d in downloads:
                d.cancel()
        finally:
            self._cancelling = None
        return len(downloads)

    @defer.inlineCallbacks
    def _stream(self, name, write, limit):
        url = self.url + "filecache/" + quote(name)
        what = "GET /filecache/%s" % name
        d = self._http.get(url, unbuffered=True)
        d.addErrback(_unwrapCancel)
        d.addTimeout(self.timeout, self._clock)
        d.addErrback(self._translate, what)
        response = yield d
        if response.code != 200:
            _discard(response)
            raise SlaveHTTPError(self.name, response.code, what)
        if isinstance(response.length, int) and response.length > limit:
            _discard(response)
            raise SlaveFileTooLarge(self.name, "%s is %d bytes, over %d" % (
                what, response.length, limit))
        body = _WatchedBody(response, self._clock, self.timeout,
                            self.download_min_rate)
        started = self._clock.seconds()

        def collect(chunk):
            if body.received + len(chunk) > limit:
                raise SlaveFileTooLarge(
                    self.name, "%s passed %d bytes" % (what, limit))
            body.touch(len(chunk))
            write(chunk)

        d = body.collect(collect)
        d.addErrback(self._translate, what)
        try:
            yield d
        except SlaveConnectionError:
            if not body.timedOut:
                raise
        finally:
            body.stop()
        # A stalled body without Content-Length ends "successfully" when we
        # drop it, so the timer, not the outcome, says it was cut short.
        if body.timedOut == "too slow":
            raise SlaveTooSlow(self.name, (
                "%s too slow: %d of %s bytes in %.0f s, under the minimum"
                " of %d bytes/s") % (
                    what, body.received,
                    body.length if isinstance(body.length, int) else "?",
                    self._clock.seconds() - started, self.download_min_rate))
        if body.timedOut:
            raise SlaveTimeout(self.name, "%s stalled" % what)
        return body.received
