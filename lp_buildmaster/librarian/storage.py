"""Content-addressed storage on disk: one file per sha1.

A file's bytes live at C{root/ab/cd/abcd...} where C{abcd...} is its sha1,
so equal files share content. New content is written to a temporary file
in C{root/incoming} and renamed into place only once complete, so a crash
or a full disk never leaves a partial file under its sha1.
"""

import hashlib
import os
import tempfile
from pathlib import Path


class ContentStore:

    def __init__(self, root):
        self.root = Path(root)

    def path(self, sha1):
        """Where the content with C{sha1} lives."""
        if len(sha1) != 40 or not all(c in "0123456789abcdef" for c in sha1):
            raise ValueError("not a sha1: %r" % (sha1,))
        return self.root / sha1[:2] / sha1[2:4] / sha1

    def exists(self, sha1):
        return self.path(sha1).exists()

    def newFile(self):
        """A L{PendingContent} to write new content into."""
        incoming = self.root / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        return PendingContent(self, incoming)

    def putBytes(self, data):
        """Store C{data}; synchronous, for small files and sample data.

        @return: C{(sha1, sha256, size)}.
        """
        pending = self.newFile()
        try:
            pending.write(data)
            return pending.commit()
        except BaseException:
            pending.abort()
            raise


class PendingContent:
    """Content being written: hashes as it goes, renamed into place on
    L{commit}, removed on L{abort}."""

    def __init__(self, store, directory):
        self.store = store
        fd, self.tmppath = tempfile.mkstemp(dir=directory, prefix="new-")
        self.file = os.fdopen(fd, "wb")
        self.sha1 = hashlib.sha1()
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.file.write(data)
        self.sha1.update(data)
        self.sha256.update(data)
        self.size += len(data)

    def commit(self):
        """Fsync, rename into place; C{(sha1, sha256, size)}."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        sha1 = self.sha1.hexdigest()
        target = self.store.path(sha1)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.tmppath, target)
        return sha1, self.sha256.hexdigest(), self.size

    def abort(self):
        if not self.file.closed:
            self.file.close()
        try:
            os.unlink(self.tmppath)
        except FileNotFoundError:
            pass
