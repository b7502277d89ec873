"""BuilddMaster: dispatching queued builds to idle builders.

L{Dispatcher} gives an idle builder the best job it may build: the
scanner calls L{Dispatcher.builderIdle} from the builder's own scan (so a
builder is never scanned and dispatched at once). Instant dispatch
(LISTEN/NOTIFY) lives in L{lp_buildmaster.instant}, the reset of a dirty
virtualized builder in L{lp_buildmaster.vmreset}; their names stay
importable from here.

L{BuilddMaster} keeps the seed's names over the same machinery:
C{addDistroArchRelease}, C{setupBuilders}, C{scanActiveBuilders},
C{sortAndSplitByProcessor}, C{dispatchByProcessor} and C{startBuild}.

A job's build() request comes from its behaviour,
C{IBuildFarmJobBehaviour(build)} (L{lp_buildmaster.behaviours}, registered
in L{lp_buildmaster.components}): the dispatcher never tests a build's
type.

The module is a little over the project's ~400 lines: DESIGN.md keeps the
seed's BuilddMaster beside the Dispatcher it delegates to, so that a
reader sees the seed's names and what they run together; the rest of
dispatch is split out (instant, vmreset, emptykinds).

Imports: buildergroup, the scanner (the seed's C{scanActiveBuilders}
runs its scanners), emptykinds, the slave client, model, store, instant,
fetchrefusal (judging a builder's refusal of a file; C{DispatchError}
is re-exported from it), vmreset and interfaces; nothing above.
"""

import dataclasses
import logging

from twisted.internet import defer
from twisted.python import failure

from lp_buildmaster import metrics
from lp_buildmaster.buildergroup import (
    BuilderGroup, BuilderHandle, Job, librarianOrUtility, utcnow)
from lp_buildmaster.clock import orReactor
from lp_buildmaster.emptykinds import EmptyKinds
from lp_buildmaster.fetchrefusal import DispatchError, judgeFetchRefusal
from lp_buildmaster.instant import InstantDispatch, parseQueuePayload
from lp_buildmaster.interfaces import IBuildFarmJobBehaviour, ISlave
from lp_buildmaster.model.policy import checkDispatchPolicy
from lp_buildmaster.model.records import makeCookie
from lp_buildmaster.scanner import ScannerManager
from lp_buildmaster.slave import InvalidBuildRequest
from lp_buildmaster.vmreset import ResetFailed, resetBuilder, runCommand

__all__ = [
    "BuilddMaster", "DispatchError", "Dispatcher",
    "InstantDispatch", "QueueItem", "ResetFailed",
    "parseQueuePayload", "runCommand",
]


class Dispatcher:
    """Starts jobs on idle builders.

    @ivar idleCalls: how many times L{builderIdle} was called.
    @ivar lastIdle: C{{builder id: (call number, outcome)}} of each
        builder's latest L{builderIdle}: outcome None while it runs, then
        C{"dispatched"}, C{"none"} (nothing to take, or the builder may
        take nothing) or C{"failed"}. L{InstantDispatch} reads it to know
        which builders are busy and whether a builder it woke took a job.
    """

    def __init__(self, store, librarian, clock=None, logger=None,
                 archive_url="http://127.0.0.1/ubuntu",
                 build_url="http://127.0.0.1:8010/builds/%d",
                 reset_command=None, reset_timeout=300.0, reactor=None,
                 empty_for=0.0):
        """
        @param reset_command: for virtualized builders, the command (a
            string, C{{vm_host}} and C{{name}} substituted) that resets a
            dirty builder; None to reset nothing and only check it echoes.
        @param empty_for: once a reservation found nothing for a processor
            and virtualization, idle builders of that kind ask again only
            after this many seconds or once L{jobQueued} says a job came
            (instant dispatch does); 0 asks at every idle scan
            (L{EmptyKinds}).
        """
        clock = orReactor(clock)
        reactor = orReactor(reactor)
        self.store = store
        self.librarian = librarian
        self.clock = clock
        self.reactor = reactor
        self.logger = logger or logging.getLogger("lp_buildmaster.dispatch")
        self.archive_url = archive_url
        self.build_url = build_url
        self.reset_command = reset_command
        self.reset_timeout = reset_timeout
        self.idleCalls = 0
        self.lastIdle = {}
        self.empty = EmptyKinds(clock, empty_for)

    librarian = librarianOrUtility

    def builderIdle(self, builder, vitals=None, queue_id=None):
        """An IDLE builder with nothing assigned: give it a job.

        @param queue_id: the queue entry to give it (the seed's
            L{BuilddMaster.startBuild}); by default the best candidate.
        @return: Deferred firing with the started L{Job}, or None.
        """
        builder_id = builder.record.id
        self.idleCalls += 1
        call = self.idleCalls
        self.lastIdle[builder_id] = (call, None)

        def done(result):
            if self.lastIdle.get(builder_id, (call,))[0] == call:
                if isinstance(result, failure.Failure):
                    outcome = "failed"
                else:
                    outcome = "dispatched" if result is not None else "none"
                self.lastIdle[builder_id] = (call, outcome)
            return result
        return self._builderIdle(builder, queue_id).addBoth(done)

    def builderFreed(self, builder_id):
        """A builder's job went away (LISTEN builder_freed): it is not busy
        with a job of ours any more."""
        entry = self.lastIdle.get(builder_id)
        if entry is not None and entry[1] == "dispatched":
            self.lastIdle[builder_id] = (entry[0], "freed")

    def busy(self, builder_id):
        """Whether this dispatcher gave the builder a job that has not
        gone away yet (the scanner's snapshot may not say so yet)."""
        entry = self.lastIdle.get(builder_id)
        return entry is not None and entry[1] in ("dispatched", None)

    @defer.inlineCallbacks
    def _builderIdle(self, builder, queue_id=None):
        record = builder.record
        if record.manual or not record.builderok or not record.active:
            return None
        if record.virtualized and not record.clean:
            yield self.resetBuilder(builder)
        key = (record.processor, record.virtualized)
        if queue_id is not None:
            # The seed's startBuild: that entry, whatever the answer for
            # this kind of builder.
            reservation = yield self.store.dispatch.reserve(
                record.id, record.processor, record.virtualized,
                queue_id=queue_id)
            job = yield self._dispatchReserved(builder, reservation)
            return job
        reservation = yield self.empty.reserve(
            key, lambda: self.store.dispatch.reserve(
                record.id, record.processor, record.virtualized))
        job = yield self._dispatchReserved(builder, reservation)
        return job

    def jobQueued(self, processor, virtualized=None):
        """A job was queued (or given back) for C{processor} and
        C{virtualized} (None: either): idle builders ask again."""
        self.empty.queued(processor, virtualized)

    @defer.inlineCallbacks
    def _dispatchReserved(self, builder, reservation):
        if reservation is None:
            return None
        for build_id in reservation.superseded:
            self.logger.info("Build %d is superseded: its source is no "
                             "longer published", build_id)
        if reservation.queue_id is None:
            return None
        queue = yield self.store.queue.get(reservation.queue_id)
        build = yield self.store.builds.get(reservation.build_id)
        job = Job(queue, build, builder)
        started = yield self.startJob(job)
        return job if started else None

    @defer.inlineCallbacks
    def startJob(self, job):
        """Send a reserved job to its builder and mark it BUILDING.

        Anything failing before build() answers releases the reservation:
        the job is as it was, for the next builder. A failure of the
        builder is re-raised for the scanner to count.
        """
        builder = job.builder
        started_at = self.clock.seconds()
        try:
            request = yield self.buildRequest(job)
            yield self.sendFiles(builder, request)
            yield builder.slave.build(*request)
        except InvalidBuildRequest as e:
            yield self.store.dispatch.refuse(job.queue.id, builder.id, str(e))
            self.logger.error("Build %d cannot be dispatched: %s",
                              job.build.id, e)
            return False
        except Exception:
            yield self.store.dispatch.release(job.queue.id, builder.id)
            raise
        started = yield self.store.dispatch.start(
            job.queue.id, builder.id, utcnow(self.clock))
        latency = self.clock.seconds() - started_at
        metrics.DISPATCH_LATENCY.observe(max(0.0, latency))
        if job.build.datecreated is not None:
            waited = utcnow(self.clock) - job.build.datecreated
            metrics.QUEUE_WAIT.observe(max(0.0, waited.total_seconds()))
        self.logger.info("Dispatched %s (%s) to builder '%s'",
                         job.build.title, job.cookie, builder.name)
        return started

    def buildRequest(self, job):
        """The job's build() request, composed by its behaviour
        (C{IBuildFarmJobBehaviour(job.build)}): a
        L{lp_buildmaster.behaviours.BuildRequest}, whose files are to be
        ensured first.

        @raise InvalidBuildRequest: (in the Deferred) no behaviour is
            registered for the build's job type, or it cannot compose the
            request (no chroot, no .dsc, ...).
        """
        try:
            behaviour = IBuildFarmJobBehaviour(job.build)
        except TypeError:
            return defer.fail(InvalidBuildRequest(
                job.builder.name, "%s: no behaviour for job type %r"
                % (job.build.title, getattr(job.build, "job_type", None))))
        return behaviour.composeBuildRequest(job, self)

    @defer.inlineCallbacks
    def sendFiles(self, builder, request):
        """ensurepresent() every file, in parallel.

        @raise DispatchError: a file the builder could not fetch.
        """
        results = yield defer.DeferredList(
            [builder.slave.ensurepresent(sha1, url)
             for sha1, url in request.files],
            consumeErrors=True)
        for (ok, result), (sha1, url) in zip(results, request.files):
            if not ok:
                result.raiseException()
            present, info = result
            if not present:
                yield self.judgeFetchRefusal(builder, sha1, url, info)

    def judgeFetchRefusal(self, builder, sha1, url, info):
        """The builder would not fetch C{url}, saying C{info}: judged by
        checking the file through our librarian
        (L{lp_buildmaster.fetchrefusal.judgeFetchRefusal}); always fails.
        """
        return judgeFetchRefusal(self.librarian, builder.name, sha1, url,
                                 info)

    def resetBuilder(self, builder):
        """Reset a dirty virtualized builder, then check it answers
        (L{lp_buildmaster.vmreset.resetBuilder}).

        @raise ResetFailed: the command failed or timed out.
        """
        return resetBuilder(builder, self.store, self.reactor, self.clock,
                            self.reset_command, self.reset_timeout,
                            self.logger)


class BuilddMaster:
    """The seed's BuilddMaster, over the machinery production runs.

    C{scanActiveBuilders} is one pass of the L{ScannerManager}'s scanners
    (the per-builder logic of L{BuilderGroup}), and C{dispatchByProcessor}
    and C{startBuild} give jobs through L{Dispatcher.builderIdle} and the
    store's candidate selection, as each idle builder's scan does in
    production. What only the seed does (taking arch releases in hand,
    grouping builders and pending jobs by processor) says so and stays
    thin: production keeps no such lists, the database selects.

    @ivar manager: the L{ScannerManager} (never started as a service)
        whose scanners C{scanActiveBuilders} runs; its group,
        C{self.group}, holds the builders it scans.
    @ivar _archreleases: C{{distroarchrelease: {'builders': group}}} for
        every arch release that has a chroot.
    """

    def __init__(self, logger, store, librarian=None, slaveFactory=None,
                 dispatcher=None, group=None, clock=None):
        """
        @param slaveFactory: C{f(builder record)} -> its client; by
            default C{ISlave}, as production gets a builder's client.
        """
        if slaveFactory is None:
            slaveFactory = ISlave
        self.logger = logger
        self.store = store
        self.librarian = librarian
        self.slaveFactory = slaveFactory
        self.clock = clock
        self.dispatcher = dispatcher or Dispatcher(
            store, librarian, clock=clock, logger=logger)
        self.group = group or BuilderGroup(logger, store, librarian,
                                           clock=clock)
        self.manager = ScannerManager(store, self.group, slaveFactory,
                                      clock=clock, logger=logger)
        self._archreleases = {}
        self._groups = {}

    @defer.inlineCallbacks
    def addDistroArchRelease(self, archrelease):
        """Take an arch release in hand if it has a chroot to build in.

        Seed only: production's candidate selection skips jobs without a
        chroot for their pocket."""
        chroots = yield self.store.distro.chroots(archrelease.id)
        if any(c.chroot is not None for c in chroots):
            self._archreleases.setdefault(archrelease, {})

    @defer.inlineCallbacks
    def setupBuilders(self, archrelease):
        """Give an arch release the BuilderGroup of its processor, and say
        so when none of its builders is available.

        Seed only: production's group is every builder the scanner
        manager holds."""
        if archrelease not in self._archreleases:
            return
        group = self._groups.get(archrelease.processor)
        if group is None:
            group = BuilderGroup(
                logging.getLogger("root.builders.%s"
                                  % archrelease.processor_name),
                self.store, self.librarian, clock=self.clock,
                processor=archrelease.processor)
            builders = yield self.store.builders.all(archrelease.processor)
            for record in builders:
                group.builders.append(
                    BuilderHandle(record, self.slaveFactory(record)))
            self._groups[archrelease.processor] = group
        self._archreleases[archrelease]["builders"] = group
        available = yield group.firstAvailable()
        if available is None:
            group.logger.warning("No builders are available")

    def scanActiveBuilders(self):
        """Scan every builder once, as the running master's scanners do
        (L{ScannerManager.scanOnce}): collect what finished, rescue the
        lost, keep the log tails."""
        return self.manager.scanOnce()

    @defer.inlineCallbacks
    def sortAndSplitByProcessor(self):
        """Pending jobs of the arch releases in hand, by processor, in
        dispatch order: C{{Processor: [Job without builder]}}.

        Seed only: production never lists the queue to dispatch; each
        idle builder asks the database for its best candidate."""
        wanted = {dar.id for dar in self._archreleases}
        pending = yield self.store.queue.pending()
        builds = yield self.store.builds.getMany([q.build for q in pending])
        byproc = {}
        processors = {}
        for queue in pending:
            build = builds[queue.build]
            if build.distroarchrelease not in wanted:
                continue
            if build.processor not in processors:
                processors[build.processor] = (
                    yield self.store.distro.getProcessor(build.processor))
            byproc.setdefault(processors[build.processor], []).append(
                QueueItem(queue, build))
        return byproc

    @defer.inlineCallbacks
    def dispatchByProcessor(self, processor, queueItems):
        """Start each queue item on the first available builder of its
        processor (L{startBuild}); one whose source is superseded becomes
        SUPERSEDED instead, on the way, as candidate selection finds it."""
        group = self._groups.get(processor.id)
        if group is None:
            return
        for item in queueItems:
            builder = yield group.firstAvailable(
                virtualized=item.queue.virtualized)
            if builder is None:
                group.logger.debug("No builder available for %s",
                                   item.build.title)
                return
            yield self.startBuild(group, builder, item)

    @defer.inlineCallbacks
    def startBuild(self, group, builder, item):
        """Start C{item} on C{builder} through L{Dispatcher.builderIdle}.

        With no chroot for its pocket the build is left as it is; a pocket
        its series may not build raises (the seed's AssertionError; the
        candidate selection of production never selects such a job).
        """
        build = item.build
        chroot = yield self.store.distro.getChroot(build.distroarchrelease,
                                                   build.pocket)
        if chroot is None or chroot.chroot is None:
            self.logger.info("No chroot for %s in pocket %s; left as it is",
                             build.title, build.pocket.name)
            return None
        checkDispatchPolicy(build)
        job = yield self.dispatcher.builderIdle(builder,
                                                queue_id=item.queue.id)
        return job


@dataclasses.dataclass(frozen=True)
class QueueItem:
    """A pending queue entry with its build, as the seed's loops see it."""

    queue: object
    build: object

    @property
    def id(self):
        return self.queue.id

    @property
    def cookie(self):
        return makeCookie(self.build.id, self.queue.id)
