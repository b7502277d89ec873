"""C{watch}: a live table of the builders and the queue."""

import datetime
import sys

from twisted.internet import defer, task

from lp_buildmaster import formatting
from lp_buildmaster.admin.command import (
    jsonOption, positiveFloat, runWithStore)
from lp_buildmaster.admin.lookups import processorNames
from lp_buildmaster.admin.render import table
from lp_buildmaster.model.builderstate import builderStatus


CLEAR_SCREEN = "\x1b[H\x1b[2J"


@defer.inlineCallbacks
def farmSnapshot(store):
    """C{{"builders": [...], "queue": [...]}} for L{cmd_watch}."""
    processors = yield processorNames(store)
    entries = yield store.queue.all()
    builds = yield store.builds.getMany([q.build for q in entries])
    running = {q.builder: q for q in entries if q.builder is not None}
    builders = []
    for b in (yield store.builders.all()):
        job = running.get(b.id)
        build = None if job is None else builds.get(job.build)
        builders.append({
            "name": b.name,
            "processor": processors.get(b.processor, b.processor),
            "status": builderStatus(
                b, job is not None,
                None if build is None else build.buildstate),
            "mode": "manual" if b.manual else "auto",
            "build": None if job is None else job.build,
            "title": None if build is None else build.title,
            "failnotes": b.failnotes,
        })
    queue = []
    waiting = [q for q in entries if q.builder is None]
    for position, q in enumerate(waiting, 1):
        build = builds.get(q.build)
        queue.append({
            "position": position,
            "build": q.build,
            "score": q.lastscore,
            "manual": q.manual,
            "processor": processors.get(q.processor, q.processor),
            "title": None if build is None else build.title,
        })
    return {"builders": builders, "queue": queue}


def formatFrame(snapshot, now):
    builders = table(
        ["BUILDER", "PROCESSOR", "STATE", "MODE", "BUILD", "FAILNOTES"],
        [[b["name"], b["processor"], b["status"].split(":")[0], b["mode"],
          "" if b["build"] is None else "%d %s" % (b["build"], b["title"]),
          b["failnotes"]] for b in snapshot["builders"]])
    if snapshot["queue"]:
        queue = table(
            ["POS", "BUILD", "SCORE", "PROCESSOR", "TITLE"],
            [[q["position"], q["build"],
              "%d%s" % (q["score"], " (manual)" if q["manual"] else ""),
              q["processor"], q["title"]] for q in snapshot["queue"]])
    else:
        queue = "(no build waiting)"
    return "lp-buildmaster at %s\n\n%s\n\n%s" % (
        now.strftime("%Y-%m-%d %H:%M:%S"), builders, queue)


def cmd_watch(args, config, dsn):
    """Show the builders and the queue, refreshed every --interval."""
    runWithStore(dsn, _watch, args)


@defer.inlineCallbacks
def _watch(store, args):
    from twisted.internet import reactor
    while True:
        snapshot = yield farmSnapshot(store)
        if args.json:
            # One document per line, for a pipe: no terminal escapes.
            snapshot["time"] = datetime.datetime.now(datetime.timezone.utc)
            frame = formatting.dumps(
                snapshot, indent=2 if args.once else None)
        else:
            frame = formatFrame(snapshot, datetime.datetime.now())
        if args.once:
            print(frame)
            return
        if not args.json:
            frame = CLEAR_SCREEN + frame
        sys.stdout.write(frame + "\n")
        sys.stdout.flush()
        yield task.deferLater(reactor, args.interval, lambda: None)


def addWatchCommand(sub):
    p = sub.add_parser("watch", help=cmd_watch.__doc__)
    p.add_argument("--interval", type=positiveFloat, default=5.0,
                   metavar="S", help="seconds between refreshes (5)")
    p.add_argument("--once", action="store_true",
                   help="print one frame and exit")
    jsonOption(p)
    p.set_defaults(func=cmd_watch)
