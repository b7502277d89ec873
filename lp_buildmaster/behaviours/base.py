"""What every job type shares: the build() request, the verified upload,
and the base class of the behaviours."""

import dataclasses
import time
from pathlib import Path
from typing import Optional, Tuple

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.interfaces import IBuildFarmJobBehaviour
from lp_buildmaster.model import archivedeps
from lp_buildmaster.refusals import Refused
from lp_buildmaster.slave import InvalidBuildRequest


@dataclasses.dataclass(frozen=True)
class BuildRequest:
    """A build() request and the files to ensure first, as
    C{files}: C{[(sha1, url)]}. Iterating gives build()'s arguments."""

    cookie: str
    build_type: str
    chroot_sha1: str
    filemap: dict
    args: dict
    files: list

    def __iter__(self):
        return iter((self.cookie, self.build_type, self.chroot_sha1,
                     self.filemap, self.args))


@dataclasses.dataclass(frozen=True)
class StoredFile:
    """A file of a verified upload, to store in the librarian and record
    as one of the build's files (C{filetype})."""

    name: str
    path: Path
    size: int
    filetype: str
    content_type: str


@dataclasses.dataclass(frozen=True)
class VerifiedUpload:
    """What L{IBuildFarmJobBehaviour.readUpload} found in a leaf.

    @ivar files: the L{StoredFile}s, in the order to store them.
    @ivar binaries: the binary packages to record (a binarypackage build's).
    @ivar changes: the name of the upload's C{.changes} to store and link,
        or None.
    @ivar summary: one line for the upload's log.
    """

    files: Tuple[StoredFile, ...]
    binaries: tuple = ()
    changes: Optional[str] = None
    summary: str = ""


@implementer(IBuildFarmJobBehaviour)
class BuildFarmJobBehaviourBase:
    """A behaviour adapted from a build; subclasses set C{build_type} and
    compose the request and check the upload of their type.

    Requesting a build of the type asks the class (no build exists yet):
    L{request_options} names what a request takes, L{checkRequest}
    checks it and L{request} makes the build.
    """

    build_type = None
    #: The options a request of this type takes, by name (an attribute of
    #: the request's arguments: a CLI option, an API field): True if it is
    #: required. None but these may be given.
    request_options = {}

    def __init__(self, build):
        self.build = build

    @classmethod
    def checkRequest(cls, options):
        """Check a request's C{options} (each of L{request_options}, None
        when not given) before anything is looked up: here, that each
        required one is given (not empty); a subclass checks their values
        too.

        @raise Refused: naming what is wrong, in one line.
        """
        for name, required in cls.request_options.items():
            if required and not options.get(name):
                raise Refused("a %s build needs a %s"
                              % (cls.build_type, name))
        return options

    @classmethod
    def request(cls, store, dar, spr, archive, pocket, options):
        """A new NEEDSBUILD build of this type of the source C{spr} for
        the architecture C{dar} in C{archive}'s C{pocket}, queued with
        its score; fires with its id. Here, a type with no fields of its
        own: C{store.builds.request}.

        @param options: the checked L{request_options}.
        @raise DuplicateBuild: (in the Deferred) one of the same type is
            pending or building there already.
        """
        return store.builds.request(dar.id, spr.id, archive.id, pocket,
                                    job_type=cls.build_type)

    def composeBuildRequest(self, job, dispatcher):
        """Abstract: every job type composes its own L{BuildRequest}."""
        raise NotImplementedError(self.composeBuildRequest)

    def readUpload(self, leafdir):
        """Abstract: every job type checks its own upload, returning a
        L{VerifiedUpload}."""
        raise NotImplementedError(self.readUpload)

    def verifySuccessfulBuild(self, filemap, builder_name):
        return dict(filemap)

    def getUploadDirLeaf(self, cookie, now):
        """C{<YYYYmmdd-HHMMSS>-<cookie>}, in UTC: leaves sort by when they
        were grabbed, and the cookie names the build."""
        return "%s-%s" % (time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)),
                          cookie)

    @defer.inlineCallbacks
    def dispatchContext(self, job, dispatcher):
        """The build's L{lp_buildmaster.store.dispatch.DispatchContext}:
        its chroot, arch-indep flag and source files.

        @raise InvalidBuildRequest: no chroot for the build's pocket.
        """
        build = job.build
        context = yield dispatcher.store.dispatch.context(
            build.id, build.sourcepackagerelease)
        if context.chroot is None:
            raise InvalidBuildRequest(
                job.builder.name, "no chroot for %s %s"
                % (build.title, build.pocket.name))
        return context

    @defer.inlineCallbacks
    def sourcesList(self, job, dispatcher):
        """The build's L{archivedeps.SourcesList}: the sources.list lines
        and keys of its archive and the archives it depends on.

        @raise InvalidBuildRequest: its archive dependencies are wrong.
        """
        build = job.build
        archive, primary, dependencies, primary_component = (
            yield dispatcher.store.world.sourcesContext(
                build, dispatcher.archive_url))
        try:
            return archivedeps.sourcesList(
                archive, primary, build.distrorelease_name, build.pocket,
                build.component, dependencies, primary_component)
        except archivedeps.ArchiveDependencyError as e:
            raise InvalidBuildRequest(job.builder.name, "%s: %s"
                                      % (build.title, e))
