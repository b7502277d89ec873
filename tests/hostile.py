"""The hostile-builder catalogue: each case is a builder answering the
master's XML-RPC calls with something hostile, scanned by a real
L{ScannerManager} over loopback beside a well-behaved builder.

L{runCase} measures what the issue asks of each case: how many scans it
took to fail the offender, the well-behaved builder's scan rate, the
master's RSS growth and the longest reactor stall (a heartbeat on the real
reactor), and the tracebacks logged. The scanners' time is a
L{task.Clock} advanced in steps (each step waits for the real network I/O
it started), so scan counts are exact and nothing sleeps; the stall and
the memory are real. Used by C{tests/test_hostile_catalogue.py} and
C{benchmarks/hostile.py}.
"""

import collections
import dataclasses
import logging
import re
import time
import xmlrpc.client as xmlrpclib
from typing import Callable, Optional

from twisted.internet import defer, reactor, task
from twisted.web import resource, server

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.model.records import makeCookie
from lp_buildmaster.scanner import ScannerManager
from lp_buildmaster.slave import BuilderSlave, makePool
from tests.farm import addBuilder, addRunningJob, makeGroup
from tests.test_slave_fixtures import daemonSite

MB = 1024 * 1024
SHA = "a" * 40


def response(value):
    return xmlrpclib.dumps((value,), methodresponse=True,
                           allow_none=True).encode("utf-8")


def fault(code, text):
    return xmlrpclib.dumps(xmlrpclib.Fault(code, text),
                           methodresponse=True).encode("utf-8")


def waiting(cookie, filemap):
    return response({"builder_status": "BuilderStatus.WAITING",
                     "build_status": "BuildStatus.OK", "build_id": cookie,
                     "filemap": filemap, "dependencies": ""})


def building(cookie, logtail):
    return response({"builder_status": "BuilderStatus.BUILDING",
                     "build_id": cookie,
                     "logtail": xmlrpclib.Binary(logtail)})


def entityBomb(size):
    """A DTD entity of 290 bytes referenced until the reply is C{size}
    bytes: under the reply cap, expanding a hundredfold."""
    head = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "' + b"x" * 290
            + b'">]><methodResponse><params><param><value><struct><member>'
            b"<name>builder_status</name><value><string>"
            b"BuilderStatus.BUILDING</string></value></member><member>"
            b"<name>build_id</name><value><string>1-1</string></value>"
            b"</member><member><name>logtail</name><value><string>")
    tail = (b"</string></value></member></struct></value></param></params>"
            b"</methodResponse>")
    return head + b"&a;" * ((size - len(head) - len(tail)) // 3) + tail


def billionLaughs():
    return (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY l0 "ha">'
            + b"".join(b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10)
                       for i in range(1, 10))
            + b']><methodResponse><params><param><value><string>&l9;'
            b"</string></value></param></params></methodResponse>")


def nested(depth):
    return (b"<methodResponse><params><param>"
            + b"<value><array><data>" * depth
            + b"</data></array></value>" * depth
            + b"</param></params></methodResponse>")


class Flood:
    """A reply of C{total} bytes, written only as the connection takes it
    (so the builder's side never holds it all)."""

    chunk = b"<value><string>" + b"x" * 65000 + b"</string></value>"

    def __init__(self, total):
        self.total = total

    def __call__(self, request):
        return _FloodWriter(self.total).start(request)


class _FloodWriter:
    """One flooded reply."""

    chunk = Flood.chunk
    paused = stopped = False

    def __init__(self, total):
        self.total = total
        self.sent = 0

    def start(self, request):
        request.setHeader(b"content-type", b"text/xml")
        request.write(b"<?xml version='1.0'?><methodResponse><params>")
        self.request = request
        request.registerProducer(self, True)
        reactor.callLater(0, self.resumeProducing)
        return server.NOT_DONE_YET

    def resumeProducing(self):
        self.paused = False
        while self.sent < self.total and not self.paused and not self.stopped:
            self.request.write(self.chunk)
            self.sent += len(self.chunk)
        if self.sent >= self.total and not self.stopped:
            self.stopped = True
            self.request.unregisterProducer()
            self.request.finish()

    def pauseProducing(self):
        self.paused = True

    def stopProducing(self):
        self.stopped = True


@dataclasses.dataclass
class Case:
    """One hostile builder.

    @ivar reply: C{f(cookie)} -> the status() reply: bytes, C{(http code,
        bytes)}, or a callable rendering the request itself.
    @ivar job: the offender has a running job (C{cookie} names it).
    @ivar failed: the offender must end failed (otherwise: never failed).
    @ivar max_scans: ... within this many of its scans.
    @ivar check: C{f(store, ids)} -> Deferred, more assertions (returns a
        list of problems).
    """

    name: str
    reply: Callable
    job: bool = False
    failed: bool = True
    max_scans: int = 1
    check: Optional[Callable] = None
    held: bool = False


class HostileRPC(resource.Resource):
    """/rpc of a hostile builder: status() as the case says; abort() and
    clean() as a real daemon answers them."""

    isLeaf = True

    def __init__(self, case, cookie):
        resource.Resource.__init__(self)
        self.case = case
        self.cookie = cookie
        self.calls = collections.Counter()
        # Made once, before the measuring starts: the builder's own cost
        # of making its reply is not the master's.
        self.statusReply = case.reply(cookie)

    def render_POST(self, request):
        body = request.content.read(64 * 1024)
        match = re.search(rb"<methodName>([A-Za-z_]+)</methodName>", body)
        method = match.group(1).decode() if match else "?"
        self.calls[method] += 1
        if method == "status":
            reply = self.statusReply
        elif method == "abort":
            reply = response("BuilderStatus.ABORTING")
        elif method == "clean":
            reply = response("BuilderStatus.IDLE")
        else:
            reply = fault(8001, "unknown method")
        if callable(reply):
            return reply(request)
        if isinstance(reply, tuple):
            code, reply = reply
            request.setResponseCode(code)
        request.setHeader(b"content-type", b"text/xml")
        return reply


def rssMB():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class Heartbeat:
    """Ticks on the real reactor: the longest gap between ticks past the
    period is the longest reactor stall; each tick samples the RSS."""

    def __init__(self, period=0.02):
        self.period = period
        self.longest = 0.0
        self.peakRSS = rssMB()
        self.last = None
        self.loop = task.LoopingCall(self.tick)

    def tick(self):
        now = time.monotonic()
        if self.last is not None:
            self.longest = max(self.longest, now - self.last - self.period)
        self.last = now
        self.peakRSS = max(self.peakRSS, rssMB())

    def start(self):
        self.loop.start(self.period, now=True)

    def stop(self):
        if self.loop.running:
            self.loop.stop()


class TracebackCounter(logging.Handler):
    """Counts log records carrying a traceback, by their first line."""

    def __init__(self):
        logging.Handler.__init__(self)
        self.tracebacks = collections.Counter()

    def emit(self, record):
        text = record.getMessage()
        if record.exc_info or "Traceback (most recent call last)" in text:
            self.tracebacks[text.splitlines()[0][:120]] += 1


def _listen(site):
    site.timeOut = None
    site.log = lambda request: None
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    return port, "http://127.0.0.1:%d/" % port.getHost().port


@defer.inlineCallbacks
def runCase(store, case, intervals=8, interval=1.0, steps=4):
    """Scan C{case}'s hostile builder and a well-behaved one for
    C{intervals} scan intervals.

    @return: a dict of figures: C{scans_until_failed} (None: never
        failed), C{good_scans_per_interval}, C{rss_growth_mb},
        C{longest_stall_s}, C{tracebacks}, C{failed}, C{problems}.
    """
    for name in ("bob", "frog"):
        sample = yield store.builders.getByName(name)
        if sample is not None:
            yield store.builders.update(sample.id, active=False)
    goodSite, gooddaemon, _ = daemonSite()
    goodPort, goodURL = _listen(goodSite)
    good_id = yield addBuilder(store, "good")
    yield store.builders.update(good_id, url=goodURL)
    bad_id = yield addBuilder(store, "hostile")
    ids = {"good": good_id, "hostile": bad_id}
    cookie = "1-1"
    if case.job:
        build_id, queue_id = yield addRunningJob(store, bad_id)
        ids.update(build=build_id, queue=queue_id)
        cookie = makeCookie(build_id, queue_id)
    rpc = HostileRPC(case, cookie)
    root = resource.Resource()
    root.putChild(b"rpc", rpc)
    badPort, badURL = _listen(server.Site(root))
    yield store.builders.update(bad_id, url=badURL)

    clock = task.Clock()
    pool = makePool(reactor)
    group = makeGroup(store, clock=clock, logger=logging.getLogger(
        "lp_buildmaster.hostile"))
    counter = TracebackCounter()
    logging.getLogger().addHandler(counter)

    def slaveFor(builder):
        return BuilderSlave(builder.name, builder.url, reactor=reactor,
                            pool=pool, clock=clock, timeout=30.0)

    manager = ScannerManager(store, group, slaveFor, clock=clock,
                             interval=interval,
                             logger=logging.getLogger(
                                 "lp_buildmaster.hostile"))
    heartbeat = Heartbeat()
    rss0 = rssMB()
    heartbeat.start()
    scans_until_failed = None
    started = time.monotonic()
    try:
        manager.startService()
        yield manager.settle()
        for _ in range(intervals * steps):
            clock.advance(interval / steps)
            yield manager.settle()
            vitals = manager.vitals.get("hostile")
            if (scans_until_failed is None and vitals is not None
                    and not vitals.builder.builderok):
                scanner = manager.scanners.get("hostile")
                scans_until_failed = rpc.calls["status"] if scanner is None \
                    else scanner.scans
        good = manager.scanners.get("good")
        good_scans = good.scans if good is not None else 0
    finally:
        yield manager.stopService()
        heartbeat.stop()
        logging.getLogger().removeHandler(counter)
        yield pool.closeCachedConnections()
        yield goodPort.stopListening()
        yield badPort.stopListening()
    hostile = yield store.builders.get(bad_id)
    problems = []
    if case.check is not None:
        problems = yield case.check(store, ids)
    if case.failed and hostile.builderok:
        problems.append("the offender was not failed")
    if not case.failed and not hostile.builderok:
        problems.append("the offender was failed: %s" % hostile.failnotes)
    if scans_until_failed is not None and scans_until_failed > case.max_scans:
        problems.append("failed only after %d scans" % scans_until_failed)
    goodRecord = yield store.builders.get(good_id)
    if not goodRecord.builderok or goodRecord.failure_count:
        problems.append("the well-behaved builder was counted a failure")
    if hostile.failnotes and len(hostile.failnotes.encode()) > 1024:
        problems.append("failnotes of %d bytes" % len(hostile.failnotes))
    return {
        "case": case.name,
        "held_before": case.held,
        "failed": not hostile.builderok,
        "scans_until_failed": scans_until_failed,
        "offender_status_calls": rpc.calls["status"],
        "good_scans_per_interval": round(good_scans / intervals, 3),
        "rss_growth_mb": round(heartbeat.peakRSS - rss0, 1),
        "longest_stall_s": round(heartbeat.longest, 3),
        "tracebacks": sum(counter.tracebacks.values()),
        "wall_s": round(time.monotonic() - started, 2),
        "problems": problems,
    }


@defer.inlineCallbacks
def _storedLogtail(store, ids):
    rows = yield store.runQuery(
        "SELECT logtail FROM buildqueue WHERE id = %s", (ids["queue"],))
    return rows[0]["logtail"] if rows else None


@defer.inlineCallbacks
def _checkHugeLogtail(store, ids):
    logtail = yield _storedLogtail(store, ids)
    if logtail is None or len(logtail.encode()) > 2048:
        return ["stored log tail of %r bytes" % (
            None if logtail is None else len(logtail.encode()))]
    return []


@defer.inlineCallbacks
def _checkControls(store, ids):
    logtail = yield _storedLogtail(store, ids)
    if logtail is None or any(c in logtail for c in "\x1b\x9b\u202e"):
        return ["stored log tail %r" % (logtail,)]
    return []


@defer.inlineCallbacks
def _checkRequeued(store, ids):
    build = yield store.builds.get(ids["build"])
    if build.buildstate != BuildStatus.NEEDSBUILD:
        return ["the job is %s, not requeued" % build.buildstate.name]
    return []


def catalogue(big=False):
    """Every case. C{big}: the issue's full sizes (12 MB bomb, 200 MB
    flood), for the benchmark."""
    bomb = (12 if big else 4) * MB
    flood = (200 if big else 50) * MB
    return [
        # The findings.
        Case("entity-bomb-under-cap", lambda c: entityBomb(bomb)),
        Case("deep-nesting-200000", lambda c: nested(200000)),
        Case("foreign-cookie", lambda c: response({
            "builder_status": "BuilderStatus.BUILDING",
            "build_id": "999999-999999", "logtail": ""}),
            job=True, max_scans=5, check=_checkRequeued),
        Case("hidden-result-file", lambda c: waiting(c, {".hidden": SHA}),
             job=True, check=_checkRequeued),
        Case("newline-in-file-name",
             lambda c: waiting(c, {"evil\nname.deb": SHA}), job=True),
        Case("logtail-11MB", lambda c: building(c, b"x" * 11 * MB),
             job=True, failed=False, check=_checkHugeLogtail),
        Case("logtail-controls-and-bidi", lambda c: building(
            c, "\x1b[2J\u009b31m\u202eevil".encode()), job=True,
            failed=False, check=_checkControls),
        Case("fault-8MB", lambda c: fault(8002, "x" * 8 * MB)),
        # What held before, and must keep holding.
        Case("billion-laughs", lambda c: billionLaughs(), held=True),
        Case("wrong-types", lambda c: response({"builder_status": 5}),
             held=True),
        Case("invalid-xml", lambda c: b"<methodResponse><<", held=True),
        Case("legacy-tuple-garbage", lambda c: response(
            ["BuilderStatus.WAITING"]), held=True),
        Case("flood-%dMB" % (flood // MB), lambda c: Flood(flood),
             held=True),
        Case("traversal-in-filemap",
             lambda c: waiting(c, {"../../etc/passwd": SHA}), job=True,
             held=True),
        Case("non-hex-sha1", lambda c: waiting(c, {"p.deb": "z" * 40}),
             job=True, held=True),
        Case("http-500", lambda c: (500, b"oops"), held=True),
        Case("fault", lambda c: fault(8002, "error"), held=True),
    ]
