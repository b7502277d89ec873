"""The seed's BuilddMaster part, from "BuilddMaster class" to the end."""

import logging

from twisted.internet import defer

from lp_buildmaster.buildergroup import BuilderHandle
from lp_buildmaster.enums import (
    BuildStatus, DistroReleaseStatus, PackagePublishingPocket,
    PackagePublishingStatus)
from lp_buildmaster.master import BuilddMaster, QueueItem
from lp_buildmaster.model.policy import PocketPolicyError
from lp_buildmaster.testing import mockslaves
from tests.farm import (
    FakeStoreTestCase, addBuild, addBuilder, captureLogs,
    setPublicationStatus)
from tests.test_librarian import LibrarianFixture

RELEASE = PackagePublishingPocket.RELEASE
SECURITY = PackagePublishingPocket.SECURITY


class BuilddMasterSeedTestCase(LibrarianFixture, FakeStoreTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.startLibrarian()
        self.logs = captureLogs(self)
        # The sample builders are busy: bob builds BuildQueue 1, frog is
        # manual.
        self.slaves = {"bob": mockslaves.SaneBuildingSlave(name="bob"),
                       "frog": mockslaves.OkSlave(name="frog")}
        self.bm = BuilddMaster(logging.getLogger(), self.store,
                               self.librarian, self.slaveFor,
                               clock=self.clock)
        self.hoary_i386 = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        # "Create a totally bogus CHROOT"
        yield self.store.distro.setChroot(self.hoary_i386.id, RELEASE, 1)

    def slaveFor(self, builder):
        return self.slaves.setdefault(builder.name,
                                      mockslaves.OkSlave(name=builder.name))

    @defer.inlineCallbacks
    def setupAll(self):
        """Every arch release, sorted, added and set up, as the seed does."""
        for dar in (yield self.store.distro.distroArchReleases()):
            yield self.bm.addDistroArchRelease(dar)
            yield self.bm.setupBuilders(dar)

    @defer.inlineCallbacks
    def test_setupBuilders(self):
        """Only hoary/i386 has a chroot; its builders are all busy."""
        yield self.setupAll()
        self.assertEqual(self.logs.lines, [
            "WARNING:root.builders.x86:No builders are available"])
        self.assertEqual(len(self.bm._archreleases), 1)
        (dar,) = self.bm._archreleases
        self.assertEqual(dar.title,
                         "The Hoary Hedgehog Release for i386 (x86)")
        real_buildergroup = self.bm._archreleases[self.hoary_i386][
            "builders"]
        self.assertIsNone((yield real_buildergroup.firstAvailable()))

    @defer.inlineCallbacks
    def test_scanActiveBuilders(self):
        """Scanning collects what bob says about BuildQueue 1, through the
        scanners the running master uses; the master's BuilderGroup holds
        the builders scanned."""
        yield self.setupAll()
        yield self.bm.scanActiveBuilders()
        queue = yield self.store.queue.get(1)
        self.assertEqual(queue.logtail, "")
        self.assertEqual((yield self.store.builds.get(8)).buildstate,
                         BuildStatus.BUILDING)
        self.assertEqual(sorted(self.bm.manager.scanners), ["bob", "frog"])
        self.assertEqual([b.name for b in self.bm.group.builders],
                         ["bob", "frog"])
        self.assertIs(self.bm.group.builders[0].slave, self.slaves["bob"])
        self.assertEqual([s.scans for s in self.bm.manager.scanners.values()],
                         [1, 1])

    @defer.inlineCallbacks
    def test_scanActiveBuildersCollects(self):
        """A finished job is collected as the running scanner collects it
        (BuilderGroup.updateBuild): bob's PACKAGEFAIL makes Build 8
        FAILEDTOBUILD with its log, and bob is cleaned."""
        self.slaves["bob"] = mockslaves.WaitingSlave(
            "BuildStatus.PACKAGEFAIL", cookie="8-1", name="bob")
        yield self.setupAll()
        yield self.bm.scanActiveBuilders()
        build = yield self.store.builds.get(8)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOBUILD)
        self.assertIsNotNone(build.buildlog)
        self.assertIsNone((yield self.store.queue.get(1)))
        self.assertIn("clean", [c[0] for c in self.slaves["bob"].calls])

    @defer.inlineCallbacks
    def test_scanActiveBuildersLostJob(self):
        """A builder that lost its job (IDLE while BuildQueue 1 says it
        builds) is judged as the running scanner judges it: one failure
        of bob and of the job, which goes back to the queue."""
        self.slaves["bob"] = mockslaves.OkSlave(name="bob")
        yield self.setupAll()
        yield self.bm.scanActiveBuilders()
        queue = yield self.store.queue.get(1)
        self.assertIsNone(queue.builder)
        self.assertEqual((yield self.store.builds.get(8)).buildstate,
                         BuildStatus.NEEDSBUILD)
        bob = yield self.store.builders.getByName("bob")
        self.assertTrue(bob.builderok)
        self.assertTrue(any("lost job 8-1" in line
                            for line in self.logs.lines), self.logs.lines)

    @defer.inlineCallbacks
    def test_sortAndSplitByProcessor(self):
        yield self.setupAll()
        byproc = yield self.bm.sortAndSplitByProcessor()
        self.assertEqual(len(byproc), 1)
        listed = [(proc.name, item.id, item.build.buildstate.name)
                  for proc, items in byproc.items() for item in items]
        self.assertEqual(listed, [("x86", 2, "NEEDSBUILD")])
        # No builder is available: nothing happens.
        for proc, items in byproc.items():
            yield self.bm.dispatchByProcessor(proc, items)
        queue = yield self.store.queue.get(2)
        self.assertIsNone(queue.builder)

    @defer.inlineCallbacks
    def test_dispatchByProcessor(self):
        """With an idle builder, dispatchByProcessor starts the first job
        on it through the Dispatcher, as an idle builder's scan would."""
        yield addBuilder(self.store, "a_builder")
        yield self.setupAll()
        byproc = yield self.bm.sortAndSplitByProcessor()
        for proc, items in byproc.items():
            yield self.bm.dispatchByProcessor(proc, items)
        queue = yield self.store.queue.get(2)
        a_builder = yield self.store.builders.getByName("a_builder")
        self.assertEqual(queue.builder, a_builder.id)
        self.assertEqual((yield self.store.builds.get(queue.build)).buildstate,
                         BuildStatus.BUILDING)
        self.assertEqual(
            [c[0] for c in self.slaves["a_builder"].calls][-1], "build")
        self.assertEqual(self.bm.dispatcher.lastIdle[a_builder.id][1],
                         "dispatched")

    @defer.inlineCallbacks
    def test_dispatchSuperseded(self):
        """A build whose source is superseded becomes SUPERSEDED when a
        builder is offered it (the seed's MockBG has one available)."""
        yield addBuilder(self.store, "a_builder")
        yield self.setupAll()
        build = yield self.store.builds.get(10)
        yield setPublicationStatus(self.store, build.sourcepackagerelease,
                                   PackagePublishingStatus.SUPERSEDED)
        byproc = yield self.bm.sortAndSplitByProcessor()
        for proc, items in byproc.items():
            yield self.bm.dispatchByProcessor(proc, items)
        build = yield self.store.builds.get(10)
        self.assertEqual(repr(build.buildstate),
                         "<Item SUPERSEDED (5) Build for superseded Source>")
        self.assertIsNone((yield self.store.queue.get(2)))
        self.assertNotIn("build", [c[0] for c in
                                   self.slaves["a_builder"].calls])

    @defer.inlineCallbacks
    def startBuildSetup(self):
        yield self.setupAll()
        group = self.bm._archreleases[self.hoary_i386]["builders"]
        builder_id = yield addBuilder(self.store, "a_builder")
        record = yield self.store.builders.get(builder_id)
        slave = mockslaves.OkSlave(name="a_builder")
        builder = BuilderHandle(record, slave)
        return group, builder

    @defer.inlineCallbacks
    def test_startBuild(self):
        """ensurepresent called, then OkSlave BUILDING."""
        group, builder = yield self.startBuildSetup()
        build_id, queue_id = yield addBuild(self.store)
        item = QueueItem((yield self.store.queue.get(queue_id)),
                         (yield self.store.builds.get(build_id)))
        job = yield self.bm.startBuild(group, builder, item)
        # The sample chroot is pmount's .dsc: each file is ensured once.
        calls = [c[0] for c in builder.slave.calls]
        self.assertEqual(calls, ["ensurepresent"] * 2 + ["build"])
        self.assertEqual(job.cookie, "%d-%d" % (build_id, queue_id))
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.BUILDING)

    @defer.inlineCallbacks
    def test_startBuildWithoutChroot(self):
        """No SECURITY chroot: the build is left NEEDSBUILD, untouched."""
        group, builder = yield self.startBuildSetup()
        chroot = yield self.store.distro.getChroot(self.hoary_i386.id,
                                                   SECURITY)
        self.assertIsNone(chroot)
        build_id, queue_id = yield addBuild(self.store, pocket=SECURITY)
        item = QueueItem((yield self.store.queue.get(queue_id)),
                         (yield self.store.builds.get(build_id)))
        yield self.bm.startBuild(group, builder, item)
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate.name, "NEEDSBUILD")
        self.assertEqual(builder.slave.calls, [])
        queue = yield self.store.queue.get(queue_id)
        self.assertIsNone(queue.builder)

    @defer.inlineCallbacks
    def test_startBuildInvalidPocket(self):
        """With the SECURITY chroot, hoary (in development) still may not
        build for a post-release pocket."""
        group, builder = yield self.startBuildSetup()
        yield self.store.distro.setChroot(self.hoary_i386.id, SECURITY, 2)
        hoary = yield self.store.distro.getDistroRelease("ubuntu", "hoary")
        self.assertEqual(hoary.releasestatus, DistroReleaseStatus.DEVELOPMENT)
        build_id, queue_id = yield addBuild(self.store, pocket=SECURITY)
        build = yield self.store.builds.get(build_id)
        item = QueueItem((yield self.store.queue.get(queue_id)), build)
        e = yield self.assertFailure(
            self.bm.startBuild(group, builder, item), PocketPolicyError)
        self.assertEqual(
            str(e), "%s (%d) can not be built for pocket SECURITY: invalid "
            "pocket due to the release status of hoary." % (
                build.title, build_id))
        self.assertEqual(builder.slave.calls, [])

