"""The librarian's API for masters: uploads, downloads and URLs with tokens.

Mounted at C{/+api} beside the public downloads. Every call needs
C{Authorization: Bearer <secret>}, the librarian's secret, which the
masters using it share (C{[librarian] secret_file}):

- C{POST /+api/files?name=N&type=T[&restricted=1][&expires=EPOCH]}, the
  content as the body: 201 with C{{"id", "sha1", "sha256", "size"}};
- C{GET /+api/files/<id>}: the content, restricted or not;
- C{POST /+api/urls} with C{{"ids": [...], "tokens": [...]}}: 200 with
  C{{"urls": {"<id>": url}}}, those in C{tokens} with a download token.

The body of an upload is on disk by the time it is read (twisted.web
spools bodies over 100 kB to a temporary file), and it is copied into the
backend a chunk per cooperative step.
"""

import datetime
import hmac
import json

from twisted.logger import Logger
from twisted.web import resource, server

from lp_buildmaster.librarian.backends import ContentNotFound
from lp_buildmaster.librarian.client import checkAliasFilename

#: The largest list of ids one URL request may ask for.
MAX_IDS = 1000


class BadRequest(ValueError):
    """The caller sent something the API cannot take."""


class LibrarianAPI(resource.Resource):

    isLeaf = True
    log = Logger()

    def __init__(self, client, secret):
        """
        @param client: the L{LibrarianClient} storing into this
            librarian's backend.
        """
        resource.Resource.__init__(self)
        self.client = client
        self.secret = secret.encode("ascii") if isinstance(
            secret, str) else secret

    def render(self, request):
        given = request.getHeader(b"authorization") or b""
        if not hmac.compare_digest(given, b"Bearer " + self.secret):
            return _json(request, 401, {"error": "a valid secret is needed"})
        path = request.postpath
        method = request.method
        try:
            if path == [b"files"] and method == b"POST":
                d = self._upload(request)
            elif (len(path) == 2 and path[0] == b"files"
                  and path[1].isdigit() and method in (b"GET", b"HEAD")):
                d = self._download(request, int(path[1]))
            elif path == [b"urls"] and method == b"POST":
                d = self._urls(request)
            else:
                return _json(request, 404, {"error": "no such call"})
        except BadRequest as e:
            return _json(request, 400, {"error": str(e)})
        d.addErrback(self._failed, request)
        return server.NOT_DONE_YET

    def _upload(self, request):
        name = _arg(request, b"name")
        content_type = _arg(request, b"type") or "application/octet-stream"
        try:
            checkAliasFilename(name)
        except ValueError as e:
            raise BadRequest(str(e))
        restricted = _arg(request, b"restricted") == "1"
        expires = _arg(request, b"expires")
        if expires is not None:
            if not (expires.isdigit() and len(expires) <= 12):
                raise BadRequest("expires must be seconds since the epoch")
            expires = datetime.datetime.fromtimestamp(
                int(expires), datetime.timezone.utc)
        body = request.content
        body.seek(0, 2)
        size = body.tell()
        body.seek(0)
        d = self.client.addFile(name, size, body, content_type,
                                restricted=restricted, expires=expires)
        d.addCallback(self.client.getAlias)
        d.addCallback(lambda alias: _finish(request, _json(
            request, 201, {"id": alias.id, "sha1": alias.sha1.strip(),
                           "sha256": alias.sha256, "size": alias.filesize})))
        return d

    def _download(self, request, aliasid):
        d = self.client.store.library.getAlias(aliasid)

        def serve(alias):
            if alias is None:
                return _finish(request, _json(request, 404,
                                              {"error": "no such file"}))
            body = self.client.backend.render(request, alias.sha1.strip(),
                                              alias.mimetype)
            if body is not server.NOT_DONE_YET:
                _finish(request, body)
        return d.addCallback(serve)

    def _urls(self, request):
        try:
            query = json.loads(request.content.read(1 << 20))
            ids = [int(i) for i in query["ids"]]
            tokens = {int(i) for i in query.get("tokens", ())}
        except (ValueError, KeyError, TypeError) as e:
            raise BadRequest("expected {\"ids\": [...], \"tokens\": [...]}: "
                             "%s" % e)
        if len(ids) > MAX_IDS:
            raise BadRequest("at most %d ids at once" % MAX_IDS)
        d = self.client.store.library.getAliases(ids)

        def answer(aliases):
            missing = sorted(set(ids) - set(aliases))
            if missing:
                return _finish(request, _json(request, 404, {
                    "error": "no such files: %s" % missing}))
            urls = {str(i): self.client.urlFor(aliases[i],
                                               token=i in tokens)
                    for i in ids}
            _finish(request, _json(request, 200, {"urls": urls}))
        return d.addCallback(answer)

    def _failed(self, failure, request):
        if failure.check(ContentNotFound):
            self.log.error("Content missing: {error}",
                           error=failure.getErrorMessage())
            body = _json(request, 404, {"error": "no such file"})
        elif failure.check(ValueError):
            body = _json(request, 400, {"error": failure.getErrorMessage()})
        else:
            self.log.failure("librarian API call {uri} failed", failure,
                             uri=request.uri.decode("ascii", "replace"))
            body = _json(request, 503, {"error": "the librarian could not "
                                                 "do this now"})
        if not request.finished and not request.startedWriting:
            _finish(request, body)


class LibrarianRoot(resource.Resource):
    """Downloads at C{/<id>/<name>}, the API at C{/+api}."""

    def __init__(self, files, api):
        resource.Resource.__init__(self)
        self.files = files
        self.api = api

    def getChild(self, name, request):
        if name == b"+api":
            return self.api
        request.postpath.insert(0, request.prepath.pop())
        return self.files


def _arg(request, name):
    values = request.args.get(name)
    if not values:
        return None
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("%s is not UTF-8" % name.decode("ascii"))


def _json(request, code, value):
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json")
    return json.dumps(value).encode("utf-8")


def _finish(request, body):
    if request.finished or request._disconnected:
        return
    request.write(body)
    request.finish()
