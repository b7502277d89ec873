"""Mail addresses from the package's people, read as Launchpad reads them:
C{email.utils.getaddresses} on the Maintainer and Changed-By fields,
capped at L{MAX_SOURCE_RECIPIENTS}, each checked before it can reach an
SMTP envelope."""

import email.utils
import re
from email.headerregistry import Address


_WHITESPACE = re.compile(r"\s+")


#: Addresses taken from a source's Changed-By and Maintainer at most.
MAX_SOURCE_RECIPIENTS = 3


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"


_LOCAL = re.compile(r"%s(\.%s)*" % (_ATOM, _ATOM))


_DOMAIN = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def oneLine(value):
    """Collapse all whitespace (CR and LF included) to single spaces, so
    nothing a slave or an uploader wrote can add a header or a line."""
    return _WHITESPACE.sub(" ", str(value)).strip()


def parseAddresses(text, limit=MAX_SOURCE_RECIPIENTS):
    """Parse RFC 822 address lists into L{Address} objects, in order and
    without repeats (an address given twice, in any case, counts once).

    Addresses that cannot go on an SMTP envelope (no domain, non-ASCII
    local part, control characters) are returned separately, as text, and
    so are those beyond C{limit}.

    @param text: one field's text, or a list of fields (empty ones and
        None are skipped).
    @param limit: how many addresses to take at most; None for no limit.
    @return: C{(addresses, rejected)}.
    """
    addresses, rejected = [], []
    if isinstance(text, str):
        text = [text]
    fields = []
    seen = set()
    for field in text or ():
        if not field:
            continue
        # Maintainer and Changed-By are one-line fields: a continuation
        # line (" Bcc: victim@...") or a group ("Bcc: a@b;") is not an
        # address of the package's people but an attempt to add some.
        if "\n" in field or "\r" in field or ":" in field or ";" in field:
            rejected.append(oneLine(field)[:200])
        else:
            fields.append(field)
    for name, spec in email.utils.getaddresses(fields):
        address = _makeAddress(name, spec)
        if address is None:
            rejected.append(spec or name)
        elif address.addr_spec.lower() in seen:
            continue
        elif limit is not None and len(addresses) >= limit:
            rejected.append(spec)
        else:
            seen.add(address.addr_spec.lower())
            addresses.append(address)
    return addresses, rejected


def _makeAddress(name, spec):
    spec = spec.strip()
    local, at, domain = spec.rpartition("@")
    if not at or not local or not domain:
        return None
    if _WHITESPACE.search(spec) or any(c in spec for c in "<>,;\"()"):
        return None
    try:
        local.encode("ascii")
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    # A dot-atom local part (no encoded word) and a host name with a dot.
    if (not _LOCAL.fullmatch(local) or local.startswith("=?")
            or not _DOMAIN.fullmatch(domain)):
        return None
    try:
        return Address(display_name=oneLine(name),
                       addr_spec="%s@%s" % (local, domain))
    except (ValueError, IndexError, TypeError):
        return None
