"""The checked operations on builds and builders that the command line,
the JSON API and the pages share (through L{lp_buildmaster.actions}):
requesting a build (of any registered job type: its behaviour checks the
request and makes the build), retrying, cancelling and rescoring a build;
adding and setting a builder; and looking up what they name. A refusal is
one L{Refused} line, the same wherever it is shown.

Below the actions and C{buildmaster-admin}; imports only the store, the
model, the enums, the interfaces, L{lp_buildmaster.refusals} and the
registry (the job types are the behaviours registered there: no job
type is named here).
"""

from twisted.internet import defer

from lp_buildmaster.enums import BuildStatus, PackagePublishingPocket
from lp_buildmaster.interfaces import IBuild, IBuildFarmJobBehaviour
from lp_buildmaster.model.builderstate import builderStatus
from lp_buildmaster.model.records import DEFAULT_JOB_TYPE
from lp_buildmaster.refusals import (
    BRANCH_SCHEMES, MAX_BRANCH_URL, Refused, checkBranchURL,
    checkBuilderURL, hostProblem)
from lp_buildmaster.registry import namedAdapters
from lp_buildmaster.store.builders import DuplicateName
from lp_buildmaster.store.builds import DuplicateBuild

#: Importable from here as before they moved down to refusals.py.
__all__ = ["BRANCH_SCHEMES", "MAX_BRANCH_URL", "Refused", "checkBranchURL",
           "checkBuilderURL", "hostProblem"]


def parseEnum(enum, name, what):
    """C{enum.byName(name)}, or an L{Refused} naming the valid names."""
    try:
        return enum.byName(name)
    except KeyError:
        raise Refused("unknown %s %r; choose one of %s" % (
            what, name, ", ".join(n.lower() for n in enum.__members__))
        ) from None


#: PostgreSQL's integer (ids, scores, limits): numbers are checked against
#: the column they go into, so none overflows in the database.
INT4_MIN, INT4_MAX = -2 ** 31, 2 ** 31 - 1


@defer.inlineCallbacks
def processorNames(store):
    return {p.id: p.name for p in (yield store.distro.processors())}


@defer.inlineCallbacks
def getBuilder(store, name):
    builder = yield store.builders.getByName(name)
    if builder is None:
        raise Refused("unknown builder %r" % (name,))
    return builder


@defer.inlineCallbacks
def getBuild(store, build_id):
    build = yield store.builds.get(build_id)
    if build is None:
        raise Refused("unknown build %d" % (build_id,))
    return build


@defer.inlineCallbacks
def getDistribution(store, name):
    distribution = yield store.distro.getDistribution(name)
    if distribution is None:
        raise Refused("unknown distribution %r" % (name,))
    return distribution


@defer.inlineCallbacks
def getSeries(store, distribution, name):
    """The series C{name} of C{distribution}; an unknown distribution is
    named as such, not as an unknown series."""
    series = yield store.distro.getDistroRelease(distribution, name)
    if series is None:
        yield getDistribution(store, distribution)
        raise Refused("unknown series %r of %s" % (name, distribution))
    return series


@defer.inlineCallbacks
def getDistroArchRelease(store, distribution, series, arch):
    dar = yield store.distro.getDistroArchRelease(distribution, series, arch)
    if dar is None:
        yield getSeries(store, distribution, series)
        raise Refused("%s %s has no architecture %r"
                         % (distribution, series, arch))
    return dar


@defer.inlineCallbacks
def getArchive(store, distribution, name):
    archive = yield store.distro.getArchive(distribution, name)
    if archive is None:
        yield getDistribution(store, distribution)
        raise Refused("unknown archive %r of %s" % (name, distribution))
    return archive


@defer.inlineCallbacks
def getArchiveRow(store, distribution, name):
    """L{getArchive}, as the row C{archive list} shows."""
    archive = yield getArchive(store, distribution, name)
    return (yield store.world.archiveRows(archive_id=archive.id))[0]


@defer.inlineCallbacks
def getProcessor(store, name):
    processor = yield store.distro.getProcessor(name)
    if processor is None:
        known = yield store.distro.processors()
        raise Refused("unknown processor %r; known: %s" % (
            name, ", ".join(p.name for p in known) or "none"))
    return processor


#: States `build retry` takes a build from.
RETRYABLE_STATES = (
    BuildStatus.FAILEDTOBUILD, BuildStatus.MANUALDEPWAIT,
    BuildStatus.CHROOTWAIT, BuildStatus.FAILEDTOUPLOAD,
    BuildStatus.CANCELLED)


def cancelTarget(state):
    """What cancelling a build in C{state} does: C{(new state, drop the
    queue entry)}, or None if it cannot be cancelled.

    A waiting build is cancelled at once; a running one becomes
    CANCELLING and the scanner aborts it on the builder.
    """
    if state == BuildStatus.NEEDSBUILD:
        return BuildStatus.CANCELLED, True
    if state == BuildStatus.BUILDING:
        return BuildStatus.CANCELLING, False
    return None


def jobTypes():
    """C{{name: behaviour}} of the job types a build can be requested of:
    the L{IBuildFarmJobBehaviour} classes registered by job type
    (L{lp_buildmaster.components}), the default first, then by name."""
    behaviours = namedAdapters(IBuild, IBuildFarmJobBehaviour)
    return dict(sorted(behaviours.items(),
                       key=lambda item: (item[0] != DEFAULT_JOB_TYPE,
                                         item[0])))


def requestOptionNames(types=None):
    """The names of the options a request of some job type takes."""
    types = jobTypes() if types is None else types
    return sorted({name for behaviour in types.values()
                   for name in behaviour.request_options})


def checkJobType(job_type, options):
    """The job type, which must be one of L{jobTypes}, checked with the
    request's C{options} (C{{name: value}}, None when not given): an
    option its type does not take is refused, and the type's behaviour
    checks its own (C{checkRequest}).

    @raise Refused: naming what is wrong.
    """
    types = jobTypes()
    behaviour = types.get(job_type)
    if behaviour is None:
        raise Refused("job type %r cannot be requested; choose one of %s"
                      % (job_type, ", ".join(types)))
    for name, value in sorted(options.items()):
        if value is not None and name not in behaviour.request_options:
            takers = [other for other, b in types.items()
                      if name in b.request_options]
            raise Refused("only a %s build takes a %s"
                          % (" or a ".join(takers) or "no", name))
    behaviour.checkRequest({name: options.get(name)
                            for name in behaviour.request_options})
    return job_type


@defer.inlineCallbacks
def requestBuild(store, args):
    """A build of C{args.job_type} (default L{DEFAULT_JOB_TYPE}) of a
    source published in the series' pocket of the archive, made by the
    type's behaviour with its options (the attributes of C{args} named by
    L{requestOptionNames}). Fires with its id."""
    types = jobTypes()
    options = {name: getattr(args, name, None)
               for name in requestOptionNames(types)}
    job_type = checkJobType(getattr(args, "job_type", None) or
                            DEFAULT_JOB_TYPE, options)
    behaviour = types[job_type]
    pocket = parseEnum(PackagePublishingPocket, args.pocket, "pocket")
    dar = yield getDistroArchRelease(store, args.distribution, args.series,
                                     args.arch)
    archive = yield getArchive(store, args.distribution, args.archive)
    spr = yield store.sources.getByNameVersion(args.source, args.version)
    if spr is None:
        raise Refused("unknown source %s %s"
                         % (args.source, args.version))
    where = "%s %s %s (archive %s)" % (args.distribution, args.series,
                                       pocket.name, archive.name)
    published = yield store.sources.isPublishedInPocket(
        spr.id, dar.distrorelease, archive.id, pocket)
    if not published:
        raise Refused("source %s %s is not published in %s"
                         % (spr.name, spr.version, where))
    try:
        return (yield behaviour.request(
            store, dar, spr, archive, pocket,
            {name: options[name] for name in behaviour.request_options}))
    except DuplicateBuild as e:
        raise Refused(
            "%sbuild %d of %s %s for %s in %s is %s already"
            % ("" if job_type == DEFAULT_JOB_TYPE else job_type + " ",
               e.build_id, spr.name, spr.version, args.arch, where,
               e.state.name)) from None


@defer.inlineCallbacks
def retryBuild(store, build_id):
    build = yield getBuild(store, build_id)
    queue_id = yield store.builds.retry(build_id, RETRYABLE_STATES)
    if queue_id is None:
        raise Refused(
            "build %d is %s; only %s builds can be retried"
            % (build_id, build.buildstate.name,
               ", ".join(s.name for s in RETRYABLE_STATES)))


@defer.inlineCallbacks
def cancelBuild(store, build_id):
    build = yield getBuild(store, build_id)
    target = cancelTarget(build.buildstate)
    if target is None:
        raise Refused(
            "build %d is %s; only NEEDSBUILD and BUILDING builds can be "
            "cancelled" % (build_id, build.buildstate.name))
    state, dequeue = target
    done = yield store.builds.transition(build_id, build.buildstate, state,
                                         dequeue=dequeue)
    if not done:
        raise Refused("build %d changed state meanwhile; try again"
                         % (build_id,))
    return state


@defer.inlineCallbacks
def rescoreBuild(store, build_id, score):
    build = yield getBuild(store, build_id)
    queue = yield store.queue.getByBuild(build_id)
    if queue is None or queue.builder is not None:
        raise Refused("build %d is not waiting in the queue (it is %s)"
                         % (build_id, build.buildstate.name))
    if not (yield store.queue.rescore(queue.id, score)):
        raise Refused("build %d left the queue meanwhile" % (build_id,))


def builderRow(builder, processors, running=None, buildstate=None):
    """A builder as C{builder list} shows it.

    @param running: its queue entry, if it has one.
    @param buildstate: the state of that entry's build.
    """
    return {
        "name": builder.name,
        "url": builder.url,
        "processor": processors.get(builder.processor, builder.processor),
        "virtualized": builder.virtualized,
        "manual": builder.manual,
        "active": builder.active,
        "builderok": builder.builderok,
        "failnotes": builder.failnotes,
        "failure_count": builder.failure_count,
        "vm_host": builder.vm_host,
        "status": builderStatus(builder, running is not None, buildstate),
        "current_build": None if running is None else running.build,
    }


@defer.inlineCallbacks
def addBuilder(store, args):
    processor = yield getProcessor(store, args.processor)
    try:
        return (yield store.builders.add(
            args.name, args.url, processor.id, title=args.title or "",
            virtualized=args.virtualized, manual=args.manual,
            vm_host=args.vm_host))
    except DuplicateName:
        raise Refused("a builder named %r exists already" % (args.name,))


@defer.inlineCallbacks
def setBuilder(store, args):
    builder = yield getBuilder(store, args.name)
    values = {}
    if args.enable:
        values.update(active=True, builderok=True, failnotes=None,
                      failure_count=0)
    elif args.disable is not None:
        if not args.disable.strip():
            raise Refused("--disable needs a reason")
        # The seed's failbuilder: the dispatcher skips a builder that is
        # not ok, the notes say why. active=false stays for retired ones.
        values.update(builderok=False, failnotes=args.disable.strip())
    if args.manual:
        values["manual"] = True
    elif args.auto:
        values["manual"] = False
    yield store.builders.update(builder.id, **values)
    builder = yield store.builders.get(builder.id)
    running = yield store.queue.getByBuilder(builder.id)
    build = None
    if running is not None:
        build = yield store.builds.get(running.build)
    return builderRow(builder, (yield processorNames(store)), running,
                      None if build is None else build.buildstate)
