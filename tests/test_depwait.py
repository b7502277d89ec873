"""Dependency waits: parsing and satisfying relations, recording the
binaries of accepted uploads, and retrying MANUALDEPWAIT builds.

Sample build 4 (cnews cr.g7-37, ubuntu hoary i386, primary archive) waits
for "libc6 (>= 2.3.5)".
"""

import os

from debian.debian_support import NativeVersion
from twisted.internet import defer, task
from twisted.trial import unittest

from lp_buildmaster import scoring
from lp_buildmaster.depwait import (
    DepWaitRetrier, UnparsableDependencies, parseDependencies,
    retryDepWaits, satisfied)
from lp_buildmaster.enums import (
    ArchivePurpose, BuildStatus, PackagePublishingPocket,
    SourcePackageUrgency)
from lp_buildmaster.librarian.client import LibrarianClient
from lp_buildmaster.librarian.storage import ContentStore
from lp_buildmaster.model.packages import (
    BinaryPackage, InvalidBinaryFilename, parseDebFilename)
from lp_buildmaster.upload import (
    ACCEPTED, REJECTED, UploadArea, UploadProcessor)
from tests.farm import FakeStoreTestCase
from tests.test_upload import START, writeUpload

V = NativeVersion
RELEASE = PackagePublishingPocket.RELEASE


class FakeLogger:
    """Collects C{(level, message)}, as a L{logging.Logger} would log."""

    def __init__(self):
        self.records = []

    def _log(level):
        def log(self, message, *args):
            self.records.append((level, message % args if args else message))
        return log

    debug, info, warning, error = (
        _log("DEBUG"), _log("INFO"), _log("WARNING"), _log("ERROR"))
    del _log

    def at(self, level):
        return [m for l, m in self.records if l == level]


class ParseDependenciesTests(unittest.TestCase):

    def test_parsed(self):
        table = [
            ("libc6 (>= 2.3.5)", [[("libc6", (">=", V("2.3.5")))]]),
            ("libc6 (>= 2.3.5)\n", [[("libc6", (">=", V("2.3.5")))]]),
            ("foo", [[("foo", None)]]),
            ("foo, bar", [[("foo", None)], [("bar", None)]]),
            ("foo | bar (<< 2.0), baz (= 1:1.0-1)",
             [[("foo", None), ("bar", ("<<", V("2.0")))],
              [("baz", ("=", V("1:1.0-1")))]]),
            ("foo (<= 1.0~rc1), bar (>> 0.9+b1)",
             [[("foo", ("<=", V("1.0~rc1")))],
              [("bar", (">>", V("0.9+b1")))]]),
            # Without spaces, as dpkg allows.
            ("foo(>=1.0)", [[("foo", (">=", V("1.0")))]]),
            # A trailing comma and empty entries are allowed.
            ("foo, , bar,", [[("foo", None)], [("bar", None)]]),
            # Architecture qualifiers, restrictions and profiles ignored.
            ("foo:any (>= 1.0) [i386] <!nocheck>, bar:native",
             [[("foo", (">=", V("1.0")))], [("bar", None)]]),
            # The deprecated forms, kept as written (read as <= and >=).
            ("foo (< 1.0), bar (> 2.0)",
             [[("foo", ("<", V("1.0")))], [("bar", (">", V("2.0")))]]),
            ("libstdc++6 (>= 4.1), lib.foo-1.0", [
                [("libstdc++6", (">=", V("4.1")))], [("lib.foo-1.0", None)]]),
        ]
        for text, expected in table:
            self.assertEqual(parseDependencies(text), expected, text)

    def test_unparsable(self):
        table = [
            (None, "no dependencies"),
            ("", "no dependencies"),
            ("   ", "no dependencies"),
            (",", "no dependencies"),
            ("!!!", "cannot parse '!!!'"),
            ("libc6 (>= )", "cannot parse 'libc6 (>= )'"),
            ("libc6 (>= 2.3.5", "cannot parse"),
            ("libc6 (~~ 2.3.5)", "cannot parse"),
            ("libc6 >= 2.3.5", "cannot parse"),
            ("foo bar", "cannot parse 'foo bar'"),
            ("Libc6", "cannot parse 'Libc6'"),
            ("a", "cannot parse 'a'"),
            ("foo |", "an empty alternative"),
            ("foo | , bar", "an empty alternative"),
            ("foo (>= x1)", "foo: 'x1' is not a version"),
            ("foo (>= 1.0-)", "foo: '1.0-' is not a version"),
            ("foo (>= 1:)", "foo: '1:' is not a version"),
            ("foo (= 1.0) (<< 2)", "cannot parse"),
        ]
        for text, reason in table:
            e = self.assertRaises(UnparsableDependencies,
                                  parseDependencies, text)
            self.assertIn(reason, str(e), text)
            self.assertIsInstance(e, ValueError)

    def test_quiet(self):
        """python-debian's own warning about raw text is not logged: the
        error says it."""
        with self.assertNoLogs("debian.deb822"):
            self.assertRaises(UnparsableDependencies,
                              parseDependencies, "libc6 (>= )")


class SatisfiedTests(unittest.TestCase):

    def check(self, table):
        for text, available, expected in table:
            self.assertEqual(
                satisfied(parseDependencies(text), available), expected,
                (text, available))

    def test_nothingNeeded(self):
        self.assertTrue(satisfied([], {}))

    def test_unversioned(self):
        self.check([
            ("libc6", {}, False),
            ("libc6", {"libc6": []}, False),
            ("libc6", {"libc6": ["2.3.6"]}, True),
            ("libc6", {"libc6-dev": ["2.3.6"]}, False),
        ])

    def test_operators(self):
        available = {"libc6": ["2.3.5"]}
        self.check([
            ("libc6 (<< 2.3.5)", available, False),
            ("libc6 (<< 2.3.6)", available, True),
            ("libc6 (<= 2.3.5)", available, True),
            ("libc6 (<= 2.3.4)", available, False),
            ("libc6 (= 2.3.5)", available, True),
            ("libc6 (= 2.3.5-1)", available, False),
            ("libc6 (>= 2.3.5)", available, True),
            ("libc6 (>= 2.3.6)", available, False),
            ("libc6 (>> 2.3.4)", available, True),
            ("libc6 (>> 2.3.5)", available, False),
            # Deprecated: < is <=, > is >=.
            ("libc6 (< 2.3.5)", available, True),
            ("libc6 (> 2.3.5)", available, True),
            ("libc6 (> 2.3.6)", available, False),
        ])

    def test_versions(self):
        """Debian ordering: epochs, revisions, tildes, letters."""
        self.check([
            ("libc6 (>= 2.3.5)", {"libc6": ["2.3.10"]}, True),
            ("libc6 (>= 2.3.5)", {"libc6": ["2.3.5~rc1"]}, False),
            ("libc6 (>= 2.3.5~rc1)", {"libc6": ["2.3.5~rc1"]}, True),
            ("libc6 (>= 2.3.5)", {"libc6": ["2.3.5-0ubuntu1"]}, True),
            ("libc6 (>= 2.3.5-2)", {"libc6": ["2.3.5-10"]}, True),
            ("libc6 (>= 2.3.5)", {"libc6": ["1:2.0"]}, True),
            ("libc6 (>= 1:2.0)", {"libc6": ["2.3.5"]}, False),
            ("libc6 (>= 2.3.5+b1)", {"libc6": ["2.3.5"]}, False),
            # Letters sort before other characters.
            ("libc6 (>= 2.3.5+)", {"libc6": ["2.3.5a"]}, False),
            ("libc6 (>= 2.3.5a)", {"libc6": ["2.3.5+"]}, True),
            ("libc6 (>= 2.3.5)", {"libc6": [V("2.3.6")]}, True),
            # One of several versions is enough.
            ("libc6 (>= 2.3.5)", {"libc6": ["2.3.4", "2.3.6"]}, True),
            # Each relation is judged on its own: every version accepted
            # counts (nothing supersedes).
            ("libc6 (>= 2.3.5), libc6 (<< 2.4)",
             {"libc6": ["2.3.4", "2.4.1"]}, True),
            ("libc6 (>= 2.3.5), libc6 (<< 2.4)", {"libc6": ["2.4.1"]}, False),
            # A version that is not one satisfies nothing.
            ("libc6 (>= 2.3.5)", {"libc6": ["junk version"]}, False),
        ])

    def test_alternativesAndConjunction(self):
        self.check([
            ("foo | bar", {"bar": ["1"]}, True),
            ("foo | bar", {"baz": ["1"]}, False),
            ("foo (>= 2) | bar (>= 2)", {"foo": ["1"], "bar": ["2"]}, True),
            ("foo (>= 2) | bar (>= 2)", {"foo": ["1"], "bar": ["1"]}, False),
            ("foo, bar", {"foo": ["1"]}, False),
            ("foo, bar", {"foo": ["1"], "bar": ["1"]}, True),
            ("foo | bar, baz", {"bar": ["1"], "baz": ["1"]}, True),
            ("foo | bar, baz", {"bar": ["1"]}, False),
            ("foo:any [amd64] <!nocheck>", {"foo": ["1"]}, True),
        ])


class ParseDebFilenameTests(unittest.TestCase):

    def test_valid(self):
        table = [
            ("libc6_2.3.6-1_i386.deb", None,
             BinaryPackage("libc6", "2.3.6-1", "i386")),
            ("glibc-doc_2.3.6-1_all.deb", None,
             BinaryPackage("glibc-doc", "2.3.6-1", "all")),
            ("libc6-udeb_2.3.6-1_i386.udeb", None,
             BinaryPackage("libc6-udeb", "2.3.6-1", "i386")),
            ("libstdc++6_4.1.0+b1_hurd-i386.deb", None,
             BinaryPackage("libstdc++6", "4.1.0+b1", "hurd-i386")),
            ("libc6_2.3.6-1_i386.deb", "1",
             BinaryPackage("libc6", "1:2.3.6-1", "i386")),
        ]
        for name, epoch, expected in table:
            self.assertEqual(parseDebFilename(name, epoch), expected, name)

    def test_invalid(self):
        for name in ["libc6_2.3.6-1_i386.ddeb", "libc6_2.3.6-1_i386",
                     "libc6_2.3.6-1.deb", "libc6_2.3.6_1_i386.deb",
                     "Libc6_2.3.6-1_i386.deb", "l_2.3.6-1_i386.deb",
                     "libc6_1:2.3.6-1_i386.deb", "libc6_x2.3_i386.deb",
                     "libc6__i386.deb", "libc6_2.3.6-1_I386.deb",
                     "libc6_2.3.6-1_.deb", "libc6_2.3 6_i386.deb"]:
            self.assertRaises(InvalidBinaryFilename, parseDebFilename, name)


class DepWaitTestCase(FakeStoreTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        FakeStoreTestCase.setUp(self)
        self.logger = FakeLogger()
        self.clock = task.Clock()
        self.hoary_i386 = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        self.hoary_amd64 = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "amd64")
        self.primary = yield self.store.distro.getArchive("ubuntu", "primary")
        self.ppa = yield self.store.distro.getArchive("ubuntu", "ppa")

    def retry(self, **kwargs):
        return retryDepWaits(self.store, self.clock, self.logger, **kwargs)

    @defer.inlineCallbacks
    def publish(self, build_id, *binaries):
        """Record C{binaries} ((name, version, arch)) as built by
        C{build_id}."""
        count = yield self.store.binaries.add(
            build_id, [BinaryPackage(*b) for b in binaries])
        self.assertEqual(count, len(binaries))

    @defer.inlineCallbacks
    def finishedBuild(self, dar, archive, pocket=RELEASE):
        """A FULLYBUILT build of pmount (sample source 1) to record
        binaries against."""
        build = yield self.store.builds.get(1)
        build_id = yield self.store.builds.create(
            dar.id, build.sourcepackagerelease, archive.id, pocket,
            BuildStatus.FULLYBUILT)
        return build_id

    @defer.inlineCallbacks
    def assertWaiting(self, build_id=4, dependencies="libc6 (>= 2.3.5)"):
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.MANUALDEPWAIT)
        self.assertEqual(build.dependencies, dependencies)
        queued = yield self.store.queue.getByBuild(build_id)
        self.assertIsNone(queued)

    @defer.inlineCallbacks
    def assertRetried(self, build_id=4):
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.NEEDSBUILD)
        self.assertIsNone(build.dependencies)
        self.assertIsNone(build.builder)
        self.assertIsNone(build.datebuilt)
        queued = yield self.store.queue.getByBuild(build_id)
        self.assertIsNotNone(queued)
        self.assertIsNone(queued.builder)
        self.assertFalse(queued.manual)
        # Its automatic score, computed now.
        archive = yield self.store.distro.getArchive(
            "ubuntu", build.archive_name)
        self.assertEqual(queued.lastscore, scoring.scoreBuild(
            build.pocket, build.component, build.urgency,
            build.archive_purpose, build.archive_private,
            archive.relative_build_score))
        if build_id == 4:  # cnews: universe, low urgency
            self.assertEqual(queued.lastscore, scoring.scoreBuild(
                RELEASE, "universe", SourcePackageUrgency.LOW,
                ArchivePurpose.PRIMARY))
        return queued


class RetryDepWaitsTests(DepWaitTestCase):

    @defer.inlineCallbacks
    def test_nothingPublished(self):
        retried = yield self.retry()
        self.assertEqual(retried, [])
        yield self.assertWaiting()
        self.assertEqual(self.logger.records, [])

    @defer.inlineCallbacks
    def test_published(self):
        """libc6 2.3.6 built for hoary i386 in the primary archive (by
        build 7): build 4 is retried."""
        yield self.publish(7, ("libc6", "2.3.6-1", "i386"))
        retried = yield self.retry()
        self.assertEqual(retried, [4])
        yield self.assertRetried()
        self.assertIn("Build 4: dependencies 'libc6 (>= 2.3.5)' satisfied;"
                      " NEEDSBUILD again", self.logger.at("INFO"))
        # Once only.
        retried = yield self.retry()
        self.assertEqual(retried, [])

    @defer.inlineCallbacks
    def test_exactVersion(self):
        yield self.publish(7, ("libc6", "2.3.5", "i386"))
        self.assertEqual((yield self.retry()), [4])

    @defer.inlineCallbacks
    def test_versionTooLow(self):
        yield self.publish(7, ("libc6", "2.3.4-1", "i386"),
                           ("libc6", "2.3.5~rc1", "i386"),
                           ("libc6-dev", "2.3.6-1", "i386"))
        self.assertEqual((yield self.retry()), [])
        yield self.assertWaiting()

    @defer.inlineCallbacks
    def test_otherArchive(self):
        """Built in the PPA of the same series: not available to a
        primary archive build."""
        build_id = yield self.finishedBuild(self.hoary_i386, self.ppa)
        yield self.publish(build_id, ("libc6", "2.3.6-1", "i386"))
        self.assertEqual((yield self.retry()), [])
        yield self.assertWaiting()

    @defer.inlineCallbacks
    def test_otherSeries(self):
        """Built in warty (by build 6): not available in hoary."""
        yield self.publish(6, ("libc6", "2.3.6-1", "i386"))
        self.assertEqual((yield self.retry()), [])
        yield self.assertWaiting()

    @defer.inlineCallbacks
    def test_otherArchitecture(self):
        """An amd64 libc6 of hoary does not satisfy an i386 build."""
        build_id = yield self.finishedBuild(self.hoary_amd64, self.primary)
        yield self.publish(build_id, ("libc6", "2.3.6-1", "amd64"))
        self.assertEqual((yield self.retry()), [])
        yield self.assertWaiting()

    @defer.inlineCallbacks
    def test_archAllFromOtherArchitecture(self):
        """An arch-all package built on any architecture of the series
        counts."""
        yield self.store.builds.update(
            4, dependencies="libc6 (>= 2.3.5) | glibc-doc")
        build_id = yield self.finishedBuild(self.hoary_amd64, self.primary)
        yield self.publish(build_id, ("glibc-doc", "2.3.6-1", "all"))
        self.assertEqual((yield self.retry()), [4])
        yield self.assertRetried()

    @defer.inlineCallbacks
    def test_partlySatisfied(self):
        """All the relations must be satisfied."""
        yield self.store.builds.update(
            4, dependencies="libc6 (>= 2.3.5), debhelper (>= 4)")
        yield self.publish(7, ("libc6", "2.3.6-1", "i386"))
        self.assertEqual((yield self.retry()), [])
        yield self.assertWaiting(
            dependencies="libc6 (>= 2.3.5), debhelper (>= 4)")
        yield self.publish(7, ("debhelper", "4.1", "all"))
        self.assertEqual((yield self.retry()), [4])

    @defer.inlineCallbacks
    def test_manyBuildsOneQuery(self):
        """The binaries of every waiting build's series and archive are
        read with one query; each satisfied build is retried, the others
        stay."""
        ppa_build = yield self.finishedBuild(self.hoary_i386, self.ppa)
        yield self.store.builds.update(
            3, buildstate=BuildStatus.MANUALDEPWAIT,
            dependencies="foo | bar (>> 1.0), libc6")
        yield self.store.builds.update(
            5, buildstate=BuildStatus.MANUALDEPWAIT,
            dependencies="debhelper (>= 9)")
        waiting_ppa = yield self.finishedBuild(self.hoary_i386, self.ppa)
        yield self.store.builds.update(
            waiting_ppa, buildstate=BuildStatus.MANUALDEPWAIT,
            dependencies="libc6 (>= 2.3.5)")
        yield self.publish(7, ("libc6", "2.3.6-1", "i386"),
                           ("bar", "1.1", "all"), ("debhelper", "5", "all"))
        yield self.publish(ppa_build, ("libc6", "2.3.5", "i386"))

        calls = []
        available = self.store.binaries.available

        def spy(series_archives, names):
            calls.append((set(series_archives), set(names)))
            return available(series_archives, names)
        self.patch(self.store.binaries, "available", spy)
        retried = yield self.retry()
        self.assertEqual(retried, [3, 4, waiting_ppa])
        self.assertEqual(calls, [(
            {(self.hoary_i386.distrorelease, self.primary.id),
             (self.hoary_i386.distrorelease, self.ppa.id)},
            {"libc6", "foo", "bar", "debhelper"})])
        for build_id in retried:
            yield self.assertRetried(build_id)
        yield self.assertWaiting(5, "debhelper (>= 9)")

    @defer.inlineCallbacks
    def test_unparsableLoggedOnce(self):
        """An unparsable dependency string is logged once per build and
        string, and the build left alone; the others are still retried."""
        yield self.store.builds.update(
            3, buildstate=BuildStatus.MANUALDEPWAIT,
            dependencies="libc6 (>= )")
        yield self.publish(7, ("libc6", "2.3.6-1", "i386"))
        reported = set()
        self.assertEqual((yield self.retry(reported=reported)), [4])
        self.assertEqual((yield self.retry(reported=reported)), [])
        self.assertEqual(self.logger.at("WARNING"), [
            "Build 3 stays in MANUALDEPWAIT: cannot parse 'libc6 (>= )'"
            " in dependencies 'libc6 (>= )'"])
        yield self.assertWaiting(3, "libc6 (>= )")
        # A new string is news.
        yield self.store.builds.update(3, dependencies="???")
        yield self.retry(reported=reported)
        self.assertEqual(len(self.logger.at("WARNING")), 2)
        self.assertEqual(reported, {(3, "???")})

    @defer.inlineCallbacks
    def test_noDependencies(self):
        """A build waiting with nothing recorded is left for a person, and
        no binaries are asked for."""
        yield self.store.builds.update(4, dependencies=None)
        yield self.store.builds.update(
            3, buildstate=BuildStatus.MANUALDEPWAIT, dependencies=" ")
        self.patch(self.store.binaries, "available",
                   lambda *a: self.fail("asked for binaries"))
        self.assertEqual((yield self.retry()), [])
        yield self.assertWaiting(4, None)
        yield self.assertWaiting(3, " ")
        self.assertEqual(self.logger.records, [])

    @defer.inlineCallbacks
    def test_leftMeanwhile(self):
        """A build retried by hand while the pass ran is not retried
        twice."""
        yield self.publish(7, ("libc6", "2.3.6-1", "i386"))
        depWaiting = self.store.binaries.depWaiting

        @defer.inlineCallbacks
        def racing():
            waiting = yield depWaiting()
            yield self.store.builds.retry(4, [BuildStatus.MANUALDEPWAIT])
            return waiting
        self.patch(self.store.binaries, "depWaiting", racing)
        self.assertEqual((yield self.retry()), [])
        queued = yield self.assertRetried()
        self.assertEqual(len((yield self.store.queue.all())), 3)
        self.assertEqual(
            (yield self.store.queue.getByBuild(4)).id, queued.id)

    @defer.inlineCallbacks
    def test_storeRecordsSeriesArchivePocket(self):
        build_id = yield self.finishedBuild(
            self.hoary_i386, self.ppa, PackagePublishingPocket.RELEASE)
        yield self.publish(build_id, ("libc6", "2.3.6-1", "i386"),
                           ("glibc-doc", "2.3.6-1", "all"))
        rows = yield self.store.binaries.getByBuild(build_id)
        self.assertEqual(
            [(r.name, r.version, r.architecture, r.distroarchrelease,
              r.distrorelease, r.archive, r.pocket) for r in rows],
            [("libc6", "2.3.6-1", "i386", self.hoary_i386.id,
              self.hoary_i386.distrorelease, self.ppa.id, RELEASE),
             ("glibc-doc", "2.3.6-1", "all", self.hoary_i386.id,
              self.hoary_i386.distrorelease, self.ppa.id, RELEASE)])
        self.assertEqual((yield self.store.binaries.add(build_id, [])), 0)
        yield self.assertFailure(
            self.store.binaries.add(999, [BinaryPackage("x1", "1", "all")]),
            KeyError)


class UploadRecordsBinariesTests(DepWaitTestCase):
    """Through the real upload processor: an accepted upload records its
    packages, which retry the builds waiting for them."""

    @defer.inlineCallbacks
    def setUp(self):
        yield DepWaitTestCase.setUp(self)
        self.clock.advance(START)
        self.area = UploadArea(self.librarian_root.parent / "upload")
        self.area.ensure()
        self.librarian = LibrarianClient(
            self.store, ContentStore(self.librarian_root),
            "http://127.0.0.1:1/", b"secret", clock=self.clock)
        self.processor = UploadProcessor(self.store, self.librarian,
                                         self.area)

    @defer.inlineCallbacks
    def uploadGlibc(self, debs, version="2.3.6-1", arch=None):
        """Build glibC{version} in hoary (on C{arch}, default i386) and
        process an upload of C{debs}; fires with the build id and the
        outcome."""
        dar = arch or self.hoary_i386
        spr = yield self.store.sources.add(
            "glibc", version, [], dar.distrorelease, self.primary.id,
            RELEASE)
        build_id = yield self.store.builds.create(
            dar.id, spr, self.primary.id, RELEASE, BuildStatus.UPLOADING)
        leaf = "20050101-080000-%d-99" % build_id
        files = {name: b"!<arch>\ndebian-binary   " + os.urandom(64)
                 for name in debs}
        files["glibc_%s_i386.buildinfo" % version.split(":")[-1]] = (
            b"Format: 1.0\n")
        writeUpload(self.area.path("incoming", leaf), files,
                    source="glibc", version=version)
        outcome = yield self.processor.processLeaf(leaf)
        return build_id, outcome

    @defer.inlineCallbacks
    def test_acceptedUploadRetries(self):
        yield self.assertWaiting()
        build_id, outcome = yield self.uploadGlibc(
            ["libc6_2.3.6-1_i386.deb", "libc6-dev_2.3.6-1_i386.deb",
             "glibc-doc_2.3.6-1_all.deb", "libc6-udeb_2.3.6-1_i386.udeb"])
        self.assertEqual(outcome, ACCEPTED)
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.FULLYBUILT)
        rows = yield self.store.binaries.getByBuild(build_id)
        self.assertEqual(
            sorted((r.name, r.version, r.architecture, r.distrorelease,
                    r.archive) for r in rows),
            [(name, "2.3.6-1", arch, self.hoary_i386.distrorelease,
              self.primary.id)
             for name, arch in [("glibc-doc", "all"), ("libc6", "i386"),
                                ("libc6-dev", "i386"),
                                ("libc6-udeb", "i386")]])
        retried = yield self.retry()
        self.assertEqual(retried, [4])
        yield self.assertRetried()

    @defer.inlineCallbacks
    def test_epoch(self):
        """The .changes' epoch goes back in front of the versions."""
        build_id, outcome = yield self.uploadGlibc(
            ["libc6_2.3.6-1_i386.deb"], version="1:2.3.6-1")
        self.assertEqual(outcome, ACCEPTED)
        rows = yield self.store.binaries.getByBuild(build_id)
        self.assertEqual([r.version for r in rows], ["1:2.3.6-1"])
        self.assertEqual((yield self.retry()), [4])

    @defer.inlineCallbacks
    def assertRejectedUpload(self, debs, reason):
        build_id, outcome = yield self.uploadGlibc(debs)
        self.assertEqual(outcome, REJECTED)
        build = yield self.store.builds.get(build_id)
        self.assertEqual(build.buildstate, BuildStatus.FAILEDTOUPLOAD)
        self.assertEqual((yield self.store.binaries.getByBuild(build_id)),
                         [])
        leaf = "20050101-080000-%d-99" % build_id
        with open(self.area.path(REJECTED, leaf) / "uploader.log") as f:
            self.assertIn("Rejected: " + reason, f.read())
        self.assertEqual((yield self.retry()), [])
        yield self.assertWaiting()

    def test_rejectedBadFilename(self):
        return self.assertRejectedUpload(
            ["libc6_2.3.6-1_i386.deb", "libc6-2.3.6-1_i386.deb"],
            "libc6-2.3.6-1_i386.deb is not named"
            " <package>_<version>_<architecture>.deb")

    def test_rejectedBadVersion(self):
        return self.assertRejectedUpload(
            ["libc6_x2.3.6_i386.deb"],
            "libc6_x2.3.6_i386.deb: 'x2.3.6' is not a valid version")

    def test_rejectedOtherArchitecture(self):
        return self.assertRejectedUpload(
            ["libc6_2.3.6-1_amd64.deb"],
            "libc6_2.3.6-1_amd64.deb is for amd64, but build")


class DepWaitRetrierTests(DepWaitTestCase):

    def retrier(self):
        """A L{DepWaitRetrier} every 300s; C{self.passes} gets a Deferred
        of each pass's result, fired once the loop has seen the pass end
        (the loop swallows the pass's own result)."""
        retrier = DepWaitRetrier(self.store, self.clock, interval=300,
                                 logger=self.logger)
        self.passes = []
        retry = retrier.retry

        def spy():
            seen, result = defer.Deferred(), defer.Deferred()
            self.passes.append(result)

            def done(r):
                seen.callback(None)
                result.callback(r)
            retry().addBoth(done)
            return seen
        retrier.retry = spy
        return retrier

    @defer.inlineCallbacks
    def test_periodic(self):
        retrier = self.retrier()
        retrier.startService()
        self.assertEqual(len(self.passes), 1)  # at once
        self.assertEqual((yield self.passes[0]), [])
        yield self.publish(7, ("libc6", "2.3.6-1", "i386"))
        self.clock.advance(299)
        self.assertEqual(len(self.passes), 1)
        self.clock.advance(1)
        self.assertEqual(len(self.passes), 2)
        self.assertEqual((yield self.passes[1]), [4])
        yield self.assertRetried()
        yield retrier.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(300)
        self.assertEqual(len(self.passes), 2)

    @defer.inlineCallbacks
    def test_failedPassLoggedAndLoopSurvives(self):
        retrier = self.retrier()
        depWaiting = self.store.binaries.depWaiting
        self.patch(self.store.binaries, "depWaiting",
                   lambda: defer.fail(RuntimeError("database gone")))
        retrier.startService()
        self.assertEqual((yield self.passes[0]), [])
        self.assertEqual(self.logger.at("ERROR"), [
            "Retrying dependency waits failed: database gone"])
        self.patch(self.store.binaries, "depWaiting", depWaiting)
        yield self.publish(7, ("libc6", "2.3.6-1", "i386"))
        self.clock.advance(300)
        self.assertEqual((yield self.passes[1]), [4])
        yield retrier.stopService()
        yield self.assertRetried()

    @defer.inlineCallbacks
    def test_unparsableLoggedOnceAcrossPasses(self):
        yield self.store.builds.update(4, dependencies="libc6 (>= 2.3.5")
        retrier = self.retrier()
        retrier.startService()
        for n in range(3):
            self.assertEqual((yield self.passes[n]), [])
            self.clock.advance(300)
        yield retrier.stopService()
        self.assertEqual(len(self.logger.at("WARNING")), 1)
        yield self.assertWaiting(dependencies="libc6 (>= 2.3.5")

    @defer.inlineCallbacks
    def test_stopWaitsForPassInFlight(self):
        gate = defer.Deferred()
        self.patch(self.store.binaries, "depWaiting", lambda: gate)
        retrier = DepWaitRetrier(self.store, self.clock, logger=self.logger)
        retrier.startService()
        stopped = retrier.stopService()
        self.assertNoResult(stopped)
        gate.callback([])
        yield stopped
        self.assertEqual(self.clock.getDelayedCalls(), [])
