"""The JSON API under C{/api/}: reads, and the actions of
L{lp_buildmaster.actions}.

Times are ISO 8601 strings in UTC, durations seconds. A bad parameter is
a 400 and an unknown thing a 404, both with a body C{{"error": "..."}}
(L{lp_buildmaster.web.respond}). The README lists every endpoint.
"""

from urllib.parse import quote

from twisted.internet import defer
from twisted.web import resource

from lp_buildmaster import operations
from lp_buildmaster.actions import Actions
from lp_buildmaster.store.accounts import AccountStore
from lp_buildmaster.web.forms import formPage
from lp_buildmaster.web.markup import htmlError
from lp_buildmaster.web.respond import (  # noqa: F401 (re-exported)
    DEFAULT_LIMIT, MAX_BODY, MAX_LIMIT, BadRequest, NotFound, argument,
    buildFilters, encode, flag, jsonBody, jsonError, parseId, parseLimit,
    parseOffset, parseState, requestBody, respond, safeNext, scoreValue,
    text)


class ApiResource(resource.Resource):
    """Everything under C{/api/}, routed on the rest of the path.

    GET reads (anonymously unless C{[web] anonymous_read} is off); POST
    and DELETE act through L{lp_buildmaster.actions}, as the identified
    account. A form posted from the pages carries C{next}, where the
    browser is sent back to (303) once the action is done.
    """

    isLeaf = True

    def __init__(self, farm, auth, store):
        resource.Resource.__init__(self)
        self.farm = farm
        self.auth = auth
        self.store = store
        self.accounts = getattr(store, "accounts", None) or \
            AccountStore(store)

    def render_GET(self, request):
        def produce():
            d = self.auth.reader(request)
            return d.addCallback(lambda identity: self._route(request,
                                                              identity))
        return respond(request, produce, jsonBody, jsonError)

    def render_POST(self, request):
        form_next = safeNext(request.args.get(b"next", [b""])[-1].decode(
            "utf-8", "replace"))
        # From the site's root as this request's URL sees it.
        root = "../" * max(len(request.prepath) + len(request.postpath)
                           - 1, 1)
        acting = []

        def produce():
            d = self.auth.writer(request)

            def act(identity):
                acting.append(identity)
                return self._act(request, Actions(self.store,
                                                  identity.actor))
            return d.addCallback(act)

        def done(request, value):
            value, created = value
            if form_next:
                request.setResponseCode(303)
                # A form that created something goes to its page.
                where = root + created if created else form_next
                request.setHeader(b"location", where.encode("utf-8"))
                request.setHeader(b"content-type",
                                  b"text/plain; charset=utf-8")
                return b"done\n"
            return jsonBody(request, value)

        def failed(request, code, message):
            if form_next:
                again = None
                if acting and code in (400, 404):
                    # Refused for what was asked: the form again.
                    again = self._formAgain(request, acting[0], message,
                                            root)
                if again is not None:
                    request.setHeader(b"content-type",
                                      b"text/html; charset=utf-8")
                    return again
                return htmlError(request, code, message, root=root,
                                 back=form_next)
            return jsonError(request, code, message)
        return respond(request, produce, done, failed)

    def _formAgain(self, request, identity, message, root):
        """The creating form C{request} was posted from, filled in as it
        was sent, with C{message}; None when there is none."""
        try:
            return formPage("/".join(self._path(request)), identity,
                            requestBody(request), message, root)
        except (BadRequest, NotFound):
            return None

    def render_DELETE(self, request):
        def produce():
            d = self.auth.writer(request)
            return d.addCallback(lambda identity: self._delete(
                request, Actions(self.store, identity.actor)))
        return respond(request, produce, jsonBody, jsonError)

    def _path(self, request):
        try:
            path = [segment.decode("utf-8") for segment in request.postpath]
        except UnicodeDecodeError:
            raise NotFound("no such API resource")
        if any("\0" in segment for segment in path):
            # No name holds NUL (PostgreSQL text cannot).
            raise NotFound("no such API resource")
        if path and path[-1] == "":
            path.pop()
        return path

    def _route(self, request, identity):
        path = self._path(request)
        if path == ["builders"]:
            return self.farm.builders()
        if len(path) == 2 and path[0] == "builders":
            return self._builder(path[1])
        if path == ["queue"]:
            return self.farm.queue()
        if path == ["masters"]:
            return self.farm.masters()
        if path == ["builds"]:
            return self.farm.builds(**buildFilters(request))
        if len(path) == 2 and path[0] == "builds":
            return self._build(parseId(path[1]))
        if path == ["audit"]:
            return self._audit(request)
        if path == ["whoami"]:
            if identity is None:
                return {"name": None, "role": None}
            return {"name": identity.actor.name,
                    "role": identity.actor.role,
                    "csrf": identity.csrf}
        raise NotFound("no such API resource: /api/%s" % "/".join(path))

    @defer.inlineCallbacks
    def _audit(self, request):
        build = argument(request, "build")
        builder = argument(request, "builder")
        builder_id = None
        if builder is not None:
            found = yield self.store.builders.getByName(builder)
            if found is None:
                raise NotFound("no builder named %r" % (builder,))
            builder_id = found.id
        entries = yield self.accounts.audit(
            build=parseId(build) if build is not None else None,
            builder=builder_id, limit=parseLimit(argument(request, "limit")))
        return [auditDict(e) for e in entries]

    @defer.inlineCallbacks
    def _act(self, request, actions):
        path = self._path(request)
        body = requestBody(request)
        if path == ["builds"]:
            build_id = yield actions.requestBuild(
                text(body, "distribution", required=True),
                text(body, "series", required=True),
                text(body, "arch", required=True),
                text(body, "source", required=True),
                text(body, "version", required=True),
                pocket=text(body, "pocket", "release"),
                archive=text(body, "archive", "primary"),
                job_type=text(body, "job_type"),
                # The options of every registered job type, by name.
                **{name: text(body, name)
                   for name in operations.requestOptionNames()})
            request.setResponseCode(201)
            request.setHeader(b"location", b"builds/%d" % build_id)
            return ((yield self._build(build_id)), "builds/%d" % build_id)
        if len(path) == 3 and path[0] == "builds":
            build_id = parseId(path[1])
            if path[2] == "retry":
                yield actions.retryBuild(build_id)
            elif path[2] == "cancel":
                yield actions.cancelBuild(build_id)
            elif path[2] == "rescore":
                yield actions.rescoreBuild(build_id, scoreValue(body))
            else:
                raise NotFound("no such action: %s" % path[2])
            return ((yield self._build(build_id)), None)
        if path == ["builders"]:
            name = text(body, "name", required=True)
            yield actions.addBuilder(
                name, text(body, "url", required=True),
                text(body, "processor", required=True),
                title=text(body, "title"),
                virtualized=bool(flag(body, "virtualized", False)),
                manual=bool(flag(body, "manual", False)),
                vm_host=text(body, "vm_host"))
            request.setResponseCode(201)
            request.setHeader(b"location", b"builders/" + quote(
                name, safe="").encode("ascii"))
            return ((yield self._builder(name)),
                    "builders/" + quote(name, safe=""))
        if len(path) == 2 and path[0] == "builders":
            enabled = flag(body, "enabled")
            reason = text(body, "reason")
            if enabled is False and not reason:
                raise BadRequest("disabling a builder needs a reason")
            yield actions.setBuilder(
                path[1], enable=enabled is True,
                disable=reason if enabled is False else None,
                manual=flag(body, "manual"))
            return ((yield self._builder(path[1])), None)
        if len(path) == 3 and path[0] == "builders" and path[2] == "remove":
            yield actions.removeBuilder(path[1])
            return ({"name": path[1], "retired": True}, None)
        raise NotFound("no such API action: POST /api/%s" % "/".join(path))

    @defer.inlineCallbacks
    def _delete(self, request, actions):
        path = self._path(request)
        if len(path) == 2 and path[0] == "builders":
            yield actions.removeBuilder(path[1])
            return {"name": path[1], "retired": True}
        raise NotFound("no such API action: DELETE /api/%s"
                       % "/".join(path))

    @defer.inlineCallbacks
    def _builder(self, name):
        builders = yield self.farm.builders(name)
        if not builders:
            raise NotFound("no builder named %r" % (name,))
        return builders[0]

    @defer.inlineCallbacks
    def _build(self, build_id):
        build = yield self.farm.build(build_id)
        if build is None:
            raise NotFound("no build %d" % (build_id,))
        return build


def auditDict(entry):
    return {"id": entry.id, "time": entry.datecreated, "actor": entry.actor,
            "origin": entry.origin, "action": entry.action,
            "build": entry.build, "builder": entry.builder_name,
            "detail": entry.detail}
