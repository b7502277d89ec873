"""The program C{python -m lp_buildmaster.testing.simulator}: serves a farm
until killed and prints one JSON line once listening.

Imports C{profiles} and C{farm}.
"""

import argparse
import json
import sys

from twisted.internet import defer

from lp_buildmaster.clock import orReactor
from lp_buildmaster.testing.simulator.farm import SimulatedFarm
from lp_buildmaster.testing.simulator.profiles import PROFILES


def _parseArgs(argv):
    parser = argparse.ArgumentParser(
        prog="python -m lp_buildmaster.testing.simulator",
        description="Serve simulated launchpad-buildd builders on "
                    "127.0.0.1 and print their URLs as JSON.")
    parser.add_argument("--builders", type=int, default=4,
                        help="how many builders (default 4)")
    parser.add_argument("--port", type=int, default=0,
                        help="the shared port (default: any free one)")
    parser.add_argument("--interface", default="127.0.0.1")
    parser.add_argument("--profile", choices=sorted(PROFILES),
                        default="demo")
    parser.add_argument("--prefix", default="sim",
                        help="builder names are PREFIX-NNNNN")
    parser.add_argument("--first", type=int, default=1,
                        help="number of the first builder (default 1), so "
                             "several processes can share a name space")
    parser.add_argument("--arch", action="append", default=None,
                        help="architecture tag; repeat to deal them out "
                             "round-robin (default i386)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fault-rate", type=float, default=None,
                        help="per-call chance of a fault, split equally "
                             "between hang, refuse and garbage")
    parser.add_argument("--hang-rate", type=float, default=None)
    parser.add_argument("--refuse-rate", type=float, default=None)
    parser.add_argument("--garbage-rate", type=float, default=None)
    parser.add_argument("--duration", type=float, nargs=2, default=None,
                        metavar=("MIN", "MAX"))
    parser.add_argument("--log-size", type=int, nargs=2, default=None,
                        metavar=("MIN", "MAX"))
    fetch = parser.add_mutually_exclusive_group()
    fetch.add_argument("--fetch", dest="fetch", action="store_true",
                       default=None, help="ensurepresent() downloads "
                       "(default, except with --profile scale)")
    fetch.add_argument("--no-fetch", dest="fetch", action="store_false",
                       help="ensurepresent() trusts every sha1")
    parser.add_argument("--own-ports", action="store_true",
                        help="one port per builder instead of one shared")
    args = parser.parse_args(argv)
    if args.builders < 0:
        parser.error("--builders must be >= 0")
    return args


def _profileFromArgs(args):
    profile = PROFILES[args.profile]
    changes = {}
    if args.fault_rate is not None:
        for key in ("hang_rate", "refuse_rate", "garbage_rate"):
            changes[key] = args.fault_rate / 3.0
    for key in ("hang_rate", "refuse_rate", "garbage_rate"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    if args.duration is not None:
        changes["duration"] = tuple(args.duration)
    if args.log_size is not None:
        changes["log_size"] = tuple(args.log_size)
    return profile.replace(**changes) if changes else profile


def main(argv=None, reactor=None, out=None):
    """Serve a farm until SIGTERM/SIGINT; print its URLs as one JSON line."""
    args = _parseArgs(sys.argv[1:] if argv is None else argv)
    try:
        profile = _profileFromArgs(args)
    except ValueError as e:
        sys.stderr.write("simulator: error: %s\n" % e)
        return 2
    reactor = orReactor(reactor)
    out = sys.stdout if out is None else out
    fetch = args.fetch if args.fetch is not None else args.profile != "scale"
    farm = SimulatedFarm(reactor=reactor, seed=args.seed, profile=profile,
                         fetch=fetch)
    names = farm.addBuilders(args.builders, args.prefix, args.first,
                             arch_tags=args.arch or ["i386"])

    @defer.inlineCallbacks
    def start():
        try:
            yield farm.listen(args.port, args.interface)
            if args.own_ports:
                for name in names:
                    yield farm.listenBuilder(name, 0, args.interface)
        except Exception as e:
            sys.stderr.write("simulator: error: cannot listen: %s\n" % e)
            reactor.stop()
            return
        out.write(json.dumps(dict(farm.describe(names),
                                  profile=args.profile, fetch=fetch)) + "\n")
        out.flush()

    reactor.addSystemEventTrigger("before", "shutdown", farm.stop)
    reactor.callWhenRunning(start)
    reactor.run()
    return 0
