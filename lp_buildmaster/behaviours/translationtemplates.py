"""C{translation-templates}: the translation templates (.pot files) of a
branch, generated on a builder.

The builder is sent the chroot of the build's series and the branch's URL
(C{branch_url}); launchpad-buildd's TranslationTemplatesBuildManager runs
C{generate-translation-templates} and offers the templates as one
tarball, L{TEMPLATES_TARBALL} (its C{resultarchive}). Collection fetches
that tarball only; upload processing checks that it is a gzipped tar
holding at least one template and stores it as the build's file.
"""

import os
import tarfile
from pathlib import Path

from twisted.internet import defer

from lp_buildmaster.behaviours.base import (
    BuildFarmJobBehaviourBase, BuildRequest, StoredFile, VerifiedUpload)
from lp_buildmaster.refusals import checkBranchURL
from lp_buildmaster.slave import InvalidBuildRequest
from lp_buildmaster.upload import UploadRejected
from lp_buildmaster.upload.changes import regularFile

#: The result launchpad-buildd's manager offers (its resultarchive).
TEMPLATES_TARBALL = "translation-templates.tar.gz"
#: Members read at most when checking a tarball: a builder cannot make
#: upload processing walk an endless archive.
MAX_MEMBERS = 10000


class TranslationTemplatesBuildBehaviour(BuildFarmJobBehaviourBase):
    """IBuildFarmJobBehaviour of a translation-templates build."""

    build_type = "translation-templates"
    #: The branch whose templates are generated.
    request_options = {"branch": True}

    @classmethod
    def checkRequest(cls, options):
        """The branch is required, and must be a URL a builder clones
        (L{checkBranchURL}).

        @raise Refused: naming what is wrong.
        """
        super().checkRequest(options)
        checkBranchURL(options["branch"])
        return options

    @classmethod
    def request(cls, store, dar, spr, archive, pocket, options):
        """The build and its branch (C{translationtemplatesbuild}), in
        one transaction; fires with the build id."""
        return store.jobtypes.requestTranslationTemplates(
            dar.id, spr.id, archive.id, pocket, options["branch"])

    @defer.inlineCallbacks
    def composeBuildRequest(self, job, dispatcher):
        """The chroot and C{branch_url}; no other file.

        @raise InvalidBuildRequest: the chroot or the branch is missing.
        """
        build = job.build
        branch_url = yield dispatcher.store.jobtypes.translationTemplates(
            build.id)
        if not branch_url:
            raise InvalidBuildRequest(
                job.builder.name, "%s has no branch" % build.title)
        context = yield self.dispatchContext(job, dispatcher)
        aliases = yield dispatcher.store.library.getAliases(
            (context.chroot,))
        chroot = aliases[context.chroot]
        urls = yield dispatcher.librarian.urlsFor([chroot])
        sources = yield self.sourcesList(job, dispatcher)
        args = {
            "arch_tag": build.architecturetag,
            "distribution": build.distribution_name,
            "series": build.distrorelease_name,
            "archive_private": build.archive_private,
            "archives": list(sources.lines),
            "trusted_keys": list(sources.trusted_keys),
            "build_url": dispatcher.build_url % build.id,
            "branch_url": branch_url,
        }
        return BuildRequest(job.cookie, self.build_type, chroot.sha1, {},
                            args, [(chroot.sha1, urls[chroot.id])])

    def verifySuccessfulBuild(self, filemap, builder_name):
        """Only the tarball is fetched (a missing one is rejected by
        upload processing)."""
        return {name: sha1 for name, sha1 in filemap.items()
                if name == TEMPLATES_TARBALL}

    def readUpload(self, leafdir):
        """The tarball, which must be a gzipped tar holding a .pot file.

        @raise UploadRejected: it is missing, or not such a tarball.
        """
        st = regularFile(leafdir, TEMPLATES_TARBALL)
        path = os.path.join(leafdir, TEMPLATES_TARBALL)
        templates = 0
        try:
            # A stream: members are read one by one, never all at once.
            with tarfile.open(path, mode="r|gz") as tar:
                for count, member in enumerate(tar, 1):
                    if count > MAX_MEMBERS:
                        raise UploadRejected(
                            "%s holds more than %d members"
                            % (TEMPLATES_TARBALL, MAX_MEMBERS))
                    if member.isfile() and member.name.endswith(".pot"):
                        templates += 1
        except (tarfile.TarError, OSError, EOFError) as e:
            raise UploadRejected("%s is not a gzipped tarball: %s"
                                 % (TEMPLATES_TARBALL, e)) from None
        if not templates:
            raise UploadRejected("%s holds no translation template (.pot)"
                                 % TEMPLATES_TARBALL)
        return VerifiedUpload(
            files=(StoredFile(TEMPLATES_TARBALL,
                              Path(leafdir) / TEMPLATES_TARBALL, st.st_size,
                              "tar.gz", "application/x-gtar"),),
            summary="%s: %d translation templates verified"
                    % (TEMPLATES_TARBALL, templates))
