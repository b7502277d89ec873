"""Archive dependencies: the sources.list lines and keys a build gets.

Launchpad's rules (``lp.soyuz.adapters.archivedependencies``), as pure
functions over plain records, so that dispatch, ``why`` and the tests
share one answer:

- a pocket depends on the pockets below it: SECURITY on RELEASE,
  UPDATES on RELEASE and SECURITY, PROPOSED and BACKPORTS on RELEASE,
  SECURITY and UPDATES;
- a component depends on the components it may build-depend on: main on
  main only, universe on main, multiverse on everything; a BACKPORTS
  build may use every component;
- a primary archive build gets the primary archive at its own pocket
  dependencies and component dependencies;
- a PPA, partner or copy archive build gets its own archive (release
  pocket) first, then its archive dependencies, then the primary archive
  at UPDATES with every component, unless an archive dependency names the
  primary already;
- an archive dependency gives its archive at the pocket dependencies of
  its pocket, with the component dependencies of its component (none
  given: of the component the source is published in in the primary
  archive, universe when it is not there);
- a non-primary archive with no published binaries in the series gives no
  line (apt would fail on its empty index);
- the archive's external dependencies (sources.list lines, ``%(series)s``
  substituted) come second, after the first line;
- ``trusted_keys``: the signing key of every archive listed, once each.
"""

import dataclasses
from typing import Optional, Tuple

from lp_buildmaster.enums import ArchivePurpose, PackagePublishingPocket

RELEASE = PackagePublishingPocket.RELEASE
SECURITY = PackagePublishingPocket.SECURITY
UPDATES = PackagePublishingPocket.UPDATES
PROPOSED = PackagePublishingPocket.PROPOSED
BACKPORTS = PackagePublishingPocket.BACKPORTS

POCKET_DEPENDENCIES = {
    RELEASE: (RELEASE,),
    SECURITY: (RELEASE, SECURITY),
    UPDATES: (RELEASE, SECURITY, UPDATES),
    BACKPORTS: (RELEASE, SECURITY, UPDATES, BACKPORTS),
    PROPOSED: (RELEASE, SECURITY, UPDATES, PROPOSED),
}

#: Ubuntu's components as Launchpad layers them, and Debian's as Debian
#: Policy 2.2 lets them depend on each other.
COMPONENT_DEPENDENCIES = {
    "main": ("main",),
    "restricted": ("main", "restricted"),
    "universe": ("main", "universe"),
    "multiverse": ("main", "restricted", "universe", "multiverse"),
    "partner": ("partner",),
    "contrib": ("main", "contrib", "non-free"),
    "non-free": ("main", "contrib", "non-free"),
    "non-free-firmware": ("main", "non-free-firmware"),
}

#: Archives whose builds see their own archive besides the primary one.
ALLOW_RELEASE_BUILDS = frozenset([
    ArchivePurpose.PARTNER, ArchivePurpose.PPA, ArchivePurpose.COPY])

#: What such an archive gets of the primary archive by default.
DEFAULT_POCKET_DEPENDENCY = UPDATES
DEFAULT_COMPONENT_DEPENDENCY = "multiverse"

#: The component of a source not published in the primary archive.
DEFAULT_PRIMARY_COMPONENT = "universe"


class ArchiveDependencyError(ValueError):
    """The archive's dependencies cannot be turned into a sources.list
    (an unknown component, a malformed external dependency, no URL)."""


@dataclasses.dataclass(frozen=True)
class ArchiveSource:
    """What a sources.list line needs of an archive.

    @ivar url: where builders find it.
    @ivar has_binaries: whether it has published binaries in the build's
        series (a primary archive always counts as having them).
    @ivar signing_key: the public key, base64 of C{gpg --export}, or None.
    """
    id: int
    name: str
    purpose: ArchivePurpose
    url: Optional[str]
    has_binaries: bool = True
    signing_key: Optional[str] = None
    external_dependencies: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class ArchiveDependency:
    """Builds in an archive may use C{archive} at C{pocket} and
    C{component} (None: the source's primary component)."""
    archive: ArchiveSource
    pocket: PackagePublishingPocket
    component: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class SourcesList:
    lines: Tuple[str, ...]
    trusted_keys: Tuple[str, ...]


def pocketSuffix(pocket):
    """'' for RELEASE, else '-security', '-updates', ..."""
    if pocket == RELEASE:
        return ""
    return "-" + pocket.name.lower()


def componentDependencies(component):
    """The components a build in C{component} may build-depend on.

    @raise ArchiveDependencyError: an unknown component.
    """
    try:
        return COMPONENT_DEPENDENCIES[component]
    except KeyError:
        raise ArchiveDependencyError(
            "unknown component %r; known: %s" % (
                component, ", ".join(sorted(COMPONENT_DEPENDENCIES))))


def componentsForContext(component, pocket):
    """Launchpad's ogre components: BACKPORTS may use every component."""
    if pocket == BACKPORTS:
        return COMPONENT_DEPENDENCIES[DEFAULT_COMPONENT_DEPENDENCY]
    return componentDependencies(component)


def expandDependencies(archive, primary, pocket, component, dependencies,
                       primary_component=None):
    """C{[(ArchiveSource, pocket, components)]}, most specific first.

    @param archive: the build's L{ArchiveSource}.
    @param primary: the distribution's primary L{ArchiveSource}.
    @param dependencies: the build archive's L{ArchiveDependency}s, in
        their order.
    @param primary_component: the component the source is published in in
        the primary archive, None when it is not.
    """
    deps = []
    if archive.purpose in ALLOW_RELEASE_BUILDS:
        deps.append((archive, RELEASE,
                     componentsForContext(component, pocket)))
    for dependency in dependencies:
        if dependency.component is None:
            components = componentDependencies(
                primary_component or DEFAULT_PRIMARY_COMPONENT)
        else:
            components = componentDependencies(dependency.component)
        for expanded in POCKET_DEPENDENCIES[dependency.pocket]:
            deps.append((dependency.archive, expanded, components))
    if not any(d.archive.id == primary.id for d in dependencies):
        if archive.purpose in ALLOW_RELEASE_BUILDS:
            pockets = POCKET_DEPENDENCIES[DEFAULT_POCKET_DEPENDENCY]
            components = COMPONENT_DEPENDENCIES[DEFAULT_COMPONENT_DEPENDENCY]
        else:
            pockets = POCKET_DEPENDENCIES[pocket]
            components = componentsForContext(component, pocket)
        deps.extend((primary, p, components) for p in pockets)
    return deps


def externalLines(archive, series):
    """The archive's external dependencies for C{series}.

    @raise ArchiveDependencyError: a line that is not a C{deb} line, or a
        substitution other than C{%(series)s}.
    """
    lines = []
    for line in (archive.external_dependencies or "").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            line = line % {"series": series}
        except (KeyError, ValueError, TypeError) as e:
            raise ArchiveDependencyError(
                "external dependency %r of archive %s: bad substitution "
                "(%s); only %%(series)s is known" % (line, archive.name, e))
        checkSourcesLine(line)
        lines.append(line)
    return lines


def checkSourcesLine(line):
    """Refuse what is not C{deb URL SUITE [COMPONENT...]} on one line.

    @raise ArchiveDependencyError: naming the line.
    """
    words = line.split()
    if len(words) > 1 and words[1].startswith("[") and words[1].endswith("]"):
        del words[1]
    if (len(words) < 3 or words[0] not in ("deb", "deb-src")
            or not words[1].startswith(("http://", "https://", "file:/"))):
        raise ArchiveDependencyError(
            "malformed sources.list line %r: it must be "
            "'deb URL SUITE [COMPONENT...]'" % (line,))
    return line


def sourcesList(archive, primary, series, pocket, component, dependencies,
                primary_component=None):
    """The C{archives} and C{trusted_keys} of a build request.

    @param series: the series name (suites are C{series + pocket suffix}).
    @return: a L{SourcesList}.
    @raise ArchiveDependencyError: what makes the list impossible.
    """
    lines = []
    listed = []
    for source, expanded, components in expandDependencies(
            archive, primary, pocket, component, dependencies,
            primary_component):
        if source.purpose != ArchivePurpose.PRIMARY and not source.has_binaries:
            continue
        if not source.url:
            raise ArchiveDependencyError(
                "archive %s has no URL for builders" % (source.name,))
        line = "deb %s %s%s %s" % (source.url, series, pocketSuffix(expanded),
                                   " ".join(components))
        if line not in lines:
            lines.append(line)
            listed.append(source)
    external = externalLines(archive, series)
    lines = lines[:1] + [line for line in external if line not in lines] \
        + lines[1:]
    keys = []
    for source in listed:
        if source.signing_key and source.signing_key not in keys:
            keys.append(source.signing_key)
    return SourcesList(tuple(lines), tuple(keys))
