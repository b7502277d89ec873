"""The librarian's web server: C{GET /<alias id>/<filename>}.

Content is streamed from the storage backend (L{backends}: a directory or
Swift), which answers Range requests too, with the alias's own content
type. A gzipped text file (a build log) is served with C{Content-Encoding: gzip}
to clients that accept it and decompressed on the fly to others, so a
browser shows it as text.
Restricted files need a token from L{lp_buildmaster.librarian.tokens};
expired aliases are gone. Every failure is a short plain-text answer,
never a traceback. While the database cannot be reached the answer is 503
with C{Retry-After}: a client (a builder's C{ensurepresent}) should try
again, and the master does not count it against that builder.
"""

from twisted.logger import Logger
from twisted.web import resource, server

from lp_buildmaster import failures
from lp_buildmaster.clock import orReactor
from lp_buildmaster.librarian.backends import ContentNotFound, asBackend
from lp_buildmaster.librarian.gunzip import (
    GunzipProducer, acceptsGzip, isGzippedText)
from lp_buildmaster.librarian.ranges import UNSATISFIABLE, normaliseRange
from lp_buildmaster.librarian.tokens import checkToken

#: Seconds a client is asked to wait while the database is away.
RETRY_AFTER = 10


class LibrarianResource(resource.Resource):
    """Serves library files by alias id and file name."""

    isLeaf = True
    log = Logger()

    def __init__(self, store, content_store, secret, clock=None,
                 database=None):
        """
        @param database: the master's L{lp_buildmaster.outage.DatabaseWatch},
            if any: told of database errors, and asked first (while it says
            the database is away, nothing is tried).
        """
        resource.Resource.__init__(self)
        clock = orReactor(clock)
        self.database = database
        self._errors = failures.OncePerChange()
        self.store = store
        self.backend = asBackend(content_store)
        self.secret = secret
        self.clock = clock

    def render_GET(self, request):
        path = request.postpath
        if (len(path) != 2 or not path[0].isdigit() or len(path[0]) > 9
                or not path[1]):
            return self._error(request, 404, "No such file")
        aliasid = int(path[0])
        try:
            filename = path[1].decode("utf-8")
        except UnicodeDecodeError:
            return self._error(request, 404, "No such file")
        if "\0" in filename:
            # PostgreSQL text cannot hold NUL: no stored name has one.
            return self._error(request, 404, "No such file")
        if self.database is not None and not self.database.available:
            return self._unavailable(request)
        gone = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        d = self.store.library.getAlias(aliasid)
        d.addCallback(self._serve, request, filename, gone)
        d.addErrback(self._failed, request, gone)
        return server.NOT_DONE_YET

    render_HEAD = render_GET

    def _refusal(self, alias, request, filename):
        """C{(code, message)} when C{alias} may not be served, else None."""
        if alias is None or alias.filename != filename:
            return 404, "No such file"
        now = self.clock.seconds()
        if alias.expires is not None and alias.expires.timestamp() <= now:
            return 410, "This file has expired"
        if alias.restricted and not checkToken(
                self.secret, alias.id, _arg(request, b"token"),
                _arg(request, b"expires"), now):
            return 403, "This file is restricted: a valid token is needed"
        return None

    def _serve(self, alias, request, filename, gone):
        if gone:
            return
        refusal = self._refusal(alias, request, filename)
        if refusal is not None:
            self._finish(request, self._error(request, *refusal))
            return
        sha1 = alias.sha1.strip()
        try:
            if isGzippedText(alias.filename, alias.mimetype):
                self._serveGzippedText(request, alias, sha1)
                return
            # The size the database records: the same for every backend.
            if not self._checkRange(request, alias.filesize):
                return
            body = self.backend.render(request, sha1, alias.mimetype)
        except ContentNotFound:
            self._missing(request, alias)
            return
        self._finish(request, body)

    def _checkRange(self, request, size):
        """Normalise the Range header (L{normaliseRange}) for the backend;
        answer 416 and return False when it cannot be satisfied."""
        header = request.getHeader(b"range")
        if header is None:
            return True
        ranges = normaliseRange(header, size)
        if ranges is UNSATISFIABLE:
            request.setHeader(b"content-range", b"bytes */%d" % size)
            self._finish(request, self._error(
                request, 416, "Range Not Satisfiable"))
            return False
        if ranges is None:
            request.requestHeaders.removeHeader(b"range")
        else:
            request.requestHeaders.setRawHeaders(b"range", [ranges])
        return True

    def _missing(self, request, alias):
        self.log.error("Content of alias {id} ({sha1}) is missing",
                       id=alias.id, sha1=alias.sha1)
        self._finish(request, self._error(request, 404, "No such file"))

    def _serveGzippedText(self, request, alias, sha1):
        """A build log: the stored gzip with C{Content-Encoding: gzip} to
        a client that accepts it (browsers show it as text), else the
        text decompressed on the fly (no Range then)."""
        request.setHeader(b"vary", b"accept-encoding")
        if acceptsGzip(request):
            if not self._checkRange(request, alias.filesize):
                return
            self._finish(request, self.backend.render(
                request, sha1, "text/plain; charset=utf-8", encoding="gzip"))
            return
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        if request.method == b"HEAD":
            request.finish()
            return

        def done(error=None):
            if error is not None:
                # Headers are out; all we can do is cut the answer short.
                request.loseConnection()
            elif not request.finished:
                request.finish()

        def failed(failure):
            if failure.check(ContentNotFound):
                self._missing(request, alias)
                return
            self.log.error("Cannot open {sha1}: {error}", sha1=sha1,
                           error=failure.getErrorMessage())
            self._finish(request, self._error(
                request, 500, "The librarian could not serve this file"))
        d = self.backend.open(sha1)
        d.addCallbacks(
            lambda f: GunzipProducer(f, request, done=done).start(), failed)

    def _failed(self, failure, request, gone):
        if failures.classify(failure).database:
            if self.database is None or not self.database.check(failure):
                if self._errors.first("db", failures.signature(failure)):
                    self.log.warn("The database is unavailable ({error}): "
                                  "answering 503",
                                  error=failures.describe(failure))
            if not gone and not request.finished:
                self._finish(request, self._unavailable(request))
            return
        if self._errors.first("other", failures.signature(failure)):
            self.log.error("Serving {uri} failed: {error}",
                           uri=request.uri.decode("ascii", "replace"),
                           error=failures.describe(failure))
        if not gone and not request.finished:
            self._finish(request, self._error(
                request, 500, "The librarian could not serve this file"))

    def _unavailable(self, request):
        request.setHeader(b"retry-after", b"%d" % RETRY_AFTER)
        return self._error(request, 503, "The librarian is unavailable for a"
                           " moment: the database cannot be reached")

    @staticmethod
    def _finish(request, body):
        if body is not server.NOT_DONE_YET:
            request.write(body)
            request.finish()

    @staticmethod
    def _error(request, code, message):
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return message.encode("utf-8") + b"\n"


def _arg(request, name):
    """A query argument as str, or None (also when it is not ASCII, as no
    token or expiry is: the file is then refused, never a 500)."""
    values = request.args.get(name)
    if not values:
        return None
    try:
        return values[0].decode("ascii")
    except UnicodeDecodeError:
        return None
