"""Reading an upload: its C{.changes} checked against the leaf's files.

Blocking (it hashes whole files): the processor runs L{readUpload} in a
thread. L{binaryPackages} names the packages the .deb files hold.
"""

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

from debian import deb822

from lp_buildmaster.model.packages import (
    PACKAGE_FILETYPES, InvalidBinaryFilename, parseDebFilename)
from lp_buildmaster.upload.area import (
    RECORDING, STORED, UPLOADER_LOG, UnsafeUploadName, checkFilename)

MAX_CHANGES_SIZE = 1024 * 1024
#: States in which a build may receive its upload.
BINARY_TYPES = {"deb": "application/vnd.debian.binary-package",
                "udeb": "application/vnd.debian.binary-package",
                "ddeb": "application/vnd.debian.binary-package",
                "buildinfo": "text/plain"}
HASHES = (("Files", "md5sum", "md5"), ("Checksums-Sha1", "sha1", "sha1"),
          ("Checksums-Sha256", "sha256", "sha256"))

_HEX = re.compile(r"^[0-9a-f]+$")


class UploadRejected(Exception):
    """The upload is wrong: it goes to rejected/."""



@dataclass(frozen=True)
class UploadFile:
    name: str
    path: Path
    size: int
    filetype: str


@dataclass(frozen=True)
class Upload:
    changes: str
    source: str
    version: str
    files: Tuple[UploadFile, ...]


def readUpload(leafdir):
    """Parse a leaf's .changes and verify every file it lists.

    Blocking: run it in a thread.

    @raise UploadRejected: naming the first problem found.
    @return: an L{Upload}.
    """
    names = [n for n in os.listdir(leafdir) if n.endswith(".changes")]
    if len(names) != 1:
        raise UploadRejected(
            "Expected one .changes file, found %d" % len(names))
    changes = regularFile(leafdir, names[0])
    if changes.st_size > MAX_CHANGES_SIZE:
        raise UploadRejected("%s is larger than %d bytes"
                             % (names[0], MAX_CHANGES_SIZE))
    try:
        with open(os.path.join(leafdir, names[0]), "rb") as f:
            # Strictly UTF-8, as policy says: python-debian would guess.
            fields = deb822.Changes(f.read().decode("utf-8"))
        source, version, listed = _changesFields(fields)
    except (UploadRejected, UnsafeUploadName) as e:
        raise UploadRejected("%s: %s" % (names[0], e)) from None
    except Exception as e:
        raise UploadRejected("%s could not be parsed: %s" % (names[0], e)
                             ) from None
    unlisted = sorted(set(os.listdir(leafdir)) - set(listed) - {
        names[0], UPLOADER_LOG, RECORDING, STORED})
    if unlisted:
        raise UploadRejected("%s not listed in %s" % (
            ", ".join(unlisted[:5]) + (" and %d more" % (len(unlisted) - 5)
                                       if len(unlisted) > 5 else ""),
            names[0]))
    files = []
    for name, (size, digests) in listed.items():
        stat_ = regularFile(leafdir, name)
        if stat_.st_size != size:
            raise UploadRejected("%s is %d bytes; %s says %d" % (
                name, stat_.st_size, names[0], size))
        actual = _digests(os.path.join(leafdir, name), digests)
        for algorithm, expected in digests.items():
            if actual[algorithm] != expected:
                raise UploadRejected("%s has %s %s; %s says %s" % (
                    name, algorithm, actual[algorithm], names[0], expected))
        files.append(UploadFile(name, Path(leafdir) / name, size,
                                name.rsplit(".", 1)[-1]))
    return Upload(names[0], source, version, tuple(files))


def _changesFields(fields):
    """C{(source, version, {name: (size, {algorithm: hexdigest})})}."""
    for field in ("Source", "Version", "Files"):
        if not fields.get(field):
            raise UploadRejected("missing field %s" % field)
    listed = {}
    for field, key, algorithm in HASHES:
        for entry in fields.get(field) or ():
            name = checkFilename(entry.get("name"))
            size, digest = entry.get("size", ""), entry.get(key, "")
            if not (size.isascii() and size.isdigit()) or not _HEX.match(
                    digest):
                raise UploadRejected("bad %s line for %s" % (field, name))
            if field == "Files":
                if name in listed:
                    raise UploadRejected("%s is listed twice" % name)
                listed[name] = (int(size), {})
            elif name not in listed or listed[name][0] != int(size):
                raise UploadRejected("%s in %s does not match Files"
                                     % (name, field))
            listed[name][1][algorithm] = digest
    for name in listed:
        if name.rsplit(".", 1)[-1] not in BINARY_TYPES:
            raise UploadRejected("%s is not a binary package file" % name)
    if not any(n.rsplit(".", 1)[-1] in ("deb", "udeb") for n in listed):
        raise UploadRejected("no binary packages listed")
    return fields["Source"].split()[0], fields["Version"].strip(), listed


def regularFile(leafdir, name):
    """C{os.lstat} of C{leafdir/name}, which must be a regular file (not a
    symlink); else L{UploadRejected} is raised."""
    try:
        result = os.lstat(os.path.join(leafdir, name))
    except FileNotFoundError:
        raise UploadRejected("%s is missing" % name) from None
    if not stat.S_ISREG(result.st_mode):
        raise UploadRejected("%s is not a regular file" % name)
    return result


def _digests(path, algorithms):
    hashes = {a: hashlib.new(a, usedforsecurity=False) for a in algorithms}
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            for h in hashes.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashes.items()}


def binaryPackages(upload, build):
    """The binary packages of an upload's .deb and .udeb files, from
    their names C{<name>_<version>_<arch>.deb}; the .changes' epoch, if
    any, is put back in front of their versions.

    @raise UploadRejected: a name is not valid, or a package is for an
        architecture other than C{all} and the build's.
    """
    epoch, colon, _ = upload.version.partition(":")
    binaries = []
    for f in upload.files:
        if f.filetype not in PACKAGE_FILETYPES:
            continue
        try:
            binary = parseDebFilename(f.name, epoch if colon else None)
        except InvalidBinaryFilename as e:
            raise UploadRejected(str(e)) from None
        if binary.architecture not in ("all", build.architecturetag):
            raise UploadRejected("%s is for %s, but build %d is for %s" % (
                f.name, binary.architecture, build.id,
                build.architecturetag))
        binaries.append(binary)
    return binaries
