"""The archive-dependency table: what sources.list and trusted_keys a build
gets, for every pocket, every component, a PPA and archive dependencies
(Launchpad's archivedependencies rules)."""

from twisted.trial import unittest

from lp_buildmaster.enums import ArchivePurpose, PackagePublishingPocket
from lp_buildmaster.model.archivedeps import (
    ArchiveDependency, ArchiveDependencyError, ArchiveSource,
    checkSourcesLine, sourcesList)

P = PackagePublishingPocket
URL = "http://archive.example/ubuntu"
PPA_URL = "http://ppa.example/cprov/ppa/ubuntu"
ALL = "main restricted universe multiverse"

PRIMARY = ArchiveSource(1, "primary", ArchivePurpose.PRIMARY, URL,
                        signing_key="UFJJTUFSWQ==")
PPA = ArchiveSource(2, "ppa", ArchivePurpose.PPA, PPA_URL,
                    signing_key="UFBB")
OTHER_PPA = ArchiveSource(3, "tools", ArchivePurpose.PPA,
                          "http://ppa.example/sabdfl/tools/ubuntu",
                          signing_key="VE9PTFM=")
PARTNER = ArchiveSource(4, "partner", ArchivePurpose.PARTNER,
                        "http://archive.example/partner")


def lines(archive, pocket, component, dependencies=(), primary_component=None,
          series="warty"):
    return list(sourcesList(archive, PRIMARY, series, pocket, component,
                            list(dependencies), primary_component).lines)


class PrimaryPocketTable(unittest.TestCase):
    """A primary-archive build: its own pocket dependencies, in order."""

    TABLE = [
        (P.RELEASE, ["warty"]),
        (P.SECURITY, ["warty", "warty-security"]),
        (P.UPDATES, ["warty", "warty-security", "warty-updates"]),
        (P.PROPOSED, ["warty", "warty-security", "warty-updates",
                      "warty-proposed"]),
        (P.BACKPORTS, ["warty", "warty-security", "warty-updates",
                       "warty-backports"]),
    ]

    def test_everyPocket(self):
        self.assertEqual(len(self.TABLE), len(P))
        for pocket, suites in self.TABLE:
            # BACKPORTS may take build-deps from any component.
            components = ALL if pocket == P.BACKPORTS else "main"
            self.assertEqual(
                lines(PRIMARY, pocket, "main"),
                ["deb %s %s %s" % (URL, suite, components)
                 for suite in suites], pocket)

    def test_securityBuildGetsTheReleasePocket(self):
        """The issue's MANUALDEPWAIT: build-deps in the release pocket."""
        self.assertEqual(lines(PRIMARY, P.SECURITY, "universe"), [
            "deb %s warty main universe" % URL,
            "deb %s warty-security main universe" % URL])


class ComponentTable(unittest.TestCase):
    """A primary RELEASE build in each component."""

    TABLE = [
        ("main", "main"),
        ("restricted", "main restricted"),
        ("universe", "main universe"),
        ("multiverse", ALL),
        ("partner", "partner"),
        ("contrib", "main contrib non-free"),
        ("non-free", "main contrib non-free"),
        ("non-free-firmware", "main non-free-firmware"),
    ]

    def test_everyComponent(self):
        from lp_buildmaster.model.archivedeps import COMPONENT_DEPENDENCIES
        self.assertEqual(sorted(c for c, _ in self.TABLE),
                         sorted(COMPONENT_DEPENDENCIES))
        for component, expected in self.TABLE:
            self.assertEqual(lines(PRIMARY, P.RELEASE, component),
                             ["deb %s warty %s" % (URL, expected)], component)

    def test_unknownComponent(self):
        e = self.assertRaises(ArchiveDependencyError, lines, PRIMARY,
                              P.RELEASE, "bogus")
        self.assertIn("unknown component 'bogus'", str(e))


class PPATable(unittest.TestCase):

    def test_ppaGetsItselfThenPrimaryUpdates(self):
        """Its own release pocket with its component's dependencies, then
        the primary archive at UPDATES with every component."""
        for pocket in P:
            own = ALL if pocket == P.BACKPORTS else "main"
            self.assertEqual(lines(PPA, pocket, "main"), [
                "deb %s warty %s" % (PPA_URL, own),
                "deb %s warty %s" % (URL, ALL),
                "deb %s warty-security %s" % (URL, ALL),
                "deb %s warty-updates %s" % (URL, ALL)], pocket)

    def test_ppaWithoutBinariesIsLeftOut(self):
        empty = ArchiveSource(2, "ppa", ArchivePurpose.PPA, PPA_URL,
                              has_binaries=False)
        self.assertEqual(lines(empty, P.RELEASE, "main"), [
            "deb %s warty %s" % (URL, ALL),
            "deb %s warty-security %s" % (URL, ALL),
            "deb %s warty-updates %s" % (URL, ALL)])

    def test_partnerIsLikeAPPA(self):
        self.assertEqual(lines(PARTNER, P.RELEASE, "partner")[:2], [
            "deb http://archive.example/partner warty partner",
            "deb %s warty %s" % (URL, ALL)])

    def test_archiveDependencies(self):
        """Another PPA at its pocket's dependencies, its own component;
        the primary default after them."""
        deps = [ArchiveDependency(OTHER_PPA, P.SECURITY, "universe")]
        self.assertEqual(lines(PPA, P.RELEASE, "main", deps), [
            "deb %s warty main" % PPA_URL,
            "deb http://ppa.example/sabdfl/tools/ubuntu warty main universe",
            "deb http://ppa.example/sabdfl/tools/ubuntu warty-security "
            "main universe",
            "deb %s warty %s" % (URL, ALL),
            "deb %s warty-security %s" % (URL, ALL),
            "deb %s warty-updates %s" % (URL, ALL)])

    def test_primaryDependencyOverridesTheDefault(self):
        """A dependency on the primary archive replaces the default one;
        without a component it takes the source's primary component."""
        deps = [ArchiveDependency(PRIMARY, P.SECURITY)]
        self.assertEqual(
            lines(PPA, P.RELEASE, "main", deps, primary_component="main"), [
                "deb %s warty main" % PPA_URL,
                "deb %s warty main" % URL,
                "deb %s warty-security main" % URL])
        # Not in the primary archive: universe, as Launchpad defaults.
        self.assertEqual(lines(PPA, P.RELEASE, "main", deps)[1:], [
            "deb %s warty main universe" % URL,
            "deb %s warty-security main universe" % URL])

    def test_privateArchiveWithoutURL(self):
        nourl = ArchiveSource(2, "ppa", ArchivePurpose.PPA, None)
        e = self.assertRaises(ArchiveDependencyError, lines, nourl,
                              P.RELEASE, "main")
        self.assertEqual(str(e), "archive ppa has no URL for builders")


class ExternalAndKeys(unittest.TestCase):

    def test_externalDependenciesComeSecond(self):
        ppa = ArchiveSource(
            2, "ppa", ArchivePurpose.PPA, PPA_URL,
            external_dependencies=(
                "deb http://ext.example/ubuntu %(series)s main\n\n"
                "deb [trusted=yes] http://ext2.example/ %(series)s-x main\n"))
        self.assertEqual(lines(ppa, P.RELEASE, "main", series="hoary")[:4], [
            "deb %s hoary main" % PPA_URL,
            "deb http://ext.example/ubuntu hoary main",
            "deb [trusted=yes] http://ext2.example/ hoary-x main",
            "deb %s hoary %s" % (URL, ALL)])

    def test_malformedExternalDependency(self):
        for bad, message in [
                ("deb http://x/ %(distro)s main", "bad substitution"),
                ("deb http://x/ %(series main", "bad substitution"),
                ("rm -rf /", "malformed sources.list line"),
                ("deb ftp-nonsense warty main", "malformed sources.list")]:
            ppa = ArchiveSource(2, "ppa", ArchivePurpose.PPA, PPA_URL,
                                external_dependencies=bad)
            e = self.assertRaises(ArchiveDependencyError, lines, ppa,
                                  P.RELEASE, "main")
            self.assertIn(message, str(e), bad)

    def test_trustedKeysOfEveryArchiveListedOnce(self):
        deps = [ArchiveDependency(OTHER_PPA, P.UPDATES, "main")]
        result = sourcesList(PPA, PRIMARY, "warty", P.RELEASE, "main", deps)
        self.assertEqual(result.trusted_keys,
                         ("UFBB", "VE9PTFM=", "UFJJTUFSWQ=="))
        # An archive left out (no binaries) gives no key.
        empty = ArchiveSource(3, "tools", ArchivePurpose.PPA, "http://t/",
                              has_binaries=False, signing_key="VE9PTFM=")
        result = sourcesList(PPA, PRIMARY, "warty", P.RELEASE, "main",
                             [ArchiveDependency(empty, P.RELEASE, "main")])
        self.assertEqual(result.trusted_keys, ("UFBB", "UFJJTUFSWQ=="))
        self.assertEqual(sourcesList(PRIMARY, PRIMARY, "warty", P.RELEASE,
                                     "main", []).trusted_keys,
                         ("UFJJTUFSWQ==",))

    def test_checkSourcesLine(self):
        self.assertEqual(checkSourcesLine("deb http://a/ b c"),
                         "deb http://a/ b c")
        self.assertRaises(ArchiveDependencyError, checkSourcesLine,
                          "deb http://a/")
