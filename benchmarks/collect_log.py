"""Benchmark: collect a big build log from a loopback builder.

A child process plays the builder: it serves C{/filecache/buildlog}, a log
of realistic, compressible build output generated as it streams (never
stored). This process collects it with L{collectBuildLog} into a librarian
on a scratch database, sampling its own RSS and the reactor's lateness
meanwhile, and prints one JSON object. It exits 1 when the RSS grew by
64 MB or more.

    python benchmarks/collect_log.py [--size-mb 1024] [--no-verify]

The database is a fresh copy of the tests' sample database (on
C{$BUILDMASTER_TEST_DSN} when set, else the embedded test server).
"""

import argparse
import gzip
import io
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
RSS_LIMIT_MB = 64
CHUNK = 64 * 1024


# --- the builder (child process) -----------------------------------------

def logText(size, seed=1):
    """About C{size} bytes of build-log lines: compiler runs, warnings,
    make and dpkg chatter, test output, with varying names and numbers."""
    rng = random.Random(seed)
    words = ("mount umount policy utils fstab luks crypt device hal dbus "
             "config parse lock conffile loop media user group").split()
    templates = [
        lambda: "gcc -DHAVE_CONFIG_H -I. -I.. -g -O2 -Wall -c %s_%s.c -o "
                "%s_%s.o" % (rng.choice(words), rng.choice(words),
                             rng.choice(words), rng.choice(words)),
        lambda: "%s.c:%d:%d: warning: unused variable '%s%d' "
                "[-Wunused-variable]" % (rng.choice(words),
                                         rng.randrange(2000),
                                         rng.randrange(80), rng.choice(words),
                                         rng.randrange(100)),
        lambda: "make[%d]: Entering directory '/build/pmount-0.1/%s'"
                % (rng.randrange(1, 4), rng.choice(words)),
        lambda: "dpkg-deb: building package '%s-%s' in '../%s_0.1-1_i386.deb'"
                "." % (rng.choice(words), rng.choice(words),
                       rng.choice(words)),
        lambda: "test_%s_%s (%s.tests.Test%s) ... ok  %.3fs" % (
                rng.choice(words), rng.choice(words), rng.choice(words),
                rng.choice(words).title(), rng.random()),
        lambda: "Get:%d http://ftpmaster.internal/ubuntu hoary/main "
                "lib%s%d %s-%d [%d kB]" % (
                rng.randrange(1000), rng.choice(words), rng.randrange(9),
                "%d.%d" % (rng.randrange(9), rng.randrange(30)),
                rng.randrange(9), rng.randrange(10000)),
        lambda: "  %08x  %s" % (rng.getrandbits(32), " ".join(
                "%02x" % rng.getrandbits(8) for _ in range(16))),
    ]
    lines, total = [], 0
    while total < size:
        line = rng.choice(templates)() + "\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode("ascii")


def serve(size):
    """Serve C{size} bytes of log at /filecache/buildlog on 127.0.0.1; print
    the port, then run until killed."""
    from twisted.internet import reactor
    from twisted.web import resource, server

    # Cycled far beyond deflate's 32 KiB window, so compression sees
    # fresh text throughout.
    pool = logText(8 * MB)

    class LogProducer:
        def __init__(self, request):
            self.request, self.sent = request, 0

        def resumeProducing(self):
            offset = self.sent % len(pool)
            chunk = pool[offset:offset + min(CHUNK, size - self.sent)]
            self.sent += len(chunk)
            self.request.write(chunk)
            if self.sent >= size:
                self.request.unregisterProducer()
                self.request.finish()

        def stopProducing(self):
            pass

    class FileCache(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            if request.postpath != [b"buildlog"]:
                request.setResponseCode(404)
                return b""
            request.setHeader(b"content-length", b"%d" % size)
            request.registerProducer(LogProducer(request), False)
            return server.NOT_DONE_YET

    root = resource.Resource()
    root.putChild(b"filecache", FileCache())
    port = reactor.listenTCP(0, server.Site(root), interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    reactor.run()


# --- the collector (this process) -----------------------------------------

def rssMB():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS")


def gunzippedSize(path):
    total = 0
    with gzip.open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MB), b""):
            total += len(chunk)
    return total


def makeSlave(url):
    """The master's builder client."""
    from lp_buildmaster.slave import BuilderSlave
    return BuilderSlave("bench", url)


def collect(reactor, dsn, url, size, verify):
    from twisted.internet import defer, task, threads
    from lp_buildmaster.enums import BuildStatus
    from lp_buildmaster.librarian.buildlog import collectBuildLog
    from lp_buildmaster.librarian.client import LibrarianClient
    from lp_buildmaster.librarian.storage import ContentStore
    from lp_buildmaster.store import Store

    @defer.inlineCallbacks
    def run():
        store = yield Store.connect(dsn, size=1)
        try:
            librarian_root = tempfile.mkdtemp(prefix="bench-librarian-")
            content_store = ContentStore(librarian_root)
            librarian = LibrarianClient(
                store, content_store, "http://127.0.0.1:1/", b"bench")
            build = yield store.builds.get(7)
            # One 404 first: the HTTP client's one-off imports and set-up
            # are not what this measures.
            yield makeSlave(url).getFile("warmup", io.BytesIO()).addErrback(
                lambda failure: None)
            baseline = rssMB()
            samples = {"peak": baseline, "lag": 0.0,
                       "last": time.monotonic()}

            def sample():
                now = time.monotonic()
                samples["lag"] = max(samples["lag"],
                                     now - samples["last"] - 0.05)
                samples["last"] = now
                samples["peak"] = max(samples["peak"], rssMB())
            sampler = task.LoopingCall(sample)
            sampler.start(0.05)
            started = time.monotonic()
            aliasid = yield collectBuildLog(
                makeSlave(url), build, librarian, BuildStatus.FULLYBUILT)
            elapsed = time.monotonic() - started
            sample()
            sampler.stop()
            alias = yield store.library.getAlias(aliasid)
            path = content_store.path(alias.sha1)
            result = {
                "size_mb": size / MB,
                "seconds": round(elapsed, 2),
                "throughput_mb_s": round(size / MB / elapsed, 1),
                "rss_baseline_mb": round(baseline, 1),
                "rss_peak_mb": round(samples["peak"], 1),
                "rss_growth_mb": round(samples["peak"] - baseline, 1),
                "compressed_mb": round(alias.filesize / MB, 2),
                "compression_ratio": round(size / alias.filesize, 1),
                "max_reactor_lag_ms": round(samples["lag"] * 1000, 1),
                "filename": alias.filename,
            }
            if verify:
                result["verified"] = (
                    (yield threads.deferToThread(gunzippedSize, path))
                    == size)
            shutil.rmtree(librarian_root, ignore_errors=True)
            return result
        finally:
            store.close()
    return run()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--no-verify", dest="verify", action="store_false")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = args.size_mb * MB
    if args.serve:
        return serve(size)

    from twisted.internet import task
    from tests.database import createDatabase, dropDatabase
    dsn, dbname = createDatabase()
    builder = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--size-mb", str(args.size_mb)],
        stdout=subprocess.PIPE, text=True)
    try:
        url = "http://127.0.0.1:%d/" % int(builder.stdout.readline())
        results = []
        task.react(lambda reactor: collect(
            reactor, dsn, url, size, args.verify).addCallback(results.append))
    except SystemExit as e:
        if e.code:
            raise
    finally:
        builder.terminate()
        builder.wait()
        dropDatabase(dbname)
    print(json.dumps(results[0], indent=2))
    return 0 if results[0]["rss_growth_mb"] < RSS_LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
