"""Hostile builders: every case of the catalogue (tests/hostile.py) against
a master beside a well-behaved builder, on loopback.

For each case: the scans until the offender was failed, the well-behaved
builder's scans per interval, the master's RSS growth and the longest
reactor stall (a heartbeat on the real reactor), and the tracebacks
logged. The scanners run on a Clock advanced in quarter-interval steps,
each step waiting for the real network and database I/O it started, so
scan counts are exact; stalls and memory are real. Each case gets a fresh
copy of the sample database.

Targets (the issue's): the offender failed within the thresholds (or never,
for a case whose text is only bounded), the well-behaved builder scanned
at least 7 of 8 intervals, RSS growth < 64 MB, no stall >= 1 s, no
traceback.
"""

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def measure(reactor, args):
    from twisted.internet import defer

    from lp_buildmaster.store import Store
    from tests.hostile import catalogue, runCase

    @defer.inlineCallbacks
    def run():
        results = []
        for case in catalogue(big=not args.small):
            if args.case and case.name not in args.case:
                continue
            dsn, dbname = common.createDatabase()
            store = None
            try:
                store = yield Store.connect(dsn, size=2)
                result = yield runCase(store, case, intervals=args.intervals,
                                       interval=args.interval)
            finally:
                if store is not None:
                    store.close()
                common.dropDatabase(dbname)
            result["met"] = (
                not result["problems"]
                and result["good_scans_per_interval"]
                >= (args.intervals - 1) / args.intervals
                and result["rss_growth_mb"] < 64
                and result["longest_stall_s"] < 1.0
                and result["tracebacks"] == 0)
            results.append(result)
        return {"benchmark": "hostile",
                "interval_s": args.interval, "intervals": args.intervals,
                "cases": results,
                "targets": {"all cases contained": {
                    "met": all(r["met"] for r in results),
                    "missed": [r["case"] for r in results if not r["met"]]}}}
    return run()


def parseArgs(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Prints one JSON object; exit status 1 when a target is "
               "missed.")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="scan interval, seconds (default 1, as the "
                        "issue's tries)")
    parser.add_argument("--intervals", type=int, default=8,
                        help="scan intervals per case (default 8)")
    parser.add_argument("--small", action="store_true",
                        help="the test suite's sizes (4 MB bomb, 50 MB "
                        "flood) instead of the issue's (12 MB, 200 MB)")
    parser.add_argument("--case", action="append",
                        help="run only this case (repeatable)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parseArgs(argv)
    logging.basicConfig(level=logging.CRITICAL)
    result = common.react(measure, args)
    common.emit(result)
    return 0 if result["targets"]["all cases contained"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
