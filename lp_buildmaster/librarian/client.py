"""The librarian client: puts files into the content store, records their
aliases, and says where the librarian's web server serves them.

Bytes go through a L{PendingContent}: only complete content is renamed into
place, and only then is its alias recorded, so a failed or aborted file
never appears in the librarian.
"""

from urllib.parse import quote

from twisted.internet import defer, task
from zope.interface import implementer

from lp_buildmaster.clock import orReactor
from lp_buildmaster.interfaces import ILibrarianClient
from lp_buildmaster.librarian.backends import asBackend
from lp_buildmaster.librarian.tokens import makeToken

#: Bytes read from a file per step of the cooperative copy.
CHUNK_SIZE = 64 * 1024


class AliasNotFound(LookupError):
    """No library file alias has that id."""


class SizeMismatch(ValueError):
    """A file's length is not the size its caller announced."""


def checkAliasFilename(name):
    """Refuse what cannot be an alias's file name (the schema's rule)."""
    if not isinstance(name, str) or not name or "/" in name or "\0" in name:
        raise ValueError("not a library file name: %r" % (name,))
    return name


class LibraryFileWriter:
    """New library content of unknown size, written as it arrives.

    L{write} is synchronous: each call hashes and writes one chunk to a
    temporary file. Finish with L{finish} or L{abort}; a write that fails
    (a full disk, say) aborts the file itself.
    """

    def __init__(self, client):
        self._client = client
        self._pending = client.backend.newFile()

    @property
    def size(self):
        """Bytes written so far."""
        return self._pending.size

    def write(self, data):
        try:
            self._pending.write(data)
        except BaseException:
            self.abort()
            raise

    def finish(self, name, contentType, restricted=False, expires=None):
        """Move the content into its backend and record a new alias for
        it (the local backend fsyncs and renames in a thread: on a big
        file that can take a while).

        @return: a Deferred firing with the new alias id.
        """
        try:
            checkAliasFilename(name)
        except ValueError:
            self.abort()
            return defer.fail()
        d = defer.maybeDeferred(self._pending.commit)
        d.addCallback(lambda stored: self._client.store.library.addAlias(
            *stored, name, contentType, restricted=restricted,
            expires=expires))
        return d.addErrback(self._failed)

    def _failed(self, failure):
        self.abort()
        return failure

    def abort(self):
        """Drop what was written; safe to call more than once."""
        self._pending.abort()


class CopyingClient:
    """L{ILibrarianClient.addFile} on top of C{newFile}."""

    def addFile(self, name, size, file, contentType, restricted=False,
                expires=None):
        """Copy C{size} bytes from the file-like C{file} into the
        librarian, a chunk per cooperative step.

        @raise SizeMismatch: (in the Deferred) when C{file} holds more or
            fewer than C{size} bytes; nothing is stored.
        @return: a Deferred firing with the new alias id.
        """
        writer = self.newFile()

        def copy():
            while True:
                data = file.read(CHUNK_SIZE)
                if not data:
                    break
                writer.write(data)
                if writer.size > size:
                    raise SizeMismatch(
                        "%s is longer than the %d bytes announced"
                        % (name, size))
                yield
            if writer.size != size:
                raise SizeMismatch("%s is %d bytes, not the %d announced"
                                   % (name, writer.size, size))

        d = self._cooperate(copy()).whenDone()
        d.addCallback(lambda _: writer.finish(
            name, contentType, restricted=restricted, expires=expires))
        return d.addErrback(writer._failed)

    def urlsFor(self, aliases):
        """Fires with C{{alias id: http_url}} for the L{LibraryFileAlias}
        records C{aliases}, restricted ones with a token."""
        return defer.succeed({alias.id: self.urlFor(
            alias, token=alias.restricted) for alias in aliases})


@implementer(ILibrarianClient)
class LibrarianClient(CopyingClient):
    """Stores files in a backend (by default a L{ContentStore}'s
    directory) and their aliases in the database.

    @ivar base_url: where the librarian's web server is, e.g.
        C{http://localhost:58000}.
    @ivar token_lifetime: seconds a restricted URL's token stays valid.
    """

    def __init__(self, store, content_store, base_url, secret, clock=None,
                 token_lifetime=3600, cooperator=None):
        clock = orReactor(clock)
        self.store = store
        self.backend = asBackend(content_store)
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.clock = clock
        self.token_lifetime = token_lifetime
        self._cooperate = (cooperator or task).cooperate

    def newFile(self):
        """A L{LibraryFileWriter} for content of unknown size."""
        return LibraryFileWriter(self)

    @defer.inlineCallbacks
    def getAlias(self, aliasid):
        """The L{LibraryFileAlias} record of C{aliasid}.

        @raise AliasNotFound: there is none.
        """
        alias = yield self.store.library.getAlias(aliasid)
        if alias is None:
            raise AliasNotFound("no library file alias %r" % (aliasid,))
        return alias

    @defer.inlineCallbacks
    def getFileByAlias(self, aliasid):
        """Fires with the alias's content as an open binary file, which the
        caller closes."""
        alias = yield self.getAlias(aliasid)
        content = yield self.backend.open(alias.sha1.strip())
        return content

    def urlFor(self, alias, token=False):
        """The http_url of a L{LibraryFileAlias} record.

        @param token: append a token (and its expiry) that lets a
            restricted file be downloaded for C{token_lifetime} seconds.
        """
        url = "%s/%d/%s" % (self.base_url, alias.id, quote(alias.filename))
        if token:
            expires = int(self.clock.seconds()) + self.token_lifetime
            url += "?token=%s&expires=%d" % (
                makeToken(self.secret, alias.id, expires), expires)
        return url

    def getURLForAlias(self, aliasid, token=False):
        """Fires with the http_url of C{aliasid} (see L{urlFor})."""
        return self.getAlias(aliasid).addCallback(self.urlFor, token=token)
