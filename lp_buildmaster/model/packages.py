"""Debian binary package names, versions and .deb file names.

Pure functions shared by upload processing (which records the binaries an
accepted upload produced) and dependency waits (which look for them).
Versions compare with python-debian's native comparison, never apt_pkg.
"""

import re
from typing import Optional

from debian.debian_support import NativeVersion

from lp_buildmaster.enums import PackagePublishingPocket
from lp_buildmaster.model.records import record

#: Debian policy 5.6.7: lower case letters, digits, "+", "-" and ".", at
#: least two characters, starting with a letter or digit.
PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
#: An architecture tag: "all", "i386", "amd64", "armhf", "hurd-i386"...
ARCHITECTURE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
#: The file types of binary packages (recorded as binarypackagerelease
#: rows); .ddeb debug symbols are not packages anything depends on.
PACKAGE_FILETYPES = ("deb", "udeb")


class InvalidBinaryFilename(ValueError):
    """Not C{<name>_<version>_<arch>.deb} with a valid name, version and
    architecture."""


@record
class BinaryPackage:
    """A binary package an accepted upload produced."""
    name: str
    version: str
    architecture: str


def isPackageName(name):
    return isinstance(name, str) and PACKAGE_NAME.match(name) is not None


def parseVersion(text):
    """C{text} as a L{NativeVersion}.

    Stricter than python-debian alone, as dpkg is: the upstream part starts
    with a digit and a hyphen is followed by a revision.

    @raise ValueError: naming the version.
    """
    if not isinstance(text, str):
        raise ValueError("not a version: %r" % (text,))
    version = NativeVersion(text)  # raises ValueError on the worst
    if (not version.upstream_version[:1].isdigit()
            or version.upstream_version.endswith("-")):
        raise ValueError("Invalid version string %r" % (text,))
    return version


def parseDebFilename(filename, epoch=None):
    """The package a C{<name>_<version>_<arch>.deb} (or .udeb) file holds.

    File names carry no epoch (dpkg-deb leaves it out); C{epoch}, when
    given, is put back in front of the version, as binaries share their
    source's epoch.

    @raise InvalidBinaryFilename: naming the file and the problem.
    @return: a L{BinaryPackage}.
    """
    stem, dot, extension = filename.rpartition(".")
    if not dot or extension not in PACKAGE_FILETYPES:
        raise InvalidBinaryFilename(
            "%s is not a .deb or .udeb file" % (filename,))
    parts = stem.split("_")
    if len(parts) != 3:
        raise InvalidBinaryFilename(
            "%s is not named <package>_<version>_<architecture>.%s"
            % (filename, extension))
    name, version, architecture = parts
    if not isPackageName(name):
        raise InvalidBinaryFilename(
            "%s: %r is not a valid package name" % (filename, name))
    if ":" in version:
        raise InvalidBinaryFilename(
            "%s: a file name carries no epoch" % (filename,))
    if epoch is not None:
        version = "%s:%s" % (epoch, version)
    try:
        parseVersion(version)
    except ValueError:
        raise InvalidBinaryFilename(
            "%s: %r is not a valid version" % (filename, version)) from None
    if not ARCHITECTURE.match(architecture):
        raise InvalidBinaryFilename(
            "%s: %r is not a valid architecture" % (filename, architecture))
    return BinaryPackage(name, version, architecture)


@record
class PublishedBinary:
    """A binarypackagerelease row: a package accepted into a series
    (C{distrorelease}) and archive."""
    id: int
    build: int
    name: str
    version: str
    architecture: str
    distroarchrelease: int
    distrorelease: int
    archive: int
    pocket: PackagePublishingPocket


@record
class DepWaitingBuild:
    """A MANUALDEPWAIT build, with what deciding its retry needs."""
    id: int
    dependencies: Optional[str]
    distroarchrelease: int
    architecturetag: str
    distrorelease: int
    archive: int
