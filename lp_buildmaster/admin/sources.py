"""C{source add}: a source package checked (python-debian) and
published."""

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


def readDsc(dsc_path, file_paths):
    """Parse a .dsc and check the files it lists against C{file_paths}.

    @return: C{(dsc, text)}: the L{debian.deb822.Dsc} and its text.
    @raise AdminError: a field is missing, a listed file is not given,
        a given file is not listed, or a size or checksum differs.
    """
    text = dsc_path.read_text(encoding="utf-8", errors="replace")
    try:
        dsc = deb822.Dsc(text)
    except Exception as e:
        raise AdminError("cannot parse %s: %s" % (dsc_path, e)) from None
    for field in ("Source", "Version", "Files"):
        if not dsc.get(field):
            raise AdminError("%s has no %s field" % (dsc_path.name, field))
    problem = sourceProblem(dsc["Source"], dsc["Version"])
    if problem:
        raise AdminError("%s: %s" % (dsc_path.name, problem))
    listed = {}
    for field, key in (("Files", "md5sum"), ("Checksums-Sha1", "sha1"),
                       ("Checksums-Sha256", "sha256")):
        for entry in dsc.get(field) or ():
            problem = filenameProblem(entry["name"])
            if problem:
                raise AdminError("%s lists %r: %s" % (
                    dsc_path.name, entry["name"], problem))
            info = listed.setdefault(entry["name"], {})
            info[key] = entry[key].lower()
            info["size"] = int(entry["size"])
    given = {}
    for path in file_paths:
        if path.name in given:
            raise AdminError("%s is given twice" % (path.name,))
        given[path.name] = path
    extra = sorted(set(given) - set(listed))
    if extra:
        raise AdminError("%s is not listed in %s"
                         % (", ".join(extra), dsc_path.name))
    for name, info in sorted(listed.items()):
        if name not in given:
            raise AdminError("%s lists %s, which was not given"
                             % (dsc_path.name, name))
        size, md5, sha1, sha256 = hashFile(given[name])
        if size != info["size"]:
            raise AdminError("%s is %d bytes, but %s says %d"
                             % (name, size, dsc_path.name, info["size"]))
        for key, actual in (("md5sum", md5), ("sha1", sha1),
                            ("sha256", sha256)):
            if key in info and info[key] != actual:
                raise AdminError("%s does not match its %s in %s"
                                 % (name, key, dsc_path.name))
    return dsc, text


def cmd_source_add(args, config, dsn):
    """Add a source package (.dsc and its files) and publish it."""
    problem = placementProblem(args.component, args.section)
    if problem:
        raise AdminError(problem)
    dsc_path = checkFile(args.dsc)
    files = [checkFile(f) for f in args.files]
    dsc, text = readDsc(dsc_path, files)
    row = runWithStore(dsn, _sourceAdd, args, librarianTarget(config),
                       dsc_path, files, dsc, text)
    output(args, row, lambda r: (
        "source %(name)s %(version)s added (id %(id)d), published in "
        "%(distribution)s %(series)s %(pocket)s (archive %(archive)s)" % r))


@defer.inlineCallbacks
def _sourceAdd(store, args, root, dsc_path, files, dsc, text):
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
            architecturehintlist=dsc.get("Architecture", "any"), dsc=text)
    except DuplicateSource as e:
        raise AdminError(str(e)) from None
    return {"id": spr_id, "name": name, "version": version,
            "distribution": args.distribution, "series": args.series,
            "pocket": pocket.name, "archive": archive.name,
            "files": [a for a, _ in stored]}


def addSourceCommands(sub):
    source = group(sub, "source", "add source packages")
    p = source.add_parser("add", help=cmd_source_add.__doc__)
    p.add_argument("distribution", metavar="DISTRO")
    p.add_argument("series", metavar="SERIES")
    p.add_argument("dsc", metavar="DSC")
    p.add_argument("files", metavar="FILES", nargs="*",
                   help="the files the .dsc lists")
    p.add_argument("--pocket", default="release", metavar="P")
    p.add_argument("--archive", default="primary", metavar="A")
    p.add_argument("--component", default="main")
    p.add_argument("--section", default="misc")
    p.add_argument("--urgency", default="low",
                   help="low, medium, high or emergency")
    jsonOption(p)
    p.set_defaults(func=cmd_source_add)
