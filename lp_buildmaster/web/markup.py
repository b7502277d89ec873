"""The building blocks of the HTML pages: the page frame and its style,
escaping, times, links, action forms, the audit table, errors and the
login form.

Everything shown goes through L{h}: builder logtails, failnotes and
dependencies come from builders and are untrusted. Links are relative,
so the pages work behind a proxy that mounts them under a prefix.
"""

import datetime
import html

from lp_buildmaster.formatting import textDuration

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
              404: "Not found", 500: "Server error",
              503: "Unavailable"}
    title = titles.get(code, "Error")
    body = "<h1>%s</h1><p id=\"message\">%s</p>" % (h(title), h(message))
    if back:
        body += "<p><a href=\"%s\">back</a></p>" % h(back)
    if code == 401:
        body += "<p><a href=\"%slogin\">log in</a></p>" % h(root)
    return page(title, body, root=root)
