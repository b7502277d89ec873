"""Noticing that the database is gone, and that it is back.

Whoever sees an error that L{lp_buildmaster.failures.classify} says means
the database is unavailable calls L{DatabaseWatch.failed}. The first such
call logs one line and pauses dispatch and collection (scanners ask
L{DatabaseWatch.available} before each scan); the watch then probes the
database every few seconds with one C{SELECT 1} on every pooled
connection, so that connections killed meanwhile are found dead and
reconnected by the probe rather than by real work. When every connection
answers, it logs one line with the outage's length and calls its
listeners (the scanner manager refreshes at once), so work resumes well
within one scan interval of the database's return.
"""

import logging

from twisted.internet import defer

from lp_buildmaster import failures


class DatabaseWatch:
    """Whether the database is usable, as far as the master can tell.

    @ivar available: False from the first database error until every
        pooled connection answers again.
    @ivar outages: C{[(went, came_back)]} in clock seconds, for tests and
        the fault benchmark.
    """

    def __init__(self, store, clock, probe_interval=2.0, logger=None):
        self.store = store
        self.clock = clock
        self.probe_interval = probe_interval
        self.logger = logger or logging.getLogger("lp_buildmaster.database")
        self.available = True
        self.since = None
        self.outages = []
        self._listeners = []
        self._probe = None
        self._pinging = None
        self._stopped = False

    def addListener(self, callback):
        """C{callback()} is called each time the database comes back."""
        self._listeners.append(callback)

    def failed(self, err):
        """An error meaning the database is unavailable was seen."""
        if not self.available or self._stopped:
            return
        self.available = False
        self.since = self.clock.seconds()
        self.logger.warning(
            "database unavailable (%s): dispatch and collection paused "
            "until it answers again", failures.describe(err))
        self._schedule()

    def check(self, err):
        """Note C{err} if it means the database is unavailable.

        @return: whether it did.
        """
        if failures.classify(err).database:
            self.failed(err)
            return True
        return False

    def _schedule(self):
        if not self._stopped:
            self._probe = self.clock.callLater(self.probe_interval,
                                               self._check)

    def _check(self):
        self._probe = None
        d = self._pinging = self.store.ping()

        def done(result):
            self._pinging = None
            if self._stopped:
                return
            if result:
                self._back()
            else:
                self._schedule()
        d.addBoth(lambda result: done(result is True))

    def _back(self):
        now = self.clock.seconds()
        self.outages.append((self.since, now))
        self.logger.warning(
            "database available again after %.1f s: dispatch and collection "
            "resume", now - self.since)
        self.available = True
        self.since = None
        for listener in list(self._listeners):
            listener()

    def stop(self):
        """Stop probing; fires once no probe is in flight."""
        self._stopped = True
        if self._probe is not None and self._probe.active():
            self._probe.cancel()
        self._probe = None
        if self._pinging is not None:
            d = defer.Deferred()
            self._pinging.addBoth(lambda r: (d.callback(None), r)[1])
            return d
        return defer.succeed(None)
