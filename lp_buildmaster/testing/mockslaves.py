"""The seed's mock slaves, speaking L{ISlave} like L{BuilderSlave} does.

Each mock answers C{status()} with the seed's tuple, normalised exactly as a
real reply would be, records every call in C{calls}, and when C{verbose}
prints what the seed's doctest prints ('ensurepresent called', 'OkSlave
BUILDING', 'Rescuing SaneSlave').
"""

import hashlib
import os

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.interfaces import ISlave
from lp_buildmaster.slave import (
    SlaveChecksumMismatch, SlaveFault, SlaveHTTPError, normaliseStatus,
    validateFilename)

BUILDLOG = b"This is a build log"


@implementer(ISlave)
class MockSlave:
    """A builder that always says the same thing.

    Subclasses set C{reply}, the seed's status tuple, with C{'%(cookie)s'}
    where the cookie goes, and C{default_cookie}.

    @ivar calls: C{(method, args)} for every call, in order.
    @ivar files: C{{name: bytes}} served by getFile and fetchFile.
    """

    reply = ("BuilderStatus.IDLE",)
    default_cookie = None
    #: Printed by clean() and abort(), which only a rescue calls.
    rescue_message = None

    def __init__(self, name="mock", url="http://fake:0000/", cookie=None,
                 verbose=False, files=None):
        self.name = name
        self.url = url
        self.cookie = cookie if cookie is not None else self.default_cookie
        self.verbose = verbose
        self.files = dict(files or {})
        self.calls = []

    def __repr__(self):
        return "<%s %r>" % (type(self).__name__, self.name)

    def _record(self, method, *args):
        self.calls.append((method, args))

    def _say(self, text):
        if self.verbose:
            print(text)

    def statusReply(self):
        """The seed's tuple for this slave."""
        return tuple(
            f % {"cookie": self.cookie} if isinstance(f, str) else f
            for f in self.reply)

    def echo(self, *args):
        self._record("echo", *args)
        return defer.succeed(list(args))

    def info(self):
        self._record("info")
        return defer.succeed(["1.0", "i386", ["binarypackage"]])

    def status(self):
        self._record("status")
        return defer.maybeDeferred(
            normaliseStatus, self.statusReply(), self.name)

    def ensurepresent(self, sha1, url, username=None, password=None):
        self._record("ensurepresent", sha1, url, username, password)
        return defer.succeed((True, "Cache"))

    def build(self, cookie, build_type, chroot_sha1, filemap, args):
        self._record("build", cookie, build_type, chroot_sha1, filemap, args)
        return defer.succeed(("BuilderStatus.BUILDING", cookie))

    def abort(self):
        self._record("abort")
        if self.rescue_message:
            self._say(self.rescue_message)
        return defer.succeed("BuilderStatus.ABORTING")

    def clean(self):
        self._record("clean")
        if self.rescue_message:
            self._say(self.rescue_message)
        return defer.succeed("BuilderStatus.IDLE")

    def getFile(self, name, sink, max_size=None):
        self._record("getFile", name)
        if name not in self.files:
            return defer.fail(SlaveHTTPError(self.name, 404, "Not Found"))
        sink.write(self.files[name])
        return defer.succeed(len(self.files[name]))

    def fetchFile(self, sha1, destdir, filename, max_size=None):
        self._record("fetchFile", sha1, destdir, filename)
        try:
            validateFilename(filename, self.name)
            if sha1 not in self.files:
                raise SlaveHTTPError(self.name, 404, "Not Found")
            if hashlib.sha1(self.files[sha1]).hexdigest() != sha1:
                raise SlaveChecksumMismatch(self.name, "%s mismatch" % sha1)
        except Exception:
            return defer.fail()
        path = os.path.join(destdir, filename)
        with open(path, "wb") as f:
            f.write(self.files[sha1])
        return defer.succeed(path)


class _LogServingSlave(MockSlave):
    """Serves the seed's build log as C{buildlog}."""

    def __init__(self, *args, **kwargs):
        MockSlave.__init__(self, *args, **kwargs)
        self.files.setdefault("buildlog", BUILDLOG)


class SaneBuildingSlave(MockSlave):
    """BUILDING a job that exists (Build 8, BuildQueue 1)."""

    reply = ("BuilderStatus.BUILDING", "%(cookie)s")
    default_cookie = "8-1"
    rescue_message = "Rescuing SaneSlave"


class SaneWaitingSlave(SaneBuildingSlave):
    """WAITING with a job that exists."""

    reply = ("BuilderStatus.WAITING", "BuildStatus.OK", "%(cookie)s")


class MismatchedWaitingSlave(SaneWaitingSlave):
    """WAITING with a Build and a BuildQueue that do not belong together."""

    default_cookie = "7-1"
    rescue_message = None


class LostBuildingSlave(MockSlave):
    """BUILDING a job the database has never heard of."""

    reply = ("BuilderStatus.BUILDING", "%(cookie)s")
    default_cookie = "1000-10000"


class LostWaitingSlave(LostBuildingSlave):
    """WAITING with a job the database has never heard of."""

    reply = ("BuilderStatus.WAITING", "BuildStatus.OK", "%(cookie)s")


class BrokenSlave(MockSlave):
    """Every status() is a Fault."""

    def status(self):
        self._record("status")
        return defer.fail(SlaveFault(self.name, 8001, "Broken slave"))


class OkSlave(MockSlave):
    """IDLE, has every file, and starts any build."""

    def ensurepresent(self, sha1, url, username=None, password=None):
        self._say("ensurepresent called")
        return MockSlave.ensurepresent(self, sha1, url, username, password)

    def build(self, cookie, build_type, chroot_sha1, filemap, args):
        self._say("OkSlave BUILDING")
        return MockSlave.build(
            self, cookie, build_type, chroot_sha1, filemap, args)


class BuildingSlave(_LogServingSlave):
    """BUILDING, with a log tail."""

    reply = ("BuilderStatus.BUILDING", "%(cookie)s", BUILDLOG.decode())
    default_cookie = "1-1"


class AbortedSlave(MockSlave):
    """ABORTED (the seed's daemon had that builder status)."""

    reply = ("BuilderStatus.ABORTED", "%(cookie)s")
    default_cookie = "1-1"


class AbortingSlave(AbortedSlave):
    """ABORTING: still killing its build."""

    reply = ("BuilderStatus.ABORTING", "%(cookie)s")


class WaitingSlave(_LogServingSlave):
    """WAITING with a finished build in C{state}, e.g. C{'BuildStatus.OK'}.

    @param filemap: C{{filename: sha1}} of its results (default: none).
    """

    default_cookie = "1-1"

    def __init__(self, state, dependencies=None, cookie=None, filemap=None,
                 **kwargs):
        _LogServingSlave.__init__(self, cookie=cookie, **kwargs)
        self.state = state
        self.dependencies = dependencies
        self.filemap = dict(filemap or {})

    @classmethod
    def withFiles(cls, state, contents, **kwargs):
        """A WaitingSlave whose filemap serves C{contents}, a
        C{{filename: bytes}}."""
        filemap = {name: hashlib.sha1(data).hexdigest()
                   for name, data in contents.items()}
        files = {filemap[name]: data for name, data in contents.items()}
        return cls(state, filemap=filemap, files=files, **kwargs)

    def statusReply(self):
        return ("BuilderStatus.WAITING", self.state, self.cookie,
                self.filemap, self.dependencies)
