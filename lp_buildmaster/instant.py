"""Instant dispatch: LISTEN/NOTIFY wakes idle builders at once.

L{InstantDispatch} listens on the database's C{buildqueue},
C{builder_freed} and C{builders} channels and wakes the scanner of the
idle builder that should take a job the moment one is queued or a
builder is freed, instead of at its next scan; the regular scans cover
whatever it misses (a notification lost while the database was away).
It talks to the scanner manager (its C{scanners}, C{vitals},
C{dispatcher} and C{refresh}) only through the manager it is given.

Imports: the store's C{listen} and the failure classification; nothing
above (the scanner manager is passed in).
"""

import collections
import logging

from twisted.application import service
from twisted.internet import defer

from lp_buildmaster import failures
from lp_buildmaster.store import listen


def parseQueuePayload(payload):
    """C{(processor, virtualized)} of a C{buildqueue} notification, the
    latter None when the payload does not say (C{"P"}); None for a payload
    that is neither C{"P"} nor C{"P:V:QUEUE_ID"}."""
    parts = payload.split(":")
    if not parts[0].isdigit():
        return None
    if len(parts) == 1:
        return int(parts[0]), None
    if len(parts) == 3 and parts[1] in ("0", "1"):
        return int(parts[0]), parts[1] == "1"
    return None


class InstantDispatch(service.Service):
    """LISTEN for queued jobs and freed builders; wake idle builders.

    Each C{buildqueue} notification is one job waiting (payload
    C{processor:virtualized:queue id}): it wakes I{one} idle automatic
    builder of that processor and virtualization, chosen among those not
    woken already and not busy with a job this master just dispatched,
    the longest idle first. If that builder's scan ends without it having
    been offered a job (it was not idle after all, or talking to it
    failed), another one is woken, up to C{retries} times. A
    C{builder_freed} notification wakes that builder, which takes the best
    job waiting for it; C{builders} refreshes the scanner manager.

    Waking every idle builder of the processor for each job (as the first
    version did) costs a status() call and a reserve transaction per idle
    builder per job: with a thousand idle builders that alone saturates
    the master.
    """

    CHANNELS = ("buildqueue", "builder_freed", "builders")

    def __init__(self, dsn, manager, logger=None, retries=3):
        self.dsn = dsn
        self.manager = manager
        self.logger = logger or logging.getLogger("lp_buildmaster.dispatch")
        self.retries = retries
        self.conn = None
        self._queued = collections.Counter()
        self._freed = set()
        self._refresh = False
        self._scheduled = None
        #: builder ids woken and not done with that scan yet
        self._waking = set()
        #: wake-ups by kind, for benchmarks and metrics
        self.counts = collections.Counter()

    #: Seconds between LISTEN attempts while it fails: 1 s doubling to 30 s.
    LISTEN_RETRY_FIRST, LISTEN_RETRY_MAX = 1.0, 30.0

    def startService(self):
        """Start listening; never fails: while LISTEN cannot be set up
        (the database away) it is tried again with backoff, the regular
        scans dispatching meanwhile.

        @return: a Deferred firing once the first attempt ended.
        """
        super().startService()
        self._listenFailures = 0
        self._retryListen = None
        self._listening = None
        return self._listen()

    def _listen(self):
        self._retryListen = None
        attempt = self._listening = listen(self.dsn, self.CHANNELS,
                                           self._notified)

        def listening(conn):
            self._listening = None
            if not self.running:
                conn.removeNotifyObserver(self._notified)
                conn.close()
                return
            self.conn = conn
            if self._listenFailures:
                self.logger.info("instant dispatch listening again after %d "
                                 "failed attempts", self._listenFailures)
            self._listenFailures = 0

        def failed(f):
            self._listening = None
            if not self.running:
                return
            self._listenFailures += 1
            delay = min(self.LISTEN_RETRY_FIRST
                        * 2 ** (self._listenFailures - 1),
                        self.LISTEN_RETRY_MAX)
            if self._listenFailures == 1:
                self.logger.warning(
                    "instant dispatch cannot LISTEN (%s); tried again with "
                    "backoff, regular scans dispatch meanwhile",
                    failures.describe(f))
            self._retryListen = self.manager.clock.callLater(
                delay, self._listen)
        return attempt.addCallbacks(listening, failed)

    def stopService(self):
        super().stopService()
        if self._scheduled is not None and self._scheduled.active():
            self._scheduled.cancel()
        self._scheduled = None
        retry = getattr(self, "_retryListen", None)
        if retry is not None and retry.active():
            retry.cancel()
        self._retryListen = None
        pending = getattr(self, "_listening", None)
        if pending is not None:
            # Fires (and closes the connection) once the attempt ends.
            done = defer.Deferred()
            pending.addBoth(lambda r: (done.callback(None), r)[1])
            return done
        if self.conn is not None:
            self.conn.removeNotifyObserver(self._notified)
            self.conn.close()
            self.conn = None
        return defer.succeed(None)

    def _notified(self, notify):
        channel, payload = notify.channel, notify.payload
        if channel == "buildqueue":
            key = parseQueuePayload(payload)
            if key is not None:
                self._queued[key] += 1
                queued = getattr(self._dispatcher, "jobQueued", None)
                if queued is not None:
                    queued(*key)
        elif channel == "builder_freed":
            if payload.isdigit():
                self._freed.add(int(payload))
        elif channel == "builders":
            self._refresh = True
        if self._scheduled is None:
            # Coalesce a burst of notifications into one wake-up.
            self._scheduled = self.manager.clock.callLater(0, self._wake)

    @property
    def _dispatcher(self):
        return self.manager.dispatcher

    def _wake(self):
        self._scheduled = None
        queued, self._queued = self._queued, collections.Counter()
        freed, self._freed = self._freed, set()
        if self._refresh:
            self._refresh = False
            self.manager.refresh()
        dispatcher = self._dispatcher
        woken = 0
        for builder_id in freed:
            if dispatcher is not None and hasattr(dispatcher, "builderFreed"):
                dispatcher.builderFreed(builder_id)
        for name, vitals in list(self.manager.vitals.items()):
            if vitals.builder.id in freed:
                woken += self._scan(name, vitals.builder.id, None, 0,
                                    kind="freed")
        for key, count in queued.items():
            for name, builder_id in self._idle(key, count):
                woken += self._scan(name, builder_id, key, self.retries)
        if woken:
            self.logger.debug("instant dispatch woke %d builders", woken)

    def _idle(self, key, count, exclude=()):
        """Up to C{count} C{(name, id)} of idle builders that can take a
        job of C{key}, the longest idle first; none whose last scan failed
        (a builder that does not answer would be woken for every job) and
        none in C{exclude}."""
        processor, virtualized = key
        dispatcher = self._dispatcher
        lastIdle = getattr(dispatcher, "lastIdle", {})
        busy = getattr(dispatcher, "busy", lambda builder_id: False)
        found = []
        for name, vitals in self.manager.vitals.items():
            builder = vitals.builder
            if (vitals.queue_id is not None or builder.manual
                    or not builder.active or not builder.builderok
                    or builder.processor != processor
                    or (virtualized is not None
                        and builder.virtualized != virtualized)
                    or builder.id in self._waking or busy(builder.id)
                    or builder.id in exclude
                    or name not in self.manager.scanners
                    or getattr(self.manager.scanners[name], "failing",
                               False)):
                continue
            found.append((lastIdle.get(builder.id, (0,))[0], name,
                          builder.id))
        found.sort()
        return [(name, builder_id) for _, name, builder_id in found[:count]]

    def _scan(self, name, builder_id, key, retries, kind="queued",
              tried=frozenset()):
        """Scan one builder now; if C{key} and it was not offered a job,
        wake another for C{key} (C{retries} more times at most), never
        one already C{tried} for it."""
        scanner = self.manager.scanners.get(name)
        if scanner is None:
            return 0
        dispatcher = self._dispatcher
        before = getattr(dispatcher, "idleCalls", 0)
        self._waking.add(builder_id)
        self.counts[kind] += 1

        def done(result):
            self._waking.discard(builder_id)
            if key is None or not self.running:
                return result
            call, outcome = getattr(dispatcher, "lastIdle", {}).get(
                builder_id, (0, None))
            if call > before and outcome != "failed":
                return result   # offered a job: taken, or none was left
            if retries > 0:
                done_with = tried | {builder_id}
                for other, other_id in self._idle(key, 1, done_with):
                    self.counts["retried"] += 1
                    self._scan(other, other_id, key, retries - 1,
                               kind="retry", tried=done_with)
            return result
        scanner.scanNow().addBoth(done)
        return 1

