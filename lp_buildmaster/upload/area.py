"""The upload area: its directories, leaves and their locks, retention.

A finished build's files are grabbed from its builder into
C{grabbing/<timestamp>-<cookie>/} and the complete leaf is renamed into
C{incoming/}, so incoming only ever holds whole uploads. Processed leaves
move to C{accepted/}, C{rejected/} or C{failed/} and are removed
L{RETENTION} seconds after their content reached the librarian.

Nothing is written outside the area's root: file names are single path
components, nothing follows a symlink, and leaves move by rename.
"""

import fcntl
import os
import re
import shutil
import time
from pathlib import Path

from twisted.internet import defer

from lp_buildmaster.clock import orReactor
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.model.names import filenameProblem
from lp_buildmaster.model.records import parseCookie
from lp_buildmaster.slave import SlaveProtocolError, UnsafeFilename

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

_LEAF = re.compile(r"^\d{8}-\d{6}-(\d+-\d+)$")


class UnsafeUploadName(ValueError):
    """A file name that is not a single, plain path component."""



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
    def grab(self, slave, filemap, cookie, clock=None, naming=None):
        """Fetch an OK build's files and put them in incoming/ as one leaf.

        @param filemap: C{{filename: sha1}} as the builder reported it.
        @param cookie: the build cookie C{"<Build.id>-<BuildQueue.id>"}.
        @param clock: gives the leaf's timestamp (default: the reactor).
        @param naming: C{naming(cookie, now)} names the leaf, which must
            be C{<YYYYmmdd-HHMMSS>-<cookie>} (L{leafBuildId}); by default
            it is made here.
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
        if naming is None:
            leaf = "%s-%s" % (time.strftime(
                "%Y%m%d-%H%M%S", time.gmtime(clock.seconds())), cookie)
        else:
            leaf = naming(cookie, clock.seconds())
        match = _LEAF.match(leaf)
        if match is None or match.group(1) != cookie:
            raise ValueError("not an upload leaf of %s: %r" % (cookie, leaf))
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
