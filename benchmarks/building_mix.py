"""Benchmark (issue 15, part a): a farm that is mostly building.

For each N (C{--builders}, comma-separated), in a child process of its
own: N simulated builders (C{--farms} L{farms.Farms} processes) are
registered in a fresh sample database; C{--building} of them (80%) get a
BUILDING job, made in bulk in the database and started on the builder as
a dispatch would, whose log grows all the time, so that the 2 KB log
tail each status() carries differs at every scan, as the real daemon's
does. Of these, C{--finishing} x N per interval (1%) end OK during the
second phase with a log of C{--log-mb} MB (1) and real .changes/.deb
results, spread evenly over it. The master's scanning and collection
machinery runs in the child (L{inprocess.Master}: scanner, BuilderGroup, an
embedded librarian, upload processing; no dispatcher), on the real
reactor. Two phases follow one interval of start and C{--warmup}
seconds:

- C{quiet} (C{--quiet} intervals): nothing finishes: what the scanning
  of a building farm costs by itself;
- C{finishing} (C{--window} intervals): the builds end and are collected
  (log fetched, gzipped into the librarian, files grabbed, upload
  processed).

Each phase reports the statements the master sent (L{Store.statements},
BEGIN and COMMIT included) per interval, and PostgreSQL's own counters
for the database (transactions, rows written) per interval; the
finishing phase also the statements per collected build: the
statements from its start until the last collection ended, less the
quiet rate over that time, over the builds collected. Over both
phases: the time between consecutive status() calls to each builder
(stamped by the farms), the
master's CPU and RSS, the farms' CPU and lag.

Targets, per N: every builder scanned within 1.5 intervals (p99, and
none unscanned); every finishing build collected FULLYBUILT with its log
in the librarian. Over the Ns: the statements per interval of the quiet
phase independent of N (within 10%, or one statement), and the
statements per collected build not growing with N (by more than 20% or
two statements: it may shrink, as the librarian stores identical files
once, and the simulated .debs of builds ending in the same second are
identical). Rows written per interval grow with the building builders
(one log tail row each, all in one statement) and with the finishing
builds; the statements of the scans do not.

One command (the issue's scale is the last N; about 4 minutes per N at
15 s, 5 at 10,000, so about 13 minutes)::

    .venv/bin/python benchmarks/building_mix.py --builders 2500,5000,10000

Quick run: C{--builders 500,1000 --interval 5 --quiet 2 --window 3}.
"""

import argparse
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import farms  # noqa: E402
import inprocess  # noqa: E402

MB = common.MB

def measure(reactor, args, n):
    from twisted.internet import defer, task

    from lp_buildmaster.enums import BuildStatus
    from lp_buildmaster.store import Store

    interval = args.interval

    @defer.inlineCallbacks
    def run():
        dsn, dbname = common.createDatabase()
        tmp = Path(tempfile.mkdtemp(prefix="bench-mix-"))
        farm = farms.Farms(reactor, n, args.farms)
        store = master = None
        try:
            yield farm.start()
            names = sorted(farm.urls)
            ids = common.registerBuilders(dsn, farm.urls)
            building = [name for i, name in enumerate(names)
                        if i % 100 < round(100 * args.building)]
            count = min(len(building),
                        round(args.finishing * n * args.window))
            step = len(building) / count if count else 1
            finishing = {building[int(i * step)] for i in range(count)}
            cookies, dsc = common.makeJobs(
                dsn, {b: ids[b] for b in building})
            # The others build for hours, writing about 3 KB/s of log.
            yield farm.startBuilds(
                {b: cookies[b] for b in building if b not in finishing},
                filemap=dsc, args=common.BUILD_ARGS, profile={
                    "duration": [36000.0, 72000.0],
                    "log_size": [150 * MB, 200 * MB],
                    "outcomes": {"OK": 1.0}})
            store = yield Store.connect(dsn, size=4)
            master = inprocess.Master(reactor, store, interval,
                                      directory=tmp, downloads=args.downloads)
            # The finishing builds end evenly over the second phase; the
            # master starts right after them.
            t_built = time.monotonic()
            phase_a = interval + args.warmup
            phase_b = phase_a + args.quiet * interval
            end_b = phase_b + args.window * interval
            size = int(args.log_mb * MB)
            yield farm.startBuilds(
                {b: cookies[b] for b in finishing}, filemap=dsc,
                args=common.BUILD_ARGS, profile={
                    "duration": [phase_b + 1.0, end_b - 1.0],
                    "log_size": [size, size], "outcomes": {"OK": 1.0}})
            group = master.group
            collecting, collected = {}, {}
            inprocess.recordCollections(
                group, time.monotonic, collecting, collected)
            steps = collections.defaultdict(list)
            for owner, method, label in [
                    (group, "getLogFromSlave", "log"),
                    (group.uploads, "grab", "grab"),
                    (group.uploads, "processLeaf", "upload"),
                    (store.jobs, "finishJob", "record")]:
                inprocess.timed(owner, method, steps[label])
            rss_start = common.rssMB()
            master.start()
            # Every scanner exists once the first refresh is done.
            while (len(master.manager.scanners) < n
                   and time.monotonic() < t_built + phase_a):
                yield common.sleep(reactor, 0.1)
            started_s = time.monotonic() - t_built

            def at(offset):
                return common.sleep(reactor, max(
                    0.0, t_built + offset - time.monotonic()))

            def mark():
                return (time.monotonic(), store.statements,
                        common.databaseCounters(dsn), common.cpuSeconds(),
                        farm.cpuSeconds())
            yield at(phase_a)
            yield farm.report()
            a0 = mark()
            profiler = None
            if args.profile:
                import cProfile
                profiler = cProfile.Profile()
                profiler.enable()
            yield at(phase_b)
            a1 = mark()
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            yield at(end_b)
            b1 = mark()
            farm_reports = yield farm.report()
            collected_in_b = sum(1 for t in collected.values()
                                 if a1[0] <= t <= b1[0])
            rss_end = common.rssMB()
            rss_peak = common.peakRssMB()
            # Builds ending in the last seconds are collected after it.
            deadline = time.monotonic() + args.drain * interval
            while (len(collected) < len(finishing)
                   and time.monotonic() < deadline):
                yield common.sleep(reactor, 0.5)
            c1 = mark()
            yield master.stop()

            stamps = yield farm.stamps(tmp)
            gaps, unscanned = farms.stampGaps(stamps, names, a0[0], b1[0])
            rows = yield store.runQuery(
                "SELECT b.buildstate, count(*) AS builds,"
                "       count(b.buildlog) AS logs,"
                "       sum(lfc.filesize) AS log_bytes"
                "  FROM build b LEFT JOIN libraryfilealias lfa"
                "    ON lfa.id = b.buildlog"
                "  LEFT JOIN libraryfilecontent lfc ON lfc.id = lfa.content"
                " WHERE b.id = ANY(%s) GROUP BY b.buildstate",
                ([int(cookies[b].split("-")[0]) for b in finishing],))
            outcomes = {BuildStatus(r["buildstate"]).name: {
                "builds": r["builds"], "logs_stored": r["logs"],
                "gzipped_log_mb": round(float(r["log_bytes"] or 0) / MB, 2)}
                for r in rows}

            def phase(m0, m1, intervals):
                wall = m1[0] - m0[0]
                cycles = wall / interval
                return {
                    "intervals": round(cycles, 2),
                    "statements": m1[1] - m0[1],
                    "statements_per_interval": round(
                        (m1[1] - m0[1]) / cycles, 2),
                    "database_per_interval": common.counterRates(
                        m0[2], m1[2], cycles),
                    "master_cpu_per_s": round((m1[3] - m0[3]) / wall, 3),
                    "farm_cpu_per_s": round((m1[4] - m0[4]) / wall, 3),
                }
            quiet = phase(a0, a1, args.quiet)
            busy = phase(a1, b1, args.window)
            # Every collection happens after a1: the statements from a1
            # until the last one, less the quiet rate, are theirs.
            extra = (c1[1] - a1[1]) - quiet["statements_per_interval"] * (
                c1[0] - a1[0]) / interval
            busy["builds_collected"] = collected_in_b
            busy["statements_per_collected_build"] = (
                round(extra / len(collected), 1) if collected else None)
            per_build = [collected[b] - collecting[b] for b in collected]
            inter = common.summary(gaps)
            limit = 1.5 * interval
            ok = outcomes.get("FULLYBUILT", {})
            result = {
                "builders": n,
                "building": len(building),
                "finishing": len(finishing),
                "log_mb": args.log_mb,
                "interval_s": interval,
                "farm_processes": len(farm.procs),
                "master_started_s": round(started_s, 2),
                "quiet": quiet,
                "finishing_phase": busy,
                "inter_scan_s": inter,
                "builders_unscanned": unscanned,
                "collection_s": common.summary(per_build),
                "collection_steps_s": {k: common.summary(v)
                                       for k, v in steps.items()},
                "collected": len(collected),
                "outcomes": outcomes,
                "rss_start_mb": round(rss_start, 1),
                "rss_end_mb": round(rss_end, 1),
                "rss_peak_mb": round(rss_peak, 1),
                "farm_lag_s": farms.farmLag(farm_reports),
                "log_records": dict(master.log_counter.counts),
                "log_first": master.log_counter.first,
                "load_average": [round(x, 2)
                                 for x in __import__("os").getloadavg()],
            }
            result["targets"] = {
                "inter_scan_p99_le_1.5_intervals": {
                    "limit_s": limit, "value_s": inter["p99"],
                    "met": inter["p99"] is not None
                    and inter["p99"] <= limit and unscanned == 0},
                "phases_as_long_as_asked": {
                    "value": [quiet["intervals"], busy["intervals"]],
                    "met": quiet["intervals"] >= 0.95 * args.quiet
                    and busy["intervals"] >= 0.95 * args.window},
                "all_finishing_builds_collected": {
                    "value": ok.get("builds", 0),
                    "met": ok.get("builds", 0) == len(finishing)
                    and ok.get("logs_stored", 0) == len(finishing)},
            }
            return result
        finally:
            if store is not None:
                store.close()
            yield farm.stop()
            common.dropDatabase(dbname)
            shutil.rmtree(tmp, ignore_errors=True)
    return run()


def independent(values, share=0.1, slack=1.0):
    """Whether C{values} agree within C{share} of the largest or
    C{slack}."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return None
    return max(values) - min(values) <= max(slack, share * max(values))


def not_growing(by_n, share=0.2, slack=2.0):
    """Whether C{{n: value}} grows by no more than C{share} (or C{slack})
    from the smallest n to any larger one."""
    known = sorted((n, v) for n, v in by_n.items() if v is not None)
    if len(known) < 2:
        return len(known) == len(by_n)
    first = known[0][1]
    return all(v <= first + max(slack, share * first) for n, v in known)


def parseArgs(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Prints one JSON object; exit status 1 when a target is "
               "missed.")
    parser.add_argument("--builders", default="2500,5000,10000",
                        help="comma-separated builder counts "
                        "(default 2500,5000,10000)")
    parser.add_argument("--building", type=float, default=0.8,
                        help="share of the builders building (default 0.8)")
    parser.add_argument("--finishing", type=float, default=0.01,
                        help="share of the builders whose build ends per "
                        "interval in the finishing phase (default 0.01)")
    parser.add_argument("--log-mb", type=float, default=1.0,
                        help="a finishing build's log, MB (default 1)")
    parser.add_argument("--interval", type=float, default=15.0,
                        help="scan interval, seconds (default 15)")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds after the first interval (default 5)")
    parser.add_argument("--quiet", type=float, default=4.0,
                        help="intervals of the quiet phase (default 4)")
    parser.add_argument("--window", type=float, default=6.0,
                        help="intervals of the finishing phase (default 6)")
    parser.add_argument("--drain", type=float, default=2.0,
                        help="intervals waited after it for the last "
                        "collections (default 2)")
    parser.add_argument("--farms", type=int, default=2,
                        help="simulated farm processes (default 2)")
    parser.add_argument("--downloads", type=int, default=16,
                        help="concurrent downloads from builders "
                        "(default 16)")
    parser.add_argument("--profile", metavar="FILE", default=None,
                        help="with one N: cProfile the master during the "
                        "quiet phase into FILE (pstats)")
    parser.add_argument("--one", type=int, default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.counts = common.builderCounts(parser, args.builders)
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parseArgs(argv)
    if args.one is not None:
        result = common.react(measure, args, args.one)
        common.emit(result)
        return common.met(result)
    runs = common.eachInChild(__file__, argv, args.counts, "building_mix")
    good = [r for r in runs if "error" not in r]
    quiet = {r["builders"]: r["quiet"]["statements_per_interval"]
             for r in good}
    per_build = {r["builders"]: r["finishing_phase"][
        "statements_per_collected_build"] for r in good}
    targets = {
        "every_run_met_its_targets": {
            "met": len(good) == len(runs) and all(
                all(t["met"] for t in r["targets"].values())
                for r in good)},
        "quiet_statements_per_interval_independent_of_n": {
            "value": quiet, "met": independent(quiet.values()) is not False},
        "statements_per_collected_build_not_growing_with_n": {
            "value": per_build,
            "met": not_growing(per_build)},
    }
    result = {
        "benchmark": "building_mix",
        "command": " ".join([Path(sys.executable).name,
                             "benchmarks/building_mix.py"] + argv),
        "cores": __import__("os").cpu_count(),
        "runs": runs,
        "targets": targets,
    }
    common.emit(result)
    return common.met(result)


if __name__ == "__main__":
    sys.exit(main())
