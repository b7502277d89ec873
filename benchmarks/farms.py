"""Simulated farms in processes of their own, driven over stdin/stdout:
the program (C{python benchmarks/farms.py}) and its driver (L{Farms}).

The benchmarks' builders: a L{SimulatedFarm} (C{fetch=False}: every
file is in the cache; the C{scale} profile unless C{--profile}; all IDLE
at first) serving C{--builders} builders named
C{PREFIX-NNNNN} from C{--first} on one loopback port, which notes the
time (C{time.monotonic()}, the same clock in every process of the
machine) of every status() call it answers, per builder. Several such
processes share one builder name space (L{Farms}), so that the
simulated side of a benchmark is never its bottleneck.

It prints one JSON line, C{{"port", "pid", "builders": {name: url}}},
then answers JSON commands, one per line on stdin, with one JSON line:

- C{{"cmd": "start", "builds": {name: cookie}, "profile": {...},
  "filemap": {...}, "args": {...}}}: start a binarypackage build on each
  named builder as the master's build() would, each drawing its outcome,
  duration and log size from the farm's profile with the given
  L{BuildProfile} fields replaced; answers C{{"started": N, "refused":
  [names]}};
- C{{"cmd": "stamps", "path": P}}: write C{{name: [seconds, ...]}} of
  every status() call so far into the file P; answers C{{"builders": N,
  "calls": N}};
- C{{"cmd": "report"}}: this process's CPU seconds so far, how late its
  reactor ran a 0.1 s timer (p50, p99, max, since the last report) and
  the farm's counters.

Run by L{Farms}; by hand::

    .venv/bin/python benchmarks/farms.py --builders 1000
"""

import argparse
import array
import collections
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


class Farm:
    """The farm, its status() stamps and its commands."""

    def __init__(self, reactor, args):
        from lp_buildmaster.testing.simulator import PROFILES, SimulatedFarm
        self.reactor = reactor
        self.base = PROFILES[args.profile]
        self.farm = SimulatedFarm(reactor=reactor, seed=args.seed,
                                  profile=self.base, fetch=False)
        self.names = self.farm.addBuilders(
            args.builders, args.prefix, args.first, width=args.width)
        self.stamps = collections.defaultdict(lambda: array.array("d"))

        def stamp(builder, method):
            if method == "status":
                self.stamps[builder.name].append(time.monotonic())
        self.farm.watchCalls(stamp)
        #: How late the reactor ran a 0.1 s timer (L{serve} samples it).
        self.lag = []

    def command(self, request):
        cmd = request.get("cmd")
        if cmd == "start":
            return self.start(request)
        if cmd == "stamps":
            with open(request["path"], "w") as f:
                json.dump({n: list(s) for n, s in self.stamps.items()}, f)
            return {"builders": len(self.stamps),
                    "calls": sum(len(s) for s in self.stamps.values())}
        if cmd == "report":
            lag = self.lag[:]
            del self.lag[:]
            return {"cpu_s": common.cpuSeconds(),
                    "lag_s": common.summary(lag, 4),
                    "counters": dict(self.farm.counters)}
        return {"error": "unknown command %r" % (cmd,)}

    def start(self, request):
        fields = dict(request.get("profile") or {})
        for key in ("duration", "log_size"):
            if key in fields:
                fields[key] = tuple(fields[key])
        profile = self.base.replace(**fields) if fields else self.base
        filemap = request.get("filemap") or {}
        args = request.get("args") or {}
        started, refused = 0, []
        for name, cookie in request["builds"].items():
            builder = self.farm.builders[name]
            builder.profile = profile
            reply = builder.xmlrpc_build(
                cookie, "binarypackage", "0" * 40, dict(filemap),
                dict(args, build_url="http://127.0.0.1/builds/%s"
                     % cookie.split("-")[0]))
            if reply[0] == "BuilderStatus.BUILDING":
                started += 1
            else:
                refused.append(name)
        return {"started": started, "refused": refused}


# --- the driver, in the benchmark's process -----------------------------------

FARM = str(Path(__file__).resolve())


def farmProtocol():
    """The L{twisted.internet.protocol.ProcessProtocol} class of one
    C{benchmarks/farms.py} process (imported late: nothing here may import
    the reactor before a benchmark has chosen it)."""
    from twisted.internet import defer, protocol

    class FarmProcess(protocol.ProcessProtocol):
        """Fires C{ready} with the farm's first line; L{command} sends one
        JSON command and fires with its answer; C{ended} fires when the
        process has gone."""

        def __init__(self):
            self.ready = defer.Deferred()
            self.ended = defer.Deferred()
            self.buffer = b""
            self.waiting = []
            self.stderr = b""

        def outReceived(self, data):
            self.buffer += data
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                reply = json.loads(line)
                if not self.ready.called:
                    self.ready.callback(reply)
                elif self.waiting:
                    self.waiting.pop(0).callback(reply)

        def errReceived(self, data):
            self.stderr = (self.stderr + data)[-20000:]

        def command(self, request):
            d = defer.Deferred()
            self.waiting.append(d)
            self.transport.write(json.dumps(request).encode() + b"\n")
            return d

        def processEnded(self, reason):
            error = RuntimeError("farm process ended: %s\n%s" % (
                reason.value, self.stderr.decode("utf-8", "replace")))
            if not self.ready.called:
                self.ready.errback(error)
            for d in self.waiting:
                d.errback(error)
            self.waiting = []
            self.ended.callback(None)

    return FarmProcess


class Farms:
    """C{builders} simulated builders (C{sim-00001} ...) served by
    C{processes} C{benchmarks/farms.py} processes, driven from the reactor
    without ever blocking it (the master may run in the same process).

    @ivar urls: C{{name: url}} of every builder, once L{start} has fired.
    """

    def __init__(self, reactor, builders, processes=2, prefix="sim",
                 profile="scale", seed=0):
        self.reactor = reactor
        self.profile = profile
        self.seed = seed
        self.builders = builders
        self.count = max(1, min(processes, builders or 1))
        self.prefix = prefix
        self.procs = []
        self.urls = {}
        self.owner = {}

    def start(self):
        """Start the processes; fires when every farm listens."""
        from twisted.internet import defer
        FarmProcess = farmProtocol()
        width = max(5, len(str(self.builders)))
        per = -(-self.builders // self.count)
        first = 1
        while first <= self.builders:
            n = min(per, self.builders - first + 1)
            proc = FarmProcess()
            argv = [sys.executable, FARM, "--builders", str(n), "--first",
                    str(first), "--prefix", self.prefix, "--width",
                    str(width), "--profile", self.profile, "--seed",
                    str(self.seed)]
            self.reactor.spawnProcess(proc, sys.executable, argv,
                                      env=dict(os.environ),
                                      path=str(common.ROOT))
            self.procs.append(proc)
            first += n

        def ready(infos):
            for proc, info in zip(self.procs, infos):
                self.urls.update(info["builders"])
                for name in info["builders"]:
                    self.owner[name] = proc
            return self
        return defer.gatherResults(
            [p.ready for p in self.procs], consumeErrors=True).addCallback(
            ready)

    @property
    def pids(self):
        return [p.transport.pid for p in self.procs
                if p.transport is not None and p.transport.pid]

    def cpuSeconds(self):
        """User plus system CPU seconds of the farm processes so far."""
        return sum(common.processCPU(pid) for pid in self.pids)

    def rssMB(self):
        return sum(common.processRSS(pid) for pid in self.pids)

    def startBuilds(self, builds, profile=None, filemap=None, args=None):
        """Start a build on each of C{{name: cookie}}; fires with how many
        started."""
        from twisted.internet import defer
        split = collections.defaultdict(dict)
        for name, cookie in builds.items():
            split[self.owner[name]][name] = cookie
        ds = [proc.command({"cmd": "start", "builds": part,
                            "profile": profile or {}, "filemap":
                            filemap or {}, "args": args or {}})
              for proc, part in split.items()]

        def counted(replies):
            refused = [n for r in replies for n in r.get("refused", ())]
            errors = [r["error"] for r in replies if "error" in r]
            if refused or errors:
                raise RuntimeError("builds not started: %s %s"
                                   % (errors, refused[:5]))
            return sum(r["started"] for r in replies)
        return defer.gatherResults(ds, consumeErrors=True).addCallback(
            counted)

    def stamps(self, directory):
        """Fires with C{{name: [monotonic seconds of each status() call]}}
        from every farm, written through files in C{directory}."""
        from twisted.internet import defer
        paths = [str(Path(directory) / ("stamps-%d.json" % i))
                 for i in range(len(self.procs))]
        ds = [proc.command({"cmd": "stamps", "path": path})
              for proc, path in zip(self.procs, paths)]

        def read(_):
            merged = {}
            for path in paths:
                with open(path) as f:
                    merged.update(json.load(f))
                os.unlink(path)
            return merged
        return defer.gatherResults(ds, consumeErrors=True).addCallback(read)

    def report(self):
        """Fires with each farm's CPU, reactor lag and counters."""
        from twisted.internet import defer
        return defer.gatherResults(
            [p.command({"cmd": "report"}) for p in self.procs],
            consumeErrors=True)

    def stop(self):
        """SIGTERM every farm; fires once all have gone."""
        from twisted.internet import defer
        for proc in self.procs:
            if not proc.ended.called:
                try:
                    proc.transport.signalProcess("TERM")
                except Exception:
                    pass
        return defer.gatherResults([p.ended for p in self.procs])


def farmLag(reports):
    """The worst reactor lag over the farms' L{Farms.report}s."""
    worst = [r["lag_s"] for r in reports if r["lag_s"]["count"]]
    if not worst:
        return None
    return {"p99": max(w["p99"] for w in worst),
            "max": max(w["max"] for w in worst)}


def stampGaps(stamps, names, t0, t1):
    """From status() stamps: the gaps between consecutive calls to each
    of C{names} within C{[t0, t1]}, and how many had none there.

    @return: C{(gaps, unscanned)}.
    """
    found, unscanned = [], 0
    for name in names:
        inside = [t for t in stamps.get(name, ()) if t0 <= t <= t1]
        if not inside:
            unscanned += 1
        found.extend(b - a for a, b in zip(inside, inside[1:]))
    return found, unscanned


def serve(args):
    from twisted.internet import defer, reactor, stdio
    from twisted.protocols import basic

    farm = Farm(reactor, args)

    class Commands(basic.LineReceiver):
        delimiter = b"\n"
        MAX_LENGTH = 256 * common.MB

        def lineReceived(self, line):
            try:
                reply = farm.command(json.loads(line))
            except Exception as e:
                reply = {"error": "%s: %s" % (type(e).__name__, e)}
            self.sendLine(json.dumps(reply).encode("utf-8"))

        def connectionLost(self, reason):
            # The benchmark has gone: so does the farm.
            if reactor.running:
                reactor.stop()

    @defer.inlineCallbacks
    def begin():
        yield farm.farm.listen(0)
        sys.stdout.write(json.dumps(farm.farm.describe(farm.names)) + "\n")
        sys.stdout.flush()
        stdio.StandardIO(Commands())
        _, farm.lag = common.lagSampler(reactor)

    reactor.addSystemEventTrigger("before", "shutdown", farm.farm.stop)
    reactor.callWhenRunning(begin)
    reactor.run()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--builders", type=int, default=4)
    parser.add_argument("--first", type=int, default=1,
                        help="number of the first builder (default 1)")
    parser.add_argument("--prefix", default="sim")
    parser.add_argument("--width", type=int, default=None,
                        help="digits of the builder numbers (default: "
                        "enough, at least 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", default="scale",
                        help="the builds' profile (default scale)")
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
