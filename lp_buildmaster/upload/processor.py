"""The upload processor: incoming leaves become FULLYBUILT or
FAILEDTOUPLOAD builds.

The processor takes each incoming leaf under a per-leaf C{flock}, has the
build's behaviour (C{IBuildFarmJobBehaviour(build).readUpload}) check it
(a binary package build's C{.changes} against the files and the build,
L{changes}; a translation-templates build's tarball), stores the files in
the librarian, records them and the packages they hold
(C{binarypackagerelease}, from the .deb names) and marks the build
FULLYBUILT in one transaction, and moves the leaf to C{accepted/}. A bad
upload goes to C{rejected/}, an upload the processor could not handle to
C{failed/}; either way the build becomes FAILEDTOUPLOAD. Every leaf keeps
its own C{uploader.log}.

Processing is idempotent and resumable: when our own side fails (the
database unavailable or reconnecting, the librarian's disk full) the leaf
stays in C{incoming/}, the build stays UPLOADING, and the sweeper tries
again with backoff; an accepted upload whose commit's answer was lost is
recognised on the next attempt. L{UploadProcessor.reconcile} matches the
UPLOADING builds against the leaves, so that none is left behind.

A little over 400 lines: one class, whose steps share its postponement
state, and which a reader follows from a leaf's lock to its move; split
further, one upload's path would be scattered over several modules.
"""

import os
import traceback
from pathlib import Path

from twisted.internet import defer, threads
from twisted.logger import Logger

from lp_buildmaster import failures
from lp_buildmaster.clock import orReactor
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.interfaces import IBuildFarmJobBehaviour
from lp_buildmaster.model.policy import (
    PocketPolicyError, checkCollectionPolicy)
from lp_buildmaster.store.jobs import AWAITING_UPLOAD, NotAwaitingUpload
from lp_buildmaster.upload.area import (
    ACCEPTED, FAILED, RECORDING, REJECTED, RETENTION, STORED, UPLOADER_LOG,
    leafBuildId)
from lp_buildmaster.upload.changes import UploadRejected


class UploadFailed(Exception):
    """The processor could not handle the upload: it goes to failed/."""


class UploadPostponed(failures.InfrastructureError):
    """Our own side failed (the librarian could not store a file): the
    leaf waits in incoming/ and is tried again later."""


#: Backoff between attempts at a postponed leaf: 10 s doubling to 10 min.
RETRY_FIRST, RETRY_MAX = 10.0, 600.0
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
        (L{UploadArea.expire}); fires with their paths. In a thread: a
        week of leaves to stat, and whole trees to remove, would hold the
        reactor (and every scan) meanwhile."""
        return threads.deferToThread(self.area.expire, self.clock.seconds(),
                                     retention)

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
        # The job's type says what its upload holds.
        try:
            behaviour = IBuildFarmJobBehaviour(build)
        except TypeError:
            raise UploadFailed("no behaviour for job type %r"
                               % build.job_type) from None
        upload = yield threads.deferToThread(behaviour.readUpload, leafdir)
        ulog.write("DEBUG", upload.summary)
        stored = []
        for f in upload.files:
            ulog.write("DEBUG", "Storing %s (%d bytes) in the librarian"
                       % (f.name, f.size))
            try:
                with open(f.path, "rb") as content:
                    alias = yield self.librarian.addFile(
                        f.name, f.size, content, f.content_type,
                        restricted=build.archive_private)
            except OSError as e:
                raise UploadPostponed("the librarian could not store %s: %s"
                                      % (f.name, e.strerror or e)) from None
            stored.append((alias, f.filetype))
        changes = None
        if upload.changes is not None:
            changes = yield self._storeChanges(leafdir, upload.changes,
                                               build, ulog)
        # If the commit goes through but its answer is lost, the next
        # attempt knows the build was marked by this upload.
        with open(os.path.join(leafdir, RECORDING), "w"):
            pass
        try:
            yield self.store.jobs.recordUpload(build.id, stored,
                                               upload.binaries, changes)
        except NotAwaitingUpload as e:
            raise UploadRejected(str(e)) from None
        os.unlink(os.path.join(leafdir, RECORDING))
        ulog.write("INFO", "Build %d marked FULLYBUILT with %d files"
                   % (build.id, len(stored)))

    @defer.inlineCallbacks
    def _storeChanges(self, leafdir, name, build, ulog):
        """The upload's .changes C{name} into the librarian: its alias
        id."""
        path = os.path.join(leafdir, name)
        size = os.stat(path).st_size
        ulog.write("DEBUG", "Storing %s (%d bytes) in the librarian"
                   % (name, size))
        try:
            with open(path, "rb") as content:
                return (yield self.librarian.addFile(
                    name, size, content, "text/plain",
                    restricted=build.archive_private))
        except OSError as e:
            raise UploadPostponed("the librarian could not store %s: %s"
                                  % (name, e.strerror or e)) from None

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


def _unused(path):
    """C{path}, or C{path.1}, C{path.2}... whichever does not exist yet."""
    candidate, n = path, 0
    while os.path.lexists(candidate):
        n += 1
        candidate = path.with_name("%s.%d" % (path.name, n))
    return candidate
