"""XML-RPC calls to a farm's builders, whichever connection they came by:
the faults a builder is set to (down, hang, garbage, or drawn per call),
the hot path of an idle status(), and calls queued while ensurepresent()
downloads.

Imports C{constants} and C{builder}.
"""

import xmlrpc.client as xmlrpclib

from twisted.internet import defer
from twisted.logger import Logger

from lp_buildmaster.testing.simulator.builder import BuilderFault
from lp_buildmaster.testing.simulator.constants import (
    BUILDER_VERSION, FAULT_ERROR, FAULT_NOT_FOUND, IDLE)

log = Logger()


_GARBAGE = (b"<html><head><title>500 Internal Server Error</title></head>\n"
            b"<body>\x00\xff\xfe not an XML-RPC reply</body>\n")


def _dumpReply(value):
    return xmlrpclib.dumps((value,), methodresponse=True,
                           allow_none=True).encode("utf-8")


def _dumpFault(code, message):
    return xmlrpclib.dumps(xmlrpclib.Fault(code, message),
                           methodresponse=True, allow_none=True
                           ).encode("utf-8")


_IDLE_REPLY = _dumpReply(
    {"builder_status": IDLE, "builder_version": BUILDER_VERSION})


class RpcHandler:
    """XML-RPC calls to a farm's builders, whichever way they arrived."""

    def __init__(self, farm):
        self.farm = farm

    def handle(self, builder, body, responder):
        """Answer a call to C{builder}: now, later, never (hang) or by
        dropping the connection (down)."""
        farm = self.farm
        profile = builder.profile
        faulty = profile.faulty
        if builder.down or (faulty and profile.refuse_rate and
                            farm._rng.random() < profile.refuse_rate):
            farm.counters["refused"] += 1
            responder.abort()
            return
        if builder.hang or (faulty and profile.hang_rate and
                            farm._rng.random() < profile.hang_rate):
            farm.counters["hung"] += 1
            responder.hold(farm._hung)
            return
        try:
            params, method = xmlrpclib.loads(body)
        except Exception:
            responder.send(b"bad XML-RPC request\n", 400)
            return
        farm.counters[method] += 1
        for watch in farm.callWatchers:
            watch(builder, method)
        if builder.garbage or (faulty and profile.garbage_rate and
                               farm._rng.random() < profile.garbage_rate):
            farm.counters["garbage"] += 1
            responder.send(_GARBAGE)
            return
        if builder._queue is not None:
            # ensurepresent() is downloading: the real daemon answers
            # nothing else meanwhile.
            builder._queue.append((responder, method, params))
            return
        if method == "status" and builder.state == IDLE and not params:
            responder.send(_IDLE_REPLY)     # the hot path
            return
        self._dispatch(builder, responder, method, params)

    def _dispatch(self, builder, responder, method, params):
        handler = getattr(builder, "xmlrpc_" + str(method), None) \
            if isinstance(method, str) and method.isidentifier() else None
        if handler is None:
            responder.send(_dumpFault(FAULT_NOT_FOUND,
                                      "procedure %s not found" % (method,)))
            return
        try:
            result = handler(*params)
        except BuilderFault as f:
            self.farm.counters["faults"] += 1
            responder.send(_dumpFault(f.code, f.message))
            return
        except TypeError as e:
            self.farm.counters["faults"] += 1
            log.debug("{builder}: {method}{params!r}: {e}",
                      builder=builder.name, method=method, params=params, e=e)
            responder.send(_dumpFault(FAULT_ERROR, "error"))
            return
        if isinstance(result, defer.Deferred):
            builder._queue = []
            result.addBoth(self._later, builder, responder)
            return
        responder.send(_dumpReply(result))

    def _later(self, result, builder, responder):
        if hasattr(result, "getErrorMessage"):   # a Failure: a bug
            log.failure("{builder}: ensurepresent", result,
                        builder=builder.name)
            responder.send(_dumpFault(FAULT_ERROR, "error"))
        else:
            responder.send(_dumpReply(result))
        queue, builder._queue = builder._queue, None
        for waiting, method, params in queue or ():
            if builder._queue is not None:
                builder._queue.append((waiting, method, params))
            else:
                self._dispatch(builder, waiting, method, params)
