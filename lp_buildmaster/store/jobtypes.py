"""The fields of job types other than a binary package build, and
requests for such builds (L{lp_buildmaster.behaviours})."""

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.interfaces import IJobTypeStore
from lp_buildmaster.store import Component
from lp_buildmaster.store.builds import ACTIVE_BUILD_STATES, DuplicateBuild
from lp_buildmaster.store.queue import enqueueScored

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
            # Serialises two requests for one source.
            yield txn.execute(
                "SELECT id FROM sourcepackagerelease WHERE id = %s"
                " FOR UPDATE", (sourcepackagerelease,))
            existing = yield txn.fetchone(
                "SELECT id, buildstate FROM build"
                " WHERE sourcepackagerelease = %s AND distroarchrelease = %s"
                "   AND archive = %s AND pocket = %s AND job_type = %s"
                "   AND buildstate = ANY(%s) ORDER BY id LIMIT 1",
                (sourcepackagerelease, distroarchrelease, archive,
                 pocket.value, TRANSLATION_TEMPLATES,
                 [s.value for s in ACTIVE_BUILD_STATES]))
            if existing is not None:
                raise DuplicateBuild(existing["id"],
                                     BuildStatus(existing["buildstate"]))
            row = yield txn.fetchone(
                "INSERT INTO build (distroarchrelease, sourcepackagerelease,"
                " archive, pocket, buildstate, job_type)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (distroarchrelease, sourcepackagerelease, archive,
                 pocket.value, BuildStatus.NEEDSBUILD.value,
                 TRANSLATION_TEMPLATES))
            yield txn.execute(
                "INSERT INTO translationtemplatesbuild (build, branch_url)"
                " VALUES (%s, %s)", (row["id"], branch_url))
            yield enqueueScored(txn, row["id"])
            return row["id"]
        return self.store.runInteraction(request)
