"""C{archive add|list|set} (with signing keys exported by gpg and
external dependencies) and C{archive depend|undepend|dependencies}
(Launchpad's archive dependencies)."""

import base64
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from twisted.internet import defer

from lp_buildmaster.admin.command import (
    AdminError, flag, group, jsonOption, parseEnum, runWithStore)
from lp_buildmaster.admin.lookups import (
    getArchiveRow, getDistribution, refusals)
from lp_buildmaster.admin.render import output, table
from lp_buildmaster.admin.world import checkName, checkText
from lp_buildmaster.enums import ArchivePurpose, PackagePublishingPocket
from lp_buildmaster.model.archivedeps import (
    COMPONENT_DEPENDENCIES, ArchiveDependencyError, ArchiveSource,
    externalLines)


#: What the archive's key may be named by on the command line.
FINGERPRINT = re.compile(r"^(0x)?[0-9A-Fa-f]{16,40}$")


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
def _dependencyPair(store, args):
    """The rows of the archive and of the dependency a command names."""
    archive = yield getArchiveRow(store, args.distribution, args.name)
    dependency = yield getArchiveRow(
        store, args.dependency_distribution or args.distribution,
        args.dependency)
    return archive, dependency


@defer.inlineCallbacks
def _archiveDepend(store, args, pocket):
    archive, dependency = yield _dependencyPair(store, args)
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
    archive, dependency = yield _dependencyPair(store, args)
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


def addArchiveCommands(sub):
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
