"""Reading requests and answering them, shared by the pages and the API.

Parameters are parsed here (ids, limits, states, filters, offsets, the
fields of a JSON or form body), and L{respond} answers a request with
what a producer's Deferred fires with, turning every error into its
status code once: 400 (L{BadRequest}, a refused action), 401, 403, 404
(L{NotFound}), 503 while the database cannot be reached (one log line
per outage), else 500 (logged once while it repeats).
"""

import json

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import server

from lp_buildmaster import failures
from lp_buildmaster.actions import Forbidden, Refused, isNotFound
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.formatting import jsonDefault
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


class Unavailable(Exception):
    """A service the answer needs (the shared librarian) cannot be
    reached now: a 503 with C{Retry-After}, said once per outage."""


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
        _errors.clear("unavailable")
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
        elif failure.check(Unavailable):
            if _errors.first("unavailable", failure.value.args[0]):
                log.warn("{error}: answering 503", error=failure.value.args[0])
            request.setHeader(b"retry-after", b"10")
            code, message = 503, failure.value.args[0]
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
        "finished": _finished(argument(request, "finished")),
    }


def _finished(text):
    """C{finished=1}: only ended builds, the latest ended first."""
    if text in (None, "", "0", "false"):
        return False
    if text in ("1", "true"):
        return True
    raise BadRequest("finished must be 1 or 0, not %r" % (text,))


def parseOffset(text):
    if text is None or text == "":
        return 0
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise BadRequest("offset must be an integer from 0, not %r"
                         % (text,))
    return int(text)
