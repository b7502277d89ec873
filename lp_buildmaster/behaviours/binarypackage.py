"""C{binarypackage}: a source package built into binary packages (the
seed's job).

The builder is sent the chroot and the source's files (the .dsc among
them) with the archives to install build dependencies from; it answers
with a .changes listing the .debs, .udebs, .ddebs and .buildinfo, which
upload processing checks against the build and records.
"""

from twisted.internet import defer

from lp_buildmaster.behaviours.base import (
    BuildFarmJobBehaviourBase, BuildRequest, StoredFile, VerifiedUpload)
from lp_buildmaster.model.records import DEFAULT_JOB_TYPE
from lp_buildmaster.slave import InvalidBuildRequest
from lp_buildmaster.upload import (
    BINARY_TYPES, UploadRejected, binaryPackages, readUpload)


def buildArgs(build, arch_indep, sources, build_url):
    """The arguments a real builder needs for a binary package build.

    @param sources: the build's L{archivedeps.SourcesList}: its
        sources.list lines and the keys they are signed with.
    """
    return {
        "arch_tag": build.architecturetag,
        "arch_indep": arch_indep,
        "distribution": build.distribution_name,
        "series": build.distrorelease_name,
        "suite": build.suite,
        "ogrecomponent": build.component,
        "archive_purpose": build.archive_purpose.name,
        "archive_private": build.archive_private,
        "archives": list(sources.lines),
        "build_url": build_url,
        "trusted_keys": list(sources.trusted_keys),
    }


class BinaryPackageBuildBehaviour(BuildFarmJobBehaviourBase):
    """IBuildFarmJobBehaviour of a binary package build."""

    #: The default job type; a request takes no option.
    build_type = DEFAULT_JOB_TYPE

    @defer.inlineCallbacks
    def composeBuildRequest(self, job, dispatcher):
        """The chroot, the source's files and L{buildArgs}.

        @raise InvalidBuildRequest: the source has no .dsc, the chroot is
            missing or the archive dependencies are wrong.
        """
        build = job.build
        context = yield self.dispatchContext(job, dispatcher)
        aliases = yield dispatcher.store.library.getAliases(
            (context.chroot,) + context.source_files)
        chroot = aliases[context.chroot]
        # Restricted files get a token; a librarian of its own makes them.
        urls = yield dispatcher.librarian.urlsFor(aliases.values())
        filemap = {}
        files = {chroot.sha1: urls[chroot.id]}
        for alias_id in context.source_files:
            alias = aliases[alias_id]
            filemap[alias.filename] = alias.sha1
            files.setdefault(alias.sha1, urls[alias_id])
        if not any(name.endswith(".dsc") for name in filemap):
            raise InvalidBuildRequest(
                job.builder.name, "%s has no .dsc among its files"
                % build.title)
        sources = yield self.sourcesList(job, dispatcher)
        args = buildArgs(build, context.arch_indep, sources,
                         dispatcher.build_url % build.id)
        return BuildRequest(job.cookie, self.build_type, chroot.sha1,
                            filemap, args, sorted(files.items()))

    def readUpload(self, leafdir):
        """The .changes and every file it lists, verified; the binary
        packages named by the .debs, for the build's architecture or
        C{all}.

        @raise UploadRejected: naming the first problem.
        """
        build = self.build
        upload = readUpload(leafdir)
        if (upload.source, upload.version) != (
                build.source_name, build.source_version):
            raise UploadRejected(
                "the upload is %s %s but build %d is of %s %s" % (
                    upload.source, upload.version, build.id,
                    build.source_name, build.source_version))
        binaries = binaryPackages(upload, build)
        return VerifiedUpload(
            files=tuple(StoredFile(f.name, f.path, f.size, f.filetype,
                                   BINARY_TYPES[f.filetype])
                        for f in upload.files),
            binaries=tuple(binaries), changes=upload.changes,
            summary="%s: Source %s, Version %s, %d files verified" % (
                upload.changes, upload.source, upload.version,
                len(upload.files)))

