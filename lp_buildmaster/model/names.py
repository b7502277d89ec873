"""Names, checked once, here.

File names from builders and uploads are checked by one function, the
same when a builder's filemap arrives and when its upload is processed, so
a name one refuses the other refuses too (and a bad name is one failure,
not a loop between the two). The names an operator gives (builders, source
packages and their versions, components, sections) are checked here too.
"""

import re

from lp_buildmaster.model.packages import isPackageName, parseVersion
from lp_buildmaster.text import printable

__all__ = ["MAX_FILENAME_BYTES", "filenameProblem", "BUILDER_NAME",
           "builderNameProblem", "COMPONENTS", "sourceProblem",
           "placementProblem"]

#: What a file system holds in one path component.
MAX_FILENAME_BYTES = 255


def filenameProblem(name):
    """What is wrong with C{name} as a single plain file name, or None.

    Refused: anything but a non-empty str; C{.} and C{..}; separators;
    a leading dot (hidden files, and C{.part} temporaries); NUL, every
    other control character (a newline, ESC, C1) and bidi overrides;
    names not encodable as UTF-8 or longer than 255 bytes.
    """
    if not isinstance(name, str):
        return "not a string"
    if name in ("", ".", ".."):
        return "not a file name"
    if "/" in name or "\\" in name or "\0" in name:
        return "contains a separator or NUL"
    if name.startswith("."):
        return "starts with a dot"
    if printable(name, newlines=False) != name:
        return "contains a control or bidi character"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "not encodable"
    if len(encoded) > MAX_FILENAME_BYTES:
        return "too long"
    return None


#: A builder's name: a lower-case letter or digit, then lower-case letters,
#: digits, ".", "+", "_" and "-"; at most 64 characters (Launchpad's names,
#: with "_" as older farms use it).
BUILDER_NAME = re.compile(r"[a-z0-9][a-z0-9.+_-]{0,63}")

#: The archive components Debian and Ubuntu policy know.
COMPONENTS = ("main", "restricted", "universe", "multiverse", "contrib",
              "non-free", "non-free-firmware")

#: A section, optionally prefixed by its component ("libs", "universe/net").
SECTION = re.compile(r"([a-z0-9][a-z0-9+.-]*/)?[a-z0-9][a-z0-9+.-]*")


def builderNameProblem(name):
    """What is wrong with C{name} as a builder's name, or None."""
    if not isinstance(name, str) or not BUILDER_NAME.fullmatch(name):
        return ("%r is not a builder name: lower-case letters, digits, '.',"
                " '+', '_' and '-', starting with a letter or digit, at most"
                " 64" % (name,))
    return None


def sourceProblem(name, version):
    """What is wrong with a source package's name or version (Debian
    policy 5.6.1, 5.6.12; python-debian parses the version, as strictly
    as dpkg), or None."""
    if not isPackageName(name):
        return ("%r is not a source package name: lower-case letters, digits,"
                " '+', '-' and '.', at least two, starting with a letter or"
                " digit" % (name,))
    try:
        parseVersion(version)
    except ValueError:
        return "%r is not a valid Debian version" % (version,)
    if filenameProblem("%s_%s" % (name, version)):
        return "%r is not a valid Debian version" % (version,)
    return None


def placementProblem(component, section):
    """What is wrong with a source's component or section, or None."""
    if component not in COMPONENTS:
        return "unknown component %r; choose one of %s" % (
            component, ", ".join(COMPONENTS))
    if not isinstance(section, str) or not SECTION.fullmatch(section):
        return "%r is not a section" % (section,)
    return None
