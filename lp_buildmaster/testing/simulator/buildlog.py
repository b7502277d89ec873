"""The build log of a simulated build, generated on demand.

Its bytes at any offset are computed without the bytes before them, so a
log of any size is served streamed and the log tail is cheap.  Also the
header and trailer lines the real daemon and sbuild write.

Imports only C{constants}.
"""

import random

from lp_buildmaster.testing.simulator.constants import (
    BUILDER_VERSION, LOGTAIL_SIZE, PROTOCOL_VERSION)


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


def logHeader(builder, cookie, build_type, chroot_sha1, args, dsc):
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


def logTrailer(outcome, source, version, arch, suite, cookie, dependencies,
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
