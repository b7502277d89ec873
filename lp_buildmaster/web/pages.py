"""The server-rendered HTML pages: the dashboard and a build's page.

Everything shown goes through L{h}: builder logtails, failnotes and
dependencies come from builders and are untrusted. The pages use no
external assets; the build page's script only reads the JSON API and
sets C{textContent}, never HTML. Links are relative, so the pages work
behind a proxy that mounts them under a prefix.
"""

import datetime
import html

from twisted.web import resource

from lp_buildmaster.web.api import NotFound, parseId, respond

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25em .6em; vertical-align: top;
         border-bottom: 1px solid #ddd; }
th { background: #f3f3f3; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all;
      max-height: 12em; overflow: auto; font-size: 12px; }
pre.full { max-height: 40em; background: #f8f8f8; padding: .5em; }
.state { font-weight: bold; padding: 0 .4em; border-radius: 3px; }
.idle { background: #dfd; } .building { background: #ddf; }
.waiting { background: #ffd; } .failed { background: #fcc; }
.disabled, .manual { background: #eee; }
.muted { color: #777; }
dl { display: grid; grid-template-columns: max-content auto;
     gap: .2em 1em; } dt { font-weight: bold; }
"""

BUILD_SCRIPT = """
(function () {
  var id = %(id)d, delay = 2000;
  function show(name, text) {
    var e = document.getElementById(name);
    if (e) { e.textContent = (text === null || text === undefined)
                             ? "" : String(text); }
  }
  function duration(seconds) {  // as formatDuration does on the server
    if (seconds === null || seconds === undefined) { return "-"; }
    var s = Math.floor(seconds), h = Math.floor(s / 3600),
        m = Math.floor(s %% 3600 / 60), pad = function (n) {
          return (n < 10 ? "0" : "") + n; };
    if (h) { return h + " h " + pad(m) + " min"; }
    if (m) { return m + " min " + pad(s %% 60) + " s"; }
    return s + " s";
  }
  function poll() {
    fetch("../api/builds/" + id, {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw r.status; } return r.json(); })
      .then(function (b) {
        show("state", b.state_title);
        show("builder", b.builder || "-");
        show("logtail", b.logtail);
        show("elapsed", duration(b.elapsed));
        if (b.active) { setTimeout(poll, delay); }
        else { location.reload(); }
      }, function () { setTimeout(poll, delay); });
  }
  setTimeout(poll, delay);
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
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return "%d h %02d min" % (hours, minutes)
    if minutes:
        return "%d min %02d s" % (minutes, seconds)
    return "%d s" % seconds


def formatEstimate(when, now):
    if when is None:
        return "no usable builder"
    if when <= now:
        return "now"
    return "in " + formatDuration(when - now)


def page(title, body, root="", script=None):
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<title>%s</title>" % h(title),
        "<meta name=\"viewport\" content=\"width=device-width\">",
        "<style>%s</style></head><body>" % CSS,
        "<p><a href=\"%s\">lp-buildmaster</a></p>" % h(root or "./"),
        body,
    ]
    if script:
        parts.append("<script>%s</script>" % script)
    parts.append("</body></html>\n")
    return "\n".join(parts).encode("utf-8")


def buildLink(build, root=""):
    return "<a href=\"%sbuilds/%d\">%s</a>" % (h(root), build["id"],
                                               h(build["title"]))


def logLink(build):
    log = build["log"]
    if log is None:
        return "-"
    return "<a href=\"%s\">%s</a>%s" % (
        h(log["url"]), h(log["filename"]),
        " <span class=\"muted\">(restricted)</span>" if log["restricted"]
        else "")


def dashboardHTML(data):
    now = data["now"]
    out = ["<h1>Build farm</h1>",
           "<p class=\"muted\">As of %s</p>" % h(formatTime(now)),
           "<h2>Builders</h2>",
           "<table id=\"builders\"><tr><th>Builder</th><th>Processor</th>"
           "<th>State</th><th>Master</th><th>Build</th><th>Log tail</th>"
           "<th>Notes</th></tr>"]
    for b in data["builders"]:
        build = b["build"]
        out.append(
            "<tr class=\"builder\" data-name=\"%s\"><td title=\"%s\">%s</td>"
            "<td>%s</td><td><span class=\"state %s\">%s</span></td>"
            "<td class=\"master\">%s</td>"
            "<td>%s</td><td><pre>%s</pre></td><td>%s</td></tr>" % (
                h(b["name"]), h(b["title"]), h(b["name"]), h(b["processor"]),
                h(b["state"]), h(b["state"]), h(b.get("master") or "-"),
                buildLink(build) if build else "-",
                h(b["logtail"]), h(b["failnotes"])))
    out.append("</table>")
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
    if data["queue"]:
        out.append("<table id=\"queue\"><tr><th>#</th><th>Processor</th>"
                   "<th>Build</th><th>Score</th><th>Estimated start</th>"
                   "</tr>")
        for job in data["queue"]:
            out.append(
                "<tr class=\"job\" data-build=\"%d\"><td>%s</td><td>%s</td>"
                "<td>%s</td><td>%s</td><td title=\"%s\">%s</td></tr>" % (
                    job["id"], h(job["position"]), h(job["processor"]),
                    buildLink(job), h(job["score"]),
                    h(formatTime(job["estimated_start"])),
                    h(formatEstimate(job["estimated_start"], now))))
        out.append("</table>")
    else:
        out.append("<p id=\"queue\">No job is waiting.</p>")
    out.append("<h2>Recently finished</h2>")
    out.append("<table id=\"recent\"><tr><th>Build</th><th>State</th>"
               "<th>Builder</th><th>Finished</th><th>Duration</th>"
               "<th>Log</th></tr>")
    for build in data["recent"]:
        out.append(
            "<tr class=\"build\" data-build=\"%d\"><td>%s</td><td>%s</td>"
            "<td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
                build["id"], buildLink(build), h(build["state_title"]),
                h(build["builder"] or "-"), h(formatTime(build["datebuilt"])),
                h(formatDuration(build["duration"])), logLink(build)))
    out.append("</table>")
    return page("Build farm", "\n".join(out))


def buildHTML(build, now):
    rows = [
        ("State", "<span id=\"state\">%s</span>" % h(build["state_title"])),
        ("Builder", "<span id=\"builder\">%s</span>"
         % h(build["builder"] or "-")),
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
        ("Why it failed", h(build["failnotes"] or "-")),
        ("Log", logLink(build)),
    ]
    if build["queued"]:
        rows.append(("Queue position", "%s (%s, score %s)" % (
            h(build["position"]), h(build["processor"]), h(build["score"]))))
        rows.append(("Estimated start", "%s <span class=\"muted\">%s</span>"
                     % (h(formatEstimate(build["estimated_start"], now)),
                        h(formatTime(build["estimated_start"])))))
    body = ["<h1>%s</h1>" % h(build["title"]), "<dl>"]
    body.extend("<dt>%s</dt><dd>%s</dd>" % row for row in rows)
    body.append("</dl><h2>Log tail</h2>")
    body.append("<pre class=\"full\" id=\"logtail\">%s</pre>"
                % h(build["logtail"]))
    script = BUILD_SCRIPT % {"id": build["id"]} if build["active"] else None
    return page(build["title"], "\n".join(body), root="../", script=script)


def htmlError(request, code, message, root=""):
    request.setHeader(b"content-type", b"text/html; charset=utf-8")
    titles = {400: "Bad request", 404: "Not found", 500: "Server error"}
    title = titles.get(code, "Error")
    return page(title, "<h1>%s</h1><p>%s</p>" % (h(title), h(message)),
                root=root)


def _htmlBody(request, body):
    request.setHeader(b"content-type", b"text/html; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    return body


class DashboardResource(resource.Resource):
    isLeaf = True

    def __init__(self, farm):
        resource.Resource.__init__(self)
        self.farm = farm

    def render_GET(self, request):
        def produce():
            return self.farm.dashboard().addCallback(dashboardHTML)
        return respond(request, produce, _htmlBody, htmlError)


class BuildPageResource(resource.Resource):
    """C{/builds/<id>}."""

    isLeaf = True

    def __init__(self, farm):
        resource.Resource.__init__(self)
        self.farm = farm

    def render_GET(self, request):
        return respond(request, lambda: self._produce(request), _htmlBody,
                       lambda r, c, m: htmlError(r, c, m, root="../"))

    def _produce(self, request):
        path = request.postpath
        if len(path) != 1:
            raise NotFound("no such page")
        build_id = parseId(path[0].decode("utf-8", "replace"))

        def render(build):
            if build is None:
                raise NotFound("no build %d" % build_id)
            return buildHTML(build, self.farm.now())
        return self.farm.build(build_id).addCallback(render)


class NotFoundResource(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setResponseCode(404)
        depth = max(len(request.prepath) - 1, 0)
        return htmlError(request, 404, "No such page.", root="../" * depth)

    def render_POST(self, request):
        return self.render_GET(request)
