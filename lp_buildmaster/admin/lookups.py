"""Looking up what a command names (builder, build, processor,
distribution, series, architecture, archive), refusing with one line
naming what is unknown: L{lp_buildmaster.operations}' lookups, and the
world commands' own helpers."""

from twisted.internet import defer

from lp_buildmaster.admin.command import AdminError
from lp_buildmaster.operations import (  # re-exported
    getArchive, getArchiveRow, getBuild, getBuilder, getDistribution,
    getDistroArchRelease, getProcessor, getSeries, processorNames)
from lp_buildmaster.store.world import WorldError


def _row(store_rows, what):
    if not store_rows:
        raise AdminError("unknown %s" % (what,))
    return store_rows[0]


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
