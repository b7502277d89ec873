"""End to end: every build outcome, from a real launchpad-buildd through the
project's scanner into the database, the librarian and the upload area.

Each test starts its own daemon (tests/realbuilder), registers it as a
builder, puts a job of pmount 0.1-1 (the sample build 7's source) for ubuntu
hoary i386 on it and starts that build on the daemon as a dispatch would.
Then a L{ScannerManager} runs on the real reactor with a short interval
until the build settles, and the test checks what DESIGN.md's state table
says: the build's state, its log in the librarian, the queue entry, the
builder, the notifications, and the daemon cleaned back to IDLE.
"""

import os

from twisted.internet import defer
from twisted.logger import formatEvent, globalLogPublisher

from lp_buildmaster.buildergroup import BUILDERFAIL_NOTES
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.model.records import makeCookie
from tests.database import DatabaseTestCase
from tests.e2e import (
    ARCH, BUILDING, SOURCE, VERSION, WAITING, ScannerEndToEnd)
from tests.test_librarian import LibrarianFixture


class ScannerEndToEndTests(ScannerEndToEnd, LibrarianFixture,
                           DatabaseTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.startLibrarian()
        yield self.setUpEndToEnd()
        self.endings = []

        def observe(event):
            if event.get("log_namespace") == "lp_buildmaster.builds":
                self.endings.append(formatEvent(event))
        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)

    def assertEndedOnce(self, build, detail=""):
        """One log line says the build ended, in its final state."""
        self.assertEqual(self.endings, [
            "Build %d ended %s on builder 'e2e': %s%s" % (
                build.id, build.buildstate.name, build.title, detail)])

    @defer.inlineCallbacks
    def run_(self, outcome, **options):
        """Build with C{outcome} under the scanner until the build settles.

        @return: C{(build, queue, logtails)}.
        """
        build_id, queue_id = yield self.startBuild(outcome, **options)
        self.queue_id = queue_id
        self.startScanner()
        result = yield self.runToEnd(build_id, queue_id)
        yield self.assertDaemonIdle()
        self.assertNoScanErrors()
        return result

    def assertWaitingWith(self, build_status):
        """The scanner saw the daemon WAITING with C{build_status}."""
        self.assertTrue(self.witness.seen(WAITING, build_status),
                        [(s.builder_status, s.build_status)
                         for s in self.witness.statuses])

    # -- WAITING + OK ------------------------------------------------------

    @defer.inlineCallbacks
    def test_ok(self):
        """OK: FULLYBUILT, the log in the librarian, the .deb and
        .buildinfo recorded and the leaf in accepted/; no mail."""
        build, queue, logtails = yield self.run_("OK", duration=1.5)
        self.assertEqual(build.buildstate, BuildStatus.FULLYBUILT,
                         self.uploaderLogs())
        self.assertIsNone(queue)
        log = yield self.assertLogCollected(build, BuildStatus.FULLYBUILT)
        self.assertIn(b"Status: successful", log)
        self.assertWaitingWith("BuildStatus.OK")
        self.assertEqual(self.witness.calls, ["clean"])

        # While it built, the scanner kept its log tail, a piece of the log.
        self.assertTrue(self.witness.seen(BUILDING))
        self.assertTrue(logtails, "no log tail was ever stored")
        for logtail in logtails:
            self.assertIn(logtail.encode("utf-8"), log)

        # The files the daemon listed are stored, byte for byte.
        filemap = self.witness.seen(WAITING, "BuildStatus.OK")[-1].filemap
        deb = "%s_%s_%s.deb" % (SOURCE, VERSION, ARCH)
        buildinfo = "%s_%s_%s.buildinfo" % (SOURCE, VERSION, ARCH)
        changes = "%s_%s_%s.changes" % (SOURCE, VERSION, ARCH)
        self.assertEqual(set(filemap), {deb, buildinfo, changes})
        rows = yield self.store.runQuery(
            "SELECT bf.filetype, lfa.filename, lfc.sha1"
            "  FROM buildfile bf"
            "  JOIN libraryfilealias lfa ON lfa.id = bf.libraryfile"
            "  JOIN libraryfilecontent lfc ON lfc.id = lfa.content"
            " WHERE bf.build = %s", (build.id,))
        self.assertEqual(
            sorted((r["filetype"], r["filename"], r["sha1"].strip())
                   for r in rows),
            [("buildinfo", buildinfo, filemap[buildinfo]),
             ("deb", deb, filemap[deb])])

        accepted = os.listdir(self.area.path("accepted"))
        self.assertEqual(len(accepted), 1)
        self.assertTrue(accepted[0].endswith(
            "-" + makeCookie(build.id, self.queue_id)), accepted)
        # Besides the upload and its log, the processor's hidden marks
        # (.stored: its content is in the librarian, for retention).
        self.assertEqual(
            sorted(name for name in os.listdir(
                self.area.path("accepted", accepted[0]))
                if not name.startswith(".")),
            sorted([changes, deb, buildinfo, "uploader.log"]))
        for kind in ("incoming", "rejected", "failed"):
            self.assertEqual(os.listdir(self.area.path(kind)), [], kind)
        self.assertEqual(self.notifier.sent, [])

    def uploaderLogs(self):
        """Every uploader.log in the upload area, for failure messages."""
        logs = []
        for kind in ("incoming", "accepted", "rejected", "failed"):
            for leaf in os.listdir(self.area.path(kind)):
                path = self.area.path(kind, leaf) / "uploader.log"
                if os.path.exists(path):
                    with open(path) as f:
                        logs.append("%s/%s:\n%s" % (kind, leaf, f.read()))
        return "\n".join(logs)

    # -- WAITING + failures --------------------------------------------------

    @defer.inlineCallbacks
    def test_packagefail(self):
        """PACKAGEFAIL: FAILEDTOBUILD, the log stored, a notification
        pointing at it."""
        build, queue, _ = yield self.run_("PACKAGEFAIL")
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOBUILD)
        self.assertIsNone(queue)
        log = yield self.assertLogCollected(build,
                                            BuildStatus.FAILEDTOBUILD)
        self.assertIn(b"Fail-Stage: build", log)
        self.assertWaitingWith("BuildStatus.PACKAGEFAIL")
        sent = self.notifier.sentFor(build.id)
        self.assertEqual([b.buildstate for b in sent],
                         [BuildStatus.FAILEDTOBUILD])
        log_url = yield self.librarian.getURLForAlias(build.buildlog)
        self.assertEqual(self.notifier.sent[0][1], log_url)
        self.assertEndedOnce(build)

    @defer.inlineCallbacks
    def test_depfail(self):
        """DEPFAIL: MANUALDEPWAIT with the dependencies as the daemon
        reports them (normalised), the log stored, CRITICAL, no mail."""
        build, queue, _ = yield self.run_("DEPFAIL",
                                          dependencies="baz (>=1.0.1)")
        self.assertEqual(build.buildstate, BuildStatus.MANUALDEPWAIT)
        self.assertIsNone(queue)
        reported = self.witness.seen(WAITING, "BuildStatus.DEPFAIL")
        self.assertTrue(reported)
        self.assertEqual(reported[-1].dependencies, "baz (>= 1.0.1)")
        self.assertEqual(build.dependencies, "baz (>= 1.0.1)")
        log = yield self.assertLogCollected(build,
                                            BuildStatus.MANUALDEPWAIT)
        self.assertIn(b"Depends: baz (>=1.0.1) but it is not installable",
                      log)
        self.assertEqual(self.logs.matching("CRITICAL"), [
            "CRITICAL:root:***** e2e is MANUALDEPWAIT *****"])
        self.assertEqual(self.notifier.sent, [])
        self.assertEndedOnce(build, " (waiting for baz (>= 1.0.1))")

    @defer.inlineCallbacks
    def test_chrootfail(self):
        """CHROOTFAIL: CHROOTWAIT, the log stored, CRITICAL, notified."""
        build, queue, _ = yield self.run_("CHROOTFAIL")
        self.assertEqual(build.buildstate, BuildStatus.CHROOTWAIT)
        self.assertIsNone(queue)
        yield self.assertLogCollected(build, BuildStatus.CHROOTWAIT)
        self.assertWaitingWith("BuildStatus.CHROOTFAIL")
        self.assertEqual(self.logs.matching("CRITICAL"), [
            "CRITICAL:root:***** e2e is CHROOTWAIT *****"])
        self.assertEqual(
            [b.buildstate for b in self.notifier.sentFor(build.id)],
            [BuildStatus.CHROOTWAIT])

    # -- WAITING + requeue ---------------------------------------------------

    @defer.inlineCallbacks
    def test_givenback(self):
        """GIVENBACK: NEEDSBUILD, back in the queue with no builder, no
        start and score 0; the builder stays ok; no mail."""
        build, queue, _ = yield self.run_("GIVENBACK", score=500)
        self.assertEqual(build.buildstate, BuildStatus.NEEDSBUILD)
        self.assertWaitingWith("BuildStatus.GIVENBACK")
        self.assertIsNotNone(queue)
        self.assertEqual((queue.builder, queue.buildstart, queue.lastscore),
                         (None, None, 0))
        builder = yield self.store.builders.get(self.builder_id)
        self.assertTrue(builder.builderok)
        self.assertEqual(self.witness.calls, ["clean"])
        self.assertEqual(self.notifier.sent, [])

    @defer.inlineCallbacks
    def test_builderfail(self):
        """BUILDERFAIL: the job requeued (NEEDSBUILD, no builder), the
        builder failed with the seed's failnotes; no mail."""
        build, queue, _ = yield self.run_("BUILDERFAIL")
        self.assertEqual(build.buildstate, BuildStatus.NEEDSBUILD)
        self.assertWaitingWith("BuildStatus.BUILDERFAIL")
        self.assertIsNotNone(queue)
        self.assertIsNone(queue.builder)
        builder = yield self.store.builders.get(self.builder_id)
        self.assertFalse(builder.builderok)
        self.assertEqual(builder.failnotes, BUILDERFAIL_NOTES)
        self.assertEqual(
            BUILDERFAIL_NOTES,
            "Builder returned BUILDERFAIL when asked for its status")
        self.assertEqual(self.witness.calls, ["clean"])
        self.assertEqual(self.notifier.sent, [])

    # -- cancelling ----------------------------------------------------------

    @defer.inlineCallbacks
    def test_cancel(self):
        """A build marked CANCELLING while it runs is aborted on the daemon:
        CANCELLED, its queue entry gone, the daemon cleaned."""
        build_id, queue_id = yield self.startBuild("OK", duration=8.0)
        self.startScanner()
        # Wait until sbuild runs and the scanner has seen it building.
        yield self.waitUntil(
            build_id, queue_id,
            lambda s: s[1] is not None and s[1].logtail is not None
            and "dpkg-buildpackage: info: host architecture" in s[1].logtail,
            "the scanner to store sbuild's log tail")
        changed = yield self.store.builds.transition(
            build_id, BuildStatus.BUILDING, BuildStatus.CANCELLING)
        self.assertTrue(changed)
        build, queue, logtails = yield self.runToEnd(build_id, queue_id)
        yield self.assertDaemonIdle()
        self.assertNoScanErrors()

        self.assertEqual(build.buildstate, BuildStatus.CANCELLED)
        self.assertIsNone(queue)
        self.assertEqual(self.witness.calls, ["abort", "clean"])
        self.assertWaitingWith("BuildStatus.ABORTED")
        self.assertIn(
            "INFO:lp_buildmaster.scanner:Builder 'e2e': aborting cancelled "
            "build %s" % makeCookie(build_id, queue_id), self.logs.lines)
        builder = yield self.store.builders.get(self.builder_id)
        self.assertTrue(builder.builderok)
        self.assertEqual(self.notifier.sent, [])
        self.assertEndedOnce(build)
        # Cancelled long before the 8 s build could finish.
        self.assertFalse(self.witness.seen(WAITING, "BuildStatus.OK"))
