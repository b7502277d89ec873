"""C{build request|show|list|retry|cancel|rescore} and C{why}.

The store-level halves are L{lp_buildmaster.operations}', which
L{lp_buildmaster.actions} runs for the CLI, the API and the pages."""

from urllib.parse import quote

from twisted.internet import defer

from lp_buildmaster import formatting
from lp_buildmaster.admin.command import (
    AdminError, group, integer, jsonOption, parseEnum, positiveInt,
    runAction, runWithStore)
from lp_buildmaster.admin.lookups import getBuild
from lp_buildmaster.admin.render import output, showValue, table
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.operations import requestOptionNames


def cmd_build_request(args, config, dsn):
    """Create a build of a published source (a binary package build, or
    with --job-type translation-templates --branch URL the templates of a
    branch); prints the build id."""
    build_id = runAction(dsn, "requestBuild", args.distribution,
                         args.series, args.arch, args.source, args.version,
                         pocket=args.pocket, archive=args.archive,
                         job_type=args.job_type,
                         # The options of every registered job type (each
                         # one an option of this command, e.g. --branch).
                         **{name: getattr(args, name, None)
                            for name in requestOptionNames()})
    output(args, {"id": build_id}, lambda r: str(r["id"]))


def buildRow(build, queue=None, builder_name=None):
    return {
        "id": build.id,
        "title": build.title,
        "job_type": build.job_type,
        "state": build.buildstate.name,
        "state_title": build.buildstate.title,
        "source": build.source_name,
        "version": build.source_version,
        "distribution": build.distribution_name,
        "series": build.distrorelease_name,
        "arch": build.architecturetag,
        "pocket": build.pocket.name,
        "archive": build.archive_name,
        "component": build.component,
        "builder": builder_name,
        "datecreated": build.datecreated,
        "date_started": build.date_started,
        "datebuilt": build.datebuilt,
        "buildduration": build.buildduration,
        "dependencies": build.dependencies,
        "failnotes": build.failnotes,
        "failure_count": build.failure_count,
        "buildlog": build.buildlog,
        "upload_log": build.upload_log,
        "score": None if queue is None else queue.lastscore,
        "score_manual": None if queue is None else queue.manual,
    }


def cmd_build_show(args, config, dsn):
    """Show one build, with the URLs of its log and upload log."""
    from lp_buildmaster.web.present import librarianBaseURL
    row = runWithStore(dsn, _buildShow, args.id, librarianBaseURL(config))

    def text(row):
        return "\n".join("%-14s %s" % (key + ":", showValue(key, value))
                         for key, value in row.items())
    output(args, row, text)


@defer.inlineCallbacks
def _buildShow(store, build_id, librarian_url):
    build = yield getBuild(store, build_id)
    queue = yield store.queue.getByBuild(build_id)
    name = None
    if build.builder is not None and build.buildstate != \
            BuildStatus.NEEDSBUILD:
        name = (yield store.builders.get(build.builder)).name
    row = buildRow(build, queue, name)
    for key in ("buildlog", "upload_log"):
        alias_id = getattr(build, key)
        alias = None
        if alias_id is not None:
            alias = yield store.library.getAlias(alias_id)
        row[key] = None if alias is None else "%s/%d/%s" % (
            librarian_url, alias.id, quote(alias.filename, safe=""))
    return row


def cmd_build_list(args, config, dsn):
    """List builds, newest first."""
    state = (None if args.state is None
             else parseEnum(BuildStatus, args.state, "build state"))
    rows = runWithStore(dsn, _buildList, state, args.limit)
    output(args, rows, lambda rows: table(
        ["ID", "TYPE", "STATE", "BUILDER", "SCORE", "TITLE"],
        [[r["id"], r["job_type"], r["state"], r["builder"], r["score"],
          r["title"]] for r in rows]))


@defer.inlineCallbacks
def _buildList(store, state, limit):
    builds = yield store.builds.list(state=state, limit=limit)
    names = {b.id: b.name for b in (yield store.builders.all())}
    scores = {q.build: q for q in (yield store.queue.all())}
    return [buildRow(b, scores.get(b.id), names.get(b.builder))
            for b in builds]


def cmd_build_retry(args, config, dsn):
    """Queue a failed or cancelled build again."""
    runAction(dsn, "retryBuild", args.id)
    output(args, {"id": args.id, "state": "NEEDSBUILD"},
           lambda r: "build %d is NEEDSBUILD again" % r["id"])


def cmd_build_cancel(args, config, dsn):
    """Cancel a waiting or running build."""
    state = runAction(dsn, "cancelBuild", args.id)
    output(args, {"id": args.id, "state": state.name}, lambda r: (
        "build %d is %s" % (r["id"], r["state"])
        + (": the scanner aborts it on its builder"
           if state == BuildStatus.CANCELLING else "")))


def cmd_build_rescore(args, config, dsn):
    """Set a waiting build's score by hand (kept by automatic rescoring),
    or with --auto hand it back to automatic scoring."""
    if (args.score is None) == (not args.auto):
        args.parser.error("build rescore needs a SCORE or --auto")
    score = runAction(dsn, "rescoreBuild", args.id,
                      None if args.auto else args.score)
    output(args, {"id": args.id, "score": score, "manual": not args.auto},
           lambda r: "build %(id)d now has score %(score)d" % r
           + ("" if r["manual"] else " (automatic)"))


def cmd_why(args, config, dsn):
    """Say why a build is not running (yet)."""
    # Imported here: the estimate comes with the web package, which the
    # other commands need not pay for at start-up.
    from lp_buildmaster import why
    explanation = runWithStore(dsn, _why, args.id)
    if args.json:
        print(formatting.dumps(explanation.asDict(), indent=2))
    else:
        print(why.formatText(explanation))


@defer.inlineCallbacks
def _why(store, build_id):
    context = yield store.builds.dispatchContext(build_id)
    if context is None:
        raise AdminError("unknown build %d" % (build_id,))
    from lp_buildmaster import why
    return why.explain(**context)


def addBuildCommands(sub):
    build = group(sub, "build", "request, inspect and steer builds")
    p = build.add_parser("request", help=cmd_build_request.__doc__)
    for name in ("distribution", "series", "arch", "source", "version"):
        p.add_argument(name, metavar={"distribution": "DISTRO"}.get(
            name, name.upper()))
    p.add_argument("--pocket", default="release", metavar="P")
    p.add_argument("--archive", default="primary", metavar="A")
    p.add_argument("--job-type", metavar="TYPE",
                   help="binarypackage (the default) or "
                        "translation-templates")
    p.add_argument("--branch", metavar="URL",
                   help="the branch whose translation templates are "
                        "generated (translation-templates only)")
    jsonOption(p)
    p.set_defaults(func=cmd_build_request)

    for name, func in (("show", cmd_build_show), ("retry", cmd_build_retry),
                       ("cancel", cmd_build_cancel)):
        p = build.add_parser(name, help=func.__doc__)
        p.add_argument("id", type=positiveInt, metavar="ID")
        jsonOption(p)
        p.set_defaults(func=func)

    p = build.add_parser("list", help=cmd_build_list.__doc__)
    p.add_argument("--state", metavar="S",
                   help="only builds in this state, e.g. needsbuild")
    p.add_argument("--limit", type=positiveInt, default=50, metavar="N")
    jsonOption(p)
    p.set_defaults(func=cmd_build_list)

    p = build.add_parser("rescore", help=cmd_build_rescore.__doc__)
    p.add_argument("id", type=positiveInt, metavar="ID")
    p.add_argument("--auto", action="store_true",
                   help="back to automatic scoring")
    p.add_argument("score", type=integer(what="a score"), metavar="SCORE",
                   nargs="?")
    jsonOption(p)
    p.set_defaults(func=cmd_build_rescore, parser=p)


def addWhyCommand(sub):
    p = sub.add_parser("why", help=cmd_why.__doc__)
    p.add_argument("id", type=positiveInt, metavar="ID", help="build id")
    jsonOption(p)
    p.set_defaults(func=cmd_why)
