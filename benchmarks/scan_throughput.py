"""Benchmark: how many builders the master scans in time, and at what cost.

For each N it runs, in a child process of its own (so that RSS and CPU
are that N's alone), the master's scanning machinery on the real reactor
-- a L{ScannerManager} with a L{BuilderGroup} and L{BuilderSlave}s over
XML-RPC -- against N simulated launchpad-buildd builders (the simulator's
C{scale} profile, all IDLE unless C{--building}) served by one or more
separate simulator processes, with the builders registered in a fresh
sample database (its own builders bob and frog disabled).

After one interval of warm-up it measures C{--duration} seconds and
reports, per N:

- C{inter_scan_s}: the time between consecutive completed scans of the
  same builder (p50, p99, max), from a timestamp per scan per builder;
  C{open_gap_max_s} is the longest any builder had gone unscanned when
  the window closed;
- C{scan_latency_s}: from a scan's start to its end (mostly the status()
  round trip);
- C{master_cpu_per_s} and C{master_cpu_per_scan_ms}: this process's own
  user+system CPU (os.times) over the window;
- C{rss_mb}, C{rss_peak_mb} (VmRSS, VmHWM);
- C{statements_per_cycle}: L{Store.statements} sent per interval;
- C{simulator_cpu_per_s}: the simulator processes' CPU (they share the
  machine's cores with the master);
- C{raw}: the limit, measured right after with the master stopped: a bare
  C{twisted.web.xmlrpc.Proxy} calling C{status} on the same builders of
  the same simulator, closed-loop at the master's concurrency (the p99
  number of scans it had in flight) and at C{--raw-concurrency}: round
  trips per second, client CPU per call, round trip time;
- C{raw_paced}: the same bare Proxy driven as the master drives its
  slaves -- one LoopingCall per builder, same interval, same spread --
  with no master logic: the baseline the master is compared with;
- C{ratio_cpu}: master CPU per scan over paced raw client CPU per call
  (C{ratio_cpu_vs_closed_loop}: over the closed-loop client's, which
  gains from the reactor batching back-to-back calls), and
  C{ratio_wall}: master scan latency p50 over paced raw round trip p50;
- C{targets}: each target with its figure and whether it is met.

One command, from a fresh clone (the database is a copy of the tests'
sample database, on C{$BUILDMASTER_TEST_DSN} when set, else the embedded
test server)::

    .venv/bin/python benchmarks/scan_throughput.py \\
        --builders 100,1000,5000,10000

Quick run: C{--builders 100,1000 --interval 3 --duration 9}.
It prints one JSON object and exits 1 when a target is missed.
"""

import argparse
import collections
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import farms  # noqa: E402
import inprocess  # noqa: E402


sleep = common.sleep


# --- the raw client ---------------------------------------------------------

def rawClient(reactor, urls, concurrency, seconds, simulators):
    """Closed loop: C{concurrency} callers, each calling status() on the
    next builder as soon as its last call returned, for C{seconds}."""
    from twisted.internet import defer
    from twisted.web import xmlrpc

    proxies = [xmlrpc.Proxy((url + "rpc").encode("ascii"), allowNone=True,
                            connectTimeout=30, reactor=reactor)
               for url in urls]
    rtts = []
    errors = collections.Counter()
    state = {"next": 0, "stop": False}

    @defer.inlineCallbacks
    def caller():
        while not state["stop"]:
            proxy = proxies[state["next"] % len(proxies)]
            state["next"] += 1
            started = time.monotonic()
            try:
                yield proxy.callRemote("status")
            except Exception as e:
                errors[type(e).__name__] += 1
            else:
                rtts.append(time.monotonic() - started)

    @defer.inlineCallbacks
    def run():
        meter = common.Meter(simulators=simulators)
        callers = [caller() for _ in range(concurrency)]
        yield sleep(reactor, seconds)
        state["stop"] = True
        yield defer.DeferredList(callers)
        m = meter.stop()
        calls = len(rtts)
        return dict(clientFigures(calls, errors, m, rtts),
                    concurrency=concurrency)
    return run()


def clientFigures(calls, errors, m, rtts):
    """What a raw client run measured, from its meter C{m}."""
    return {
        "calls": calls,
        "errors": dict(errors),
        "round_trips_per_s": round(calls / m["wall"], 1),
        "client_cpu_per_call_ms": round(1000 * m["cpu"] / max(1, calls), 4),
        "client_cpu_per_s": round(m["cpu"] / m["wall"], 3),
        "simulator_cpu_per_call_ms": round(
            1000 * m["sim_cpu"] / max(1, calls), 4),
        "rtt_s": common.summary(rtts, 5),
    }


def pacedClient(reactor, urls, interval, seconds, simulators):
    """The master's pattern without the master: one LoopingCall per
    builder at the same interval and the same spread (crc32 of the name,
    as L{ScannerManager.startScanner}), each calling a bare Proxy's
    status(). Measured for C{seconds} after one interval of warm-up."""
    import zlib

    from twisted.internet import defer, task
    from twisted.web import xmlrpc

    rtts = []
    errors = collections.Counter()
    loops = []

    def caller(proxy):
        started = time.monotonic()
        d = proxy.callRemote("status")

        def ok(_):
            rtts.append(time.monotonic() - started)

        def failed(f):
            errors[f.type.__name__] += 1
        return d.addCallbacks(ok, failed)

    @defer.inlineCallbacks
    def run():
        for name, url in urls.items():
            proxy = xmlrpc.Proxy((url + "rpc").encode("ascii"),
                                 allowNone=True, connectTimeout=30,
                                 reactor=reactor)
            loop = task.LoopingCall(caller, proxy)
            loop.clock = reactor
            loops.append(loop)
            offset = (zlib.crc32(name.encode()) % 1000) / 1000.0
            reactor.callLater(offset * interval, loop.start, interval)
        yield sleep(reactor, interval + 1)
        del rtts[:]
        errors.clear()
        meter = common.Meter(simulators=simulators)
        yield sleep(reactor, seconds)
        m = meter.stop()
        calls = len(rtts)
        for loop in loops:
            if loop.running:
                loop.stop()
        yield sleep(reactor, 0.5)
        return clientFigures(calls, errors, m, rtts)
    return run()


# --- one N ------------------------------------------------------------------

def measure(reactor, args, n):
    from twisted.internet import defer

    from lp_buildmaster.scanner import SlaveScanner
    from lp_buildmaster.store import Store

    @defer.inlineCallbacks
    def run():
        dsn, dbname = common.createDatabase()
        sims = None
        store = None
        original = None
        try:
            sims = farms.Farms(reactor, n, args.simulators)
            yield sims.start()
            common.registerBuilders(dsn, sims.urls)
            store = yield Store.connect(dsn, size=4)
            master = inprocess.Master(
                reactor, store, args.interval, timeout=args.timeout,
                owner="bench-master" if args.leases else None)
            manager = master.manager
            log_counter = master.log_counter
            stamps = collections.defaultdict(list)
            state = {"inflight": 0}
            original = inprocess.instrument(reactor, stamps, state)
            rss_before = common.rssMB()
            manager.startService()
            # Every scanner starts within the first interval.
            yield sleep(reactor, args.interval + args.warmup)
            inflight = []

            def sampleInflight():
                inflight.append(state["inflight"])
            from twisted.internet import task
            sampler = task.LoopingCall(sampleInflight)
            sampler.start(0.05)
            lag_loop, lag = common.lagSampler(reactor)
            scans_before = sum(s.scans for s in manager.scanners.values())
            t0 = reactor.seconds()
            meter = common.Meter(store, sims)
            profiler = None
            if args.profile:
                import cProfile
                profiler = cProfile.Profile()
                profiler.enable()
            yield sleep(reactor, args.duration)
            m = meter.stop()
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            t1 = reactor.seconds()
            scans = sum(s.scans for s in manager.scanners.values()) \
                - scans_before
            sampler.stop()
            lag_loop.stop()
            rss = common.rssMB()
            rss_peak = common.peakRssMB()
            sim_rss = sims.rssMB()
            scanners = len(manager.scanners)
            yield master.stop()

            gaps, open_gaps, unscanned = common.gaps(
                stamps, sims.urls, t0, t1)
            latencies = [e - s for name in sims.urls
                         for s, e in stamps.get(name, ()) if t0 <= s <= t1]
            concurrency = max(1, int(math.ceil(
                common.percentile(inflight, 99) or 1)))
            urls = [sims.urls[k] for k in sorted(sims.urls)]
            paced = yield pacedClient(reactor, sims.urls, args.interval,
                                      args.raw_paced_seconds, sims)
            raw = yield rawClient(reactor, urls, concurrency,
                                  args.raw_seconds, sims)
            raw_max = yield rawClient(reactor, urls, args.raw_concurrency,
                                      args.raw_seconds, sims)
            cycles = m["wall"] / args.interval
            cpu_per_scan = m["cpu"] / max(1, scans)
            latency = common.summary(latencies, 4)
            result = {
                "builders": n,
                "interval_s": args.interval,
                "leases": bool(args.leases),
                "window_s": round(m["wall"], 2),
                "simulator_processes": len(sims.procs),
                "scanners": scanners,
                "scans": scans,
                "scans_per_s": round(scans / m["wall"], 1),
                "expected_scans_per_s": round(n / args.interval, 1),
                "inter_scan_s": common.summary(gaps),
                "open_gap_max_s": round(max(open_gaps), 3),
                "builders_unscanned_in_window": unscanned,
                "scan_latency_s": latency,
                "scans_in_flight": common.summary(inflight, 1),
                "reactor_lag_s": common.summary(lag, 4),
                "master_cpu_per_s": round(m["cpu"] / m["wall"], 3),
                "master_cpu_per_scan_ms": round(1000 * cpu_per_scan, 4),
                "rss_before_mb": round(rss_before, 1),
                "rss_mb": round(rss, 1),
                "rss_peak_mb": round(rss_peak, 1),
                "statements": m["statements"],
                "statements_per_cycle": round(m["statements"] / cycles, 2),
                "simulator_cpu_per_s": round(m["sim_cpu"] / m["wall"], 3),
                "simulator_rss_mb": round(sim_rss, 1),
                "log_records": dict(log_counter.counts),
                "log_first": log_counter.first,
                "raw_paced": paced,
                "raw": raw,
                "raw_saturated": raw_max,
                "ratio_cpu": round(
                    cpu_per_scan * 1000 / paced["client_cpu_per_call_ms"],
                    2) if paced["client_cpu_per_call_ms"] else None,
                "ratio_cpu_vs_closed_loop": round(
                    cpu_per_scan * 1000 / raw["client_cpu_per_call_ms"], 2)
                if raw["client_cpu_per_call_ms"] else None,
                "ratio_wall": round(
                    latency["p50"] / paced["rtt_s"]["p50"], 2)
                if latency["p50"] and paced["rtt_s"]["p50"] else None,
            }
            limit = 1.5 * args.interval
            p99 = result["inter_scan_s"]["p99"]
            result["targets"] = {
                "inter_scan_p99_le_1.5_intervals": {
                    "limit_s": limit, "value_s": p99,
                    "met": p99 is not None and p99 <= limit
                    and unscanned == 0},
                "ratio_cpu_le_2": {
                    "value": result["ratio_cpu"],
                    "met": result["ratio_cpu"] is not None
                    and result["ratio_cpu"] <= 2},
            }
            return result
        finally:
            if original is not None:
                SlaveScanner.scan = original
            if store is not None:
                store.close()
            if sims is not None:
                yield sims.stop()
            common.dropDatabase(dbname)
    return run()


def runOne(args, n):
    common.emit(common.react(measure, args, n))
    return 0


def parseArgs(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Prints one JSON object; exit status 1 when a target is "
               "missed.")
    parser.add_argument("--builders", default="100,1000,5000,10000",
                        help="comma-separated builder counts "
                        "(default 100,1000,5000,10000)")
    parser.add_argument("--interval", type=float, default=15.0,
                        help="scan interval, seconds (default 15)")
    parser.add_argument("--duration", type=float, default=None,
                        help="measured seconds after the warm-up "
                        "(default 5 intervals)")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds of warm-up after the first interval "
                        "(default 5)")
    parser.add_argument("--leases", action="store_true",
                        help="scan as a named master (as twistd does): "
                        "registered in the master table, heartbeating, "
                        "holding the builders the assignment gives it")
    parser.add_argument("--simulators", type=int, default=1,
                        help="simulator processes (default 1)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="the slaves' call timeout (default 30)")
    parser.add_argument("--raw-seconds", type=float, default=10.0,
                        help="seconds of each raw-client run (default 10)")
    parser.add_argument("--raw-paced-seconds", type=float, default=None,
                        help="measured seconds of the paced raw client "
                        "(default 2 intervals)")
    parser.add_argument("--raw-concurrency", type=int, default=32,
                        help="concurrency of the saturated raw run "
                        "(default 32)")
    parser.add_argument("--profile", metavar="FILE", default=None,
                        help="with one N: cProfile the measured window "
                        "into FILE (pstats)")
    parser.add_argument("--one", type=int, default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 5 * args.interval
    if args.raw_paced_seconds is None:
        args.raw_paced_seconds = 2 * args.interval
    args.counts = common.builderCounts(parser, args.builders)
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parseArgs(argv)
    if args.one is not None:
        return runOne(args, args.one)
    runs = common.eachInChild(__file__, argv, args.counts,
                              "scan_throughput")
    met = all(all(t["met"] for t in r.get("targets", {}).values())
              and "error" not in r for r in runs)
    idle = [r["statements_per_cycle"] for r in runs
            if "statements_per_cycle" in r]
    common.emit({
        "benchmark": "scan_throughput",
        "command": " ".join([Path(sys.executable).name, "benchmarks/"
                             "scan_throughput.py"] + argv),
        "cores": __import__("os").cpu_count(),
        "statements_per_cycle_by_n": dict(zip(
            [r["builders"] for r in runs if "statements_per_cycle" in r],
            idle)),
        "statements_per_cycle_independent_of_n":
            len(set(round(x) for x in idle)) <= 1,
        "all_targets_met": met,
        "runs": runs,
    })
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
