"""Benchmark: read a big gzipped build log as text through the librarian.

A gzipped log of C{--size-mb} MiB of text is stored in a scratch librarian
(on a fresh copy of the tests' sample database); the real
L{LibrarianResource} serves it on loopback, and C{curl} (which sends no
Accept-Encoding) downloads it, so the master decompresses it on the fly.
This process samples its own RSS meanwhile and prints one JSON object; it
exits 1 when the RSS grew by 64 MB or more, or the text came back wrong.

    python benchmarks/serve_log.py [--size-mb 1024]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import common  # noqa: E402

MB = common.MB
RSS_LIMIT_MB = 64


def measure(reactor, args):
    from twisted.internet import defer, task, threads
    from twisted.web.server import Site

    from lp_buildmaster.librarian.server import LibrarianResource
    from lp_buildmaster.librarian.storage import ContentStore
    from lp_buildmaster.store import Store

    work = Path(tempfile.mkdtemp(prefix="serve-log-"))
    dsn, dbname = common.createDatabase()

    @defer.inlineCallbacks
    def run():
        store = yield Store.connect(dsn, size=1)
        try:
            content = ContentStore(work / "librarian")
            stored, text_sha1, _ = yield threads.deferToThread(
                common.storeBigLog, content, args.size_mb * MB)
            alias = yield store.library.addAlias(
                *stored, "buildlog_big.txt.gz", "text/plain")
            port = reactor.listenTCP(0, Site(LibrarianResource(
                store, content, b"secret", reactor)), interface="127.0.0.1")
            url = "http://127.0.0.1:%d/%d/buildlog_big.txt.gz" % (
                port.getHost().port, alias)
            rss0 = common.rssMB()
            peak = [rss0]

            def sample():
                peak[0] = max(peak[0], common.rssMB())
            sampler = task.LoopingCall(sample)
            sampler.start(0.1)
            start = time.monotonic()
            curl = yield threads.deferToThread(
                lambda: subprocess.run(
                    "curl -sS %s | sha1sum" % url, shell=True,
                    capture_output=True, text=True))
            elapsed = time.monotonic() - start
            sampler.stop()
            yield port.stopListening()
            return {
                "benchmark": "serve_log",
                "size_mb": args.size_mb,
                "compressed_mb": round(stored[2] / MB, 1),
                "seconds": round(elapsed, 2),
                "mb_per_s": round(args.size_mb / elapsed, 1),
                "rss_start_mb": round(rss0, 1),
                "rss_growth_mb": round(peak[0] - rss0, 1),
                "text_ok": curl.stdout.split()[0] == text_sha1
                if curl.stdout else False,
                "target": "RSS growth < %d MB" % RSS_LIMIT_MB,
            }
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
    ok = result["text_ok"] and result["rss_growth_mb"] < RSS_LIMIT_MB
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
