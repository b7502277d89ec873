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

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.formatting import jsonDefault

#: The most builds one C{/api/builds} answer lists.
MAX_LIMIT = 1000
DEFAULT_LIMIT = 50

log = Logger(namespace="lp_buildmaster.web")


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
    if text is None:
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
        return render(request, value)

    def failed(failure):
        if failure.check(BadRequest):
            code, message = 400, failure.value.args[0]
        elif failure.check(NotFound):
            code, message = 404, failure.value.args[0]
        else:
            log.failure("rendering {uri} failed", failure,
                        uri=request.uri.decode("ascii", "replace"))
            code, message = 500, "internal error; see the master's log"
        request.setResponseCode(code)
        return error_render(request, code, message)

    def finish(body):
        if gone:
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


class ApiResource(resource.Resource):
    """Everything under C{/api/}, routed on the rest of the path."""

    isLeaf = True

    def __init__(self, farm):
        resource.Resource.__init__(self)
        self.farm = farm

    def render_GET(self, request):
        return respond(request, lambda: self._route(request), jsonBody,
                       jsonError)

    def _route(self, request):
        try:
            path = [segment.decode("utf-8") for segment in request.postpath]
        except UnicodeDecodeError:
            raise NotFound("no such API resource")
        if any("\0" in segment for segment in path):
            # No name holds NUL (PostgreSQL text cannot).
            raise NotFound("no such API resource")
        if path and path[-1] == "":
            path.pop()
        if path == ["builders"]:
            return self.farm.builders()
        if len(path) == 2 and path[0] == "builders":
            return self._builder(path[1])
        if path == ["queue"]:
            return self.farm.queue()
        if path == ["masters"]:
            return self.farm.masters()
        if path == ["builds"]:
            state = parseState(argument(request, "state"))
            limit = parseLimit(argument(request, "limit"))
            return self.farm.builds(state=state, limit=limit)
        if len(path) == 2 and path[0] == "builds":
            return self._build(parseId(path[1]))
        raise NotFound("no such API resource: /api/%s" % "/".join(path))

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
