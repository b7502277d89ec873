"""Benchmark BuilderSlave.fetchFile against curl on one large file.

A builder's /filecache is served by twisted.web's static.File (as
launchpad-buildd serves it) from a separate process, so the server's CPU and
memory are not counted against the master. The file is fetched once with
fetchFile and once with curl; the result is printed as JSON:

    python benchmarks/fetch_file.py [--size-mb 1024]

Targets: the fetching process grows by under 64 MB at peak, and fetchFile
reaches at least half of curl's throughput.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SERVER = r"""
import sys
from twisted.internet import reactor
from twisted.web import server, static
root = static.File(sys.argv[1])
port = reactor.listenTCP(0, server.Site(root), interface="127.0.0.1")
print(port.getHost().port, flush=True)
reactor.run()
"""

CURL = "/usr/bin/curl"
MB = 1024 * 1024


def makeFile(path, size):
    """Write C{size} bytes of random data; return its sha1."""
    digest = hashlib.sha1()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(4 * MB, left))
            digest.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def rssKB(field):
    with open("/proc/self/status") as f:
        return int(re.search(r"^%s:\s+(\d+)" % field, f.read(), re.M).group(1))


def resetPeakRSS():
    """Make VmHWM start again from the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def fetch(url, sha1, destdir):
    """Fetch with BuilderSlave in this process: (seconds, peak growth MB)."""
    from twisted.internet import defer
    from twisted.python.failure import Failure
    from lp_buildmaster.slave import BuilderSlave, makePool

    result = {}

    async def main(reactor):
        pool = makePool(reactor)
        slave = BuilderSlave("bench", url, reactor=reactor, pool=pool)
        baseline = rssKB("VmRSS")
        if not resetPeakRSS():
            baseline = rssKB("VmHWM")  # growth may then read low
        start = time.monotonic()
        path = await slave.fetchFile(sha1, destdir, "big.deb")
        result["seconds"] = time.monotonic() - start
        result["growth"] = (rssKB("VmHWM") - baseline) / 1024.0
        os.unlink(path)
        await pool.closeCachedConnections()

    # Not task.react: it exits the process, and curl still has to run.
    from twisted.internet import reactor
    outcome = []
    reactor.callWhenRunning(lambda: defer.ensureDeferred(main(reactor))
                            .addBoth(outcome.append)
                            .addBoth(lambda _: reactor.stop()))
    reactor.run()
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return result["seconds"], result["growth"]


def curl(url, destdir):
    """curl's throughput in bytes/s, or None without curl."""
    if not os.path.exists(CURL):
        return None
    out = os.path.join(destdir, "curl.out")
    speed = subprocess.run(
        [CURL, "-sS", "-o", out, "-w", "%{speed_download}", url],
        check=True, capture_output=True, text=True).stdout
    os.unlink(out)
    return float(speed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mb * MB

    workdir = tempfile.mkdtemp(prefix="fetch-bench-")
    server = None
    try:
        cache = os.path.join(workdir, "srv", "filecache")
        destdir = os.path.join(workdir, "dest")
        os.makedirs(cache)
        os.makedirs(destdir)
        sha1 = makeFile(os.path.join(cache, "upload.tmp"), size)
        os.rename(os.path.join(cache, "upload.tmp"), os.path.join(cache, sha1))
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, os.path.join(workdir, "srv")],
            stdout=subprocess.PIPE, text=True)
        base = "http://127.0.0.1:%s/" % server.stdout.readline().strip()
        fileurl = base + "filecache/" + sha1

        seconds, growth = fetch(base, sha1, destdir)
        ours = size / seconds
        theirs = curl(fileurl, destdir)
        print(json.dumps({
            "size_mb": args.size_mb,
            "seconds": round(seconds, 2),
            "peak_rss_growth_mb": round(growth, 1),
            "throughput_mb_s": round(ours / MB, 1),
            "curl_throughput_mb_s": (
                round(theirs / MB, 1) if theirs is not None else None),
            "ratio": round(ours / theirs, 2) if theirs else None,
            "targets": {"peak_rss_growth_mb": "< 64", "ratio": ">= 0.5"},
        }, indent=2))
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
