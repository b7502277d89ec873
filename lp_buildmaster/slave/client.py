"""L{BuilderSlave}: the master's end of one launchpad-buildd daemon, its
XML-RPC methods (replies checked for shape) and its file fetches
(verified, written via a temporary file, cancellable).
"""

import contextlib
import hashlib
import os
import tempfile
from functools import partial
from urllib.parse import quote

from treq.client import HTTPClient
from twisted.internet import defer, error
from twisted.internet.interfaces import IReactorTCP
from twisted.python.failure import Failure
from twisted.web import xmlrpc
from twisted.web._newclient import ParseError
from twisted.web.client import (
    Agent, HTTPConnectionPool, RequestNotSent, RequestTransmissionFailed,
    ResponseFailed, ResponseNeverReceived)
from zope.interface import implementer

from lp_buildmaster.clock import orReactor
from lp_buildmaster.interfaces import ISlave
from lp_buildmaster.slave.downloads import (
    DOWNLOAD_MIN_RATE, _WatchedBody, _defaultDownloadSlots, _discard)
from lp_buildmaster.slave.errors import (
    InvalidBuildRequest, SlaveChecksumMismatch, SlaveConnectionError,
    SlaveDownloadCancelled, SlaveError, SlaveFileTooLarge, SlaveHTTPError,
    SlaveProtocolError, SlaveTimeout, SlaveTooSlow, _short)
from lp_buildmaster.slave.pool import builderAgent, quietPool, unwrapCancel
from lp_buildmaster.slave.proxy import SlaveQueryFactory
from lp_buildmaster.slave.rpc import callRemote
from lp_buildmaster.slave.status import (
    _buildRequestProblem, _checkSha1, normaliseStatus, validateFilename)
from lp_buildmaster.text import notes

__all__ = ["BuilderSlave"]


@implementer(ISlave)
class BuilderSlave:
    """The master's end of one builder daemon.

    @ivar name: the builder's name, in every error message.
    @ivar url: the base URL, always ending in C{/}.
    """

    def __init__(self, name, url, reactor=None, pool=None, timeout=30.0,
                 ensurepresent_timeout=1800.0, max_reply_size=16 * 1024 ** 2,
                 max_file_size=64 * 1024 ** 3, clock=None, max_downloads=2,
                 download_min_rate=DOWNLOAD_MIN_RATE, keepalive=False):
        """
        @param reactor: makes the connections (default: the global reactor).
            A bare L{twisted.internet.task.Clock} is taken as C{clock}.
        @param pool: a shared L{HTTPConnectionPool} from L{makePool}; without
            one each call and download uses its own short-lived connection.
        @param keepalive: whether XML-RPC calls go over HTTP/1.1 connections
            kept open in C{pool} for the next call (L{rpc}); if not, each
            call opens and closes one through C{twisted.web.xmlrpc.Proxy}
            (L{proxy}). Downloads use C{pool} either way.
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
        reactor = orReactor(reactor)
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
        if pool is None:
            pool = quietPool(HTTPConnectionPool(reactor, persistent=False))
        self._http = HTTPClient(
            Agent(reactor, pool=pool, connectTimeout=timeout))
        self._rpcURL = (self.url + "rpc").encode("ascii")
        self._rpc = self._proxy = None
        if keepalive:
            self._rpc = builderAgent(reactor, pool, self.url, timeout)
        else:
            self._proxy = xmlrpc.Proxy(
                self._rpcURL, allowNone=True, connectTimeout=timeout,
                reactor=reactor)
            self._proxy.queryFactory = partial(
                SlaveQueryFactory, name, max_reply_size)
        self._allSlots = getattr(pool, "downloadSlots", _defaultDownloadSlots)
        self._slots = defer.DeferredSemaphore(max_downloads)

    def __repr__(self):
        return "<BuilderSlave %r at %s>" % (self.name, self.url)

    def _call(self, method, *args, timeout=None):
        if self._rpc is not None:
            d = callRemote(self._rpc, self._rpcURL, self.name, method, args,
                           self.max_reply_size)
        else:
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
        if failure.check(error.ConnectError, error.ConnectionClosed,
                         RequestNotSent):
            raise SlaveConnectionError(
                self.name, "%s: %s" % (what, failure.getErrorMessage()))
        if failure.check(ResponseFailed, ResponseNeverReceived,
                         RequestTransmissionFailed):
            # Garbage (a bad status line, a head too long, conflicting
            # lengths) is the builder's fault; a dropped or cut-short
            # connection (ConnectionLost, _DataLoss) may not be.
            reasons = failure.value.reasons
            if any(r.check(ParseError, ValueError) for r in reasons):
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
        d.addErrback(unwrapCancel)
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
