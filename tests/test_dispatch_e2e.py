"""End to end: the whole master dispatches to a real launchpad-buildd.

Each test runs a complete L{MasterService} (as ``twistd -n buildmaster``
assembles it: the librarian's web server, upload processing, the scanners
with the dispatcher, instant dispatch over LISTEN/NOTIFY, the dependency
wait retrier, the dashboard) on the real reactor, on the test's database,
with one builder: a real launchpad-buildd daemon (L{tests.realbuilder}).

The test only does what a person would: it stores a chroot for ubuntu
hoary i386, requests a build of pmount 0.1-1 (as ``buildmaster-admin
build request`` does) and waits, polling the database. The master must
then find the builder idle, send it the chroot and the source files with
``ensurepresent`` (the daemon fetches them from the master's own
librarian over HTTP), start the build with a request the daemon accepts,
follow it, collect its outcome and process its upload.

The sample builders bob and frog are deactivated so that only the daemon
is scanned, and the sample queue entry 2 (build 10, cnews) is removed so
that the daemon builds nothing but what each test requests.
"""

import base64
import gzip
import hashlib
import io
import os
import re
import tarfile

import treq
from twisted.internet import defer, reactor, task

from lp_buildmaster import config as configmodule
from lp_buildmaster.enums import BuildStatus, PackagePublishingPocket
from lp_buildmaster.model.records import makeCookie
from lp_buildmaster.service import MasterService
from lp_buildmaster.slave import makePool
from tests.database import DatabaseTestCase
from tests.farm import captureLogs
from tests.realbuilder import RealBuilder
from tests.test_slave_fixtures import closePoolAtEnd

IDLE = "BuilderStatus.IDLE"

#: The sample data's builds of pmount 0.1-1 and alsa-utils 1.0.9a-4 in
#: hoary i386: their sources are published there, so they may be built.
PMOUNT_BUILD, ALSA_BUILD = 7, 2
SERIES, ARCH = "hoary", "i386"

SCAN_INTERVAL = 0.2
DEPWAIT_INTERVAL = 0.3
#: Bound on any one wait for the master or the daemon.
TIMEOUT = 30.0

#: States a build stays in (until someone retries it).
FINAL = frozenset([
    BuildStatus.FULLYBUILT, BuildStatus.FAILEDTOBUILD,
    BuildStatus.MANUALDEPWAIT, BuildStatus.CHROOTWAIT,
    BuildStatus.FAILEDTOUPLOAD, BuildStatus.SUPERSEDED,
    BuildStatus.CANCELLED])


#: Lines only the daemon's sbuild writes, after it read its outcome.
SBUILD_RUNNING = re.compile(
    r"sbuild \(Debian sbuild\)|dpkg-buildpackage: info|linux-gnu-gcc")


def chrootTarball():
    """A small but real chroot tarball."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in [("chroot-autobuild/etc/debian_version",
                            b"3.1\n"),
                           ("chroot-autobuild/etc/hostname", b"hoary\n")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1104566400
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=1104566400)


class DispatchEndToEndTests(DatabaseTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.logs = captureLogs(self)
        #: C{{cookie: [log tail, ...]}} as the database showed them.
        self.logtails = {}
        # Only the daemon is scanned, and only requested builds are queued.
        for name in ("bob", "frog"):
            sample = yield self.store.builders.getByName(name)
            yield self.store.builders.update(sample.id, active=False)
        yield self.store.runOperation(
            "DELETE FROM buildqueue WHERE id = 2 AND build = 10")

        self.daemon = RealBuilder(self.mktemp())
        yield self.daemon.start()
        self.addCleanup(self.daemon.stop)
        x86 = yield self.store.distro.getProcessor("x86")
        self.builder_id = yield self.store.builders.add(
            "e2e", self.daemon.url, x86.id, title="A real launchpad-buildd")

        # The master's librarian is the test's: the sample sources' bytes
        # are in STATE/librarian already.
        self.state_dir = self.librarian_root.parent
        config = configmodule.load(environ={}, overrides={
            ("master", "database"): self.dsn,
            ("master", "state_dir"): str(self.state_dir),
            ("master", "name"): "dispatch-e2e",
            ("master", "scan_interval"): str(SCAN_INTERVAL),
            ("depwait", "interval"): str(DEPWAIT_INTERVAL),
            ("web", "port"): "0",
            ("librarian", "port"): "0",
        })
        self.master = MasterService(config, self.dsn, reactor=reactor)
        self.addCleanup(self.stopMaster)
        yield self.master.startService()
        self.librarian = self.master.librarian
        self.assertTrue(self.librarian.base_url.startswith(
            "http://127.0.0.1:"), self.librarian.base_url)
        self.assertNotEqual(self.librarian.base_url,
                            "http://127.0.0.1:0")

        self.dar = yield self.store.distro.getDistroArchRelease(
            "ubuntu", SERIES, ARCH)
        chroot = chrootTarball()
        self.chroot_alias = yield self.librarian.addFile(
            "chroot-ubuntu-%s-%s.tar.gz" % (SERIES, ARCH), len(chroot),
            io.BytesIO(chroot), "application/gzip")
        yield self.store.distro.setChroot(
            self.dar.id, PackagePublishingPocket.RELEASE, self.chroot_alias)

        self.http = makePool(reactor)
        closePoolAtEnd(self, self.http)

    def stopMaster(self):
        if self.master.running:
            return self.master.stopService()
        return defer.succeed(None)

    # -- acting as a person would --------------------------------------

    @defer.inlineCallbacks
    def requestBuild(self, like_build):
        """Request a build of the source of sample build C{like_build} in
        hoary i386 RELEASE (``buildmaster-admin build request``).

        @return: the new build's id.
        """
        template = yield self.store.builds.get(like_build)
        build_id = yield self.store.builds.request(
            self.dar.id, template.sourcepackagerelease, template.archive,
            PackagePublishingPocket.RELEASE)
        return build_id

    # -- waiting, bounded, on the database -------------------------------

    @defer.inlineCallbacks
    def waitFor(self, build_id, predicate, description, timeout=TIMEOUT):
        """Poll the build and its queue entry until C{predicate(build,
        queue)}; keep every log tail and cookie seen on the way.

        @return: the build as it was then.
        """
        deadline = reactor.seconds() + timeout
        while True:
            build = yield self.store.builds.get(build_id)
            queue = yield self.store.queue.getByBuild(build_id)
            if queue is not None and queue.logtail:
                cookie = makeCookie(build_id, queue.id)
                seen = self.logtails.setdefault(cookie, [])
                if not seen or seen[-1] != queue.logtail:
                    seen.append(queue.logtail)
            if predicate(build, queue):
                return build
            if reactor.seconds() >= deadline:
                self.fail(
                    "timed out after %.0fs waiting for build %d to %s; it "
                    "is %s, queue %r\nmaster errors: %s\nuploads:\n%s\n"
                    "daemon log:\n%s" % (
                        timeout, build_id, description,
                        build.buildstate.name, queue,
                        self.logs.matching("ERROR"), self.uploaderLogs(),
                        self.daemon.log()[-4000:]))
            yield task.deferLater(reactor, 0.05, lambda: None)

    def waitUntilFinal(self, build_id, timeout=TIMEOUT):
        return self.waitFor(
            build_id, lambda build, queue: build.buildstate in FINAL,
            "finish", timeout)

    def waitForDaemonIdle(self):
        return self.daemon.waitForStatus(IDLE, timeout=TIMEOUT)

    # -- what the daemon saw ---------------------------------------------

    def sbuildCalls(self):
        """The daemon's sbuild-package runs: C{[(cookie, arch, suite,
        arch_indep, dsc)]}."""
        return [(args[0], args[1], args[2], "-A" in args, args[-1])
                for helper, *args in self.daemon.calls()
                if helper == "sbuild-package"]

    @defer.inlineCallbacks
    def assertFetchedFromLibrarian(self, build):
        """The daemon fetched the chroot and every source file of the
        build from our librarian's URL (its log says so), and its cache
        holds exactly the librarian's bytes."""
        files = yield self.store.sources.files(build.sourcepackagerelease)
        alias_ids = [self.chroot_alias] + [alias for alias, _ in files]
        aliases = yield self.store.library.getAliases(alias_ids)
        self.assertEqual(
            sorted(aliases[a].filename for a in alias_ids),
            sorted(["chroot-ubuntu-hoary-i386.tar.gz",
                    "%s_%s.dsc" % (build.source_name, build.source_version),
                    "%s_%s.tar.gz" % (build.source_name,
                                      build.source_version)]))
        daemon_log = self.daemon.log()
        for alias_id in alias_ids:
            alias = aliases[alias_id]
            url = self.librarian.urlFor(alias)
            self.assertTrue(url.startswith(self.librarian.base_url + "/"))
            self.assertIn("Fetching %s by url %s" % (alias.sha1, url),
                          daemon_log)
            with open(os.path.join(self.daemon.filecache, alias.sha1),
                      "rb") as cached:
                data = cached.read()
            self.assertEqual(hashlib.sha1(data).hexdigest(), alias.sha1)
            with (yield self.librarian.getFileByAlias(alias_id)) as f:
                self.assertEqual(data, f.read())
        self.assertNotIn("Error accessing Librarian", daemon_log)
        self.assertNotIn("Digests did not match", daemon_log)

    # -- what the master stored ------------------------------------------

    @defer.inlineCallbacks
    def fetchLog(self, build, state):
        """The build's log, fetched over HTTP from the librarian's URL
        (treq accepts gzip and decodes it); its alias is named as the seed
        names build logs."""
        self.assertIsNotNone(build.buildlog, "no build log stored")
        alias = yield self.store.library.getAlias(build.buildlog)
        self.assertEqual(
            (alias.filename, alias.mimetype),
            ("buildlog_ubuntu-%s-%s.%s_%s_%s.txt.gz"
             % (SERIES, ARCH, build.source_name, build.source_version,
                state.name), "text/plain"))
        url = yield self.librarian.getURLForAlias(build.buildlog)
        response = yield treq.get(url, pool=self.http)
        body = yield response.content()
        self.assertEqual(response.code, 200, body[:200])
        return body

    @defer.inlineCallbacks
    def buildFiles(self, build_id):
        """C{[(filetype, filename)]} recorded for a build."""
        rows = yield self.store.runQuery(
            "SELECT bf.filetype, lfa.filename"
            "  FROM buildfile bf"
            "  JOIN libraryfilealias lfa ON lfa.id = bf.libraryfile"
            " WHERE bf.build = %s ORDER BY lfa.filename", (build_id,))
        return [(r["filetype"], r["filename"]) for r in rows]

    def uploadPath(self, *parts):
        return os.path.join(str(self.state_dir), "uploads", *parts)

    def acceptedLeaf(self, cookie):
        """The accepted/ leaf of the upload of C{cookie}."""
        leaves = [leaf for leaf in os.listdir(self.uploadPath("accepted"))
                  if leaf.endswith("-" + cookie)]
        self.assertEqual(len(leaves), 1, (cookie, leaves))
        return self.uploadPath("accepted", leaves[0])

    def uploaderLogs(self):
        """Every uploader.log in the upload area, for failure messages."""
        logs = []
        for kind in ("incoming", "accepted", "rejected", "failed"):
            try:
                leaves = os.listdir(self.uploadPath(kind))
            except FileNotFoundError:
                continue
            for leaf in leaves:
                path = self.uploadPath(kind, leaf, "uploader.log")
                if os.path.exists(path):
                    with open(path) as f:
                        logs.append("%s/%s:\n%s" % (kind, leaf, f.read()))
        return "\n".join(logs)

    def assertNoMasterErrors(self):
        self.assertEqual(self.logs.matching("ERROR"), [])

    @defer.inlineCallbacks
    def assertFullyBuilt(self, build_id, cookie, debs):
        """FULLYBUILT: the .debs and .buildinfo recorded, the leaf in
        accepted/ with its uploader.log, the log in the librarian."""
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.FULLYBUILT,
                         self.uploaderLogs())
        self.assertEqual(build.builder, self.builder_id)
        self.assertIsNotNone(build.datebuilt)
        self.assertIsNotNone(build.buildduration)
        queue = yield self.store.queue.getByBuild(build_id)
        self.assertIsNone(queue)

        stem = "%s_%s" % (build.source_name, build.source_version)
        files = yield self.buildFiles(build_id)
        self.assertEqual(
            files, sorted([("buildinfo", "%s_%s.buildinfo" % (stem, ARCH))]
                          + [("deb", deb) for deb in debs],
                          key=lambda f: f[1]))

        leaf = self.acceptedLeaf(cookie)
        # Hidden names are the processor's own marks (.stored, for
        # retention), not part of the upload.
        self.assertEqual(
            sorted(n for n in os.listdir(leaf) if not n.startswith(".")),
            sorted(["%s_%s.changes" % (stem, ARCH),
                    "%s_%s.buildinfo" % (stem, ARCH), "uploader.log"]
                   + list(debs)))
        with open(os.path.join(leaf, "uploader.log")) as f:
            uploader_log = f.read()
        self.assertIn("Build %d marked FULLYBUILT" % build_id, uploader_log)
        for kind in ("incoming", "rejected", "failed"):
            self.assertEqual(os.listdir(self.uploadPath(kind)), [], kind)

        log = yield self.fetchLog(build, BuildStatus.FULLYBUILT)
        self.assertIn(b"Status: successful", log)
        return build, log

    # -- the outcomes ------------------------------------------------------

    @defer.inlineCallbacks
    def test_ok(self):
        """A requested pmount build is dispatched to the idle daemon with
        the chroot and source from our librarian, built, collected and
        its upload accepted: FULLYBUILT."""
        self.daemon.setOutcome("OK", duration=1.5)
        build_id = yield self.requestBuild(PMOUNT_BUILD)
        queue = yield self.store.queue.getByBuild(build_id)
        cookie = makeCookie(build_id, queue.id)

        # Dispatched: the daemon took our build() and the master saw it
        # BUILDING with our cookie (only then does it keep a log tail).
        building = yield self.waitFor(
            build_id, lambda b, q: cookie in self.logtails,
            "be seen building")
        self.assertEqual(building.buildstate, BuildStatus.BUILDING)
        self.assertEqual(building.builder, self.builder_id)
        self.assertIsNotNone(building.date_started)

        yield self.waitUntilFinal(build_id)
        yield self.waitForDaemonIdle()
        build, log = yield self.assertFullyBuilt(
            build_id, cookie,
            ["pmount_0.1-1_i386.deb", "pmount-doc_0.1-1_all.deb"])

        # One build() with a request the daemon accepted: hoary's first
        # architecture also builds the architecture-independent packages.
        self.assertEqual(self.sbuildCalls(), [
            (cookie, ARCH, SERIES, True, "pmount_0.1-1.dsc")])
        yield self.assertFetchedFromLibrarian(build)
        self.assertIn(b"dpkg-buildpackage: info: source package pmount",
                      log)
        for logtail in self.logtails[cookie]:
            self.assertIn(logtail.encode("utf-8"), log)

        # The build's binaries are known (what dependency waits look for).
        binaries = yield self.store.binaries.getByBuild(build_id)
        self.assertEqual(
            sorted((b.name, b.version, b.architecture) for b in binaries),
            [("pmount", "0.1-1", "i386"), ("pmount-doc", "0.1-1", "all")])
        self.assertIn(
            "INFO:lp_buildmaster.dispatch:Dispatched i386 build of pmount "
            "0.1-1 in ubuntu hoary RELEASE (%s) to builder 'e2e'" % cookie,
            self.logs.lines)
        self.assertNoMasterErrors()

    @defer.inlineCallbacks
    def test_securityBuildGetsTheReleasePocketAndKeys(self):
        """A SECURITY build of released warty: the daemon is given the
        release pocket as well as security (its build-deps may be in
        either), the component's dependencies only, and the archive's
        signing key, which it feeds to add-trusted-keys."""
        key = b"\x98\x33binary public key"
        yield self.store.runOperation(
            "UPDATE archive SET signing_key_fingerprint = %s,"
            " signing_key = %s WHERE name = 'primary'",
            ("ABCDEF0123456789", base64.b64encode(key).decode()))
        warty = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "warty", ARCH)
        yield self.store.distro.setChroot(
            warty.id, PackagePublishingPocket.SECURITY, self.chroot_alias)
        self.daemon.setOutcome("OK", duration=0.5)
        template = yield self.store.builds.get(PMOUNT_BUILD)
        build_id = yield self.store.builds.request(
            warty.id, template.sourcepackagerelease, template.archive,
            PackagePublishingPocket.SECURITY)
        queue = yield self.store.queue.getByBuild(build_id)
        cookie = makeCookie(build_id, queue.id)
        yield self.waitUntilFinal(build_id)
        yield self.waitForDaemonIdle()
        overrides = [args for helper, *args in self.daemon.calls()
                     if helper == "in-target"
                     and args[0] == "override-sources-list"]
        self.assertEqual(len(overrides), 1, self.daemon.calls())
        lines = [a for a in overrides[0] if a.startswith("deb ")]
        components = {"main": "main", "universe": "main universe"}[
            template.component]
        self.assertEqual(lines, [
            "deb http://127.0.0.1/ubuntu warty %s" % components,
            "deb http://127.0.0.1/ubuntu warty-security %s" % components])
        with open(os.path.join(self.daemon.basedir,
                               "trusted-keys-" + cookie), "rb") as f:
            self.assertEqual(f.read(), key)

    @defer.inlineCallbacks
    def test_packagefail(self):
        """PACKAGEFAIL: FAILEDTOBUILD with the daemon's log stored."""
        self.daemon.setOutcome("PACKAGEFAIL")
        build_id = yield self.requestBuild(PMOUNT_BUILD)
        queue = yield self.store.queue.getByBuild(build_id)
        cookie = makeCookie(build_id, queue.id)
        build = yield self.waitUntilFinal(build_id)
        yield self.waitForDaemonIdle()

        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOBUILD)
        self.assertEqual(build.builder, self.builder_id)
        self.assertIsNotNone(build.datebuilt)
        queue = yield self.store.queue.getByBuild(build_id)
        self.assertIsNone(queue)
        log = yield self.fetchLog(build, BuildStatus.FAILEDTOBUILD)
        self.assertIn(b"Fail-Stage: build", log)
        self.assertIn(b"error: expected ';' before '}' token", log)
        self.assertEqual(self.sbuildCalls(), [
            (cookie, ARCH, SERIES, True, "pmount_0.1-1.dsc")])
        yield self.assertFetchedFromLibrarian(build)
        files = yield self.buildFiles(build_id)
        self.assertEqual(files, [])
        self.assertEqual(os.listdir(self.uploadPath("accepted")), [])
        self.assertNoMasterErrors()

    @defer.inlineCallbacks
    def test_chrootGoneFromOurLibrarianFailsTheJob(self):
        """The chroot's content is gone from our librarian: the daemon's
        ensurepresent gets 404 from it, the master checks the file itself
        and fails the build (its notes name the chroot), never the
        daemon, which stays ok and idle."""
        chroot = yield self.librarian.getAlias(self.chroot_alias)
        yield self.librarian.backend.delete(chroot.sha1.strip())
        build_id = yield self.requestBuild(PMOUNT_BUILD)
        build = yield self.waitUntilFinal(build_id)

        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOBUILD)
        self.assertIn(chroot.filename, build.failnotes)
        self.assertIn("gone from our librarian", build.failnotes)
        self.assertIn("HTTP Error 404", build.failnotes)
        queue = yield self.store.queue.getByBuild(build_id)
        self.assertIsNone(queue)
        builder = yield self.store.builders.get(self.builder_id)
        self.assertEqual((builder.builderok, builder.failure_count),
                         (True, 0))
        self.assertEqual(self.sbuildCalls(), [])
        said = [l for l in self.logs.lines if chroot.filename in l]
        self.assertEqual(len(said), 1, said)
        yield self.waitForDaemonIdle()

    @defer.inlineCallbacks
    def test_depfail_retried_once_dependency_published(self):
        """DEPFAIL: MANUALDEPWAIT with the missing dependency. Once a build
        of another source produces that package and its upload is
        accepted, the master's retrier makes the build NEEDSBUILD again
        by itself, dispatches it again and it ends FULLYBUILT."""
        from lp_buildmaster.depwait import retryDepWaits

        # 1. pmount cannot install its build dependency.
        self.daemon.setOutcome("DEPFAIL",
                               dependencies="libasound2 (>= 1.0.9)")
        build_id = yield self.requestBuild(PMOUNT_BUILD)
        first_queue = yield self.store.queue.getByBuild(build_id)
        first_cookie = makeCookie(build_id, first_queue.id)
        build = yield self.waitUntilFinal(build_id)
        self.assertEqual(build.buildstate, BuildStatus.MANUALDEPWAIT)
        self.assertEqual(build.dependencies, "libasound2 (>= 1.0.9)")
        log = yield self.fetchLog(build, BuildStatus.MANUALDEPWAIT)
        self.assertIn(
            b"Depends: libasound2 (>= 1.0.9) but it is not installable", log)
        self.assertIn("CRITICAL:lp_buildmaster.buildergroup:"
                      "***** e2e is MANUALDEPWAIT *****",
                      self.logs.lines)
        yield self.waitForDaemonIdle()
        # Nothing provides libasound2 yet: the build keeps waiting.
        retried = yield retryDepWaits(self.store)
        self.assertEqual(retried, [])

        # 2. alsa-utils builds libasound2 1.0.9a-4. Once its sbuild has
        # read the outcome (its log is under way), every later build is a
        # plain OK one. (It takes a while so that the scanner surely
        # stores a log tail of sbuild's.)
        self.daemon.setOutcome("OK", duration=2.5,
                               files=["libasound2_1.0.9a-4_i386.deb"])
        alsa_id = yield self.requestBuild(ALSA_BUILD)
        alsa_queue = yield self.store.queue.getByBuild(alsa_id)
        alsa_cookie = makeCookie(alsa_id, alsa_queue.id)
        yield self.waitFor(
            alsa_id,
            lambda b, q: any(SBUILD_RUNNING.search(tail)
                             for tail in self.logtails.get(alsa_cookie, [])),
            "run sbuild")
        self.daemon.setOutcome("OK")
        pmount = yield self.store.builds.get(build_id)
        self.assertEqual(pmount.buildstate, BuildStatus.MANUALDEPWAIT)

        yield self.waitUntilFinal(alsa_id)
        yield self.assertFullyBuilt(alsa_id, alsa_cookie,
                                    ["libasound2_1.0.9a-4_i386.deb"])
        binaries = yield self.store.binaries.getByBuild(alsa_id)
        self.assertEqual(
            [(b.name, b.version, b.architecture) for b in binaries],
            [("libasound2", "1.0.9a-4", "i386")])

        # 3. The master retries pmount by itself and builds it again.
        build = yield self.waitFor(
            build_id,
            lambda b, q: b.buildstate in FINAL - {BuildStatus.MANUALDEPWAIT},
            "be retried and finish")
        yield self.waitForDaemonIdle()
        queue_ids = {int(cookie.split("-")[1])
                     for cookie, *_ in self.sbuildCalls()
                     if cookie.startswith("%d-" % build_id)}
        self.assertEqual(len(queue_ids), 2, self.sbuildCalls())
        second_cookie = makeCookie(build_id, max(queue_ids))
        self.assertNotEqual(second_cookie, first_cookie)
        self.assertEqual(self.sbuildCalls(), [
            (first_cookie, ARCH, SERIES, True, "pmount_0.1-1.dsc"),
            (alsa_cookie, ARCH, SERIES, True, "alsa-utils_1.0.9a-4.dsc"),
            (second_cookie, ARCH, SERIES, True, "pmount_0.1-1.dsc")])
        build, log = yield self.assertFullyBuilt(
            build_id, second_cookie,
            ["pmount_0.1-1_i386.deb", "pmount-doc_0.1-1_all.deb"])
        self.assertIsNone(build.dependencies)
        self.assertNotIn(b"not installable", log)
        self.assertTrue(any(
            re.match(r"INFO:lp_buildmaster\.depwait:Build %d: dependencies "
                     r"'libasound2 \(>= 1\.0\.9\)' satisfied" % build_id,
                     line) for line in self.logs.lines), self.logs.lines)
        yield self.assertFetchedFromLibrarian(build)
        self.assertNoMasterErrors()
