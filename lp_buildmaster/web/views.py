"""The HTML of each page: the dashboard, the build listing, a build and
a builder, from the dictionaries L{lp_buildmaster.web.present} makes
(the same as the API's). Action forms post to the JSON API with the
session's CSRF token, and are shown only to accounts whose role allows
them.
"""

from urllib.parse import urlencode

from lp_buildmaster.actions import allows
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.operations import RETRYABLE_STATES
from lp_buildmaster.web.forms import addBuilderForm, requestBuildForm
from lp_buildmaster.web.markup import (
    actionForm, auditHTML, builderLink, buildLink, formatDuration,
    formatEstimate, formatTime, h, logLink, page, poolName, stateSpan)
from lp_buildmaster.web.scripts import (
    BUILD_SCRIPT, BUILDER_PAGE_SCRIPT, DASHBOARD_SCRIPT)


def dashboardHTML(data, identity=None):
    now = data["now"]
    out = ["<h1>Build farm</h1>",
           "<p class=\"muted\">As of %s; updates every 5 s.</p>"
           % h(formatTime(now))]
    # Overview by processor and virtualization.
    pools = {}
    for b in data["builders"]:
        if not b["active"]:
            continue
        pool = pools.setdefault((b["processor"], b["virtualized"]), {
            "idle": 0, "building": 0, "failed": 0, "disabled": 0,
            "queue": 0, "wait": None})
        state = b["state"]
        key = {"waiting": "building", "manual": "disabled"}.get(state, state)
        pool[key] = pool.get(key, 0) + 1
    for job in data["queue"]:
        pool = pools.setdefault((job["processor"], job["virtualized"]), {
            "idle": 0, "building": 0, "failed": 0, "disabled": 0,
            "queue": 0, "wait": None})
        pool["queue"] += 1
        start = job["estimated_start"]
        if start is not None and (pool["wait"] is None
                                  or start > pool["wait"]):
            pool["wait"] = start
    out.append("<h2>Processors</h2><table id=\"overview\"><tr>"
               "<th>Processor</th><th>Idle</th><th>Building</th>"
               "<th>Failed</th><th>Disabled or manual</th><th>Queue</th>"
               "<th>Last job starts</th></tr>")
    for (processor, virtualized), p in sorted(pools.items()):
        out.append(
            "<tr class=\"pool\"><td>%s</td><td>%d</td><td>%d</td><td>%d</td>"
            "<td>%d</td><td>%d</td><td>%s</td></tr>" % (
                h(poolName(processor, virtualized)), p["idle"],
                p["building"], p["failed"], p["disabled"], p["queue"],
                h(formatEstimate(p["wait"], now) if p["queue"] else "-")))
    out.append("</table>")
    out.append("<h2>Builders</h2>")
    out.append(buildersTable([b for b in data["builders"] if b["active"]]))
    out.append(addBuilderForm(identity))
    if data.get("masters"):
        out.append("<h2>Masters</h2>")
        out.append("<table id=\"masters\"><tr><th>Master</th><th>State</th>"
                   "<th>Heartbeat</th><th>Builders</th></tr>")
        for m in data["masters"]:
            out.append(
                "<tr class=\"master\" data-name=\"%s\"><td>%s</td>"
                "<td>%s</td><td>%.1f s ago</td><td>%s</td></tr>" % (
                    h(m["name"]), h(m["name"]),
                    "live" if m["live"] else "dead", m["heartbeat_age"],
                    h(m["builders"])))
        out.append("</table>")
    out.append("<h2>Queue</h2>")
    out.append(queueHTML(data["queue"], now))
    out.append("<h2>Recently finished</h2>")
    out.append(buildsTable(data["recent"], "recent"))
    out.append("<p><a href=\"builds\">All builds</a></p>")
    return page("Build farm", "\n".join(out), identity=identity,
                script=DASHBOARD_SCRIPT % {"root": ""})


def buildersTable(builders, root=""):
    out = ["<table id=\"builders\"><tr><th>Builder</th><th>Processor</th>"
           "<th>State</th><th>Master</th><th>Build</th><th>Running for</th>"
           "<th>Log tail</th><th>Notes</th></tr>"]
    for b in builders:
        build = b["build"]
        out.append(
            "<tr class=\"builder\" data-name=\"%s\"><td title=\"%s\">%s</td>"
            "<td>%s</td><td><span class=\"state %s\">%s</span></td>"
            "<td class=\"master\">%s</td>"
            "<td>%s</td><td>%s</td><td><pre class=\"tail\">%s</pre></td>"
            "<td class=\"notes\">%s</td></tr>" % (
                h(b["name"]), h(b["title"]), builderLink(b["name"], root),
                h(b["processor"]), h(b["state"]), h(b["state"]),
                h(b.get("master") or "-"),
                buildLink(build, root) if build else "-",
                h(formatDuration(build["elapsed"])) if build else "-",
                h(b["logtail"]), h(b["failnotes"])))
    out.append("</table>")
    return "\n".join(out)


def queueHTML(queue, now, root=""):
    """One table per processor and virtualization: positions count in
    each, as the dispatcher takes jobs."""
    if not queue:
        return "<p id=\"queue\">No job is waiting.</p>"
    pools = {}
    for job in queue:
        pools.setdefault((job["processor"], job["virtualized"]),
                         []).append(job)
    out = ["<div id=\"queue\">"]
    for (processor, virtualized), jobs in sorted(pools.items()):
        out.append("<h3>%s</h3>" % h(poolName(processor, virtualized)))
        out.append("<table class=\"queue\"><tr><th>#</th><th>Processor</th>"
                   "<th>Build</th><th>Score</th><th>Estimated start</th>"
                   "</tr>")
        for job in jobs:
            out.append(
                "<tr class=\"job\" data-build=\"%d\"><td>%s</td><td>%s</td>"
                "<td>%s</td><td>%s</td><td title=\"%s\">%s</td></tr>" % (
                    job["id"], h(job["position"]), h(job["processor"]),
                    buildLink(job, root), h(job["score"]),
                    h(formatTime(job["estimated_start"])),
                    h(formatEstimate(job["estimated_start"], now))))
        out.append("</table>")
    out.append("</div>")
    return "\n".join(out)


def buildsTable(builds, table_id, root=""):
    out = ["<table id=\"%s\"><tr><th>Build</th><th>State</th><th>Builder</th>"
           "<th>Finished</th><th>Duration</th><th>Log</th></tr>"
           % h(table_id)]
    for build in builds:
        out.append(
            "<tr class=\"build\" data-build=\"%d\"><td>%s</td><td>%s</td>"
            "<td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
                build["id"], buildLink(build, root), stateSpan(build),
                builderLink(build["builder"], root),
                h(formatTime(build["datebuilt"])),
                h(formatDuration(build["duration"])), logLink(build, root)))
    out.append("</table>")
    return "\n".join(out)


FILTERS = ("state", "processor", "distribution", "series", "archive",
           "source")


def buildListHTML(builds, filters, page_size, identity=None):
    """C{/builds}: a filter form, the builds, and links to the pages
    before and after."""
    out = ["<h1>Builds</h1>", "<form id=\"filters\" method=\"get\" "
           "action=\"builds\">"]
    for name in FILTERS:
        value = filters.get(name)
        if name == "state" and value is not None:
            value = value.name.lower()
        out.append("<label>%s <input name=\"%s\" value=\"%s\" size=\"10\">"
                   "</label>" % (h(name), h(name), h(value or "")))
    out.append("<button>Filter</button></form>")
    out.append(buildsTable(builds, "builds"))
    query = {name: (filters[name].name.lower() if name == "state"
                    else filters[name])
             for name in FILTERS if filters.get(name) is not None}
    if filters.get("finished"):
        query["finished"] = 1
    offset = filters.get("offset", 0)
    links = []
    if offset > 0:
        links.append("<a id=\"newer\" href=\"builds?%s\">newer</a>" % h(
            urlencode(dict(query, offset=max(offset - page_size, 0)))))
    if len(builds) == page_size:
        links.append("<a id=\"older\" href=\"builds?%s\">older</a>" % h(
            urlencode(dict(query, offset=offset + page_size))))
    out.append("<p>%s</p>" % " ".join(links))
    out.append(requestBuildForm(identity))
    return page("Builds", "\n".join(out), identity=identity)


def buildHTML(build, now, identity=None, audit=(), files=()):
    root = "../"
    rows = [
        ("Build", "%d" % build["id"]),
        ("State", stateSpan(build, "state")),
        ("Score", "%s%s" % (h(build["score"] if build["score"] is not None
                              else "-"),
                            " (manual)" if build.get("score_manual") else "")),
        ("Builder", "<span id=\"builder\">%s</span>"
         % builderLink(build["builder"], root)),
        ("Source", "%s %s" % (h(build["source"]), h(build["version"]))),
        ("Series", "%s %s (%s pocket)" % (
            h(build["distribution"]), h(build["series"]),
            h(build["pocket"]))),
        ("Architecture", "%s (%s)" % (h(build["arch"]),
                                      h(build["processor"]))),
        ("Archive", h(build["archive"])),
        ("Created", h(formatTime(build["datecreated"]))),
        ("Started", h(formatTime(build["date_started"]))),
        ("Finished", h(formatTime(build["datebuilt"]))),
        ("Duration", h(formatDuration(build["duration"]))),
        ("Running for", "<span id=\"elapsed\">%s</span>"
         % h(formatDuration(build["elapsed"]))),
        ("Dependencies", h(build["dependencies"] or "-")),
        ("Why it failed", h(build.get("failnotes") or "-")),
        ("Log", logLink(build, root)),
        ("Upload log", "<a href=\"%s\">%s</a>" % (
            h(build["upload_log"]["url"]), h(build["upload_log"]["filename"]))
         if build.get("upload_log") else "-"),
        ("Binaries", ", ".join("<a href=\"%s\">%s</a>" % (h(f["url"]),
                                                           h(f["filename"]))
                               for f in files) or "-"),
    ]
    if build["queued"]:
        rows.append(("Queue position", "%s of %s" % (
            h(build["position"]), h(poolName(build["processor"],
                                             build["virtualized"])))))
        rows.append(("Estimated start", "%s <span class=\"muted\">%s</span>"
                     % (h(formatEstimate(build["estimated_start"], now)),
                        h(formatTime(build["estimated_start"])))))
    body = ["<h1>%s</h1>" % h(build["title"]), "<dl>"]
    body.extend("<dt>%s</dt><dd>%s</dd>" % row for row in rows)
    body.append("</dl>")
    if identity is not None and allows(identity.actor.role, "operator"):
        body.append("<h2>Actions</h2><p id=\"actions\">")
        here = "builds/%d" % build["id"]
        state = BuildStatus.byName(build["state"])
        if state in RETRYABLE_STATES:
            body.append(actionForm(root, "builds/%d/retry" % build["id"],
                                   "Retry", here, identity,
                                   css_id="retry"))
        if state in (BuildStatus.NEEDSBUILD, BuildStatus.BUILDING):
            body.append(actionForm(root, "builds/%d/cancel" % build["id"],
                                   "Cancel", here, identity,
                                   css_id="cancel"))
        if build["queued"]:
            body.append(actionForm(
                root, "builds/%d/rescore" % build["id"], "Rescore", here,
                identity, css_id="rescore",
                fields=["<input name=\"score\" size=\"6\" value=\"%s\">"
                        % h(build["score"])]))
            body.append(actionForm(
                root, "builds/%d/rescore" % build["id"], "Automatic score",
                here, identity, css_id="rescore-auto",
                fields=["<input type=\"hidden\" name=\"score\" "
                        "value=\"auto\">"]))
        body.append("</p>")
    body.append("<h2>Log tail</h2>")
    body.append("<pre class=\"full tail\" id=\"logtail\">%s</pre>"
                % h(build["logtail"]))
    body.append("<h2>Audit</h2>")
    body.append(auditHTML(audit))
    script = BUILD_SCRIPT % {"id": build["id"], "root": root} \
        if build["active"] else None
    return page(build["title"], "\n".join(body), root=root, script=script,
                identity=identity)


def builderHTML(builder, history, offset, page_size, audit=(),
                identity=None):
    root = "../"
    build = builder["build"]
    rows = [
        ("State", "<span class=\"state %s\" id=\"state\">%s</span>" % (
            h(builder["state"]), h(builder["state"]))),
        ("Processor", "%s (%s)" % (h(builder["processor"]), "virtualized"
                                   if builder["virtualized"]
                                   else "non-virtualized")),
        ("Mode", "<span id=\"mode\">%s</span>"
         % ("manual" if builder["manual"] else "automatic")),
        ("Failure notes", "<span id=\"failnotes\">%s</span>"
         % h(builder["failnotes"] or "-")),
        ("Failure count", "<span id=\"failure-count\">%s</span>"
         % h(builder["failure_count"])),
        ("In this state", "<span id=\"in-state\">%s</span> <span "
         "class=\"muted\" id=\"state-since\">%s</span>" % (
             h(formatDuration(builder.get("time_in_state"))),
             "since " + h(formatTime(builder["state_since"]))
             if builder.get("state_since") else "")),
        ("Last scan", "<span id=\"last-scan\">%s</span>" % h(
            formatTime(builder.get("last_scanned")) if
            builder.get("last_scanned") else "never")),
        ("Current build", buildLink(build, root) if build else "-"),
        ("Running for", h(formatDuration(build["elapsed"])) if build
         else "-"),
        ("Retired", "yes" if not builder["active"] else "no"),
    ]
    body = ["<h1>Builder %s</h1>" % h(builder["name"]),
            "<p class=\"muted\">%s</p>" % h(builder["title"]), "<dl>"]
    body.extend("<dt>%s</dt><dd>%s</dd>" % row for row in rows)
    body.append("</dl>")
    if identity is not None and allows(identity.actor.role, "operator") \
            and builder["active"]:
        here = "builders/%s" % builder["name"]
        api = "builders/%s" % builder["name"]
        body.append("<h2>Actions</h2><p id=\"actions\">")
        if not builder["builderok"]:
            body.append(actionForm(root, api, "Enable", here, identity,
                                   css_id="enable", fields=[
                                       "<input type=\"hidden\" "
                                       "name=\"enabled\" value=\"true\">"]))
        else:
            body.append(actionForm(root, api, "Disable", here, identity,
                                   css_id="disable", fields=[
                                       "<input type=\"hidden\" "
                                       "name=\"enabled\" value=\"false\">",
                                       "<input name=\"reason\" "
                                       "placeholder=\"reason\" required>"]))
        body.append(actionForm(
            root, api, "Automatic" if builder["manual"] else "Manual", here,
            identity, css_id="mode", fields=[
                "<input type=\"hidden\" name=\"manual\" value=\"%s\">"
                % ("false" if builder["manual"] else "true")]))
        if allows(identity.actor.role, "admin"):
            body.append(actionForm(root, api + "/remove", "Remove (retire)",
                                   "builders/%s" % builder["name"], identity,
                                   css_id="remove"))
        body.append("</p>")
    body.append("<h2>Log tail</h2>")
    body.append("<pre class=\"full tail\" id=\"logtail\">%s</pre>"
                % h(builder["logtail"]))
    body.append("<h2>History</h2>")
    body.append(buildsTable(history, "history", root))
    links = []
    if offset > 0:
        links.append("<a id=\"newer\" href=\"?offset=%d\">newer</a>"
                     % max(offset - page_size, 0))
    if len(history) == page_size:
        links.append("<a id=\"older\" href=\"?offset=%d\">older</a>"
                     % (offset + page_size))
    body.append("<p>%s</p>" % " ".join(links))
    body.append("<h2>Audit</h2>")
    body.append(auditHTML(audit))
    return page("Builder %s" % builder["name"], "\n".join(body), root=root,
                identity=identity,
                script=BUILDER_PAGE_SCRIPT % {"root": root,
                                              "name": builder["name"]})
