"""What builders say, validated at the edge: a C{status()} reply of either
shape (the daemon's dicts, the seed's tuples) becomes one L{SlaveStatus},
file names and sha1s are checked before anything touches the disk, and a
build() request the daemon would refuse is caught before it is sent.
"""

import re
import xmlrpc.client as xmlrpclib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Optional

from lp_buildmaster.model.names import filenameProblem
from lp_buildmaster.slave.errors import (
    SlaveProtocolError, UnsafeFilename, _short)
from lp_buildmaster.text import (
    LOGTAIL_LIMIT, NOTES_LIMIT, notes, printable, tail)

__all__ = ["SlaveStatus", "normaliseStatus", "validateFilename",
           "BUILDER_STATUSES", "BUILD_STATUSES", "MAX_COOKIE",
           "MAX_DEPENDENCIES"]


BUILDER_STATUSES = frozenset("BuilderStatus." + s for s in (
    "IDLE", "BUILDING", "WAITING", "ABORTING", "ABORTED"))
BUILD_STATUSES = frozenset("BuildStatus." + s for s in (
    "OK", "PACKAGEFAIL", "DEPFAIL", "CHROOTFAIL", "GIVENBACK", "BUILDERFAIL",
    "ABORTED"))

_SHA1 = re.compile(r"[0-9a-fA-F]{40}")

#: Real cookies are "<Build.id>-<BuildQueue.id>".
MAX_COOKIE = 200

#: A DEPFAIL build's dependencies, stored on the build.
MAX_DEPENDENCIES = 4 * NOTES_LIMIT

#: The seed's tuple replies: fields after the status, required then optional.
_LEGACY_FIELDS = {
    "BuilderStatus.IDLE": ((), ()),
    "BuilderStatus.BUILDING": (("cookie",), ("logtail",)),
    "BuilderStatus.WAITING": (
        ("build_status", "cookie"), ("filemap", "dependencies")),
    "BuilderStatus.ABORTED": (("cookie",), ()),
    "BuilderStatus.ABORTING": (("cookie",), ()),
}


@dataclass(frozen=True)
class SlaveStatus:
    """What a builder said about itself, whichever shape it said it in.

    @ivar builder_status: one of L{BUILDER_STATUSES}.
    @ivar build_status: one of L{BUILD_STATUSES} when WAITING, else None.
    @ivar cookie: the build cookie C{"<Build.id>-<BuildQueue.id>"}; None
        only when IDLE.
    @ivar logtail: decoded log tail text without NULs, or None.
    @ivar filemap: read-only C{{filename: sha1}}, or None when absent.
    @ivar dependencies: what a DEPFAIL build waits for, or None.
    @ivar builder_version: the daemon's version, or None.
    """

    builder_status: str
    build_status: Optional[str] = None
    cookie: Optional[str] = None
    logtail: Optional[str] = None
    filemap: Optional[Mapping[str, str]] = None
    dependencies: Optional[str] = None
    builder_version: Optional[str] = None


def normaliseStatus(reply, builder=None):
    """Turn a C{status()} reply of either shape into a L{SlaveStatus}.

    @param reply: the daemon's dict, or a legacy tuple/list (PROTOCOL.md).
    @param builder: the builder's name, for error messages.
    @raise SlaveProtocolError: on anything that is not a valid reply.
    """
    if isinstance(reply, dict):
        fields = dict(
            builder_status=reply.get("builder_status"),
            build_status=reply.get("build_status"),
            cookie=reply.get("build_id"),
            logtail=reply.get("logtail"),
            filemap=reply.get("filemap"),
            dependencies=reply.get("dependencies"),
            builder_version=reply.get("builder_version"))
    elif isinstance(reply, (tuple, list)):
        fields = _legacyFields(reply, builder)
    else:
        raise SlaveProtocolError(
            builder, "status reply is a %s" % type(reply).__name__)

    status = fields["builder_status"]
    if not isinstance(status, str) or status not in BUILDER_STATUSES:
        raise SlaveProtocolError(
            builder, "unknown builder status %s" % _short(status))
    build_status = fields["build_status"]
    if build_status is not None or status == "BuilderStatus.WAITING":
        if (not isinstance(build_status, str)
                or build_status not in BUILD_STATUSES):
            raise SlaveProtocolError(
                builder, "unknown build status %s" % _short(build_status))
    cookie = _text(builder, "cookie", fields["cookie"])
    if status != "BuilderStatus.IDLE" and not cookie:
        raise SlaveProtocolError(builder, "%s without a cookie" % status)
    if cookie is not None and (len(cookie) > MAX_COOKIE
                               or printable(cookie, newlines=False) != cookie):
        raise SlaveProtocolError(builder, "bad cookie %s" % _short(cookie))
    dependencies = _text(builder, "dependencies", fields["dependencies"])
    version = _text(builder, "builder_version", fields["builder_version"])
    return SlaveStatus(
        builder_status=status,
        build_status=build_status,
        cookie=cookie,
        logtail=_decodeLogtail(builder, fields["logtail"]),
        filemap=_filemap(builder, fields["filemap"]),
        dependencies=notes(dependencies, MAX_DEPENDENCIES),
        builder_version=notes(version, 80))


def _legacyFields(reply, builder):
    status = reply[0] if reply else None
    if not isinstance(status, str) or status not in _LEGACY_FIELDS:
        raise SlaveProtocolError(
            builder, "unknown builder status %s" % _short(status))
    required, optional = _LEGACY_FIELDS[status]
    if not len(required) < len(reply) <= 1 + len(required) + len(optional):
        raise SlaveProtocolError(
            builder, "%s reply has %d fields" % (status, len(reply)))
    fields = dict.fromkeys(
        ["build_status", "cookie", "logtail", "filemap", "dependencies",
         "builder_version"])
    fields.update(zip(required + optional, reply[1:]))
    fields["builder_status"] = status
    return fields


def _text(builder, what, value):
    """Validate an optional text field: a str PostgreSQL can store."""
    if value is None:
        return None
    if not isinstance(value, str) or "\0" in value:
        raise SlaveProtocolError(builder, "bad %s %s" % (what, _short(value)))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise SlaveProtocolError(builder, "bad %s %s" % (what, _short(value)))
    return value


def _decodeLogtail(builder, value):
    """Log tails are raw bytes cut anywhere, so decode leniently and drop
    the NULs PostgreSQL text cannot hold."""
    if value is None:
        return None
    if isinstance(value, xmlrpclib.Binary):
        value = value.data
    if not isinstance(value, (bytes, bytearray, str)):
        raise SlaveProtocolError(builder, "bad logtail %s" % _short(value))
    # The daemon sends its log's last 2 KiB; keep no more than that from
    # anyone, without the characters that would act on a terminal.
    return tail(value, LOGTAIL_LIMIT)


def _filemap(builder, value):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SlaveProtocolError(builder, "bad filemap %s" % _short(value))
    for name, sha1 in value.items():
        validateFilename(name, builder)
        if not isinstance(sha1, str) or not _SHA1.fullmatch(sha1):
            raise SlaveProtocolError(
                builder, "bad sha1 %s for %r" % (_short(sha1), name))
    return MappingProxyType(
        {name: sha1.lower() for name, sha1 in value.items()})


def validateFilename(name, builder=None):
    """Refuse a file name that is not a single plain path component
    (L{lp_buildmaster.model.names.filenameProblem}: the same check as
    upload processing's).

    @raise UnsafeFilename: naming the problem.
    """
    problem = filenameProblem(name)
    if problem:
        raise UnsafeFilename(
            builder, "unsafe file name %s: %s" % (_short(name), problem))
    return name


def _checkSha1(builder, sha1):
    if not isinstance(sha1, str) or not _SHA1.fullmatch(sha1):
        raise SlaveProtocolError(builder, "bad sha1 %s" % _short(sha1))
    return sha1.lower()


_BINARYPACKAGE_ARGS = ("series", "distribution", "suite", "ogrecomponent")


def _buildRequestProblem(cookie, build_type, chroot_sha1, filemap, args):
    """Why the daemon would refuse or wedge on this build(), or None."""
    if not isinstance(cookie, str) or not cookie:
        return "cookie must be a non-empty string, not %r" % (cookie,)
    if not isinstance(build_type, str) or not build_type:
        return "bad build type %r" % (build_type,)
    if not isinstance(chroot_sha1, str) or not _SHA1.fullmatch(chroot_sha1):
        return "bad chroot sha1 %r" % (chroot_sha1,)
    if not isinstance(filemap, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and _SHA1.fullmatch(v)
            for k, v in filemap.items()):
        return "filemap must map file names to sha1s"
    if not isinstance(args, Mapping):
        return "args must be a dict"
    if build_type == "binarypackage":
        if not any(name.endswith(".dsc") for name in filemap):
            return "binarypackage build without a .dsc in its filemap"
        missing = [a for a in _BINARYPACKAGE_ARGS if a not in args]
        if missing:
            return "binarypackage build without args %s" % ", ".join(missing)
    if build_type == "translation-templates" and not (
            args.get("branch") or args.get("branch_url")):
        return "translation-templates build without a branch_url"
    return None

