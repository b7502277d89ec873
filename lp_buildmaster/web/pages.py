"""The server-rendered HTML pages.

    /                   builders by processor (counts, queue, wait), the
                        builders, the queue per processor and virtualization,
                        recent builds
    /builders/<name>    a builder: state, failures, current build with a
                        live log tail, paged history, audit, actions
    /builds             every build, with filters and paging
    /builds/<id>        a build: state, score, times, log, binaries,
                        upload log, audit, actions; live while it runs
    /builds/<id>/log    its whole log as text, streamed
    /login, /logout     the login form (CSRF protected) and its end

Everything shown goes through L{h}: builder logtails, failnotes and
dependencies come from builders and are untrusted. The pages use no
external assets; their scripts only read the JSON API and set
C{textContent}, never HTML. Links are relative, so the pages work behind
a proxy that mounts them under a prefix. Action forms post to the JSON
API (L{lp_buildmaster.web.api}) with the session's CSRF token, and are
shown only to accounts whose role allows them.
"""

import datetime
import html
from urllib.parse import urlencode

from twisted.internet import defer
from twisted.web import resource, server

from lp_buildmaster.actions import allows
from lp_buildmaster.admin import RETRYABLE_STATES
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.formatting import textDuration
from lp_buildmaster.librarian.gunzip import GunzipProducer
from lp_buildmaster.web.api import NotFound, buildFilters, parseId, respond
from lp_buildmaster.web.auth import Unauthorized, field

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25em .6em; vertical-align: top;
         border-bottom: 1px solid #ddd; }
th { background: #f3f3f3; }
pre { margin: 0; white-space: pre; overflow: auto; max-height: 12em;
      max-width: 60em; font-size: 12px; }
pre.full { max-height: 40em; background: #f8f8f8; padding: .5em; }
.state { font-weight: bold; padding: 0 .4em; border-radius: 3px; }
.idle, .FULLYBUILT { background: #dfd; }
.building, .BUILDING, .UPLOADING, .NEEDSBUILD { background: #ddf; }
.waiting, .MANUALDEPWAIT, .CHROOTWAIT, .CANCELLING { background: #ffd; }
.failed, .FAILEDTOBUILD, .FAILEDTOUPLOAD { background: #fcc; }
.disabled, .manual, .CANCELLED, .SUPERSEDED { background: #eee; }
.muted { color: #777; } .error { color: #a00; }
dl { display: grid; grid-template-columns: max-content auto;
     gap: .2em 1em; } dt { font-weight: bold; }
form.inline { display: inline; } nav a { margin-right: 1em; }
.user { float: right; }
"""

#: Keeps every log tail box on its newest line, now and after updates.
TAIL_SCRIPT = """
function bmTail(e) { e.scrollTop = e.scrollHeight; }
document.querySelectorAll("pre.tail").forEach(bmTail);
"""

BUILD_SCRIPT = """
(function () {
  var id = %(id)d, delay = 2000;
  function show(name, text) {
    var e = document.getElementById(name);
    if (e) { e.textContent = (text === null || text === undefined)
                             ? "" : String(text); }
    return e;
  }
  function duration(seconds) {  // as textDuration does on the server
    if (seconds === null || seconds === undefined) { return "-"; }
    var s = Math.floor(seconds), h = Math.floor(s / 3600),
        m = Math.floor(s %% 3600 / 60), pad = function (n) {
          return (n < 10 ? "0" : "") + n; };
    return h + ":" + pad(m) + ":" + pad(s %% 60);
  }
  function poll() {
    fetch("%(root)sapi/builds/" + id, {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw r.status; } return r.json(); })
      .then(function (b) {
        var state = show("state", b.state_title);
        if (state) { state.className = "state " + b.state; }
        show("builder", b.builder || "-");
        var tail = show("logtail", b.logtail);
        if (tail) { bmTail(tail); }
        show("elapsed", duration(b.elapsed));
        if (b.active) { setTimeout(poll, delay); }
        else { location.reload(); }
      }, function () { setTimeout(poll, delay); });
  }
  setTimeout(poll, delay);
})();
"""

#: The dashboard and the builder page refresh their builders from the API.
BUILDERS_SCRIPT = """
(function () {
  function poll() {
    fetch("%(root)sapi/builders", {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw r.status; } return r.json(); })
      .then(function (builders) {
        builders.forEach(function (b) {
          var row = document.querySelector(
              'tr.builder[data-name="' + CSS.escape(b.name) + '"]');
          if (!row) { return; }
          var state = row.querySelector(".state");
          state.textContent = b.state;
          state.className = "state " + b.state;
          var tail = row.querySelector("pre.tail");
          if (tail) { tail.textContent = b.logtail || ""; bmTail(tail); }
          var notes = row.querySelector(".notes");
          if (notes) { notes.textContent = b.failnotes || ""; }
        });
        setTimeout(poll, 5000);
      }, function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 5000);
})();
"""


def h(value):
    """Text for HTML, quotes included; None is empty."""
    return "" if value is None else html.escape(str(value), quote=True)


def formatTime(value):
    if value is None:
        return "-"
    return value.astimezone(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC")


def formatDuration(value):
    return textDuration(value)


def formatEstimate(when, now):
    if when is None:
        return "no usable builder"
    if when <= now:
        return "now"
    return "in " + formatDuration(when - now)


def userBar(identity, root):
    if identity is None:
        return ("<span class=\"user\"><a id=\"login\" href=\"%slogin\">"
                "log in</a></span>" % h(root))
    actor = identity.actor
    logout = ""
    if identity.session:
        logout = (" <form class=\"inline\" method=\"post\" action=\"%s"
                  "logout\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                  "<button>log out</button></form>"
                  % (h(root), h(identity.csrf)))
    return ("<span class=\"user\" id=\"user\">%s (%s)%s</span>"
            % (h(actor.name), h(actor.role), logout))


def page(title, body, root="", script=None, identity=None):
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<title>%s</title>" % h(title),
        "<meta name=\"viewport\" content=\"width=device-width\">",
        "<style>%s</style></head><body>" % CSS,
        "<nav>%s<a href=\"%s\">lp-buildmaster</a><a href=\"%sbuilds\">"
        "builds</a></nav>" % (userBar(identity, root), h(root or "./"),
                              h(root)),
        body,
        "<script>%s</script>" % TAIL_SCRIPT,
    ]
    if script:
        parts.append("<script>%s</script>" % script)
    parts.append("</body></html>\n")
    return "\n".join(parts).encode("utf-8")


def stateSpan(build, element_id=None):
    return "<span class=\"state %s\"%s>%s</span>" % (
        h(build["state"]), " id=\"%s\"" % element_id if element_id else "",
        h(build["state_title"]))


def buildLink(build, root=""):
    return "<a href=\"%sbuilds/%d\">%d</a> %s" % (
        h(root), build["id"], build["id"], h(build["title"]))


def builderLink(name, root=""):
    if not name:
        return "-"
    return "<a href=\"%sbuilders/%s\">%s</a>" % (h(root), h(name), h(name))


def logLink(build, root=""):
    log = build["log"]
    if log is None:
        return "-"
    return ("<a href=\"%sbuilds/%d/log\">view</a> (<a href=\"%s\">%s</a>)%s"
            % (h(root), build["id"], h(log["url"]), h(log["filename"]),
               " <span class=\"muted\">(restricted)</span>"
               if log["restricted"] else ""))


def actionForm(root, api_path, label, next_path, identity, fields=(),
               css_id=None):
    """A form posting to C{api/<api_path>} that comes back to
    C{next_path} (both relative to the site's root)."""
    depth = api_path.count("/") + 1
    hidden = [("csrf", identity.csrf or ""),
              ("next", "../" * depth + next_path)]
    inputs = "".join("<input type=\"hidden\" name=\"%s\" value=\"%s\">"
                     % (h(k), h(v)) for k, v in hidden)
    return ("<form class=\"inline\" method=\"post\" action=\"%sapi/%s\"%s>"
            "%s%s<button>%s</button></form>" % (
                h(root), h(api_path), " id=\"%s\"" % h(css_id) if css_id
                else "", inputs, "".join(fields), h(label)))


def auditHTML(entries):
    if not entries:
        return "<p class=\"muted\" id=\"audit\">No action recorded.</p>"
    rows = ["<table id=\"audit\"><tr><th>When</th><th>Who</th><th>From</th>"
            "<th>Action</th><th>Detail</th></tr>"]
    for e in entries:
        rows.append("<tr class=\"audit\"><td>%s</td><td>%s</td><td>%s</td>"
                    "<td>%s</td><td>%s</td></tr>" % (
                        h(formatTime(e.datecreated)), h(e.actor),
                        h(e.origin), h(e.action), h(e.detail)))
    rows.append("</table>")
    return "\n".join(rows)


def poolName(processor, virtualized):
    return "%s, %s" % (processor,
                       "virtualized" if virtualized else "non-virtualized")


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
                script=BUILDERS_SCRIPT % {"root": ""})


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
    offset = filters.get("offset", 0)
    links = []
    if offset > 0:
        links.append("<a id=\"newer\" href=\"builds?%s\">newer</a>" % h(
            urlencode(dict(query, offset=max(offset - page_size, 0)))))
    if len(builds) == page_size:
        links.append("<a id=\"older\" href=\"builds?%s\">older</a>" % h(
            urlencode(dict(query, offset=offset + page_size))))
    out.append("<p>%s</p>" % " ".join(links))
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
        ("State", "<span class=\"state %s\">%s</span>" % (
            h(builder["state"]), h(builder["state"]))),
        ("Processor", "%s (%s)" % (h(builder["processor"]), "virtualized"
                                   if builder["virtualized"]
                                   else "non-virtualized")),
        ("Mode", "manual" if builder["manual"] else "automatic"),
        ("Failure notes", h(builder["failnotes"] or "-")),
        ("Failure count", h(builder["failure_count"])),
        ("Current build", buildLink(build, root) if build else "-"),
        ("Running for", h(formatDuration(build["elapsed"])) if build
         else "-"),
        ("Retired", "yes" if not builder["active"] else "no"),
    ]
    body = ["<h1>Builder %s</h1>" % h(builder["name"]),
            "<p class=\"muted\">%s</p>" % h(builder["title"]), "<dl>"]
    body.extend("<dt>%s</dt><dd>%s</dd>" % row for row in rows)
    body.append("</dl>")
    body.append("<table id=\"builders\" hidden><tr class=\"builder\" "
                "data-name=\"%s\"><td><span class=\"state\"></span></td>"
                "</tr></table>" % h(builder["name"]))
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


BUILDER_PAGE_SCRIPT = """
(function () {
  var name = %(name)r;
  function poll() {
    fetch("%(root)sapi/builders/" + encodeURIComponent(name),
          {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw r.status; } return r.json(); })
      .then(function (b) {
        var tail = document.getElementById("logtail");
        tail.textContent = b.logtail || ""; bmTail(tail);
        setTimeout(poll, 2000);
      }, function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
})();
"""


def loginHTML(token, message=None, root=""):
    body = ["<h1>Log in</h1>"]
    if message:
        body.append("<p class=\"error\" id=\"message\">%s</p>" % h(message))
    body.append(
        "<form method=\"post\" action=\"%slogin\" id=\"loginform\">"
        "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
        "<p><label>Account <input name=\"name\" autocomplete=\"username\">"
        "</label></p><p><label>Password <input type=\"password\" "
        "name=\"password\" autocomplete=\"current-password\"></label></p>"
        "<p><button>Log in</button></p></form>" % (h(root), h(token)))
    return page("Log in", "\n".join(body), root=root)


def htmlError(request, code, message, root="", back=None):
    request.setHeader(b"content-type", b"text/html; charset=utf-8")
    titles = {400: "Bad request", 401: "Not logged in", 403: "Forbidden",
              404: "Not found", 500: "Server error"}
    title = titles.get(code, "Error")
    body = "<h1>%s</h1><p id=\"message\">%s</p>" % (h(title), h(message))
    if back:
        body += "<p><a href=\"%s\">back</a></p>" % h(back)
    if code == 401:
        body += "<p><a href=\"%slogin\">log in</a></p>" % h(root)
    return page(title, body, root=root)


def _htmlBody(request, body):
    request.setHeader(b"content-type", b"text/html; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    return body


class _Page(resource.Resource):
    """A page read by whoever the authenticator lets read."""

    isLeaf = True
    depth = 0

    def __init__(self, farm, auth):
        resource.Resource.__init__(self)
        self.farm = farm
        self.auth = auth

    def render_GET(self, request):
        root = "../" * max(len(request.prepath) - 1 + self.extraDepth(
            request), 0)

        def produce():
            d = self.auth.reader(request)
            return d.addCallback(lambda identity: self.produce(request,
                                                               identity))
        return respond(request, produce, _htmlBody,
                       lambda r, c, m: htmlError(r, c, m, root=root))

    def extraDepth(self, request):
        return max(len(request.postpath) - 1, 0)


class DashboardResource(_Page):

    def produce(self, request, identity):
        return self.farm.dashboard().addCallback(dashboardHTML, identity)


#: Builds per page of a listing or a builder's history.
PAGE_SIZE = 25


class BuildPageResource(_Page):
    """C{/builds}, C{/builds/<id>} and C{/builds/<id>/log}."""

    def render_GET(self, request):
        path = request.postpath
        if len(path) == 2 and path[1] == b"log":
            return self._log(request)
        return _Page.render_GET(self, request)

    def produce(self, request, identity):
        path = request.postpath
        if not path or path == [b""]:
            filters = buildFilters(request)
            filters["limit"] = PAGE_SIZE
            return self.farm.builds(**filters).addCallback(
                buildListHTML, filters, PAGE_SIZE, identity)
        if len(path) != 1:
            raise NotFound("no such page")
        build_id = parseId(path[0].decode("utf-8", "replace"))
        return self._build(build_id, identity)

    @defer.inlineCallbacks
    def _build(self, build_id, identity):
        build = yield self.farm.build(build_id)
        if build is None:
            raise NotFound("no build %d" % build_id)
        audit = yield self.farm.accounts.audit(build=build_id, limit=50)
        files = yield self.farm.binaries(build_id)
        return buildHTML(build, self.farm.now(), identity, audit, files)

    def _log(self, request):
        """The whole log as text, decompressed as it streams."""
        root = "../../"

        @defer.inlineCallbacks
        def produce():
            identity = yield self.auth.reader(request)
            build_id = parseId(request.postpath[0].decode("utf-8",
                                                          "replace"))
            found = yield self.farm.logPath(build_id)
            if found is None:
                raise NotFound("build %d has no log" % build_id)
            path, restricted = found
            if restricted and identity is None:
                raise Unauthorized("this log is restricted: log in to "
                                   "read it")
            return path

        def serve(request, path):
            try:
                f = open(path, "rb")
            except OSError:
                request.setResponseCode(404)
                return htmlError(request, 404, "the log file is missing",
                                 root=root)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            request.setHeader(b"cache-control", b"no-store")
            if request.method == b"HEAD":
                f.close()
                return b""

            def done(error=None):
                if error is not None:
                    request.loseConnection()
                elif not request.finished:
                    request.finish()
            GunzipProducer(f, request, done=done).start()
            return server.NOT_DONE_YET
        return respond(request, produce, serve,
                       lambda r, c, m: htmlError(r, c, m, root=root))


class BuilderPageResource(_Page):
    """C{/builders/<name>}."""

    def produce(self, request, identity):
        path = request.postpath
        if len(path) != 1 or not path[0]:
            raise NotFound("no such page")
        name = path[0].decode("utf-8", "replace")
        return self._builder(request, name, identity)

    @defer.inlineCallbacks
    def _builder(self, request, name, identity):
        builders = yield self.farm.builders(name)
        if not builders:
            raise NotFound("no builder named %r" % (name,))
        offset = buildFilters(request)["offset"]
        history = yield self.farm.builds(builder=name, limit=PAGE_SIZE,
                                         offset=offset)
        builder_row = yield self.farm.store.builders.getByName(name)
        audit = yield self.farm.accounts.audit(builder=builder_row.id,
                                               limit=50)
        return builderHTML(builders[0], history, offset, PAGE_SIZE, audit,
                           identity)


class LoginResource(resource.Resource):
    """C{/login}: the form (GET) and its check (POST)."""

    isLeaf = True

    def __init__(self, auth):
        resource.Resource.__init__(self)
        self.auth = auth

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        return loginHTML(self.auth.loginFormToken(request))

    def render_POST(self, request):
        name, password = field(request, "name"), field(request, "password")

        def produce():
            return self.auth.login(request, name, password)

        def done(request, account):
            if account is None:
                request.setResponseCode(403)
                return _htmlBody(request, loginHTML(
                    self.auth.loginFormToken(request),
                    "Unknown account or wrong password."))
            request.setResponseCode(303)
            request.setHeader(b"location", b"./")
            return b""
        return respond(request, produce, done, htmlError)


class LogoutResource(resource.Resource):
    """C{/logout} (POST, with the session's CSRF token)."""

    isLeaf = True

    def __init__(self, auth):
        resource.Resource.__init__(self)
        self.auth = auth

    def render_POST(self, request):
        @defer.inlineCallbacks
        def produce():
            identity = yield self.auth.writer(request)
            yield self.auth.logout(request, identity)

        def done(request, _):
            request.setResponseCode(303)
            request.setHeader(b"location", b"./")
            return b""
        return respond(request, produce, done, htmlError)


class NotFoundResource(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setResponseCode(404)
        depth = max(len(request.prepath) - 1, 0)
        return htmlError(request, 404, "No such page.", root="../" * depth)

    def render_POST(self, request):
        return self.render_GET(request)

