"""The translation-templates build's protocol, run against both builders
the project talks to, as L{tests.builder_scenarios} runs the binary
package build's: the real launchpad-buildd's translation-templates manager
(L{tests.realbuilder}) and the simulator, so that the simulator cannot
drift from the daemon for the second job type either
(L{tests.test_templates_builders} runs it against each).

L{TemplatesScenarios} is a mixin; the test case mixing it in provides what
L{tests.builder_scenarios} lists (C{slave}, C{setOutcome},
C{finishBuild}, C{fetch}) and C{cacheChroot()}: a Deferred of the sha1 of
a chroot in the builder's cache.
"""

import hashlib
import os

from twisted.internet import defer

from lp_buildmaster.behaviours.translationtemplates import (
    TEMPLATES_TARBALL, TranslationTemplatesBuildBehaviour)
from lp_buildmaster.slave import InvalidBuildRequest
from tests.builder_scenarios import BUILDING, COOKIE, IDLE, WAITING

BRANCH = "https://git.example.org/pmount/+git/pmount"


def templatesArgs(**extra):
    """The args the master's translation-templates behaviour sends (see
    TranslationTemplatesBuildBehaviour.composeBuildRequest)."""
    args = {
        "arch_tag": "i386",
        "distribution": "ubuntu",
        "series": "hoary",
        "archive_private": False,
        "archives": ["deb http://ftpmaster.internal/ubuntu hoary main"],
        "trusted_keys": [],
        "build_url": "http://127.0.0.1:8010/builds/1",
        "branch_url": BRANCH,
    }
    args.update(extra)
    return args


class TemplatesScenarios:
    """What both builders do alike with a translation-templates build."""

    @defer.inlineCallbacks
    def startTemplates(self, outcome):
        self.setOutcome(outcome)
        chroot = yield self.cacheChroot()
        started = yield self.slave.build(
            COOKIE, "translation-templates", chroot, {}, templatesArgs())
        self.assertEqual(started, (BUILDING, COOKIE))

    @defer.inlineCallbacks
    def test_templatesOffered(self):
        """OK: the builder offers the templates tarball and nothing else,
        and it is what the master's upload processing accepts (a gzipped
        tar holding .pot files)."""
        yield self.startTemplates("OK")
        status = yield self.finishBuild()
        self.assertEqual((status.builder_status, status.build_status),
                         (WAITING, "BuildStatus.OK"))
        self.assertEqual(list(status.filemap), [TEMPLATES_TARBALL])
        sha1 = status.filemap[TEMPLATES_TARBALL]
        data = yield self.fetch(sha1)
        self.assertEqual(hashlib.sha1(data).hexdigest(), sha1)
        leaf = self.mktemp()
        os.makedirs(leaf)
        with open(os.path.join(leaf, TEMPLATES_TARBALL), "wb") as f:
            f.write(data)
        upload = TranslationTemplatesBuildBehaviour(None).readUpload(leaf)
        self.assertEqual([f.name for f in upload.files], [TEMPLATES_TARBALL])
        self.assertIn("translation templates verified", upload.summary)
        self.assertEqual((yield self.slave.clean()), IDLE)

    @defer.inlineCallbacks
    def test_templatesFailed(self):
        """Generating fails: PACKAGEFAIL, no file offered, a log."""
        yield self.startTemplates("PACKAGEFAIL")
        status = yield self.finishBuild()
        self.assertEqual((status.builder_status, status.build_status),
                         (WAITING, "BuildStatus.PACKAGEFAIL"))
        self.assertFalse(status.filemap)
        self.assertTrue((yield self.fetch("buildlog")))
        self.assertEqual((yield self.slave.clean()), IDLE)

    @defer.inlineCallbacks
    def test_templatesChrootFailed(self):
        """The chroot cannot be unpacked: CHROOTFAIL, no file offered."""
        yield self.startTemplates("CHROOTFAIL")
        status = yield self.finishBuild()
        self.assertEqual((status.builder_status, status.build_status),
                         (WAITING, "BuildStatus.CHROOTFAIL"))
        self.assertFalse(status.filemap)
        self.assertEqual((yield self.slave.clean()), IDLE)

    @defer.inlineCallbacks
    def test_templatesNeverWaitOnDependencies(self):
        """The manager has no dependency wait and never gives back: where
        a binary package build would end DEPFAIL or GIVENBACK (its tools
        cannot be installed), a translation-templates build is
        CHROOTFAIL."""
        for outcome in ("DEPFAIL", "GIVENBACK"):
            yield self.startTemplates(outcome)
            status = yield self.finishBuild()
            self.assertEqual((status.build_status, status.dependencies),
                             ("BuildStatus.CHROOTFAIL", None), outcome)
            self.assertFalse(status.filemap)
            self.assertEqual((yield self.slave.clean()), IDLE)

    @defer.inlineCallbacks
    def test_templatesWithoutBranchNeverSent(self):
        """Without its branch the daemon's manager would raise after
        taking the build and stay BUILDING for ever: the client never
        sends it, and the builder stays IDLE."""
        chroot = yield self.cacheChroot()
        args = templatesArgs()
        del args["branch_url"]
        yield self.assertFailure(self.slave.build(
            COOKIE, "translation-templates", chroot, {}, args),
            InvalidBuildRequest)
        status = yield self.slave.status()
        self.assertEqual(status.builder_status, IDLE)
