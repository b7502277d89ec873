"""The upload area and the upload processor.

A finished build's files are grabbed from its builder into
C{grabbing/<timestamp>-<cookie>/} and the complete leaf is renamed into
C{incoming/}, so incoming only ever holds whole uploads. The processor
takes each incoming leaf under a per-leaf C{flock}, checks its C{.changes}
against the files and the build, stores the binaries in the librarian,
records them and the packages they hold (C{binarypackagerelease}, from the
.deb names) and marks the build FULLYBUILT in one transaction, and moves
the leaf to C{accepted/}. A bad upload goes to C{rejected/}, an upload the
processor could not handle to C{failed/}; either way the build becomes
FAILEDTOUPLOAD. Every leaf keeps its own C{uploader.log}.

Processing is idempotent and resumable: when our own side fails (the
database unavailable or reconnecting, the librarian's disk full) the leaf
stays in C{incoming/}, the build stays UPLOADING, and the sweeper tries
again with backoff; an accepted upload whose commit's answer was lost is
recognised on the next attempt. L{UploadProcessor.reconcile} matches the
UPLOADING builds against the leaves, so that none is left behind.

Nothing is written outside the area's root: file names are single path
components, nothing follows a symlink, and leaves move by rename.
"""

import fcntl
import hashlib
import os
import re
import shutil
import stat
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

from debian import deb822
from twisted.internet import defer, threads
from twisted.logger import Logger

from lp_buildmaster import failures
from lp_buildmaster.clock import orReactor
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.model.packages import (
    PACKAGE_FILETYPES, InvalidBinaryFilename, parseDebFilename)
from lp_buildmaster.model.policy import (
    PocketPolicyError, checkCollectionPolicy)
from lp_buildmaster.model.names import filenameProblem
from lp_buildmaster.model.records import parseCookie
from lp_buildmaster.slave import SlaveProtocolError, UnsafeFilename
from lp_buildmaster.store.jobs import AWAITING_UPLOAD, NotAwaitingUpload

ACCEPTED, REJECTED, FAILED = "accepted", "rejected", "failed"
#: The state an outcome leaves its build in.
OUTCOME_STATES = {ACCEPTED: BuildStatus.FULLYBUILT,
                  REJECTED: BuildStatus.FAILEDTOUPLOAD,
                  FAILED: BuildStatus.FAILEDTOUPLOAD}
AREA_DIRS = ("grabbing", "incoming", ACCEPTED, REJECTED, FAILED, "locks")
UPLOADER_LOG = "uploader.log"

#: Result files and their total size one build may send, by default.
MAX_FILES = 1000
MAX_BYTES = 32 * 1024 ** 3
#: A .changes larger than this is not read.
MAX_CHANGES_SIZE = 1024 * 1024
#: States in which a build may receive its upload.
BINARY_TYPES = {"deb": "application/vnd.debian.binary-package",
                "udeb": "application/vnd.debian.binary-package",
                "ddeb": "application/vnd.debian.binary-package",
                "buildinfo": "text/plain"}
HASHES = (("Files", "md5sum", "md5"), ("Checksums-Sha1", "sha1", "sha1"),
          ("Checksums-Sha256", "sha256", "sha256"))

_LEAF = re.compile(r"^\d{8}-\d{6}-(\d+-\d+)$")
_HEX = re.compile(r"^[0-9a-f]+$")



class UnsafeUploadName(ValueError):
    """A file name that is not a single, plain path component."""


class UploadRejected(Exception):
    """The upload is wrong: it goes to rejected/."""


class UploadFailed(Exception):
    """The processor could not handle the upload: it goes to failed/."""


class UploadPostponed(failures.InfrastructureError):
    """Our own side failed (the librarian could not store a file): the
    leaf waits in incoming/ and is tried again later."""


#: Backoff between attempts at a postponed leaf: 10 s doubling to 10 min.
RETRY_FIRST, RETRY_MAX = 10.0, 600.0
#: A leaf's file saying its upload was being recorded (hidden: never an
#: upload's file name).
RECORDING = ".recording"

#: Marks a finished leaf whose upload log is in the librarian (its
#: binaries are, if accepted): it may be removed after the retention.
STORED = ".stored"

#: Seconds finished leaves are kept, by default: 7 days.
RETENTION = 7 * 24 * 3600.0


def checkFilename(name):
    """Refuse names that could leave a leaf or clash with its log.

    @raise UnsafeUploadName: naming the problem.
    """
    problem = filenameProblem(name)
    if problem is None and name == UPLOADER_LOG:
        problem = "the upload's own log"
    if problem:
        raise UnsafeUploadName("unsafe file name %r: %s" % (name, problem))
    return name


def leafBuildId(leaf):
    """The Build id in a leaf's name C{<timestamp>-<Build.id>-<BQ.id>}, or
    None."""
    match = _LEAF.match(leaf)
    cookie = parseCookie(match.group(1)) if match else None
    return cookie[0] if cookie else None


class UploadArea:
    """The directories uploads pass through, under C{root}.

    @ivar max_files: result files one build may send.
    @ivar max_bytes: their total size.
    """

    def __init__(self, root, max_files=MAX_FILES, max_bytes=MAX_BYTES):
        self.root = Path(root).resolve()
        self.max_files = max_files
        self.max_bytes = max_bytes

    def path(self, kind, leaf=None):
        base = self.root / kind
        return base if leaf is None else base / leaf

    def ensure(self):
        """Create the area's directories; returns those it created."""
        created = []
        for kind in AREA_DIRS:
            if not self.path(kind).is_dir():
                self.path(kind).mkdir(parents=True, exist_ok=True)
                created.append(kind)
        return created

    def cleanGrabbing(self):
        """Remove leaves a killed master left half-grabbed; their builds
        are collected again. Call at start, before any grab.

        @return: the names removed.
        """
        self.ensure()
        removed = sorted(os.listdir(self.path("grabbing")))
        for name in removed:
            _remove(self.path("grabbing", name))
        return removed

    @defer.inlineCallbacks
    def grab(self, slave, filemap, cookie, clock=None):
        """Fetch an OK build's files and put them in incoming/ as one leaf.

        @param filemap: C{{filename: sha1}} as the builder reported it.
        @param cookie: the build cookie C{"<Build.id>-<BuildQueue.id>"}.
        @param clock: gives the leaf's timestamp (default: the reactor).
        @return: a Deferred firing with the leaf's path in incoming/; on any
            error the partial leaf is removed and the error comes through.
        """
        if parseCookie(cookie) is None:
            raise ValueError("not a build cookie: %r" % (cookie,))
        clock = orReactor(clock)
        builder = getattr(slave, "name", None)
        if len(filemap) > self.max_files:
            # The builder sent them: its fault, counted once.
            raise SlaveProtocolError(builder, "%d result files, over the "
                                     "limit of %d" % (len(filemap),
                                                      self.max_files))
        for name in filemap:
            try:
                checkFilename(name)
            except UnsafeUploadName as e:
                raise UnsafeFilename(builder, str(e))
        self.ensure()
        for existing in self.incomingLeaves():
            match = _LEAF.match(existing)
            if match and match.group(1) == cookie:
                # Grabbed whole by a collection whose record failed (the
                # database went away): the same files, not fetched again
                # (and not processed twice).
                return self.path("incoming", existing)
        leaf = "%s-%s" % (time.strftime(
            "%Y%m%d-%H%M%S", time.gmtime(clock.seconds())), cookie)
        grabbing = self.path("grabbing", leaf)
        grabbing.mkdir()
        try:
            left = self.max_bytes
            for name, sha1 in sorted(filemap.items()):
                # What is left of the build's allowance bounds each file.
                path = yield slave.fetchFile(sha1, str(grabbing), name,
                                             max_size=left)
                left -= os.path.getsize(path)
            os.rename(grabbing, self.path("incoming", leaf))
        except BaseException:
            _remove(grabbing)
            raise
        return self.path("incoming", leaf)

    def expire(self, now, retention=RETENTION):
        """Remove the leaves of accepted/, rejected/ and failed/ whose
        content has been in the librarian (L{STORED}) for C{retention}
        seconds.

        @return: the paths removed.
        """
        removed = []
        for kind in (ACCEPTED, REJECTED, FAILED):
            base = self.path(kind)
            if not base.is_dir():
                continue
            for leaf in sorted(os.listdir(base)):
                try:
                    stored = os.stat(base / leaf / STORED).st_mtime
                except OSError:
                    continue
                if stored + retention <= now:
                    _remove(base / leaf)
                    removed.append(base / leaf)
        return removed

    def incomingLeaves(self):
        """Names of the directories in incoming/, oldest name first."""
        with os.scandir(self.path("incoming")) as entries:
            return sorted(e.name for e in entries
                          if e.is_dir(follow_symlinks=False)
                          and not e.name.startswith("."))

    def lockLeaf(self, leaf):
        """Take an incoming leaf for processing.

        @return: a L{LeafLock}, or None when another processor holds the
            leaf or it has left incoming/.
        """
        path = self.path("locks", leaf + ".lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        lock = LeafLock(path, fd)
        # The holder before us may have finished with the leaf already.
        if not os.path.isdir(self.path("incoming", leaf)) or os.path.islink(
                self.path("incoming", leaf)):
            lock.release()
            return None
        return lock


class LeafLock:
    """A held leaf lock. Released after the leaf has left incoming/, so a
    later holder of a new lock file finds it gone."""

    def __init__(self, path, fd):
        self.path, self._fd = path, fd

    def release(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self._fd)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


# --- reading an upload (in a thread: it hashes whole files) ---------------

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
    changes = _regularFile(leafdir, names[0])
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
        stat_ = _regularFile(leafdir, name)
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


def _regularFile(leafdir, name):
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


# --- processing ------------------------------------------------------------

class UploaderLog:
    """A leaf's C{uploader.log}, in the seed's format, mirrored to the
    master's log."""

    def __init__(self, path, log, leaf):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND
                     | os.O_NOFOLLOW, 0o644)
        self._file = os.fdopen(fd, "a", encoding="utf-8")
        #: Where the log is once its leaf has moved (set by the processor).
        self.final_path = None
        self._log, self._leaf = log, leaf

    def write(self, level, message):
        for line in message.splitlines() or [""]:
            self._file.write("%-8s%s\n" % (level, line))
        self._file.flush()
        emit = {"DEBUG": self._log.debug, "INFO": self._log.info,
                "WARNING": self._log.warn}.get(level, self._log.error)
        emit("{leaf}: {message}", leaf=self._leaf, message=message)

    def close(self):
        self._file.close()


class UploadProcessor:
    """Processes the leaves of an L{UploadArea}'s incoming/."""

    def __init__(self, store, librarian, area, log=None, clock=None):
        clock = orReactor(clock)
        self.store = store
        self.librarian = librarian
        self.area = area
        self.log = log or Logger(namespace="lp_buildmaster.upload")
        self.clock = clock
        #: C{{leaf: (attempts, not before)}} of postponed leaves
        self.postponed = {}
        self._reported = set()

    @defer.inlineCallbacks
    def processIncoming(self):
        """Process every leaf in incoming/ that no one else holds.

        @return: a Deferred firing with C{[(leaf, outcome)]}, outcome one of
            C{ACCEPTED}, C{REJECTED}, C{FAILED}.
        """
        self.area.ensure()
        results = []
        now = self.clock.seconds()
        for leaf in self.area.incomingLeaves():
            if self.postponed.get(leaf, (0, 0))[1] > now:
                continue
            outcome = yield self.processLeaf(leaf)
            if outcome is not None:
                results.append((leaf, outcome))
        return results

    @defer.inlineCallbacks
    def processLeaf(self, leaf):
        """Process one incoming leaf.

        @return: a Deferred firing with its outcome, or None when another
            processor holds it, it is gone, or it was postponed (our own
            side failed; it is tried again later).
        """
        lock = self.area.lockLeaf(leaf)
        if lock is None:
            return None
        try:
            try:
                collecting = yield self._stillCollecting(leaf)
            except Exception as e:
                if failures.classify(e).kind != failures.INFRASTRUCTURE:
                    raise
                self._postpone(leaf, e)
                return None
            if collecting:
                return None
            leafdir = self.area.path("incoming", leaf)
            ulog = UploaderLog(leafdir / UPLOADER_LOG, self.log, leaf)
            try:
                outcome = yield self._process(leaf, leafdir, lock, ulog)
            finally:
                ulog.close()
            if outcome is not None:
                yield self._storeUploadLog(leafBuildId(leaf),
                                           ulog.final_path, outcome)
        finally:
            lock.release()
        return outcome

    def expire(self, retention=RETENTION):
        """Remove the finished leaves past C{retention} seconds
        (L{UploadArea.expire}); fires with their paths."""
        return defer.succeed(self.area.expire(self.clock.seconds(),
                                              retention))

    @defer.inlineCallbacks
    def _storeUploadLog(self, build_id, path, outcome):
        """Keep a processed leaf's uploader.log in the librarian as the
        build's C{upload_log}, so the build page and C{build show} link
        it. Failing that is one log line; the upload stands."""
        if build_id is None or path is None:
            return
        try:
            build = yield self.store.builds.get(build_id)
            # Only the processing that settled the build: a rejected
            # duplicate leaves a finished build's own upload log alone.
            settled = (BuildStatus.FULLYBUILT if outcome == ACCEPTED
                       else BuildStatus.FAILEDTOUPLOAD)
            if build is None or build.upload_log is not None or \
                    build.buildstate != settled:
                return
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                alias = yield self.librarian.addFile(
                    "upload_%d_log.txt" % build_id, size, f, "text/plain",
                    restricted=build.archive_private)
            yield self.store.builds.update(build_id, upload_log=alias)
            # The leaf's content is all in the librarian now.
            (Path(path).parent / STORED).touch()
        except Exception as e:
            self.log.warn("Build {build_id}: the upload log could not be "
                          "stored: {error}", build_id=build_id,
                          error=failures.describe(e))

    @defer.inlineCallbacks
    def _stillCollecting(self, leaf):
        """Whether the leaf's build is still BUILDING: the scanner moved the
        leaf into incoming/ but has not recorded the collection yet (or a
        master was killed in between, and the next collection will bring a
        new leaf). Such a leaf waits."""
        build_id = leafBuildId(leaf)
        if build_id is None:
            return False
        build = yield self.store.builds.get(build_id)
        return build is not None and build.buildstate in (
            BuildStatus.BUILDING, BuildStatus.CANCELLING)

    @defer.inlineCallbacks
    def _process(self, leaf, leafdir, lock, ulog):
        ulog.write("INFO", "creating lockfile")
        ulog.write("DEBUG", "Initialising connection.")
        ulog.write("DEBUG", "Beginning processing")
        for kind in (ACCEPTED, REJECTED, FAILED):
            ulog.write("DEBUG", "Creating directory %s" % self.area.path(kind))
        build_id = leafBuildId(leaf)
        try:
            outcome, reason = yield self._outcome(leafdir, build_id, ulog)
            if outcome != ACCEPTED:
                yield self._markFailed(build_id, ulog, reason)
                ulog.write("DEBUG", "Rolling back any remaining transactions.")
        except Exception as e:
            if failures.classify(e).kind != failures.INFRASTRUCTURE:
                raise
            delay = self._postpone(leaf, e)
            ulog.write("WARNING", "Postponed: %s; the upload waits in "
                       "incoming/ and is tried again in %d s"
                       % (failures.describe(e), delay))
            return None
        self.postponed.pop(leaf, None)
        target = _unused(self.area.path(outcome, leaf))
        ulog.write("INFO", "Moving upload to %s" % target)
        os.rename(leafdir, target)
        ulog.final_path = target / UPLOADER_LOG
        ulog.write("DEBUG", "Removing lock file: %s" % lock.path)
        return outcome

    def _postpone(self, leaf, error):
        """Try C{leaf} again later, with backoff; returns the delay."""
        attempts = self.postponed.get(leaf, (0, 0))[0] + 1
        delay = min(RETRY_FIRST * 2 ** (attempts - 1), RETRY_MAX)
        self.postponed[leaf] = (attempts, self.clock.seconds() + delay)
        return delay

    @defer.inlineCallbacks
    def _outcome(self, leafdir, build_id, ulog):
        try:
            yield self._accept(leafdir, build_id, ulog)
        except UploadRejected as e:
            ulog.write("ERROR", "Rejected: %s" % e)
            return REJECTED, "Upload rejected: %s" % e
        except UploadFailed as e:
            ulog.write("ERROR", "Failed: %s" % e)
            return FAILED, "Upload failed: %s" % e
        except Exception as e:
            if failures.classify(e).kind == failures.INFRASTRUCTURE:
                # Our own side failed: not the upload's fault.
                raise
            ulog.write("ERROR", "Failed: unexpected error %s: %s"
                       % (type(e).__name__, e))
            ulog.write("DEBUG", traceback.format_exc().rstrip())
            return FAILED, "Upload failed: unexpected error %s: %s" % (
                type(e).__name__, e)
        return ACCEPTED, None

    @defer.inlineCallbacks
    def _accept(self, leafdir, build_id, ulog):
        if build_id is None:
            raise UploadRejected("the leaf name names no build cookie")
        build = yield self.store.builds.get(build_id)
        if build is None:
            raise UploadRejected("there is no build %d" % build_id)
        ulog.write("DEBUG", "Build %d: %s (%s)"
                   % (build.id, build.title, build.buildstate.name))
        if (build.buildstate == BuildStatus.FULLYBUILT
                and os.path.exists(os.path.join(leafdir, RECORDING))):
            ulog.write("INFO", "Build %d was marked FULLYBUILT by an earlier "
                       "attempt whose answer was lost" % build.id)
            os.unlink(os.path.join(leafdir, RECORDING))
            return
        _checkAwaiting(build.id, build.buildstate)
        try:
            checkCollectionPolicy(build)
        except PocketPolicyError as e:
            raise UploadRejected(str(e)) from None
        upload = yield threads.deferToThread(readUpload, leafdir)
        ulog.write("DEBUG", "%s: Source %s, Version %s, %d files verified" % (
            upload.changes, upload.source, upload.version, len(upload.files)))
        if (upload.source, upload.version) != (
                build.source_name, build.source_version):
            raise UploadRejected(
                "the upload is %s %s but build %d is of %s %s" % (
                    upload.source, upload.version, build.id,
                    build.source_name, build.source_version))
        binaries = _binaryPackages(upload, build)
        stored = []
        for f in upload.files:
            ulog.write("DEBUG", "Storing %s (%d bytes) in the librarian"
                       % (f.name, f.size))
            try:
                with open(f.path, "rb") as content:
                    alias = yield self.librarian.addFile(
                        f.name, f.size, content, BINARY_TYPES[f.filetype],
                        restricted=build.archive_private)
            except OSError as e:
                raise UploadPostponed("the librarian could not store %s: %s"
                                      % (f.name, e.strerror or e)) from None
            stored.append((alias, f.filetype))
        changes = yield self._storeChanges(leafdir, upload, build, ulog)
        # If the commit goes through but its answer is lost, the next
        # attempt knows the build was marked by this upload.
        with open(os.path.join(leafdir, RECORDING), "w"):
            pass
        try:
            yield self.store.jobs.recordUpload(build.id, stored, binaries,
                                               changes)
        except NotAwaitingUpload as e:
            raise UploadRejected(str(e)) from None
        os.unlink(os.path.join(leafdir, RECORDING))
        ulog.write("INFO", "Build %d marked FULLYBUILT with %d files"
                   % (build.id, len(stored)))

    @defer.inlineCallbacks
    def _storeChanges(self, leafdir, upload, build, ulog):
        """The upload's .changes into the librarian: its alias id."""
        path = os.path.join(leafdir, upload.changes)
        size = os.stat(path).st_size
        ulog.write("DEBUG", "Storing %s (%d bytes) in the librarian"
                   % (upload.changes, size))
        try:
            with open(path, "rb") as content:
                return (yield self.librarian.addFile(
                    upload.changes, size, content, "text/plain",
                    restricted=build.archive_private))
        except OSError as e:
            raise UploadPostponed("the librarian could not store %s: %s"
                                  % (upload.changes, e.strerror or e)
                                  ) from None

    @defer.inlineCallbacks
    def reconcile(self):
        """Match the UPLOADING builds against the leaves, so that none is
        left behind: a build whose leaf ended in C{failed/} or
        C{accepted/} while it stayed UPLOADING (a database error at the
        wrong moment, by an older version) gets its leaf back in
        C{incoming/} to be processed again; one whose leaf was rejected
        becomes FAILEDTOUPLOAD. A build with no leaf in this area is said
        once (another master's area may hold it).

        @return: C{{"retried": [ids], "marked": [ids], "missing": [ids]}}.
        """
        self.area.ensure()
        # incoming/ first: a leaf leaving it meanwhile has had its build
        # marked by then, and that build is not read as UPLOADING below.
        incoming = {leafBuildId(leaf) for leaf in self.area.incomingLeaves()}
        builds = yield self.store.builds.list(
            state=BuildStatus.UPLOADING, limit=1000000)
        result = {"retried": [], "marked": [], "missing": []}
        for build in builds:
            if build.id in incoming:
                continue
            found = self._leafOf(build.id)
            if found is None:
                if build.id in {leafBuildId(leaf)
                                for leaf in self.area.incomingLeaves()}:
                    continue
                if build.id not in self._reported:
                    self._reported.add(build.id)
                    self.log.warn(
                        "Build {build} is UPLOADING but no upload of it is in"
                        " {root}", build=build.id, root=self.area.root)
                result["missing"].append(build.id)
                continue
            kind, leaf = found
            if kind == REJECTED:
                changed = yield self.store.jobs.markFailedToUpload(build.id)
                if changed:
                    self.log.warn(
                        "Build {build} was left UPLOADING with its upload in "
                        "rejected/: marked FAILEDTOUPLOAD", build=build.id)
                    result["marked"].append(build.id)
                continue
            target = self.area.path("incoming", leaf)
            if os.path.lexists(target):
                continue
            os.rename(self.area.path(kind, leaf), target)
            self.log.warn(
                "Build {build} was left UPLOADING with its upload in {kind}/:"
                " moved back to incoming/ to be processed again",
                build=build.id, kind=kind)
            result["retried"].append(build.id)
        return result

    def _leafOf(self, build_id):
        """C{(kind, leaf)} of the newest leaf of C{build_id} in failed/,
        accepted/ or rejected/, or None."""
        for kind in (FAILED, ACCEPTED, REJECTED):
            with os.scandir(self.area.path(kind)) as entries:
                leaves = sorted(
                    e.name for e in entries
                    if e.is_dir(follow_symlinks=False)
                    and leafBuildId(e.name) == build_id)
            if leaves:
                return kind, leaves[-1]
        return None

    @defer.inlineCallbacks
    def _markFailed(self, build_id, ulog, reason=None):
        """Mark the build FAILEDTOUPLOAD, if it is still awaiting its
        upload (a rejected duplicate leaves a finished build alone), with
        C{reason} as its failnotes."""
        if build_id is None:
            return
        # A database error comes through: the leaf is postponed.
        changed = yield self.store.jobs.markFailedToUpload(build_id, reason)
        ulog.write("INFO", "Build %d marked FAILEDTOUPLOAD" % build_id
                   if changed else
                   "Build %d is not awaiting an upload; left as it is"
                   % build_id)


def _checkAwaiting(build_id, state):
    if state not in AWAITING_UPLOAD:
        raise UploadRejected("build %d is %s, not awaiting an upload"
                             % (build_id, state.name))


def _binaryPackages(upload, build):
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


def _unused(path):
    """C{path}, or C{path.1}, C{path.2}... whichever does not exist yet."""
    candidate, n = path, 0
    while os.path.lexists(candidate):
        n += 1
        candidate = path.with_name("%s.%d" % (path.name, n))
    return candidate


@defer.inlineCallbacks
def runProcessUpload(dsn, upload_root, librarian_root, log=None):
    """Process the upload area once, as C{buildmaster-admin process-upload}.

    For L{twisted.internet.task.react}: C{react(lambda reactor:
    runProcessUpload(dsn, root, librarian_root).addCallback(sys.exit))}.

    @return: a Deferred firing with the exit code: 0 when every upload was
        accepted or rejected, 1 when one failed or the database could not be
        reached.
    """
    from lp_buildmaster.librarian.client import LibrarianClient
    from lp_buildmaster.librarian.storage import ContentStore
    from lp_buildmaster.store import Store
    log = log or Logger(namespace="lp_buildmaster.upload")
    try:
        store = yield Store.connect(dsn, size=1)
    except Exception as e:
        log.error("process-upload: cannot connect to the database: {e}", e=e)
        return 1
    try:
        librarian = LibrarianClient(
            store, ContentStore(librarian_root), "", b"")
        results = yield UploadProcessor(
            store, librarian, UploadArea(upload_root), log).processIncoming()
    finally:
        store.close()
    for leaf, outcome in results:
        log.info("process-upload: {leaf} {outcome}", leaf=leaf,
                 outcome=outcome)
    return 1 if any(o == FAILED for _, o in results) else 0


class BuildUploads:
    """Where the scanner hands an OK build's files: grabbed into
    incoming/, then processed at once when the master processes uploads
    itself, else left for C{buildmaster-admin process-upload}."""

    def __init__(self, area, processor=None, clock=None):
        self.area = area
        self.processor = processor
        self.clock = clock

    def grab(self, slave, filemap, cookie):
        """Fires with the leaf's path in incoming/."""
        return self.area.grab(slave, filemap, cookie, self.clock)

    def processLeaf(self, leaf):
        """Fires with the build's new state, or None when not processed."""
        if self.processor is None:
            return defer.succeed(None)
        d = self.processor.processLeaf(Path(leaf).name)
        d.addCallback(lambda outcome: OUTCOME_STATES.get(outcome))
        return d
