"""A service that runs one task every interval, one run at a time."""

from twisted.application import service
from twisted.internet import defer, task

from lp_buildmaster.clock import orReactor


class PeriodicService(service.Service):
    """Calls C{self.run()} (defined by subclasses, returning a Deferred
    or None) at start and then every C{interval} seconds of C{clock}.

    The LoopingCall waits for each run's Deferred, so runs never overlap;
    L{stopService} fires once a run in flight has finished. C{run} must
    not fail (log instead), or the loop would stop.
    """

    def __init__(self, clock=None, interval=60.0):
        clock = orReactor(clock)
        self.clock = clock
        self.interval = interval
        self._loop = None
        self._done = None

    def startService(self):
        super().startService()
        self._loop = task.LoopingCall(self.run)
        self._loop.clock = self.clock
        self._done = self._loop.start(self.interval, now=True)

    def stopService(self):
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        done, self._done = self._done, None
        return done if done is not None else defer.succeed(None)
