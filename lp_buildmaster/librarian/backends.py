"""Where the librarian keeps file content: backends behind one interface.

A backend stores content under its sha1 (so equal files share it), serves
it over HTTP with Range support, hands it out as an open file, and
deletes it. L{LocalBackend} keeps it in a directory (the default);
L{lp_buildmaster.librarian.swift.SwiftBackend} in an OpenStack Swift
container. The database rows (sha1, sha256, size, aliases, restriction)
are the same whatever the backend.

New content is written, hashed as it goes, to a spool file; C{commit}
moves it into the backend and fires with C{(sha1, sha256, size)}, and only
then is its alias recorded, so a failed file never appears.
"""

import hashlib
import os
import tempfile

from twisted.internet import defer, threads
from twisted.web import static
from zope.interface import Interface, implementer

from lp_buildmaster.librarian.storage import ContentStore


class ContentNotFound(LookupError):
    """The backend holds no content with that sha1."""


class IContentBackend(Interface):
    """Content addressed by sha1."""

    def newFile():
        """A pending file: C{write(bytes)} (synchronous), then C{commit()}
        firing with C{(sha1, sha256, size)}, or C{abort()}."""

    def open(sha1):
        """Fires with an open binary file of the content (the caller
        closes it); fails with L{ContentNotFound}."""

    def render(request, sha1, mimetype, encoding=None):
        """Serve the content as the answer to C{request} (GET or HEAD,
        honouring Range), as C{resource.render} does: bytes or
        C{NOT_DONE_YET}; with C{encoding}, say it as the answer's
        C{Content-Encoding}."""

    def delete(sha1):
        """Fires once the content is gone (gone already is fine)."""

    def exists(sha1):
        """Fires with whether the content is there."""


class SpooledContent:
    """New content in a temporary file, hashed as it is written."""

    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        fd, self.tmppath = tempfile.mkstemp(dir=directory, prefix="new-")
        self.file = os.fdopen(fd, "wb")
        self.sha1 = hashlib.sha1()
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5()
        self.size = 0

    def write(self, data):
        self.file.write(data)
        self.sha1.update(data)
        self.sha256.update(data)
        self.md5.update(data)
        self.size += len(data)

    def close(self):
        if not self.file.closed:
            self.file.close()

    def abort(self):
        self.close()
        try:
            os.unlink(self.tmppath)
        except FileNotFoundError:
            pass


class _LocalPending:
    """A L{ContentStore} file whose commit (fsync, rename) runs in a
    thread."""

    def __init__(self, pending):
        self._pending = pending

    @property
    def size(self):
        return self._pending.size

    def write(self, data):
        self._pending.write(data)

    def commit(self):
        return threads.deferToThread(self._pending.commit)

    def abort(self):
        self._pending.abort()


@implementer(IContentBackend)
class LocalBackend:
    """Content in a directory, one file per sha1 (L{ContentStore})."""

    def __init__(self, root):
        """
        @param root: the directory, or a L{ContentStore} on it.
        """
        self.content = (root if isinstance(root, ContentStore)
                        else ContentStore(root))

    def newFile(self):
        return _LocalPending(self.content.newFile())

    def open(self, sha1):
        try:
            return defer.succeed(open(self.content.path(sha1), "rb"))
        except FileNotFoundError:
            return defer.fail(ContentNotFound(sha1))

    def render(self, request, sha1, mimetype, encoding=None):
        path = self.content.path(sha1)
        if not os.path.isfile(path):
            raise ContentNotFound(sha1)
        content = static.File(str(path))
        content.type, content.encoding = mimetype, encoding
        return content.render(request)

    def delete(self, sha1):
        def remove():
            try:
                os.unlink(self.content.path(sha1))
            except FileNotFoundError:
                pass
        return threads.deferToThread(remove)

    def exists(self, sha1):
        return defer.succeed(self.content.exists(sha1))


def asBackend(content):
    """An L{IContentBackend}: C{content} itself, or a L{LocalBackend} on
    a L{ContentStore}."""
    if IContentBackend.providedBy(content):
        return content
    return LocalBackend(content)


def backendFromConfig(config, state_dir, reactor=None, pool=None):
    """The backend C{[librarian] backend} names."""
    if config.librarian_backend == "swift":
        from lp_buildmaster.librarian.swift import SwiftBackend
        return SwiftBackend(
            config.librarian_swift_auth_url, config.librarian_swift_user,
            config.librarian_swift_key, config.librarian_swift_container,
            spool=os.path.join(str(state_dir), "librarian-spool"),
            reactor=reactor, pool=pool)
    return LocalBackend(os.path.join(str(state_dir), "librarian"))
