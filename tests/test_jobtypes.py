"""A second job type, translation-templates, registered as one adapter and
run through dispatch and collection against the simulator.

The farm is the simulator on 127.0.0.1 (its builds timed by a Clock), the
librarian a real one on 127.0.0.1, the database real: the dispatcher
composes the request through the build's behaviour and the simulated
builder fetches the chroot over HTTP; the collector fetches only the
templates tarball into the upload area, upload processing checks it and
stores it as the build's file. The same build also runs under a whole
L{MasterService}, and the type's store methods and request are checked
on the real store and the fake.
"""

import gzip
import io
import os
import tarfile

import treq
from twisted.internet import defer, reactor, task

from lp_buildmaster import components
from lp_buildmaster import config as configmodule
from lp_buildmaster.behaviours.translationtemplates import (
    TEMPLATES_TARBALL, TranslationTemplatesBuildBehaviour)
from lp_buildmaster.buildergroup import BuilderGroup, BuilderHandle, Job
from lp_buildmaster.enums import BuildStatus, PackagePublishingPocket
from lp_buildmaster.interfaces import (
    IBuildFarmJobBehaviour, ILibrarianClient)
from lp_buildmaster.master import Dispatcher
from lp_buildmaster.registry import getUtility, queryUtility
from lp_buildmaster.service import MasterService
from lp_buildmaster.slave import (
    BuilderSlave, InvalidBuildRequest, _buildRequestProblem, makePool)
from lp_buildmaster.store.builds import DuplicateBuild
from lp_buildmaster.testing.simulator import BuildProfile, SimulatedFarm
from lp_buildmaster.upload import BuildUploads, UploadArea, UploadProcessor
from tests.database import DatabaseTestCase
from tests.farm import FakeStoreTestCase, captureLogs
from tests.test_librarian import LibrarianFixture

BRANCH = "https://git.example.org/pmount/+git/pmount"
#: The simulated build's duration, on the farm's clock.
DURATION = 30.0


def chrootTarball():
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("chroot-autobuild/etc/hostname")
        data = b"hoary\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


class TranslationTemplatesTests(LibrarianFixture, DatabaseTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.logs = captureLogs(self)
        self.startLibrarian()
        self.farmClock = task.Clock()
        self.farm = SimulatedFarm(
            clock=self.farmClock, reactor=reactor, seed=1,
            profile=BuildProfile(duration=(DURATION, DURATION),
                                 log_size=(2000, 2000),
                                 outcomes={"OK": 1}))
        yield self.farm.listen()
        self.addCleanup(self.farm.stop)
        self.farm.addBuilder("sim")
        self.http = makePool(reactor)
        self.addCleanup(self.http.closeCachedConnections)

        x86 = yield self.store.distro.getProcessor("x86")
        builder_id = yield self.store.builders.add(
            "sim", self.farm.urlFor("sim"), x86.id)
        # Only the simulated builder and the requested build.
        yield self.store.runOperation("DELETE FROM buildqueue")
        record = yield self.store.builders.get(builder_id)
        slave = BuilderSlave("sim", record.url, reactor=reactor,
                             pool=self.http, timeout=30.0)
        self.builder = BuilderHandle(record, slave)

        self.dar = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        chroot = chrootTarball()
        self.chroot = yield self.librarian.addFile(
            "chroot-ubuntu-hoary-i386.tar.gz", len(chroot),
            io.BytesIO(chroot), "application/gzip")
        yield self.store.distro.setChroot(
            self.dar.id, PackagePublishingPocket.RELEASE, self.chroot)

        self.area = UploadArea(self.mktemp())
        self.area.ensure()
        self.dispatcher = Dispatcher(
            self.store, self.librarian, clock=self.clock, reactor=reactor,
            build_url="http://127.0.0.1:8010/builds/%d")
        self.group = BuilderGroup(
            self.logs.logger, self.store, self.librarian,
            uploads=BuildUploads(
                self.area,
                UploadProcessor(self.store, self.librarian, self.area,
                                clock=self.clock), self.clock),
            clock=self.clock)

    @defer.inlineCallbacks
    def requestTemplates(self):
        """A translation-templates build of the sample build 7's source
        (pmount 0.1-1) in hoary i386."""
        template = yield self.store.builds.get(7)
        build_id = yield self.store.jobtypes.requestTranslationTemplates(
            self.dar.id, template.sourcepackagerelease, template.archive,
            PackagePublishingPocket.RELEASE, BRANCH)
        return build_id

    @defer.inlineCallbacks
    def test_registeredThenDispatchedAndCollected(self):
        """Unregistered, the job type cannot be sent: the build fails,
        saying so. Registered (one adapter), a build of it is dispatched
        with its own request and collected: FULLYBUILT with its templates
        tarball stored."""
        components.unregisterJobType(TranslationTemplatesBuildBehaviour)
        self.addCleanup(components.registerJobType,
                        TranslationTemplatesBuildBehaviour)
        refused = yield self.requestTemplates()
        job = yield self.dispatcher.builderIdle(self.builder)
        self.assertIsNone(job)
        build = yield self.store.builds.get(refused)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOBUILD)
        self.assertIn("no behaviour for job type 'translation-templates'",
                      build.failnotes)
        self.assertEqual(self.farm.counters["builds_started"], 0)

        components.registerJobType(TranslationTemplatesBuildBehaviour)
        build_id = yield self.requestTemplates()
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.job_type, "translation-templates")
        self.assertIsInstance(IBuildFarmJobBehaviour(build),
                              TranslationTemplatesBuildBehaviour)

        # Dispatch: the behaviour's request, the chroot fetched over HTTP.
        job = yield self.dispatcher.builderIdle(self.builder)
        self.assertIsInstance(job, Job)
        self.assertEqual(job.build.id, build_id)
        sim = self.farm["sim"]
        self.assertEqual(sim.state, "BuilderStatus.BUILDING")
        self.assertEqual(sim.cookie, job.cookie)
        build_type, filemap, args = sim.request
        self.assertEqual(build_type, "translation-templates")
        self.assertEqual(filemap, {})
        self.assertEqual(args["branch_url"], BRANCH)
        self.assertEqual(args["series"], "hoary")
        self.assertEqual(args["arch_tag"], "i386")
        self.assertEqual(args["build_url"],
                         "http://127.0.0.1:8010/builds/%d" % build_id)
        self.assertEqual(self.farm.counters["downloads"], 1)
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.BUILDING)
        self.assertIn("Dispatched i386 translation-templates build of pmount"
                      " 0.1-1", "\n".join(self.logs.lines))

        # Collection: the builder finishes; only the tarball is fetched.
        self.farmClock.advance(DURATION)
        status = yield self.builder.slave.status()
        self.assertEqual(status.build_status, "BuildStatus.OK")
        self.assertIn(TEMPLATES_TARBALL, status.filemap)
        yield self.group.updateBuild(job, status=status)
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.FULLYBUILT,
                         self.uploaderLog())
        self.assertIsNotNone(build.buildlog)
        rows = yield self.store.runQuery(
            "SELECT bf.filetype, lfa.filename, lfa.mimetype, lfc.sha1"
            "  FROM buildfile bf"
            "  JOIN libraryfilealias lfa ON lfa.id = bf.libraryfile"
            "  JOIN libraryfilecontent lfc ON lfc.id = lfa.content"
            " WHERE bf.build = %s", (build_id,))
        self.assertEqual(
            [(r["filetype"], r["filename"], r["mimetype"], r["sha1"].strip())
             for r in rows],
            [("tar.gz", TEMPLATES_TARBALL, "application/x-gtar",
              status.filemap[TEMPLATES_TARBALL])])
        accepted = os.listdir(self.area.path("accepted"))
        self.assertEqual(len(accepted), 1)
        self.assertTrue(accepted[0].endswith("-" + job.cookie), accepted)
        self.assertEqual(sorted(
            n for n in os.listdir(self.area.path("accepted", accepted[0]))
            if not n.startswith(".")), [TEMPLATES_TARBALL, "uploader.log"])
        self.assertIn("1 translation templates verified", self.uploaderLog())
        self.assertEqual(sim.state, "BuilderStatus.IDLE")

    def uploaderLog(self):
        logs = []
        for kind in ("incoming", "accepted", "rejected", "failed"):
            for leaf in os.listdir(self.area.path(kind)):
                path = self.area.path(kind, leaf) / "uploader.log"
                if os.path.exists(path):
                    with open(path) as f:
                        logs.append(f.read())
        return "\n".join(logs)


class JobTypeStoreContract:
    """store.jobtypes and a translation-templates build's request, the
    same on the real store and the fake."""

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.startLibrarian()
        self.dar = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        self.template = yield self.store.builds.get(7)
        yield self.store.distro.setChroot(
            self.dar.id, PackagePublishingPocket.RELEASE, 1)

    def dispatcher(self):
        return Dispatcher(self.store, self.librarian, clock=self.clock,
                          reactor=self.clock)

    @defer.inlineCallbacks
    def job(self, build_id):
        """The queued build as a job of a new builder (no client: the
        request is only composed)."""
        build = yield self.store.builds.get(build_id)
        queue = yield self.store.queue.getByBuild(build_id)
        x86 = yield self.store.distro.getProcessor("x86")
        builder_id = yield self.store.builders.add(
            "t1", "http://127.0.0.1:9/t1/", x86.id)
        record = yield self.store.builders.get(builder_id)
        return Job(queue, build, BuilderHandle(record, None))

    def request(self, store_component, *extra):
        t = self.template
        return store_component(self.dar.id, t.sourcepackagerelease,
                               t.archive, PackagePublishingPocket.RELEASE,
                               *extra)

    @defer.inlineCallbacks
    def test_requestAndFields(self):
        """A requested translation-templates build is queued with its
        branch; a binary package build of the same source is no duplicate
        of it, a second one of either type is."""
        build_id = yield self.request(
            self.store.jobtypes.requestTranslationTemplates, BRANCH)
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.job_type, "translation-templates")
        self.assertEqual(build.buildstate, BuildStatus.NEEDSBUILD)
        self.assertIn("i386 translation-templates build of pmount 0.1-1",
                      build.title)
        self.assertIsNotNone((yield self.store.queue.getByBuild(build_id)))
        self.assertEqual(
            (yield self.store.jobtypes.translationTemplates(build_id)),
            BRANCH)
        self.assertIsNone((yield self.store.jobtypes.translationTemplates(7)))
        binary = yield self.request(self.store.builds.request)
        self.assertEqual((yield self.store.builds.get(binary)).job_type,
                         "binarypackage")
        e = yield self.assertFailure(self.request(
            self.store.jobtypes.requestTranslationTemplates, BRANCH),
            DuplicateBuild)
        self.assertEqual(e.args[0], build_id)
        e = yield self.assertFailure(self.request(self.store.builds.request),
                                     DuplicateBuild)
        self.assertEqual(e.args[0], binary)

    @defer.inlineCallbacks
    def test_buildRequest(self):
        """The behaviour's request: the chroot and no other file, the
        branch among the args; the slave client finds nothing the daemon
        would refuse."""
        build_id = yield self.request(
            self.store.jobtypes.requestTranslationTemplates, BRANCH)
        job = yield self.job(build_id)
        request = yield self.dispatcher().buildRequest(job)
        queue = job.queue
        chroot = yield self.store.library.getAlias(1)
        cookie, build_type, chroot_sha1, filemap, args = request
        self.assertEqual((cookie, build_type, chroot_sha1, filemap),
                         ("%d-%d" % (build_id, queue.id),
                          "translation-templates", chroot.sha1, {}))
        self.assertEqual(args["branch_url"], BRANCH)
        self.assertEqual(args["distribution"], "ubuntu")
        self.assertEqual(len(request.files), 1)
        self.assertEqual(request.files[0][0], chroot.sha1)
        self.assertTrue(request.files[0][1].startswith(
            self.librarian.base_url))
        self.assertIsNone(_buildRequestProblem(*request))
        # Without its branch the real daemon would wedge: never sent.
        del args["branch_url"]
        self.assertEqual(_buildRequestProblem(*request),
                         "translation-templates build without a branch_url")

    @defer.inlineCallbacks
    def test_noBranchIsRefused(self):
        """A build of the type whose branch is missing cannot be sent."""
        build_id = yield self.request(
            self.store.jobtypes.requestTranslationTemplates, "")
        job = yield self.job(build_id)
        e = yield self.assertFailure(self.dispatcher().buildRequest(job),
                                     InvalidBuildRequest)
        self.assertIn("has no branch", str(e))


class FakeJobTypeStoreTests(JobTypeStoreContract, LibrarianFixture,
                            FakeStoreTestCase):
    """On the fake store."""


class RealJobTypeStoreTests(JobTypeStoreContract, LibrarianFixture,
                            DatabaseTestCase):
    """On PostgreSQL."""


class MasterServiceTemplatesTests(DatabaseTestCase):
    """The whole master, as twistd assembles it (the scanners with the
    clients ISlave(builder) gives, instant dispatch, the librarian it
    provides as the ILibrarianClient utility, upload processing), runs a
    translation-templates build on a simulated builder to FULLYBUILT."""

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.farm = SimulatedFarm(
            reactor=reactor, seed=2,
            profile=BuildProfile(duration=(0.3, 0.3), log_size=(2000, 2000),
                                 outcomes={"OK": 1}))
        yield self.farm.listen()
        self.addCleanup(self.farm.stop)
        self.farm.addBuilder("sim")
        for name in ("bob", "frog"):
            sample = yield self.store.builders.getByName(name)
            yield self.store.builders.update(sample.id, active=False)
        yield self.store.runOperation("DELETE FROM buildqueue")
        x86 = yield self.store.distro.getProcessor("x86")
        yield self.store.builders.add("sim", self.farm.urlFor("sim"), x86.id)
        config = configmodule.load(environ={}, overrides={
            ("master", "database"): self.dsn,
            ("master", "state_dir"): str(self.librarian_root.parent),
            ("master", "scan_interval"): "0.2",
            ("web", "port"): "0",
            ("librarian", "port"): "0",
        })
        self.master = MasterService(config, self.dsn, reactor=reactor)
        yield self.master.startService()
        self.addCleanup(self.stopMaster)
        self.dar = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        chroot = chrootTarball()
        alias = yield self.master.librarian.addFile(
            "chroot-ubuntu-hoary-i386.tar.gz", len(chroot),
            io.BytesIO(chroot), "application/gzip")
        yield self.store.distro.setChroot(
            self.dar.id, PackagePublishingPocket.RELEASE, alias)

    def stopMaster(self):
        if self.master.running:
            return self.master.stopService()
        return defer.succeed(None)

    @defer.inlineCallbacks
    def test_templatesBuiltByTheMaster(self):
        self.assertIs(getUtility(ILibrarianClient), self.master.librarian)
        self.assertIs(self.master.dispatcher.librarian, self.master.librarian)
        template = yield self.store.builds.get(7)
        build_id = yield self.store.jobtypes.requestTranslationTemplates(
            self.dar.id, template.sourcepackagerelease, template.archive,
            PackagePublishingPocket.RELEASE, BRANCH)
        deadline = reactor.seconds() + 60
        while True:
            build = yield self.store.builds.get(build_id)
            if build.buildstate not in (BuildStatus.NEEDSBUILD,
                                        BuildStatus.BUILDING,
                                        BuildStatus.UPLOADING):
                break
            self.assertLess(reactor.seconds(), deadline,
                            "build %d still %s" % (build_id,
                                                   build.buildstate.name))
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.assertEqual(build.buildstate, BuildStatus.FULLYBUILT,
                         build.failnotes)
        scanner = self.master.manager.scanners["sim"]
        self.assertIsInstance(scanner.slave, BuilderSlave)
        self.assertEqual(self.farm["sim"].request[0], "translation-templates")
        rows = yield self.store.runQuery(
            "SELECT bf.filetype, lfa.filename FROM buildfile bf"
            "  JOIN libraryfilealias lfa ON lfa.id = bf.libraryfile"
            " WHERE bf.build = %s", (build_id,))
        self.assertEqual([(r["filetype"], r["filename"]) for r in rows],
                         [("tar.gz", TEMPLATES_TARBALL)])
        # The API says what the job is.
        pool = makePool(reactor)
        self.addCleanup(pool.closeCachedConnections)
        response = yield treq.get(
            "http://127.0.0.1:%d/api/builds/%d"
            % (self.master.web.port.getHost().port, build_id), pool=pool)
        body = yield treq.json_content(response)
        self.assertEqual((body["job_type"], body["state"]),
                         ("translation-templates", "FULLYBUILT"))
        yield self.stopMaster()
        # Stopped, the master withdraws what it provided.
        self.assertIsNone(queryUtility(ILibrarianClient))
