"""A simulated farm in a process of its own, driven over stdin/stdout.

The benchmarks' builders: a L{SimulatedFarm} (C{fetch=False}, the
C{scale} profile: all IDLE) serving C{--builders} builders named
C{PREFIX-NNNNN} from C{--first} on one loopback port, which notes the
time (C{time.monotonic()}, the same clock in every process of the
machine) of every status() call it answers, per builder. Several such
processes share one builder name space (L{common.Farms}), so that the
simulated side of a benchmark is never its bottleneck.

It prints one JSON line, C{{"port", "pid", "builders": {name: url}}},
then answers JSON commands, one per line on stdin, with one JSON line:

- C{{"cmd": "start", "builds": {name: cookie}, "profile": {...},
  "filemap": {...}, "args": {...}}}: start a binarypackage build on each
  named builder as the master's build() would, each drawing its outcome,
  duration and log size from the C{scale} profile with the given
  L{BuildProfile} fields replaced; answers C{{"started": N, "refused":
  [names]}};
- C{{"cmd": "stamps", "path": P}}: write C{{name: [seconds, ...]}} of
  every status() call so far into the file P; answers C{{"builders": N,
  "calls": N}};
- C{{"cmd": "report"}}: this process's CPU seconds so far, how late its
  reactor ran a 0.1 s timer (p50, p99, max, since the last report) and
  the farm's counters.

Run by L{common.Farms}; by hand::

    .venv/bin/python benchmarks/farm.py --builders 1000
"""

import argparse
import array
import collections
import json
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
        self.base = PROFILES["scale"]
        self.farm = SimulatedFarm(reactor=reactor, seed=args.seed,
                                  profile=self.base, fetch=False)
        self.names = self.farm.addBuilders(
            args.builders, args.prefix, args.first, width=args.width)
        self.stamps = collections.defaultdict(lambda: array.array("d"))

        def stamp(builder, method):
            if method == "status":
                self.stamps[builder.name].append(time.monotonic())
        self.farm.watchCalls(stamp)
        self.lag = []
        self._lastTick = None

    def tick(self):
        now = time.monotonic()
        if self._lastTick is not None:
            self.lag.append(max(0.0, now - self._lastTick - 0.1))
        self._lastTick = now

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
            lag, self.lag = self.lag, []
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


def serve(args):
    from twisted.internet import defer, reactor, stdio, task
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
        task.LoopingCall(farm.tick).start(0.1)

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
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
