"""Making a launchpad-buildd chroot tarball with debootstrap.

The layout launchpad-buildd unpacks (its ``unpack-chroot``): one top
directory ``chroot-autobuild/`` holding a Debian system with
build-essential and fakeroot, a ``buildd`` user (uid 2001) and group (gid
2501) that builds run as, and a sources.list for the mirror. Without that
user, sbuild makes one with another uid and dh_builddeb fails with
"Permission denied".

This runs long (minutes) and blocks: it is for ``buildmaster-admin chroot
create``, never for the master's reactor. Progress goes to a callable,
one line at a time.
"""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

TOP = "chroot-autobuild"
BUILDD_UID, BUILDD_GID = 2001, 2501
BUILDD_HOME = "/home/buildd"
#: What every build chroot has besides the buildd variant's essentials.
BASE_PACKAGES = ("build-essential", "fakeroot")


class ChrootError(Exception):
    """Making the chroot failed; the message says why, on one line."""


def checkCanMake(debootstrap="debootstrap"):
    """@raise ChrootError: debootstrap is missing or we are not root."""
    if shutil.which(debootstrap) is None:
        raise ChrootError(
            "debootstrap is not installed (Debian: apt-get install "
            "debootstrap); chroot create needs it")
    if os.geteuid() != 0:
        raise ChrootError("chroot create must run as root (debootstrap "
                          "does)")


def debootstrapCommand(target, suite, mirror, arch, include=(),
                       keyring=None, check_gpg=True,
                       debootstrap="debootstrap"):
    packages = list(BASE_PACKAGES) + [p for p in include
                                      if p not in BASE_PACKAGES]
    argv = [debootstrap, "--variant=buildd", "--arch=" + arch,
            "--include=" + ",".join(packages)]
    if keyring:
        argv.append("--keyring=" + str(keyring))
    if not check_gpg:
        argv.append("--no-check-gpg")
    return argv + [suite, str(target), mirror]


def addBuilddUser(root):
    """The buildd user and group, written into the chroot's own account
    files (no program of the chroot runs)."""
    etc = Path(root) / "etc"

    def add(name, line, key):
        path = etc / name
        lines = path.read_text().splitlines() if path.exists() else []
        lines = [l for l in lines if l.split(":", 1)[0] != key]
        path.write_text("\n".join(lines + [line]) + "\n")
    add("group", "buildd:x:%d:" % BUILDD_GID, "buildd")
    add("passwd", "buildd:x:%d:%d:Build Daemon user:%s:/bin/bash" % (
        BUILDD_UID, BUILDD_GID, BUILDD_HOME), "buildd")
    if (etc / "shadow").exists():
        add("shadow", "buildd:*:19000:0:99999:7:::", "buildd")
    if (etc / "gshadow").exists():
        add("gshadow", "buildd:*::", "buildd")
    home = Path(root) / BUILDD_HOME.lstrip("/")
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, BUILDD_UID, BUILDD_GID)
    # Builds may use sudo inside the chroot as the buildd user.
    sudoers = etc / "sudoers.d"
    sudoers.mkdir(exist_ok=True)
    (sudoers / "buildd").write_text("buildd ALL=(ALL) NOPASSWD: ALL\n")
    os.chmod(sudoers / "buildd", 0o440)


def writeSourcesList(root, mirror, suite, components=("main",)):
    path = Path(root) / "etc" / "apt" / "sources.list"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("deb %s %s %s\n" % (mirror, suite, " ".join(components)))


def cleanChroot(root):
    """What must not travel in the tarball: apt's downloaded packages and
    lists, and the host's name."""
    root = Path(root)
    for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
        directory = root / sub
        if directory.is_dir():
            for entry in directory.iterdir():
                if entry.is_file() and entry.name not in ("lock",):
                    entry.unlink()
    for name in ("etc/hostname",):
        path = root / name
        if path.exists():
            path.unlink()


def mountedUnder(path):
    """Mount points at or below C{path} (so that we never delete through
    a bind mount)."""
    path = os.path.realpath(path)
    found = []
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                point = line.split()[1].replace("\\040", " ")
                if point == path or point.startswith(path + "/"):
                    found.append(point)
    except OSError:
        pass
    return found


def makeTarball(workdir, output, progress, tar="tar"):
    """C{workdir/chroot-autobuild} as a gzipped tarball at C{output},
    numeric owners kept (GNU tar: much faster than Python's tarfile on a
    whole system)."""
    started = time.monotonic()
    argv = [tar, "-C", str(workdir), "--numeric-owner",
            "--checkpoint=2000", "--checkpoint-action=echo=%u",
            "-czf", str(output), TOP]
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE) as proc:
        errors = []
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").strip()
            number = line.rsplit(":", 1)[-1].strip()
            if number.isdigit():
                progress("packing: %s records (%.0f s)" % (
                    number, time.monotonic() - started))
            elif line:
                errors = (errors + [line])[-3:]
        code = proc.wait()
    if code:
        raise ChrootError("tar failed (exit %d): %s" % (
            code, " / ".join(errors)))
    progress("packed %s (%d bytes)" % (os.path.basename(output),
                                       os.path.getsize(output)))


def makeChroot(output, suite, mirror, arch, progress, include=(),
               keyring=None, check_gpg=True, tmpdir=None,
               debootstrap="debootstrap"):
    """Debootstrap C{suite} from C{mirror} for C{arch} and pack it as a
    launchpad-buildd chroot tarball at C{output}.

    @param progress: called with one line of text per step.
    @raise ChrootError: on any failure (the work directory is removed).
    """
    checkCanMake(debootstrap)
    workdir = tempfile.mkdtemp(prefix="chroot-", dir=tmpdir)
    target = os.path.join(workdir, TOP)
    started = time.monotonic()
    try:
        argv = debootstrapCommand(target, suite, mirror, arch, include,
                                  keyring, check_gpg, debootstrap)
        progress("running %s" % " ".join(argv))
        tail = []
        with subprocess.Popen(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) as proc:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip()
                tail = (tail + [line])[-5:]
                if line.startswith(("I: ", "E: ", "W: ")):
                    progress("debootstrap (%.0f s): %s" % (
                        time.monotonic() - started, line))
            code = proc.wait()
        if code:
            raise ChrootError("debootstrap failed (exit %d): %s" % (
                code, " / ".join(l for l in tail if l)[-300:]))
        progress("adding the buildd user (%d:%d) and sources.list"
                 % (BUILDD_UID, BUILDD_GID))
        addBuilddUser(target)
        writeSourcesList(target, mirror, suite)
        cleanChroot(target)
        progress("packing %s" % os.path.basename(output))
        makeTarball(workdir, output, progress)
    except OSError as e:
        raise ChrootError("cannot make the chroot: %s" % (e,)) from None
    finally:
        mounts = mountedUnder(workdir)
        if mounts:
            progress("left %s in place: %s still mounted" % (
                workdir, ", ".join(mounts)))
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    progress("done in %.0f s" % (time.monotonic() - started))
    return output
