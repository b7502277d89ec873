"""Helpers shared by the benchmarks: a scratch database, simulator
processes, this process's CPU and memory, percentiles and JSON output.

Nothing here starts the reactor; the benchmarks do.
"""

import collections
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
_TICK = os.sysconf("SC_CLK_TCK")


# --- the database ---------------------------------------------------------

def createDatabase():
    """A fresh copy of the tests' sample database: C{(dsn, name)}.

    On C{$BUILDMASTER_TEST_DSN} when set, else the embedded test server
    (C{var/test-postgres}, started on first use).
    """
    from tests.database import createDatabase as create
    return create()


def dropDatabase(name):
    from tests.database import dropDatabase as drop
    try:
        drop(name)
    except Exception as e:   # a benchmark's figures matter more
        print("benchmark: could not drop database %s: %s" % (name, e),
              file=sys.stderr)


def registerBuilders(dsn, urls, processor="x86", disable_others=True):
    """Insert one builder per C{{name: url}} in one statement and disable
    every other builder (the sample data's bob and frog), synchronously.

    @return: C{{name: builder id}}.
    """
    from lp_buildmaster.store import connection
    conn = connection.connectSync(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT id FROM processor WHERE name = %s",
                        (processor,))
            proc = cur.fetchone()[0]
            if disable_others:
                cur.execute("UPDATE builder SET builderok = false,"
                            " failnotes = 'disabled by the benchmark'")
            names = sorted(urls)
            cur.execute(
                "INSERT INTO builder (name, title, url, processor)"
                " SELECT n, n, u, %s FROM unnest(%s::text[], %s::text[])"
                "   AS v(n, u) RETURNING name, id",
                (proc, names, [urls[n] for n in names]))
            return dict(cur.fetchall())
    finally:
        conn.close()


#: What the builds are started with (the sample data's build 7's source).
BUILD_ARGS = {
    "arch_tag": "i386", "arch_indep": False, "distribution": "ubuntu",
    "series": "hoary", "suite": "hoary", "ogrecomponent": "main",
    "archive_purpose": "PRIMARY", "archive_private": False,
    "archives": ["deb http://127.0.0.1/ubuntu hoary main"],
    "trusted_keys": []}


def makeJobs(dsn, ids):
    """A BUILDING build of the sample build 7's source on each builder of
    C{ids} ({name: builder id}), with its queue entry, in one statement;
    returns C{{name: cookie}} and the dsc's C{{filename: sha1}}."""
    from lp_buildmaster.enums import BuildStatus
    from lp_buildmaster.model.records import makeCookie
    from lp_buildmaster.store import connection
    names = sorted(ids)
    conn = connection.connectSync(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "WITH t AS (SELECT * FROM build WHERE id = 7),"
                " b AS (INSERT INTO build (distroarchrelease,"
                "   sourcepackagerelease, archive, pocket, buildstate,"
                "   builder, date_started)"
                "  SELECT t.distroarchrelease, t.sourcepackagerelease,"
                "   t.archive, t.pocket, %s, v.id, now()"
                "  FROM t, unnest(%s::integer[]) AS v(id)"
                "  RETURNING id, builder, distroarchrelease, archive)"
                " INSERT INTO buildqueue (build, builder, buildstart,"
                "   processor, virtualized)"
                " SELECT b.id, b.builder, now(), dar.processor,"
                "   a.require_virtualized FROM b"
                " JOIN distroarchrelease dar ON dar.id = b.distroarchrelease"
                " JOIN archive a ON a.id = b.archive"
                " RETURNING build, id, builder",
                (BuildStatus.BUILDING.value, [ids[n] for n in names]))
            by_id = {builder: (build, queue)
                     for build, queue, builder in cur.fetchall()}
            cur.execute(
                "SELECT lfa.filename, lfc.sha1 FROM libraryfilealias lfa"
                " JOIN libraryfilecontent lfc ON lfc.id = lfa.content"
                " WHERE lfa.id = 1")
            dsc = dict(cur.fetchall())
    finally:
        conn.close()
    return ({n: makeCookie(*by_id[ids[n]]) for n in names}, dsc)


# --- simulators -------------------------------------------------------------

class Simulators:
    """One or more C{python -m lp_buildmaster.testing.simulator} processes
    sharing the builder name space (C{--first}).

    @ivar urls: C{{name: url}} of every builder.
    """

    def __init__(self, builders, processes=1, profile="scale",
                 prefix="sim", extra=()):
        self.procs = []
        self.urls = {}
        self.ports = []
        per = -(-builders // max(1, processes))
        first = 1
        try:
            while first <= builders:
                count = min(per, builders - first + 1)
                proc = subprocess.Popen(
                    [sys.executable, "-m", "lp_buildmaster.testing.simulator",
                     "--builders", str(count), "--profile", profile,
                     "--prefix", prefix, "--first", str(first)]
                    + list(extra),
                    cwd=str(ROOT), stdout=subprocess.PIPE, text=True)
                self.procs.append(proc)
                first += count
            for proc in self.procs:
                line = proc.stdout.readline()
                if not line:
                    raise RuntimeError("simulator exited with %s"
                                       % proc.wait())
                info = json.loads(line)
                self.urls.update(info["builders"])
                self.ports.append(info["port"])
        except BaseException:
            self.stop()
            raise

    @property
    def pids(self):
        return [p.pid for p in self.procs]

    def cpuSeconds(self):
        """User plus system CPU seconds of all simulator processes."""
        return sum(processCPU(pid) for pid in self.pids)

    def rssMB(self):
        return sum(processRSS(pid) for pid in self.pids)

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- farms in processes of their own (benchmarks/farm.py) ------------------

FARM = str(Path(__file__).resolve().parent / "farm.py")


def farmProtocol():
    """The L{twisted.internet.protocol.ProcessProtocol} class of one
    C{benchmarks/farm.py} process (imported late: nothing here may import
    the reactor before a benchmark has chosen it)."""
    from twisted.internet import defer, protocol

    class FarmProcess(protocol.ProcessProtocol):
        """Fires C{ready} with the farm's first line; L{command} sends one
        JSON command and fires with its answer; C{ended} fires when the
        process has gone."""

        def __init__(self):
            self.ready = defer.Deferred()
            self.ended = defer.Deferred()
            self.buffer = b""
            self.waiting = []
            self.stderr = b""

        def outReceived(self, data):
            self.buffer += data
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                reply = json.loads(line)
                if not self.ready.called:
                    self.ready.callback(reply)
                elif self.waiting:
                    self.waiting.pop(0).callback(reply)

        def errReceived(self, data):
            self.stderr = (self.stderr + data)[-20000:]

        def command(self, request):
            d = defer.Deferred()
            self.waiting.append(d)
            self.transport.write(json.dumps(request).encode() + b"\n")
            return d

        def processEnded(self, reason):
            error = RuntimeError("farm process ended: %s\n%s" % (
                reason.value, self.stderr.decode("utf-8", "replace")))
            if not self.ready.called:
                self.ready.errback(error)
            for d in self.waiting:
                d.errback(error)
            self.waiting = []
            self.ended.callback(None)

    return FarmProcess


class Farms:
    """C{builders} simulated builders (C{sim-00001} ...) served by
    C{processes} C{benchmarks/farm.py} processes, driven from the reactor
    without ever blocking it (the master may run in the same process).

    @ivar urls: C{{name: url}} of every builder, once L{start} has fired.
    """

    def __init__(self, reactor, builders, processes=2, prefix="sim"):
        self.reactor = reactor
        self.builders = builders
        self.count = max(1, min(processes, builders or 1))
        self.prefix = prefix
        self.procs = []
        self.urls = {}
        self.owner = {}

    def start(self):
        """Start the processes; fires when every farm listens."""
        from twisted.internet import defer
        FarmProcess = farmProtocol()
        width = max(5, len(str(self.builders)))
        per = -(-self.builders // self.count)
        first = 1
        while first <= self.builders:
            n = min(per, self.builders - first + 1)
            proc = FarmProcess()
            argv = [sys.executable, FARM, "--builders", str(n), "--first",
                    str(first), "--prefix", self.prefix, "--width",
                    str(width)]
            self.reactor.spawnProcess(proc, sys.executable, argv,
                                      env=dict(os.environ), path=str(ROOT))
            self.procs.append(proc)
            first += n

        def ready(infos):
            for proc, info in zip(self.procs, infos):
                self.urls.update(info["builders"])
                for name in info["builders"]:
                    self.owner[name] = proc
            return self
        return defer.gatherResults(
            [p.ready for p in self.procs], consumeErrors=True).addCallback(
            ready)

    @property
    def pids(self):
        return [p.transport.pid for p in self.procs
                if p.transport is not None and p.transport.pid]

    def cpuSeconds(self):
        """User plus system CPU seconds of the farm processes so far."""
        return sum(processCPU(pid) for pid in self.pids)

    def rssMB(self):
        return sum(processRSS(pid) for pid in self.pids)

    def startBuilds(self, builds, profile=None, filemap=None, args=None):
        """Start a build on each of C{{name: cookie}}; fires with how many
        started."""
        from twisted.internet import defer
        split = collections.defaultdict(dict)
        for name, cookie in builds.items():
            split[self.owner[name]][name] = cookie
        ds = [proc.command({"cmd": "start", "builds": part,
                            "profile": profile or {}, "filemap":
                            filemap or {}, "args": args or {}})
              for proc, part in split.items()]

        def counted(replies):
            refused = [n for r in replies for n in r.get("refused", ())]
            errors = [r["error"] for r in replies if "error" in r]
            if refused or errors:
                raise RuntimeError("builds not started: %s %s"
                                   % (errors, refused[:5]))
            return sum(r["started"] for r in replies)
        return defer.gatherResults(ds, consumeErrors=True).addCallback(
            counted)

    def stamps(self, directory):
        """Fires with C{{name: [monotonic seconds of each status() call]}}
        from every farm, written through files in C{directory}."""
        from twisted.internet import defer
        paths = [str(Path(directory) / ("stamps-%d.json" % i))
                 for i in range(len(self.procs))]
        ds = [proc.command({"cmd": "stamps", "path": path})
              for proc, path in zip(self.procs, paths)]

        def read(_):
            merged = {}
            for path in paths:
                with open(path) as f:
                    merged.update(json.load(f))
                os.unlink(path)
            return merged
        return defer.gatherResults(ds, consumeErrors=True).addCallback(read)

    def report(self):
        """Fires with each farm's CPU, reactor lag and counters."""
        from twisted.internet import defer
        return defer.gatherResults(
            [p.command({"cmd": "report"}) for p in self.procs],
            consumeErrors=True)

    def stop(self):
        """SIGTERM every farm; fires once all have gone."""
        from twisted.internet import defer
        for proc in self.procs:
            if not proc.ended.called:
                try:
                    proc.transport.signalProcess("TERM")
                except Exception:
                    pass
        return defer.gatherResults([p.ended for p in self.procs])


def farmLag(reports):
    """The worst reactor lag over the farms' L{Farms.report}s."""
    worst = [r["lag_s"] for r in reports if r["lag_s"]["count"]]
    if not worst:
        return None
    return {"p99": max(w["p99"] for w in worst),
            "max": max(w["max"] for w in worst)}


def stampGaps(stamps, names, t0, t1):
    """From status() stamps: the gaps between consecutive calls to each
    of C{names} within C{[t0, t1]}, and how many had none there.

    @return: C{(gaps, unscanned)}.
    """
    found, unscanned = [], 0
    for name in names:
        inside = [t for t in stamps.get(name, ()) if t0 <= t <= t1]
        if not inside:
            unscanned += 1
        found.extend(b - a for a, b in zip(inside, inside[1:]))
    return found, unscanned


# --- this process and others ------------------------------------------------

def cpuSeconds():
    """User plus system CPU seconds of this process so far."""
    t = os.times()
    return t.user + t.system


def processCPU(pid):
    """User plus system CPU seconds of another process (0 if gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are fields 14 and 15, counted from 1 with the
    # command name as field 2.
    return (int(fields[11]) + int(fields[12])) / _TICK


def _status(pid, key):
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def rssMB():
    """This process's resident memory, MB."""
    return _status("self", "VmRSS")


def peakRssMB():
    """This process's peak resident memory so far, MB."""
    return _status("self", "VmHWM")


def processRSS(pid):
    return _status(pid, "VmRSS")


class Meter:
    """CPU, wall time, statements and scans between two points."""

    def __init__(self, store=None, simulators=None):
        self.store = store
        self.simulators = simulators
        self.start()

    def _read(self):
        return (time.monotonic(), cpuSeconds(),
                self.simulators.cpuSeconds() if self.simulators else 0.0,
                self.store.statements if self.store else 0)

    def start(self):
        self.begin = self._read()

    def stop(self):
        end = self._read()
        wall, cpu, sim, statements = (b - a for a, b in zip(self.begin, end))
        return {"wall": wall, "cpu": cpu, "sim_cpu": sim,
                "statements": statements}


# --- figures ----------------------------------------------------------------

def percentile(values, p):
    """The C{p}th percentile (nearest rank) of C{values}, or None."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values, digits=3):
    """p50, p99 and max (and count) of C{values}."""
    if not values:
        return {"count": 0, "p50": None, "p99": None, "max": None}
    return {"count": len(values),
            "p50": round(percentile(values, 50), digits),
            "p99": round(percentile(values, 99), digits),
            "max": round(max(values), digits)}


def distribution(values, digits=3):
    """Count, median, p90, p99, max and mean of C{values}, or None."""
    if not values:
        return None
    return {"n": len(values),
            "median": round(statistics.median(values), digits),
            "p90": round(percentile(values, 90), digits),
            "p99": round(percentile(values, 99), digits),
            "max": round(max(values), digits),
            "mean": round(statistics.fmean(values), digits)}


def react(measure, *args):
    """Run C{measure(reactor, *args)}, which returns a Deferred, on the
    real reactor until it fires; return its result (its error is
    raised)."""
    from twisted.internet import task
    results = []
    try:
        task.react(lambda reactor: measure(reactor, *args).addCallback(
            results.append))
    except SystemExit as e:
        if e.code:
            raise
    return results[0]


def met(result):
    """The exit status of a benchmark: 0 when every target is met."""
    return 0 if all(t["met"] for t in result["targets"].values()) else 1


def databaseCounters(dsn):
    """PostgreSQL's own counters for the database of C{dsn}: committed and
    rolled back transactions and rows inserted, updated and deleted
    (statistics lag by up to a second)."""
    from lp_buildmaster.store import connection
    conn = connection.connectSync(dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute(
                "SELECT xact_commit + xact_rollback, tup_inserted,"
                " tup_updated, tup_deleted, tup_returned + tup_fetched"
                " FROM pg_stat_database WHERE datname = current_database()")
            row = cur.fetchone()
    finally:
        conn.close()
    return dict(zip(("transactions", "inserted", "updated", "deleted",
                     "read"), row))


def counterRates(before, after, intervals):
    """C{after - before} of L{databaseCounters}, per interval."""
    return {key: round((after[key] - before[key]) / intervals, 1)
            for key in before}


def emit(result):
    """Print the benchmark's one JSON object on stdout."""
    json.dump(result, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def lagSampler(clock, every=0.1):
    """Start sampling how late the reactor runs a timer; returns
    C{(loop, samples)} with samples a list of lateness in seconds."""
    from twisted.internet import task
    samples = []
    state = {"last": None}

    def tick():
        now = time.monotonic()
        if state["last"] is not None:
            samples.append(max(0.0, now - state["last"] - every))
        state["last"] = now
    loop = task.LoopingCall(tick)
    loop.clock = clock
    loop.start(every)
    return loop, samples


# --- instrumenting the master -------------------------------------------

class CountingHandler(logging.Handler):
    """Counts log records by level and keeps the first few."""

    def __init__(self, keep=5):
        super().__init__(logging.DEBUG)
        self.counts = collections.Counter()
        self.first = []
        self.keep = keep

    def emit(self, record):
        self.counts[record.levelname] += 1
        if len(self.first) < self.keep and record.levelno >= logging.INFO:
            self.first.append(record.getMessage()[:200])


def instrument(clock, stamps, state):
    """Record C{(start, end)} of every scan of every builder, and how many
    are in flight, around L{SlaveScanner.scan}."""
    from lp_buildmaster.scanner import SlaveScanner
    original = SlaveScanner.scan

    def scan(self):
        if self._inflight is not None:
            return original(self)
        state["inflight"] += 1
        start = clock.seconds()
        d = original(self)

        def done(result, name=self.name):
            state["inflight"] -= 1
            stamps[name].append((start, clock.seconds()))
            return result
        d.addBoth(done)
        return d
    SlaveScanner.scan = scan
    return original



class Master:
    """The master's scanning and collection machinery in this process, on
    the real reactor, as C{twistd} runs it without a dispatcher: a
    L{ScannerManager} over a L{BuilderGroup} with L{BuilderSlave}s sharing
    one pool; with C{directory}, also a L{LibrarianClient} over a
    L{ContentStore} and L{BuildUploads} processing uploads there.

    Log records of the scanner and the group are counted
    (C{log_counter}), not printed.
    """

    def __init__(self, reactor, store, interval, directory=None,
                 downloads=16, timeout=30.0, owner=None, keep=10):
        import lp_buildmaster.components  # noqa: F401 (the adapters)
        from lp_buildmaster.buildergroup import BuilderGroup
        from lp_buildmaster.scanner import ScannerManager
        from lp_buildmaster.slave import BuilderSlave, makePool
        self.store = store
        self.librarian = uploads = None
        if directory is not None:
            from lp_buildmaster.librarian.client import LibrarianClient
            from lp_buildmaster.librarian.storage import ContentStore
            from lp_buildmaster.upload import (
                BuildUploads, UploadArea, UploadProcessor)
            self.librarian = LibrarianClient(
                store, ContentStore(Path(directory) / "librarian"),
                "http://127.0.0.1:1/", b"bench", clock=reactor)
            area = UploadArea(Path(directory) / "uploads")
            area.ensure()
            uploads = BuildUploads(
                area, UploadProcessor(store, self.librarian, area), reactor)
        self.log_counter = CountingHandler(keep=keep)
        for name in ("lp_buildmaster.scanner", "lp_buildmaster.buildergroup"):
            logger = logging.getLogger(name)
            logger.addHandler(self.log_counter)
            logger.setLevel(logging.INFO)
            logger.propagate = False
        self.group = BuilderGroup(
            logging.getLogger("lp_buildmaster.buildergroup"), store,
            librarian=self.librarian, uploads=uploads, clock=reactor)
        self.pool = makePool(reactor, maxDownloads=downloads)

        def slaveFor(builder):
            return BuilderSlave(builder.name, builder.url, reactor=reactor,
                                pool=self.pool, timeout=timeout)
        self.manager = ScannerManager(
            store, self.group, slaveFor, clock=reactor, interval=interval,
            logger=logging.getLogger("lp_buildmaster.scanner"), owner=owner)

    def start(self):
        self.manager.startService()

    def stop(self):
        """Fires once every scan has ended and the pool is closed."""
        from twisted.internet import defer
        d = defer.maybeDeferred(self.manager.stopService)
        d.addCallback(lambda _: self.pool.closeCachedConnections())
        return d


def eachInChild(script, argv, counts, label):
    """Run C{script --one N ARGV} for each N of C{counts}, one child
    process each (so that each N's RSS and CPU are its own); the list of
    their JSON objects (C{{"builders": N, "error": ...}} for a child that
    printed none)."""
    runs = []
    for n in counts:
        print("%s: %d builders..." % (label, n), file=sys.stderr)
        proc = subprocess.run(
            [sys.executable, script, "--one", str(n)] + list(argv),
            stdout=subprocess.PIPE, text=True)
        try:
            runs.append(json.loads(proc.stdout))
        except ValueError:
            runs.append({"builders": n, "error": "exit status %d"
                         % proc.returncode})
    return runs


def timed(owner, name, durations):
    """Replace C{owner.name}, a method returning a Deferred, with one
    that appends each call's wall time (seconds) to C{durations}."""
    from twisted.internet import defer
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        started = time.monotonic()
        d = defer.maybeDeferred(original, *args, **kwargs)

        def done(result):
            durations.append(time.monotonic() - started)
            return result
        return d.addBoth(done)
    setattr(owner, name, wrapper)


def sleep(clock, seconds):
    from twisted.internet import task
    return task.deferLater(clock, seconds, lambda: None)


def gaps(stamps, names, t0, t1):
    """Inter-scan times of C{names} from L{instrument}'s C{stamps}: the
    gaps between consecutive scan ends, for scans ending in C{[t0, t1]},
    and for each builder how long it had gone unscanned at C{t1}.

    @return: C{(gaps, open_gaps, unscanned)}, the last the number of
        builders with no scan ending in the window.
    """
    found, open_gaps, unscanned = [], [], 0
    for name in names:
        ends = [e for s, e in stamps.get(name, ())]
        inside = [i for i, e in enumerate(ends) if t0 <= e <= t1]
        if not inside:
            unscanned += 1
        for i in inside:
            if i > 0:
                found.append(ends[i] - ends[i - 1])
        last = max([e for e in ends if e <= t1], default=None)
        open_gaps.append(t1 - last if last is not None else t1 - t0)
    return found, open_gaps, unscanned
