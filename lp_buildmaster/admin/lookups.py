"""Looking up what a command names (builder, build, processor,
distribution, series, architecture, archive), refusing with one line
naming what is unknown."""

from twisted.internet import defer

from lp_buildmaster.admin.command import AdminError
from lp_buildmaster.store.world import WorldError


@defer.inlineCallbacks
def processorNames(store):
    return {p.id: p.name for p in (yield store.distro.processors())}


@defer.inlineCallbacks
def getBuilder(store, name):
    builder = yield store.builders.getByName(name)
    if builder is None:
        raise AdminError("unknown builder %r" % (name,))
    return builder


@defer.inlineCallbacks
def getBuild(store, build_id):
    build = yield store.builds.get(build_id)
    if build is None:
        raise AdminError("unknown build %d" % (build_id,))
    return build


@defer.inlineCallbacks
def getDistribution(store, name):
    distribution = yield store.distro.getDistribution(name)
    if distribution is None:
        raise AdminError("unknown distribution %r" % (name,))
    return distribution


@defer.inlineCallbacks
def getSeries(store, distribution, name):
    """The series C{name} of C{distribution}; an unknown distribution is
    named as such, not as an unknown series."""
    series = yield store.distro.getDistroRelease(distribution, name)
    if series is None:
        yield getDistribution(store, distribution)
        raise AdminError("unknown series %r of %s" % (name, distribution))
    return series


@defer.inlineCallbacks
def getDistroArchRelease(store, distribution, series, arch):
    dar = yield store.distro.getDistroArchRelease(distribution, series, arch)
    if dar is None:
        yield getSeries(store, distribution, series)
        raise AdminError("%s %s has no architecture %r"
                         % (distribution, series, arch))
    return dar


@defer.inlineCallbacks
def getArchive(store, distribution, name):
    archive = yield store.distro.getArchive(distribution, name)
    if archive is None:
        yield getDistribution(store, distribution)
        raise AdminError("unknown archive %r of %s" % (name, distribution))
    return archive


@defer.inlineCallbacks
def getArchiveRow(store, distribution, name):
    """L{getArchive}, as the row C{archive list} shows."""
    archive = yield getArchive(store, distribution, name)
    return (yield store.world.archiveRows(archive_id=archive.id))[0]


def _row(store_rows, what):
    if not store_rows:
        raise AdminError("unknown %s" % (what,))
    return store_rows[0]


@defer.inlineCallbacks
def getProcessor(store, name):
    processor = yield store.distro.getProcessor(name)
    if processor is None:
        known = yield store.distro.processors()
        raise AdminError("unknown processor %r; known: %s" % (
            name, ", ".join(p.name for p in known) or "none"))
    return processor


def refusals(fn):
    """Turn the store's one-line refusals into L{AdminError}s."""
    @defer.inlineCallbacks
    def wrapper(*args):
        try:
            return (yield fn(*args))
        except WorldError as e:
            raise AdminError(str(e))
    wrapper.__doc__ = fn.__doc__
    return wrapper
