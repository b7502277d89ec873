"""The pages' forms that create something: request a build (on
C{/builds}, for operators and admins) and add a builder (on the
dashboard, for admins).

Each posts to the same JSON API action a script would call (C{POST
/api/builds}, C{POST /api/builders}) with the session's CSRF token and a
C{next} field that marks it as a form: once done, the browser goes to the
new build's or builder's page; a refused request comes back as the same
form, filled in as it was sent, with the one-line refusal above it
(L{formPage}). Imports only L{lp_buildmaster.web.markup} and below.
"""

from lp_buildmaster.actions import allows
from lp_buildmaster.enums import PackagePublishingPocket
from lp_buildmaster.operations import jobTypes
from lp_buildmaster.web.markup import h, page

#: The role each form needs, as the API's action checks it.
REQUEST_ROLE = "operator"
ADD_BUILDER_ROLE = "admin"


def _text(name, label, values, required=False, placeholder="", size=12):
    return ("<label>%s <input name=\"%s\" value=\"%s\" size=\"%d\"%s%s>"
            "</label>" % (h(label), h(name), h(values.get(name, "")), size,
                          " required" if required else "",
                          " placeholder=\"%s\"" % h(placeholder)
                          if placeholder else ""))


def _select(name, label, options, values):
    chosen = values.get(name) or options[0]
    return "<label>%s <select name=\"%s\">%s</select></label>" % (
        h(label), h(name), "".join(
            "<option%s>%s</option>" % (" selected" if o == chosen else "",
                                       h(o)) for o in options))


def _form(root, api_path, form_id, identity, fields, label, back):
    # "next" marks the post as a form's: the API sends the browser to the
    # new thing's page, or back to this form with the refusal; only when
    # the post is refused for who sent it, an error page links to "next"
    # (C{back}, the page showing the form, relative to the site's root).
    hidden = "".join("<input type=\"hidden\" name=\"%s\" value=\"%s\">"
                     % (h(k), h(v)) for k, v in (
                         ("csrf", identity.csrf or ""),
                         ("next", "../" + back)))
    return ("<form method=\"post\" action=\"%sapi/%s\" id=\"%s\" "
            "class=\"create\">%s%s <button>%s</button></form>" % (
                h(root), h(api_path), h(form_id), hidden, " ".join(fields),
                h(label)))


def requestBuildForm(identity, root="", values=None):
    """The request-a-build form, or "" for those who may not request
    builds (anonymous readers, viewers)."""
    if identity is None or not allows(identity.actor.role, REQUEST_ROLE):
        return ""
    values = values or {}
    pockets = [p.name.lower() for p in PackagePublishingPocket]
    fields = [
        _text("distribution", "Distribution", values, True, "ubuntu"),
        _text("series", "Series", values, True, "hoary"),
        _text("arch", "Architecture", values, True, "i386", 6),
        _text("source", "Source", values, True, "hello"),
        _text("version", "Version", values, True, "2.10-1", 10),
        _select("pocket", "Pocket", pockets, values),
        _text("archive", "Archive", dict({"archive": "primary"}, **values)),
        _select("job_type", "Job type", list(jobTypes()), values),
        _text("branch", "Branch (translation templates)", values,
              placeholder="https://...", size=24),
    ]
    return "<h2>Request a build</h2>\n" + _form(
        root, "builds", "request", identity, fields, "Request", "builds")


def addBuilderForm(identity, root="", values=None):
    """The add-a-builder form, or "" for those who are not admins."""
    if identity is None or not allows(identity.actor.role,
                                      ADD_BUILDER_ROLE):
        return ""
    values = values or {}
    checked = lambda name: " checked" if values.get(name) in (  # noqa: E731
        "on", "true", "1", "yes") else ""
    fields = [
        _text("name", "Name", values, True, "alf"),
        _text("url", "URL", values, True, "http://10.0.0.7:8221/", 24),
        _text("processor", "Processor", values, True, "x86", 8),
        _text("title", "Title", values),
        "<label><input type=\"checkbox\" name=\"virtualized\"%s> "
        "virtualized</label>" % checked("virtualized"),
        "<label><input type=\"checkbox\" name=\"manual\"%s> manual"
        "</label>" % checked("manual"),
        _text("vm_host", "VM host", values),
    ]
    return "<h2>Add a builder</h2>\n" + _form(
        root, "builders", "add-builder", identity, fields, "Add", "")


#: Which form each creating API path has.
FORMS = {"builds": ("Request a build", requestBuildForm),
         "builders": ("Add a builder", addBuilderForm)}


def formPage(api_path, identity, values, message, root):
    """The form of C{api_path} again, as it was sent, with C{message} (the
    refusal) above it; None if that path has no form or the identity
    may not use it."""
    title, make = FORMS.get(api_path, (None, None))
    if make is None:
        return None
    form = make(identity, root, {k: v for k, v in values.items()
                                 if k not in ("csrf", "next")})
    if not form:
        return None
    body = "<h1>%s</h1>\n<p class=\"error\" id=\"message\">%s</p>\n%s" % (
        h(title), h(message), form)
    return page(title, body, root=root, identity=identity)
