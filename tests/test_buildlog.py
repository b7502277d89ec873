"""Build logs: streamed from a builder, gzipped, stored, served back."""

import dataclasses
import gzip
import random

from twisted.internet import defer, task

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.librarian.buildlog import buildLogFilename, collectBuildLog
from tests.database import DatabaseTestCase
from tests.test_librarian import LibrarianFixture

SEED_LOG = b"This is a build log"


class LogSlave:
    """A builder whose C{getFile('buildlog', sink)} sends C{chunks}, one per
    turn of the reactor, then fails with C{error} if one is given."""

    name = "log-slave"

    def __init__(self, chunks, error=None):
        self.chunks = chunks
        self.error = error

    def getFile(self, name, sink):
        assert name == "buildlog"
        sent = []

        def send():
            for chunk in self.chunks:
                sink.write(chunk)
                sent.append(len(chunk))
                yield
            if self.error is not None:
                raise self.error
        d = task.cooperate(send()).whenDone()
        return d.addCallback(lambda _: sum(sent))


def bigLog(size):
    """About C{size} bytes of varied log lines, in chunks of up to 64 KiB."""
    rng = random.Random(4)
    lines, total = [], 0
    while total < size:
        line = b"gcc -O2 -c src/%s.c -o obj/%d.o: warning %d\n" % (
            rng.choice([b"mount", b"umount", b"policy", b"utils"]),
            rng.randrange(10 ** 6), rng.randrange(10 ** 9))
        lines.append(line)
        total += len(line)
    data = b"".join(lines)
    return [data[i:i + 65536] for i in range(0, len(data), 65536)]


class BuildLogTestCase(LibrarianFixture, DatabaseTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield DatabaseTestCase.setUp(self)
        self.startLibrarian()
        self.build = yield self.store.builds.get(7)

    @defer.inlineCallbacks
    def collectAndServe(self, chunks, **kwargs):
        """Collect C{chunks} as build 7's log; the alias and what the
        librarian serves for it over HTTP, gunzipped."""
        aliasid = yield collectBuildLog(
            LogSlave(chunks), self.build, self.librarian, **kwargs)
        url = yield self.librarian.getURLForAlias(aliasid)
        response, body = yield self.rawDownload(url, b"gzip")
        self.assertEqual(response.code, 200)
        alias = yield self.store.library.getAlias(aliasid)
        return alias, gzip.decompress(body)

    @defer.inlineCallbacks
    def test_seedLog(self):
        """The seed's getLogFromSlave: name, type, and the log back."""
        alias, log = yield self.collectAndServe([SEED_LOG])
        self.assertEqual(
            (alias.filename, alias.mimetype),
            ("buildlog_ubuntu-hoary-i386.pmount_0.1-1_FULLYBUILT.txt.gz",
             "text/plain"))
        self.assertEqual(log, SEED_LOG)
        self.assertFalse(alias.restricted)

    @defer.inlineCallbacks
    def test_bigLogInChunks(self):
        """A multi-megabyte log sent in chunks comes back byte for byte,
        compressed on the way."""
        chunks = bigLog(6 * 1024 * 1024)
        alias, log = yield self.collectAndServe(chunks)
        self.assertEqual(log, b"".join(chunks))
        self.assertLess(alias.filesize, len(log) / 3)

    @defer.inlineCallbacks
    def test_emptyLog(self):
        alias, log = yield self.collectAndServe([])
        self.assertEqual(log, b"")

    @defer.inlineCallbacks
    def test_stateAndPrivacy(self):
        """The log is named after the state given; a private archive's log
        is restricted."""
        self.build = dataclasses.replace(self.build, archive_private=True)
        aliasid = yield collectBuildLog(
            LogSlave([SEED_LOG]), self.build, self.librarian,
            state=BuildStatus.FAILEDTOBUILD)
        alias = yield self.store.library.getAlias(aliasid)
        self.assertEqual(
            alias.filename,
            "buildlog_ubuntu-hoary-i386.pmount_0.1-1_FAILEDTOBUILD.txt.gz")
        self.assertTrue(alias.restricted)

    def test_filename(self):
        self.assertEqual(
            buildLogFilename(self.build, BuildStatus.CHROOTWAIT),
            "buildlog_ubuntu-hoary-i386.pmount_0.1-1_CHROOTWAIT.txt.gz")

    @defer.inlineCallbacks
    def test_downloadFails(self):
        """A log cut short stores nothing and the error comes through."""
        files, aliases = self.storedFiles(), (yield self.aliasCount())
        slave = LogSlave(bigLog(512 * 1024), error=ConnectionError("gone"))
        yield self.assertFailure(
            collectBuildLog(slave, self.build, self.librarian),
            ConnectionError)
        self.assertEqual(self.storedFiles(), files)
        self.assertEqual((yield self.aliasCount()), aliases)
