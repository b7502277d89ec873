"""SlaveScanner: one builder's scan, every interval.

A L{SlaveScanner} asks its builder for its status and acts on the answer
through the manager's L{BuilderGroup} (C{rescueBuilderIfLost},
C{updateBuild}, the failure handling) and, for an idle builder, its
dispatcher. Its LoopingCall waits for the scan's Deferred, so at most
one scan per builder is in flight, while scans of different builders run
concurrently. An idle builder with nothing assigned costs no database
statement of its own. Every error of a scan is classified once
(L{lp_buildmaster.failures}).

Imports: buildergroup, failures, metrics, the slave client's errors;
nothing above (the L{ScannerManager} it belongs to is passed in).
"""

from twisted.internet import defer, task

from lp_buildmaster import failures, metrics
from lp_buildmaster.buildergroup import BUILDERFAIL_NOTES, BuilderHandle, utcnow
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.model.records import makeCookie
from lp_buildmaster.slave import SlaveError, SlaveFault

IDLE = "BuilderStatus.IDLE"


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
        self.builder.record = vitals.builder
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
            released = yield self.manager.group.handleNotAborted(
                builder, vitals.queue_id, BUILDERFAIL_NOTES)
            if released:
                self.logger.warning(
                    "Builder '%s' could not abort cancelled build %s "
                    "(BUILDERFAIL): build CANCELLED, builder failed",
                    builder.name, status.cookie)
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
            yield self.manager.group.handleNotAborted(
                builder, vitals.queue_id, notes, counted=True)
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
