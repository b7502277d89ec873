"""The JSON API under C{/api/}.

C{/api/builders}, C{/api/builders/<name>}, C{/api/queue},
C{/api/builds?state=NAME&limit=N} and C{/api/builds/<id>}. Times are ISO
8601 strings in UTC, durations seconds. A bad parameter is a 400 and an
unknown thing a 404, both with a body C{{"error": "..."}}.
"""

import json

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server

from lp_buildmaster.actions import (
    Actions, Forbidden, Refused, isNotFound)
from lp_buildmaster import failures
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.formatting import jsonDefault
from lp_buildmaster.store.accounts import AccountStore
from lp_buildmaster.web.auth import CSRFRefused, Unauthorized

#: The most builds one C{/api/builds} answer lists.
MAX_LIMIT = 1000
DEFAULT_LIMIT = 50

log = Logger(namespace="lp_buildmaster.web")
#: Errors logged once while they repeat (a traceback once, not per request).
_errors = failures.OncePerChange()


class BadRequest(Exception):
    """A parameter is wrong; the message says which and why."""


class NotFound(Exception):
    """The thing asked for does not exist."""


def encode(value):
    return json.dumps(value, default=jsonDefault, indent=1).encode("utf-8")


def parseId(text, what="build id"):
    """A database id from a path segment or parameter.

    @raise BadRequest: it is not a positive integer that fits a column.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > 9 \
            or int(text) == 0:
        raise BadRequest("%s must be a positive integer, not %r"
                         % (what, text))
    return int(text)


def parseLimit(text):
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()) or len(text) > 6 \
            or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest("limit must be an integer from 1 to %d, not %r"
                         % (MAX_LIMIT, text))
    return int(text)


def parseState(text):
    if text is None or text == "":
        return None
    try:
        return BuildStatus.byName(text)
    except KeyError as e:
        raise BadRequest(e.args[0]) from None


def argument(request, name):
    """The last value of query argument C{name} as text, or None."""
    values = request.args.get(name.encode("ascii"))
    if not values:
        return None
    try:
        return values[-1].decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("%s is not UTF-8" % (name,)) from None


def respond(request, producer, render, error_render):
    """Answer C{request} with what C{producer()} fires with.

    @param render: C{(request, value) -> bytes}, the body of a success.
    @param error_render: C{(request, code, message) -> bytes}, the body
        of a 400, 404 or 500 (its status code already set).
    @return: L{server.NOT_DONE_YET}.
    """
    gone = []
    request.notifyFinish().addErrback(lambda _: gone.append(True))

    def succeeded(value):
        _errors.clear("database")
        return render(request, value)

    def failed(failure):
        if failure.check(BadRequest):
            code, message = 400, failure.value.args[0]
        elif failure.check(NotFound):
            code, message = 404, failure.value.args[0]
        elif failure.check(Unauthorized):
            code, message = 401, failure.value.args[0]
            request.setHeader(b"www-authenticate",
                              b'Bearer realm="lp-buildmaster"')
        elif failure.check(CSRFRefused, Forbidden):
            code, message = 403, failure.value.args[0]
        elif failure.check(Refused):
            message = failure.value.args[0]
            code = 404 if isNotFound(failure.value) else 400
        elif failures.classify(failure).database:
            # One line per outage, not a traceback per request.
            if _errors.first("database", failures.signature(failure)):
                log.warn("the database cannot be reached ({error}): "
                         "answering 503", error=failures.describe(failure))
            request.setHeader(b"retry-after", b"10")
            code, message = 503, ("the database cannot be reached; try "
                                  "again in a moment")
        else:
            if _errors.first("unexpected", failures.signature(failure)):
                log.failure("rendering {uri} failed", failure,
                            uri=request.uri.decode("ascii", "replace"))
            code, message = 500, "internal error; see the master's log"
        request.setResponseCode(code)
        return error_render(request, code, message)

    def finish(body):
        if gone or body is server.NOT_DONE_YET:
            # Gone, or the renderer streams and finishes by itself.
            return
        request.write(body)
        request.finish()

    d = defer.maybeDeferred(producer)
    d.addCallbacks(succeeded, failed)
    d.addCallback(finish)
    d.addErrback(lambda f: log.failure("answering {uri} failed", f,
                                       uri=request.uri))
    return server.NOT_DONE_YET


def jsonBody(request, value):
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    return encode(value)


def jsonError(request, code, message):
    return jsonBody(request, {"error": message})


#: The largest request body an action reads.
MAX_BODY = 64 * 1024


def requestBody(request):
    """The fields of a POST: a JSON object, or the form's fields (text)."""
    ctype = (request.getHeader(b"content-type") or b"").lower()
    if ctype.startswith(b"application/json"):
        raw = request.content.read(MAX_BODY + 1) if request.content else b""
        if len(raw) > MAX_BODY:
            raise BadRequest("the body is larger than %d bytes" % MAX_BODY)
        try:
            value = json.loads(raw or b"{}")
        except ValueError:
            raise BadRequest("the body is not valid JSON") from None
        if not isinstance(value, dict):
            raise BadRequest("the body must be a JSON object")
        return value
    fields = {}
    for key, values in request.args.items():
        try:
            fields[key.decode("utf-8")] = values[-1].decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("the form is not UTF-8") from None
    return fields


def text(body, name, default=None, required=False):
    value = body.get(name, default)
    if value is None or value == "":
        if required:
            raise BadRequest("%s is required" % name)
        return default
    if not isinstance(value, str):
        raise BadRequest("%s must be a string" % name)
    return value


def flag(body, name, default=None):
    """A boolean: JSON true/false, or a form's "true"/"false"/"on"."""
    value = body.get(name, default)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "on", "1",
                                                    "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "off", "0",
                                                    "no"):
        return False
    raise BadRequest("%s must be true or false" % name)


def scoreValue(body):
    """A score: an integer, or "auto" (None) for automatic scoring."""
    value = body.get("score")
    if value == "auto":
        return None
    if isinstance(value, bool):
        raise BadRequest("score must be an integer or \"auto\"")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() \
            and len(value.strip()) < 12:
        return int(value)
    raise BadRequest("score must be an integer or \"auto\"")


def safeNext(value):
    """Where a page's form goes back to: a path on this site only."""
    if not value or "://" in value or value.startswith("//") or \
            "\\" in value or any(ord(c) < 32 for c in value):
        return None
    return value


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

        def produce():
            d = self.auth.writer(request)
            return d.addCallback(lambda identity: self._act(
                request, Actions(self.store, identity.actor)))

        def done(request, value):
            if form_next:
                request.setResponseCode(303)
                request.setHeader(b"location", form_next.encode("utf-8"))
                request.setHeader(b"content-type",
                                  b"text/plain; charset=utf-8")
                return b"done\n"
            return jsonBody(request, value)

        def failed(request, code, message):
            if form_next:
                from lp_buildmaster.web.pages import htmlError
                return htmlError(request, code, message,
                                 root="../" * max(len(request.prepath), 1),
                                 back=form_next)
            return jsonError(request, code, message)
        return respond(request, produce, done, failed)

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
                archive=text(body, "archive", "primary"))
            request.setResponseCode(201)
            return (yield self._build(build_id))
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
            return (yield self._build(build_id))
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
            return (yield self._builder(name))
        if len(path) == 2 and path[0] == "builders":
            enabled = flag(body, "enabled")
            reason = text(body, "reason")
            if enabled is False and not reason:
                raise BadRequest("disabling a builder needs a reason")
            yield actions.setBuilder(
                path[1], enable=enabled is True,
                disable=reason if enabled is False else None,
                manual=flag(body, "manual"))
            return (yield self._builder(path[1]))
        if len(path) == 3 and path[0] == "builders" and path[2] == "remove":
            yield actions.removeBuilder(path[1])
            return {"name": path[1], "retired": True}
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


def buildFilters(request):
    """The filters and paging of C{/api/builds} and C{/builds}."""
    return {
        "state": parseState(argument(request, "state")),
        "limit": parseLimit(argument(request, "limit")),
        "offset": parseOffset(argument(request, "offset")),
        "processor": argument(request, "processor") or None,
        "distribution": argument(request, "distribution") or None,
        "series": argument(request, "series") or None,
        "archive": argument(request, "archive") or None,
        "source": argument(request, "source") or None,
    }


def parseOffset(text):
    if text is None or text == "":
        return 0
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise BadRequest("offset must be an integer from 0, not %r"
                         % (text,))
    return int(text)
