"""C{processor}, C{distribution}, C{series} and C{arch}: the world the
farm builds for. Each group has C{add}, C{list} and C{set}; every command
takes C{--json}; every refusal is one line (L{AdminError})."""

import re

from twisted.internet import defer

from lp_buildmaster.admin.command import (
    AdminError, group, jsonOption, parseEnum, runWithStore)
from lp_buildmaster.admin.lookups import (
    _row, getDistribution, getProcessor, getSeries, refusals)
from lp_buildmaster.admin.render import output, table
from lp_buildmaster.enums import DistroReleaseStatus


#: Names of processors, distributions, series and archives (Launchpad's).
NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]*$")


#: Debian architecture tags.
ARCH_TAG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def checkName(name, what):
    if not NAME.match(name) or len(name) > 64:
        raise AdminError(
            "invalid %s name %r: lower-case letters, digits, '+', '-' and "
            "'.', starting with a letter or digit" % (what, name))
    return name


def checkText(value, what):
    """A one-line, non-empty, printable value."""
    if value is None:
        return None
    if not value.strip() or any(c in value for c in "\r\n\0") or \
            len(value) > 200:
        raise AdminError("invalid %s %r: one line of text, 1 to 200 "
                         "characters" % (what, value))
    return value.strip()


def checkVersion(version):
    if version and not re.match(r"^[0-9A-Za-z.+~-]{1,32}$",
                                            version):
        raise AdminError("invalid version %r: digits, letters, '.', '+', "
                         "'~' and '-'" % (version,))
    return version


def _rowById(rows, row_id, what):
    """The row of C{rows} with id C{row_id}, as a dict."""
    return dict(_row([r for r in rows if r["id"] == row_id], what))


def _given(args, *names):
    """The options among C{names} that were given, by name."""
    return {name: getattr(args, name) for name in names
            if getattr(args, name) is not None}


def _listing(args, dsn, rows_of, columns):
    """Print the rows C{store.world.<rows_of>()}: the C{columns} in a
    table (their names in capitals), or every field with --json."""
    rows = [dict(r) for r in runWithStore(
        dsn, lambda store: getattr(store.world, rows_of)())]
    output(args, rows, lambda rows: table(
        [c.upper() for c in columns],
        [[r[c] for c in columns] for r in rows]))


def _setter(kind, lookup, update, rows_of, fields):
    """The store half of C{processor set} and C{distribution set}: the
    C{fields} given change, and the row comes back."""
    @defer.inlineCallbacks
    def set_(store, args):
        record = yield lookup(store, args.name)
        values = _given(args, *fields)
        if values:
            yield getattr(store.world, update)(record.id, **values)
        return _rowById((yield getattr(store.world, rows_of)()), record.id,
                        kind)
    return set_


_processorSet = _setter("processor", getProcessor, "updateProcessor",
                        "processorRows", ("title", "description"))
_distributionSet = _setter(
    "distribution", getDistribution, "updateDistribution",
    "distributionRows", ("title", "displayname"))


def cmd_processor_add(args, config, dsn):
    """Define a processor (a family of builders, e.g. amd64)."""
    checkName(args.name, "processor")
    checkText(args.title, "title")
    row = runWithStore(dsn, _processorAdd, args)
    output(args, row, lambda r: "processor %(name)s added (id %(id)d)" % r)


@refusals
@defer.inlineCallbacks
def _processorAdd(store, args):
    processor_id = yield store.world.addProcessor(
        args.name, args.title or args.name, args.description or "")
    return _rowById((yield store.world.processorRows()), processor_id,
                    "processor")


def cmd_processor_list(args, config, dsn):
    """List the processors."""
    _listing(args, dsn, "processorRows", ["name", "title", "description"])


def cmd_processor_set(args, config, dsn):
    """Change a processor's title or description."""
    checkText(args.title, "title")
    row = runWithStore(dsn, _processorSet, args)
    output(args, row, lambda r: "processor %(name)s: %(title)s" % r)


def cmd_distribution_add(args, config, dsn):
    """Define a distribution (e.g. debian)."""
    checkName(args.name, "distribution")
    checkText(args.title, "title")
    checkText(args.displayname, "display name")
    row = runWithStore(dsn, _distributionAdd, args)
    output(args, row,
           lambda r: "distribution %(name)s added (id %(id)d)" % r)


@refusals
@defer.inlineCallbacks
def _distributionAdd(store, args):
    title = args.title or args.name.capitalize()
    distribution_id = yield store.world.addDistribution(
        args.name, title, args.displayname or title)
    return _rowById((yield store.world.distributionRows()),
                    distribution_id, "distribution")


def cmd_distribution_list(args, config, dsn):
    """List the distributions."""
    _listing(args, dsn, "distributionRows", ["name", "title", "displayname"])


def cmd_distribution_set(args, config, dsn):
    """Change a distribution's title or display name."""
    checkText(args.title, "title")
    checkText(args.displayname, "display name")
    row = runWithStore(dsn, _distributionSet, args)
    output(args, row, lambda r: "distribution %(name)s: %(title)s" % r)


def seriesText(r):
    return "series %s %s: version %s, %s%s" % (
        r["distribution"], r["name"], r["version"] or "-",
        r["releasestatus"],
        ", parent %s" % r["parent_series"] if r["parent_series"] else "")


def cmd_series_add(args, config, dsn):
    """Define a series of a distribution, with its release status."""
    checkName(args.name, "series")
    checkText(args.title, "title")
    checkVersion(args.version)
    parseEnum(DistroReleaseStatus, args.status, "release status")
    row = runWithStore(dsn, _seriesAdd, args)
    output(args, row, seriesText)


@refusals
@defer.inlineCallbacks
def _seriesAdd(store, args):
    distribution = yield getDistribution(store, args.distribution)
    parent = None
    if args.parent:
        parent = (yield getSeries(store, args.distribution, args.parent)).id
    status = parseEnum(DistroReleaseStatus, args.status, "release status")
    series_id = yield store.world.addSeries(
        distribution.id, args.name, args.title or args.name.capitalize(),
        args.version or "", status, parent)
    return (yield store.world.seriesRows(series_id=series_id))[0]


def cmd_series_list(args, config, dsn):
    """List the series (of one distribution)."""
    rows = runWithStore(dsn, lambda store: store.world.seriesRows(
        args.distribution))
    output(args, rows, lambda rows: table(
        ["DISTRIBUTION", "SERIES", "VERSION", "STATUS", "PARENT",
         "ARCH-INDEP"],
        [[r["distribution"], r["name"], r["version"], r["releasestatus"],
          r["parent_series"], r["nominated_arch_indep"]] for r in rows]))


def cmd_series_set(args, config, dsn):
    """Change a series' version, release status, title or parent."""
    checkText(args.title, "title")
    checkVersion(args.version)
    if args.status is not None:
        parseEnum(DistroReleaseStatus, args.status, "release status")
    row = runWithStore(dsn, _seriesSet, args)
    output(args, row, seriesText)


@defer.inlineCallbacks
def _seriesSet(store, args):
    series = yield getSeries(store, args.distribution, args.name)
    values = {}
    if args.title is not None:
        values["title"] = args.title
    if args.version is not None:
        values["version"] = args.version
    if args.status is not None:
        values["releasestatus"] = parseEnum(
            DistroReleaseStatus, args.status, "release status")
    if args.parent is not None:
        parent = yield getSeries(store, args.distribution, args.parent)
        if parent.id == series.id:
            raise AdminError("a series cannot be its own parent")
        values["parent_series"] = parent.id
    elif args.no_parent:
        values["parent_series"] = None
    if values:
        yield store.world.updateSeries(series.id, **values)
    return (yield store.world.seriesRows(series_id=series.id))[0]


def archText(r):
    return "%s %s %s on %s%s" % (
        r["distribution"], r["series"], r["architecturetag"],
        r["processor"], " (arch-indep)" if r["arch_indep"] else "")


def cmd_arch_add(args, config, dsn):
    """Add an architecture to a series, built by a processor."""
    if not ARCH_TAG.match(args.tag) or len(args.tag) > 32:
        raise AdminError("invalid architecture tag %r: lower-case letters, "
                         "digits and '-'" % (args.tag,))
    row = runWithStore(dsn, _archAdd, args)
    output(args, row, lambda r: "architecture %s added (id %d)" % (
        archText(r), r["id"]))


@refusals
@defer.inlineCallbacks
def _archAdd(store, args):
    series = yield getSeries(store, args.distribution, args.series)
    processor = yield getProcessor(store, args.processor)
    arch_id = yield store.world.addArch(series.id, args.tag, processor.id,
                                        official=not args.unofficial)
    if args.arch_indep:
        yield store.world.updateSeries(series.id, nominatedarchindep=arch_id)
    return dict((yield store.world.archRows(arch_id=arch_id))[0])


def cmd_arch_list(args, config, dsn):
    """List the architectures (of a distribution or series)."""
    rows = [dict(r) for r in runWithStore(
        dsn, lambda store: store.world.archRows(args.distribution,
                                                args.series))]
    output(args, rows, lambda rows: table(
        ["DISTRIBUTION", "SERIES", "ARCH", "PROCESSOR", "ARCH-INDEP",
         "OFFICIAL"],
        [[r["distribution"], r["series"], r["architecturetag"],
          r["processor"], "yes" if r["arch_indep"] else "",
          "yes" if r["official"] else "no"] for r in rows]))


def cmd_arch_set(args, config, dsn):
    """Change an architecture's processor, or nominate it to build
    Architecture: all packages."""
    row = runWithStore(dsn, _archSet, args)
    output(args, row, archText)


@defer.inlineCallbacks
def _archSet(store, args):
    series = yield getSeries(store, args.distribution, args.series)
    rows = yield store.world.archRows(args.distribution, args.series)
    match = [r for r in rows if r["architecturetag"] == args.tag]
    if not match:
        raise AdminError("%s %s has no architecture %r" % (
            args.distribution, args.series, args.tag))
    arch_id = match[0]["id"]
    if args.processor is not None:
        processor = yield getProcessor(store, args.processor)
        yield store.world.updateArch(arch_id, processor=processor.id)
    if args.arch_indep:
        yield store.world.updateSeries(series.id, nominatedarchindep=arch_id)
    return dict((yield store.world.archRows(arch_id=arch_id))[0])


def addWorldCommands(sub):
    """processor, distribution, series and arch."""
    for kind, help, text, add, list_, set_ in (
            ("processor", "define processors", "--description",
             cmd_processor_add, cmd_processor_list, cmd_processor_set),
            ("distribution", "define distributions", "--displayname",
             cmd_distribution_add, cmd_distribution_list,
             cmd_distribution_set)):
        commands = group(sub, kind, help)
        for action, func in (("add", add), ("list", list_), ("set", set_)):
            p = commands.add_parser(action, help=func.__doc__)
            if action != "list":
                p.add_argument("name", metavar="NAME")
                p.add_argument("--title")
                p.add_argument(text)
            jsonOption(p)
            p.set_defaults(func=func)

    statuses = ", ".join(s.name.lower() for s in DistroReleaseStatus)
    series = group(sub, "series", "define the series of a distribution")
    p = series.add_parser("add", help=cmd_series_add.__doc__)
    p.add_argument("distribution", metavar="DISTRO")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--version", default="")
    p.add_argument("--status", required=True, metavar="S", help=statuses)
    p.add_argument("--title")
    p.add_argument("--parent", metavar="SERIES",
                   help="the series it derives from")
    jsonOption(p)
    p.set_defaults(func=cmd_series_add)
    p = series.add_parser("list", help=cmd_series_list.__doc__)
    p.add_argument("distribution", metavar="DISTRO", nargs="?")
    jsonOption(p)
    p.set_defaults(func=cmd_series_list)
    p = series.add_parser("set", help=cmd_series_set.__doc__)
    p.add_argument("distribution", metavar="DISTRO")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--version")
    p.add_argument("--status", metavar="S", help=statuses)
    p.add_argument("--title")
    parent = p.add_mutually_exclusive_group()
    parent.add_argument("--parent", metavar="SERIES")
    parent.add_argument("--no-parent", action="store_true")
    jsonOption(p)
    p.set_defaults(func=cmd_series_set)

    arch = group(sub, "arch", "define the architectures of a series")
    for action, func in (("add", cmd_arch_add), ("set", cmd_arch_set)):
        p = arch.add_parser(action, help=func.__doc__)
        p.add_argument("distribution", metavar="DISTRO")
        p.add_argument("series", metavar="SERIES")
        p.add_argument("tag", metavar="ARCH")
        p.add_argument("--processor", required=action == "add",
                       metavar="P")
        p.add_argument("--arch-indep", action="store_true",
                       help="this architecture builds Architecture: all")
        if action == "add":
            p.add_argument("--unofficial", action="store_true")
        jsonOption(p)
        p.set_defaults(func=func)
    p = arch.add_parser("list", help=cmd_arch_list.__doc__)
    p.add_argument("distribution", metavar="DISTRO", nargs="?")
    p.add_argument("series", metavar="SERIES", nargs="?")
    jsonOption(p)
    p.set_defaults(func=cmd_arch_list)
