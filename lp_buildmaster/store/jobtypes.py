"""The fields of job types other than a binary package build, and
requests for such builds (L{lp_buildmaster.behaviours})."""

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.interfaces import IJobTypeStore
from lp_buildmaster.store import Component
from lp_buildmaster.store.builds import insertRequested

TRANSLATION_TEMPLATES = "translation-templates"


@implementer(IJobTypeStore)
class JobTypeStore(Component):

    @defer.inlineCallbacks
    def translationTemplates(self, build_id):
        """The branch URL of a translation-templates build, or None."""
        row = yield self._one(
            "SELECT branch_url FROM translationtemplatesbuild"
            " WHERE build = %s", (build_id,))
        return None if row is None else row["branch_url"]

    def requestTranslationTemplates(self, distroarchrelease,
                                    sourcepackagerelease, archive, pocket,
                                    branch_url):
        """A new NEEDSBUILD translation-templates build of C{branch_url}
        for a source in a series, with a scored queue entry, in one
        transaction; fires with the build id.

        @raise DuplicateBuild: (in the Deferred) one for the same source,
            architecture, archive and pocket is pending or building.
        """
        @defer.inlineCallbacks
        def request(txn):
            build_id = yield insertRequested(
                txn, distroarchrelease, sourcepackagerelease, archive,
                pocket, TRANSLATION_TEMPLATES)
            yield txn.execute(
                "INSERT INTO translationtemplatesbuild (build, branch_url)"
                " VALUES (%s, %s)", (build_id, branch_url))
            return build_id
        return self.store.runInteraction(request)
