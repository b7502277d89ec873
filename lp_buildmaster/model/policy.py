"""Release policy: which pockets a series may build for.

A released series (CURRENT, SUPPORTED, OBSOLETE) takes no RELEASE-pocket
builds; a series in development (EXPERIMENTAL, DEVELOPMENT, FROZEN) takes
nothing but RELEASE. Pure functions, so dispatch, collection, upload
processing and ``why`` share one answer.
"""

from lp_buildmaster.enums import PackagePublishingPocket, RELEASED_STATUSES


class PocketPolicyError(AssertionError):
    """A build is in a pocket its series may not build for.

    An AssertionError, as in the seed: it should never happen, and when it
    does someone must look.
    """


def pocketAllowed(releasestatus, pocket):
    """Whether a series in C{releasestatus} may build for C{pocket}."""
    if releasestatus in RELEASED_STATUSES:
        return pocket != PackagePublishingPocket.RELEASE
    return pocket == PackagePublishingPocket.RELEASE


def checkCollectionPolicy(build, title=None):
    """Raise if a finished C{build} should never have been built.

    @param title: what to call the build (defaults to its own title).
    @raise PocketPolicyError: with the seed's message.
    """
    if not pocketAllowed(build.releasestatus, build.pocket):
        raise PocketPolicyError(
            "%s (%d) can not be built for pocket %s: illegal status"
            % (title or build.title, build.id, build.pocket.name))


def checkDispatchPolicy(build, title=None):
    """Raise if C{build} may not be dispatched in its pocket.

    @raise PocketPolicyError: with the seed's message.
    """
    if not pocketAllowed(build.releasestatus, build.pocket):
        raise PocketPolicyError(
            "%s (%d) can not be built for pocket %s: invalid pocket due "
            "to the release status of %s."
            % (title or build.title, build.id, build.pocket.name,
               build.distrorelease_name))
