"""The translation-templates scenarios (L{tests.templates_scenarios})
against the real launchpad-buildd and against the simulator."""

from twisted.internet import defer

from tests.realbuilder import pollUntil
from tests.simfarm import CHROOT, CHROOT_SHA1, FarmTestCase
from tests.templates_scenarios import TemplatesScenarios
from tests.test_realbuilder import RealBuilderTestCase


class RealBuilderTemplatesTests(TemplatesScenarios, RealBuilderTestCase):
    """Against the daemon's own TranslationTemplatesBuildManager."""

    def cacheChroot(self):
        return defer.succeed(self.builder.putInCache(b"fake chroot\n"))

    def finishBuild(self):
        """Polls until WAITING; the daemon runs in real time."""
        return pollUntil(self.slave.status,
                         lambda s: s.builder_status == "BuilderStatus.WAITING",
                         timeout=20.0, description="WAITING")

    @defer.inlineCallbacks
    def test_templatesOffered(self):
        yield TemplatesScenarios.test_templatesOffered(self)
        # The daemon ran the generator, never sbuild.
        calls = self.builder.calls()
        self.assertIn(["in-target", "generate-translation-templates"],
                      [call[:2] for call in calls])
        self.assertNotIn("sbuild-package", [call[0] for call in calls])


class SimulatorTemplatesTests(TemplatesScenarios, FarmTestCase):
    """Against the simulator."""

    @defer.inlineCallbacks
    def cacheChroot(self):
        ok, info = yield self.slave.ensurepresent(
            CHROOT_SHA1, self.files.add("chroot.tar.gz", CHROOT))
        self.assertTrue(ok, info)
        return CHROOT_SHA1
