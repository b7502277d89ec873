"""What a build request sends of its archives: Launchpad's archive
dependencies (sources.list lines), the keys that sign them, and the
nominated arch-indep architecture, read from the database."""

import base64
import logging

from twisted.internet import defer

from lp_buildmaster.buildergroup import BuilderHandle, Job
from lp_buildmaster.enums import (
    ArchivePurpose, BuildStatus, PackagePublishingPocket)
from lp_buildmaster.master import Dispatcher
from lp_buildmaster.slave import InvalidBuildRequest
from tests.database import DatabaseTestCase
from tests.farm import (
    FakeStoreTestCase, addBinaryRow, addBuild, addBuilder, publishSource,
    setSourceComponent)
from lp_buildmaster.testing.mockslaves import OkSlave
from tests.test_librarian import LibrarianFixture

P = PackagePublishingPocket
URL = "http://127.0.0.1/ubuntu"
KEY = base64.b64encode(b"\x99\x01\x0dkey material").decode()


class ArchivesSent:
    """Mixed into a test case on the fake store and one on PostgreSQL:
    the fake's archive context is held to the SQL's."""

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.startLibrarian()
        self.hoary = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        yield self.store.distro.setChroot(self.hoary.id, P.RELEASE, 1)
        self.dispatcher = Dispatcher(self.store, self.librarian,
                                     clock=self.clock,
                                     logger=logging.getLogger("test"))
        builder_id = yield addBuilder(self.store, "b1")
        self.builder = BuilderHandle(
            (yield self.store.builders.get(builder_id)), OkSlave(name="b1"))

    @defer.inlineCallbacks
    def request(self, build_id, queue_id):
        builder = self.builder
        queue = yield self.store.queue.get(queue_id)
        build = yield self.store.builds.get(build_id)
        request = yield self.dispatcher.buildRequest(
            Job(queue, build, builder))
        return request.args

    @defer.inlineCallbacks
    def securityBuild(self):
        warty = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "warty", "i386")
        yield self.store.distro.setChroot(warty.id, P.SECURITY, 1)
        return (yield addBuild(self.store, series="warty",
                               pocket=P.SECURITY))

    @defer.inlineCallbacks
    def test_securityBuildGetsTheReleasePocket(self):
        """The issue's MANUALDEPWAIT: a warty SECURITY build got only
        warty-security, with every component."""
        build_id, queue_id = yield self.securityBuild()
        build = yield self.store.builds.get(build_id)
        args = yield self.request(build_id, queue_id)
        components = {"main": "main",
                      "universe": "main universe"}[build.component]
        self.assertEqual(args["archives"], [
            "deb %s warty %s" % (URL, components),
            "deb %s warty-security %s" % (URL, components)])
        self.assertEqual(args["trusted_keys"], [])
        self.assertEqual(args["suite"], "warty-security")

    @defer.inlineCallbacks
    def test_mainBuildGetsOnlyMain(self):
        build_id, queue_id = yield addBuild(self.store)
        build = yield self.store.builds.get(build_id)
        yield setSourceComponent(self.store, build.sourcepackagerelease,
                                 "main")
        args = yield self.request(build_id, queue_id)
        self.assertEqual(args["archives"], ["deb %s hoary main" % URL])
        self.assertEqual(args["ogrecomponent"], "main")

    @defer.inlineCallbacks
    def test_archiveURLAndSigningKey(self):
        primary = yield self.store.distro.getArchive("ubuntu", "primary")
        yield self.store.world.updateArchive(
            primary.id, archive_url="http://mirror.example/u",
            signing_key_fingerprint="ABCDEF0123456789", signing_key=KEY)
        build_id, queue_id = yield addBuild(self.store)
        args = yield self.request(build_id, queue_id)
        self.assertTrue(args["archives"][0].startswith(
            "deb http://mirror.example/u hoary "), args["archives"])
        self.assertEqual(args["trusted_keys"], [KEY])

    @defer.inlineCallbacks
    def addPPABuild(self):
        ppa = yield self.store.distro.getArchive("ubuntu", "ppa")
        build7 = yield self.store.builds.get(7)
        build_id = yield self.store.builds.create(
            self.hoary.id, build7.sourcepackagerelease, ppa.id, P.RELEASE)
        queue_id = yield self.store.queue.enqueueBuild(build_id)
        yield publishSource(self.store, build7.sourcepackagerelease,
                            self.hoary.distrorelease, ppa.id)
        return ppa, build_id, queue_id

    @defer.inlineCallbacks
    def test_ppaWithDependencyAndExternalLines(self):
        """A PPA with binaries: itself, its external dependencies, its
        dependency on another PPA (at SECURITY), then the primary archive
        at UPDATES with every component; keys of the archives listed."""
        ppa, build_id, queue_id = yield self.addPPABuild()
        tools = yield self.store.world.addArchive(
            ppa.distribution, "tools", ArchivePurpose.PPA, owner="sabdfl",
            archive_url="http://ppa.example/tools/ubuntu",
            signing_key_fingerprint="0123456789ABCDEF", signing_key=KEY)
        yield self.store.world.updateArchive(
            ppa.id, archive_url="http://ppa.example/cprov/ubuntu",
            external_dependencies="deb http://ext.example/ %(series)s main")
        yield self.store.world.setDependency(ppa.id, tools, P.SECURITY,
                                             "main")
        # Both PPAs have published binaries in hoary.
        for archive in (ppa.id, tools):
            yield addBinaryRow(self.store, 7, "foo", "1", "i386",
                               self.hoary.id, self.hoary.distrorelease,
                               archive)
        build = yield self.store.builds.get(build_id)
        own = {"main": "main", "universe": "main universe"}[build.component]
        args = yield self.request(build_id, queue_id)
        everything = "main restricted universe multiverse"
        self.assertEqual(args["archives"], [
            "deb http://ppa.example/cprov/ubuntu hoary %s" % own,
            "deb http://ext.example/ hoary main",
            "deb http://ppa.example/tools/ubuntu hoary main",
            "deb http://ppa.example/tools/ubuntu hoary-security main",
            "deb %s hoary %s" % (URL, everything),
            "deb %s hoary-security %s" % (URL, everything),
            "deb %s hoary-updates %s" % (URL, everything)])
        self.assertEqual(args["trusted_keys"], [KEY])
        self.assertEqual(args["archive_purpose"], "PPA")

    @defer.inlineCallbacks
    def test_ppaWithoutBinariesOrURL(self):
        """No published binaries: the PPA itself is left out. A PPA with
        binaries but no URL cannot be dispatched: the build fails with
        the reason (classified once, as any invalid request)."""
        ppa, build_id, queue_id = yield self.addPPABuild()
        args = yield self.request(build_id, queue_id)
        self.assertEqual(args["archives"][0],
                         "deb %s hoary main restricted universe multiverse"
                         % URL)
        yield addBinaryRow(self.store, 7, "foo", "1", "i386", self.hoary.id,
                           self.hoary.distrorelease, ppa.id)
        e = yield self.assertFailure(self.request(build_id, queue_id),
                                     InvalidBuildRequest)
        self.assertIn("archive ppa has no URL for builders", str(e))

    @defer.inlineCallbacks
    def test_nominatedArchIndep(self):
        build_id, queue_id = yield addBuild(self.store)
        self.assertTrue((yield self.request(build_id, queue_id))
                        ["arch_indep"])
        amd64 = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "amd64")
        yield self.store.world.updateSeries(self.hoary.distrorelease,
                                            nominatedarchindep=amd64.id)
        self.assertFalse((yield self.request(build_id, queue_id))
                         ["arch_indep"])
        # Dispatch goes on as before.
        self.assertEqual(BuildStatus.NEEDSBUILD,
                         (yield self.store.builds.get(build_id)).buildstate)


class ArchivesSentTests(ArchivesSent, LibrarianFixture, FakeStoreTestCase):
    """On the fake store."""


class ArchivesSentSQLTests(ArchivesSent, LibrarianFixture, DatabaseTestCase):
    """On PostgreSQL (world.SOURCES_CONTEXT)."""
