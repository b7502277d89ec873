"""The checked operations on builds and builders that the command line,
the JSON API and the pages share (through L{lp_buildmaster.actions}):
requesting (of a job type: the branch URL of a translation-templates build
checked), retrying, cancelling and rescoring a build; adding and setting
a builder; and looking up what they name. A refusal is one L{Refused}
line, the same wherever it is shown.

Below the actions and C{buildmaster-admin}; imports only the store, the
model and the enums.
"""

import re
from urllib.parse import urlparse

from twisted.internet import defer

from lp_buildmaster.enums import BuildStatus, PackagePublishingPocket
from lp_buildmaster.model.builderstate import builderStatus
from lp_buildmaster.store.builders import DuplicateName
from lp_buildmaster.store.builds import DuplicateBuild


class Refused(Exception):
    """An operation refused for what was asked (a bad value, a wrong
    state, something unknown): the message, one line, says why. The CLI
    prints it; the API answers 400 (404 when it starts with "unknown")."""


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


#: The job types a build can be requested of (the behaviours registered
#: in components.py), the default first; the checks and the store method of
#: each are in L{requestBuild}.
JOB_TYPES = ("binarypackage", "translation-templates")
#: What a branch URL may start with: what launchpad-buildd's generator
#: hands to git or bzr.
BRANCH_SCHEMES = ("https", "http", "git", "git+ssh", "ssh", "bzr",
                  "bzr+ssh")
MAX_BRANCH_URL = 1000


def checkBranchURL(url):
    """Refuse what cannot be a branch the builder clones: a scheme of
    L{BRANCH_SCHEMES}, a valid host, a path, no password (a user name
    only with ssh), no white space or control characters, at most
    L{MAX_BRANCH_URL} characters. The URL is written in the build log,
    so no secret belongs in it.

    @raise Refused: naming what is wrong.
    """
    problem = None
    if len(url) > MAX_BRANCH_URL:
        raise Refused("malformed branch URL: longer than %d characters"
                      % MAX_BRANCH_URL)
    parsed = urlparse(url)
    userinfo, _, hostport = parsed.netloc.rpartition("@")
    host, _, port = hostport.partition(":")
    if parsed.scheme not in BRANCH_SCHEMES:
        problem = "the scheme must be one of %s" % ", ".join(BRANCH_SCHEMES)
    elif any(c.isspace() or not c.isprintable() for c in url):
        problem = "it holds white space or control characters"
    elif ":" in userinfo:
        problem = "no password"
    elif userinfo and "ssh" not in parsed.scheme:
        problem = "no password; a user name only with ssh"
    elif port and (not port.isdigit() or not 1 <= int(port) <= 65535):
        problem = "the port must be a number from 1 to 65535"
    elif parsed.fragment or "#" in url:
        problem = "no fragment"
    elif parsed.path in ("", "/"):
        problem = "no path to the branch"
    else:
        problem = _hostProblem(host)
    if problem:
        raise Refused("malformed branch URL %r (%s)" % (url, problem))
    return url


def checkJobType(job_type, branch):
    """The job type, which must be one of L{JOB_TYPES}; a
    translation-templates build needs a branch (a valid URL), a binary
    package build takes none.

    @raise Refused: naming what is wrong.
    """
    if job_type not in JOB_TYPES:
        raise Refused("job type %r cannot be requested; choose one of %s"
                      % (job_type, ", ".join(JOB_TYPES)))
    if job_type == "translation-templates":
        if not branch:
            raise Refused("a translation-templates build needs a branch")
        checkBranchURL(branch)
    elif branch is not None:
        raise Refused("only a translation-templates build takes a branch")
    return job_type


@defer.inlineCallbacks
def requestBuild(store, args):
    """A build of C{args.job_type} (default binarypackage; a
    translation-templates build with its C{args.branch}) of a source
    published in the series' pocket of the archive. Fires with its id."""
    job_type = checkJobType(getattr(args, "job_type", None) or
                            JOB_TYPES[0], getattr(args, "branch", None))
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
        if job_type == "translation-templates":
            return (yield store.jobtypes.requestTranslationTemplates(
                dar.id, spr.id, archive.id, pocket, args.branch))
        return (yield store.builds.request(dar.id, spr.id, archive.id,
                                           pocket))
    except DuplicateBuild as e:
        raise Refused(
            "%sbuild %d of %s %s for %s in %s is %s already"
            % ("" if job_type == JOB_TYPES[0] else job_type + " ",
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


#: A host name (RFC 1123 labels) or a dotted IPv4 address.
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _hostProblem(host):
    if not host or len(host) > 253:
        return "no host"
    if host.startswith("["):
        return "IPv6 addresses are not supported; use a host name"
    labels = host.rstrip(".").split(".")
    if all(label.isdigit() for label in labels):
        if len(labels) != 4 or any(int(label) > 255 for label in labels):
            return "bad IPv4 address"
        return None
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return "bad host name"
    return None


def checkBuilderURL(url):
    """Refuse what cannot be a builder's XML-RPC address: only
    C{http(s)://HOST:PORT/}, with a valid host, a port from 1 to 65535,
    and no credentials, path, query or fragment.

    @raise Refused: naming what is wrong.
    """
    problem = None
    parsed = urlparse(url)
    netloc = parsed.netloc
    host, _, port = netloc.rpartition(":")
    if parsed.scheme not in ("http", "https"):
        problem = "the scheme must be http or https"
    elif any(c.isspace() or not c.isprintable() for c in url):
        problem = "it holds white space or control characters"
    elif "@" in netloc:
        problem = "no user name or password"
    elif parsed.query or "?" in url:
        problem = "no query"
    elif parsed.fragment or "#" in url:
        problem = "no fragment"
    elif not port.isdigit() or not 1 <= int(port) <= 65535:
        problem = "the port must be a number from 1 to 65535"
    elif parsed.path != "/" or parsed.params:
        problem = "the path must be /"
    else:
        problem = _hostProblem(host)
    if problem:
        raise Refused(
            "malformed builder URL %r: it must be http(s)://HOST:PORT/ (%s)"
            % (url, problem))
    return url


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
