"""``buildmaster-admin``'s commands that define the world: processors,
distributions, series, architectures and archives (with their
dependencies, external dependencies and signing keys).

Each group has ``add``, ``list`` and ``set``; every command takes
``--json``; every refusal is one line (L{admin.AdminError}).
"""

import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from twisted.internet import defer, threads

from lp_buildmaster import chrootmaker
from lp_buildmaster.admin import (
    AdminError, _chrootSet, getDistroArchRelease, group, jsonOption,
    librarianRoot, output, parseEnum, runWithStore, table)
from lp_buildmaster.enums import (
    ArchivePurpose, DistroReleaseStatus, PackagePublishingPocket)
from lp_buildmaster.model.archivedeps import (
    COMPONENT_DEPENDENCIES, ArchiveDependencyError, ArchiveSource,
    externalLines)
from lp_buildmaster.store.world import WorldError

#: Names of processors, distributions, series and archives (Launchpad's).
NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]*$")
#: Debian architecture tags.
ARCH_TAG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
#: What the archive's key may be named by on the command line.
FINGERPRINT = re.compile(r"^(0x)?[0-9A-Fa-f]{16,40}$")


def checkName(name, what):
    if not NAME.match(name) or len(name) > 64:
        raise AdminError(
            "invalid %s name %r: lower-case letters, digits, '+', '-' and "
            "'.', starting with a letter or digit" % (what, name))
    return name


def checkText(value, what):
    """A one-line, non-empty, printable value."""
    if value is None:
        return None
    if not value.strip() or any(c in value for c in "\r\n\0") or \
            len(value) > 200:
        raise AdminError("invalid %s %r: one line of text, 1 to 200 "
                         "characters" % (what, value))
    return value.strip()


def checkArchiveURL(url):
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https", "file") or (
            parsed.scheme != "file" and not parsed.hostname) or \
            any(c.isspace() for c in url):
        raise AdminError("malformed archive URL %r: it must be "
                         "http(s)://HOST/PATH" % (url,))
    return url.rstrip("/")


def checkComponent(component):
    if component is not None and component not in COMPONENT_DEPENDENCIES:
        raise AdminError("unknown component %r; choose one of %s" % (
            component, ", ".join(sorted(COMPONENT_DEPENDENCIES))))
    return component


def checkExternalDependencies(text, archive):
    """Each non-empty line a deb line once C{%(series)s} is
    substituted."""
    if text is None:
        return None
    probe = ArchiveSource(0, archive, ArchivePurpose.PPA, None,
                          external_dependencies=text)
    try:
        externalLines(probe, "series")
    except ArchiveDependencyError as e:
        raise AdminError(str(e))
    return "\n".join(line.strip() for line in text.splitlines()
                     if line.strip()) or None


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


@defer.inlineCallbacks
def getDistribution(store, name):
    distribution = yield store.distro.getDistribution(name)
    if distribution is None:
        raise AdminError("unknown distribution %r" % (name,))
    return distribution


@defer.inlineCallbacks
def getSeries(store, distribution, name):
    yield getDistribution(store, distribution)
    series = yield store.distro.getDistroRelease(distribution, name)
    if series is None:
        raise AdminError("unknown series %r of %s" % (name, distribution))
    return series


@defer.inlineCallbacks
def getArchiveRow(store, distribution, name):
    yield getDistribution(store, distribution)
    archive = yield store.distro.getArchive(distribution, name)
    if archive is None:
        raise AdminError("unknown archive %r of %s" % (name, distribution))
    rows = yield store.world.archiveRows(archive_id=archive.id)
    return rows[0]


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


# Processors

def cmd_processor_add(args, config, dsn):
    """Define a processor (a family of builders, e.g. amd64)."""
    checkName(args.name, "processor")
    checkText(args.title, "title")
    row = runWithStore(dsn, _processorAdd, args)
    output(args, row, lambda r: "processor %(name)s added (id %(id)d)" % r)


@refusals
@defer.inlineCallbacks
def _processorAdd(store, args):
    processor_id = yield store.world.addProcessor(
        args.name, args.title or args.name, args.description or "")
    return _row([r for r in (yield store.world.processorRows())
                 if r["id"] == processor_id], "processor")


def cmd_processor_list(args, config, dsn):
    """List the processors."""
    rows = [dict(r) for r in runWithStore(
        dsn, lambda store: store.world.processorRows())]
    output(args, rows, lambda rows: table(
        ["NAME", "TITLE", "DESCRIPTION"],
        [[r["name"], r["title"], r["description"]] for r in rows]))


def cmd_processor_set(args, config, dsn):
    """Change a processor's title or description."""
    checkText(args.title, "title")
    row = runWithStore(dsn, _processorSet, args)
    output(args, row, lambda r: "processor %(name)s: %(title)s" % r)


@defer.inlineCallbacks
def _processorSet(store, args):
    processor = yield getProcessor(store, args.name)
    values = {k: v for k, v in (("title", args.title),
                                ("description", args.description))
              if v is not None}
    if values:
        yield store.world.updateProcessor(processor.id, **values)
    return dict(_row([r for r in (yield store.world.processorRows())
                      if r["id"] == processor.id], "processor"))


# Distributions

def cmd_distribution_add(args, config, dsn):
    """Define a distribution (e.g. debian)."""
    checkName(args.name, "distribution")
    checkText(args.title, "title")
    checkText(args.displayname, "display name")
    row = runWithStore(dsn, _distributionAdd, args)
    output(args, row,
           lambda r: "distribution %(name)s added (id %(id)d)" % r)


@refusals
@defer.inlineCallbacks
def _distributionAdd(store, args):
    title = args.title or args.name.capitalize()
    distribution_id = yield store.world.addDistribution(
        args.name, title, args.displayname or title)
    return dict(_row([r for r in (yield store.world.distributionRows())
                      if r["id"] == distribution_id], "distribution"))


def cmd_distribution_list(args, config, dsn):
    """List the distributions."""
    rows = [dict(r) for r in runWithStore(
        dsn, lambda store: store.world.distributionRows())]
    output(args, rows, lambda rows: table(
        ["NAME", "TITLE", "DISPLAYNAME"],
        [[r["name"], r["title"], r["displayname"]] for r in rows]))


def cmd_distribution_set(args, config, dsn):
    """Change a distribution's title or display name."""
    checkText(args.title, "title")
    checkText(args.displayname, "display name")
    row = runWithStore(dsn, _distributionSet, args)
    output(args, row, lambda r: "distribution %(name)s: %(title)s" % r)


@defer.inlineCallbacks
def _distributionSet(store, args):
    distribution = yield getDistribution(store, args.name)
    values = {k: v for k, v in (("title", args.title),
                                ("displayname", args.displayname))
              if v is not None}
    if values:
        yield store.world.updateDistribution(distribution.id, **values)
    return dict(_row([r for r in (yield store.world.distributionRows())
                      if r["id"] == distribution.id], "distribution"))


# Series

def checkVersion(version):
    if version and not re.match(r"^[0-9A-Za-z.+~-]{1,32}$",
                                            version):
        raise AdminError("invalid version %r: digits, letters, '.', '+', "
                         "'~' and '-'" % (version,))
    return version


def seriesText(r):
    return "series %s %s: version %s, %s%s" % (
        r["distribution"], r["name"], r["version"] or "-",
        r["releasestatus"],
        ", parent %s" % r["parent_series"] if r["parent_series"] else "")


def cmd_series_add(args, config, dsn):
    """Define a series of a distribution, with its release status."""
    checkName(args.name, "series")
    checkText(args.title, "title")
    checkVersion(args.version)
    parseEnum(DistroReleaseStatus, args.status, "release status")
    row = runWithStore(dsn, _seriesAdd, args)
    output(args, row, seriesText)


@refusals
@defer.inlineCallbacks
def _seriesAdd(store, args):
    distribution = yield getDistribution(store, args.distribution)
    parent = None
    if args.parent:
        parent = (yield getSeries(store, args.distribution, args.parent)).id
    status = parseEnum(DistroReleaseStatus, args.status, "release status")
    series_id = yield store.world.addSeries(
        distribution.id, args.name, args.title or args.name.capitalize(),
        args.version or "", status, parent)
    return (yield store.world.seriesRows(series_id=series_id))[0]


def cmd_series_list(args, config, dsn):
    """List the series (of one distribution)."""
    rows = runWithStore(dsn, lambda store: store.world.seriesRows(
        args.distribution))
    output(args, rows, lambda rows: table(
        ["DISTRIBUTION", "SERIES", "VERSION", "STATUS", "PARENT",
         "ARCH-INDEP"],
        [[r["distribution"], r["name"], r["version"], r["releasestatus"],
          r["parent_series"], r["nominated_arch_indep"]] for r in rows]))


def cmd_series_set(args, config, dsn):
    """Change a series' version, release status, title or parent."""
    checkText(args.title, "title")
    checkVersion(args.version)
    if args.status is not None:
        parseEnum(DistroReleaseStatus, args.status, "release status")
    row = runWithStore(dsn, _seriesSet, args)
    output(args, row, seriesText)


@defer.inlineCallbacks
def _seriesSet(store, args):
    series = yield getSeries(store, args.distribution, args.name)
    values = {}
    if args.title is not None:
        values["title"] = args.title
    if args.version is not None:
        values["version"] = args.version
    if args.status is not None:
        values["releasestatus"] = parseEnum(
            DistroReleaseStatus, args.status, "release status")
    if args.parent is not None:
        parent = yield getSeries(store, args.distribution, args.parent)
        if parent.id == series.id:
            raise AdminError("a series cannot be its own parent")
        values["parent_series"] = parent.id
    elif args.no_parent:
        values["parent_series"] = None
    if values:
        yield store.world.updateSeries(series.id, **values)
    return (yield store.world.seriesRows(series_id=series.id))[0]


# Architectures

def archText(r):
    return "%s %s %s on %s%s" % (
        r["distribution"], r["series"], r["architecturetag"],
        r["processor"], " (arch-indep)" if r["arch_indep"] else "")


def cmd_arch_add(args, config, dsn):
    """Add an architecture to a series, built by a processor."""
    if not ARCH_TAG.match(args.tag) or len(args.tag) > 32:
        raise AdminError("invalid architecture tag %r: lower-case letters, "
                         "digits and '-'" % (args.tag,))
    row = runWithStore(dsn, _archAdd, args)
    output(args, row, lambda r: "architecture %s added (id %d)" % (
        archText(r), r["id"]))


@refusals
@defer.inlineCallbacks
def _archAdd(store, args):
    series = yield getSeries(store, args.distribution, args.series)
    processor = yield getProcessor(store, args.processor)
    arch_id = yield store.world.addArch(series.id, args.tag, processor.id,
                                        official=not args.unofficial)
    if args.arch_indep:
        yield store.world.updateSeries(series.id, nominatedarchindep=arch_id)
    return dict((yield store.world.archRows(arch_id=arch_id))[0])


def cmd_arch_list(args, config, dsn):
    """List the architectures (of a distribution or series)."""
    rows = [dict(r) for r in runWithStore(
        dsn, lambda store: store.world.archRows(args.distribution,
                                                args.series))]
    output(args, rows, lambda rows: table(
        ["DISTRIBUTION", "SERIES", "ARCH", "PROCESSOR", "ARCH-INDEP",
         "OFFICIAL"],
        [[r["distribution"], r["series"], r["architecturetag"],
          r["processor"], "yes" if r["arch_indep"] else "",
          "yes" if r["official"] else "no"] for r in rows]))


def cmd_arch_set(args, config, dsn):
    """Change an architecture's processor, or nominate it to build
    Architecture: all packages."""
    row = runWithStore(dsn, _archSet, args)
    output(args, row, archText)


@defer.inlineCallbacks
def _archSet(store, args):
    series = yield getSeries(store, args.distribution, args.series)
    rows = yield store.world.archRows(args.distribution, args.series)
    match = [r for r in rows if r["architecturetag"] == args.tag]
    if not match:
        raise AdminError("%s %s has no architecture %r" % (
            args.distribution, args.series, args.tag))
    arch_id = match[0]["id"]
    if args.processor is not None:
        processor = yield getProcessor(store, args.processor)
        yield store.world.updateArch(arch_id, processor=processor.id)
    if args.arch_indep:
        yield store.world.updateSeries(series.id, nominatedarchindep=arch_id)
    return dict((yield store.world.archRows(arch_id=arch_id))[0])


# Archives

class GPGError(AdminError):
    pass


def exportSigningKey(what, gpg="gpg"):
    """C{(fingerprint, base64 of the public key)} of the one key in the
    file C{what}, or of the key with fingerprint C{what} in the user's
    keyring, as C{gpg --export} gives it.

    @raise GPGError: no gpg, no such key, or not exactly one key.
    """
    if shutil.which(gpg) is None:
        raise GPGError("gpg is not installed (Debian: apt-get install "
                       "gnupg); it exports archive signing keys")
    path = Path(what)
    home = tempfile.mkdtemp(prefix="buildmaster-gpg-")
    try:
        base = [gpg, "--batch", "--quiet", "--no-tty", "--homedir", home]
        if path.is_file():
            data = path.read_bytes()
        elif FINGERPRINT.match(what):
            exported = subprocess.run(
                [gpg, "--batch", "--no-tty", "--export", what],
                capture_output=True)
            if exported.returncode or not exported.stdout:
                raise GPGError("no public key %s in your keyring" % (what,))
            data = exported.stdout
        else:
            raise GPGError("no such key file, and not a fingerprint: %s"
                           % (what,))
        imported = subprocess.run(base + ["--import"], input=data,
                                  capture_output=True)
        if imported.returncode:
            raise GPGError("gpg could not import %s: %s" % (
                what, imported.stderr.decode("utf-8", "replace").strip()
                .splitlines()[-1:] or "no key"))
        listing = subprocess.run(
            base + ["--with-colons", "--list-keys"], capture_output=True)
        fingerprints = []
        expect_fpr = False
        for line in listing.stdout.decode("ascii", "replace").splitlines():
            fields = line.split(":")
            if fields[0] == "pub":
                expect_fpr = True
            elif fields[0] == "fpr" and expect_fpr:
                fingerprints.append(fields[9])
                expect_fpr = False
        if len(fingerprints) != 1:
            raise GPGError("%s holds %d public keys; give exactly one"
                           % (what, len(fingerprints)))
        key = subprocess.run(base + ["--export", fingerprints[0]],
                             capture_output=True)
        if key.returncode or not key.stdout:
            raise GPGError("gpg could not export %s" % (fingerprints[0],))
        return fingerprints[0], base64.b64encode(key.stdout).decode("ascii")
    finally:
        if shutil.which("gpgconf"):
            # Whatever gpg started for this home goes with it.
            subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"],
                           capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def archiveText(r):
    flags = [r["purpose"]]
    for key, word in (("private", "private"),
                      ("require_virtualized", "virtualized")):
        if r[key]:
            flags.append(word)
    if not r["enabled"]:
        flags.append("disabled")
    return "archive %s %s (%s): %s%s" % (
        r["distribution"], r["name"], ", ".join(flags),
        r["archive_url"] or "[builders] archive_url",
        ", signed by %s" % r["signing_key_fingerprint"]
        if r["signing_key_fingerprint"] else "")


def archiveValues(args):
    """The columns the options set, checked."""
    values = {}
    if args.owner is not None:
        values["owner"] = checkText(args.owner, "owner")
    if args.url is not None:
        values["archive_url"] = checkArchiveURL(args.url)
    if args.private is not None:
        values["private"] = args.private
    if args.enabled is not None:
        values["enabled"] = args.enabled
    if args.virtualized is not None:
        values["require_virtualized"] = args.virtualized
    if args.score is not None:
        values["relative_build_score"] = args.score
    if args.external_dependencies is not None:
        values["external_dependencies"] = checkExternalDependencies(
            args.external_dependencies, args.name)
    if args.signing_key is not None:
        fingerprint, key = exportSigningKey(args.signing_key)
        values.update(signing_key_fingerprint=fingerprint, signing_key=key)
    elif getattr(args, "no_signing_key", False):
        values.update(signing_key_fingerprint=None, signing_key=None)
    return values


def cmd_archive_add(args, config, dsn):
    """Define an archive: primary, partner, PPA or copy."""
    checkName(args.name, "archive")
    purpose = parseEnum(ArchivePurpose, args.purpose, "archive purpose")
    if args.virtualized is None:
        # PPAs build on virtualized builders unless told otherwise.
        args.virtualized = purpose == ArchivePurpose.PPA
    if purpose != ArchivePurpose.PRIMARY and args.url is None:
        raise AdminError("a %s archive needs --url: where builders find it"
                         % (purpose.name.lower(),))
    values = archiveValues(args)
    row = runWithStore(dsn, _archiveAdd, args, purpose, values)
    output(args, row, archiveText)


@refusals
@defer.inlineCallbacks
def _archiveAdd(store, args, purpose, values):
    distribution = yield getDistribution(store, args.distribution)
    if purpose == ArchivePurpose.PRIMARY:
        primary = yield store.world.primaryArchive(distribution.id)
        if primary is not None:
            raise AdminError("%s has a primary archive already"
                             % (args.distribution,))
    archive_id = yield store.world.addArchive(
        distribution.id, args.name, purpose, **values)
    return (yield store.world.archiveRows(archive_id=archive_id))[0]


def cmd_archive_list(args, config, dsn):
    """List the archives (of one distribution)."""
    rows = runWithStore(dsn, lambda store: store.world.archiveRows(
        args.distribution))
    output(args, rows, lambda rows: table(
        ["DISTRIBUTION", "ARCHIVE", "PURPOSE", "OWNER", "URL", "PRIVATE",
         "ENABLED", "VIRT", "KEY"],
        [[r["distribution"], r["name"], r["purpose"], r["owner"],
          r["archive_url"] or "(default)", "yes" if r["private"] else "no",
          "yes" if r["enabled"] else "no",
          "yes" if r["require_virtualized"] else "no",
          r["signing_key_fingerprint"]] for r in rows]))


def cmd_archive_set(args, config, dsn):
    """Change an archive's URL, owner, flags, key or external
    dependencies."""
    values = archiveValues(args)
    row = runWithStore(dsn, _archiveSet, args, values)
    output(args, row, archiveText)


@defer.inlineCallbacks
def _archiveSet(store, args, values):
    archive = yield getArchiveRow(store, args.distribution, args.name)
    if values:
        yield store.world.updateArchive(archive["id"], **values)
    return (yield store.world.archiveRows(archive_id=archive["id"]))[0]


def dependencyText(rows):
    if not rows:
        return "no archive dependencies"
    return table(["ARCHIVE", "DEPENDS ON", "POCKET", "COMPONENT"], [
        ["%s %s" % (r["distribution"], r["archive"]),
         "%s %s" % (r["dependency_distribution"], r["dependency"]),
         r["pocket"], r["component"] or "(primary's)"] for r in rows])


def cmd_archive_depend(args, config, dsn):
    """Let an archive's builds use another archive (Launchpad's archive
    dependency): at POCKET and the pockets below it, with COMPONENT and
    what it depends on."""
    pocket = parseEnum(PackagePublishingPocket, args.pocket, "pocket")
    checkComponent(args.component)
    rows = runWithStore(dsn, _archiveDepend, args, pocket)
    output(args, rows, dependencyText)


@defer.inlineCallbacks
def _archiveDepend(store, args, pocket):
    archive = yield getArchiveRow(store, args.distribution, args.name)
    dependency = yield getArchiveRow(
        store, args.dependency_distribution or args.distribution,
        args.dependency)
    if dependency["id"] == archive["id"]:
        raise AdminError("an archive cannot depend on itself")
    yield store.world.setDependency(archive["id"], dependency["id"], pocket,
                                    args.component)
    return (yield store.world.dependencyRows(archive["id"]))


def cmd_archive_undepend(args, config, dsn):
    """Remove an archive dependency."""
    rows = runWithStore(dsn, _archiveUndepend, args)
    output(args, rows, dependencyText)


@defer.inlineCallbacks
def _archiveUndepend(store, args):
    archive = yield getArchiveRow(store, args.distribution, args.name)
    dependency = yield getArchiveRow(
        store, args.dependency_distribution or args.distribution,
        args.dependency)
    removed = yield store.world.removeDependency(archive["id"],
                                                 dependency["id"])
    if not removed:
        raise AdminError("%s %s does not depend on %s" % (
            args.distribution, args.name, args.dependency))
    return (yield store.world.dependencyRows(archive["id"]))


def cmd_archive_dependencies(args, config, dsn):
    """List an archive's dependencies (or every archive's)."""
    rows = runWithStore(dsn, _archiveDependencies, args)
    output(args, rows, dependencyText)


@defer.inlineCallbacks
def _archiveDependencies(store, args):
    archive_id = None
    if args.name is not None:
        archive_id = (yield getArchiveRow(store, args.distribution,
                                          args.name))["id"]
    return (yield store.world.dependencyRows(archive_id))


# Chroots

def cmd_chroot_create(args, config, dsn):
    """Make a launchpad-buildd chroot with debootstrap, store it and use it
    for a series, arch and pocket (as chroot set)."""
    mirror = checkArchiveURL(args.mirror)
    pocket = parseEnum(PackagePublishingPocket, args.pocket, "pocket")
    include = [p for p in (args.include or "").replace(" ", ",").split(",")
               if p]
    for package in include:
        if not re.match(r"^[a-z0-9][a-z0-9+.-]+$", package):
            raise AdminError("invalid package name %r in --include"
                             % (package,))
    try:
        chrootmaker.checkCanMake()
    except chrootmaker.ChrootError as e:
        raise AdminError(str(e))
    row = runWithStore(dsn, _chrootCreate, args, config, mirror, pocket,
                       include)
    output(args, row, lambda r: (
        "chroot of %(distribution)s %(series)s %(arch)s %(pocket)s is now "
        "%(filename)s (library file %(alias)d)" % r))


@defer.inlineCallbacks
def _chrootCreate(store, args, config, mirror, pocket, include):
    yield getDistroArchRelease(store, args.distribution, args.series,
                               args.arch)
    # Progress on stdout, or on stderr when stdout is for JSON.
    stream = sys.stderr if args.json else sys.stdout

    def progress(line):
        print("chroot create: %s" % line, file=stream, flush=True)
    tmp = os.path.join(config.master_state_dir, "tmp")
    os.makedirs(tmp, exist_ok=True)
    name = "chroot-%s-%s-%s.tar.gz" % (args.distribution, args.series,
                                       args.arch)
    if args.output:
        path = os.path.abspath(args.output)
        keep = True
    else:
        path = os.path.join(tempfile.mkdtemp(dir=tmp), name)
        keep = False
    try:
        # A command, not the master: a thread keeps its reactor turning.
        yield threads.deferToThread(
            chrootmaker.makeChroot, path, args.suite or args.series, mirror,
            args.arch, progress, include=include, keyring=args.keyring,
            check_gpg=not args.no_check_gpg, tmpdir=tmp)
        args.pocket = pocket.name
        return (yield _chrootSet(store, args, librarianRoot(config),
                                 Path(path)))
    except chrootmaker.ChrootError as e:
        raise AdminError(str(e))
    finally:
        if not keep:
            shutil.rmtree(os.path.dirname(path), ignore_errors=True)


# The parser

def addChrootCreate(chroot):
    p = chroot.add_parser("create", help=cmd_chroot_create.__doc__)
    p.add_argument("distribution", metavar="DISTRO")
    p.add_argument("series", metavar="SERIES")
    p.add_argument("arch", metavar="ARCH")
    p.add_argument("--mirror", required=True, metavar="URL",
                   help="the Debian mirror to debootstrap from")
    p.add_argument("--suite", metavar="S", help="default SERIES")
    p.add_argument("--include", metavar="PKGS",
                   help="more packages, comma-separated (build-essential "
                   "and fakeroot always)")
    p.add_argument("--pocket", default="release", metavar="P")
    p.add_argument("--keyring", metavar="FILE",
                   help="the keyring the mirror's Release is signed with")
    p.add_argument("--no-check-gpg", action="store_true",
                   help="do not check the mirror's signature")
    p.add_argument("--output", metavar="FILE",
                   help="also keep the tarball here")
    jsonOption(p)
    p.set_defaults(func=cmd_chroot_create)


def addWorldCommands(sub, chroot):
    addChrootCreate(chroot)
    processor = group(sub, "processor", "define processors")
    p = processor.add_parser("add", help=cmd_processor_add.__doc__)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--title")
    p.add_argument("--description")
    jsonOption(p)
    p.set_defaults(func=cmd_processor_add)
    p = processor.add_parser("list", help=cmd_processor_list.__doc__)
    jsonOption(p)
    p.set_defaults(func=cmd_processor_list)
    p = processor.add_parser("set", help=cmd_processor_set.__doc__)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--title")
    p.add_argument("--description")
    jsonOption(p)
    p.set_defaults(func=cmd_processor_set)

    distribution = group(sub, "distribution", "define distributions")
    for action, func in (("add", cmd_distribution_add),
                         ("set", cmd_distribution_set)):
        p = distribution.add_parser(action, help=func.__doc__)
        p.add_argument("name", metavar="NAME")
        p.add_argument("--title")
        p.add_argument("--displayname")
        jsonOption(p)
        p.set_defaults(func=func)
    p = distribution.add_parser("list", help=cmd_distribution_list.__doc__)
    jsonOption(p)
    p.set_defaults(func=cmd_distribution_list)

    statuses = ", ".join(s.name.lower() for s in DistroReleaseStatus)
    series = group(sub, "series", "define the series of a distribution")
    p = series.add_parser("add", help=cmd_series_add.__doc__)
    p.add_argument("distribution", metavar="DISTRO")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--version", default="")
    p.add_argument("--status", required=True, metavar="S", help=statuses)
    p.add_argument("--title")
    p.add_argument("--parent", metavar="SERIES",
                   help="the series it derives from")
    jsonOption(p)
    p.set_defaults(func=cmd_series_add)
    p = series.add_parser("list", help=cmd_series_list.__doc__)
    p.add_argument("distribution", metavar="DISTRO", nargs="?")
    jsonOption(p)
    p.set_defaults(func=cmd_series_list)
    p = series.add_parser("set", help=cmd_series_set.__doc__)
    p.add_argument("distribution", metavar="DISTRO")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--version")
    p.add_argument("--status", metavar="S", help=statuses)
    p.add_argument("--title")
    parent = p.add_mutually_exclusive_group()
    parent.add_argument("--parent", metavar="SERIES")
    parent.add_argument("--no-parent", action="store_true")
    jsonOption(p)
    p.set_defaults(func=cmd_series_set)

    arch = group(sub, "arch", "define the architectures of a series")
    p = arch.add_parser("add", help=cmd_arch_add.__doc__)
    p.add_argument("distribution", metavar="DISTRO")
    p.add_argument("series", metavar="SERIES")
    p.add_argument("tag", metavar="ARCH")
    p.add_argument("--processor", required=True, metavar="P")
    p.add_argument("--arch-indep", action="store_true",
                   help="this architecture builds Architecture: all")
    p.add_argument("--unofficial", action="store_true")
    jsonOption(p)
    p.set_defaults(func=cmd_arch_add)
    p = arch.add_parser("list", help=cmd_arch_list.__doc__)
    p.add_argument("distribution", metavar="DISTRO", nargs="?")
    p.add_argument("series", metavar="SERIES", nargs="?")
    jsonOption(p)
    p.set_defaults(func=cmd_arch_list)
    p = arch.add_parser("set", help=cmd_arch_set.__doc__)
    p.add_argument("distribution", metavar="DISTRO")
    p.add_argument("series", metavar="SERIES")
    p.add_argument("tag", metavar="ARCH")
    p.add_argument("--processor", metavar="P")
    p.add_argument("--arch-indep", action="store_true",
                   help="this architecture builds Architecture: all")
    jsonOption(p)
    p.set_defaults(func=cmd_arch_set)

    archive = group(sub, "archive", "define archives and their dependencies")
    for action, func in (("add", cmd_archive_add),
                         ("set", cmd_archive_set)):
        p = archive.add_parser(action, help=func.__doc__)
        p.add_argument("distribution", metavar="DISTRO")
        p.add_argument("name", metavar="NAME")
        if action == "add":
            p.add_argument("--purpose", required=True,
                           help="primary, partner, ppa or copy")
        p.add_argument("--owner")
        p.add_argument("--url", metavar="URL",
                       help="where builders find it (a primary archive "
                       "without one uses [builders] archive_url)")
        flag(p, "private", "builds and files are private")
        flag(p, "enabled", "its builds may be dispatched", off="disabled")
        flag(p, "virtualized", "its builds need virtualized builders "
             "(default for a PPA)")
        p.add_argument("--score", type=int, metavar="N",
                       help="relative build score")
        p.add_argument("--signing-key", metavar="FILE|FPR",
                       help="its public signing key: a key file, or the "
                       "fingerprint of a key in your GnuPG keyring")
        if action == "set":
            p.add_argument("--no-signing-key", action="store_true")
        p.add_argument("--external-dependencies", metavar="LINES",
                       help="sources.list lines its builds also get, one "
                       "per line, %%(series)s for the series ('' clears)")
        jsonOption(p)
        p.set_defaults(func=func)
    p = archive.add_parser("list", help=cmd_archive_list.__doc__)
    p.add_argument("distribution", metavar="DISTRO", nargs="?")
    jsonOption(p)
    p.set_defaults(func=cmd_archive_list)
    for action, func in (("depend", cmd_archive_depend),
                         ("undepend", cmd_archive_undepend)):
        p = archive.add_parser(action, help=func.__doc__)
        p.add_argument("distribution", metavar="DISTRO")
        p.add_argument("name", metavar="NAME")
        p.add_argument("dependency", metavar="DEPENDENCY")
        p.add_argument("--dependency-distribution", metavar="DISTRO",
                       help="the dependency's distribution (default the "
                       "archive's)")
        if action == "depend":
            p.add_argument("--pocket", default="updates", metavar="P")
            p.add_argument("--component", metavar="C",
                           help="default: the source's component in the "
                           "primary archive")
        jsonOption(p)
        p.set_defaults(func=func)
    p = archive.add_parser("dependencies",
                           help=cmd_archive_dependencies.__doc__)
    p.add_argument("distribution", metavar="DISTRO", nargs="?")
    p.add_argument("name", metavar="NAME", nargs="?")
    jsonOption(p)
    p.set_defaults(func=cmd_archive_dependencies)


def flag(parser, name, help, off=None):
    """--NAME / --no-NAME (or --OFF), default None: unchanged."""
    dest = name.replace("-", "_")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--" + name, dest=dest, action="store_true",
                       default=None, help=help)
    group.add_argument("--" + (off or "no-" + name), dest=dest,
                       action="store_false")

