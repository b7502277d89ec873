"""Judging a builder that would not fetch a file it was sent at dispatch.

A builder's C{ensurepresent} may answer that it could not fetch a file
from our own librarian (launchpad-buildd says C{Error accessing
Librarian: <the error>}). The builder's word is not taken: the master
opens the file through its own librarian client and judges by what it
finds (L{judgeFetchRefusal}), so that a file gone from our side fails
the job rather than builder after builder, and a builder falsely blaming
our librarian is counted like any builder refusing a file.

Imports: failures, the slave client's errors and the librarian's
not-found errors; nothing above (the dispatcher in
L{lp_buildmaster.master} uses it).
"""

import re

from twisted.internet import defer

from lp_buildmaster import failures
from lp_buildmaster.librarian.backends import ContentNotFound
from lp_buildmaster.librarian.client import AliasNotFound
from lp_buildmaster.slave import SlaveError

__all__ = ["DispatchError", "judgeFetchRefusal"]


class DispatchError(SlaveError):
    """The builder would not take a job (it refused a file or the build)."""


#: What launchpad-buildd's ensurepresent answers when it could not fetch
#: a file from the librarian (any HTTP error, or no answer at all).
_LIBRARIAN_REFUSAL = re.compile(r"Error accessing Librarian: ")
#: The alias id in one of our librarian's URLs, C{<base>/<id>/<name>}.
_ALIAS_URL = re.compile(r"/(\d+)/([^/?]+)(\?.*)?$")


@defer.inlineCallbacks
def judgeFetchRefusal(librarian, builder_name, sha1, url, info):
    """Builder C{builder_name} would not fetch C{url} (content C{sha1}),
    saying C{info}. When it says our librarian failed it, open the file
    through C{librarian} (an L{ILibrarianClient}: the local client opens
    the content without reading it; the remote one spools it to disk,
    never to memory) rather than believe it. Always fails:

    @raise failures.LibraryFileMissing: the alias or its content is gone
        from our librarian (the job's fault).
    @raise failures.OwnLibrarianUnavailable: our librarian could not
        answer the check either (nobody's fault).
    @raise DispatchError: anything else, including a file our librarian
        serves (the builder's fault).
    """
    refused = "could not fetch %s from %s: %s" % (sha1, url, info)
    found = _ALIAS_URL.search(url)
    if (not _LIBRARIAN_REFUSAL.match(info or "") or found is None
            or librarian is None):
        raise DispatchError(builder_name, refused)
    alias_id, filename = int(found.group(1)), found.group(2)
    try:
        content = yield librarian.getFileByAlias(alias_id)
    except (AliasNotFound, ContentNotFound) as e:
        raise failures.LibraryFileMissing(
            builder_name, "library file %d (%s) is gone from our librarian"
            " (%s); builder %r was refused it: %s"
            % (alias_id, filename, e, builder_name, info))
    except Exception as e:
        raise failures.OwnLibrarianUnavailable(
            "builder %r could not fetch %s from our librarian (%s): %s;"
            " checking it failed too: %s"
            % (builder_name, sha1, url, info, failures.describe(e)))
    content.close()
    raise DispatchError(builder_name, refused + " (our librarian serves it)")
