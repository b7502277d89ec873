"""C{builder add|remove|list|set}: the builders, their URLs and modes."""

import datetime

from twisted.internet import defer

from lp_buildmaster.admin.command import (
    group, jsonOption, runAction, runWithStore)
from lp_buildmaster.admin.lookups import getBuilder, processorNames
from lp_buildmaster.admin.render import output, showValue, table
from lp_buildmaster.operations import builderRow
from lp_buildmaster.store.views import ViewStore


def cmd_builder_add(args, config, dsn):
    """Register a builder."""
    builder_id = runAction(
        dsn, "addBuilder", args.name, args.url, args.processor,
        title=args.title, virtualized=args.virtualized, manual=args.manual,
        vm_host=args.vm_host)
    output(args, {"id": builder_id, "name": args.name},
           lambda row: "builder %s added (id %d)" % (row["name"], row["id"]))


def cmd_builder_list(args, config, dsn):
    """List the builders and what they do."""
    rows = runWithStore(dsn, _builderRows)
    output(args, rows, lambda rows: table(
        ["NAME", "PROCESSOR", "URL", "VIRT", "MODE", "STATUS", "BUILD"],
        [[r["name"], r["processor"], r["url"],
          "yes" if r["virtualized"] else "no",
          "manual" if r["manual"] else "auto", r["status"],
          r["current_build"]] for r in rows]))


@defer.inlineCallbacks
def _builderRows(store):
    processors = yield processorNames(store)
    running = {q.builder: q for q in (yield store.queue.all())
               if q.builder is not None}
    builds = yield store.builds.getMany([q.build for q in running.values()])
    rows = []
    for b in (yield store.builders.all()):
        job = running.get(b.id)
        build = None if job is None else builds.get(job.build)
        rows.append(builderRow(b, processors, job,
                               None if build is None else build.buildstate))
    return rows


def cmd_builder_show(args, config, dsn):
    """Show one builder: its state and since when, its last scan, its
    current build (E6's, as the builder page shows them)."""
    row = runWithStore(dsn, _builderShow, args.name)
    output(args, row, lambda r: "\n".join(
        "%-15s %s" % (key + ":", showValue(key, value))
        for key, value in r.items()))


@defer.inlineCallbacks
def _builderShow(store, name):
    builder = yield getBuilder(store, name)
    view, = yield ViewStore(store).builders(name)
    build = view.build.build if view.build is not None else None
    row = builderRow(builder, (yield processorNames(store)), view.job,
                     None if build is None else build.buildstate)
    now = datetime.datetime.now(datetime.timezone.utc)
    row.update(
        state_since=view.state_since,
        time_in_state=None if view.state_since is None else max(
            now - view.state_since, datetime.timedelta(0)),
        last_scanned=view.last_scanned)
    return row


def cmd_builder_set(args, config, dsn):
    """Enable, disable or switch the mode of a builder."""
    if not (args.enable or args.disable is not None or args.manual
            or args.auto):
        args.parser.error(
            "builder set needs --enable, --disable, --manual or --auto")
    row = runAction(dsn, "setBuilder", args.name, enable=args.enable,
                    disable=args.disable,
                    manual=True if args.manual else
                    (False if args.auto else None))
    output(args, row, lambda r: "builder %s: %s, %s" % (
        r["name"], r["status"], "manual" if r["manual"] else "auto"))


def cmd_builder_remove(args, config, dsn):
    """Retire a builder: no more jobs or scans; its history stays."""
    runAction(dsn, "removeBuilder", args.name)
    output(args, {"name": args.name, "retired": True},
           lambda r: "builder %s retired; its builds keep naming it"
           % r["name"])


def addBuilderCommands(sub):
    builder = group(sub, "builder", "add, list and configure builders")
    p = builder.add_parser("add", help=cmd_builder_add.__doc__)
    p.add_argument("name", metavar="NAME")
    p.add_argument("url", metavar="URL",
                   help="the builder's XML-RPC address, http://HOST:PORT/")
    p.add_argument("--processor", required=True, metavar="P")
    p.add_argument("--title", help="a longer name (default NAME)")
    p.add_argument("--virtualized", action="store_true",
                   help="a virtual machine, reset after each build "
                   "(builds for archives that require it, e.g. PPAs)")
    p.add_argument("--manual", action="store_true",
                   help="take no builds until set --auto")
    p.add_argument("--vm-host", metavar="H")
    jsonOption(p)
    p.set_defaults(func=cmd_builder_add)

    p = builder.add_parser("remove", help=cmd_builder_remove.__doc__)
    p.add_argument("name", metavar="NAME")
    jsonOption(p)
    p.set_defaults(func=cmd_builder_remove)

    p = builder.add_parser("show", help=cmd_builder_show.__doc__)
    p.add_argument("name", metavar="NAME")
    jsonOption(p)
    p.set_defaults(func=cmd_builder_show)

    p = builder.add_parser("list", help=cmd_builder_list.__doc__)
    jsonOption(p)
    p.set_defaults(func=cmd_builder_list)

    p = builder.add_parser("set", help=cmd_builder_set.__doc__)
    p.add_argument("name", metavar="NAME")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--enable", action="store_true",
                       help="ok again: clears failnotes and failure count")
    state.add_argument("--disable", metavar="REASON",
                       help="not ok, with REASON as its failnotes")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--manual", action="store_true")
    mode.add_argument("--auto", action="store_true")
    jsonOption(p)
    p.set_defaults(func=cmd_builder_set, parser=p)
