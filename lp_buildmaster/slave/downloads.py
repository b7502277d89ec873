"""Streaming files from builders over keep-alive HTTP (the pool is
L{lp_buildmaster.slave.pool}'s): farm-wide download slots, and a response
body watched by an idle timer and a minimum-rate deadline.
"""

import treq
from twisted.internet import defer
from twisted.python.failure import Failure

__all__ = ["DOWNLOAD_MIN_RATE"]


#: Bytes a second a download from a builder must keep up, by default.
DOWNLOAD_MIN_RATE = 64 * 1024

#: Bounds concurrent downloads overall when a pool does not carry its own.
_defaultDownloadSlots = defer.DeferredSemaphore(16)


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


def _discard(response):
    """Drop a response's body unread; its connection is not reused."""
    body = _WatchedBody(response)
    body.collect(lambda chunk: None).addErrback(lambda f: None)
    body.abort()

