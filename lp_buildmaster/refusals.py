"""L{Refused}, the one-line refusal of what an operator asked, and the
checks of the URLs an operator gives (a builder's, a branch's).

Below the operations and the behaviours (a job type checks its request
options with these); imports nothing of the project.
"""

import re
from urllib.parse import urlparse


class Refused(Exception):
    """An operation refused for what was asked (a bad value, a wrong
    state, something unknown): the message, one line, says why. The CLI
    prints it; the API answers 400 (404 when it starts with "unknown")."""


#: A host name (RFC 1123 labels) or a dotted IPv4 address.
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def hostProblem(host):
    """What is wrong with C{host} as a host name or IPv4 address, or
    None."""
    if not host or len(host) > 253:
        return "no host"
    if host.startswith("["):
        return "IPv6 addresses are not supported; use a host name"
    labels = host.rstrip(".").split(".")
    if all(label.isdigit() for label in labels):
        if len(labels) != 4 or any(int(label) > 255 for label in labels):
            return "bad IPv4 address"
        return None
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return "bad host name"
    return None


def checkBuilderURL(url):
    """Refuse what cannot be a builder's XML-RPC address: only
    C{http(s)://HOST:PORT/}, with a valid host, a port from 1 to 65535,
    and no credentials, path, query or fragment.

    @raise Refused: naming what is wrong.
    """
    problem = None
    parsed = urlparse(url)
    netloc = parsed.netloc
    host, _, port = netloc.rpartition(":")
    if parsed.scheme not in ("http", "https"):
        problem = "the scheme must be http or https"
    elif any(c.isspace() or not c.isprintable() for c in url):
        problem = "it holds white space or control characters"
    elif "@" in netloc:
        problem = "no user name or password"
    elif parsed.query or "?" in url:
        problem = "no query"
    elif parsed.fragment or "#" in url:
        problem = "no fragment"
    elif not port.isdigit() or not 1 <= int(port) <= 65535:
        problem = "the port must be a number from 1 to 65535"
    elif parsed.path != "/" or parsed.params:
        problem = "the path must be /"
    else:
        problem = hostProblem(host)
    if problem:
        raise Refused(
            "malformed builder URL %r: it must be http(s)://HOST:PORT/ (%s)"
            % (url, problem))
    return url


#: What a branch URL may start with: what launchpad-buildd's generator
#: hands to git or bzr.
BRANCH_SCHEMES = ("https", "http", "git", "git+ssh", "ssh", "bzr",
                  "bzr+ssh")
MAX_BRANCH_URL = 1000


def checkBranchURL(url):
    """Refuse what cannot be a branch the builder clones: a scheme of
    L{BRANCH_SCHEMES}, a valid host, a path, no password (a user name
    only with ssh), no white space or control characters, at most
    L{MAX_BRANCH_URL} characters. The URL is written in the build log,
    so no secret belongs in it.

    @raise Refused: naming what is wrong.
    """
    problem = None
    if len(url) > MAX_BRANCH_URL:
        raise Refused("malformed branch URL: longer than %d characters"
                      % MAX_BRANCH_URL)
    parsed = urlparse(url)
    userinfo, _, hostport = parsed.netloc.rpartition("@")
    host, _, port = hostport.partition(":")
    if parsed.scheme not in BRANCH_SCHEMES:
        problem = "the scheme must be one of %s" % ", ".join(BRANCH_SCHEMES)
    elif any(c.isspace() or not c.isprintable() for c in url):
        problem = "it holds white space or control characters"
    elif ":" in userinfo:
        problem = "no password"
    elif userinfo and "ssh" not in parsed.scheme:
        problem = "no password; a user name only with ssh"
    elif port and (not port.isdigit() or not 1 <= int(port) <= 65535):
        problem = "the port must be a number from 1 to 65535"
    elif parsed.fragment or "#" in url:
        problem = "no fragment"
    elif parsed.path in ("", "/"):
        problem = "no path to the branch"
    else:
        problem = hostProblem(host)
    if problem:
        raise Refused("malformed branch URL %r (%s)" % (url, problem))
    return url
