"""Benchmark: many builds finishing at once, collected while the other
builders are being scanned.

C{--farms} simulated farm processes (L{farms.Farms}) serve
C{--builders} launchpad-buildd builders: the first C{--collect} of them
run one build each that ends OK after a fixed time with a log of exactly
C{--log-mb} MB and real .changes/.deb results; the others are IDLE (the
C{scale} profile). This process registers them all in a fresh sample
database (bob and frog disabled), creates a BUILDING job per collecting
builder (L{common.makeJobs}), starts its build as a dispatch would, and
runs the master's scanning and collection machinery on the real reactor
(L{inprocess.Master}: L{ScannerManager}, L{BuilderGroup} with an embedded
librarian in a temporary directory, and uploads processed in the
master).

The builds all finish within a few milliseconds of each other, after one
interval of scanning; from that moment it reports:

- C{collection_s}: until every build is collected (log gzipped into the
  librarian, files grabbed, state recorded, upload processed), and the
  throughput in builds and log MB per second;
- C{per_build_s}: each collection, from its scan to its upload processed;
- C{rss_growth_mb}: this process's peak RSS during collection over its RSS
  just before;
- C{other_inter_scan_s}: time between consecutive scans of the OTHER
  (idle) builders, for scans ending from the finish to one interval
  after the last collection, and the longest any had gone unscanned;
- C{outcomes}: the builds' final states, and the librarian's log sizes.

One command, from a fresh clone::

    .venv/bin/python benchmarks/collection.py

(1,000 builders, 100 collecting 10 MB logs, 15 s interval). It prints one
JSON object and exits 1 when an OTHER builder's scan was delayed past 1.5
intervals or a build was not collected.
"""

import argparse
import collections
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import farms  # noqa: E402
import inprocess  # noqa: E402

MB = common.MB


# --- the master (this process) --------------------------------------------

def measure(reactor, args):
    from twisted.internet import defer, task

    from lp_buildmaster.enums import BuildStatus
    from lp_buildmaster.scanner import SlaveScanner
    from lp_buildmaster.store import Store

    @defer.inlineCallbacks
    def run():
        dsn, dbname = common.createDatabase()
        tmp = Path(tempfile.mkdtemp(prefix="bench-collection-"))
        farm = store = original = None
        try:
            farm = farms.Farms(reactor, args.builders, args.farms)
            yield farm.start()
            names = sorted(farm.urls)
            collecting_names = names[:args.collect]
            ids = common.registerBuilders(dsn, farm.urls)
            cookies, dsc = common.makeJobs(
                dsn, {n: ids[n] for n in collecting_names})
            jobs = {n: tuple(int(x) for x in cookies[n].split("-"))
                    for n in collecting_names}
            size = int(args.log_mb * MB)
            yield farm.startBuilds(cookies, filemap=dsc,
                                   args=common.BUILD_ARGS, profile={
                "duration": [args.finish_after, args.finish_after],
                "log_size": [size, size], "outcomes": {"OK": 1.0}})
            finish_at = reactor.seconds() + args.finish_after
            store = yield Store.connect(dsn, size=4)
            master = inprocess.Master(reactor, store, args.interval,
                                   directory=tmp, downloads=args.downloads)
            group = master.group
            log_counter = master.log_counter

            # Record each collection, from its scan to its upload.
            collected = {}
            collecting = {}
            done_all = defer.Deferred()

            def onCollected():
                if len(collected) == len(jobs) and not done_all.called:
                    done_all.callback(None)
            inprocess.recordCollections(
                group, reactor.seconds, collecting, collected, onCollected)

            stamps = collections.defaultdict(list)
            state = {"inflight": 0}
            original = inprocess.instrument(reactor, stamps, state)
            master.start()

            yield common.sleep(reactor, max(0.0, finish_at - 0.5
                                            - reactor.seconds()))
            rss_before = common.rssMB()
            samples = {"peak": rss_before}

            def sampleRss():
                samples["peak"] = max(samples["peak"], common.rssMB())
            sampler = task.LoopingCall(sampleRss)
            sampler.start(0.1)
            lag_loop, lag = common.lagSampler(reactor)
            yield common.sleep(reactor, max(0.0, finish_at
                                            - reactor.seconds()))
            meter = common.Meter(store, farm)
            t_finish = reactor.seconds()
            timeout = reactor.callLater(
                args.timeout, lambda: done_all.called or
                done_all.errback(RuntimeError("not all collected")))
            try:
                yield done_all
                timed_out = False
            except RuntimeError:
                timed_out = True
            if timeout.active():
                timeout.cancel()
            m = meter.stop()
            t_done = reactor.seconds()
            sampler.stop()
            rss_after = common.rssMB()
            # Scans delayed by the collection end after it.
            yield common.sleep(reactor, args.interval)
            t_end = reactor.seconds()
            lag_loop.stop()
            yield master.stop()

            others = [n for n in farm.urls if n not in jobs]
            gaps, open_gaps, unscanned = common.gaps(
                stamps, others, t_finish, t_end)
            rows = yield store.runQuery(
                "SELECT b.buildstate, count(*) AS builds,"
                "       sum(lfc.filesize) AS log_bytes"
                "  FROM build b LEFT JOIN libraryfilealias lfa"
                "    ON lfa.id = b.buildlog"
                "  LEFT JOIN libraryfilecontent lfc ON lfc.id = lfa.content"
                " WHERE b.id = ANY(%s) GROUP BY b.buildstate",
                ([b for b, q in jobs.values()],))
            outcomes = {BuildStatus(r["buildstate"]).name: {
                "builds": r["builds"],
                "gzipped_log_mb": round(float(r["log_bytes"] or 0) / MB, 2)}
                for r in rows}
            span = max(collected.values(), default=t_done) - t_finish
            per_build = [collected[n] - collecting[n] for n in collected]
            limit = 1.5 * args.interval
            other_max = max(gaps + open_gaps, default=None)
            result = {
                "benchmark": "collection",
                "command": " ".join(
                    [Path(sys.executable).name, "benchmarks/collection.py"]
                    + sys.argv[1:]),
                "builders": args.builders,
                "collecting": len(jobs),
                "log_mb": args.log_mb,
                "interval_s": args.interval,
                "collected": len(collected),
                "timed_out": timed_out,
                "collection_s": round(span, 2),
                "first_collected_after_s": round(
                    min(collected.values(), default=t_finish) - t_finish,
                    2),
                "builds_per_s": round(len(collected) / span, 2)
                if span > 0 else None,
                "log_mb_per_s": round(len(collected) * args.log_mb / span,
                                      1) if span > 0 else None,
                "per_build_s": common.summary(per_build),
                "master_cpu_s": round(m["cpu"], 2),
                "master_cpu_per_s": round(m["cpu"] / m["wall"], 3),
                "simulator_cpu_per_s": round(m["sim_cpu"] / m["wall"], 3),
                "statements": m["statements"],
                "rss_before_mb": round(rss_before, 1),
                "rss_peak_mb": round(samples["peak"], 1),
                "rss_growth_mb": round(samples["peak"] - rss_before, 1),
                "rss_after_mb": round(rss_after, 1),
                "reactor_lag_s": common.summary(lag, 4),
                "other_builders": len(others),
                "other_inter_scan_s": common.summary(gaps),
                "other_open_gap_max_s": round(max(open_gaps), 3)
                if open_gaps else None,
                "other_unscanned": unscanned,
                "outcomes": outcomes,
                "log_records": dict(log_counter.counts),
                "log_first": log_counter.first,
            }
            result["targets"] = {
                "other_scans_within_1.5_intervals": {
                    "limit_s": limit, "value_s": other_max,
                    "met": other_max is not None and other_max <= limit
                    and unscanned == 0},
                "all_collected": {"value": len(collected),
                                  "met": len(collected) == len(jobs)},
            }
            return result
        finally:
            if original is not None:
                SlaveScanner.scan = original
            if store is not None:
                store.close()
            if farm is not None:
                yield farm.stop()
            common.dropDatabase(dbname)
            shutil.rmtree(tmp, ignore_errors=True)
    return run()


def parseArgs(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Prints one JSON object; exit status 1 when a target is "
               "missed.")
    parser.add_argument("--builders", type=int, default=1000,
                        help="builders in all (default 1000)")
    parser.add_argument("--collect", type=int, default=100,
                        help="of which finish a build at once (default 100)")
    parser.add_argument("--log-mb", type=float, default=10.0,
                        help="each build's log, MB (default 10)")
    parser.add_argument("--interval", type=float, default=15.0,
                        help="scan interval, seconds (default 15)")
    parser.add_argument("--finish-after", type=float, default=None,
                        help="seconds from build() to the builds' end "
                        "(default: the interval plus 10)")
    parser.add_argument("--downloads", type=int, default=16,
                        help="concurrent downloads from builders, as "
                        "[builders] pool_size (default 16)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="give up waiting for the collections after "
                        "this many seconds (default 600)")
    parser.add_argument("--farms", type=int, default=1,
                        help="simulated farm processes (default 1)")
    args = parser.parse_args(argv)
    if args.finish_after is None:
        args.finish_after = args.interval + 10.0
    if not 0 <= args.collect <= args.builders:
        parser.error("--collect must be within 0..--builders")
    return args


def main(argv=None):
    args = parseArgs(argv)
    result = common.react(measure, args)
    common.emit(result)
    return common.met(result)


if __name__ == "__main__":
    sys.exit(main())
