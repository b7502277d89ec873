"""A simulated build farm: many fake launchpad-buildd builders in one process.

Each L{SimulatedBuilder} speaks the builder protocol as the real daemon does
(see PROTOCOL.md): XML-RPC at C{<url>rpc}, files at C{<url>filecache/<sha1>},
the build log at C{<url>filecache/buildlog}.  A builder is a small object of
state; all builders of a farm share one listening port and are told apart by
the first path segment, so a builder's URL is
C{http://127.0.0.1:PORT/<name>/}.  (A builder may also get a port of its own,
L{SimulatedFarm.listenBuilder}, and then its URL is C{http://127.0.0.1:P/}.)

Builds run on an injectable clock.  Nothing ticks while a build runs: a
build is a start time, a duration and an outcome, drawn from the builder's
L{BuildProfile} with a random generator seeded from the farm's seed, the
builder's name and the build's number, and one timer for its end.  The build
log is generated on demand from the same seed: its bytes at any offset can
be computed without the bytes before them, so a log of any size is served
streamed and the logtail is cheap.

Faults: a builder that is C{down} resets every connection, one that
C{hang}s takes requests and never answers, one that talks C{garbage}
answers XML-RPC calls with a body that is not XML.  The same three can be
drawn per call with the profile's C{hang_rate}, C{refuse_rate} and
C{garbage_rate}.

Run as a program it serves a farm until killed::

    python -m lp_buildmaster.testing.simulator --builders 100 --port 0 \
        --profile fast

and prints one JSON line once listening: C{{"port": P, "pid": ...,
"url_template": "http://127.0.0.1:P/{name}/", "builders": {name: url}}}.
"""

import argparse
import collections
import dataclasses
import email.utils
import gzip
import hashlib
import io
import json
import random
import sys
import tarfile
import xmlrpc.client as xmlrpclib
from typing import Mapping, Tuple
from urllib.parse import quote, unquote_to_bytes

from twisted.internet import defer, protocol
from twisted.logger import Logger
from twisted.web import http, resource, server

__all__ = [
    "SimulatedFarm", "SimulatedBuilder", "BuildProfile", "PROFILES",
    "OUTCOMES", "BUILD_TYPES", "PROTOCOL_VERSION", "BUILDER_VERSION", "main",
]

log = Logger()

PROTOCOL_VERSION = "1.0"
#: What status() says as builder_version.
BUILDER_VERSION = "206+simulated"

#: The build types info() lists; only binarypackage makes Debian packages.
BUILD_TYPES = ("binarypackage", "sourcepackagerecipe",
               "translation-templates", "livefs", "snap", "oci", "charm",
               "ci")

#: The outcomes a build can end in by itself (ABORTED needs an abort()).
OUTCOMES = ("OK", "PACKAGEFAIL", "DEPFAIL", "CHROOTFAIL", "GIVENBACK",
            "BUILDERFAIL")

#: The args a binarypackage build() needs; without them (or without a .dsc
#: in the filemap) the real daemon faults and stays BUILDING for ever.
BINARYPACKAGE_ARGS = ("series", "distribution", "suite", "ogrecomponent")

IDLE = "BuilderStatus.IDLE"
BUILDING = "BuilderStatus.BUILDING"
WAITING = "BuilderStatus.WAITING"
ABORTING = "BuilderStatus.ABORTING"

#: Largest logtail status() sends, as the real daemon.
LOGTAIL_SIZE = 2048
#: Bytes generated per write when streaming a log.
CHUNK_SIZE = 64 * 1024
#: Largest file ensurepresent() downloads into memory.
MAX_FETCH_SIZE = 2 * 1024 ** 3

FAULT_NOT_FOUND = 8001
FAULT_ERROR = 8002


# --- profiles ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class BuildProfile:
    """How a builder's builds go.

    @ivar duration: C{(min, max)} seconds a build takes (uniform).
    @ivar log_size: C{(min, max)} bytes of a finished build's log (uniform,
        give or take the length of its last lines)
    @ivar outcomes: C{{outcome: weight}} over L{OUTCOMES}.  A CHROOTFAIL
        build fails while unpacking: it takes 5% of its drawn duration.
    @ivar dependencies: what a DEPFAIL build says it waits for.
    @ivar abort_delay: seconds from abort() to WAITING/ABORTED.
    @ivar unkillable: abort() cannot kill the build: it stays ABORTING for
        C{abort_timeout} seconds and ends in BUILDERFAIL, as the real
        daemon does when its process reaper hangs.
    @ivar hang_rate: chance an XML-RPC call is taken and never answered.
    @ivar refuse_rate: chance an XML-RPC call's connection is reset.
    @ivar garbage_rate: chance an XML-RPC call is answered with non-XML.
    """

    duration: Tuple[float, float] = (30.0, 300.0)
    log_size: Tuple[int, int] = (10000, 200000)
    outcomes: Mapping[str, float] = dataclasses.field(default_factory=lambda: {
        "OK": 0.85, "PACKAGEFAIL": 0.07, "DEPFAIL": 0.03, "CHROOTFAIL": 0.01,
        "GIVENBACK": 0.02, "BUILDERFAIL": 0.02})
    dependencies: str = "libfoo-dev (>= 1.2)"
    abort_delay: float = 1.0
    unkillable: bool = False
    abort_timeout: float = 120.0
    hang_rate: float = 0.0
    refuse_rate: float = 0.0
    garbage_rate: float = 0.0

    def __post_init__(self):
        lo, hi = self.duration
        if not 0 <= lo <= hi:
            raise ValueError("duration must be (min, max) with 0 <= min <= "
                             "max, not %r" % (self.duration,))
        lo, hi = self.log_size
        if not 0 <= lo <= hi:
            raise ValueError("log_size must be (min, max) with 0 <= min <= "
                             "max, not %r" % (self.log_size,))
        unknown = set(self.outcomes) - set(OUTCOMES)
        if unknown:
            raise ValueError("unknown outcomes %s; choose from %s" % (
                ", ".join(sorted(unknown)), ", ".join(OUTCOMES)))
        weights = list(self.outcomes.values())
        if any(w < 0 for w in weights) or not sum(weights) > 0:
            raise ValueError("outcome weights must be >= 0 with a positive "
                             "sum, not %r" % (dict(self.outcomes),))
        for name in ("hang_rate", "refuse_rate", "garbage_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError("%s must be within [0, 1]" % name)
        if self.abort_delay < 0 or self.abort_timeout < 0:
            raise ValueError("abort_delay and abort_timeout must be >= 0")
        # Frozen: keep a private table for fast draws.
        object.__setattr__(self, "_table", (
            tuple(self.outcomes), tuple(self.outcomes.values())))

    def replace(self, **changes):
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @property
    def faulty(self):
        return bool(self.hang_rate or self.refuse_rate or self.garbage_rate)

    def draw(self, rng):
        """C{(outcome, duration, log_size)} for one build."""
        names, weights = self._table
        outcome = rng.choices(names, weights)[0]
        duration = rng.uniform(*self.duration)
        log_size = rng.randint(int(self.log_size[0]), int(self.log_size[1]))
        if outcome == "CHROOTFAIL":
            # Unpacking the chroot fails before anything is built.
            duration *= 0.05
            log_size = min(log_size, 4000)
        return outcome, duration, log_size


PROFILES = {
    # make run: builds of a minute or two with readable logs.
    "demo": BuildProfile(duration=(20.0, 120.0), log_size=(20000, 400000)),
    # quick turn-over for tests and small benchmarks.
    "fast": BuildProfile(duration=(0.5, 3.0), log_size=(2000, 20000)),
    # many builders: long builds, small logs, so the load is status() calls.
    "scale": BuildProfile(duration=(120.0, 900.0), log_size=(2000, 16000)),
}


# --- the build log ----------------------------------------------------------

_BODY_LINES = (
    "x86_64-linux-gnu-gcc -g -O2 -fstack-protector-strong -Wformat -c "
    "-o obj/f{n:05d}.o src/f{n:05d}.c",
    "libtool: compile:  gcc -DHAVE_CONFIG_H -I. -g -O2 -c unit{n:08d}.c "
    "-fPIC -DPIC -o .libs/unit{n:08d}.o",
    "Get:{n} http://ftpmaster.internal/ubuntu {s}/main libsim{k:05d} "
    "1.{k}-1 [{m} kB]",
    "Unpacking libsim{k:05d}:{a} (1.{k}-1) ...",
    "Setting up libsim{k:05d}:{a} (1.{k}-1) ...",
    "dh_auto_test: ok {n} - test case {k} of module {m} passed",
    "make[{m}]: Entering directory '/<<PKGBUILDDIR>>/build/sub{k:05d}'",
    "checking for sim_feature_{k:05d}... yes",
)


#: A log body cycles through one of a few blocks of lines (per series and
#: architecture), made once: reading any part of a log is slicing bytes.
_BLOCK_LINES = 1024
_BLOCK_VARIANTS = 16
_blocks = {}


def _bodyBlock(variant, series, arch):
    key = (variant, series, arch)
    block = _blocks.get(key)
    if block is None:
        if len(_blocks) >= 256:
            _blocks.clear()
        rng = random.Random("%d/%s/%s" % key)
        lines = []
        for i in range(_BLOCK_LINES):
            template = rng.choice(_BODY_LINES)
            k = rng.randrange(100000)
            text = template.format(n=variant * _BLOCK_LINES + i, k=k,
                                   m=k % 97 + 1, s=series, a=arch)
            lines.append(text.encode("ascii", "replace") + b"\n")
        starts = [0]
        for line in lines[:-1]:
            starts.append(starts[-1] + len(line))
        block = _blocks[key] = (b"".join(lines), starts)
    return block


class BuildLog:
    """A build log generated on demand.

    The log is a header, a body of lines and, once the build ends, a
    trailer.  While the build runs the body grows linearly with the
    clock.  Any byte range can be generated without the bytes before it.
    C{origin} is where the visible log starts: a refused build() "empties"
    the log by moving it to the end.
    """

    __slots__ = ("header", "trailer", "body_size", "frozen", "start",
                 "duration", "seed", "origin", "_fmt")

    def __init__(self, header, body_size, start, duration, seed,
                 series="sid", arch="i386"):
        self.header = header
        self.trailer = None
        self.body_size = body_size
        self.frozen = None
        self.start = start
        self.duration = duration
        self.seed = seed
        self.origin = 0
        self._fmt = (series[:20], arch[:20])

    def bodyProduced(self, now):
        if self.frozen is not None:
            return self.frozen
        if self.duration <= 0 or now >= self.start + self.duration:
            return self.body_size
        return int(self.body_size * max(0.0, now - self.start)
                   / self.duration)

    def length(self, now):
        """Bytes of the whole virtual log so far (visible ones start at
        C{origin})."""
        return (len(self.header) + self.bodyProduced(now)
                + (len(self.trailer) if self.trailer is not None else 0))

    def finish(self, trailer, now):
        """The build ended: the body stops where it is; the trailer follows.
        """
        self.frozen = self.bodyProduced(now)
        self.trailer = trailer

    def truncate(self, now):
        """Hide everything so far: the log reads as empty from here."""
        self.origin = self.length(now)

    def _body(self, start, end):
        if start >= end:
            return b""
        block, starts = _bodyBlock(self.seed % _BLOCK_VARIANTS, *self._fmt)
        size = len(block)
        # Each build starts the cycle of lines somewhere else.
        shift = starts[(self.seed // _BLOCK_VARIANTS) % len(starts)]
        parts = []
        pos = start
        while pos < end:
            at = (pos + shift) % size
            n = min(end - pos, size - at)
            parts.append(block[at:at + n])
            pos += n
        return b"".join(parts)

    def read(self, start, end, now):
        """The bytes at virtual offsets C{[start, end)}, clipped to what
        exists at C{now}."""
        header = self.header
        h = len(header)
        body = self.bodyProduced(now)
        end = min(end, self.length(now))
        parts = []
        if start < h:
            parts.append(header[start:min(end, h)])
        if end > h and start < h + body:
            parts.append(self._body(max(start, h) - h, min(end, h + body) - h))
        if self.trailer is not None and end > h + body:
            parts.append(self.trailer[max(0, start - h - body):end - h - body])
        return b"".join(parts)

    def tail(self, now, size=LOGTAIL_SIZE):
        end = self.length(now)
        return self.read(max(self.origin, end - size), end, now)


def _rule(title=None):
    line = "+" + "-" * 78 + "+\n"
    if title is None:
        return line
    return line + "| %-76s |\n" % title + line


def _logHeader(builder, cookie, build_type, chroot_sha1, args, dsc):
    arch = str(args.get("arch_tag", builder.arch_tag))
    series = str(args.get("series", "sid"))
    suite = str(args.get("suite", series))
    lines = [
        "Forking launchpad-buildd slave process...\n",
        "Simulated builder %s (lp_buildmaster.testing.simulator), "
        "launchpad-buildd %s protocol\n" % (builder.name, PROTOCOL_VERSION),
        "RUN: /usr/share/launchpad-buildd/bin/builder-prep\n",
        "Kernel version: Linux %s 6.1.0-sim #1 SMP x86_64\n" % builder.name,
        "Buildd toolchain package versions: launchpad-buildd_%s sbuild_0.85"
        "\n" % BUILDER_VERSION,
    ]
    if args.get("build_url"):
        lines.append("%s\n" % args["build_url"])
    lines += [
        "RUN: /usr/share/launchpad-buildd/bin/in-target unpack-chroot "
        "--backend=chroot --series=%s --arch=%s %s /home/buildd/"
        "filecache-default/%s\n" % (series, arch, cookie, chroot_sha1),
        "RUN: /usr/share/launchpad-buildd/bin/in-target mount-chroot "
        "--backend=chroot --series=%s --arch=%s %s\n"
        % (series, arch, cookie),
    ]
    if build_type == "binarypackage":
        lines.append(
            "RUN: /usr/share/launchpad-buildd/bin/sbuild-package %s %s %s "
            "-c chroot:build-%s --arch=%s --dist=%s --nolog %s\n"
            % (cookie, arch, suite, cookie, arch, suite, dsc or "-"))
        lines.append("\n" + _rule("sbuild (Debian sbuild) 0.85.0"))
        lines.append("\ndpkg-buildpackage: info: host architecture %s\n"
                     % arch)
    else:
        lines.append("RUN: /usr/share/launchpad-buildd/bin/build-%s %s\n"
                     % (build_type, cookie))
    return "".join(lines).encode("utf-8", "replace")


def _logTrailer(outcome, source, version, arch, suite, cookie, dependencies,
                elapsed):
    minutes = int(elapsed // 60)
    summary = _rule("Summary") + "\n" + "".join(
        "%s: %s\n" % kv for kv in [
            ("Build Architecture", arch), ("Distribution", suite),
            ("Host Architecture", arch), ("Job", "%s_%s" % (source, version)),
            ("Package", source), ("Source-Version", version),
            ("Build-Time", "%d" % elapsed)])
    reaper = ("RUN: /usr/share/launchpad-buildd/bin/in-target "
              "scan-for-processes --backend=chroot %s\n" % cookie)
    tail = (reaper + "RUN: /usr/share/launchpad-buildd/bin/in-target "
            "umount-chroot --backend=chroot %s\n" % cookie)
    if outcome == "OK":
        text = ("dpkg-deb: building package '%s' in '../%s_%s_%s.deb'.\n"
                % (source, source, version.split(":")[-1], arch)
                + summary + "Status: successful\n" + "-" * 80 + "\n"
                + "Build needed 00:%02d:%02d, 12345k disk space\n"
                % (minutes % 60, int(elapsed) % 60) + tail)
    elif outcome == "PACKAGEFAIL":
        text = ("make[1]: *** [debian/rules:12: override_dh_auto_build] "
                "Error 2\ndpkg-buildpackage: error: debian/rules build "
                "subprocess returned exit status 2\nE: Build failure "
                "(dpkg-buildpackage died)\n" + summary
                + "Fail-Stage: build\nStatus: attempted\n" + tail)
    elif outcome == "DEPFAIL":
        text = ("The following packages have unmet dependencies:\n"
                " sbuild-build-depends-main-dummy : Depends: %s but it is "
                "not installable\nE: Unable to correct problems, you have "
                "held broken packages.\n" % dependencies + summary
                + "Fail-Stage: install-deps\nStatus: given-back\n" + tail)
    elif outcome == "CHROOTFAIL":
        text = ("tar: Unexpected EOF in archive\ntar: Error is not "
                "recoverable: exiting now\nChroot unpack failed.\n")
    elif outcome == "GIVENBACK":
        text = ("E: There are problems and -y was used without --force-yes"
                "\n" + summary + "Status: given-back\n" + tail)
    elif outcome == "BUILDERFAIL":
        text = ("E: sbuild: builder failure (exit status 4)\n" + summary
                + "Status: failed\n" + tail)
    elif outcome == "ABORTED":
        text = ("\nBuild killed with signal TERM after %d minutes\n"
                % minutes + reaper + "Build was aborted.\n")
    else:  # an abort that could not kill the build
        text = ("\n" + reaper + "Abort timed out: the build could not be "
                "killed; builder failure.\n")
    # The body may stop mid-line.
    return ("\n" + text).encode("utf-8", "replace")


# --- result files -----------------------------------------------------------

def _tarGz(members):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w",
                          format=tarfile.GNU_FORMAT) as tar:
            for name, data in members:
                if data is None:
                    info = tarfile.TarInfo(name)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
                else:
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    info.mode = 0o644
                    tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _ar(members):
    out = [b"!<arch>\n"]
    for name, data in members:
        out.append(("%-16s%-12d%-6d%-6d%-8s%-10d`\n" % (
            name, 0, 0, 0, "100644", len(data))).encode("ascii"))
        out.append(data)
        if len(data) % 2:
            out.append(b"\n")
    return b"".join(out)


def makeDeb(package, version, arch, source):
    """The bytes of a small valid .deb (ar: debian-binary, control.tar.gz,
    data.tar.gz)."""
    control = (
        "Package: %s\nSource: %s\nVersion: %s\nArchitecture: %s\n"
        "Maintainer: Simulated Maintainer <sim@example.com>\n"
        "Installed-Size: 1\nSection: misc\nPriority: optional\n"
        "Description: simulated package %s\n built by the lp-buildmaster "
        "farm simulator\n" % (package, source, version, arch, package)
    ).encode("utf-8")
    doc = "./usr/share/doc/%s/" % package
    return _ar([
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", _tarGz([("./control", control)])),
        ("data.tar.gz", _tarGz([
            ("./usr/", None), ("./usr/share/", None),
            ("./usr/share/doc/", None), (doc, None),
            (doc + "copyright",
             b"Simulated package from the lp-buildmaster simulator.\n")])),
    ])


def _checksumFields(files):
    """Files/Checksums-Sha1/Checksums-Sha256 entries for C{[(name, data,
    section)]}, as three lists of lines."""
    md5s, sha1s, sha256s = [], [], []
    for name, data, section in files:
        size = len(data)
        md5s.append(" %s %d %s optional %s" % (
            hashlib.md5(data).hexdigest(), size, section, name))
        sha1s.append(" %s %d %s" % (hashlib.sha1(data).hexdigest(), size,
                                    name))
        sha256s.append(" %s %d %s" % (hashlib.sha256(data).hexdigest(), size,
                                      name))
    return md5s, sha1s, sha256s


def makeBinaryResults(source, version, arch, suite, arch_indep=False,
                      date=0.0, build_url=None):
    """The files of an OK binarypackage build: C{{name: bytes}} with a
    C{<source>_<version>_<arch>.changes} that lists the others (the
    .buildinfo and the .debs) with their sizes and md5, sha1, sha256."""
    plain = version.split(":", 1)[-1]
    when = email.utils.formatdate(date, usegmt=True)
    debs = [("%s_%s_%s.deb" % (source, plain, arch),
             makeDeb(source, version, arch, source))]
    binaries = [source]
    archs = [arch]
    if arch_indep:
        debs.append(("%s-doc_%s_all.deb" % (source, plain),
                     makeDeb(source + "-doc", version, "all", source)))
        binaries.append(source + "-doc")
        archs.append("all")
    md5s, sha1s, sha256s = _checksumFields(
        [(n, d, "misc") for n, d in debs])
    buildinfo_name = "%s_%s_%s.buildinfo" % (source, plain, arch)
    buildinfo = "".join([
        "Format: 1.0\n",
        "Source: %s\n" % source,
        "Binary: %s\n" % " ".join(binaries),
        "Architecture: %s\n" % " ".join(archs),
        "Version: %s\n" % version,
        "Checksums-Md5:\n",
        "".join(" %s %s\n" % (hashlib.md5(d).hexdigest(),
                              " ".join(l.split()[1:2] + [n]))
                for (n, d), l in zip(debs, md5s)),
        "Checksums-Sha1:\n", "".join(l + "\n" for l in sha1s),
        "Checksums-Sha256:\n", "".join(l + "\n" for l in sha256s),
        "Build-Origin: Simulated\n",
        "Build-Architecture: %s\n" % arch,
        "Build-Date: %s\n" % when,
        "Build-Path: /build/%s-%s\n" % (source, plain),
        "Installed-Build-Depends:\n debhelper (= 13.11), dpkg-dev (= 1.21)\n",
        "Environment:\n DEB_BUILD_OPTIONS=\"parallel=4\"\n",
    ]).encode("utf-8")
    files = [(buildinfo_name, buildinfo, "misc")] + [
        (n, d, "misc") for n, d in debs]
    md5s, sha1s, sha256s = _checksumFields(files)
    changes_name = "%s_%s_%s.changes" % (source, plain, arch)
    changes = "".join([
        "Format: 1.8\n",
        "Date: %s\n" % when,
        "Source: %s\n" % source,
        "Binary: %s\n" % " ".join(binaries),
        "Architecture: %s\n" % " ".join(archs),
        "Version: %s\n" % version,
        "Distribution: %s\n" % suite,
        "Urgency: medium\n",
        "Maintainer: Simulated Builder <buildd@example.com>\n",
        "Changed-By: Simulated Maintainer <sim@example.com>\n",
        "Description:\n",
        "".join(" %s - simulated package %s\n" % (b, b) for b in binaries),
        "Changes:\n",
        " %s (%s) %s; urgency=medium\n .\n   * Simulated build%s.\n" % (
            source, version, suite,
            (" of %s" % build_url) if build_url else ""),
        "Checksums-Sha1:\n", "".join(l + "\n" for l in sha1s),
        "Checksums-Sha256:\n", "".join(l + "\n" for l in sha256s),
        "Files:\n", "".join(l + "\n" for l in md5s),
    ]).encode("utf-8")
    result = {changes_name: changes}
    for name, data, _ in files:
        result[name] = data
    return result


def _sourceOf(dsc_name, dsc_bytes):
    """C{(source, version)} from a .dsc's contents, or else its name
    (C{<source>_<version>.dsc}, the version without its epoch)."""
    base = dsc_name[:-len(".dsc")]
    source, _, version = base.partition("_")
    if dsc_bytes:
        text = dsc_bytes[:65536].decode("utf-8", "replace")
        for line in text.splitlines():
            if line.startswith("Source:") and line[7:].strip():
                source = line[7:].strip()
            elif line.startswith("Version:") and line[8:].strip():
                version = line[8:].strip()
    return source or "unknown", version or "0"


# --- the builders -----------------------------------------------------------

class _Fault(Exception):
    def __init__(self, code=FAULT_ERROR, message="error"):
        Exception.__init__(self, message)
        self.code = code
        self.message = message


class SimulatedBuilder:
    """One fake launchpad-buildd: a little state, no port of its own.

    Knobs: C{profile} (a L{BuildProfile}), C{down}, C{hang}, C{garbage}
    (see the module docstring), C{arch_tag}.
    """

    __slots__ = (
        "farm", "name", "arch_tag", "profile", "down", "hang", "garbage",
        "state", "cookie", "build_status", "dependencies", "filemap",
        "files", "cache", "log", "builds", "port", "_timer", "_wedged",
        "_queue", "_build", "__weakref__")

    def __init__(self, farm, name, arch_tag="i386", profile=None):
        self.farm = farm
        self.name = name
        self.arch_tag = arch_tag
        self.profile = profile if profile is not None else farm.profile
        self.down = False
        self.hang = False
        self.garbage = False
        self.state = IDLE
        self.cookie = None
        self.build_status = None
        self.dependencies = None
        self.filemap = None     # {name: sha1} of the results
        self.files = None       # {sha1: bytes} of the results
        self.cache = None       # sha1s ensurepresent() fetched
        self.log = None
        self.builds = 0
        self.port = None        # its own listening port, if any
        self._timer = None
        self._wedged = False
        self._queue = None      # calls waiting for a download to finish
        self._build = None      # what the running build will produce

    def __repr__(self):
        return "<SimulatedBuilder %r %s>" % (self.name, self.state)

    @property
    def url(self):
        return self.farm.urlFor(self.name)

    @property
    def clock(self):
        return self.farm.clock

    # -- XML-RPC methods ---------------------------------------------------

    def xmlrpc_echo(self, *args):
        return list(args)

    def xmlrpc_info(self):
        return [PROTOCOL_VERSION, self.arch_tag, list(BUILD_TYPES)]

    def xmlrpc_status(self):
        state = self.state
        if state == IDLE:
            return {"builder_status": IDLE, "builder_version": BUILDER_VERSION}
        reply = {"builder_status": state, "build_id": self.cookie,
                 "builder_version": BUILDER_VERSION}
        if state == BUILDING:
            reply["logtail"] = xmlrpclib.Binary(
                self.log.tail(self.clock.seconds()))
        elif state == WAITING:
            reply["build_status"] = "BuildStatus." + self.build_status
            if self.build_status in ("OK", "PACKAGEFAIL", "DEPFAIL"):
                reply["filemap"] = dict(self.filemap or {})
                reply["dependencies"] = self.dependencies or ""
        return reply

    def xmlrpc_ensurepresent(self, sha1, url=None, username=None,
                             password=None):
        if not isinstance(sha1, str):
            raise _Fault()
        cached = self.cache is not None and sha1 in self.cache
        if cached:
            return [True, "Cache" if url else "No URL"]
        if not self.farm.fetch:
            return [True, "Cache"]
        if not url:
            return [False, "No URL"]
        return self.farm._download(self, sha1, url, username, password)

    def _inCache(self, sha1):
        if not self.farm.fetch:
            return True
        return self.cache is not None and sha1 in self.cache

    def xmlrpc_build(self, cookie, build_type, chroot_sha1, filemap, args):
        if build_type not in BUILD_TYPES:
            return ["BuilderStatus.UNKNOWNBUILDER",
                    "%s not in %r" % (build_type, list(BUILD_TYPES))]
        if not isinstance(filemap, dict) or not isinstance(args, dict):
            raise _Fault()
        if not self._inCache(chroot_sha1):
            return ["BuilderStatus.UNKNOWNSUM", "CHROOTSUM -> %s\n"
                    "***** INFO *****\nNo URL\n****************\n"
                    % (chroot_sha1,)]
        for name, sha1 in filemap.items():
            if not self._inCache(sha1):
                return ["BuilderStatus.UNKNOWNSUM", "FILESUM -> %s\n"
                        "***** INFO *****\nNo URL\n****************\n"
                        % (sha1,)]
        if not isinstance(cookie, str) or not cookie:
            raise _Fault()
        now = self.clock.seconds()
        if self.state != IDLE:
            # As the real daemon: the refused request still takes over the
            # cookie and empties the log.
            self.cookie = cookie
            if self.log is not None:
                self.log.truncate(now)
            raise _Fault()
        self.farm.counters["builds_started"] += 1
        self.builds += 1
        self.state = BUILDING
        self.cookie = cookie
        self.build_status = self.dependencies = None
        self.filemap = self.files = None
        dscs = sorted(n for n in filemap if isinstance(n, str)
                      and n.endswith(".dsc"))
        dsc = dscs[0] if dscs else None
        if build_type == "binarypackage" and (dsc is None or any(
                a not in args for a in BINARYPACKAGE_ARGS)):
            # The real manager raises after the build was taken: the
            # builder says BUILDING for ever and cannot be aborted.
            self._wedged = True
            self.log = BuildLog(
                b"Forking launchpad-buildd slave process...\n", 0, now, 0.0,
                0)
            raise _Fault()
        self._wedged = False
        rng = random.Random("%s/%s/%d" % (self.farm.seed, self.name,
                                          self.builds))
        outcome, duration, log_size = self.profile.draw(rng)
        arch = str(args.get("arch_tag") or self.arch_tag)
        suite = str(args.get("suite") or args.get("series") or "sid")
        if dsc is not None:
            source, version = _sourceOf(
                dsc, self.farm.store.get(filemap[dsc]))
        else:
            source, version = build_type, cookie
        header = _logHeader(self, cookie, build_type, chroot_sha1, args, dsc)
        deps = self.profile.dependencies
        reserve = len(_logTrailer(outcome, source, version, arch, suite,
                                  cookie, deps, duration))
        self.log = BuildLog(header,
                            max(0, log_size - len(header) - reserve),
                            now, duration, rng.getrandbits(32),
                            series=str(args.get("series", "sid")), arch=arch)
        self._build = (outcome, build_type, source, version, arch, suite,
                       bool(args.get("arch_indep")), args.get("build_url"),
                       deps)
        self._timer = self.clock.callLater(duration, self._finish)
        return ["BuilderStatus.BUILDING", cookie]

    def xmlrpc_abort(self):
        if self.state != BUILDING:
            raise _Fault()
        self.state = ABORTING
        self._cancelTimer()
        if self._wedged:
            return ABORTING     # nothing to kill: ABORTING for ever
        profile = self.profile
        if profile.unkillable:
            self._timer = self.clock.callLater(
                profile.abort_timeout, self._finish, "BUILDERFAIL", True)
        else:
            self._timer = self.clock.callLater(
                profile.abort_delay, self._finish, "ABORTED")
        return ABORTING

    def xmlrpc_clean(self):
        if self.state != WAITING:
            raise _Fault()
        self.state = IDLE
        self.cookie = self.build_status = self.dependencies = None
        self.filemap = self.files = self.log = self._build = None
        return IDLE

    # -- the build ---------------------------------------------------------

    def _cancelTimer(self):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _finish(self, outcome=None, abort_failed=False):
        self._timer = None
        now = self.clock.seconds()
        (drawn, build_type, source, version, arch, suite, arch_indep,
         build_url, dependencies) = self._build
        outcome = outcome or drawn
        self.state = WAITING
        self.build_status = outcome
        elapsed = max(0.0, now - self.log.start)
        self.log.finish(_logTrailer(
            "ABORT-FAILED" if abort_failed else outcome, source, version,
            arch, suite, self.cookie, dependencies, elapsed), now)
        if outcome == "DEPFAIL":
            self.dependencies = dependencies
        if outcome in ("OK", "PACKAGEFAIL", "DEPFAIL"):
            self.filemap, self.files = {}, {}
        if outcome == "OK":
            if build_type == "binarypackage":
                results = makeBinaryResults(
                    source, version, arch, suite, arch_indep, now,
                    build_url if isinstance(build_url, str) else None)
            else:
                results = {"%s-%s.tar.gz" % (build_type, self.cookie):
                           _tarGz([("./result", b"simulated\n")])}
            for name, data in results.items():
                sha1 = hashlib.sha1(data).hexdigest()
                self.filemap[name] = sha1
                self.files[sha1] = data
        self.farm.counters["builds_finished"] += 1
        self.farm.counters["outcome_" + outcome] += 1

    # -- files -------------------------------------------------------------

    def fileFor(self, name):
        """The bytes served at C{/filecache/<name>}, a L{BuildLog} for
        C{buildlog}, or None (404)."""
        if name == "buildlog":
            return self.log
        if self.files is not None and name in self.files:
            return self.files[name]
        if self.cache is not None and name in self.cache:
            return self.farm.store.get(name)
        return None

    def stop(self):
        self._cancelTimer()


# --- HTTP -------------------------------------------------------------------

_GARBAGE = (b"<html><head><title>500 Internal Server Error</title></head>\n"
            b"<body>\x00\xff\xfe not an XML-RPC reply</body>\n")


def _dumpReply(value):
    return xmlrpclib.dumps((value,), methodresponse=True,
                           allow_none=True).encode("utf-8")


def _dumpFault(code, message):
    return xmlrpclib.dumps(xmlrpclib.Fault(code, message),
                           methodresponse=True, allow_none=True
                           ).encode("utf-8")


_IDLE_REPLY = _dumpReply(
    {"builder_status": IDLE, "builder_version": BUILDER_VERSION})


class _LogProducer:
    """Writes C{[start, end)} of a L{BuildLog} to a request, a chunk each
    time the transport asks for more (a pull producer: memory stays at one
    chunk whatever the log's size)."""

    def __init__(self, request, buildlog, start, end, now):
        self.request = request
        self.log = buildlog
        self.pos = start
        self.end = end
        self.now = now
        self.done = False

    def start(self):
        self.request.notifyFinish().addBoth(self._gone)
        self.request.registerProducer(self, False)

    def _gone(self, _):
        self.done = True

    def resumeProducing(self):
        if self.done:
            return
        if self.pos >= self.end:
            self.done = True
            self.request.unregisterProducer()
            self.request.finish()
            return
        stop = min(self.end, self.pos + CHUNK_SIZE)
        data = self.log.read(self.pos, stop, self.now)
        self.pos = stop
        self.request.write(data)

    def stopProducing(self):
        self.done = True


class _WebResponder:
    """Answers an XML-RPC call that came through twisted.web."""

    __slots__ = ("request",)

    def __init__(self, request):
        self.request = request

    def send(self, data, code=200):
        request = self.request
        if request._disconnected or request.finished:
            return
        if code != 200:
            request.setResponseCode(code)
        request.setHeader(b"content-type", b"text/xml")
        request.setHeader(b"content-length", b"%d" % len(data))
        request.write(data)
        request.finish()

    def abort(self):
        self.request.channel.transport.abortConnection()

    def hold(self, hung):
        hung.add(self)
        self.request.notifyFinish().addBoth(lambda _: hung.discard(self))


class _RpcHandler:
    """XML-RPC calls to a farm's builders, whichever way they arrived."""

    def __init__(self, farm):
        self.farm = farm

    def handle(self, builder, body, responder):
        """Answer a call to C{builder}: now, later, never (hang) or by
        dropping the connection (down)."""
        farm = self.farm
        profile = builder.profile
        faulty = profile.faulty
        if builder.down or (faulty and profile.refuse_rate and
                            farm._rng.random() < profile.refuse_rate):
            farm.counters["refused"] += 1
            responder.abort()
            return
        if builder.hang or (faulty and profile.hang_rate and
                            farm._rng.random() < profile.hang_rate):
            farm.counters["hung"] += 1
            responder.hold(farm._hung)
            return
        try:
            params, method = xmlrpclib.loads(body)
        except Exception:
            responder.send(b"bad XML-RPC request\n", 400)
            return
        farm.counters[method] += 1
        if builder.garbage or (faulty and profile.garbage_rate and
                               farm._rng.random() < profile.garbage_rate):
            farm.counters["garbage"] += 1
            responder.send(_GARBAGE)
            return
        if builder._queue is not None:
            # ensurepresent() is downloading: the real daemon answers
            # nothing else meanwhile.
            builder._queue.append((responder, method, params))
            return
        if method == "status" and builder.state == IDLE and not params:
            responder.send(_IDLE_REPLY)     # the hot path
            return
        self._dispatch(builder, responder, method, params)

    def _dispatch(self, builder, responder, method, params):
        handler = getattr(builder, "xmlrpc_" + str(method), None) \
            if isinstance(method, str) and method.isidentifier() else None
        if handler is None:
            responder.send(_dumpFault(FAULT_NOT_FOUND,
                                      "procedure %s not found" % (method,)))
            return
        try:
            result = handler(*params)
        except _Fault as f:
            self.farm.counters["faults"] += 1
            responder.send(_dumpFault(f.code, f.message))
            return
        except TypeError as e:
            self.farm.counters["faults"] += 1
            log.debug("{builder}: {method}{params!r}: {e}",
                      builder=builder.name, method=method, params=params, e=e)
            responder.send(_dumpFault(FAULT_ERROR, "error"))
            return
        if isinstance(result, defer.Deferred):
            builder._queue = []
            result.addBoth(self._later, builder, responder)
            return
        responder.send(_dumpReply(result))

    def _later(self, result, builder, responder):
        if hasattr(result, "getErrorMessage"):   # a Failure: a bug
            log.failure("{builder}: ensurepresent", result,
                        builder=builder.name)
            responder.send(_dumpFault(FAULT_ERROR, "error"))
        else:
            responder.send(_dumpReply(result))
        queue, builder._queue = builder._queue, None
        for waiting, method, params in queue or ():
            if builder._queue is not None:
                builder._queue.append((waiting, method, params))
            else:
                self._dispatch(builder, waiting, method, params)


class _FarmResource(resource.Resource):
    """Routes C{/<builder>/rpc} and C{/<builder>/filecache/<name>}, or, for
    a builder with a port of its own, C{/rpc} and C{/filecache/<name>}."""

    isLeaf = True

    def __init__(self, farm, builder=None):
        resource.Resource.__init__(self)
        self.farm = farm
        self.builder = builder

    def render(self, request):
        farm = self.farm
        path = request.postpath
        builder = self.builder
        if builder is None:
            if len(path) < 2:
                return self._notFound(request)
            builder = farm.builders.get(path[0].decode("utf-8", "replace"))
            path = path[1:]
            if builder is None:
                return self._notFound(request)
        if path == [b"rpc"]:
            if request.method != b"POST":
                request.setResponseCode(http.NOT_ALLOWED)
                request.setHeader(b"allow", b"POST")
                return b""
            farm._rpc.handle(builder, request.content.read(),
                             _WebResponder(request))
            return server.NOT_DONE_YET
        if builder.down:
            farm.counters["refused"] += 1
            request.channel.transport.abortConnection()
            return server.NOT_DONE_YET
        if builder.hang:
            farm.counters["hung"] += 1
            _WebResponder(request).hold(farm._hung)
            return server.NOT_DONE_YET
        if (len(path) == 2 and path[0] == b"filecache"
                and request.method in (b"GET", b"HEAD")):
            return self._file(builder, request,
                              path[1].decode("utf-8", "replace"))
        return self._notFound(request)

    def _notFound(self, request):
        request.setResponseCode(http.NOT_FOUND)
        request.setHeader(b"content-type", b"text/html")
        return b"<html><body>No Such Resource</body></html>\n"

    def _file(self, builder, request, name):
        farm = self.farm
        found = builder.fileFor(name)
        if found is None:
            return self._notFound(request)
        request.setHeader(b"content-type", b"text/html")
        if isinstance(found, bytes):
            farm.counters["files"] += 1
            request.setHeader(b"content-length", b"%d" % len(found))
            return b"" if request.method == b"HEAD" else found
        farm.counters["buildlogs"] += 1
        now = farm.clock.seconds()
        start, end = found.origin, found.length(now)
        request.setHeader(b"content-length", b"%d" % (end - start))
        if request.method == b"HEAD" or start >= end:
            return b""
        if end - start <= CHUNK_SIZE:
            return found.read(start, end, now)
        _LogProducer(request, found, start, end, now).start()
        return server.NOT_DONE_YET


class _Channel(http.HTTPChannel):
    """twisted.web's channel, tracked in its site so that stop() can drop
    every connection."""

    def connectionMade(self):
        http.HTTPChannel.connectionMade(self)
        self.site.channels.add(self)

    def connectionLost(self, reason):
        self.site.channels.discard(self)
        http.HTTPChannel.connectionLost(self, reason)


_MAX_HEAD = 16 * 1024
_MAX_RPC_BODY = 16 * 1024 ** 2


class _FastChannel(protocol.Protocol):
    """The first protocol of every connection.

    A plain XML-RPC POST (the master's Proxy sends nothing else: one call
    per HTTP/1.0 connection, with a Content-Length) is answered here
    without twisted.web's machinery, then the connection is closed.
    Anything else (file downloads, keep-alive, chunked bodies, odd
    requests) is handed, bytes and all, to a twisted.web channel.
    """

    def __init__(self, site, addr):
        self.site = site
        self.addr = addr
        self.inner = None
        self.buffer = b""
        self.done = False

    def connectionMade(self):
        site = self.site
        site.channels.add(self)
        builder = site.builder
        if builder is not None and builder.down:
            # A builder with its own port: down is a reset at once.
            site.farm.counters["refused"] += 1
            self.transport.abortConnection()

    def dataReceived(self, data):
        if self.inner is not None:
            self.inner.dataReceived(data)
            return
        if self.done:
            return
        self.buffer += data
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > _MAX_HEAD:
                self._fallback()
            return
        lines = buffer[:end].split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or parts[0] != b"POST" or \
                not parts[1].endswith(b"/rpc"):
            self._fallback()
            return
        length = None
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                value = value.strip()
                if not value.isdigit() or length is not None:
                    self._fallback()
                    return
                length = int(value)
            elif name in (b"transfer-encoding", b"expect") or not sep:
                self._fallback()
                return
        if length is None or length > _MAX_RPC_BODY:
            self._fallback()
            return
        if len(buffer) < end + 4 + length:
            return
        builder = self._builder(parts[1])
        if builder is None:
            self._fallback()
            return
        self.done = True
        self.version = parts[2] if parts[2] == b"HTTP/1.0" else b"HTTP/1.1"
        body = buffer[end + 4:end + 4 + length]
        self.buffer = b""
        self.site.farm._rpc.handle(builder, body, self)

    def _builder(self, target):
        path = target.split(b"?", 1)[0].split(b"/")
        site = self.site
        if site.builder is not None:
            return site.builder if path == [b"", b"rpc"] else None
        if len(path) != 3 or path[0] != b"":
            return None
        return site.farm.builders.get(
            unquote_to_bytes(path[1]).decode("utf-8", "replace"))

    def _fallback(self):
        channel = server.Site.buildProtocol(self.site, self.addr)
        self.inner = channel
        channel.makeConnection(self.transport)
        data, self.buffer = self.buffer, b""
        channel.dataReceived(data)

    # -- the responder interface -------------------------------------------

    def send(self, data, code=200):
        transport = self.transport
        if transport is None or not transport.connected:
            return
        transport.write(b"".join([
            self.version, b" 200 OK\r\n" if code == 200 else
            b" %d %s\r\n" % (code, http.RESPONSES.get(code, b"Error")),
            b"Content-Type: text/xml\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % len(data), data]))
        transport.loseConnection()

    def abort(self):
        self.transport.abortConnection()

    def hold(self, hung):
        hung.add(self)

    def connectionLost(self, reason):
        site = self.site
        site.channels.discard(self)
        site.farm._hung.discard(self)
        if self.inner is not None:
            self.inner.connectionLost(reason)


class _Site(server.Site):
    protocol = _Channel
    noisy = False

    def __init__(self, farm, builder=None):
        # No form parsing: it costs more than the rest of a status() call.
        server.Site.__init__(self, _FarmResource(farm, builder),
                             reactor=farm.reactor,
                             parsePOSTFormSubmission=False)
        self.farm = farm
        self.builder = builder
        self.channels = set()

    def log(self, request):
        pass    # no access log: thousands of calls a second

    def buildProtocol(self, addr):
        return _FastChannel(self, addr)


# --- the farm ---------------------------------------------------------------

class SimulatedFarm:
    """Simulated builders sharing one port.

    @ivar builders: C{{name: SimulatedBuilder}}.
    @ivar counters: a C{collections.Counter}: calls served per XML-RPC
        method name (C{counters['status']}), C{files} and C{buildlogs}
        served, C{hung}, C{refused} and C{garbage} faults, C{faults} sent,
        C{builds_started}, C{builds_finished}, C{outcome_<OUTCOME>},
        C{downloads}.
    @ivar store: C{{sha1: bytes}} of everything ensurepresent() fetched
        (shared by all builders; each builder knows which sha1s it has).
    """

    def __init__(self, clock=None, reactor=None, seed=0, profile=None,
                 fetch=True, fetch_timeout=600.0):
        """
        @param clock: times the builds (default: C{reactor}).
        @param reactor: listens and downloads (default: the global reactor).
        @param seed: makes every build's outcome, duration and log
            reproducible.
        @param profile: the default L{BuildProfile} of new builders.
        @param fetch: C{True}: ensurepresent() downloads and checks the
            sha1, and build() answers UNKNOWNSUM for files not fetched;
            C{False}: ensurepresent() trusts and answers C{[True, 'Cache']}
            (for large farms).
        """
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.seed = seed
        self.profile = profile if profile is not None else BuildProfile()
        self.fetch = fetch
        self.fetch_timeout = fetch_timeout
        self.builders = {}
        self.counters = collections.Counter()
        self.store = {}
        self.interface = "127.0.0.1"
        self.port = None
        self._rng = random.Random(seed)
        self._listeners = []
        self._sites = []
        self._hung = set()
        self._downloads = set()
        self._pool = None
        self._http = None
        self._rpc = _RpcHandler(self)

    def addBuilder(self, name, arch_tag="i386", profile=None):
        """A new IDLE builder; its URL is L{urlFor}C{(name)}."""
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError("bad builder name %r" % (name,))
        if name in self.builders:
            raise ValueError("builder %r exists already" % (name,))
        builder = SimulatedBuilder(self, name, arch_tag, profile)
        self.builders[name] = builder
        return builder

    def __getitem__(self, name):
        return self.builders[name]

    def listen(self, port=0, interface="127.0.0.1", backlog=1024):
        """Serve every builder on one port; fires with the port number."""
        try:
            site = _Site(self)
            listener = self.reactor.listenTCP(
                port, site, backlog=backlog, interface=interface)
        except Exception:
            return defer.fail()
        self._sites.append(site)
        self._listeners.append(listener)
        self.interface = interface
        self.port = listener.getHost().port
        return defer.succeed(self.port)

    def listenBuilder(self, name, port=0, interface="127.0.0.1"):
        """Give one builder a port of its own (small demos); fires with the
        port number, and the builder's URL becomes C{http://HOST:P/}."""
        builder = self.builders[name]
        try:
            site = _Site(self, builder)
            listener = self.reactor.listenTCP(port, site, interface=interface)
        except Exception:
            return defer.fail()
        self._sites.append(site)
        self._listeners.append(listener)
        builder.port = (interface, listener.getHost().port)
        return defer.succeed(builder.port[1])

    def urlFor(self, name):
        """The builder's base URL, ending in C{/}."""
        builder = self.builders[name]
        if builder.port is not None:
            return "http://%s:%d/" % builder.port
        if self.port is None:
            raise RuntimeError("the farm is not listening")
        return "http://%s:%d/%s/" % (self.interface, self.port,
                                     quote(name, safe=""))

    def stop(self):
        """Stop every build timer, listener, connection and download."""
        for builder in self.builders.values():
            builder.stop()
        ds = [defer.maybeDeferred(listener.stopListening)
              for listener in self._listeners]
        self._listeners = []
        for d in list(self._downloads):
            d.cancel()
        for site in self._sites:
            for channel in list(site.channels):
                if channel.transport is not None:
                    channel.transport.abortConnection()
        self._sites = []
        if self._pool is not None:
            ds.append(self._pool.closeCachedConnections())
            self._pool = None
        return defer.DeferredList(ds).addCallback(lambda _: None)

    # -- downloads ---------------------------------------------------------

    def _download(self, builder, sha1, url, username, password):
        """ensurepresent() of a file not in the builder's cache."""
        import treq
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool
        if self._pool is None:
            from lp_buildmaster.slave import quietPool
            self._pool = quietPool(
                HTTPConnectionPool(self.reactor, persistent=False))
            self._http = HTTPClient(Agent(self.reactor, pool=self._pool))
        self.counters["downloads"] += 1
        digest = hashlib.sha1()
        parts = []
        size = 0

        def collect(chunk):
            nonlocal size
            size += len(chunk)
            if size > MAX_FETCH_SIZE:
                raise ValueError("file larger than %d bytes" % MAX_FETCH_SIZE)
            digest.update(chunk)
            parts.append(chunk)

        @defer.inlineCallbacks
        def fetch():
            auth = (username, password) if username else None
            response = yield self._http.get(url, auth=auth, unbuffered=True)
            if response.code != 200:
                yield treq.content(response).addErrback(lambda f: None)
                phrase = response.phrase
                if isinstance(phrase, bytes):
                    phrase = phrase.decode("latin-1")
                return [False, "Error accessing Librarian: HTTP Error %d: %s"
                        % (response.code, phrase)]
            yield treq.collect(response, collect)
            return None

        d = fetch()
        d.addTimeout(self.fetch_timeout, self.reactor)
        self._downloads.add(d)

        def done(result):
            self._downloads.discard(d)
            if hasattr(result, "getErrorMessage"):
                return [False, "Error accessing Librarian: <urlopen error "
                        "%s>" % result.getErrorMessage()]
            if result is not None:
                return result
            if digest.hexdigest() != sha1:
                return [False, "Digests did not match, removing again!"]
            self.store[sha1] = b"".join(parts)
            if builder.cache is None:
                builder.cache = set()
            builder.cache.add(sha1)
            return [True, "Download"]

        return d.addBoth(done)


# --- the program ------------------------------------------------------------

def _parseArgs(argv):
    parser = argparse.ArgumentParser(
        prog="python -m lp_buildmaster.testing.simulator",
        description="Serve simulated launchpad-buildd builders on "
                    "127.0.0.1 and print their URLs as JSON.")
    parser.add_argument("--builders", type=int, default=4,
                        help="how many builders (default 4)")
    parser.add_argument("--port", type=int, default=0,
                        help="the shared port (default: any free one)")
    parser.add_argument("--interface", default="127.0.0.1")
    parser.add_argument("--profile", choices=sorted(PROFILES),
                        default="demo")
    parser.add_argument("--prefix", default="sim",
                        help="builder names are PREFIX-NNNNN")
    parser.add_argument("--first", type=int, default=1,
                        help="number of the first builder (default 1), so "
                             "several processes can share a name space")
    parser.add_argument("--arch", action="append", default=None,
                        help="architecture tag; repeat to deal them out "
                             "round-robin (default i386)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fault-rate", type=float, default=None,
                        help="per-call chance of a fault, split equally "
                             "between hang, refuse and garbage")
    parser.add_argument("--hang-rate", type=float, default=None)
    parser.add_argument("--refuse-rate", type=float, default=None)
    parser.add_argument("--garbage-rate", type=float, default=None)
    parser.add_argument("--duration", type=float, nargs=2, default=None,
                        metavar=("MIN", "MAX"))
    parser.add_argument("--log-size", type=int, nargs=2, default=None,
                        metavar=("MIN", "MAX"))
    fetch = parser.add_mutually_exclusive_group()
    fetch.add_argument("--fetch", dest="fetch", action="store_true",
                       default=None, help="ensurepresent() downloads "
                       "(default, except with --profile scale)")
    fetch.add_argument("--no-fetch", dest="fetch", action="store_false",
                       help="ensurepresent() trusts every sha1")
    parser.add_argument("--own-ports", action="store_true",
                        help="one port per builder instead of one shared")
    args = parser.parse_args(argv)
    if args.builders < 0:
        parser.error("--builders must be >= 0")
    return args


def _profileFromArgs(args):
    profile = PROFILES[args.profile]
    changes = {}
    if args.fault_rate is not None:
        for key in ("hang_rate", "refuse_rate", "garbage_rate"):
            changes[key] = args.fault_rate / 3.0
    for key in ("hang_rate", "refuse_rate", "garbage_rate"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    if args.duration is not None:
        changes["duration"] = tuple(args.duration)
    if args.log_size is not None:
        changes["log_size"] = tuple(args.log_size)
    return profile.replace(**changes) if changes else profile


def main(argv=None, reactor=None, out=None):
    """Serve a farm until SIGTERM/SIGINT; print its URLs as one JSON line."""
    args = _parseArgs(sys.argv[1:] if argv is None else argv)
    try:
        profile = _profileFromArgs(args)
    except ValueError as e:
        sys.stderr.write("simulator: error: %s\n" % e)
        return 2
    if reactor is None:
        from twisted.internet import reactor
    out = sys.stdout if out is None else out
    fetch = args.fetch if args.fetch is not None else args.profile != "scale"
    farm = SimulatedFarm(reactor=reactor, seed=args.seed, profile=profile,
                         fetch=fetch)
    arches = args.arch or ["i386"]
    width = max(5, len(str(args.first + args.builders)))
    names = []
    for i in range(args.builders):
        name = "%s-%0*d" % (args.prefix, width, args.first + i)
        farm.addBuilder(name, arch_tag=arches[i % len(arches)])
        names.append(name)

    @defer.inlineCallbacks
    def start():
        try:
            port = yield farm.listen(args.port, args.interface)
            if args.own_ports:
                for name in names:
                    yield farm.listenBuilder(name, 0, args.interface)
        except Exception as e:
            sys.stderr.write("simulator: error: cannot listen: %s\n" % e)
            reactor.stop()
            return
        out.write(json.dumps({
            "port": port, "pid": _pid(),
            "url_template": "http://%s:%d/{name}/" % (args.interface, port),
            "profile": args.profile, "fetch": fetch,
            "builders": {n: farm.urlFor(n) for n in names},
            "arch_tags": {n: farm.builders[n].arch_tag for n in names},
        }) + "\n")
        out.flush()

    reactor.addSystemEventTrigger("before", "shutdown", farm.stop)
    reactor.callWhenRunning(start)
    reactor.run()
    return 0


def _pid():
    import os
    return os.getpid()


if __name__ == "__main__":
    sys.exit(main())
