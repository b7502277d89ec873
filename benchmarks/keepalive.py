"""Benchmark: XML-RPC calls to builders over kept-alive connections
against one connection per call through C{twisted.web.xmlrpc.Proxy}
(C{[slave] keepalive} true and false).

For each mode and N, in a child process of its own (so that CPU is that
run's alone), the master's scanning machinery -- a L{ScannerManager} with
a L{BuilderGroup} and L{BuilderSlave}s -- scans N simulated builders (the
simulator's C{scale} profile, all IDLE, served by C{--simulators}
C{benchmarks/farms.py} processes) registered in a fresh copy of the
sample database. After one interval and C{--warmup} seconds it measures
C{--duration} seconds:

- C{master_cpu_per_scan_ms}: this process's user+system CPU (os.times)
  per completed scan; C{simulator_cpu_per_scan_ms}: the simulator
  processes' (the builder side), per scan;
- C{scans_per_s} (against C{expected_scans_per_s}, N over the interval),
  C{inter_scan_s} and C{scan_latency_s} (p50, p99, max);
- C{connections}: TCP connections the master opened in the window, and
  C{connections_per_scan}.

Modes run alternately, C{--repeat} times each, so that a machine busy
with something else costs both alike; the summary gives each mode's
median per N and the ratio keep-alive over per-call.

    .venv/bin/python benchmarks/keepalive.py --builders 1000 \\
        --interval 5 --duration 20 --repeat 2 --simulators 2

It prints one JSON object.
"""

import argparse
import collections
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import farms  # noqa: E402
import inprocess  # noqa: E402

MODES = ("keepalive", "per-call")


def measure(reactor, args, n, keepalive):
    from twisted.internet import defer

    from lp_buildmaster.scanner import SlaveScanner
    from lp_buildmaster.slave import pool as pool_
    from lp_buildmaster.store import Store

    from lp_buildmaster.slave import proxy
    opened = collections.Counter()

    def counting(factory):
        build = factory.buildProtocol

        def buildProtocol(self, addr):
            opened["connections"] += 1
            return build(self, addr)
        factory.buildProtocol = buildProtocol
    # The connections of both modes: the pool's, and the Proxy's.
    counting(pool_._QuietClientFactory)
    counting(proxy.SlaveQueryFactory)

    @defer.inlineCallbacks
    def run():
        dsn, dbname = common.createDatabase()
        sims = store = original = None
        try:
            sims = farms.Farms(reactor, n, args.simulators)
            yield sims.start()
            common.registerBuilders(dsn, sims.urls)
            store = yield Store.connect(dsn, size=4)
            master = inprocess.Master(reactor, store, args.interval,
                                      timeout=args.timeout,
                                      keepalive=keepalive)
            manager = master.manager
            stamps = collections.defaultdict(list)
            original = inprocess.instrument(
                reactor, stamps, {"inflight": 0})
            master.start()
            yield common.sleep(reactor, args.interval + args.warmup)
            scans_before = sum(s.scans for s in manager.scanners.values())
            opened_before = opened["connections"]
            t0 = reactor.seconds()
            meter = common.Meter(store, sims)
            yield common.sleep(reactor, args.duration)
            m = meter.stop()
            t1 = reactor.seconds()
            scans = sum(s.scans for s in manager.scanners.values()) \
                - scans_before
            connections = opened["connections"] - opened_before
            yield master.stop()
            gaps, _, unscanned = common.gaps(stamps, sims.urls, t0, t1)
            latencies = [e - s for name in sims.urls
                         for s, e in stamps.get(name, ()) if t0 <= s <= t1]
            return {
                "mode": "keepalive" if keepalive else "per-call",
                "builders": n,
                "interval_s": args.interval,
                "window_s": round(m["wall"], 2),
                "scans": scans,
                "scans_per_s": round(scans / m["wall"], 1),
                "expected_scans_per_s": round(n / args.interval, 1),
                "builders_unscanned_in_window": unscanned,
                "inter_scan_s": common.summary(gaps),
                "scan_latency_s": common.summary(latencies, 4),
                "master_cpu_per_s": round(m["cpu"] / m["wall"], 3),
                "master_cpu_per_scan_ms": round(
                    1000 * m["cpu"] / max(1, scans), 4),
                "simulator_cpu_per_scan_ms": round(
                    1000 * m["sim_cpu"] / max(1, scans), 4),
                "connections": connections,
                "connections_per_scan": round(connections / max(1, scans), 4),
                "rss_mb": round(common.rssMB(), 1),
            }
        finally:
            if original is not None:
                SlaveScanner.scan = original
            if store is not None:
                store.close()
            if sims is not None:
                yield sims.stop()
            common.dropDatabase(dbname)
    return run()


def runOne(args, n, mode):
    common.emit(common.react(measure, args, n, mode == "keepalive"))
    return 0


def summarise(runs, key):
    """Each mode's median of C{key} by N, and keep-alive over per-call."""
    by = collections.defaultdict(list)
    for r in runs:
        if key in r:
            by[(r["builders"], r["mode"])].append(r[key])
    out = {}
    for n in sorted({b for b, _ in by}):
        row = {mode: round(statistics.median(by[(n, mode)]), 4)
               for mode in MODES if by.get((n, mode))}
        if all(row.get(mode) for mode in MODES):
            row["ratio"] = round(row["keepalive"] / row["per-call"], 3)
        out[str(n)] = row
    return out


def parseArgs(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Prints one JSON object.")
    parser.add_argument("--builders", default="1000,3000",
                        help="comma-separated builder counts (1000,3000)")
    parser.add_argument("--interval", type=float, default=5.0,
                        help="scan interval, seconds (default 5)")
    parser.add_argument("--duration", type=float, default=20.0,
                        help="measured seconds after the warm-up (20)")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds of warm-up after the first interval")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of each mode per N (default 2)")
    parser.add_argument("--simulators", type=int, default=1,
                        help="simulator processes (default 1)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="the slaves' call timeout (default 30)")
    parser.add_argument("--one", type=int, default=None,
                        help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.counts = common.builderCounts(parser, args.builders)
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parseArgs(argv)
    if args.one is not None:
        return runOne(args, args.one, args.mode)
    runs = []
    for n in args.counts:
        for i in range(args.repeat):
            for mode in (MODES if i % 2 == 0 else MODES[::-1]):
                print("keepalive: %d builders, %s, run %d..." % (
                    n, mode, i + 1), file=sys.stderr)
                proc = subprocess.run(
                    [sys.executable, __file__, "--one", str(n),
                     "--mode", mode] + list(argv),
                    stdout=subprocess.PIPE, text=True)
                if proc.returncode != 0:
                    runs.append({"builders": n, "mode": mode, "error":
                                 "exit status %d" % proc.returncode})
                    continue
                runs.append(json.loads(proc.stdout))
    common.emit({
        "benchmark": "keepalive",
        "command": " ".join([Path(sys.executable).name,
                             "benchmarks/keepalive.py"] + argv),
        "cores": __import__("os").cpu_count(),
        "master_cpu_per_scan_ms": summarise(runs, "master_cpu_per_scan_ms"),
        "simulator_cpu_per_scan_ms": summarise(
            runs, "simulator_cpu_per_scan_ms"),
        "scans_per_s": summarise(runs, "scans_per_s"),
        "connections_per_scan": summarise(runs, "connections_per_scan"),
        "runs": runs,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
