"""Benchmark: the end of a big finished build log, as its build page shows
it (lp_buildmaster/web/logtail.py).

A gzipped log of C{--size-mb} MiB of text is stored in a scratch
librarian (on a fresh copy of the tests' sample database) and its last
16 KiB read through the real L{LibrarianClient} by L{StoredLogTails}, in
cooperator steps on the running reactor, as the page reads it. This
process samples its RSS and how late the reactor runs a 10 ms timer
meanwhile, and prints one JSON object; it exits 1 when the RSS grew by
64 MB or more, the reactor was held for 0.5 s or more, or the tail came
back wrong.

    python benchmarks/log_tail.py [--size-mb 1024]
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import common  # noqa: E402

MB = common.MB
RSS_LIMIT_MB = 64
STALL_LIMIT = 0.5


def measure(reactor, args):
    from twisted.internet import defer, task, threads

    from lp_buildmaster.librarian.client import LibrarianClient
    from lp_buildmaster.librarian.storage import ContentStore
    from lp_buildmaster.store import Store
    from lp_buildmaster.text import tail
    from lp_buildmaster.web.logtail import TAIL_BYTES, StoredLogTails

    work = Path(tempfile.mkdtemp(prefix="log-tail-"))
    dsn, dbname = common.createDatabase()

    @defer.inlineCallbacks
    def run():
        store = yield Store.connect(dsn, size=1)
        try:
            content = ContentStore(work / "librarian")
            stored, _, last = yield threads.deferToThread(
                common.storeBigLog, content, args.size_mb * MB, TAIL_BYTES)
            alias = yield store.library.addAlias(
                *stored, "buildlog_big.txt.gz", "text/plain")
            tails = StoredLogTails(LibrarianClient(
                store, content, "http://127.0.0.1:1/", b"secret"))
            rss0 = common.rssMB()
            peak = [rss0]

            def sample():
                peak[0] = max(peak[0], common.rssMB())
            sampler = task.LoopingCall(sample)
            sampler.start(0.1)
            lag, lateness = common.lagSampler(reactor, every=0.01)
            start = time.monotonic()
            got = yield tails.get(alias)
            elapsed = time.monotonic() - start
            lag.stop()
            sampler.stop()
            again = time.monotonic()
            cached = yield tails.get(alias)
            cached_s = time.monotonic() - again
            cut = last[last.index(b"\n") + 1:]
            longest = max(lateness) if lateness else 0.0
            result = {
                "benchmark": "log_tail",
                "size_mb": args.size_mb,
                "compressed_mb": round(stored[2] / MB, 1),
                "seconds": round(elapsed, 2),
                "mb_per_s": round(args.size_mb / elapsed, 1),
                "cached_seconds": round(cached_s, 4),
                "rss_start_mb": round(rss0, 1),
                "rss_growth_mb": round(peak[0] - rss0, 1),
                "longest_reactor_stall_s": round(longest, 3),
                "tail_ok": got == tail(cut, TAIL_BYTES) and cached == got,
            }
            result["targets"] = {
                "rss": {"target": "RSS growth < %d MB" % RSS_LIMIT_MB,
                        "met": result["rss_growth_mb"] < RSS_LIMIT_MB},
                "stall": {"target": "reactor held < %.1f s" % STALL_LIMIT,
                          "met": longest < STALL_LIMIT},
                "tail": {"target": "the last 16 KiB, whole lines",
                         "met": result["tail_ok"]},
            }
            return result
        finally:
            store.close()

    def cleanup(result):
        common.dropDatabase(dbname)
        shutil.rmtree(work, ignore_errors=True)
        return result
    return run().addBoth(cleanup)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    result = common.react(measure, args)
    common.emit(result)
    return common.met(result)


if __name__ == "__main__":
    sys.exit(main())
