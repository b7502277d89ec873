"""Scanning builders: one LoopingCall per builder.

L{ScannerManager} refreshes a snapshot of every builder and its job with
one statement per interval, starts a L{SlaveScanner} for each usable
builder and stops those of builders removed or disabled, and writes the
log tails of all building builders in one statement per interval. Its
part for masters sharing a database (heartbeat, fencing, handover) is
L{lp_buildmaster.ownership.Ownership}; one builder's scan is
L{lp_buildmaster.slavescanner.SlaveScanner} (importable from here too).

Imports: slavescanner, ownership, buildergroup, outage; nothing above
(the dispatcher is passed in).
"""

import collections.abc
import logging
import zlib

from twisted.application import service
from twisted.internet import defer, task

from lp_buildmaster import failures
from lp_buildmaster.buildergroup import Job
from lp_buildmaster.clock import orReactor
from lp_buildmaster.outage import DatabaseWatch
from lp_buildmaster.ownership import Ownership
from lp_buildmaster.scantimes import ScanTimes
from lp_buildmaster.slavescanner import IDLE, SlaveScanner, usable

__all__ = ["HeldBuilders", "IDLE", "ScannerManager", "SlaveScanner",
           "usable"]


class HeldBuilders(collections.abc.Sequence):
    """The handles of the builders a manager scans, in the order their
    scanners started: what the manager's L{BuilderGroup} holds as its
    C{builders}. A view, never out of step with the scanners."""

    def __init__(self, scanners):
        self._scanners = scanners

    def __len__(self):
        return len(self._scanners)

    def __iter__(self):
        return (scanner.builder for scanner in self._scanners.values())

    def __getitem__(self, index):
        return list(self)[index]


class ScannerManager(Ownership, service.Service):
    """Keeps one L{SlaveScanner} per usable builder it holds.

    Its L{BuilderGroup} is the group of those builders, of every
    processor: C{group.builders} are their handles (L{HeldBuilders}), and
    the group's logic (C{rescueBuilderIfLost}, C{updateBuild} and
    C{getLogFromSlave} through it, the failure handling) is what every
    scan runs.

    With an C{owner} (masters sharing the database) it heartbeats, fences
    itself and hands builders over (L{Ownership}).
    """

    def __init__(self, store, group, slaveFactory, clock=None, interval=15.0,
                 dispatcher=None, logger=None, cancel_timeout=180.0,
                 owner=None, dbclock=None, web_url=None, librarian_url=None,
                 database=None, control=None, beats=None):
        """
        @param group: the L{BuilderGroup} whose logic the scanners run;
            its C{builders} become the builders this manager scans.
        @param slaveFactory: C{f(builder_record)} -> an L{ISlave}.
        @param dispatcher: gets C{builderIdle(builder, vitals)} for idle
            builders with nothing assigned, or None.
        @param owner: this master's name when several masters share the
            database: it then registers, heartbeats and scans only the
            builders the assignment gives it. None: scan every builder.
        @param dbclock: a callable giving the time (seconds since the
            epoch) that heartbeats and leases use instead of the
            database's C{now()} (tests pass their Clock's C{seconds}).
        @param web_url: this master's dashboard, as its master row says.
        @param librarian_url: the librarian it uses, likewise.
        @param control: the L{Store} for refreshes and releases (default
            C{store}): one of their own, so that they never wait behind
            the scans' statements.
        @param beats: the L{Store} for heartbeats alone (default
            C{control}): a connection of their own, so that a heartbeat
            never waits behind a refresh or a batch of releases either.
        @param database: the L{DatabaseWatch} that pauses scans while the
            database is unavailable (one is made by default).
        """
        clock = orReactor(clock)
        self.store = store
        self.control = control if control is not None else store
        self.beats = beats if beats is not None else self.control
        self.group = group
        self.slaveFactory = slaveFactory
        self.clock = clock
        self.interval = interval
        self.dispatcher = dispatcher
        self.logger = logger or logging.getLogger("lp_buildmaster.scanner")
        self.cancel_timeout = cancel_timeout
        self.owner = owner
        self.dbclock = dbclock
        self.web_url = web_url
        self.librarian_url = librarian_url
        #: A master without heartbeat for this long is dead: the others,
        #: heartbeating four times an interval, see it within 1.5
        #: intervals of its last heartbeat.
        self.lifetime = 1.25 * interval
        self.thresholds = group.thresholds
        if database is None:
            database = DatabaseWatch(store, clock,
                                     probe_interval=min(2.0, interval))
        self.database = database
        database.addListener(self._databaseBack)
        self._errors = failures.OncePerChange()
        #: read versions of snapshots (see L{_newer})
        self._kicks = {}
        self._reads = 0
        self._versions = {}
        self._fullRead = 0
        self.vitals = {}
        self.scanners = {}
        group.builders = HeldBuilders(self.scanners)
        #: writes the scanners' last scans, batched (E6's hook)
        self.scan_times = ScanTimes(store, self.clock)
        #: L{MasterInfo} of every registered master, at the last heartbeat
        self.masters = []
        #: names of the live masters, at the last heartbeat
        self.live = ()
        #: C{{builder name: (owner, usable)}} at the last refresh
        self.owners = {}
        #: builder names whose release waits for their scan to end
        self._releasing = set()
        self._releaseNow = []
        self._releaseBatch = []     # see Ownership._releaseEnded
        #: handovers (taken, released) and failovers, for the metrics
        self.counts = collections.Counter()
        self._assignment = (None, frozenset())
        self._beatSent = None
        self._gapAt = None
        self._beatFailing = False
        self._beating = None
        #: C{{Deferred: builder name}} of scanners stopping
        self._retiring = {}
        self._refreshing = None
        self._refreshAgain = False
        self._started = False
        self.loop = task.LoopingCall(self.refresh)
        self.loop.clock = clock
        self.beat = task.LoopingCall(self.heartbeat)
        self.beat.clock = clock

    def startService(self):
        super().startService()
        if self.owner is not None:
            self._beatDone = self.beat.start(self.interval / self.BEATS,
                                             now=True)
            self._beatDone.addErrback(
                lambda f: self.logger.error("heartbeat loop died: %s",
                                            failures.describe(f)))
        self._loopDone = self.loop.start(self.interval, now=True)
        self._loopDone.addErrback(
            lambda f: self.logger.error("scanner refresh loop died: %s",
                                        failures.describe(f)))

    def noteError(self, name, err):
        """An error that counts against nobody here (our own side failed),
        or one met while handling another: one log line while it repeats;
        a database error pauses the master instead
        (L{DatabaseWatch.failed} logs that)."""
        if self.database.check(err):
            return
        if self._errors.first(name, failures.signature(err)):
            self.logger.warning("Builder '%s': %s; retried at the next scan",
                                name, failures.describe(err))

    def errorsStopped(self, name):
        """A scan of C{name} worked: its next error is logged again."""
        self._errors.clear(name)

    def _databaseBack(self):
        """The database answers again: refresh, then scan every builder
        once, spread over a second per thousand builders (at most a third
        of an interval), instead of waiting for each one's turn, so that
        collection and dispatch resume within one interval of the
        return."""
        if not self.running:
            return
        d = self.refresh()
        d.addCallback(lambda _: self._kickAll())

    def _kickAll(self):
        if not self.running:
            return
        spread = min(self.interval / 3.0, 1.0 + len(self.scanners) / 1000.0)
        for name, scanner in list(self.scanners.items()):
            offset = (zlib.crc32(name.encode()) % 1000) / 1000.0 * spread
            call = self.clock.callLater(offset, self._kick, name)
            self._kicks[name] = call

    def _kick(self, name):
        self._kicks.pop(name, None)
        scanner = self.scanners.get(name)
        if scanner is not None and self.running:
            scanner.scanNow()

    @defer.inlineCallbacks
    def stopService(self):
        super().stopService()
        for loop in (self.beat, self.loop):
            if loop.running:
                loop.stop()
        for call in self._kicks.values():
            if call.active():
                call.cancel()
        self._kicks.clear()
        yield self.database.stop()
        while self._refreshing is not None or self._beating is not None:
            # A heartbeat landing after leave() would make this master
            # look alive again for a whole interval.
            yield self._refreshing or self._beating
        yield defer.DeferredList(
            [s.stop() for s in self.scanners.values()] + list(self._retiring))
        self.scanners.clear()
        try:
            yield self.group.flushLogtails()
            if self.owner is not None:
                yield self.control.masters.leave(self.owner)
        except Exception as e:
            # The database is gone: the others see this master's heartbeat
            # stop instead.
            self.logger.warning("at stop, could not leave or write log "
                                "tails: %s", failures.describe(e))

    # Refreshing.

    def refresh(self):
        """Refresh every builder's vitals, start and stop scanners, and
        write the pending log tails; two statements in all. A refresh
        asked for while one runs runs again once it ends."""
        if self._refreshing is not None:
            self._refreshAgain = True
            return self._refreshing
        d = self._refreshing = self._refresh()
        d.addErrback(lambda f: self.noteError("(refresh)", f))

        def done(result):
            self._refreshing = None
            if self._refreshAgain and self.running:
                self._refreshAgain = False
                self.refresh()
        d.addBoth(done)
        return d

    @defer.inlineCallbacks
    def _refresh(self):
        yield self.group.flushLogtails()
        yield self.scan_times.flush(self.scanners.values())
        read = self._nextRead()
        if self.owner is None:
            self.vitals = self._newer(
                read, (yield self.store.jobs.allVitals(self.vitals)))
        else:
            if self._beatSent is None:
                # No heartbeat yet: no assignment to act on.
                return
            self.vitals = self._newer(read, (yield self._leased()))
        if not self.running:
            return
        quick = self._started
        self._started = True
        for name, vitals in self.vitals.items():
            if usable(vitals.builder) and name not in self._releasing:
                scanner = self.scanners.get(name)
                if scanner is not None and scanner.url != vitals.builder.url:
                    self.logger.info("Builder '%s' moved to %s", name,
                                     vitals.builder.url)
                    self._retire(self.scanners.pop(name))
                    scanner = None
                if scanner is None:
                    self.startScanner(vitals.builder, quick=quick)
        yield self._letGo()

    def _nextRead(self):
        """A version for a snapshot about to be read: later reads get
        higher ones."""
        self._reads += 1
        return self._reads

    def _newer(self, read, vitals):
        """C{vitals} (read as version C{read}) with the snapshot of each
        builder re-read since (by L{refreshOne}) kept: an older snapshot
        never replaces a newer one."""
        for name, version in self._versions.items():
            if version > read and name in self.vitals:
                if name in vitals:
                    vitals[name] = self.vitals[name]
        self._versions = {name: version
                          for name, version in self._versions.items()
                          if version > read}
        self._fullRead = max(self._fullRead, read)
        return vitals

    def _retire(self, scanner, why="builder removed or disabled"):
        """Stop a scanner without waiting for its scan in flight, which
        L{stopService} still waits for; its builder's downloads are
        cancelled, freeing their farm-wide slots."""
        cancel = getattr(scanner.slave, "cancelDownloads", None)
        if cancel is not None:
            cancel(why)
        d = scanner.stop()
        self._retiring[d] = scanner.name
        d.addBoth(lambda _: self._retiring.pop(d, None))

    @defer.inlineCallbacks
    def settle(self, exclude=()):
        """Fires once no refresh and no scan is in flight (for tests and
        benchmarks driving a Clock).

        @param exclude: names of builders whose scans not to wait for
            (those blocked on the Clock itself).
        """
        while True:
            pending = [d for d in [self._refreshing, self._beating] + [
                s._inflight for name, s in self.scanners.items()
                if name not in exclude] + [
                d for d, name in self._retiring.items()
                if name not in exclude]
                if d is not None]
            if not pending:
                return
            for d in pending:
                waiter = defer.Deferred()
                d.addBoth(lambda r, w=waiter: (w.callback(None), r)[1])
                yield waiter

    def startScanner(self, builder, quick=False, start=True):
        """Start scanning C{builder}: its first scan within the interval
        (spread by name), or with C{quick} (a builder taken over or added
        while running) within a quarter of it.

        @param start: False to make the scanner (and hold the builder)
            without starting its LoopingCall (L{scanOnce}).
        """
        slave = self.slaveFactory(builder)
        scanner = SlaveScanner(self, builder.name, slave, builder)
        scanner.url = builder.url
        self.scanners[builder.name] = scanner
        if not start:
            return scanner
        # Spread the builders' scans over the interval.
        offset = (zlib.crc32(builder.name.encode()) % 1000) / 1000.0
        spread = self.interval / self.BEATS if quick else self.interval
        scanner.start(delay=offset * spread)
        return scanner

    @defer.inlineCallbacks
    def scanOnce(self):
        """Scan every usable builder once, now, through the scanners the
        running master uses, and write the log tails (the seed's
        C{BuilddMaster.scanActiveBuilders}). For a manager that is not
        running and has no C{owner}: the scanners are made, not
        started (a running manager's scanners scan on their own)."""
        if self.running or self.owner is not None:
            raise RuntimeError("scanOnce is for a manager that is not "
                               "running and has no owner")
        yield self.group.flushLogtails()
        self.vitals = self._newer(self._nextRead(),
                                  (yield self.store.jobs.allVitals(
                                      self.vitals)))
        scans = []
        for name, vitals in sorted(self.vitals.items()):
            if usable(vitals.builder):
                scanner = self.scanners.get(name)
                if scanner is None:
                    scanner = self.startScanner(vitals.builder, start=False)
                scans.append(scanner.scan())
        # A scan never fails (its errors are handled and counted).
        yield defer.DeferredList(scans)
        yield self.group.flushLogtails()

    @defer.inlineCallbacks
    def refreshOne(self, name):
        """Re-read one builder's vitals after changing its state; kept
        unless a snapshot read later has arrived first."""
        read = self._nextRead()
        vitals = yield self.store.jobs.vitals(name)
        if max(self._versions.get(name, 0), self._fullRead) > read:
            return self.vitals.get(name)
        self._versions[name] = read
        if vitals is None:
            self.vitals.pop(name, None)
        elif name in self.scanners:
            # Not for a builder handed over meanwhile.
            self.vitals[name] = vitals
        return vitals

    @defer.inlineCallbacks
    def loadJob(self, vitals, builder):
        """The L{Job} a builder's vitals name, or None if gone."""
        queue = yield self.store.queue.get(vitals.queue_id)
        if queue is None or queue.builder != builder.id:
            return None
        build = yield self.store.builds.get(queue.build)
        if build is None:
            return None
        return Job(queue, build, builder)
