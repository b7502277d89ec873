"""Adding a job type is registering one adapter, for requesting builds
too: a test-only job type, registered here and withdrawn after, is
requested through L{operations.requestBuild} (what C{buildmaster-admin
build request} and the API run) on the real store, with its own option,
checks and messages, and nothing in operations.py names it.
"""

import types

from twisted.internet import defer
from twisted.trial import unittest

from lp_buildmaster import components, operations
from lp_buildmaster.behaviours import BuildFarmJobBehaviourBase
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.interfaces import IBuildFarmJobBehaviour
from lp_buildmaster.operations import Refused
from lp_buildmaster.refusals import Refused as RefusedBelow
from tests.database import DatabaseTestCase
from tests.test_web_actions import ActionTestCase

#: pmount 0.1-1 is published in ubuntu hoary RELEASE.
WHERE = "ubuntu hoary RELEASE (archive primary)"


class RecipeBehaviour(BuildFarmJobBehaviourBase):
    """A job type of the test only: a request names a recipe (which must
    start with C{~}), and the build has no fields of its own."""

    build_type = "test-recipe"
    request_options = {"recipe": True}
    #: The options each request was made with.
    requested = []

    @classmethod
    def checkRequest(cls, options):
        super().checkRequest(options)
        if not options["recipe"].startswith("~"):
            raise Refused("recipe %r must start with ~"
                          % (options["recipe"],))
        return options

    @classmethod
    def request(cls, store, dar, spr, archive, pocket, options):
        cls.requested.append(options)
        return super().request(store, dar, spr, archive, pocket, options)


def args(**values):
    """A C{build request}'s arguments, as the CLI parses them."""
    request = dict(distribution="ubuntu", series="hoary", arch="i386",
                   source="pmount", version="0.1-1", pocket="release",
                   archive="primary", job_type=None, branch=None)
    request.update(values)
    return types.SimpleNamespace(**request)


class ThirdJobTypeTests(DatabaseTestCase):

    def register(self):
        RecipeBehaviour.requested = []
        components.registerJobType(RecipeBehaviour)
        self.addCleanup(components.unregisterJobType, RecipeBehaviour)

    def test_refusedIsOneClass(self):
        """Behaviours raise the operations' Refused (it lives below)."""
        self.assertIs(Refused, RefusedBelow)

    @defer.inlineCallbacks
    def assertRefused(self, message, request):
        before = yield self.store.runQuery("SELECT count(*) FROM build")
        e = yield self.assertFailure(
            operations.requestBuild(self.store, request), Refused)
        self.assertEqual(str(e), message)
        after = yield self.store.runQuery("SELECT count(*) FROM build")
        self.assertEqual(after, before)

    @defer.inlineCallbacks
    def test_unregisteredTypeIsRefused(self):
        yield self.assertRefused(
            "job type 'test-recipe' cannot be requested; choose one of "
            "binarypackage, translation-templates",
            args(job_type="test-recipe", recipe="~team/pmount"))

    def test_registeredTypeIsListed(self):
        self.register()
        self.assertEqual(list(operations.jobTypes()), [
            "binarypackage", "test-recipe", "translation-templates"])
        self.assertIs(operations.jobTypes()["test-recipe"], RecipeBehaviour)
        self.assertEqual(operations.requestOptionNames(),
                         ["branch", "recipe"])

    @defer.inlineCallbacks
    def test_requestThroughOperations(self):
        self.register()
        build_id = yield operations.requestBuild(
            self.store, args(job_type="test-recipe", recipe="~team/pmount"))
        self.assertEqual(RecipeBehaviour.requested,
                         [{"recipe": "~team/pmount"}])
        build = yield self.store.builds.get(build_id)
        self.assertEqual((build.job_type, build.buildstate),
                         ("test-recipe", BuildStatus.NEEDSBUILD))
        self.assertEqual(build.title, "i386 test-recipe build of pmount "
                         "0.1-1 in ubuntu hoary RELEASE")
        self.assertIsNotNone((yield self.store.queue.getByBuild(build_id)))
        self.assertIsInstance(IBuildFarmJobBehaviour(build),
                              RecipeBehaviour)
        # Its duplicate is named by its type; another type is no
        # duplicate of it.
        yield self.assertRefused(
            "test-recipe build %d of pmount 0.1-1 for i386 in %s is "
            "NEEDSBUILD already" % (build_id, WHERE),
            args(job_type="test-recipe", recipe="~team/pmount"))
        other = yield operations.requestBuild(self.store, args(
            job_type="translation-templates",
            branch="https://git.example.org/pmount"))
        self.assertEqual((yield self.store.builds.get(other)).job_type,
                         "translation-templates")

    @defer.inlineCallbacks
    def test_itsRefusals(self):
        self.register()
        yield self.assertRefused(
            "a test-recipe build needs a recipe",
            args(job_type="test-recipe"))
        yield self.assertRefused(
            "recipe 'team/pmount' must start with ~",
            args(job_type="test-recipe", recipe="team/pmount"))
        yield self.assertRefused(
            "only a test-recipe build takes a recipe",
            args(recipe="~team/pmount"))
        yield self.assertRefused(
            "only a translation-templates build takes a branch",
            args(job_type="test-recipe", recipe="~team/pmount",
                 branch="https://git.example.org/pmount"))
        self.assertEqual(RecipeBehaviour.requested, [])

    @defer.inlineCallbacks
    def test_withdrawnTypeIsRefusedAgain(self):
        self.register()
        components.unregisterJobType(RecipeBehaviour)
        self.assertNotIn("test-recipe", operations.jobTypes())
        yield self.assertRefused(
            "job type 'test-recipe' cannot be requested; choose one of "
            "binarypackage, translation-templates",
            args(job_type="test-recipe", recipe="~team/pmount"))


class ThirdJobTypeAPITests(ActionTestCase):
    """POST /api/builds takes the registered types' options by name: the
    test-only type with its C{recipe}, api.py and actions.py untouched."""

    @defer.inlineCallbacks
    def test_requestThroughTheAPI(self):
        RecipeBehaviour.requested = []
        components.registerJobType(RecipeBehaviour)
        self.addCleanup(components.unregisterJobType, RecipeBehaviour)
        olga = self.tokens["olga"]
        body = {"distribution": "ubuntu", "series": "hoary", "arch": "i386",
                "source": "pmount", "version": "0.1-1",
                "job_type": "test-recipe"}
        error = yield self.call("POST", "/api/builds", body, token=olga,
                                code=400)
        self.assertEqual(error["error"], "a test-recipe build needs a recipe")
        build = yield self.call("POST", "/api/builds",
                                dict(body, recipe="~team/pmount"),
                                token=olga, code=201)
        self.assertEqual((build["job_type"], build["state"]),
                         ("test-recipe", "NEEDSBUILD"))
        self.assertEqual(RecipeBehaviour.requested,
                         [{"recipe": "~team/pmount"}])
        audit = yield self.call("GET", "/api/audit?build=%d" % build["id"])
        self.assertEqual([(a["action"], a["detail"]) for a in audit], [
            ("build request", "test-recipe of pmount 0.1-1 ubuntu hoary "
             "i386 (release, primary) from ~team/pmount")])


class DefaultJobTypeTests(unittest.TestCase):

    def test_defaultFirst(self):
        """The default job type leads the list (the form's first choice,
        what a request without a type gets)."""
        self.assertEqual(list(operations.jobTypes())[0], "binarypackage")
