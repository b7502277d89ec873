"""C{source add}: a source package (a source upload's .changes, or a
.dsc and its files) checked (python-debian) and published, with the
Changed-By that build notifications mail."""

from debian import deb822
from twisted.internet import defer

from lp_buildmaster.admin.command import (
    AdminError, group, jsonOption, librarianTarget, parseEnum,
    runWithStore)
from lp_buildmaster.admin.library import addLibraryFile, checkFile, hashFile
from lp_buildmaster.admin.lookups import getArchive, getSeries
from lp_buildmaster.admin.render import output
from lp_buildmaster.enums import (
    PackagePublishingPocket, SourcePackageUrgency)
from lp_buildmaster.model.names import (
    filenameProblem, placementProblem, sourceProblem)
from lp_buildmaster.notify.addresses import parseAddresses
from lp_buildmaster.store.sources import DuplicateSource


def sourceFileType(name):
    """What a file of a source package is, from its name."""
    if name.endswith(".dsc"):
        return "dsc"
    if ".orig-" in name and ".tar." in name:
        return "component-orig-tarball"
    if ".orig.tar." in name:
        return "orig-tarball"
    if ".debian.tar." in name:
        return "debian-tarball"
    if name.endswith(".diff.gz"):
        return "diff"
    return "tarball"


def _readControl(path, kind, fields):
    """Parse a .dsc or .changes (C{kind}: deb822.Dsc or deb822.Changes)
    that must have C{fields}; C{(control, text)}."""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        control = kind(text)
    except Exception as e:
        raise AdminError("cannot parse %s: %s" % (path, e)) from None
    for field in fields:
        if not control.get(field):
            raise AdminError("%s has no %s field" % (path.name, field))
    return control, text


def _listedFiles(control, what):
    """C{{name: {"size", "md5sum", "sha1", "sha256"}}} of the files a
    .dsc or .changes lists (in Files and Checksums-*), names checked."""
    listed = {}
    for field, key in (("Files", "md5sum"), ("Checksums-Sha1", "sha1"),
                       ("Checksums-Sha256", "sha256")):
        for entry in control.get(field) or ():
            problem = filenameProblem(entry["name"])
            if problem:
                raise AdminError("%s lists %r: %s" % (
                    what, entry["name"], problem))
            info = listed.setdefault(entry["name"], {})
            info[key] = entry[key].lower()
            info["size"] = int(entry["size"])
    return listed


def _checkFiles(listed, given, what):
    """Every file C{what} lists is given (C{{name: path}}), nothing else
    is, and sizes and checksums are equal."""
    extra = sorted(set(given) - set(listed))
    if extra:
        raise AdminError("%s is not listed in %s" % (", ".join(extra), what))
    for name, info in sorted(listed.items()):
        if name not in given:
            raise AdminError("%s lists %s, which was not given"
                             % (what, name))
        size, md5, sha1, sha256 = hashFile(given[name])
        if size != info["size"]:
            raise AdminError("%s is %d bytes, but %s says %d"
                             % (name, size, what, info["size"]))
        for key, actual in (("md5sum", md5), ("sha1", sha1),
                            ("sha256", sha256)):
            if key in info and info[key] != actual:
                raise AdminError("%s does not match its %s in %s"
                                 % (name, key, what))


def readDsc(dsc_path, file_paths):
    """Parse a .dsc and check the files it lists against C{file_paths}.

    @return: C{(dsc, text)}: the L{debian.deb822.Dsc} and its text.
    @raise AdminError: a field is missing, a listed file is not given,
        a given file is not listed, or a size or checksum differs.
    """
    dsc, text = _readControl(dsc_path, deb822.Dsc,
                             ("Source", "Version", "Files"))
    problem = sourceProblem(dsc["Source"], dsc["Version"])
    if problem:
        raise AdminError("%s: %s" % (dsc_path.name, problem))
    listed = _listedFiles(dsc, dsc_path.name)
    given = {}
    for path in file_paths:
        if path.name in given:
            raise AdminError("%s is given twice" % (path.name,))
        given[path.name] = path
    _checkFiles(listed, given, dsc_path.name)
    return dsc, text


def checkChangedBy(value, what="Changed-By"):
    """A Changed-By must give usable mail addresses (as notifications
    parse it), none refused; returns it on one line."""
    addresses, rejected = parseAddresses(value)
    if rejected or not addresses:
        raise AdminError("%s %r is not a usable mail address"
                         % (what, value))
    return value.strip()


def readChanges(changes_path):
    """Read a source upload's .changes: its Changed-By, and the .dsc and
    files it lists, which must lie beside it with the sizes and checksums
    it gives.

    @return: C{(changed_by, dsc_path, file_paths)}.
    @raise AdminError: on one line, what is wrong.
    """
    what = changes_path.name
    changes, _ = _readControl(changes_path, deb822.Changes,
                              ("Source", "Version", "Changed-By", "Files"))
    changed_by = checkChangedBy(changes["Changed-By"],
                                "%s: Changed-By" % (what,))
    listed = _listedFiles(changes, what)
    dscs = sorted(name for name in listed if name.endswith(".dsc"))
    if not dscs:
        raise AdminError("%s lists no .dsc: only source uploads can be "
                         "added" % (what,))
    if len(dscs) > 1:
        raise AdminError("%s lists %d .dsc files; a source upload has one"
                         % (what, len(dscs)))
    given = {}
    for name in listed:
        path = changes_path.parent / name
        if not path.is_file():
            raise AdminError("%s lists %s, which is not beside it"
                             % (what, name))
        given[name] = path
    _checkFiles(listed, given, what)
    dsc_path = given.pop(dscs[0])
    dsc, _ = _readControl(dsc_path, deb822.Dsc, ("Source", "Version"))
    if (changes["Source"], changes["Version"]) != (dsc["Source"],
                                                   dsc["Version"]):
        raise AdminError("%s is for %s %s, but its .dsc is %s %s" % (
            what, changes["Source"], changes["Version"], dsc["Source"],
            dsc["Version"]))
    return changed_by, dsc_path, [given[name] for name in sorted(given)]


def cmd_source_add(args, config, dsn):
    """Add a source package (a .changes, or a .dsc and its files) and
    publish it."""
    problem = placementProblem(args.component, args.section)
    if problem:
        raise AdminError(problem)
    first = checkFile(args.dsc)
    changed_by = ""
    if first.name.endswith(".changes"):
        if args.files:
            raise AdminError(
                "a .changes lists its files: give no FILES after it")
        if args.changed_by is not None:
            raise AdminError("give --changed-by or a .changes, not both")
        changed_by, dsc_path, files = readChanges(first)
    else:
        if args.changed_by is not None:
            changed_by = checkChangedBy(args.changed_by)
        dsc_path, files = first, [checkFile(f) for f in args.files]
    dsc, text = readDsc(dsc_path, files)
    row = runWithStore(dsn, _sourceAdd, args, librarianTarget(config),
                       dsc_path, files, dsc, text, changed_by)
    output(args, row, lambda r: (
        "source %(name)s %(version)s added (id %(id)d), published in "
        "%(distribution)s %(series)s %(pocket)s (archive %(archive)s)" % r))


@defer.inlineCallbacks
def _sourceAdd(store, args, root, dsc_path, files, dsc, text, changed_by):
    pocket = parseEnum(PackagePublishingPocket, args.pocket, "pocket")
    urgency = parseEnum(SourcePackageUrgency, args.urgency, "urgency")
    release = yield getSeries(store, args.distribution, args.series)
    archive = yield getArchive(store, args.distribution, args.archive)
    name, version = dsc["Source"], dsc["Version"]
    if (yield store.sources.getByNameVersion(name, version)) is not None:
        raise AdminError("source %s %s exists already" % (name, version))
    stored = []
    for path in [dsc_path] + files:
        alias = yield addLibraryFile(store, root, path)
        stored.append((alias, sourceFileType(path.name)))
    try:
        spr_id = yield store.sources.add(
            name, version, stored, release.id, archive.id, pocket,
            component=args.component, section=args.section,
            urgency=urgency, maintainer=dsc.get("Maintainer", ""),
            architecturehintlist=dsc.get("Architecture", "any"), dsc=text,
            changed_by=changed_by)
    except DuplicateSource as e:
        raise AdminError(str(e)) from None
    return {"id": spr_id, "name": name, "version": version,
            "distribution": args.distribution, "series": args.series,
            "pocket": pocket.name, "archive": archive.name,
            "changed_by": changed_by, "files": [a for a, _ in stored]}


def addSourceCommands(sub):
    source = group(sub, "source", "add source packages")
    p = source.add_parser("add", help=cmd_source_add.__doc__)
    p.add_argument("distribution", metavar="DISTRO")
    p.add_argument("series", metavar="SERIES")
    p.add_argument("dsc", metavar="DSC|CHANGES",
                   help="a .dsc, or a source upload's .changes (which "
                   "names the .dsc and its files, beside it)")
    p.add_argument("files", metavar="FILES", nargs="*",
                   help="with a .dsc: the files it lists")
    p.add_argument("--changed-by", metavar="ADDRESS",
                   help="with a .dsc: who made this upload (a .changes "
                   "gives its Changed-By); mailed with the Maintainer "
                   "when a build fails")
    p.add_argument("--pocket", default="release", metavar="P")
    p.add_argument("--archive", default="primary", metavar="A")
    p.add_argument("--component", default="main")
    p.add_argument("--section", default="misc")
    p.add_argument("--urgency", default="low",
                   help="low, medium, high or emergency")
    jsonOption(p)
    p.set_defaults(func=cmd_source_add)
