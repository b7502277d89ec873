"""L{ILibrarianClient} over HTTP, for masters using a librarian that runs on
its own (C{twistd -n librarian}, C{[librarian] url}).

Uploads are spooled to a local file while they are written (the callers
write synchronously, chunk by chunk), then sent in one POST streamed from
that file. Downloads stream into a temporary file. URLs, with tokens for
restricted files, come from the librarian, which alone mints them.
"""

import json
import os
import tempfile
from urllib.parse import urlencode

import treq
from twisted.internet import defer, task
from twisted.web.client import FileBodyProducer
from zope.interface import implementer

from lp_buildmaster.clock import orReactor
from lp_buildmaster.interfaces import ILibrarianClient
from lp_buildmaster.librarian.backends import SpooledContent
from lp_buildmaster.librarian.client import (
    AliasNotFound, CopyingClient, checkAliasFilename)

#: Seconds a call to the librarian may take.
TIMEOUT = 300


class LibrarianUnavailable(Exception):
    """The librarian did not do what was asked (it is down, or refused)."""


class _RemoteWriter:
    def __init__(self, client):
        self._client = client
        self._spool = SpooledContent(client.spool)

    @property
    def size(self):
        return self._spool.size

    def write(self, data):
        try:
            self._spool.write(data)
        except BaseException:
            self.abort()
            raise

    def finish(self, name, contentType, restricted=False, expires=None):
        try:
            checkAliasFilename(name)
        except ValueError:
            self.abort()
            return defer.fail()
        self._spool.close()
        d = self._client._upload(self._spool, name, contentType, restricted,
                                 expires)
        d.addBoth(lambda result: (self.abort(), result)[1])
        return d

    def _failed(self, failure):
        self.abort()
        return failure

    def abort(self):
        self._spool.abort()


@implementer(ILibrarianClient)
class RemoteLibrarianClient(CopyingClient):
    """Talks to the librarian at C{base_url} with its C{secret}."""

    def __init__(self, base_url, secret, spool, reactor=None, pool=None,
                 cooperator=None):
        reactor = orReactor(reactor)
        self.base_url = base_url.rstrip("/")
        self.secret = secret.decode("ascii") if isinstance(
            secret, bytes) else secret
        self.spool = str(spool)
        self.reactor = reactor
        self.pool = pool
        self._cooperate = (cooperator or task).cooperate

    def _headers(self):
        return {"Authorization": "Bearer " + self.secret}

    def newFile(self):
        """A writer for content of unknown size (see L{ILibrarianClient})."""
        return _RemoteWriter(self)

    @defer.inlineCallbacks
    def _upload(self, spool, name, contentType, restricted, expires):
        query = {"name": name, "type": contentType}
        if restricted:
            query["restricted"] = "1"
        if expires is not None:
            query["expires"] = str(int(expires.timestamp()))
        headers = self._headers()
        with open(spool.tmppath, "rb") as body:
            response = yield treq.post(
                "%s/+api/files?%s" % (self.base_url, urlencode(query)),
                data=FileBodyProducer(body), headers=headers,
                pool=self.pool, reactor=self.reactor, timeout=TIMEOUT)
            answer = yield self._json(response, "storing %s" % name)
        if (answer.get("sha1") != spool.sha1.hexdigest()
                or answer.get("size") != spool.size):
            raise LibrarianUnavailable(
                "the librarian stored %s as %r, not as sent" % (name, answer))
        return answer["id"]

    @defer.inlineCallbacks
    def _json(self, response, what):
        body = yield treq.content(response)
        if response.code == 404:
            raise AliasNotFound("%s: %s" % (what, body[:200].decode(
                "utf-8", "replace")))
        if response.code // 100 != 2:
            raise LibrarianUnavailable("%s: the librarian answered HTTP %d: "
                                       "%s" % (what, response.code,
                                               body[:200].decode(
                                                   "utf-8", "replace")))
        return json.loads(body)

    @defer.inlineCallbacks
    def getFileByAlias(self, aliasid):
        """Fires with the alias's content in an open temporary file."""
        response = yield treq.get(
            "%s/+api/files/%d" % (self.base_url, aliasid),
            headers=self._headers(), pool=self.pool, reactor=self.reactor,
            timeout=TIMEOUT, unbuffered=True)
        if response.code != 200:
            yield self._json(response, "reading library file %d" % aliasid)
        os.makedirs(self.spool, exist_ok=True)
        copy = tempfile.TemporaryFile(dir=self.spool)
        try:
            yield treq.collect(response, copy.write)
        except BaseException:
            copy.close()
            raise
        copy.seek(0)
        return copy

    @defer.inlineCallbacks
    def _urls(self, ids, tokens):
        response = yield treq.post(
            "%s/+api/urls" % self.base_url,
            data=json.dumps({"ids": sorted(ids),
                             "tokens": sorted(tokens)}).encode("utf-8"),
            headers=self._headers(), pool=self.pool, reactor=self.reactor,
            timeout=TIMEOUT)
        answer = yield self._json(response, "URLs of %s" % sorted(ids))
        return {int(i): url for i, url in answer["urls"].items()}

    def getURLForAlias(self, aliasid, token=False):
        d = self._urls([aliasid], [aliasid] if token else [])
        return d.addCallback(lambda urls: urls[aliasid])

    def urlsFor(self, aliases):
        """C{{alias id: http_url}}, restricted ones with a token, in one
        call."""
        aliases = list(aliases)
        return self._urls([a.id for a in aliases],
                          [a.id for a in aliases if a.restricted])
