"""End to end: translation-templates builds on the real launchpad-buildd.

The second job type as production runs it: a whole L{MasterService} (the
scanners with their clients from C{ISlave(builder)}, the dispatcher asking
the build's behaviour for its request, collection, upload processing, the
librarian) and one builder, the real daemon (L{tests.realbuilder}) with
lpbuildd's own TranslationTemplatesBuildManager: it unpacks the chroot the
master's librarian serves, runs C{generate-translation-templates} (the
fake in C{tests/realbuilder/bin/in-target}, which packs the templates the
test names into the manager's C{resultarchive} inside the chroot) and
copies the tarball out of the chroot into its file cache, as it does on a
real builder.

The test does what a person would: it stores a chroot, requests a
translation-templates build of pmount 0.1-1 in hoary i386 with a branch,
and waits on the database for the build's end: FULLYBUILT with the
tarball stored in the librarian, or the state each failure of the daemon
leads to.
"""

import hashlib
import io
import os
import tarfile

import treq
from twisted.internet import defer, reactor, task

from lp_buildmaster import config as configmodule
from lp_buildmaster.behaviours.translationtemplates import TEMPLATES_TARBALL
from lp_buildmaster.enums import BuildStatus, PackagePublishingPocket
from lp_buildmaster.model.records import makeCookie
from lp_buildmaster.service import MasterService
from lp_buildmaster.slave import makePool
from tests.database import DatabaseTestCase
from tests.farm import captureLogs
from tests.realbuilder import TEMPLATES_RESULT, RealBuilder
from tests.test_dispatch_e2e import FINAL, chrootTarball
from tests.test_slave_fixtures import closePoolAtEnd

BRANCH = "https://git.example.org/pmount/+git/pmount"
#: The sample build of pmount 0.1-1 in hoary i386 (its source is
#: published there).
PMOUNT_BUILD = 7
SCAN_INTERVAL = 0.2
TIMEOUT = 30.0
IDLE = "BuilderStatus.IDLE"


class TemplatesEndToEndTests(DatabaseTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.logs = captureLogs(self)
        # Only the daemon is scanned, and only the requested build queued.
        for name in ("bob", "frog"):
            sample = yield self.store.builders.getByName(name)
            yield self.store.builders.update(sample.id, active=False)
        yield self.store.runOperation("DELETE FROM buildqueue")

        self.daemon = RealBuilder(self.mktemp())
        yield self.daemon.start()
        self.addCleanup(self.daemon.stop)
        x86 = yield self.store.distro.getProcessor("x86")
        self.builder_id = yield self.store.builders.add(
            "templates", self.daemon.url, x86.id)

        self.state_dir = self.librarian_root.parent
        config = configmodule.load(environ={}, overrides={
            ("master", "database"): self.dsn,
            ("master", "state_dir"): str(self.state_dir),
            ("master", "scan_interval"): str(SCAN_INTERVAL),
            ("web", "port"): "0",
            ("librarian", "port"): "0",
        })
        self.master = MasterService(config, self.dsn, reactor=reactor)
        self.addCleanup(self.stopMaster)
        yield self.master.startService()
        self.librarian = self.master.librarian

        self.dar = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        chroot = chrootTarball()
        alias = yield self.librarian.addFile(
            "chroot-ubuntu-hoary-i386.tar.gz", len(chroot),
            io.BytesIO(chroot), "application/gzip")
        yield self.store.distro.setChroot(
            self.dar.id, PackagePublishingPocket.RELEASE, alias)
        self.http = makePool(reactor)
        closePoolAtEnd(self, self.http)

    def stopMaster(self):
        if self.master.running:
            return self.master.stopService()
        return defer.succeed(None)

    @defer.inlineCallbacks
    def requestTemplates(self, branch=BRANCH):
        template = yield self.store.builds.get(PMOUNT_BUILD)
        build_id = yield self.store.jobtypes.requestTranslationTemplates(
            self.dar.id, template.sourcepackagerelease, template.archive,
            PackagePublishingPocket.RELEASE, branch)
        return build_id

    @defer.inlineCallbacks
    def waitUntilFinal(self, build_id):
        """The build once in a final state; the cookie it ran under."""
        deadline = reactor.seconds() + TIMEOUT
        cookie = None
        while True:
            build = yield self.store.builds.get(build_id)
            queue = yield self.store.queue.getByBuild(build_id)
            if queue is not None:
                cookie = makeCookie(build_id, queue.id)
            if build.buildstate in FINAL:
                return build, cookie
            if reactor.seconds() >= deadline:
                self.fail("build %d still %s after %.0fs\nmaster errors: %s"
                          "\ndaemon log:\n%s"
                          % (build_id, build.buildstate.name, TIMEOUT,
                             self.logs.matching("ERROR"),
                             self.daemon.log()[-4000:]))
            yield task.deferLater(reactor, 0.05, lambda: None)

    def generateCalls(self):
        """The daemon's generate-translation-templates runs, their args
        after the build id."""
        return [args[5:] for helper, *args in self.daemon.calls()
                if helper == "in-target"
                and args[0] == "generate-translation-templates"]

    @defer.inlineCallbacks
    def buildFiles(self, build_id):
        rows = yield self.store.runQuery(
            "SELECT bf.filetype, lfa.id, lfa.filename, lfc.sha1"
            "  FROM buildfile bf"
            "  JOIN libraryfilealias lfa ON lfa.id = bf.libraryfile"
            "  JOIN libraryfilecontent lfc ON lfc.id = lfa.content"
            " WHERE bf.build = %s ORDER BY lfa.filename", (build_id,))
        return [(r["filetype"], r["id"], r["filename"], r["sha1"].strip())
                for r in rows]

    @defer.inlineCallbacks
    def buildLog(self, build):
        """The build's log as the librarian serves it (decompressed)."""
        self.assertIsNotNone(build.buildlog, "no build log stored")
        url = yield self.librarian.getURLForAlias(build.buildlog)
        response = yield treq.get(url, pool=self.http)
        body = yield response.content()
        self.assertEqual(response.code, 200, body[:200])
        return body

    @defer.inlineCallbacks
    def assertBuilderReady(self):
        """The daemon is idle again and the builder neither failed nor
        holding a job."""
        yield self.daemon.waitForStatus(IDLE, timeout=TIMEOUT)
        builder = yield self.store.builders.get(self.builder_id)
        self.assertTrue(builder.builderok, builder.failnotes)
        self.assertIsNone(
            (yield self.store.queue.getByBuilder(self.builder_id)))

    @defer.inlineCallbacks
    def test_templatesGeneratedAndStored(self):
        """The daemon's manager generates the templates from the branch
        the master sent and offers the tarball; the master fetches it,
        upload processing checks it, and the build is FULLYBUILT with the
        tarball, byte for byte the daemon's, in the librarian."""
        self.daemon.setOutcome("OK", templates={
            "po/pmount.pot": b'msgid "Mount %s"\nmsgstr ""\n',
            "po/extra/pmount-hal.pot": b'msgid "HAL"\nmsgstr ""\n'})
        build_id = yield self.requestTemplates()
        build, cookie = yield self.waitUntilFinal(build_id)
        self.assertEqual(build.buildstate, BuildStatus.FULLYBUILT,
                         build.failnotes)
        self.assertEqual(build.builder, self.builder_id)
        self.assertIsNone((yield self.store.queue.getByBuild(build_id)))

        # The daemon ran the generator with the branch and its result name.
        self.assertEqual(self.generateCalls(),
                         [["--branch", BRANCH, TEMPLATES_RESULT]])
        self.assertEqual(TEMPLATES_RESULT, TEMPLATES_TARBALL)

        # The tarball is the build's one file, its bytes the daemon's.
        files = yield self.buildFiles(build_id)
        self.assertEqual([(t, name) for t, _, name, _ in files],
                         [("tar.gz", TEMPLATES_TARBALL)])
        _, alias_id, _, sha1 = files[0]
        with (yield self.librarian.getFileByAlias(alias_id)) as f:
            stored = f.read()
        self.assertEqual(hashlib.sha1(stored).hexdigest(), sha1)
        # Fetched from the daemon's file cache (which it empties once
        # cleaned) under that sha1.
        self.assertIn("GET /filecache/%s " % sha1, self.daemon.log())
        with tarfile.open(fileobj=io.BytesIO(stored), mode="r:gz") as tar:
            members = {m.name: tar.extractfile(m).read()
                       for m in tar.getmembers()}
        self.assertEqual(members, {
            "po/pmount.pot": b'msgid "Mount %s"\nmsgstr ""\n',
            "po/extra/pmount-hal.pot": b'msgid "HAL"\nmsgstr ""\n'})

        # Its log, and its upload accepted.
        log = yield self.buildLog(build)
        self.assertIn(b"Generated 2 templates.", log)
        self.assertIn(BRANCH.encode("ascii"), log)
        accepted = [leaf for leaf in os.listdir(
            os.path.join(str(self.state_dir), "uploads", "accepted"))
            if leaf.endswith("-" + cookie)]
        self.assertEqual(len(accepted), 1)
        with open(os.path.join(str(self.state_dir), "uploads", "accepted",
                               accepted[0], "uploader.log")) as f:
            self.assertIn("2 translation templates verified", f.read())
        # The daemon built nothing with sbuild, and ended clean.
        self.assertNotIn("sbuild-package",
                         [c[0] for c in self.daemon.calls()])
        self.assertFalse(os.path.exists(self.daemon.buildPath(cookie)))
        yield self.assertBuilderReady()
        self.assertEqual(self.logs.matching("ERROR"), [])

    @defer.inlineCallbacks
    def test_generationFails(self):
        """The generator fails (the branch cannot be fetched): the daemon
        says PACKAGEFAIL and the build is FAILEDTOBUILD, its log (naming
        the failure) stored, no file recorded; the builder is fine."""
        self.daemon.setOutcome("PACKAGEFAIL")
        build_id = yield self.requestTemplates()
        build, _ = yield self.waitUntilFinal(build_id)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOBUILD)
        log = yield self.buildLog(build)
        self.assertIn(b"Build failed", log)
        self.assertEqual((yield self.buildFiles(build_id)), [])
        self.assertEqual(len(self.generateCalls()), 1)
        yield self.assertBuilderReady()

    @defer.inlineCallbacks
    def test_toolsNotInstallable(self):
        """The generator cannot install its tools in the chroot: the
        daemon says CHROOTFAIL and the build waits for a chroot
        (CHROOTWAIT), its log stored."""
        self.daemon.setOutcome("GIVENBACK")
        build_id = yield self.requestTemplates()
        build, _ = yield self.waitUntilFinal(build_id)
        self.assertEqual(build.buildstate, BuildStatus.CHROOTWAIT)
        log = yield self.buildLog(build)
        self.assertIn(b"Install failed", log)
        self.assertEqual((yield self.buildFiles(build_id)), [])
        yield self.assertBuilderReady()

    @defer.inlineCallbacks
    def test_noTemplates(self):
        """A branch with no template: the daemon's manager finds no
        tarball and offers none, and says OK; upload processing refuses a
        build without its templates: FAILEDTOUPLOAD, saying the tarball is
        missing."""
        self.daemon.setOutcome("OK", templates=[])
        build_id = yield self.requestTemplates()
        build, cookie = yield self.waitUntilFinal(build_id)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOUPLOAD)
        self.assertEqual((yield self.buildFiles(build_id)), [])
        self.assertIn("%s is missing" % TEMPLATES_TARBALL, build.failnotes)
        log = yield self.buildLog(build)
        self.assertIn(b"Generated 0 templates.", log)
        yield self.assertBuilderReady()
