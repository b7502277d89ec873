"""The seed's BuilderGroup part, step by step.

Each test is one step of ``buildd-slavescanner.txt`` from "Let's play with
a BuilderGroup method" to the illegal-pocket case and the build log round
trip, against the seed's mock slaves and the sample data. Where the seed
pokes mock Build objects, the port sets up real rows and reads them back.
"""

import gzip
import logging
import os
from pathlib import Path

from twisted.internet import defer

from lp_buildmaster.buildergroup import BuilderHandle, Job
from lp_buildmaster.enums import BuildStatus, PackagePublishingPocket
from lp_buildmaster.model.policy import PocketPolicyError
from lp_buildmaster.upload import BuildUploads, UploadArea, UploadProcessor
from lp_buildmaster.testing import mockslaves
from tests.farm import (
    FakeStoreTestCase, RecordingNotifier, addBuilder, addRunningJob,
    captureLogs, makeGroup)
from tests.test_librarian import LibrarianFixture
from tests.test_upload import CHANGES, changesText, sampleFiles


class BuilderGroupSeedTestCase(LibrarianFixture, FakeStoreTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.startLibrarian()
        self.logs = captureLogs(self)
        self.notifier = RecordingNotifier()
        self.upload_root = Path(self.mktemp()).resolve()
        self.area = UploadArea(self.upload_root)
        self.area.ensure()
        processor = UploadProcessor(
            self.store, self.librarian, self.area,
            log=_SilentLog())
        self.group = makeGroup(
            self.store, librarian=self.librarian,
            uploads=BuildUploads(self.area, processor, self.clock),
            notifier=self.notifier, clock=self.clock,
            logger=logging.getLogger())

    @defer.inlineCallbacks
    def builder(self, name, slave):
        """A builder row named C{name} whose slave is C{slave}."""
        builder_id = yield addBuilder(self.store, name)
        record = yield self.store.builders.get(builder_id)
        slave.name = name
        return BuilderHandle(record, slave)

    @defer.inlineCallbacks
    def bob(self, slave):
        record = yield self.store.builders.getByName("bob")
        slave.name = "bob"
        return BuilderHandle(record, slave)

    @defer.inlineCallbacks
    def runningJob(self, name, slave_class, *args, **kwargs):
        """A job running on a new builder C{name} whose slave is a
        C{slave_class} reporting that job's cookie."""
        builder_id = yield addBuilder(self.store, name)
        build_id, queue_id = yield addRunningJob(
            self.store, builder_id, **kwargs)
        slave = slave_class(*args, cookie="%d-%d" % (build_id, queue_id),
                            name=name)
        record = yield self.store.builders.get(builder_id)
        job = Job((yield self.store.queue.get(queue_id)),
                  (yield self.store.builds.get(build_id)),
                  BuilderHandle(record, slave))
        return job

    @defer.inlineCallbacks
    def reread(self, job):
        """The job's build and queue entry (None once removed) and builder,
        as the database now has them."""
        build = yield self.store.builds.get(job.build.id)
        queue = yield self.store.queue.get(job.queue.id)
        builder = yield self.store.builders.get(job.builder.id)
        return build, queue, builder

    def assertCollected(self, build):
        """What every terminal collection stores."""
        self.assertIsNotNone(build.builder)
        self.assertIsNotNone(build.datebuilt)
        self.assertIsNotNone(build.buildduration)
        self.assertIsNotNone(build.buildlog)

    def notificationSent(self, build):
        return bool(self.notifier.sentFor(build.id))

    # -- Let's play with a BuilderGroup method ------------------------------

    @defer.inlineCallbacks
    def test_saneBuildingSlave(self):
        """Build 8 and BuildQueue 1 exist and belong together: not lost."""
        builder = yield self.bob(mockslaves.SaneBuildingSlave(verbose=True))
        self.assertIsNone((yield self.group.rescueBuilderIfLost(builder)))
        self.assertEqual(self.logs.lines, [])

    @defer.inlineCallbacks
    def test_saneWaitingSlave(self):
        builder = yield self.bob(mockslaves.SaneWaitingSlave())
        self.assertIsNone((yield self.group.rescueBuilderIfLost(builder)))
        self.assertNotIn(("clean", ()), builder.slave.calls)

    @defer.inlineCallbacks
    def test_mismatchedWaitingSlave(self):
        """BuildQueue 1 is not Build 7's: rescued and cleaned."""
        builder = yield self.builder("Sane Waiting Slave",
                                     mockslaves.MismatchedWaitingSlave())
        yield self.group.rescueBuilderIfLost(builder)
        self.assertEqual(self.logs.lines, [
            "WARNING:root:Builder 'Sane Waiting Slave' rescued from "
            "'7-1: Job build entry mismatch'"])
        self.assertIn(("clean", ()), builder.slave.calls)

    @defer.inlineCallbacks
    def test_lostBuildingSlave(self):
        builder = yield self.builder("Lost Building Slave",
                                     mockslaves.LostBuildingSlave())
        yield self.group.rescueBuilderIfLost(builder)
        self.assertEqual(self.logs.lines, [
            "WARNING:root:Builder 'Lost Building Slave' rescued from "
            "'1000-10000: The object Build by the ID 1000 does not exist'"])
        self.assertIn(("abort", ()), builder.slave.calls)

    @defer.inlineCallbacks
    def test_lostWaitingSlave(self):
        builder = yield self.builder("Lost Waiting Slave",
                                     mockslaves.LostWaitingSlave())
        yield self.group.rescueBuilderIfLost(builder)
        self.assertEqual(self.logs.lines, [
            "WARNING:root:Builder 'Lost Waiting Slave' rescued from "
            "'1000-10000: The object Build by the ID 1000 does not exist'"])
        self.assertIn(("clean", ()), builder.slave.calls)

    # -- the Builder State Handler: firstAvailable ---------------------------

    @defer.inlineCallbacks
    def test_firstAvailable(self):
        """The first ok, automatic, IDLE builder; a broken one is failed."""
        slaves = [
            ("Broken Slave", mockslaves.BrokenSlave()),
            ("Idle Slave", mockslaves.OkSlave()),
            ("Package Failed", mockslaves.WaitingSlave(
                "BuildStatus.PACKAGEFAIL")),
            ("Missing Dependency build", mockslaves.WaitingSlave(
                "BuildStatus.DEPFAIL", "baz (>= 1.0.1)")),
            ("Bad Chroot", mockslaves.WaitingSlave("BuildStatus.CHROOTFAIL")),
            ("I am out of order", mockslaves.WaitingSlave(
                "BuildStatus.BUILDERFAIL")),
            ("I am busy", mockslaves.BuildingSlave()),
            ("I was aborted", mockslaves.AbortedSlave()),
            ("I am trying to terminate the child process",
             mockslaves.AbortingSlave()),
            ("Package Successfully Built", mockslaves.WaitingSlave(
                "BuildStatus.OK")),
            ("I am giving this job back", mockslaves.WaitingSlave(
                "BuildStatus.GIVENBACK")),
        ]
        for name, slave in slaves:
            self.group.builders.append((yield self.builder(name, slave)))
        builder2 = self.group.builders[1]
        self.assertIs((yield self.group.firstAvailable()), builder2)
        broken = yield self.store.builders.getByName("Broken Slave")
        self.assertFalse(broken.builderok)
        self.assertIn("Broken slave", broken.failnotes)

    # -- checking and collecting running builds -----------------------------

    @defer.inlineCallbacks
    def test_waitingPackageFail(self):
        """PACKAGEFAIL: 'Failed to build', log stored, notified."""
        job = yield self.runningJob("Package Failed", mockslaves.WaitingSlave,
                                    "BuildStatus.PACKAGEFAIL")
        yield self.group.updateBuild(job, self.librarian)
        build, queue, _ = yield self.reread(job)
        self.assertCollected(build)
        self.assertTrue(self.notificationSent(build))
        self.assertEqual(build.buildstate.title, "Failed to build")
        self.assertIsNone(queue)
        self.assertIn(("clean", ()), job.builder.slave.calls)

    @defer.inlineCallbacks
    def test_waitingDepFail(self):
        """DEPFAIL: 'Dependency wait' with the dependencies; no mail."""
        job = yield self.runningJob(
            "Missing Dependency build", mockslaves.WaitingSlave,
            "BuildStatus.DEPFAIL", "baz (>= 1.0.1)")
        yield self.group.updateBuild(job, self.librarian)
        self.assertEqual(self.logs.lines, [
            "CRITICAL:root:***** Missing Dependency build is MANUALDEPWAIT "
            "*****"])
        build, _, _ = yield self.reread(job)
        self.assertCollected(build)
        self.assertFalse(self.notificationSent(build))
        self.assertEqual(build.dependencies, "baz (>= 1.0.1)")
        self.assertEqual(build.buildstate.title, "Dependency wait")

    @defer.inlineCallbacks
    def test_waitingChrootFail(self):
        job = yield self.runningJob("Bad Chroot", mockslaves.WaitingSlave,
                                    "BuildStatus.CHROOTFAIL")
        yield self.group.updateBuild(job, self.librarian)
        self.assertEqual(self.logs.lines, [
            "CRITICAL:root:***** Bad Chroot is CHROOTWAIT *****"])
        build, _, _ = yield self.reread(job)
        self.assertCollected(build)
        self.assertTrue(self.notificationSent(build))
        self.assertEqual(build.buildstate.title, "Chroot problem")

    @defer.inlineCallbacks
    def test_waitingBuilderFail(self):
        """BUILDERFAIL: the builder is failed, the job back in the queue."""
        job = yield self.runningJob("I am out of order",
                                    mockslaves.WaitingSlave,
                                    "BuildStatus.BUILDERFAIL")
        yield self.group.updateBuild(job, self.librarian)
        self.assertEqual(self.logs.lines, [
            "WARNING:root:***** I am out of order has failed *****"])
        build, queue, builder = yield self.reread(job)
        self.assertEqual(builder.failnotes,
                         "Builder returned BUILDERFAIL when asked for its "
                         "status")
        self.assertFalse(builder.builderok)
        self.assertIsNone(queue.builder)
        self.assertFalse(self.notificationSent(build))
        self.assertEqual(build.buildstate.title, "Needs building")

    @defer.inlineCallbacks
    def test_building(self):
        """BUILDING: the log tail is kept; the job stays on its builder."""
        job = yield self.runningJob("I am busy", mockslaves.BuildingSlave)
        yield self.group.updateBuild(job, self.librarian)
        yield self.group.flushLogtails()
        build, queue, builder = yield self.reread(job)
        self.assertFalse(self.notificationSent(build))
        self.assertEqual(builder.name, "I am busy")
        self.assertEqual(queue.builder, builder.id)
        self.assertEqual(queue.logtail, "This is a build log")

    @defer.inlineCallbacks
    def test_aborted(self):
        """ABORTED: builder released, job back for the next round."""
        job = yield self.runningJob("I was aborted", mockslaves.AbortedSlave)
        self.assertEqual(job.builder.name, "I was aborted")
        yield self.group.updateBuild(job, self.librarian)
        build, queue, _ = yield self.reread(job)
        self.assertIsNone(queue.builder)
        self.assertEqual(build.buildstate, BuildStatus.NEEDSBUILD)
        self.assertIn(("clean", ()), job.builder.slave.calls)

    @defer.inlineCallbacks
    def test_aborting(self):
        """ABORTING: only poll again."""
        job = yield self.runningJob(
            "I am trying to terminate the child process",
            mockslaves.AbortingSlave)
        yield self.group.updateBuild(job, self.librarian)
        yield self.group.flushLogtails()
        build, queue, _ = yield self.reread(job)
        self.assertFalse(self.notificationSent(build))
        self.assertEqual(queue.logtail,
                         "Waiting for slave process to be terminated")
        self.assertEqual(build.buildstate, BuildStatus.BUILDING)

    # -- Builder WAITING in OK state -----------------------------------------

    @defer.inlineCallbacks
    def test_okFailedToUpload(self):
        """OK with nothing to upload: 'Failed to upload', notified, and an
        uploader.log in the upload area."""
        job = yield self.runningJob("Package Successfully Built",
                                    mockslaves.WaitingSlave, "BuildStatus.OK")
        yield self.group.updateBuild(job, self.librarian)
        build, queue, _ = yield self.reread(job)
        self.assertCollected(build)
        self.assertTrue(self.notificationSent(build))
        self.assertEqual(build.buildstate.title, "Failed to upload")
        self.assertIsNone(queue)
        rejected = os.listdir(self.area.path("rejected"))
        self.assertEqual(len(rejected), 1)
        log = (self.area.path("rejected", rejected[0])
               / "uploader.log").read_text()
        lines = log.splitlines()
        self.assertEqual(lines[:3], ["INFO    creating lockfile",
                                     "DEBUG   Initialising connection.",
                                     "DEBUG   Beginning processing"])
        for kind in ("accepted", "rejected", "failed"):
            self.assertIn("DEBUG   Creating directory %s"
                          % self.area.path(kind), lines)
        self.assertIn("DEBUG   Rolling back any remaining transactions.",
                      lines)
        self.assertTrue(lines[-1].startswith("DEBUG   Removing lock file: "))

    @defer.inlineCallbacks
    def test_okFullyBuilt(self):
        """OK with a valid upload: 'Successfully built', no mail."""
        files = sampleFiles()
        files[CHANGES] = changesText(files).encode()
        job = yield self.runningJob(
            "Package Successfully Built", mockslaves.WaitingSlave.withFiles,
            "BuildStatus.OK", files)
        yield self.group.updateBuild(job, self.librarian)
        build, queue, _ = yield self.reread(job)
        self.assertCollected(build)
        self.assertFalse(self.notificationSent(build))
        self.assertEqual(build.buildstate.title, "Successfully built")
        self.assertEqual(len(os.listdir(self.area.path("accepted"))), 1)

    @defer.inlineCallbacks
    def test_givenBack(self):
        """GIVENBACK: back in the queue with score 0, history kept."""
        job = yield self.runningJob("I am giving this job back",
                                    mockslaves.WaitingSlave,
                                    "BuildStatus.GIVENBACK", score=500)
        yield self.group.updateBuild(job, self.librarian)
        self.assertEqual(self.logs.lines, [
            "WARNING:root:***** %s is GIVENBACK by I am giving this job back "
            "*****" % job.cookie])
        build, queue, _ = yield self.reread(job)
        self.assertIsNone(queue.builder)
        self.assertIsNone(queue.buildstart)
        self.assertEqual(queue.lastscore, 0)
        self.assertFalse(self.notificationSent(build))
        self.assertEqual(build.buildstate.title, "Needs building")

    @defer.inlineCallbacks
    def test_illegalPocket(self):
        """A finished build its series may not build is refused."""
        job = yield self.runningJob(
            "Package Successfully Built", mockslaves.WaitingSlave,
            "BuildStatus.OK", series="warty",
            pocket=PackagePublishingPocket.RELEASE)
        e = yield self.assertFailure(
            self.group.updateBuild(job, self.librarian), PocketPolicyError)
        self.assertIsInstance(e, AssertionError)
        self.assertEqual(
            str(e), "%s (%d) can not be built for pocket RELEASE: illegal "
            "status" % (job.build.title, job.build.id))
        build, queue, _ = yield self.reread(job)
        self.assertEqual(build.buildstate, BuildStatus.BUILDING)
        self.assertEqual(queue.builder, job.builder.id)

    # -- the build log --------------------------------------------------------

    @defer.inlineCallbacks
    def test_getLogFromSlave(self):
        """The log is gzipped into the librarian under the seed's name, and
        both ways of reading it give back the slave's log."""
        slave = mockslaves.WaitingSlave("BuildStatus.OK")
        build = yield self.store.builds.get(7)
        queue = yield self.store.queue.get(2)
        builder = yield self.bob(slave)
        alias_id = yield self.group.getLogFromSlave(
            slave, Job(queue, build, builder), self.librarian,
            state=BuildStatus.FULLYBUILT)
        alias = yield self.store.library.getAlias(alias_id)
        self.assertEqual(
            (alias.filename, alias.mimetype),
            ("buildlog_ubuntu-hoary-i386.pmount_0.1-1_FULLYBUILT.txt.gz",
             "text/plain"))
        stored = yield self.librarian.getFileByAlias(alias_id)
        with stored:
            self.assertEqual(gzip.decompress(stored.read()),
                             mockslaves.BUILDLOG)
        url = yield self.librarian.getURLForAlias(alias_id)
        response, body = yield self.rawDownload(url, b"gzip")
        self.assertEqual(response.code, 200)
        self.assertEqual(gzip.decompress(body), mockslaves.BUILDLOG)


class _SilentLog:
    """A twisted.logger-like sink for the upload processor's lines."""

    def __getattr__(self, level):
        return lambda *args, **kwargs: None
