"""Scanning builders: one LoopingCall per builder.

L{ScannerManager} refreshes a snapshot of every builder and its job with
one statement per interval, starts a L{SlaveScanner} for each usable
builder and stops those of builders removed or disabled, and writes the
log tails of all building builders in one statement per interval.

A L{SlaveScanner} asks its builder for its status and acts on the answer
through the L{BuilderGroup}. Its LoopingCall waits for the scan's
Deferred, so at most one scan per builder is in flight, while scans of
different builders run concurrently. An idle builder with nothing
assigned costs no database statement of its own.
"""

import collections
import collections.abc
import logging
import zlib

from twisted.application import service
from twisted.internet import defer, task

from lp_buildmaster import failures, metrics
from lp_buildmaster.assignment import assign
from lp_buildmaster.buildergroup import (
    BUILDERFAIL_NOTES, BuilderHandle, Job, utcnow)
from lp_buildmaster.clock import orReactor
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.model.records import makeCookie
from lp_buildmaster.outage import DatabaseWatch
from lp_buildmaster.scantimes import ScanTimes
from lp_buildmaster.slave import SlaveError, SlaveFault

IDLE = "BuilderStatus.IDLE"


def _few(names, count=5):
    """The first C{count} of C{names}, and how many more."""
    names = sorted(names)
    more = len(names) - count
    return ", ".join(names[:count]) + (" and %d more" % more
                                       if more > 0 else "")


def usable(builder):
    """Whether a builder is scanned at all."""
    return builder.active and builder.builderok


class SlaveScanner:
    """Scans one builder every interval.

    @ivar builder: the L{BuilderHandle} of the builder scanned: one of the
        manager's C{group.builders}, its record the builder's latest
        snapshot at each scan.
    """

    def __init__(self, manager, name, slave, record=None):
        self.manager = manager
        self.name = name
        self.builder = BuilderHandle(record, slave)
        self.logger = manager.logger
        self.loop = task.LoopingCall(self.scan)
        self.loop.clock = manager.clock
        self.transient_errors = 0
        #: whether the last scan failed (instant dispatch skips it)
        self.failing = False
        self.abort_requested_at = None
        self.scans = 0
        self.last_scan = None
        self._starting = None
        self._inflight = None
        self._again = False

    @property
    def slave(self):
        """The builder's client (its handle's)."""
        return self.builder.slave

    @slave.setter
    def slave(self, slave):
        self.builder.slave = slave

    def start(self, delay=0.0):
        """Start scanning after C{delay} seconds, then every interval."""
        def go():
            self._starting = None
            done = self.loop.start(self.manager.interval, now=True)
            done.addErrback(self._unexpected)
        if delay > 0:
            self._starting = self.manager.clock.callLater(delay, go)
        else:
            go()

    def stop(self):
        """Stop scanning; fires when the scan in flight (if any) is done."""
        if self._starting is not None and self._starting.active():
            self._starting.cancel()
            self._starting = None
        if self.loop.running:
            self.loop.stop()
        if self._inflight is not None:
            d = defer.Deferred()
            self._inflight.addBoth(lambda result: (d.callback(None), result)[1])
            return d
        return defer.succeed(None)

    def scanNow(self):
        """Scan at once, out of turn (instant dispatch); if a scan is in
        flight, scan again as soon as it ends.

        @return: a Deferred of the caller's own, firing (with None) when
            that scan is done; what its caller does with it cannot touch
            the scan or the LoopingCall.
        """
        if self._inflight is not None:
            self._again = True
            return self._waitInflight()
        self.scan()
        return self._waitInflight()

    def _waitInflight(self):
        mine = defer.Deferred()
        if self._inflight is None:
            mine.callback(None)
        else:
            self._inflight.addBoth(
                lambda result: (mine.callback(None), result)[1])
        return mine

    def scan(self):
        """One scan; never fails, so the LoopingCall never dies."""
        if self._inflight is not None:
            # An out-of-turn scan is running: this turn is covered.
            return self._inflight
        started = self.manager.clock.seconds()
        self.scans += 1
        self.last_scan = started
        d = self._inflight = defer.maybeDeferred(self._scan)
        d.addErrback(self._unexpected)

        def done(result):
            self._inflight = None
            metrics.SCAN_DURATION.observe(
                max(0.0, self.manager.clock.seconds() - started))
            if self._again and (self.loop.running or self._starting):
                self._again = False
                self.scan()
            return result
        d.addBoth(done)
        return d

    def _unexpected(self, f):
        """The last resort: an error while handling an error. Logged once
        while it repeats, never as a traceback."""
        self.manager.noteError(self.name, f)

    def _scan(self):
        # Plain callbacks rather than inlineCallbacks: this runs for every
        # builder every interval, and an idle builder with nothing assigned
        # (most of a farm) needs nothing past its status().
        vitals = self.manager.vitals.get(self.name)
        if (vitals is None or not usable(vitals.builder)
                or self.manager.fenced()):
            return None
        if not self.manager.database.available:
            # Paused: nothing started now could be recorded.
            return None
        d = defer.maybeDeferred(self.slave.status)
        d.addCallbacks(self._gotStatus, self._scanFailed,
                       callbackArgs=(vitals,), errbackArgs=(vitals,))
        return d

    def _gotStatus(self, status, vitals):
        self.transient_errors = 0
        self.failing = False
        if (vitals.queue_id is None and status.builder_status == IDLE
                and self.manager.dispatcher is None):
            self.abort_requested_at = None
            self.manager.errorsStopped(self.name)
            return None
        d = self._act(self._handle(vitals), vitals, status)
        # A builder failing us while we collect from or dispatch to it (a
        # file it cannot fetch, a log it will not give, a reset that fails)
        # counts like any failure to talk to it.
        d.addCallback(self._worked)
        d.addErrback(self._scanFailed, vitals)
        return d

    def _handle(self, vitals):
        """The builder's handle, as the snapshot of this scan has it."""
        self.builder.record = vitals.builder
        return self.builder

    def _worked(self, result):
        self.manager.errorsStopped(self.name)
        return result

    def _scanFailed(self, failure, vitals):
        """Every error of a scan comes here and is classified once
        (L{lp_buildmaster.failures})."""
        kind = failures.classify(failure)
        if kind.kind in (failures.INFRASTRUCTURE, failures.JOB):
            # Builder faults are counted where they are judged.
            metrics.FAILURES.labels(kind.kind, kind.reason).inc()
        self.failing = kind.kind != failures.INFRASTRUCTURE
        builder = self._handle(vitals)
        if kind.kind == failures.INFRASTRUCTURE:
            # Nobody's failure: the work is retried at a later scan.
            self.manager.noteError(self.name, failure)
            return None
        if kind.kind == failures.JOB:
            return self._jobFault(builder, vitals, failure.value)
        return self._failed(builder, vitals, failure.value, kind)

    @defer.inlineCallbacks
    def _act(self, builder, vitals, status):
        group = self.manager.group
        if vitals.queue_id is None:
            self.abort_requested_at = None
            if status.builder_status == IDLE:
                if self.manager.dispatcher is not None:
                    yield self.manager.dispatcher.builderIdle(builder, vitals)
                return
            rescued = yield group.rescueBuilderIfLost(builder, status)
            if rescued:
                yield group.handleLostJob(
                    builder, "reports %s %s, not its own"
                    % (status.builder_status, status.cookie))
            # Rescued (and maybe failed), or the job is ours after all:
            # our snapshot was older.
            yield self.manager.refreshOne(self.name)
            return

        expected = makeCookie(vitals.build_id, vitals.queue_id)
        if vitals.buildstart is None:
            yield self._reserved(builder, vitals, status, expected)
            return
        if status.builder_status == IDLE or status.cookie != expected:
            if status.builder_status != IDLE:
                rescued = yield group.rescueBuilderIfLost(builder, status)
                if not rescued:
                    yield self.manager.refreshOne(self.name)
                    return
            yield group.handleLostJob(
                builder, "lost job %s (it says %s %s)" % (
                    expected, status.builder_status, status.cookie or ""),
                vitals.queue_id, vitals.build_id)
            yield self.manager.refreshOne(self.name)
            return

        if vitals.build_state == BuildStatus.CANCELLING:
            yield self._cancel(builder, vitals, status)
            return
        if status.builder_status in ("BuilderStatus.BUILDING",
                                     "BuilderStatus.ABORTING"):
            # Only the log tail changes: no statement of our own.
            group.recordLogtail(vitals.queue_id, status)
            return
        job = yield self.manager.loadJob(vitals, builder)
        if job is None:
            yield self.manager.refreshOne(self.name)
            return
        try:
            yield group.updateBuild(job, status=status)
        finally:
            yield self.manager.refreshOne(self.name)

    @defer.inlineCallbacks
    def _reserved(self, builder, vitals, status, expected):
        """A job reserved for this builder by a dispatch that did not
        finish (a master stopped between its two transactions)."""
        if status.cookie == expected:
            # build() went through: finish the start.
            yield self.manager.store.dispatch.start(
                vitals.queue_id, builder.id,
                utcnow(self.manager.clock))
        else:
            yield self.manager.store.dispatch.release(
                vitals.queue_id, builder.id)
            if status.builder_status != IDLE:
                yield self.manager.group.rescueBuilderIfLost(builder, status)
        yield self.manager.refreshOne(self.name)

    @defer.inlineCallbacks
    def _cancel(self, builder, vitals, status):
        """A CANCELLING build: abort it, and fail a builder that does not
        abort in time."""
        now = self.manager.clock.seconds()
        if (status.builder_status == "BuilderStatus.WAITING"
                and status.build_status == "BuildStatus.BUILDERFAIL"):
            # The abort timed out on the builder: the build may still be
            # running there. Cancelled, and the builder failed (as the
            # seed fails any builder reporting BUILDERFAIL) rather than
            # given the next job.
            released = yield self.manager.store.jobs.releaseJob(
                vitals.queue_id, builder.id, BuildStatus.CANCELLED,
                failnotes=BUILDERFAIL_NOTES)
            if released:
                self.logger.warning(
                    "Builder '%s' could not abort cancelled build %s "
                    "(BUILDERFAIL): build CANCELLED, builder failed",
                    builder.name, status.cookie)
                metrics.BUILDS_FINISHED.labels("CANCELLED").inc()
            self.manager.group.logtails.pop(vitals.queue_id, None)
            self.abort_requested_at = None
            yield self.manager.refreshOne(self.name)
            return
        if status.builder_status in ("BuilderStatus.ABORTED",
                                     "BuilderStatus.WAITING"):
            job = yield self.manager.loadJob(vitals, builder)
            if job is not None:
                yield self.manager.group.handleAborted(job)
            self.abort_requested_at = None
            yield self.manager.refreshOne(self.name)
            return
        if self.abort_requested_at is None:
            self.abort_requested_at = now
            if status.builder_status == "BuilderStatus.BUILDING":
                self.logger.info("Builder '%s': aborting cancelled build %s",
                                 builder.name, status.cookie)
                try:
                    yield self.slave.abort()
                except SlaveFault as e:
                    # It stopped building between status() and abort().
                    self.logger.info("Builder '%s': abort refused (%s); "
                                     "collected at the next scan",
                                     builder.name, e)
            return
        if now - self.abort_requested_at >= self.manager.cancel_timeout:
            notes = ("Builder did not abort cancelled build %s within %d s"
                     % (status.cookie, self.manager.cancel_timeout))
            self.logger.warning("Builder '%s': %s", builder.name, notes)
            yield self.manager.store.jobs.releaseJob(
                vitals.queue_id, builder.id, BuildStatus.CANCELLED,
                builder_failed=True, failnotes=notes)
            metrics.BUILDS_FINISHED.labels("CANCELLED").inc()
            self.abort_requested_at = None
            yield self.manager.refreshOne(self.name)

    @defer.inlineCallbacks
    def _failed(self, builder, vitals, error, kind):
        """A builder fault (tolerated when transient, then counted), or an
        unexpected error (counted once against the builder and its job)."""
        unexpected = kind.kind == failures.UNEXPECTED
        if kind.transient and not unexpected:
            self.transient_errors += 1
            if self.transient_errors <= self.manager.thresholds.transient:
                self.logger.info(
                    "Builder '%s': transient error %d of %d tolerated: %s",
                    builder.name, self.transient_errors,
                    self.manager.thresholds.transient, _text(error))
                return
        job = None
        if vitals.queue_id is not None:
            job = yield self.manager.loadJob(vitals, builder)
        if unexpected:
            self.logger.error("Builder '%s': unexpected error: %s",
                              builder.name, failures.describe(error))
        else:
            self.logger.warning("Builder '%s': %s", builder.name,
                                _text(error))
        yield self.manager.group.handleFailure(
            builder, job, error, retryable=kind.transient)
        yield self.manager.refreshOne(self.name)

    @defer.inlineCallbacks
    def _jobFault(self, builder, vitals, error):
        """The job is at fault (its pocket is forbidden, its request
        invalid): it fails, the builder is cleaned and keeps its count."""
        job = None
        if vitals.queue_id is not None:
            job = yield self.manager.loadJob(vitals, builder)
        if job is None:
            self.manager.noteError(self.name, error)
            return
        self.logger.warning("Builder '%s': build %d fails: %s",
                            builder.name, job.build.id, _text(error))
        yield self.manager.group.handleJobFault(job, error)
        yield self.manager.refreshOne(self.name)


def _text(error):
    """An error for a line that names its builder already: a SlaveError's
    message without its own "Builder 'NAME': ", other errors with their
    type."""
    if isinstance(error, SlaveError):
        return getattr(error, "reason", str(error))
    return failures.describe(error)


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


class ScannerManager(service.Service):
    """Keeps one L{SlaveScanner} per usable builder it holds.

    Its L{BuilderGroup} is the group of those builders, of every
    processor: C{group.builders} are their handles (L{HeldBuilders}), and
    the group's logic (C{rescueBuilderIfLost}, C{updateBuild} and
    C{getLogFromSlave} through it, the failure handling) is what every
    scan runs.

    With an C{owner} (masters sharing the database), the manager
    heartbeats four times per interval (L{MasterStore.heartbeat}); a
    master whose last heartbeat is one interval old is dead to the
    others. It computes which builders are its own from the live masters
    (L{lp_buildmaster.assignment.assign}), takes those at each refresh,
    and hands over those it holds but no longer wants only once their
    scan in flight has ended. It fences itself: when its last successful
    heartbeat was sent three quarters of an interval ago, or after such a
    gap until a refresh has shown which builders are still its own, it
    starts no scan, so that no builder is ever scanned by two masters.
    """

    #: Heartbeats per interval.
    BEATS = 4
    #: Fraction of the heartbeat lifetime after which a master stops
    #: starting scans of its own accord, before the others may judge it
    #: dead.
    FENCE = 0.75

    def __init__(self, store, group, slaveFactory, clock=None, interval=15.0,
                 dispatcher=None, logger=None, cancel_timeout=180.0,
                 owner=None, dbclock=None, web_url=None, librarian_url=None,
                 database=None, control=None):
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
        @param control: the L{Store} for heartbeats, refreshes and
            releases (default C{store}): one of their own, so that they
            never wait behind the scans' statements.
        @param database: the L{DatabaseWatch} that pauses scans while the
            database is unavailable (one is made by default).
        """
        clock = orReactor(clock)
        self.store = store
        self.control = control if control is not None else store
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

    # Heartbeat and fencing.

    def _dbnow(self):
        return None if self.dbclock is None else self.dbclock()

    def fenced(self):
        """Whether this master may start no scan now: it is not sure that
        the others still count it alive, or it has not yet learnt which
        builders are still its own."""
        if self.owner is None:
            return False
        return (self._beatSent is None or self._gapAt is not None
                or self.clock.seconds() - self._beatSent
                >= self.FENCE * self.lifetime)

    def heartbeat(self):
        """One heartbeat; never fails, so the LoopingCall never dies."""
        sent = self.clock.seconds()
        d = self._beating = self.control.masters.heartbeat(
            self.owner, self.lifetime, now=self._dbnow(),
            web_url=self.web_url, librarian_url=self.librarian_url)
        d.addCallbacks(self._beaten, self._beatFailed, callbackArgs=(sent,))

        def done(result):
            self._beating = None
            return result
        return d.addBoth(done)

    def _beaten(self, masters, sent):
        now = self.clock.seconds()
        if (self._beatSent is None
                or now - self._beatSent >= self.FENCE * self.lifetime):
            # The others may have judged us dead meanwhile, and taken
            # builders: scan nothing until a refresh says what is ours.
            self._gapAt = sent
        self._beatSent = sent
        if self._beatFailing:
            self._beatFailing = False
            self.logger.info("master '%s': heartbeat works again",
                             self.owner)
        self.masters = masters
        live = tuple(m.name for m in masters if m.live)
        if live != self.live:
            self.logger.info("master '%s': live masters now %s",
                             self.owner, ", ".join(live))
            self.live = live
            self.refresh()
        elif self._gapAt is not None:
            self.refresh()

    def _beatFailed(self, failure):
        self.database.check(failure)
        # Logged once per outage: the next success says so.
        if not self._beatFailing:
            self._beatFailing = True
            self.logger.warning(
                "master '%s': heartbeat failed (%s); scans stop after %.1f s "
                "without one, and other masters take the builders after "
                "%.1f s", self.owner, failure.getErrorMessage(),
                self.FENCE * self.lifetime, self.lifetime)

    def _wanted(self):
        """Names of the usable builders the assignment gives this master,
        from the owners seen at the last refresh and the live masters."""
        names = frozenset(name for name, (owner, ok) in self.owners.items()
                          if ok)
        key = (names, self.live)
        if self._assignment[0] != key:
            mine = assign(names, self.live)
            self._assignment = (key, frozenset(
                name for name, master in mine.items()
                if master == self.owner))
        return self._assignment[1]

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
            for attempt in range(2):
                sent = self.clock.seconds()
                wanted = self._wanted()
                result = yield self.control.jobs.leasedVitals(
                    self.owner, wanted, self.vitals, now=self._dbnow())
                self.owners = result.owners
                # The first refresh, or new builders: take at once what
                # the assignment over the builders as they are gives.
                if self._wanted() == wanted:
                    break
            if self._gapAt is not None and sent >= self._gapAt:
                self._gapAt = None
            self._counted(result.taken)
            self.vitals = self._newer(read, result.vitals)
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
        # A handover moves many builders at once: one line per kind of
        # move and per master, not one per builder.
        handed, taken = [], collections.defaultdict(list)
        for name in list(self.scanners):
            vitals = self.vitals.get(name)
            if vitals is None or not usable(vitals.builder):
                owner, ok = self.owners.get(name, (None, False))
                if self.owner is not None and owner == self.owner and ok:
                    handed.append(name)
                    self._releaseAfter(name, self.scanners.pop(name))
                    continue
                if self.owner is not None and owner == self.owner:
                    self.logger.info("Builder '%s' disabled; released once "
                                     "its scan ends", name)
                    self._releaseAfter(name, self.scanners.pop(name))
                    continue
                if owner is not None and owner != self.owner:
                    taken[owner].append(name)
                else:
                    self.logger.info("Builder '%s' removed or disabled; no "
                                     "longer scanned", name)
                self._retire(self.scanners.pop(name))
        if handed:
            self.logger.info("%d builders handed over, each released once "
                             "its scan ends: %s", len(handed), _few(handed))
        for owner, names in sorted(taken.items()):
            self.logger.warning(
                "%d builders were taken by master '%s' (this master was "
                "judged dead); no longer scanned here: %s", len(names),
                owner, _few(names))
        if self.owner is not None:
            # Held without a scanner (after a restart), or whose scanner
            # has just stopped between scans: released at once.
            release = self._releaseNow + [
                name for name, (owner, ok) in self.owners.items()
                if owner == self.owner and name not in self.vitals
                and name not in self._releasing]
            self._releaseNow = []
            if release:
                yield self._release(release)

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

    def _counted(self, taken):
        for name, previous in taken.items():
            self.counts["taken"] += 1
            metrics.HANDOVERS.labels("taken").inc()
            if previous is not None and previous != self.owner:
                self.counts["failovers"] += 1
                metrics.FAILOVERS.inc()
        dead = sorted({previous for previous in taken.values()
                       if previous is not None and previous != self.owner})
        for master in dead:
            names = sorted(name for name, previous in taken.items()
                           if previous == master)
            self.logger.warning(
                "master '%s' is dead: took %d of its builders: %s",
                master, len(names), _few(names))

    def _releaseAfter(self, name, scanner):
        """Stop C{scanner}, then release its builder: never mid-scan.
        Builders with no scan in flight are released together at the end
        of the refresh, in one statement."""
        self._releasing.add(name)
        d = scanner.stop()
        if d.called:
            self._releaseNow.append(name)
            return
        d.addCallback(lambda _: self._release([name]))
        self._retiring[d] = name
        d.addBoth(lambda _: self._retiring.pop(d, None))

    @defer.inlineCallbacks
    def _release(self, names):
        self._releasing.update(names)
        try:
            yield self.control.jobs.release(self.owner, names)
            self.counts["released"] += len(names)
            metrics.HANDOVERS.labels("released").inc(len(names))
        except Exception as e:
            # Still ours in the database: the next refresh tries again.
            self.logger.warning("master '%s': releasing %s failed: %s",
                                self.owner, ", ".join(sorted(names)), e)
        finally:
            self._releasing.difference_update(names)

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
