"""Helpers shared by the benchmarks, so that each script holds only what
it measures:

- the database: a scratch copy of the sample database, builders and
  BUILDING jobs registered in bulk (L{registerBuilders}, L{makeJobs}),
  PostgreSQL's own counters (L{databaseCounters});
- the builders: C{farms.py} (simulated farms in processes of their
  own, driven from the reactor, stamping every status() call);
- the master: C{inprocess.py} (its scanning and collection machinery in
  the benchmark's process, its scans and steps timed);
- figures: CPU and memory of this process and others, percentiles,
  inter-scan gaps, reactor lag; running: L{react}, L{eachInChild} (one
  child process per N), L{emit} (the one JSON object), L{met}.

Nothing here starts the reactor; the benchmarks do.
"""

import collections
import hashlib
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import time
import zlib
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


def storeBigLog(content, size, keep=0):
    """Write C{size} bytes of numbered build-log lines, gzipped, straight
    into C{content} (a L{ContentStore}); blocking, for a thread.

    @return: C{(stored, sha1, last)}: the stored file's C{(sha1, sha256,
        size)}, the SHA-1 of the text and the text's last C{keep} bytes.
    """
    digest = hashlib.sha1()
    compressor = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    pending = content.newFile()
    written, n, last = 0, 0, b""
    try:
        while written < size:
            block = b"".join(
                b"%010d gcc -O2 -Wall -c pmount_%d.c -o pmount_%d.o\n"
                % (n + i, (n + i) % 97, (n + i) % 89) for i in range(4096))
            n += 4096
            block = block[:size - written]
            digest.update(block)
            if keep:
                last = (last + block)[-keep:]
            pending.write(compressor.compress(block))
            written += len(block)
        pending.write(compressor.flush())
        return pending.commit(), digest.hexdigest(), last
    except BaseException:
        pending.abort()
        raise


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
    (approximate: a busy connection reports its statistics late)."""
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


def builderCounts(parser, text):
    """The builder counts of a comma-separated C{--builders} value (a
    usage error from C{parser} when one is not an integer)."""
    try:
        return [int(x) for x in text.split(",") if x]
    except ValueError:
        parser.error("--builders takes comma-separated integers")


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
