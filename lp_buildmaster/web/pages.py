"""The pages' resources: who may read them, and the log streamed as text.

    /                   builders by processor (counts, queue, wait), the
                        builders, the queue per processor and virtualization,
                        recent builds, the add-a-builder form (admins)
    /builders/<name>    a builder: state, failures, current build with a
                        live log tail, paged history, audit, actions
    /builds             every build, with filters and paging, and the
                        request-a-build form (operators, admins)
    /builds/<id>        a build: state, score, times, log, binaries,
                        upload log, audit, actions; live while it runs
    /builds/<id>/log    its whole log as text, streamed
    /login, /logout     the login form (CSRF protected) and its end

The HTML itself is made by L{lp_buildmaster.web.views} (each page) from
L{lp_buildmaster.web.markup} (the frame, escaping, links, forms) and
L{lp_buildmaster.web.scripts}; the pages use no external assets.
"""

from twisted.internet import defer
from twisted.web import resource, server

from lp_buildmaster import failures
from lp_buildmaster.librarian.gunzip import GunzipProducer
from lp_buildmaster.web.auth import Unauthorized, field
from lp_buildmaster.web.markup import htmlError, loginHTML
from lp_buildmaster.web.respond import (
    NotFound, Unavailable, buildFilters, parseId, respond)
from lp_buildmaster.web.views import (  # noqa: F401 (re-exported)
    FILTERS, builderHTML, buildersTable, buildHTML, buildListHTML,
    buildsTable, dashboardHTML, queueHTML)


def _htmlBody(request, body):
    request.setHeader(b"content-type", b"text/html; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    return body


class _Page(resource.Resource):
    """A page read by whoever the authenticator lets read."""

    isLeaf = True
    depth = 0

    def __init__(self, farm, auth):
        resource.Resource.__init__(self)
        self.farm = farm
        self.auth = auth

    def render_GET(self, request):
        root = "../" * max(len(request.prepath) - 1 + self.extraDepth(
            request), 0)

        def produce():
            d = self.auth.reader(request)
            return d.addCallback(lambda identity: self.produce(request,
                                                               identity))
        return respond(request, produce, _htmlBody,
                       lambda r, c, m: htmlError(r, c, m, root=root))

    def extraDepth(self, request):
        return max(len(request.postpath) - 1, 0)


class DashboardResource(_Page):

    def produce(self, request, identity):
        return self.farm.dashboard().addCallback(dashboardHTML, identity)


#: Builds per page of a listing or a builder's history.
PAGE_SIZE = 25


class BuildPageResource(_Page):
    """C{/builds}, C{/builds/<id>} and C{/builds/<id>/log}."""

    def render_GET(self, request):
        path = request.postpath
        if len(path) == 2 and path[1] == b"log":
            return self._log(request)
        return _Page.render_GET(self, request)

    def produce(self, request, identity):
        path = request.postpath
        if not path or path == [b""]:
            filters = buildFilters(request)
            filters["limit"] = PAGE_SIZE
            return self.farm.builds(**filters).addCallback(
                buildListHTML, filters, PAGE_SIZE, identity)
        if len(path) != 1:
            raise NotFound("no such page")
        build_id = parseId(path[0].decode("utf-8", "replace"))
        return self._build(build_id, identity)

    @defer.inlineCallbacks
    def _build(self, build_id, identity):
        build = yield self.farm.build(build_id)
        if build is None:
            raise NotFound("no build %d" % build_id)
        log = build["log"]
        if build["logtail"] is None and log is not None and (
                identity is not None or not log["restricted"]):
            # Its job is gone: the end of its stored log instead.
            build["logtail"] = yield self.farm.log_tails.get(log["id"])
        audit = yield self.farm.accounts.audit(build=build_id, limit=50)
        files = yield self.farm.binaries(build_id)
        return buildHTML(build, self.farm.now(), identity, audit, files)

    def _log(self, request):
        """The whole log as text, decompressed as it streams from the
        librarian; with a shared librarian, a redirect to it (which
        decompresses for clients that do not take gzip)."""
        root = "../../"
        librarian = self.farm.librarian

        @defer.inlineCallbacks
        def produce():
            identity = yield self.auth.reader(request)
            build_id = parseId(request.postpath[0].decode("utf-8",
                                                          "replace"))
            alias = yield self.farm.logAlias(build_id)
            if alias is None:
                raise NotFound("build %d has no log" % build_id)
            if alias.restricted and identity is None:
                raise Unauthorized("this log is restricted: log in to "
                                   "read it")
            try:
                if self.farm.shared_librarian:
                    url = yield librarian.getURLForAlias(
                        alias.id, token=alias.restricted)
                    return ("redirect", url)
                content = yield librarian.getFileByAlias(alias.id)
            except LookupError:
                raise NotFound("the log file of build %d is missing"
                               % build_id) from None
            except Exception as e:
                if failures.classify(e).database:
                    raise
                raise Unavailable("the librarian cannot be reached (%s)"
                                  % failures.describe(e)) from None
            return ("stream", content)

        def serve(request, found):
            kind, value = found
            request.setHeader(b"cache-control", b"no-store")
            if kind == "redirect":
                request.setResponseCode(303)
                request.setHeader(b"location", value.encode("ascii"))
                return b""
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            if request.method == b"HEAD":
                value.close()
                return b""

            def done(error=None):
                if error is not None:
                    request.loseConnection()
                elif not request.finished:
                    request.finish()
            GunzipProducer(value, request, done=done).start()
            return server.NOT_DONE_YET
        return respond(request, produce, serve,
                       lambda r, c, m: htmlError(r, c, m, root=root))


class BuilderPageResource(_Page):
    """C{/builders/<name>}."""

    def produce(self, request, identity):
        path = request.postpath
        if len(path) != 1 or not path[0]:
            raise NotFound("no such page")
        name = path[0].decode("utf-8", "replace")
        return self._builder(request, name, identity)

    @defer.inlineCallbacks
    def _builder(self, request, name, identity):
        builders = yield self.farm.builders(name)
        if not builders:
            raise NotFound("no builder named %r" % (name,))
        offset = buildFilters(request)["offset"]
        history = yield self.farm.builds(builder=name, limit=PAGE_SIZE,
                                         offset=offset)
        builder_row = yield self.farm.store.builders.getByName(name)
        audit = yield self.farm.accounts.audit(builder=builder_row.id,
                                               limit=50)
        return builderHTML(builders[0], history, offset, PAGE_SIZE, audit,
                           identity)


class LoginResource(resource.Resource):
    """C{/login}: the form (GET) and its check (POST)."""

    isLeaf = True

    def __init__(self, auth):
        resource.Resource.__init__(self)
        self.auth = auth

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        return loginHTML(self.auth.loginFormToken(request))

    def render_POST(self, request):
        name, password = field(request, "name"), field(request, "password")

        def produce():
            return self.auth.login(request, name, password)

        def done(request, account):
            if account is None:
                request.setResponseCode(403)
                return _htmlBody(request, loginHTML(
                    self.auth.loginFormToken(request),
                    "Unknown account or wrong password."))
            request.setResponseCode(303)
            request.setHeader(b"location", b"./")
            return b""
        return respond(request, produce, done, htmlError)


class LogoutResource(resource.Resource):
    """C{/logout} (POST, with the session's CSRF token)."""

    isLeaf = True

    def __init__(self, auth):
        resource.Resource.__init__(self)
        self.auth = auth

    def render_POST(self, request):
        @defer.inlineCallbacks
        def produce():
            identity = yield self.auth.writer(request)
            yield self.auth.logout(request, identity)

        def done(request, _):
            request.setResponseCode(303)
            request.setHeader(b"location", b"./")
            return b""
        return respond(request, produce, done, htmlError)


class NotFoundResource(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setResponseCode(404)
        depth = max(len(request.prepath) - 1, 0)
        return htmlError(request, 404, "No such page.", root="../" * depth)

    def render_POST(self, request):
        return self.render_GET(request)
