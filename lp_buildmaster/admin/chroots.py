"""C{chroot set} (a tarball the operator gives) and C{chroot create}
(debootstrap, L{lp_buildmaster.chrootmaker})."""

import os
import re
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

from twisted.internet import defer, threads

from lp_buildmaster import chrootmaker
from lp_buildmaster.admin.archives import checkArchiveURL
from lp_buildmaster.admin.command import (
    AdminError, group, jsonOption, librarianRoot, librarianTarget,
    parseEnum, runWithStore)
from lp_buildmaster.admin.library import addLibraryFile, checkFile
from lp_buildmaster.admin.lookups import getDistroArchRelease
from lp_buildmaster.admin.render import output
from lp_buildmaster.enums import PackagePublishingPocket


def cmd_chroot_set(args, config, dsn):
    """Store a chroot tarball and use it for a series, arch and pocket."""
    path = checkTarball(checkFile(args.file))
    row = runWithStore(dsn, _chrootSet, args, librarianTarget(config), path)
    output(args, row, lambda r: (
        "chroot of %(distribution)s %(series)s %(arch)s %(pocket)s is now "
        "%(filename)s (library file %(alias)d)" % r))


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
    addChrootCreate(chroot)


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
