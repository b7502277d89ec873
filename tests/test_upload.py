"""The upload area and the upload processor, for sample build 7 (pmount
0.1-1, hoary, i386)."""

import hashlib
import os
import textwrap

from twisted.internet import defer, task
from txpostgres import reconnection, txpostgres

from lp_buildmaster import upload
from lp_buildmaster.behaviours.binarypackage import BinaryPackageBuildBehaviour
from lp_buildmaster.enums import BuildStatus, PackagePublishingPocket
from lp_buildmaster.librarian.client import LibrarianClient
from lp_buildmaster.librarian.storage import ContentStore
from lp_buildmaster.upload import (
    ACCEPTED, FAILED, REJECTED, UPLOADER_LOG, UploadArea, UploadProcessor,
    runProcessUpload)
from lp_buildmaster.slave import (
    SlaveError, SlaveFileTooLarge, SlaveProtocolError, UnsafeFilename)
from lp_buildmaster.text import notes
from tests.database import DatabaseTestCase
from tests.test_librarian import fillDisk

#: 2005-01-01 08:00:00 UTC, the seed's build start.
START = 1104566400
LEAF = "20050101-080000-7-99"
DEB = "pmount_0.1-1_i386.deb"
BUILDINFO = "pmount_0.1-1_i386.buildinfo"
CHANGES = "pmount_0.1-1_i386.changes"


def sampleFiles():
    """The binaries of pmount 0.1-1 on i386 (their insides do not
    matter to the processor)."""
    return {DEB: b"!<arch>\ndebian-binary   " + os.urandom(70000),
            BUILDINFO: b"Format: 1.0\nSource: pmount\nVersion: 0.1-1\n"}


def changesText(files, source="pmount", version="0.1-1"):
    """A .changes for C{files} ({name: bytes})."""
    def lines(hash_name, with_section=False):
        return "".join(
            "\n %s %d%s %s" % (
                hashlib.new(hash_name, data).hexdigest(), len(data),
                " misc optional" if with_section else "", name)
            for name, data in files.items())
    return textwrap.dedent("""\
        Format: 1.8
        Date: Sat, 01 Jan 2005 08:00:00 +0000
        Source: %s
        Binary: pmount
        Architecture: i386
        Version: %s
        Distribution: hoary
        Urgency: low
        Maintainer: Mark Shuttleworth <mark@example.com>
        Changed-By: Mark Shuttleworth <mark@example.com>
        Description:
         pmount - sample package pmount
        Changes:
         pmount (0.1-1) hoary; urgency=low
         .
           * Sample upload.
        """) % (source, version) + (
        "Checksums-Sha1:%s\nChecksums-Sha256:%s\nFiles:%s\n" % (
            lines("sha1"), lines("sha256"), lines("md5", True)))


def writeUpload(leafdir, files=None, listed=None, mangle=None, **kwargs):
    """Write a build's upload into C{leafdir}: the files and a .changes
    listing C{listed} (default: the same files), passed through
    C{mangle(text)} when given.

    @return: the files written, C{{name: bytes}}.
    """
    files = sampleFiles() if files is None else files
    os.makedirs(leafdir, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(leafdir, name), "wb") as f:
            f.write(data)
    text = changesText(files if listed is None else listed, **kwargs)
    text = mangle(text) if mangle else text
    with open(os.path.join(leafdir, CHANGES), "wb") as f:
        f.write(text.encode("utf-8") if isinstance(text, str) else text)
    return files


class FakeSlave:
    """A builder whose fetchFile serves C{files} ({name: bytes}) by sha1,
    through a temporary file, as the real client does."""

    name = "fake"

    def __init__(self, files, corrupt=()):
        self.files = files
        self.corrupt = corrupt
        self.fetched = []

    def fetchFile(self, sha1, destdir, filename, max_size=None):
        self.fetched.append(filename)
        data = self.files[filename]
        if filename in self.corrupt:
            data += b"!"
        if max_size is not None and len(data) > max_size:
            return defer.fail(SlaveFileTooLarge(
                self.name, "%s passed %d bytes" % (filename, max_size)))
        temp = os.path.join(destdir, ".%s.part" % filename)
        with open(temp, "wb") as f:
            f.write(data)
        if hashlib.sha1(data).hexdigest() != sha1:
            return defer.fail(ValueError("%s: sha1 mismatch" % filename))
        os.rename(temp, os.path.join(destdir, filename))
        return defer.succeed(os.path.join(destdir, filename))


def filemapOf(files):
    return {name: hashlib.sha1(data).hexdigest()
            for name, data in files.items()}


class UploadFixture(DatabaseTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield DatabaseTestCase.setUp(self)
        self.outside = self.librarian_root.parent
        self.area = UploadArea(self.outside / "upload")
        self.area.ensure()
        self.clock = task.Clock()
        self.clock.advance(START)
        self.librarian = LibrarianClient(
            self.store, ContentStore(self.librarian_root),
            "http://127.0.0.1:1/", b"secret", clock=self.clock)
        self.processor = UploadProcessor(self.store, self.librarian, self.area,
                                         clock=self.clock)
        # Build 7 has been collected and waits for its upload.
        yield self.store.builds.update(7, buildstate=BuildStatus.UPLOADING)

    def contents(self, path):
        return sorted(os.listdir(path))

    def storedFiles(self):
        return sorted(os.path.join(d, f)
                      for d, _, fs in os.walk(self.librarian_root)
                      for f in fs)

    @defer.inlineCallbacks
    def buildFiles(self, build_id=7):
        rows = yield self.store.runQuery(
            "SELECT a.filename, f.filetype FROM buildfile f"
            " JOIN libraryfilealias a ON a.id = f.libraryfile"
            " WHERE f.build = %s ORDER BY f.id", (build_id,))
        return [(r["filename"], r["filetype"]) for r in rows]

    def uploaderLog(self, outcome, leaf=LEAF):
        with open(self.area.path(outcome, leaf) / "uploader.log") as f:
            return f.read()

    def logHead(self):
        """The start of every uploader.log, as the seed shows it."""
        return "".join(
            ["INFO    creating lockfile\n",
             "DEBUG   Initialising connection.\n",
             "DEBUG   Beginning processing\n"] + [
                "DEBUG   Creating directory %s/%s\n" % (self.area.root, kind)
                for kind in ("accepted", "rejected", "failed")])

    def logTail(self, marked, outcome=ACCEPTED, leaf=LEAF):
        """The end of an uploader.log, from the line saying what became of
        the build."""
        lines = [marked]
        if outcome != ACCEPTED:
            lines.append("DEBUG   Rolling back any remaining transactions.")
        lines += ["INFO    Moving upload to %s/%s/%s"
                  % (self.area.root, outcome, leaf),
                  "DEBUG   Removing lock file: %s/locks/%s.lock"
                  % (self.area.root, leaf)]
        return "\n".join(lines) + "\n"



class UploadTestCase(UploadFixture):

    # --- grabbing -----------------------------------------------------

    @defer.inlineCallbacks
    def test_grab(self):
        """An OK build's files land in incoming/<timestamp>-<cookie>."""
        files = sampleFiles()
        files[CHANGES] = changesText(files).encode("utf-8")
        path = yield self.area.grab(
            FakeSlave(files), filemapOf(files), "7-99", self.clock)
        self.assertEqual(path, self.area.path("incoming", LEAF))
        self.assertEqual(self.contents(path), sorted(files))
        self.assertEqual(self.contents(self.area.path("grabbing")), [])

    @defer.inlineCallbacks
    def test_grabAgainReusesTheLeaf(self):
        """A build collected again after its record failed (the database
        went away) reuses the leaf already in incoming/: nothing fetched
        twice, no second leaf to be processed."""
        files = sampleFiles()
        files[CHANGES] = changesText(files).encode("utf-8")
        first = yield self.area.grab(
            FakeSlave(files), filemapOf(files), "7-99", self.clock)
        self.clock.advance(5)
        slave = FakeSlave(files)
        again = yield self.area.grab(slave, filemapOf(files), "7-99",
                                     self.clock)
        self.assertEqual(again, first)
        self.assertEqual(slave.fetched, [])
        self.assertEqual(self.contents(self.area.path("incoming")), [LEAF])

    @defer.inlineCallbacks
    def test_grabUnsafeName(self):
        """A path, a hidden name, a newline or the upload log's own name in
        the filemap fetches nothing and writes nothing, and is the
        builder's fault (a SlaveError, counted once), not an unexpected
        error every scan."""
        for name in ("../../etc/passwd", ".hidden", "evil\nname.deb",
                     UPLOADER_LOG):
            slave = FakeSlave({name: b"root:x:0:0"})
            before = self.contents(self.outside)
            e = yield self.assertFailure(self.area.grab(
                slave, {name: "0" * 40}, "7-99", self.clock),
                UnsafeFilename)
            self.assertIsInstance(e, SlaveError)
            self.assertIn("unsafe file name", str(e))
            self.assertEqual(slave.fetched, [])
            self.assertEqual(self.contents(self.outside), before)
            for kind in ("grabbing", "incoming"):
                self.assertEqual(self.contents(self.area.path(kind)), [])

    @defer.inlineCallbacks
    def test_grabLimits(self):
        """A build's result files are limited in number and in total size
        (each file gets what is left of the allowance); past either, the
        builder is at fault and nothing is left behind."""
        files = sampleFiles()
        files[CHANGES] = changesText(files).encode("utf-8")
        total = sum(len(data) for data in files.values())
        for area, error in [
                (UploadArea(self.area.root, max_files=len(files) - 1),
                 SlaveProtocolError),
                (UploadArea(self.area.root, max_bytes=total - 1),
                 SlaveFileTooLarge)]:
            e = yield self.assertFailure(area.grab(
                FakeSlave(files), filemapOf(files), "7-99", self.clock),
                error)
            self.assertIsInstance(e, SlaveError)
            for kind in ("grabbing", "incoming"):
                self.assertEqual(self.contents(self.area.path(kind)), [])
        area = UploadArea(self.area.root, max_files=len(files),
                          max_bytes=total)
        yield area.grab(FakeSlave(files), filemapOf(files), "7-99", self.clock)

    @defer.inlineCallbacks
    def test_failedUploadRenamesBuildLog(self):
        """The build log, stored as _FULLYBUILT when collected, carries the
        final state once the upload fails."""
        name = "buildlog_ubuntu-hoary-i386.pmount_0.1-1_%s.txt.gz"
        log = yield self.store.library.addAlias(
            "a" * 40, "b" * 64, 10, name % "FULLYBUILT", "text/plain")
        yield self.store.builds.update(7, buildlog=log)
        yield self.assertRejected(
            "zz-extra.bin not listed in %s" % CHANGES,
            prepare=lambda leafdir: open(
                os.path.join(leafdir, "zz-extra.bin"), "wb").close())
        alias = yield self.store.library.getAlias(log)
        self.assertEqual(alias.filename, name % "FAILEDTOUPLOAD")

    def test_rejectedUnlistedFile(self):
        """A file the .changes does not list (a 200 MB zz-extra.bin) gets
        the upload rejected, saying which, instead of staying in
        accepted/."""
        return self.assertRejected(
            "zz-extra.bin not listed in %s" % CHANGES,
            prepare=lambda leafdir: open(
                os.path.join(leafdir, "zz-extra.bin"), "wb").close())

    @defer.inlineCallbacks
    def test_grabChecksumMismatch(self):
        """A fetch error removes the half-grabbed leaf and comes through."""
        files = sampleFiles()
        slave = FakeSlave(files, corrupt=[DEB])
        yield self.assertFailure(self.area.grab(
            slave, filemapOf(files), "7-99", self.clock), ValueError)
        for kind in ("grabbing", "incoming"):
            self.assertEqual(self.contents(self.area.path(kind)), [])

    def test_grabBadCookie(self):
        return self.assertFailure(self.area.grab(
            FakeSlave({}), {}, "../7-99", self.clock), ValueError)

    def test_cleanGrabbing(self):
        """Leftovers of a killed master are removed at start."""
        writeUpload(self.area.path("grabbing", LEAF))
        self.assertEqual(self.area.cleanGrabbing(), [LEAF])
        self.assertEqual(self.contents(self.area.path("grabbing")), [])

    @defer.inlineCallbacks
    def test_grabThenProcess(self):
        files = sampleFiles()
        files[CHANGES] = changesText(files).encode("utf-8")
        yield self.area.grab(
            FakeSlave(files), filemapOf(files), "7-99", self.clock)
        results = yield self.processor.processIncoming()
        self.assertEqual(results, [(LEAF, ACCEPTED)])

    # --- accepted -----------------------------------------------------

    @defer.inlineCallbacks
    def test_leafWaitsWhileStillCollecting(self):
        """A leaf whose build is still BUILDING (the master was killed
        between moving it into incoming/ and recording the collection)
        waits; once the build awaits its upload it is processed."""
        yield self.store.builds.update(7, buildstate=BuildStatus.BUILDING)
        writeUpload(self.area.path("incoming", LEAF))
        self.assertEqual((yield self.processor.processIncoming()), [])
        self.assertEqual(self.contents(self.area.path("incoming")), [LEAF])
        self.assertNotIn("uploader.log",
                         self.contents(self.area.path("incoming", LEAF)))
        build = yield self.store.builds.get(7)
        self.assertEqual(build.buildstate, BuildStatus.BUILDING)
        yield self.store.builds.update(7, buildstate=BuildStatus.UPLOADING)
        self.assertEqual((yield self.processor.processIncoming()),
                         [(LEAF, ACCEPTED)])

    @defer.inlineCallbacks
    def test_accepted(self):
        """A good upload: binaries in the librarian and the buildfile
        table, build FULLYBUILT, leaf in accepted/ with its log."""
        files = writeUpload(self.area.path("incoming", LEAF))
        results = yield self.processor.processIncoming()
        self.assertEqual(results, [(LEAF, ACCEPTED)])
        build = yield self.store.builds.get(7)
        self.assertEqual(build.buildstate, BuildStatus.FULLYBUILT)
        self.assertEqual((yield self.buildFiles()),
                         [(DEB, "deb"), (BUILDINFO, "buildinfo")])
        rows = yield self.store.runQuery(
            "SELECT libraryfile FROM buildfile WHERE build = 7 ORDER BY id")
        with (yield self.librarian.getFileByAlias(rows[0]["libraryfile"])
              ) as f:
            self.assertEqual(f.read(), files[DEB])
        alias = yield self.store.library.getAlias(rows[0]["libraryfile"])
        self.assertEqual(alias.mimetype,
                         "application/vnd.debian.binary-package")
        self.assertEqual(self.contents(self.area.path("incoming")), [])
        self.assertEqual(self.contents(self.area.path("locks")), [])
        self.assertEqual(
            self.contents(self.area.path(ACCEPTED, LEAF)),
            sorted([DEB, BUILDINFO, CHANGES, "uploader.log", upload.STORED]))
        # The uploader.log is the build's upload log in the librarian.
        build = yield self.store.builds.get(7)
        with (yield self.librarian.getFileByAlias(build.upload_log)) as f:
            self.assertEqual(f.read().decode(), self.uploaderLog(ACCEPTED))
        self.assertEqual(self.uploaderLog(ACCEPTED), self.logHead() + (
            "DEBUG   Build 7: i386 build of pmount 0.1-1 in ubuntu hoary"
            " RELEASE (UPLOADING)\n"
            "DEBUG   %s: Source pmount, Version 0.1-1, 2 files verified\n"
            "DEBUG   Storing %s (%d bytes) in the librarian\n"
            "DEBUG   Storing %s (%d bytes) in the librarian\n"
            "DEBUG   Storing %s (%d bytes) in the librarian\n" % (
                CHANGES, DEB, len(files[DEB]), BUILDINFO,
                len(files[BUILDINFO]), CHANGES, os.path.getsize(
                    self.area.path(ACCEPTED, LEAF) / CHANGES)))
            + self.logTail("INFO    Build 7 marked FULLYBUILT with 2 files"))

    @defer.inlineCallbacks
    def test_finishedLeavesExpire(self):
        """Finished leaves (accepted/, rejected/, failed/) are removed once
        their content (binaries, upload log) has been in the librarian for
        the retention period, and only then."""
        writeUpload(self.area.path("incoming", LEAF))
        yield self.processor.processIncoming()
        build = yield self.store.builds.get(7)
        self.assertIsNotNone(build.upload_log)
        kept = self.area.path(ACCEPTED, LEAF)
        unstored = self.area.path(FAILED, "20050101-080000-8-98")
        unstored.mkdir(parents=True)
        now = os.stat(kept / upload.STORED).st_mtime
        self.assertEqual(self.area.expire(now + 3600, retention=7200), [])
        self.assertTrue(kept.exists())
        self.assertEqual(self.area.expire(now + 7200, retention=7200), [kept])
        self.assertFalse(kept.exists())
        # A leaf whose content never reached the librarian stays.
        self.assertEqual(self.area.expire(now + 10 ** 9), [])
        self.assertTrue(unstored.exists())

    @defer.inlineCallbacks
    def test_acceptedKeepsChangesAndBuildinfo(self):
        """The .changes and the .buildinfo go into the librarian, linked
        from the build and from each binary package it produced."""
        files = writeUpload(self.area.path("incoming", LEAF))
        with open(self.area.path("incoming", LEAF) / CHANGES, "rb") as f:
            files[CHANGES] = f.read()
        yield self.processor.processIncoming()
        rows = yield self.store.runQuery(
            "SELECT changesfile, buildinfo FROM build WHERE id = 7")
        changes, buildinfo = rows[0]["changesfile"], rows[0]["buildinfo"]
        for alias_id, name, mimetype in [(changes, CHANGES, "text/plain"),
                                         (buildinfo, BUILDINFO,
                                          "text/plain")]:
            alias = yield self.store.library.getAlias(alias_id)
            self.assertEqual((alias.filename, alias.mimetype),
                             (name, mimetype))
            with (yield self.librarian.getFileByAlias(alias_id)) as f:
                self.assertEqual(f.read(), files[name])
        rows = yield self.store.runQuery(
            "SELECT name, changesfile, buildinfo FROM binarypackagerelease"
            " WHERE build = 7")
        self.assertTrue(rows)
        self.assertEqual({(r["changesfile"], r["buildinfo"]) for r in rows},
                         {(changes, buildinfo)})

    # --- rejected -----------------------------------------------------

    @defer.inlineCallbacks
    def assertRejected(self, reason, state=BuildStatus.FAILEDTOUPLOAD,
                       prepare=None, **kwargs):
        """Writing the upload with C{kwargs} (then C{prepare(leafdir)})
        gets it rejected with C{reason}: build in C{state}, nothing in the
        librarian."""
        leaf = LEAF
        writeUpload(self.area.path("incoming", leaf), **kwargs)
        if prepare is not None:
            prepare(self.area.path("incoming", leaf))
        stored = self.storedFiles()
        results = yield self.processor.processIncoming()
        self.assertEqual(results, [(leaf, REJECTED)])
        build = yield self.store.builds.get(7)
        self.assertEqual(build.buildstate, state)
        if state == BuildStatus.FAILEDTOUPLOAD:
            # The reason is on the build: build show, the API, the
            # dashboard and the mail show it.
            self.assertEqual(build.failnotes,
                             notes("Upload rejected: %s" % reason))
        self.assertEqual((yield self.buildFiles()), [])
        log = self.uploaderLog(REJECTED, leaf)
        # Nothing of the upload is stored; only its log, as the build's
        # upload log when this processing failed the build.
        added = sorted(set(self.storedFiles()) - set(stored))
        if state == BuildStatus.FAILEDTOUPLOAD:
            self.assertEqual(len(added), 1, added)
            with open(added[0]) as f:
                self.assertEqual(f.read(), log)
        else:
            self.assertEqual(added, [])
        self.assertEqual(self.contents(self.area.path("incoming")), [])
        self.assertTrue(log.startswith(self.logHead()))
        self.assertIn("\nERROR   Rejected: %s\n" % reason, log)
        self.assertTrue(log.endswith(self.logTail(
            "INFO    Build 7 marked FAILEDTOUPLOAD"
            if state == BuildStatus.FAILEDTOUPLOAD else
            "INFO    Build 7 is not awaiting an upload; left as it is",
            REJECTED)))
        return log

    @defer.inlineCallbacks
    def test_rejectedKeepsItsUploadLog(self):
        """A rejected upload's log is the build's upload log too: the
        build page links the reason."""
        files = writeUpload(self.area.path("incoming", LEAF))
        corrupt = self.area.path("incoming", LEAF) / DEB
        corrupt.write_bytes(b"x" + files[DEB][1:])
        results = yield self.processor.processIncoming()
        self.assertEqual(results, [(LEAF, REJECTED)])
        build = yield self.store.builds.get(7)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOUPLOAD)
        with (yield self.librarian.getFileByAlias(build.upload_log)) as f:
            text = f.read().decode()
        self.assertIn("Rejected:", text)
        self.assertEqual(text, self.uploaderLog(REJECTED))

    def test_rejectedBadMD5(self):
        files = sampleFiles()
        md5 = hashlib.md5(files[DEB]).hexdigest()
        return self.assertRejected(
            "%s has md5 %s; %s says %s" % (DEB, md5, CHANGES, "0" * 32),
            files=files, mangle=lambda text: text.replace(md5, "0" * 32))

    def test_rejectedBadSHA256(self):
        files = sampleFiles()
        sha256 = hashlib.sha256(files[DEB]).hexdigest()
        return self.assertRejected(
            "%s has sha256 %s; %s says %s" % (DEB, sha256, CHANGES, "f" * 64),
            files=files, mangle=lambda text: text.replace(sha256, "f" * 64))

    def test_rejectedMissingFile(self):
        files = sampleFiles()
        return self.assertRejected(
            "%s is missing" % BUILDINFO,
            files={DEB: files[DEB]}, listed=files)

    def test_rejectedLargerThanChangesSays(self):
        files = sampleFiles()
        bigger = dict(files, **{DEB: files[DEB] + b"trailing junk"})
        return self.assertRejected(
            "%s is %d bytes; %s says %d" % (
                DEB, len(bigger[DEB]), CHANGES, len(files[DEB])),
            files=bigger, listed=files)

    def test_rejectedWrongVersion(self):
        return self.assertRejected(
            "the upload is pmount 0.1-2 but build 7 is of pmount 0.1-1",
            version="0.1-2")

    def test_rejectedWrongSource(self):
        return self.assertRejected(
            "the upload is mount 0.1-1 but build 7 is of pmount 0.1-1",
            source="mount")

    def test_rejectedPathInFilename(self):
        files = sampleFiles()
        return self.assertRejected(
            "%s: unsafe file name '../%s': contains a separator or NUL"
            % (CHANGES, DEB), files=files,
            mangle=lambda text: text.replace(" " + DEB, " ../" + DEB))

    def test_rejectedUnparsable(self):
        return self.assertRejected(
            "%s could not be parsed: 'utf-8' codec can't decode byte 0xff"
            " in position 0: invalid start byte" % CHANGES,
            mangle=lambda text: b"\xff\xfe" + text.encode("utf-8"))

    def test_rejectedMissingField(self):
        return self.assertRejected(
            "%s: missing field Version" % CHANGES,
            mangle=lambda text: text.replace("Version: 0.1-1\n", ""))

    def test_rejectedNoChanges(self):
        return self.assertRejected(
            "Expected one .changes file, found 0",
            prepare=lambda leafdir: os.unlink(leafdir / CHANGES))

    def test_rejectedSymlink(self):
        """A listed file that is a symlink is not followed out of the
        leaf."""
        files = sampleFiles()
        outside = self.outside / "secret"
        outside.write_bytes(files[BUILDINFO])

        def link(leafdir):
            os.unlink(leafdir / BUILDINFO)
            os.symlink(outside, leafdir / BUILDINFO)
        return self.assertRejected(
            "%s is not a regular file" % BUILDINFO, files=files, prepare=link)

    @defer.inlineCallbacks
    def test_rejectedPolicy(self):
        """A hoary (in development) build in the SECURITY pocket."""
        yield self.store.builds.update(
            7, pocket=PackagePublishingPocket.SECURITY)
        yield self.assertRejected(
            "i386 build of pmount 0.1-1 in ubuntu hoary SECURITY (7) can not"
            " be built for pocket SECURITY: illegal status")

    @defer.inlineCallbacks
    def test_rejectedNotAwaiting(self):
        """An upload for a finished build is refused and leaves it be."""
        yield self.store.builds.update(7, buildstate=BuildStatus.FULLYBUILT)
        yield self.assertRejected(
            "build 7 is FULLYBUILT, not awaiting an upload",
            state=BuildStatus.FULLYBUILT)

    @defer.inlineCallbacks
    def test_rejectedNoCookie(self):
        """A leaf whose name names no build is rejected; no build moves."""
        writeUpload(self.area.path("incoming", "stray"))
        results = yield self.processor.processIncoming()
        self.assertEqual(results, [("stray", REJECTED)])
        self.assertIn("ERROR   Rejected: the leaf name names no build cookie",
                      self.uploaderLog(REJECTED, "stray"))
        build = yield self.store.builds.get(7)
        self.assertEqual(build.buildstate, BuildStatus.UPLOADING)

    # --- failed ---------------------------------------------------------

    @defer.inlineCallbacks
    def assertFailed(self, reason):
        writeUpload(self.area.path("incoming", LEAF))
        stored = self.storedFiles()
        results = yield self.processor.processIncoming()
        self.assertEqual(results, [(LEAF, FAILED)])
        build = yield self.store.builds.get(7)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOUPLOAD)
        self.assertEqual((yield self.buildFiles()), [])
        log = self.uploaderLog(FAILED)
        # Only the log is stored, as the build's upload log.
        added = sorted(set(self.storedFiles()) - set(stored))
        self.assertEqual(len(added), 1, added)
        with open(added[0]) as f:
            self.assertEqual(f.read(), log)
        self.assertTrue(log.startswith(self.logHead()))
        self.assertIn("\nERROR   Failed: %s\n" % reason, log)
        self.assertTrue(log.endswith(self.logTail(
            "INFO    Build 7 marked FAILEDTOUPLOAD", FAILED)))
        return log

    @defer.inlineCallbacks
    def test_librarianFullPostponed(self):
        """A full librarian disk is our side failing, not the upload: the
        leaf waits in incoming/ with the build UPLOADING, no partial file
        is kept, and the upload is accepted once there is room."""
        processor = self.processor
        writeUpload(self.area.path("incoming", LEAF))
        stored = self.storedFiles()
        full = fillDisk(self)
        self.assertEqual((yield processor.processIncoming()), [])
        self.assertEqual(self.storedFiles(), stored)
        self.assertEqual(self.contents(self.area.path("incoming")), [LEAF])
        build = yield self.store.builds.get(7)
        self.assertEqual(build.buildstate, BuildStatus.UPLOADING)
        with open(self.area.path("incoming", LEAF) / "uploader.log") as f:
            self.assertIn(
                "WARNING Postponed: UploadPostponed: the librarian could not "
                "store %s: No space left on device; the upload waits in "
                "incoming/ and is tried again in 10 s" % DEB, f.read())
        full.restore()
        self.assertEqual((yield processor.processIncoming()), [])
        self.clock.advance(10)
        self.assertEqual((yield processor.processIncoming()),
                         [(LEAF, ACCEPTED)])
        build = yield self.store.builds.get(7)
        self.assertEqual(build.buildstate, BuildStatus.FULLYBUILT)

    @defer.inlineCallbacks
    def test_failedCrash(self):
        """An unexpected exception in the processor: failed/, with the
        traceback in the leaf's log."""
        def boom(behaviour, leafdir):
            raise RuntimeError("boom")
        self.patch(BinaryPackageBuildBehaviour, "readUpload", boom)
        log = yield self.assertFailed("unexpected error RuntimeError: boom")
        self.assertIn("DEBUG   Traceback (most recent call last):", log)

    # --- locking --------------------------------------------------------

    @defer.inlineCallbacks
    def test_lockedLeafSkipped(self):
        """A leaf another processor holds is left alone."""
        writeUpload(self.area.path("incoming", LEAF))
        lock = self.area.lockLeaf(LEAF)
        self.assertEqual((yield self.processor.processIncoming()), [])
        self.assertEqual(self.contents(self.area.path("incoming")), [LEAF])
        lock.release()
        self.assertEqual((yield self.processor.processIncoming()),
                         [(LEAF, ACCEPTED)])

    @defer.inlineCallbacks
    def test_twoProcessors(self):
        """Two processors at once never take the same leaf."""
        yield self.store.builds.update(1, buildstate=BuildStatus.UPLOADING)
        leaves = ["20050101-080000-1-98", LEAF]
        for leaf in leaves:
            writeUpload(self.area.path("incoming", leaf))
        other = UploadProcessor(self.store, self.librarian, self.area)
        first, second = yield defer.gatherResults(
            [self.processor.processIncoming(), other.processIncoming()])
        self.assertEqual(sorted(first + second),
                         [(leaf, ACCEPTED) for leaf in leaves])

    # --- the cron entry point -------------------------------------------

    @defer.inlineCallbacks
    def test_runProcessUpload(self):
        writeUpload(self.area.path("incoming", LEAF))
        code = yield runProcessUpload(
            self.dsn, str(self.area.root), str(self.librarian_root))
        self.assertEqual(code, 0)
        self.assertEqual(self.contents(self.area.path(ACCEPTED)), [LEAF])

    @defer.inlineCallbacks
    def test_runProcessUploadFailure(self):
        self.patch(BinaryPackageBuildBehaviour, "readUpload",
                   lambda behaviour, leafdir: 1 / 0)
        writeUpload(self.area.path("incoming", LEAF))
        code = yield runProcessUpload(
            self.dsn, str(self.area.root), str(self.librarian_root))
        self.assertEqual(code, 1)

    @defer.inlineCallbacks
    def test_runProcessUploadNoDatabase(self):
        code = yield runProcessUpload(
            "host=127.0.0.1 port=1 dbname=nowhere connect_timeout=5",
            str(self.area.root), str(self.librarian_root))
        self.assertEqual(code, 1)



class ResumableUploadTests(UploadFixture):
    """A database error mid-processing leaves the leaf waiting and the
    build UPLOADING; the sweeper tries again until it is done."""

    def failOnce(self, method, before=True):
        """C{store.jobs.METHOD} fails once with ConnectionDead (before or
        after doing its work), as during a database restart."""
        real = getattr(self.store.jobs, method)
        calls = []

        def flaky(*args, **kwargs):
            calls.append(args)
            if len(calls) > 1:
                return real(*args, **kwargs)
            if before:
                return defer.fail(reconnection.ConnectionDead())
            d = real(*args, **kwargs)
            return d.addCallback(
                lambda _: defer.fail(txpostgres.RollbackFailed(None, None)))
        self.patch(self.store.jobs, method, flaky)
        return calls

    @defer.inlineCallbacks
    def assertWaiting(self):
        self.assertEqual(self.contents(self.area.path("incoming")), [LEAF])
        for kind in (ACCEPTED, REJECTED, FAILED):
            self.assertEqual(self.contents(self.area.path(kind)), [])
        build = yield self.store.builds.get(7)
        self.assertEqual(build.buildstate, BuildStatus.UPLOADING)

    @defer.inlineCallbacks
    def test_recordFailsThenAccepted(self):
        self.failOnce("recordUpload")
        writeUpload(self.area.path("incoming", LEAF))
        self.assertEqual((yield self.processor.processIncoming()), [])
        yield self.assertWaiting()
        self.clock.advance(9)
        self.assertEqual((yield self.processor.processIncoming()), [])
        self.clock.advance(1)
        self.assertEqual((yield self.processor.processIncoming()),
                         [(LEAF, ACCEPTED)])
        build = yield self.store.builds.get(7)
        self.assertEqual(build.buildstate, BuildStatus.FULLYBUILT)
        self.assertEqual(len((yield self.buildFiles())), 2)
        self.assertEqual(self.processor.postponed, {})

    @defer.inlineCallbacks
    def test_commitAnswerLostThenAccepted(self):
        """The commit went through but its answer was lost: the next
        attempt sees its own work done and accepts, not rejects."""
        self.failOnce("recordUpload", before=False)
        writeUpload(self.area.path("incoming", LEAF))
        self.assertEqual((yield self.processor.processIncoming()), [])
        self.assertEqual(self.contents(self.area.path("incoming")), [LEAF])
        self.clock.advance(10)
        self.assertEqual((yield self.processor.processIncoming()),
                         [(LEAF, ACCEPTED)])
        build = yield self.store.builds.get(7)
        self.assertEqual(build.buildstate, BuildStatus.FULLYBUILT)
        self.assertNotIn(upload.RECORDING,
                         self.contents(self.area.path(ACCEPTED, LEAF)))

    @defer.inlineCallbacks
    def test_markFailedFailsThenRejected(self):
        """A bad upload whose FAILEDTOUPLOAD cannot be recorded yet stays
        in incoming/ (never moved with its build left UPLOADING)."""
        self.failOnce("markFailedToUpload")
        writeUpload(self.area.path("incoming", LEAF), version="0.2-1")
        self.assertEqual((yield self.processor.processIncoming()), [])
        yield self.assertWaiting()
        self.clock.advance(10)
        self.assertEqual((yield self.processor.processIncoming()),
                         [(LEAF, REJECTED)])
        build = yield self.store.builds.get(7)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOUPLOAD)

    @defer.inlineCallbacks
    def test_backoffGrows(self):
        real = self.store.jobs.recordUpload
        self.patch(self.store.jobs, "recordUpload",
                   lambda *a: defer.fail(reconnection.ConnectionDead()))
        writeUpload(self.area.path("incoming", LEAF))
        attempts = []
        for _ in range(700):
            results = yield self.processor.processIncoming()
            self.assertEqual(results, [])
            attempts.append(self.processor.postponed[LEAF][0])
            self.clock.advance(10)
        # At 0, 10, 30, 70, 150, 310, 630 s, then every 600 s: 17
        # attempts in 7,000 s.
        self.assertEqual(attempts[-1], 17)
        self.patch(self.store.jobs, "recordUpload", real)
        self.clock.advance(600)
        self.assertEqual((yield self.processor.processIncoming()),
                         [(LEAF, ACCEPTED)])

    # --- reconcile ------------------------------------------------------

    @defer.inlineCallbacks
    def test_reconcileRetriesLeafLeftInFailed(self):
        """A build left UPLOADING with its leaf in failed/ (as the bug
        did) gets its leaf back and is then accepted."""
        writeUpload(self.area.path(FAILED, LEAF))
        result = yield self.processor.reconcile()
        self.assertEqual(result, {"retried": [7], "marked": [],
                                  "missing": []})
        self.assertEqual((yield self.processor.processIncoming()),
                         [(LEAF, ACCEPTED)])
        build = yield self.store.builds.get(7)
        self.assertEqual(build.buildstate, BuildStatus.FULLYBUILT)

    @defer.inlineCallbacks
    def test_reconcileMarksRejected(self):
        writeUpload(self.area.path(REJECTED, LEAF))
        result = yield self.processor.reconcile()
        self.assertEqual(result["marked"], [7])
        build = yield self.store.builds.get(7)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOUPLOAD)

    @defer.inlineCallbacks
    def test_reconcileLeavesIncomingAndSaysMissingOnce(self):
        yield self.store.builds.update(1, buildstate=BuildStatus.UPLOADING)
        writeUpload(self.area.path("incoming", LEAF))
        result = yield self.processor.reconcile()
        self.assertEqual(result, {"retried": [], "marked": [],
                                  "missing": [1]})
        self.assertEqual(self.processor._reported, {1})
        yield self.processor.reconcile()
        self.assertEqual(self.processor._reported, {1})
