"""Files the operator gives (chroots, sources): checked, hashed and
stored in the librarian."""

import hashlib
import mimetypes
from pathlib import Path

from twisted.internet import defer

from lp_buildmaster.admin.command import AdminError
from lp_buildmaster.librarian.storage import ContentStore


def checkFile(name):
    path = Path(name)
    if path.is_dir():
        raise AdminError("%s is a directory, not a file" % (name,))
    if not path.is_file():
        raise AdminError("no such file: %s" % (name,))
    return path


def mimetypeOf(path):
    if path.name.endswith(".dsc"):
        return "text/plain"
    kind, encoding = mimetypes.guess_type(path.name)
    if encoding == "gzip":
        return "application/gzip"
    if encoding in ("xz", "bzip2"):
        return "application/x-" + encoding
    return kind or "application/octet-stream"


@defer.inlineCallbacks
def addLibraryFile(store, root, path):
    """Copy the file at C{path} into the librarian; fires with its alias
    id.

    @param root: the librarian's directory, or see L{librarianTarget}.
    """
    if callable(root):
        client = root(store)
    else:
        from lp_buildmaster.librarian.client import LibrarianClient
        client = LibrarianClient(store, ContentStore(root), base_url="",
                                 secret="")
    with path.open("rb") as f:
        return (yield client.addFile(
            path.name, path.stat().st_size, f, mimetypeOf(path)))


def hashFile(path):
    """C{(size, md5, sha1, sha256)} of a file, read in chunks."""
    digests = [hashlib.md5(), hashlib.sha1(), hashlib.sha256()]
    size = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(65536), b""):
            size += len(chunk)
            for d in digests:
                d.update(chunk)
    return (size,) + tuple(d.hexdigest() for d in digests)
