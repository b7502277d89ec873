"""``buildmaster-admin``: the operator's command line.

It reads the same configuration as the master and works whether or not a
master is running: the database is the truth. Errors go to stderr as one
line, with exit status 1 (2 for a usage error).
"""

import argparse
import datetime
import getpass
import hashlib
import math
import os
import mimetypes
import re
import socket
import sys
import tarfile
from pathlib import Path
from urllib.parse import quote, urlparse

from debian import deb822
from twisted.internet import defer, task

from lp_buildmaster import config as configmodule
from lp_buildmaster import formatting
from lp_buildmaster.enums import (
    BuildStatus, PackagePublishingPocket, SourcePackageUrgency)
from lp_buildmaster.librarian.storage import ContentStore
from lp_buildmaster.model.names import (
    builderNameProblem, filenameProblem, placementProblem, sourceProblem)
from lp_buildmaster.store import Store, connection, sampledata, schema
from lp_buildmaster.store.builders import DuplicateName
from lp_buildmaster.store.builds import DuplicateBuild
from lp_buildmaster.store.sources import DuplicateSource


class AdminError(Exception):
    """A failure to report on one line."""


def librarianRoot(config):
    return Path(config.master_state_dir) / "librarian"


def librarianTarget(config):
    """Where files added here go: the state directory's librarian, or a
    factory C{f(store)} of the client of the shared librarian
    (C{[librarian] url}) or of the Swift backend."""
    if not config.librarian_url and config.librarian_backend == "local":
        return librarianRoot(config)

    def client(store):
        from lp_buildmaster.service import librarianSecret
        state = Path(config.master_state_dir)
        secret = librarianSecret(state, config.librarian_secret_file)
        if config.librarian_url:
            from twisted.internet import reactor
            from twisted.web.client import HTTPConnectionPool

            from lp_buildmaster.librarian.remote import (
                RemoteLibrarianClient)
            # One command, one upload: no connection kept afterwards.
            return RemoteLibrarianClient(
                config.librarian_url, secret, state / "librarian-spool",
                pool=HTTPConnectionPool(reactor, persistent=False))
        from lp_buildmaster.librarian.backends import backendFromConfig
        from lp_buildmaster.librarian.client import LibrarianClient
        return LibrarianClient(store, backendFromConfig(config, state), "",
                               secret)
    return client


def uploadRoot(config):
    return Path(config.master_state_dir) / "uploads"


#: The only commands that may create the embedded database.
CREATING_COMMANDS = ("init", "sampledata")


def cmd_init(args, config, dsn):
    """Create the database (embedded unless one is configured) and bring
    its schema up to date."""
    print("database ready: %s" % connection.describeDSN(dsn))


def cmd_sampledata(args, config, dsn):
    """Load the seed's sample data (idempotent)."""
    conn = connection.connectSync(dsn)
    try:
        loaded = sampledata.loadSampleData(conn, librarianRoot(config))
    finally:
        conn.close()
    print("sample data loaded" if loaded else "sample data already present")


@defer.inlineCallbacks
def _withStore(dsn, fn, *args):
    store = yield Store.connect(dsn, size=1)
    try:
        return (yield fn(store, *args))
    finally:
        store.close()


def runWithStore(dsn, fn, *args):
    """Run C{fn(store, *args)} (returning a Deferred) on a reactor; return
    its result, or raise what it failed with."""
    return runDeferred(_withStore, dsn, fn, *args)


def runDeferred(fn, *args):
    """Run C{fn(*args)} (returning a Deferred) under L{task.react}; return
    its result, or raise what it failed with."""
    result = []
    failures = []

    def main(reactor):
        d = defer.maybeDeferred(fn, *args)
        d.addCallbacks(result.append, failures.append)
        return d
    try:
        task.react(main)
    except SystemExit as e:
        if e.code:
            raise
    if failures:
        failures[0].raiseException()
    return result[0] if result else None


def output(args, rows, text):
    """Print C{rows} as JSON with --json (times ISO 8601 as in the API),
    else C{text(rows)}."""
    if args.json:
        print(formatting.dumps(rows, indent=2))
    else:
        print(text(rows))


def parseEnum(enum, name, what):
    """C{enum.byName(name)}, or an L{AdminError} naming the valid names."""
    try:
        return enum.byName(name)
    except KeyError:
        raise AdminError("unknown %s %r; choose one of %s" % (
            what, name, ", ".join(n.lower() for n in enum.__members__))
        ) from None


#: PostgreSQL's integer (ids, scores, limits): numbers are checked against
#: the column they go into, so none overflows in the database.
INT4_MIN, INT4_MAX = -2 ** 31, 2 ** 31 - 1


def integer(minimum=INT4_MIN, maximum=INT4_MAX, what="number"):
    """An argparse type: an integer between C{minimum} and C{maximum}."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a number" % text)
        if value < minimum:
            raise argparse.ArgumentTypeError(
                "%s must be at least %d" % (what, minimum))
        if value > maximum:
            raise argparse.ArgumentTypeError(
                "%s must be at most %d" % (what, maximum))
        return value
    return parse


#: Ids and counts: 1 up to what an integer column holds.
positiveInt = integer(1, INT4_MAX)


def positiveFloat(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text)
    if not math.isfinite(value) or not value > 0:
        raise argparse.ArgumentTypeError(
            "must be a finite number greater than 0")
    return value


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

    @raise AdminError: naming what is wrong.
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
        raise AdminError(
            "malformed builder URL %r: it must be http(s)://HOST:PORT/ (%s)"
            % (url, problem))
    return url


def builderStatus(builder, running=None):
    """One word (and the notes) for a builder's state."""
    if not builder.active:
        return "disabled"
    if not builder.builderok:
        return "failed: %s" % (builder.failnotes or "no notes")
    if running is not None:
        return "building"
    return "manual" if builder.manual else "idle"


def builderRow(builder, processors, running=None):
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
        "status": builderStatus(builder, running),
        "current_build": None if running is None else running.build,
    }


def table(header, rows):
    """Left-aligned columns; C{rows} of strings."""
    rows = [header] + [["" if c is None else str(c) for c in r]
                       for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
        for r in rows)


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
def getArchive(store, distribution, name):
    archive = yield store.distro.getArchive(distribution, name)
    if archive is None:
        raise AdminError("unknown archive %r of %s" % (name, distribution))
    return archive


@defer.inlineCallbacks
def getDistroArchRelease(store, distribution, series, arch):
    dar = yield store.distro.getDistroArchRelease(distribution, series, arch)
    if dar is not None:
        return dar
    release = yield store.distro.getDistroRelease(distribution, series)
    if release is None:
        if (yield store.distro.getDistribution(distribution)) is None:
            raise AdminError("unknown distribution %r" % (distribution,))
        raise AdminError("unknown series %r of %s" % (series, distribution))
    raise AdminError("%s %s has no architecture %r"
                     % (distribution, series, arch))


# Builders

def cliActor():
    """The CLI acts as the shell user, with every right (it can read the
    master's configuration and database anyway)."""
    from lp_buildmaster.actions import Actor
    return Actor("cli:%s" % getpass.getuser(), "admin",
                 "cli@%s" % socket.gethostname())


def runAction(dsn, name, *args, **kwargs):
    """Run C{Actions(store, cliActor()).name(*args, **kwargs)}."""
    from lp_buildmaster.actions import Actions

    def act(store):
        return getattr(Actions(store, cliActor()), name)(*args, **kwargs)
    return runWithStore(dsn, act)


def cmd_builder_add(args, config, dsn):
    """Register a builder."""
    builder_id = runAction(
        dsn, "addBuilder", args.name, args.url, args.processor,
        title=args.title, virtualized=args.virtualized, manual=args.manual,
        vm_host=args.vm_host)
    output(args, {"id": builder_id, "name": args.name},
           lambda row: "builder %s added (id %d)" % (row["name"], row["id"]))


@defer.inlineCallbacks
def _builderAdd(store, args):
    processor = yield store.distro.getProcessor(args.processor)
    if processor is None:
        known = yield store.distro.processors()
        raise AdminError("unknown processor %r; known: %s" % (
            args.processor, ", ".join(p.name for p in known)))
    try:
        return (yield store.builders.add(
            args.name, args.url, processor.id, title=args.title or "",
            virtualized=args.virtualized, manual=args.manual,
            vm_host=args.vm_host))
    except DuplicateName:
        raise AdminError("a builder named %r exists already" % (args.name,))


def cmd_builder_list(args, config, dsn):
    """List the builders and what they do."""
    rows = runWithStore(dsn, _builderRows)
    output(args, rows, lambda rows: table(
        ["NAME", "PROCESSOR", "URL", "VIRT", "MODE", "STATUS", "BUILD"],
        [[r["name"], r["processor"], r["url"],
          "yes" if r["virtualized"] else "no",
          "manual" if r["manual"] else "auto", r["status"],
          r["current_build"]] for r in rows]))


@defer.inlineCallbacks
def _builderRows(store):
    processors = yield processorNames(store)
    running = {q.builder: q for q in (yield store.queue.all())
               if q.builder is not None}
    return [builderRow(b, processors, running.get(b.id))
            for b in (yield store.builders.all())]


def cmd_builder_set(args, config, dsn):
    """Enable, disable or switch the mode of a builder."""
    if not (args.enable or args.disable is not None or args.manual
            or args.auto):
        args.parser.error(
            "builder set needs --enable, --disable, --manual or --auto")
    row = runAction(dsn, "setBuilder", args.name, enable=args.enable,
                    disable=args.disable,
                    manual=True if args.manual else
                    (False if args.auto else None))
    output(args, row, lambda r: "builder %s: %s, %s" % (
        r["name"], r["status"], "manual" if r["manual"] else "auto"))


@defer.inlineCallbacks
def _builderSet(store, args):
    builder = yield getBuilder(store, args.name)
    values = {}
    if args.enable:
        values.update(active=True, builderok=True, failnotes=None,
                      failure_count=0)
    elif args.disable is not None:
        if not args.disable.strip():
            raise AdminError("--disable needs a reason")
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
    return builderRow(builder, (yield processorNames(store)), running)


# Chroots

def cmd_chroot_set(args, config, dsn):
    """Store a chroot tarball and use it for a series, arch and pocket."""
    path = checkTarball(checkFile(args.file))
    row = runWithStore(dsn, _chrootSet, args, librarianTarget(config), path)
    output(args, row, lambda r: (
        "chroot of %(distribution)s %(series)s %(arch)s %(pocket)s is now "
        "%(filename)s (library file %(alias)d)" % r))


def checkFile(name):
    path = Path(name)
    if path.is_dir():
        raise AdminError("%s is a directory, not a file" % (name,))
    if not path.is_file():
        raise AdminError("no such file: %s" % (name,))
    return path


def checkTarball(path):
    """Refuse a chroot that is not a readable, non-empty tarball (plain or
    compressed), by reading its first member with C{tarfile}."""
    try:
        with tarfile.open(path, "r:*") as tar:
            first = tar.next()
    except (tarfile.TarError, EOFError, OSError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise AdminError("%s is not a readable tarball: %s"
                         % (path, reason.rstrip(":"))) from None
    if first is None:
        raise AdminError("%s is an empty tarball" % (path,))
    return path


def mimetypeOf(path):
    if path.name.endswith(".dsc"):
        return "text/plain"
    kind, encoding = mimetypes.guess_type(path.name)
    if encoding == "gzip":
        return "application/gzip"
    if encoding in ("xz", "bzip2"):
        return "application/x-" + encoding
    return kind or "application/octet-stream"


@defer.inlineCallbacks
def addLibraryFile(store, root, path):
    """Copy the file at C{path} into the librarian; fires with its alias
    id.

    @param root: the librarian's directory, or see L{librarianTarget}.
    """
    if callable(root):
        with path.open("rb") as f:
            return (yield root(store).addFile(
                path.name, path.stat().st_size, f, mimetypeOf(path)))
    from lp_buildmaster.librarian.client import LibrarianClient
    client = LibrarianClient(store, ContentStore(root), base_url="",
                             secret="")
    with path.open("rb") as f:
        return (yield client.addFile(
            path.name, path.stat().st_size, f, mimetypeOf(path)))


@defer.inlineCallbacks
def _chrootSet(store, args, root, path):
    dar = yield getDistroArchRelease(store, args.distribution, args.series,
                                     args.arch)
    pocket = parseEnum(PackagePublishingPocket, args.pocket, "pocket")
    alias = yield addLibraryFile(store, root, path)
    yield store.distro.setChroot(dar.id, pocket, alias)
    return {"distribution": args.distribution, "series": args.series,
            "arch": args.arch, "pocket": pocket.name, "alias": alias,
            "filename": path.name}


# Sources

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


def hashFile(path):
    """C{(size, md5, sha1, sha256)} of a file, read in chunks."""
    digests = [hashlib.md5(), hashlib.sha1(), hashlib.sha256()]
    size = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(65536), b""):
            size += len(chunk)
            for d in digests:
                d.update(chunk)
    return (size,) + tuple(d.hexdigest() for d in digests)


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
    release = yield store.distro.getDistroRelease(args.distribution,
                                                  args.series)
    if release is None:
        if (yield store.distro.getDistribution(args.distribution)) is None:
            raise AdminError("unknown distribution %r" % (args.distribution,))
        raise AdminError("unknown series %r of %s"
                         % (args.series, args.distribution))
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


# Builds

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


def cmd_build_request(args, config, dsn):
    """Create a build of a published source; prints the build id."""
    build_id = runAction(dsn, "requestBuild", args.distribution,
                         args.series, args.arch, args.source, args.version,
                         pocket=args.pocket, archive=args.archive)
    output(args, {"id": build_id}, lambda r: str(r["id"]))


@defer.inlineCallbacks
def _buildRequest(store, args):
    pocket = parseEnum(PackagePublishingPocket, args.pocket, "pocket")
    dar = yield getDistroArchRelease(store, args.distribution, args.series,
                                     args.arch)
    archive = yield getArchive(store, args.distribution, args.archive)
    spr = yield store.sources.getByNameVersion(args.source, args.version)
    if spr is None:
        raise AdminError("unknown source %s %s"
                         % (args.source, args.version))
    where = "%s %s %s (archive %s)" % (args.distribution, args.series,
                                       pocket.name, archive.name)
    published = yield store.sources.isPublishedInPocket(
        spr.id, dar.distrorelease, archive.id, pocket)
    if not published:
        raise AdminError("source %s %s is not published in %s"
                         % (spr.name, spr.version, where))
    try:
        return (yield store.builds.request(dar.id, spr.id, archive.id,
                                           pocket))
    except DuplicateBuild as e:
        raise AdminError(
            "build %d of %s %s for %s in %s is %s already"
            % (e.build_id, spr.name, spr.version, args.arch, where,
               e.state.name)) from None


def buildRow(build, queue=None, builder_name=None):
    return {
        "id": build.id,
        "title": build.title,
        "state": build.buildstate.name,
        "state_title": build.buildstate.title,
        "source": build.source_name,
        "version": build.source_version,
        "distribution": build.distribution_name,
        "series": build.distrorelease_name,
        "arch": build.architecturetag,
        "pocket": build.pocket.name,
        "archive": build.archive_name,
        "component": build.component,
        "builder": builder_name,
        "datecreated": build.datecreated,
        "date_started": build.date_started,
        "datebuilt": build.datebuilt,
        "buildduration": build.buildduration,
        "dependencies": build.dependencies,
        "failnotes": build.failnotes,
        "failure_count": build.failure_count,
        "buildlog": build.buildlog,
        "upload_log": build.upload_log,
        "score": None if queue is None else queue.lastscore,
        "score_manual": None if queue is None else queue.manual,
    }


def showValue(key, value):
    """A value of L{buildRow} as C{build show} prints it."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return formatting.textTime(value)
    if isinstance(value, datetime.timedelta):
        return formatting.textDuration(value)
    return value


def cmd_build_show(args, config, dsn):
    """Show one build, with the URLs of its log and upload log."""
    from lp_buildmaster.web.present import librarianBaseURL
    row = runWithStore(dsn, _buildShow, args.id, librarianBaseURL(config))

    def text(row):
        return "\n".join("%-14s %s" % (key + ":", showValue(key, value))
                         for key, value in row.items())
    output(args, row, text)


@defer.inlineCallbacks
def _buildShow(store, build_id, librarian_url):
    build = yield getBuild(store, build_id)
    queue = yield store.queue.getByBuild(build_id)
    name = None
    if build.builder is not None and build.buildstate != \
            BuildStatus.NEEDSBUILD:
        name = (yield store.builders.get(build.builder)).name
    row = buildRow(build, queue, name)
    for key in ("buildlog", "upload_log"):
        alias_id = getattr(build, key)
        alias = None
        if alias_id is not None:
            alias = yield store.library.getAlias(alias_id)
        row[key] = None if alias is None else "%s/%d/%s" % (
            librarian_url, alias.id, quote(alias.filename, safe=""))
    return row


def cmd_build_list(args, config, dsn):
    """List builds, newest first."""
    state = (None if args.state is None
             else parseEnum(BuildStatus, args.state, "build state"))
    rows = runWithStore(dsn, _buildList, state, args.limit)
    output(args, rows, lambda rows: table(
        ["ID", "STATE", "BUILDER", "SCORE", "TITLE"],
        [[r["id"], r["state"], r["builder"], r["score"], r["title"]]
         for r in rows]))


@defer.inlineCallbacks
def _buildList(store, state, limit):
    builds = yield store.builds.list(state=state, limit=limit)
    names = {b.id: b.name for b in (yield store.builders.all())}
    scores = {q.build: q for q in (yield store.queue.all())}
    return [buildRow(b, scores.get(b.id), names.get(b.builder))
            for b in builds]


def cmd_build_retry(args, config, dsn):
    """Queue a failed or cancelled build again."""
    runAction(dsn, "retryBuild", args.id)
    output(args, {"id": args.id, "state": "NEEDSBUILD"},
           lambda r: "build %d is NEEDSBUILD again" % r["id"])


@defer.inlineCallbacks
def _buildRetry(store, build_id):
    build = yield getBuild(store, build_id)
    queue_id = yield store.builds.retry(build_id, RETRYABLE_STATES)
    if queue_id is None:
        raise AdminError(
            "build %d is %s; only %s builds can be retried"
            % (build_id, build.buildstate.name,
               ", ".join(s.name for s in RETRYABLE_STATES)))


def cmd_build_cancel(args, config, dsn):
    """Cancel a waiting or running build."""
    state = runAction(dsn, "cancelBuild", args.id)
    output(args, {"id": args.id, "state": state.name}, lambda r: (
        "build %d is %s" % (r["id"], r["state"])
        + (": the scanner aborts it on its builder"
           if state == BuildStatus.CANCELLING else "")))


@defer.inlineCallbacks
def _buildCancel(store, build_id):
    build = yield getBuild(store, build_id)
    target = cancelTarget(build.buildstate)
    if target is None:
        raise AdminError(
            "build %d is %s; only NEEDSBUILD and BUILDING builds can be "
            "cancelled" % (build_id, build.buildstate.name))
    state, dequeue = target
    done = yield store.builds.transition(build_id, build.buildstate, state,
                                         dequeue=dequeue)
    if not done:
        raise AdminError("build %d changed state meanwhile; try again"
                         % (build_id,))
    return state


def cmd_build_rescore(args, config, dsn):
    """Set a waiting build's score by hand (kept by automatic rescoring),
    or with --auto hand it back to automatic scoring."""
    if (args.score is None) == (not args.auto):
        args.parser.error("build rescore needs a SCORE or --auto")
    score = runAction(dsn, "rescoreBuild", args.id,
                      None if args.auto else args.score)
    output(args, {"id": args.id, "score": score, "manual": not args.auto},
           lambda r: "build %(id)d now has score %(score)d" % r
           + ("" if r["manual"] else " (automatic)"))


def cmd_builder_remove(args, config, dsn):
    """Retire a builder: no more jobs or scans; its history stays."""
    runAction(dsn, "removeBuilder", args.name)
    output(args, {"name": args.name, "retired": True},
           lambda r: "builder %s retired; its builds keep naming it"
           % r["name"])


@defer.inlineCallbacks
def _buildRescore(store, build_id, score):
    build = yield getBuild(store, build_id)
    queue = yield store.queue.getByBuild(build_id)
    if queue is None or queue.builder is not None:
        raise AdminError("build %d is not waiting in the queue (it is %s)"
                         % (build_id, build.buildstate.name))
    if not (yield store.queue.rescore(queue.id, score)):
        raise AdminError("build %d left the queue meanwhile" % (build_id,))


# Why

def cmd_why(args, config, dsn):
    """Say why a build is not running (yet)."""
    # Imported here: the estimate comes with the web package, which the
    # other commands need not pay for at start-up.
    from lp_buildmaster import why
    explanation = runWithStore(dsn, _why, args.id)
    if args.json:
        print(formatting.dumps(explanation.asDict(), indent=2))
    else:
        print(why.formatText(explanation))


@defer.inlineCallbacks
def _why(store, build_id):
    context = yield store.builds.dispatchContext(build_id)
    if context is None:
        raise AdminError("unknown build %d" % (build_id,))
    from lp_buildmaster import why
    return why.explain(**context)


# Watch

CLEAR_SCREEN = "\x1b[H\x1b[2J"


@defer.inlineCallbacks
def farmSnapshot(store):
    """C{{"builders": [...], "queue": [...]}} for L{cmd_watch}."""
    processors = yield processorNames(store)
    entries = yield store.queue.all()
    builds = yield store.builds.getMany([q.build for q in entries])
    running = {q.builder: q for q in entries if q.builder is not None}
    builders = []
    for b in (yield store.builders.all()):
        job = running.get(b.id)
        builders.append({
            "name": b.name,
            "processor": processors.get(b.processor, b.processor),
            "status": builderStatus(b, job),
            "mode": "manual" if b.manual else "auto",
            "build": None if job is None else job.build,
            "title": (None if job is None or job.build not in builds
                      else builds[job.build].title),
            "failnotes": b.failnotes,
        })
    queue = []
    waiting = [q for q in entries if q.builder is None]
    for position, q in enumerate(waiting, 1):
        build = builds.get(q.build)
        queue.append({
            "position": position,
            "build": q.build,
            "score": q.lastscore,
            "manual": q.manual,
            "processor": processors.get(q.processor, q.processor),
            "title": None if build is None else build.title,
        })
    return {"builders": builders, "queue": queue}


def formatFrame(snapshot, now):
    builders = table(
        ["BUILDER", "PROCESSOR", "STATE", "MODE", "BUILD", "FAILNOTES"],
        [[b["name"], b["processor"], b["status"].split(":")[0], b["mode"],
          "" if b["build"] is None else "%d %s" % (b["build"], b["title"]),
          b["failnotes"]] for b in snapshot["builders"]])
    if snapshot["queue"]:
        queue = table(
            ["POS", "BUILD", "SCORE", "PROCESSOR", "TITLE"],
            [[q["position"], q["build"],
              "%d%s" % (q["score"], " (manual)" if q["manual"] else ""),
              q["processor"], q["title"]] for q in snapshot["queue"]])
    else:
        queue = "(no build waiting)"
    return "lp-buildmaster at %s\n\n%s\n\n%s" % (
        now.strftime("%Y-%m-%d %H:%M:%S"), builders, queue)


def cmd_watch(args, config, dsn):
    """Show the builders and the queue, refreshed every --interval."""
    runWithStore(dsn, _watch, args)


@defer.inlineCallbacks
def _watch(store, args):
    from twisted.internet import reactor
    while True:
        snapshot = yield farmSnapshot(store)
        if args.json:
            # One document per line, for a pipe: no terminal escapes.
            snapshot["time"] = datetime.datetime.now(datetime.timezone.utc)
            frame = formatting.dumps(
                snapshot, indent=2 if args.once else None)
        else:
            frame = formatFrame(snapshot, datetime.datetime.now())
        if args.once:
            print(frame)
            return
        if not args.json:
            frame = CLEAR_SCREEN + frame
        sys.stdout.write(frame + "\n")
        sys.stdout.flush()
        yield task.deferLater(reactor, args.interval, lambda: None)


# Uploads

def cmd_process_upload(args, config, dsn):
    """Process the builds waiting in the upload area."""
    from twisted.logger import LogLevel, formatEvent, globalLogPublisher

    from lp_buildmaster.upload import runProcessUpload

    def show(event):
        # The reactor's own chatter ("Main loop terminated.") is not news.
        if not event.get("log_namespace", "").startswith("lp_buildmaster"):
            return
        stream = (sys.stderr if event.get("log_level") in
                  (LogLevel.error, LogLevel.critical) else sys.stdout)
        print(formatEvent(event), file=stream)
    globalLogPublisher.addObserver(show)
    return runDeferred(runProcessUpload, dsn, uploadRoot(config),
                       librarianRoot(config))


def makeParser():
    parser = argparse.ArgumentParser(
        prog="buildmaster-admin",
        description="Administer an lp-buildmaster build farm.")
    parser.add_argument("--config", help="INI configuration file")
    parser.add_argument("--database", help="PostgreSQL DSN")
    parser.add_argument("--state-dir", help="state directory (default var)")
    parser.add_argument("--json", action="store_true",
                        help="print listings as JSON")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    sub.add_parser("init", help=cmd_init.__doc__).set_defaults(
        func=cmd_init)
    sub.add_parser("sampledata", help=cmd_sampledata.__doc__).set_defaults(
        func=cmd_sampledata)
    addBuilderCommands(sub)
    chroot = addChrootCommands(sub)
    addSourceCommands(sub)
    addBuildCommands(sub)
    addAccountCommands(sub)
    # Imported here: it builds on this module's helpers.
    from lp_buildmaster.admin_world import addWorldCommands
    addWorldCommands(sub, chroot)

    p = sub.add_parser("why", help=cmd_why.__doc__)
    p.add_argument("id", type=positiveInt, metavar="ID", help="build id")
    jsonOption(p)
    p.set_defaults(func=cmd_why)

    p = sub.add_parser("watch", help=cmd_watch.__doc__)
    p.add_argument("--interval", type=positiveFloat, default=5.0,
                   metavar="S", help="seconds between refreshes (5)")
    p.add_argument("--once", action="store_true",
                   help="print one frame and exit")
    jsonOption(p)
    p.set_defaults(func=cmd_watch)

    sub.add_parser("process-upload", help=cmd_process_upload.__doc__
                   ).set_defaults(func=cmd_process_upload)
    return parser, sub


def jsonOption(parser):
    """--json after the subcommand too (it is global as well)."""
    parser.add_argument("--json", action="store_true",
                        default=argparse.SUPPRESS,
                        help="print JSON instead of text")


def group(sub, name, help):
    """A subcommand with subcommands of its own."""
    p = sub.add_parser(name, help=help)
    inner = p.add_subparsers(dest="action", metavar="ACTION")
    inner.required = True
    return inner


def addBuilderCommands(sub):
    builder = group(sub, "builder", "add, list and configure builders")
    p = builder.add_parser("add", help=cmd_builder_add.__doc__)
    p.add_argument("name", metavar="NAME")
    p.add_argument("url", metavar="URL",
                   help="the builder's XML-RPC address, http://HOST:PORT/")
    p.add_argument("--processor", required=True, metavar="P")
    p.add_argument("--title", help="a longer name (default NAME)")
    p.add_argument("--virtualized", action="store_true",
                   help="a virtual machine, reset after each build "
                   "(builds for archives that require it, e.g. PPAs)")
    p.add_argument("--manual", action="store_true",
                   help="take no builds until set --auto")
    p.add_argument("--vm-host", metavar="H")
    jsonOption(p)
    p.set_defaults(func=cmd_builder_add)

    p = builder.add_parser("remove", help=cmd_builder_remove.__doc__)
    p.add_argument("name", metavar="NAME")
    jsonOption(p)
    p.set_defaults(func=cmd_builder_remove)

    p = builder.add_parser("list", help=cmd_builder_list.__doc__)
    jsonOption(p)
    p.set_defaults(func=cmd_builder_list)

    p = builder.add_parser("set", help=cmd_builder_set.__doc__)
    p.add_argument("name", metavar="NAME")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--enable", action="store_true",
                       help="ok again: clears failnotes and failure count")
    state.add_argument("--disable", metavar="REASON",
                       help="not ok, with REASON as its failnotes")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--manual", action="store_true")
    mode.add_argument("--auto", action="store_true")
    jsonOption(p)
    p.set_defaults(func=cmd_builder_set, parser=p)


def addChrootCommands(sub):
    chroot = group(sub, "chroot", "set chroot tarballs")
    p = chroot.add_parser("set", help=cmd_chroot_set.__doc__)
    p.add_argument("distribution", metavar="DISTRO")
    p.add_argument("series", metavar="SERIES")
    p.add_argument("arch", metavar="ARCH")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--pocket", default="release", metavar="P")
    jsonOption(p)
    p.set_defaults(func=cmd_chroot_set)
    return chroot


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


def addBuildCommands(sub):
    build = group(sub, "build", "request, inspect and steer builds")
    p = build.add_parser("request", help=cmd_build_request.__doc__)
    for name in ("distribution", "series", "arch", "source", "version"):
        p.add_argument(name, metavar={"distribution": "DISTRO"}.get(
            name, name.upper()))
    p.add_argument("--pocket", default="release", metavar="P")
    p.add_argument("--archive", default="primary", metavar="A")
    jsonOption(p)
    p.set_defaults(func=cmd_build_request)

    for name, func in (("show", cmd_build_show), ("retry", cmd_build_retry),
                       ("cancel", cmd_build_cancel)):
        p = build.add_parser(name, help=func.__doc__)
        p.add_argument("id", type=positiveInt, metavar="ID")
        jsonOption(p)
        p.set_defaults(func=func)

    p = build.add_parser("list", help=cmd_build_list.__doc__)
    p.add_argument("--state", metavar="S",
                   help="only builds in this state, e.g. needsbuild")
    p.add_argument("--limit", type=positiveInt, default=50, metavar="N")
    jsonOption(p)
    p.set_defaults(func=cmd_build_list)

    p = build.add_parser("rescore", help=cmd_build_rescore.__doc__)
    p.add_argument("id", type=positiveInt, metavar="ID")
    p.add_argument("--auto", action="store_true",
                   help="back to automatic scoring")
    p.add_argument("score", type=integer(what="a score"), metavar="SCORE",
                   nargs="?")
    jsonOption(p)
    p.set_defaults(func=cmd_build_rescore, parser=p)


# Accounts and tokens

def cmd_account_add(args, config, dsn):
    """Create an account with a role; --password reads one from stdin."""
    from lp_buildmaster.store.accounts import DuplicateAccount, hashPassword
    problem = builderNameProblem(args.name)
    if problem:
        raise AdminError(problem.replace("builder name", "account name"))
    password_hash = None
    if args.password:
        password_hash = hashPassword(readPassword())

    @defer.inlineCallbacks
    def add(store):
        from lp_buildmaster.store.accounts import AccountStore
        try:
            account_id = yield AccountStore(store).add(
                args.name, args.role, password_hash)
        except DuplicateAccount:
            raise AdminError("an account named %r exists already"
                             % (args.name,))
        yield AccountStore(store).record(
            cliActor().name, cliActor().origin, "account add",
            detail="%s (%s)" % (args.name, args.role))
        return account_id
    account_id = runWithStore(dsn, add)
    output(args, {"id": account_id, "name": args.name, "role": args.role},
           lambda r: "account %(name)s added (id %(id)d, %(role)s)" % r)


def readPassword():
    """A password from stdin (a terminal prompts without echo)."""
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        raise AdminError("a password needs at least 8 characters")
    return password


def cmd_account_set(args, config, dsn):
    """Change an account's role, or its password (--password, stdin)."""
    from lp_buildmaster.store.accounts import AccountStore, hashPassword
    if args.role is None and not args.password:
        args.parser.error("account set needs --role or --password")
    password_hash = hashPassword(readPassword()) if args.password else None

    @defer.inlineCallbacks
    def update(store):
        accounts = AccountStore(store)
        account = yield accounts.getByName(args.name)
        if account is None:
            raise AdminError("unknown account %r" % (args.name,))
        yield accounts.update(account.id, role=args.role,
                              password_hash=password_hash)
        yield accounts.record(
            cliActor().name, cliActor().origin, "account set",
            detail="%s%s%s" % (args.name, " role %s" % args.role
                               if args.role else "",
                               " password" if password_hash else ""))
        return (yield accounts.getByName(args.name))
    account = runWithStore(dsn, update)
    output(args, {"name": account.name, "role": account.role},
           lambda r: "account %(name)s: %(role)s" % r)


def cmd_account_list(args, config, dsn):
    """List the accounts with their roles and live tokens."""
    from lp_buildmaster.store.accounts import AccountStore
    rows = runWithStore(dsn, lambda store: AccountStore(store).all())
    output(args, rows, lambda rows: table(
        ["NAME", "ROLE", "PASSWORD", "TOKENS"],
        [[r["name"], r["role"], "yes" if r["has_password"] else "no",
          r["tokens"]] for r in rows]))


def cmd_token_create(args, config, dsn):
    """Create an API token for an account; it is printed once."""
    from lp_buildmaster.store.accounts import AccountStore

    @defer.inlineCallbacks
    def create(store):
        accounts = AccountStore(store)
        account = yield accounts.getByName(args.account)
        if account is None:
            raise AdminError("unknown account %r" % (args.account,))
        token_id, secret = yield accounts.createToken(
            account.id, args.description or "")
        yield accounts.record(cliActor().name, cliActor().origin,
                              "token create",
                              detail="token %d for %s" % (token_id,
                                                          account.name))
        return {"id": token_id, "account": account.name,
                "role": account.role, "token": secret}
    row = runWithStore(dsn, create)
    output(args, row, lambda r: (
        "token %(id)d for %(account)s (%(role)s); it is shown only now:\n"
        "%(token)s" % r))


def cmd_token_revoke(args, config, dsn):
    """Revoke an API token by its id."""
    from lp_buildmaster.store.accounts import AccountStore

    @defer.inlineCallbacks
    def revoke(store):
        accounts = AccountStore(store)
        if not (yield accounts.revokeToken(args.id)):
            raise AdminError("no live token %d" % (args.id,))
        yield accounts.record(cliActor().name, cliActor().origin,
                              "token revoke", detail="token %d" % args.id)
    runWithStore(dsn, revoke)
    output(args, {"id": args.id, "revoked": True},
           lambda r: "token %(id)d revoked" % r)


def cmd_token_list(args, config, dsn):
    """List the API tokens (never their secrets)."""
    from lp_buildmaster.store.accounts import AccountStore
    rows = runWithStore(dsn, lambda store: AccountStore(store).tokens())
    output(args, rows, lambda rows: table(
        ["ID", "ACCOUNT", "CREATED", "REVOKED", "DESCRIPTION"],
        [[r["id"], r["account"], formatting.textTime(r["datecreated"]),
          formatting.textTime(r["date_revoked"])
          if r["date_revoked"] else "", r["description"]] for r in rows]))


def addAccountCommands(sub):
    from lp_buildmaster.store.accounts import ROLES
    account = group(sub, "account", "web and API accounts and their roles")
    p = account.add_parser("add", help=cmd_account_add.__doc__)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--role", choices=ROLES, required=True)
    p.add_argument("--password", action="store_true",
                   help="read a password for the login form from stdin")
    jsonOption(p)
    p.set_defaults(func=cmd_account_add)
    p = account.add_parser("set", help=cmd_account_set.__doc__)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--role", choices=ROLES)
    p.add_argument("--password", action="store_true")
    jsonOption(p)
    p.set_defaults(func=cmd_account_set, parser=p)
    p = account.add_parser("list", help=cmd_account_list.__doc__)
    jsonOption(p)
    p.set_defaults(func=cmd_account_list)

    token = group(sub, "token", "API tokens")
    p = token.add_parser("create", help=cmd_token_create.__doc__)
    p.add_argument("account", metavar="ACCOUNT")
    p.add_argument("--description", metavar="TEXT")
    jsonOption(p)
    p.set_defaults(func=cmd_token_create)
    p = token.add_parser("revoke", help=cmd_token_revoke.__doc__)
    p.add_argument("id", type=positiveInt, metavar="ID")
    jsonOption(p)
    p.set_defaults(func=cmd_token_revoke)
    p = token.add_parser("list", help=cmd_token_list.__doc__)
    jsonOption(p)
    p.set_defaults(func=cmd_token_list)


def main(argv=None):
    parser, _ = makeParser()
    args = parser.parse_args(argv)
    try:
        config = configmodule.load(args.config, overrides={
            ("master", "database"): args.database,
            ("master", "state_dir"): args.state_dir})
        if (args.command not in CREATING_COMMANDS
                and not (config.master_database
                         or os.environ.get("BUILDMASTER_DATABASE"))
                and not connection.embeddedExists(config.master_state_dir)):
            raise AdminError(
                "no database in %s: run 'buildmaster-admin init' (or "
                "sampledata) to create one, or name the master's state "
                "directory with --state-dir"
                % Path(config.master_state_dir).resolve())
        connection.checkStateDir(config.master_state_dir)
        dsn = connection.resolveDSN(config.master_database,
                                    config.master_state_dir)
        connection.prepareDatabase(dsn)
        return args.func(args, config, dsn) or 0
    except (configmodule.ConfigError, connection.StateDirError,
            connection.DatabaseUnavailable, schema.SchemaError,
            AdminError) as e:
        print("buildmaster-admin: error: %s" % (e,), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
