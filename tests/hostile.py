"""The hostile-builder catalogue: each case is a builder answering the
master's XML-RPC calls (or serving its files) with something hostile,
scanned by a real L{ScannerManager} over loopback beside a well-behaved
builder. What the hostile builders send is in C{tests/hostile_builders.py}.

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
import shutil
import tempfile
import time
from typing import Callable, Optional

from twisted.internet import defer, reactor, task
from twisted.web import resource, server

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.librarian.client import LibrarianClient
from lp_buildmaster.librarian.storage import ContentStore
from lp_buildmaster.model.records import makeCookie
from lp_buildmaster.scanner import ScannerManager
from lp_buildmaster.slave import DOWNLOAD_MIN_RATE, BuilderSlave, makePool
from tests.farm import addBuilder, addRunningJob, makeGroup
from tests.hostile_builders import (
    MB, Collector, Drip, Flood, HostileRPC, billionLaughs, building,
    checkDrip, entityBomb, fault, listen, nested, response, waiting)
from tests.test_slave_fixtures import daemonSite

SHA = "a" * 40


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
    @ivar files: C{f(clock, step)} -> the resource at the offender's
        C{/filecache/} (default: none, 404), given the scanners' Clock and
        the seconds of one step; it must have a C{stop()}.
    @ivar timeout: the master's call timeout for builders (seconds), also
        the base of a download's deadline.
    @ivar download_slots: downloads running at once over the whole farm.
    @ivar collector: a third, well-behaved builder finishes a build as soon
        as the offender's first download has begun; its collection must
        not wait for more than the offender's download deadline, and
        must succeed.
    @ivar disable: the operator disables the offender once its first
        download has begun (and its download must then end at the next
        refresh, not at its deadline).
    """

    name: str
    reply: Callable
    job: bool = False
    failed: bool = True
    max_scans: int = 1
    check: Optional[Callable] = None
    held: bool = False
    files: Optional[Callable] = None
    timeout: float = 30.0
    download_slots: int = 16
    collector: bool = False
    disable: bool = False


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
    clock = task.Clock()
    goodSite, gooddaemon, _ = daemonSite()
    goodPort, goodURL = listen(goodSite)
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
    files = None
    if case.files is not None:
        files = case.files(clock, interval / steps)
        root.putChild(b"filecache", files)
    badPort, badURL = listen(server.Site(root))
    yield store.builders.update(bad_id, url=badURL)
    collector = Collector(clock) if case.collector else None
    if collector is not None:
        yield collector.add(store, ids)
    # The scans of builders that wait on the Clock (a dripped download, or
    # a download slot it holds) are not waited for at each step.
    onClock = ("hostile", "collector") if files is not None else ()

    pool = makePool(reactor, maxDownloads=case.download_slots)
    librarianDir = tempfile.mkdtemp(prefix="hostile-librarian-")
    group = makeGroup(store, clock=clock, logger=logging.getLogger(
        "lp_buildmaster.hostile"), librarian=LibrarianClient(
            store, ContentStore(librarianDir), "http://127.0.0.1:1/",
            b"secret", clock=clock))
    counter = TracebackCounter()
    logging.getLogger().addHandler(counter)
    slaves = {}

    def slaveFor(builder):
        slaves[builder.name] = BuilderSlave(
            builder.name, builder.url, reactor=reactor, pool=pool,
            clock=clock, timeout=case.timeout)
        return slaves[builder.name]

    manager = ScannerManager(store, group, slaveFor, clock=clock,
                             interval=interval,
                             logger=logging.getLogger(
                                 "lp_buildmaster.hostile"))
    heartbeat = Heartbeat()
    rss0 = rssMB()
    heartbeat.start()
    scans_until_failed = None

    def offenderFailed():
        vitals = manager.vitals.get("hostile")
        if (scans_until_failed is None and vitals is not None
                and not vitals.builder.builderok):
            scanner = manager.scanners.get("hostile")
            return rpc.calls["status"] if scanner is None else scanner.scans
        return scans_until_failed

    disabledAt = []
    started = time.monotonic()
    try:
        manager.startService()
        yield manager.settle(exclude=onClock)
        for _ in range(intervals * steps):
            clock.advance(interval / steps)
            yield manager.settle(exclude=onClock)
            if onClock:
                # One turn of the real reactor, so that what the step's
                # timers sent reaches the master before the next step.
                yield task.deferLater(reactor, 0, lambda: None)
            if (collector is not None and files.started
                    and collector.finishedAt is None):
                collector.finish()
            if case.disable and files.started and not disabledAt:
                yield store.builders.update(bad_id, active=False)
                disabledAt.append(clock.seconds())
            scans_until_failed = offenderFailed()
        good = manager.scanners.get("good")
        good_scans = good.scans if good is not None else 0
        # Past every deadline nothing should wait on the Clock any more;
        # what still does is cut off (as if disabled), and the checks
        # below say it ran late.
        for name in onClock:
            if name in slaves:
                slaves[name].cancelDownloads("the run ended")
        yield manager.settle()
        scans_until_failed = offenderFailed()
    finally:
        yield manager.stopService()
        heartbeat.stop()
        logging.getLogger().removeHandler(counter)
        if files is not None:
            files.stop()
        yield pool.closeCachedConnections()
        yield goodPort.stopListening()
        yield badPort.stopListening()
        if collector is not None:
            yield collector.port.stopListening()
        shutil.rmtree(librarianDir, ignore_errors=True)
    hostile = yield store.builders.get(bad_id)
    problems = []
    if case.check is not None:
        problems = yield case.check(store, ids)
    if files is not None and disabledAt:
        problems += checkDrip(files, 0, float("inf"),
                              since=disabledAt[0] + interval)
    elif files is not None:
        problems += checkDrip(files, case.timeout, DOWNLOAD_MIN_RATE)
    if collector is not None:
        problems += yield collector.check(store, ids, files, interval)
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
    result = {
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
    if files is not None and files.downloads:
        first = files.downloads[0]
        result["offender_download_s"] = None if first["ended"] is None \
            else round(first["ended"] - first["started"], 2)
        result["offender_bytes_sent"] = sum(
            d["sent"] for d in files.downloads)
    if collector is not None and collector.fetchedAt is not None:
        result["collector_waited_s"] = round(
            collector.fetchedAt - collector.finishedAt, 2)
    return result


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


@defer.inlineCallbacks
def _checkTooSlow(store, ids):
    problems = yield _checkRequeued(store, ids)
    builder = yield store.builders.get(ids["hostile"])
    if "too slow" not in (builder.failnotes or ""):
        problems.append("the offender's failnotes: %r" % builder.failnotes)
    return problems


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
        # A finished build's files served one byte per step: abandoned by
        # its deadline, which frees the farm's only download slot for the
        # collector.
        Case("slow-drip", lambda c: waiting(c, {"p.deb": SHA}), job=True,
             files=lambda clock, step: Drip(clock, step), timeout=3.0,
             download_slots=1, collector=True, check=_checkTooSlow),
        # The same, disabled by the operator meanwhile: the download is
        # cancelled at the refresh that notices, long before its deadline.
        Case("slow-drip-disabled", lambda c: waiting(c, {"p.deb": SHA}),
             job=True, files=lambda clock, step: Drip(clock, step),
             download_slots=1, collector=True, failed=False, disable=True),
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
