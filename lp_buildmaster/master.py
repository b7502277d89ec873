"""BuilddMaster: dispatching queued builds to idle builders.

L{Dispatcher} gives an idle builder the best job it may build: the
scanner calls L{Dispatcher.builderIdle} from the builder's own scan (so a
builder is never scanned and dispatched at once), and LISTEN/NOTIFY wakes
idle builders the moment a job is queued or a builder is freed
(L{InstantDispatch}), instead of at their next scan.

L{BuilddMaster} keeps the seed's names over the same machinery:
C{addDistroArchRelease}, C{setupBuilders}, C{scanActiveBuilders},
C{sortAndSplitByProcessor}, C{dispatchByProcessor} and C{startBuild}.
"""

import dataclasses
import logging
import shlex

from twisted.application import service
from twisted.internet import defer, error, protocol
from txpostgres import txpostgres

from lp_buildmaster import metrics
from lp_buildmaster.buildergroup import BuilderGroup, BuilderHandle, Job, utcnow
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.model.policy import checkDispatchPolicy
from lp_buildmaster.model.records import makeCookie
from lp_buildmaster.slave import InvalidBuildRequest, SlaveError

BUILD_TYPE = "binarypackage"


class DispatchError(SlaveError):
    """The builder would not take a job (it refused a file or the build)."""


class ResetFailed(SlaveError):
    """A virtualized builder's reset command failed or timed out."""


def buildArgs(build, arch_indep, archive_url, build_url):
    """The arguments a real builder needs for a binary package build."""
    components = "main restricted universe multiverse"
    return {
        "arch_tag": build.architecturetag,
        "arch_indep": arch_indep,
        "distribution": build.distribution_name,
        "series": build.distrorelease_name,
        "suite": build.suite,
        "ogrecomponent": build.component,
        "archive_purpose": build.archive_purpose.name,
        "archive_private": build.archive_private,
        "archives": ["deb %s %s %s" % (archive_url, build.suite,
                                       components)],
        "build_url": build_url,
        "trusted_keys": [],
    }


class Dispatcher:
    """Starts jobs on idle builders.

    @ivar latencies: seconds from a builder found idle to its build()
        answering, for the benchmark and metrics.
    """

    def __init__(self, store, librarian, clock=None, logger=None,
                 archive_url="http://127.0.0.1/ubuntu",
                 build_url="http://127.0.0.1:8010/builds/%d",
                 reset_command=None, reset_timeout=300.0, reactor=None):
        """
        @param reset_command: for virtualized builders, the command (a
            string, C{{vm_host}} and C{{name}} substituted) that resets a
            dirty builder; None to reset nothing and only check it echoes.
        """
        if clock is None:
            from twisted.internet import reactor as clock
        if reactor is None:
            from twisted.internet import reactor
        self.store = store
        self.librarian = librarian
        self.clock = clock
        self.reactor = reactor
        self.logger = logger or logging.getLogger("lp_buildmaster.dispatch")
        self.archive_url = archive_url
        self.build_url = build_url
        self.reset_command = reset_command
        self.reset_timeout = reset_timeout
        self.group = None

    @defer.inlineCallbacks
    def builderIdle(self, builder, vitals=None):
        """An IDLE builder with nothing assigned: give it a job.

        @return: Deferred firing with the started L{Job}, or None.
        """
        record = builder.record
        if record.manual or not record.builderok or not record.active:
            return None
        if record.virtualized and not record.clean:
            yield self.resetBuilder(builder)
        reservation = yield self.store.dispatch.reserve(
            record.id, record.processor, record.virtualized)
        job = yield self._dispatchReserved(builder, reservation)
        return job

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
        except InvalidBuildRequest as e:
            yield self.store.dispatch.refuse(job.queue.id, builder.id, str(e))
            self.logger.error("Build %d cannot be dispatched: %s",
                              job.build.id, e)
            return False
        except Exception:
            yield self.store.dispatch.release(job.queue.id, builder.id)
            raise
        try:
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

    @defer.inlineCallbacks
    def buildRequest(self, job):
        """C{(cookie, build_type, chroot_sha1, filemap, args)} and the
        files to ensure, as C{request.files}: C{[(sha1, url)]}.

        @raise InvalidBuildRequest: the source has no .dsc or the chroot
            is missing.
        """
        build = job.build
        context = yield self.store.dispatch.context(
            build.id, build.sourcepackagerelease)
        if context.chroot is None:
            raise InvalidBuildRequest(
                job.builder.name, "no chroot for %s %s"
                % (build.title, build.pocket.name))
        aliases = yield self.store.library.getAliases(
            (context.chroot,) + context.source_files)
        chroot = aliases[context.chroot]
        filemap = {}
        files = {chroot.sha1: self.librarian.urlFor(
            chroot, token=chroot.restricted)}
        for alias_id in context.source_files:
            alias = aliases[alias_id]
            filemap[alias.filename] = alias.sha1
            files.setdefault(alias.sha1, self.librarian.urlFor(
                alias, token=alias.restricted))
        if not any(name.endswith(".dsc") for name in filemap):
            raise InvalidBuildRequest(
                job.builder.name, "%s has no .dsc among its files"
                % build.title)
        args = buildArgs(build, context.arch_indep, self.archive_url,
                         self.build_url % build.id)
        return _Request(job.cookie, BUILD_TYPE, chroot.sha1, filemap, args,
                        sorted(files.items()))

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
                raise DispatchError(
                    builder.name, "could not fetch %s from %s: %s"
                    % (sha1, url, info))

    @defer.inlineCallbacks
    def resetBuilder(self, builder):
        """Reset a dirty virtualized builder, then check it answers.

        @raise ResetFailed: the command failed or timed out.
        """
        record = builder.record
        if self.reset_command:
            command = self.reset_command.format(
                vm_host=record.vm_host or "", name=record.name)
            self.logger.info("Resetting builder '%s': %s", record.name,
                             command)
            yield runCommand(self.reactor, self.clock, shlex.split(command),
                             self.reset_timeout, record.name)
        yield builder.slave.echo("ready")
        yield self.store.builders.update(record.id, clean=True)
        builder.record = dataclasses.replace(record, clean=True)


@dataclasses.dataclass(frozen=True)
class _Request:
    cookie: str
    build_type: str
    chroot_sha1: str
    filemap: dict
    args: dict
    files: list

    def __iter__(self):
        return iter((self.cookie, self.build_type, self.chroot_sha1,
                     self.filemap, self.args))


class _CommandProtocol(protocol.ProcessProtocol):
    def __init__(self, done):
        self.done = done
        self.output = b""

    def outReceived(self, data):
        self.output = (self.output + data)[-4096:]

    errReceived = outReceived

    def processEnded(self, reason):
        self.done.callback(reason.value)


@defer.inlineCallbacks
def runCommand(reactor, clock, argv, timeout, name):
    """Run C{argv}; kill it after C{timeout} seconds of C{clock}.

    @raise ResetFailed: it failed, could not start, or timed out.
    """
    done = defer.Deferred()
    proto = _CommandProtocol(done)
    try:
        process = reactor.spawnProcess(proto, argv[0], argv, env=None)
    except OSError as e:
        raise ResetFailed(name, "cannot run %s: %s" % (argv[0], e))
    timer = clock.callLater(timeout, process.signalProcess, "KILL")
    try:
        reason = yield done
    finally:
        if timer.active():
            timer.cancel()
    if isinstance(reason, error.ProcessDone):
        return proto.output
    if getattr(reason, "signal", None) == 9 and not timer.active():
        raise ResetFailed(name, "reset command timed out after %d s"
                          % timeout)
    raise ResetFailed(name, "reset command failed (exit %s): %s" % (
        getattr(reason, "exitCode", "?"),
        proto.output.decode("utf-8", "replace").strip()[-200:]))


class InstantDispatch(service.Service):
    """LISTEN for queued jobs and freed builders; wake idle builders.

    C{buildqueue} (a job is waiting, payload the processor) makes every
    idle automatic builder of that processor scan at once; C{builders}
    (a builder was added or changed) refreshes the scanner manager.
    """

    CHANNELS = ("buildqueue", "builder_freed", "builders")

    def __init__(self, dsn, manager, logger=None):
        self.dsn = dsn
        self.manager = manager
        self.logger = logger or logging.getLogger("lp_buildmaster.dispatch")
        self.conn = None
        self._pending = set()
        self._scheduled = None

    @defer.inlineCallbacks
    def startService(self):
        super().startService()
        self.conn = txpostgres.Connection()
        yield self.conn.connect(self.dsn)
        self.conn.addNotifyObserver(self._notified)
        for channel in self.CHANNELS:
            yield self.conn.runOperation("LISTEN %s" % channel)

    def stopService(self):
        super().stopService()
        if self._scheduled is not None and self._scheduled.active():
            self._scheduled.cancel()
        self._scheduled = None
        if self.conn is not None:
            self.conn.removeNotifyObserver(self._notified)
            self.conn.close()
            self.conn = None
        return defer.succeed(None)

    def _notified(self, notify):
        self._pending.add((notify.channel, notify.payload))
        if self._scheduled is None:
            # Coalesce a burst of notifications into one wake-up.
            self._scheduled = self.manager.clock.callLater(0, self._wake)

    def _wake(self):
        self._scheduled = None
        pending, self._pending = self._pending, set()
        if any(channel == "builders" for channel, _ in pending):
            self.manager.refresh()
        processors = {int(payload) for channel, payload in pending
                      if channel == "buildqueue" and payload.isdigit()}
        freed = {int(payload) for channel, payload in pending
                 if channel == "builder_freed" and payload.isdigit()}
        woken = self.manager.wakeIdle(processors, freed)
        if woken:
            self.logger.debug("instant dispatch woke %d builders", woken)


class BuilddMaster:
    """The seed's BuilddMaster over the dispatcher and the scanners.

    @ivar _archreleases: C{{distroarchrelease: {'builders': group}}} for
        every arch release that has a chroot.
    """

    def __init__(self, logger, store, librarian=None, slaveFactory=None,
                 dispatcher=None, group=None, clock=None):
        self.logger = logger
        self.store = store
        self.librarian = librarian
        self.slaveFactory = slaveFactory
        self.clock = clock
        self.dispatcher = dispatcher or Dispatcher(
            store, librarian, clock=clock, logger=logger)
        self.group = group or BuilderGroup(logger, store, librarian,
                                           clock=clock)
        self._archreleases = {}
        self._groups = {}

    @defer.inlineCallbacks
    def addDistroArchRelease(self, archrelease):
        """Take an arch release in hand if it has a chroot to build in."""
        chroots = yield self.store.distro.chroots(archrelease.id)
        if any(c.chroot is not None for c in chroots):
            self._archreleases.setdefault(archrelease, {})

    @defer.inlineCallbacks
    def setupBuilders(self, archrelease):
        """Give an arch release the BuilderGroup of its processor, and say
        so when none of its builders is available."""
        if archrelease not in self._archreleases:
            return
        group = self._groups.get(archrelease.processor)
        if group is None:
            group = BuilderGroup(
                logging.getLogger("root.builders.%s"
                                  % archrelease.processor_name),
                self.store, self.librarian, clock=self.clock)
            builders = yield self.store.builders.all(archrelease.processor)
            for record in builders:
                group.builders.append(
                    BuilderHandle(record, self.slaveFactory(record)))
            self._groups[archrelease.processor] = group
        self._archreleases[archrelease]["builders"] = group
        available = yield group.firstAvailable()
        if available is None:
            group.logger.warning("No builders are available")

    @defer.inlineCallbacks
    def scanActiveBuilders(self):
        """Collect what every builder with a job reports, once."""
        for group in self._groups.values():
            for builder in group.builders:
                queue = yield self.store.queue.getByBuilder(builder.id)
                if queue is None or queue.buildstart is None:
                    continue
                build = yield self.store.builds.get(queue.build)
                try:
                    yield group.updateBuild(Job(queue, build, builder))
                except Exception as e:
                    self.logger.error("Builder '%s': %s", builder.name, e)
            yield group.flushLogtails()

    @defer.inlineCallbacks
    def sortAndSplitByProcessor(self):
        """Pending jobs of the arch releases in hand, by processor, in
        dispatch order: C{{Processor: [Job without builder]}}."""
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
        processor; a superseded one becomes SUPERSEDED instead."""
        group = self._groups.get(processor.id)
        for item in queueItems:
            published = yield self.store.sources.isPublished(
                item.build.sourcepackagerelease, item.build.distrorelease,
                item.build.archive)
            if not published:
                yield self.store.builds.transition(
                    item.build.id, BuildStatus.NEEDSBUILD,
                    BuildStatus.SUPERSEDED, dequeue=True)
                self.logger.info("Build %d is superseded", item.build.id)
                continue
            if group is None:
                continue
            builder = yield group.firstAvailable(
                virtualized=item.queue.virtualized)
            if builder is None:
                group.logger.debug("No builder available for %s",
                                   item.build.title)
                return
            yield self.startBuild(group, builder, item)

    @defer.inlineCallbacks
    def startBuild(self, group, builder, item):
        """Start C{item} on C{builder}.

        With no chroot for its pocket the build is left as it is; a pocket
        its series may not build raises (the seed's AssertionError).
        """
        build = item.build
        chroot = yield self.store.distro.getChroot(build.distroarchrelease,
                                                   build.pocket)
        if chroot is None or chroot.chroot is None:
            self.logger.info("No chroot for %s in pocket %s; left as it is",
                             build.title, build.pocket.name)
            return None
        checkDispatchPolicy(build)
        reservation = yield self.store.dispatch.reserve(
            builder.id, builder.record.processor, builder.record.virtualized,
            queue_id=item.queue.id)
        job = yield self.dispatcher._dispatchReserved(builder, reservation)
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
