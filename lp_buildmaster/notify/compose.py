"""Composing a build notification: who gets it (L{recipientsFor}) and
what it says (L{composeMessage}). Pure: no I/O, no clock of its own."""

import datetime
import email.policy
import email.utils
import enum
from email.message import EmailMessage

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.notify.addresses import oneLine, parseAddresses


#: Build states that mail the maintainer and the admins.
NOTIFY_STATES = frozenset([
    BuildStatus.FAILEDTOBUILD,
    BuildStatus.CHROOTWAIT,
    BuildStatus.FAILEDTOUPLOAD,
])


#: Lines are written with "\n": the SMTP client turns them into CRLF.
#: cte_type 7bit makes non-ASCII bodies quoted-printable (or base64), since
#: the client does not negotiate 8BITMIME.
MAIL_POLICY = email.policy.default.clone(cte_type="7bit")


def _describe(value):
    """A short text for an attribute that may be a string, an enum item,
    or a record with a C{name}; None when there is nothing to say."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        text = value.name
    elif isinstance(value, str):
        text = value
    elif isinstance(getattr(value, "name", None), str):
        text = value.name
    else:
        text = str(value)
    text = oneLine(text)
    return text or None


def _describeDuration(value):
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        return str(value - datetime.timedelta(microseconds=value.microseconds))
    if isinstance(value, (int, float)):
        return _describeDuration(datetime.timedelta(seconds=value))
    return _describe(value)


def _indent(text, prefix="  "):
    """Indent free text so none of its lines starts with a dot (the SMTP
    end-of-data marker) or looks like a field of ours."""
    return "\n".join(
        prefix + line.rstrip() for line in str(text).splitlines())


def recipientsFor(build, admins):
    """The source's people (its Changed-By, then its Maintainer: who made
    the upload, then who looks after the package, as Launchpad mails a
    build's creator and maintainer), then the admins, without repeats.

    @param admins: L{Address}es mailed about every notifying build.
    @return: C{(to, cc, rejected)}: C{to} is the source's people (or the
        admins when none is usable), C{cc} the admins otherwise, both
        lists of L{Address}; C{rejected} the source's addresses that
        cannot be used (or are beyond the cap), as text.
    """
    maintainers, rejected = parseAddresses(
        [getattr(build, "changed_by", None),
         getattr(build, "maintainer", None)])
    seen = set()
    to, cc = [], []
    for address in maintainers:
        if address.addr_spec.lower() not in seen:
            seen.add(address.addr_spec.lower())
            to.append(address)
    admin_list = cc if to else to
    for address in admins:
        if address.addr_spec.lower() not in seen:
            seen.add(address.addr_spec.lower())
            admin_list.append(address)
    return to, cc, rejected


def composeMessage(build, sender, recipients, now, log_url=None,
                   extra_info=None):
    """The notification for C{build} as an L{EmailMessage}.

    @param sender: the L{Address} it comes from.
    @param recipients: C{(to, cc)} as L{recipientsFor} gives them.
    @param now: the time it is dated, in seconds since the epoch.
    """
    to, cc = recipients
    state = build.buildstate
    title = oneLine(build.title)
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = sender
    if to:
        message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = "[Build #%s] %s: %s" % (
        build.id, title, state.title)
    message["Date"] = email.utils.formatdate(
        now, usegmt=True)
    message["Message-ID"] = email.utils.make_msgid(
        "build%s" % (build.id,), domain=sender.domain)
    message["Auto-Submitted"] = "auto-generated"
    message["Precedence"] = "bulk"
    message["X-Build-Id"] = str(build.id)
    message["X-Build-State"] = state.name

    fields = [
        ("Source-Package", "Source Package",
         _describe(getattr(build, "source_name", None))),
        ("Source-Version", "Version",
         _describe(getattr(build, "source_version", None))),
        ("Architecture", "Architecture",
         _describe(getattr(build, "architecturetag", None))),
        ("Distribution", "Distribution",
         _describe(getattr(build, "distribution_name", None))),
        ("Distrorelease", "Distrorelease",
         _describe(getattr(build, "distrorelease_name", None))),
        ("Pocket", "Pocket",
         _describe(getattr(build, "pocket", None))),
        ("Builder", "Builder", _builderName(build)),
        ("Duration", "Duration",
         _describeDuration(getattr(build, "buildduration", None))),
    ]
    for header, _, value in fields:
        if value is not None:
            message["X-Build-" + header] = value

    lines = [
        "Build #%s: %s" % (build.id, title),
        "",
        " * State: %s" % (state.title,),
    ]
    for _, label, value in fields:
        if value is not None:
            lines.append(" * %s: %s" % (label, value))
    lines.append(" * Build Log: %s" % (
        oneLine(log_url) if log_url else "(not available)",))
    failnotes = getattr(build, "failnotes", None)
    if failnotes:
        lines += ["", "Why it failed:", _indent(failnotes)]
    dependencies = getattr(build, "dependencies", None)
    if dependencies:
        lines += ["", "Missing dependencies:", _indent(dependencies)]
    if extra_info:
        lines += ["", "Further information:", _indent(extra_info)]
    lines += [
        "",
        "-- ",
        "You are receiving this email because you changed or maintain",
        "this source package, or administer this build farm.",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message


def _builderName(build):
    name = getattr(build, "builder_name", None)
    if name is None:
        builder = getattr(build, "builder", None)
        name = getattr(builder, "name", None)
    return _describe(name)
