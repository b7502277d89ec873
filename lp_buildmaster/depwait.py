"""Dependency waits: retry MANUALDEPWAIT builds once what they wait for
is there.

A builder that cannot install a build's build-dependencies answers DEPFAIL
with the missing ones (e.g. C{"libc6 (>= 2.3.5), foo | bar"}); the build
becomes MANUALDEPWAIT with that text in C{build.dependencies}. Every
interval, L{DepWaitRetrier} reads the waiting builds, and with one query
the binary packages accepted by upload processing in their series and
archives (we have no separate publisher: accepted is published), and
retries those whose dependencies are all satisfied: NEEDSBUILD again, the
dependencies cleared, queued with a fresh automatic score.

What counts as available to a build: a binary of its series (any
architecture of it) and archive whose architecture is C{all} or the
build's own architecture tag. Pockets are not told apart: a binary in any
pocket of the series counts. Architecture qualifiers (C{foo:any}),
architecture restrictions (C{[i386]}) and build profiles (C{<!nocheck>})
are ignored: the builder reports what it found missing for this build.

A build with no dependencies recorded is left for a person to retry; one
whose dependencies cannot be parsed is logged once and left alone.
"""

import logging
import operator

from debian.deb822 import PkgRelation
from twisted.internet import defer

from lp_buildmaster.clock import orReactor
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.model.packages import isPackageName, parseVersion
from lp_buildmaster.periodic import PeriodicService

#: The relation operators of Debian policy 7.1. The deprecated C{<} and
#: C{>} mean C{<=} and C{>=}, as dpkg reads them.
OPERATORS = {
    "<<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    ">=": operator.ge,
    ">>": operator.gt,
    "<": operator.le,
    ">": operator.ge,
}


class UnparsableDependencies(ValueError):
    """A dependency relation that is not Debian syntax."""


class _Unparsed(logging.Filter):
    """Swallows python-debian's own warnings about text it returns raw:
    we raise L{UnparsableDependencies} instead."""

    def filter(self, record):
        return False


_deb822_log = logging.getLogger("debian.deb822")


def parseDependencies(text):
    """Parse a dependency relation such as C{"a (>= 1) | b, c"}.

    @return: a list (all needed) of lists (alternatives) of C{(name,
        relation)}, relation None or C{(operator, version)} with the
        version a L{NativeVersion}.
    @raise UnparsableDependencies: saying what is wrong.
    """
    if not isinstance(text, str) or not text.strip():
        raise UnparsableDependencies("no dependencies: %r" % (text,))
    quiet = _Unparsed()
    _deb822_log.addFilter(quiet)
    try:
        parsed = PkgRelation.parse_relations(text)
    finally:
        _deb822_log.removeFilter(quiet)
    relations = []
    for group in parsed:
        names = [alternative["name"] for alternative in group]
        if names == [""]:
            continue  # "a, , b" or a trailing comma, as dpkg allows
        alternatives = []
        for alternative in group:
            name = alternative["name"]
            if not name.strip():
                raise UnparsableDependencies(
                    "an empty alternative in dependencies %r" % (text,))
            if not isPackageName(name):
                raise UnparsableDependencies(
                    "cannot parse %r in dependencies %r" % (name, text))
            relation = alternative["version"]
            if relation is not None:
                op, version = relation
                if op not in OPERATORS:
                    raise UnparsableDependencies(
                        "%s: unknown relation %r in dependencies %r"
                        % (name, op, text))
                try:
                    relation = (op, parseVersion(version))
                except ValueError:
                    raise UnparsableDependencies(
                        "%s: %r is not a version, in dependencies %r"
                        % (name, version, text)) from None
            alternatives.append((name, relation))
        relations.append(alternatives)
    if not relations:
        raise UnparsableDependencies("no dependencies: %r" % (text,))
    return relations


def names(relations):
    """Every package name C{relations} mention."""
    return {name for group in relations for name, _ in group}


def satisfied(relations, available):
    """Whether C{available} satisfies every relation of C{relations}.

    @param relations: as L{parseDependencies} returns them.
    @param available: C{{name: [version, ...]}}, versions as strings or
        L{NativeVersion}s.
    """
    return all(any(_satisfies(available.get(name, ()), relation)
                   for name, relation in group)
               for group in relations)


def _satisfies(versions, relation):
    if relation is None:
        return bool(versions)
    op, wanted = relation
    compare = OPERATORS[op]
    for version in versions:
        try:
            version = parseVersion(str(version))
        except ValueError:
            continue  # satisfies nothing
        if compare(version, wanted):
            return True
    return False


@defer.inlineCallbacks
def retryDepWaits(store, clock=None, logger=None, reported=None):
    """Retry every MANUALDEPWAIT build whose dependencies are satisfied.

    Three reads in all, whatever the number of builds: the waiting builds,
    then the binaries of their series and archives in one query; then one
    transaction per build retried (L{BuildStore.retry}, which does nothing
    if the build has left MANUALDEPWAIT meanwhile).

    @param clock: times the pass for the log (default: the reactor).
    @param logger: a L{logging.Logger}; default C{lp_buildmaster.depwait}.
    @param reported: a set of C{(build id, dependencies)} already logged
        as unparsable, updated in place, so that a periodic caller logs
        each once; entries of builds no longer waiting are dropped.
    @return: a Deferred firing with the ids of the builds retried.
    """
    clock = orReactor(clock)
    logger = logger or logging.getLogger("lp_buildmaster.depwait")
    reported = set() if reported is None else reported
    started = clock.seconds()
    waiting = yield store.binaries.depWaiting()
    reported.intersection_update((b.id, b.dependencies) for b in waiting)
    parsed = {}
    for build in waiting:
        if build.dependencies is None or not build.dependencies.strip():
            continue  # nothing known to wait for: a person retries it
        try:
            parsed[build.id] = parseDependencies(build.dependencies)
        except UnparsableDependencies as e:
            if (build.id, build.dependencies) not in reported:
                reported.add((build.id, build.dependencies))
                logger.warning("Build %d stays in MANUALDEPWAIT: %s",
                               build.id, e)
    if not parsed:
        return []
    wanted = [b for b in waiting if b.id in parsed]
    binaries = yield store.binaries.available(
        {(b.distrorelease, b.archive) for b in wanted},
        set().union(*(names(parsed[b.id]) for b in wanted)))
    bySeries = {}
    for binary in binaries:
        bySeries.setdefault((binary.distrorelease, binary.archive),
                            []).append(binary)
    retried = []
    for build in wanted:
        available = {}
        for binary in bySeries.get((build.distrorelease, build.archive), ()):
            if binary.architecture in ("all", build.architecturetag):
                available.setdefault(binary.name, []).append(binary.version)
        if not satisfied(parsed[build.id], available):
            continue
        try:
            queued = yield store.builds.retry(
                build.id, [BuildStatus.MANUALDEPWAIT])
        except Exception as e:
            logger.error("Build %d: retrying after its dependency wait "
                         "failed: %s", build.id, e)
            continue
        if queued is not None:
            retried.append(build.id)
            logger.info("Build %d: dependencies %r satisfied; NEEDSBUILD "
                        "again", build.id, build.dependencies)
    if retried:
        logger.info("Retried %d of %d builds waiting for dependencies "
                    "in %.2fs", len(retried), len(waiting),
                    clock.seconds() - started)
    return retried


class DepWaitRetrier(PeriodicService):
    """Runs L{retryDepWaits} every C{interval} seconds (and once at
    start). One pass runs at a time; a failed one is logged and the next
    interval tries again. Each unparsable dependency is logged once."""

    name = "depwait-retrier"

    def __init__(self, store, clock=None, interval=300, logger=None):
        PeriodicService.__init__(self, clock, interval)
        self.store = store
        self.logger = logger or logging.getLogger("lp_buildmaster.depwait")
        self.reported = set()

    def run(self):
        return self.retry()

    @defer.inlineCallbacks
    def retry(self):
        """One pass; never fails, so the loop never dies. Fires with the
        ids of the builds retried."""
        try:
            retried = yield retryDepWaits(self.store, self.clock, self.logger,
                                          self.reported)
        except Exception as e:
            self.logger.error("Retrying dependency waits failed: %s", e)
            return []
        return retried
