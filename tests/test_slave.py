"""The builder client: status normalisation, file names, errors, a round
trip of every method against a loopback daemon, and the mock slaves."""

import io
import os
import sys
from xmlrpc.client import Binary

from hypothesis import given, settings, strategies as st
from twisted.internet import defer, reactor, task
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from lp_buildmaster.interfaces import ISlave
from lp_buildmaster.slave import (
    BuilderSlave, InvalidBuildRequest, SlaveChecksumMismatch,
    SlaveConnectionError, SlaveError, SlaveFault, SlaveHTTPError,
    SlaveProtocolError, SlaveStatus, SlaveTimeout, UnsafeFilename,
    makePool, normaliseStatus, validateFilename)
from lp_buildmaster.testing import mockslaves
from tests.test_slave_fixtures import (
    closePoolAtEnd, daemonSite, listen, makeSlave, sha1)

SHA_A = "a" * 40
SHA_B = "b" * 40


class NormaliseDictTests(unittest.TestCase):
    """The daemon's dict replies, one per builder status."""

    def test_idle(self):
        self.assertEqual(
            normaliseStatus({"builder_status": "BuilderStatus.IDLE",
                             "builder_version": "206"}),
            SlaveStatus("BuilderStatus.IDLE", builder_version="206"))

    def test_building(self):
        status = normaliseStatus({
            "builder_status": "BuilderStatus.BUILDING", "build_id": "8-1",
            "logtail": Binary(b"compiling\n")})
        self.assertEqual(status, SlaveStatus(
            "BuilderStatus.BUILDING", cookie="8-1", logtail="compiling\n"))

    def test_waitingOk(self):
        status = normaliseStatus({
            "builder_status": "BuilderStatus.WAITING",
            "build_status": "BuildStatus.OK", "build_id": "8-1",
            "filemap": {"foo_1.0_amd64.deb": SHA_A.upper()},
            "dependencies": ""})
        self.assertEqual(status.build_status, "BuildStatus.OK")
        self.assertEqual(dict(status.filemap), {"foo_1.0_amd64.deb": SHA_A})
        self.assertEqual(status.dependencies, "")

    def test_filemapIsReadOnly(self):
        status = normaliseStatus({
            "builder_status": "BuilderStatus.WAITING",
            "build_status": "BuildStatus.OK", "build_id": "8-1",
            "filemap": {"a.deb": SHA_A}})
        with self.assertRaises(TypeError):
            status.filemap["b"] = SHA_B

    def test_waitingGivenBackHasNoFilemap(self):
        status = normaliseStatus({
            "builder_status": "BuilderStatus.WAITING",
            "build_status": "BuildStatus.GIVENBACK", "build_id": "8-1"})
        self.assertIsNone(status.filemap)
        self.assertIsNone(status.dependencies)

    def test_aborting(self):
        self.assertEqual(
            normaliseStatus({"builder_status": "BuilderStatus.ABORTING",
                             "build_id": "8-1"}),
            SlaveStatus("BuilderStatus.ABORTING", cookie="8-1"))

    def test_unknownKeysIgnored(self):
        """A manager may add keys of its own."""
        status = normaliseStatus({"builder_status": "BuilderStatus.IDLE",
                                  "duration": 12})
        self.assertEqual(status, SlaveStatus("BuilderStatus.IDLE"))


class NormaliseLegacyTests(unittest.TestCase):
    """The seed's tuples become the same records as the daemon's dicts."""

    def test_idle(self):
        self.assertEqual(normaliseStatus(("BuilderStatus.IDLE",)),
                         SlaveStatus("BuilderStatus.IDLE"))

    def test_building(self):
        self.assertEqual(
            normaliseStatus(("BuilderStatus.BUILDING", "1-1")),
            SlaveStatus("BuilderStatus.BUILDING", cookie="1-1"))
        self.assertEqual(
            normaliseStatus(["BuilderStatus.BUILDING", "1-1", "a log"]),
            SlaveStatus("BuilderStatus.BUILDING", cookie="1-1",
                        logtail="a log"))

    def test_waiting(self):
        self.assertEqual(
            normaliseStatus(
                ("BuilderStatus.WAITING", "BuildStatus.OK", "8-1")),
            SlaveStatus("BuilderStatus.WAITING", "BuildStatus.OK", "8-1"))
        status = normaliseStatus((
            "BuilderStatus.WAITING", "BuildStatus.DEPFAIL", "1-1", {},
            "baz (>= 1.0.1)"))
        self.assertEqual(dict(status.filemap), {})
        self.assertEqual(status.dependencies, "baz (>= 1.0.1)")

    def test_abortedAndAborting(self):
        for state in "BuilderStatus.ABORTED", "BuilderStatus.ABORTING":
            self.assertEqual(normaliseStatus((state, "1-1")),
                             SlaveStatus(state, cookie="1-1"))

    def test_sameRecordAsDict(self):
        self.assertEqual(
            normaliseStatus(("BuilderStatus.BUILDING", "1-1", b"log")),
            normaliseStatus({"builder_status": "BuilderStatus.BUILDING",
                             "build_id": "1-1", "logtail": Binary(b"log")}))


class NormaliseGarbageTests(unittest.TestCase):
    """Anything else is a SlaveProtocolError naming the builder."""

    garbage = [
        None, 42, "BuilderStatus.IDLE", (), [], {},
        ("BuilderStatus.NAPPING",), {"builder_status": "IDLE"},
        ("BuilderStatus.IDLE", "extra"),
        ("BuilderStatus.BUILDING",),
        ("BuilderStatus.BUILDING", 1),
        ("BuilderStatus.BUILDING", ""),
        ("BuilderStatus.BUILDING", "1-1", 12),
        ("BuilderStatus.WAITING", "BuildStatus.NICE", "1-1"),
        ("BuilderStatus.WAITING", None, "1-1"),
        ("BuilderStatus.WAITING", "BuildStatus.OK"),
        ("BuilderStatus.WAITING", "BuildStatus.OK", "1-1", {"a": "nothex"}),
        ("BuilderStatus.WAITING", "BuildStatus.OK", "1-1", {"a": 1}),
        ("BuilderStatus.WAITING", "BuildStatus.OK", "1-1", {"a.deb": SHA_A},
         42),
        ("BuilderStatus.WAITING", "BuildStatus.OK", "1-1", [], None),
        ("BuilderStatus.ABORTING", "1\x00-1"),
        ("BuilderStatus.ABORTING", "\ud800"),
        {"builder_status": "BuilderStatus.IDLE", "builder_version": 206},
        {"builder_status": "BuilderStatus.WAITING", "build_id": "1-1"},
    ]

    def test_garbage(self):
        for reply in self.garbage:
            e = self.assertRaises(
                SlaveProtocolError, normaliseStatus, reply, "bob")
            self.assertIn("'bob'", str(e))

    def test_traversalInFilemap(self):
        e = self.assertRaises(UnsafeFilename, normaliseStatus, (
            "BuilderStatus.WAITING", "BuildStatus.OK", "1-1",
            {"../../etc/passwd": SHA_A}, ""), "bob")
        self.assertIsInstance(e, SlaveProtocolError)

    @settings(max_examples=400, deadline=None)
    @given(st.recursive(
        st.none() | st.booleans() | st.integers() | st.text() | st.binary()
        | st.sampled_from(["BuilderStatus.IDLE", "BuilderStatus.BUILDING",
                           "BuilderStatus.WAITING", "BuilderStatus.ABORTED",
                           "BuilderStatus.ABORTING", "BuildStatus.OK",
                           "BuildStatus.DEPFAIL", "1-1", SHA_A, "../x"]),
        lambda children: st.lists(children, max_size=6)
        | st.tuples(children, children, children)
        | st.dictionaries(
            st.sampled_from(["builder_status", "build_status", "build_id",
                             "logtail", "filemap", "dependencies",
                             "builder_version"]) | st.text(),
            children, max_size=6),
        max_leaves=20))
    def test_fuzz(self, reply):
        """Junk never escapes as anything but SlaveProtocolError."""
        try:
            status = normaliseStatus(reply, "fuzzy")
        except SlaveProtocolError as e:
            self.assertIn("'fuzzy'", str(e))
        else:
            self.assertIsInstance(status, SlaveStatus)


class LogtailTests(unittest.TestCase):
    """Log tails are cut anywhere and may hold NULs."""

    def logtail(self, value):
        return normaliseStatus(
            ("BuilderStatus.BUILDING", "1-1", value)).logtail

    def test_midCharacter(self):
        text = "caf\u00e9 \u2603 done"
        raw = text.encode("utf-8")
        cut = raw[4:]  # starts inside the two-byte \u00e9
        self.assertEqual(self.logtail(Binary(cut)), "\ufffd \u2603 done")
        self.assertEqual(self.logtail(raw[:-7]), "caf\u00e9 \ufffd")

    def test_nulsStripped(self):
        self.assertEqual(self.logtail(Binary(b"a\x00b\x00")), "ab")
        self.assertEqual(self.logtail("a\x00b"), "ab")

    def test_text(self):
        self.assertEqual(self.logtail("plain"), "plain")
        self.assertEqual(self.logtail("lone \ud800"), "lone ?")

    def test_notText(self):
        self.assertRaises(SlaveProtocolError, self.logtail, 12)


class ValidateFilenameTests(unittest.TestCase):

    def test_safe(self):
        for name in ("foo_1.0_amd64.deb", "buildlog", SHA_A, "a..b",
                     "x" * 255, "caf\u00e9_1.0_all.deb"):
            self.assertEqual(validateFilename(name), name)

    def test_unsafe(self):
        for name in ("", ".", "..", "../x", "a/b", "/etc/passwd", "a\\b",
                     "a\x00b", "x" * 256, "\ud800", None, b"bytes",
                     ".hidden", "evil\nname.deb", "a\x1b[2J.deb",
                     "a\x9b.deb", "gpj.\u202edeb", "tab\t.deb"):
            e = self.assertRaises(UnsafeFilename, validateFilename, name,
                                  "bob")
            self.assertIn("'bob'", str(e))


class ErrorTests(unittest.TestCase):

    def test_attributes(self):
        self.assertTrue(SlaveTimeout("bob", "x").transient)
        self.assertTrue(SlaveConnectionError("bob", "x").transient)
        self.assertFalse(SlaveProtocolError("bob", "x").transient)
        fault = SlaveFault("bob", 8002, "error")
        self.assertEqual((fault.builder, fault.faultCode, fault.faultString),
                         ("bob", 8002, "error"))
        self.assertFalse(fault.transient)
        self.assertEqual(SlaveHTTPError("bob", 404).code, 404)
        self.assertFalse(SlaveHTTPError("bob", 404).transient)
        self.assertTrue(SlaveHTTPError("bob", 503).transient)
        for e in (fault, SlaveHTTPError("bob", 500, "oops")):
            self.assertTrue(str(e).startswith("Builder 'bob': "))


class RoundTripTests(unittest.TestCase):
    """Every method against a loopback daemon answering as PROTOCOL.md says."""

    def setUp(self):
        site, self.daemon, self.files = daemonSite()
        self.url, self.server = listen(self, site)
        self.slave = makeSlave(self, self.url)

    def test_interface(self):
        verifyObject(ISlave, self.slave)
        self.assertEqual(self.slave.url, self.url)
        self.assertEqual(BuilderSlave("x", self.url[:-1]).url, self.url)

    @defer.inlineCallbacks
    def test_echo(self):
        self.assertEqual((yield self.slave.echo("a", 1, (2, 3), None)),
                         ["a", 1, [2, 3], None])

    @defer.inlineCallbacks
    def test_info(self):
        self.assertEqual((yield self.slave.info()),
                         ["1.0", "amd64", ["binarypackage",
                                           "sourcepackagerecipe"]])

    @defer.inlineCallbacks
    def test_statusEveryState(self):
        d = self.daemon
        self.assertEqual((yield self.slave.status()),
                         SlaveStatus("BuilderStatus.IDLE",
                                     builder_version="206"))
        d.builder_status, d.cookie = "BuilderStatus.BUILDING", "8-1"
        d.logtail = b"\xa9 mid-char \x00 tail"
        status = yield self.slave.status()
        self.assertEqual((status.cookie, status.logtail),
                         ("8-1", "\ufffd mid-char  tail"))
        d.builder_status, d.build_status = ("BuilderStatus.WAITING",
                                            "BuildStatus.DEPFAIL")
        d.filemap, d.dependencies = {"foo.dsc": SHA_A}, "baz (>= 1.0.1)"
        status = yield self.slave.status()
        self.assertEqual(
            (status.build_status, dict(status.filemap), status.dependencies),
            ("BuildStatus.DEPFAIL", {"foo.dsc": SHA_A}, "baz (>= 1.0.1)"))
        d.build_status, d.filemap = "BuildStatus.CHROOTFAIL", None
        status = yield self.slave.status()
        self.assertEqual((status.filemap, status.dependencies), (None, None))
        d.builder_status = "BuilderStatus.ABORTING"
        self.assertEqual((yield self.slave.status()),
                         SlaveStatus("BuilderStatus.ABORTING", cookie="8-1",
                                     builder_version="206"))

    @defer.inlineCallbacks
    def test_ensurepresent(self):
        self.assertEqual((yield self.slave.ensurepresent(SHA_A, None)),
                         (False, "No URL"))
        self.assertEqual(
            (yield self.slave.ensurepresent(SHA_A, "http://lib/1", "u", "p")),
            (True, "Download"))
        self.assertEqual((yield self.slave.ensurepresent(SHA_A, None)),
                         (True, "Cache"))
        self.assertEqual(self.daemon.calls[1],
                         ("ensurepresent", SHA_A, "http://lib/1", "u", "p"))

    @defer.inlineCallbacks
    def test_buildAbortClean(self):
        self.daemon.cache.add(SHA_A)
        args = {"series": "hoary", "distribution": "ubuntu",
                "suite": "hoary", "ogrecomponent": "main", "arch_tag": "i386"}
        self.assertEqual(
            (yield self.slave.build("8-1", "binarypackage", SHA_A,
                                    {"foo.dsc": SHA_B}, args)),
            ("BuilderStatus.BUILDING", "8-1"))
        self.assertEqual(self.daemon.calls[-1], (
            "build", "8-1", "binarypackage", SHA_A, {"foo.dsc": SHA_B}, args))
        self.assertEqual((yield self.slave.abort()), "BuilderStatus.ABORTING")
        self.daemon.builder_status = "BuilderStatus.WAITING"
        self.assertEqual((yield self.slave.clean()), "BuilderStatus.IDLE")

    @defer.inlineCallbacks
    def test_buildRefusals(self):
        self.assertEqual(
            (yield self.slave.build("8-1", "snap", SHA_A, {}, {}))[0],
            "BuilderStatus.UNKNOWNBUILDER")
        self.assertEqual(
            (yield self.slave.build("8-1", "sourcepackagerecipe", SHA_A, {},
                                    {}))[0],
            "BuilderStatus.UNKNOWNSUM")

    def test_invalidBuildNotSent(self):
        good = dict(series="s", distribution="d", suite="s",
                    ogrecomponent="main")
        for request in [
                ("", "binarypackage", SHA_A, {"a.dsc": SHA_B}, good),
                (8, "binarypackage", SHA_A, {"a.dsc": SHA_B}, good),
                ("8-1", "binarypackage", "nope", {"a.dsc": SHA_B}, good),
                ("8-1", "binarypackage", SHA_A, {"a.dsc": "x"}, good),
                ("8-1", "binarypackage", SHA_A, {"a.tar": SHA_B}, good),
                ("8-1", "binarypackage", SHA_A, {"a.dsc": SHA_B},
                 {"series": "s"})]:
            f = self.failureResultOf(self.slave.build(*request),
                                     InvalidBuildRequest)
            self.assertIn("'bob'", str(f.value))
        self.assertEqual(self.daemon.calls, [])

    @defer.inlineCallbacks
    def test_fault(self):
        e = yield self.assertFailure(self.slave.abort(), SlaveFault)
        self.assertEqual((e.faultCode, e.faultString), (8002, "error"))
        self.assertIn("'bob'", str(e))

    @defer.inlineCallbacks
    def test_getFile(self):
        self.files.files["buildlog"] = b"This is a build log"
        sink = io.BytesIO()
        self.assertEqual((yield self.slave.getFile("buildlog", sink)), 19)
        self.assertEqual(sink.getvalue(), b"This is a build log")

    @defer.inlineCallbacks
    def test_getFileMissing(self):
        e = yield self.assertFailure(
            self.slave.getFile("buildlog", io.BytesIO()), SlaveHTTPError)
        self.assertEqual(e.code, 404)
        self.assertIn("'bob'", str(e))

    @defer.inlineCallbacks
    def test_fetchFile(self):
        data = os.urandom(300000)
        self.files.files[sha1(data)] = data
        destdir = self.mktemp()
        os.mkdir(destdir)
        path = yield self.slave.fetchFile(sha1(data), destdir, "foo.deb")
        self.assertEqual(path, os.path.join(destdir, "foo.deb"))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(os.listdir(destdir), ["foo.deb"])

    @defer.inlineCallbacks
    def test_keepAlive(self):
        """Downloads reuse the pool's connections."""
        self.files.files["buildlog"] = b"log"
        for i in range(3):
            yield self.slave.getFile("buildlog", io.BytesIO())
        self.assertEqual(self.server.connectionsMade, 1)

    @defer.inlineCallbacks
    def test_cancelClosesConnection(self):
        """A caller's cancel drops the connection of a pending download."""
        self.files.files["buildlog"] = b"log"
        self.files.gated = True
        connected = self.server.whenConnected()
        d = self.slave.getFile("buildlog", io.BytesIO())
        yield connected
        while not self.files.waiting:
            yield task.deferLater(reactor, 0.001, lambda: None)
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        yield self.server.whenIdle()


class DownloadLimitTests(unittest.TestCase):
    """Downloads are bounded per builder and over the whole pool."""

    def setUp(self):
        site, self.daemon, self.files = daemonSite()
        self.url, self.server = listen(self, site)
        self.files.gated = True
        for name in "abcd":
            self.files.files[name] = name.encode()

    @defer.inlineCallbacks
    def waitForRequests(self, n):
        while len(self.files.waiting) < n:
            yield task.deferLater(reactor, 0.001, lambda: None)

    @defer.inlineCallbacks
    def drain(self, ds):
        for i in range(len(ds)):
            yield self.waitForRequests(1)
            self.files.release()
        yield defer.gatherResults(ds)

    @defer.inlineCallbacks
    def test_perBuilder(self):
        slave = makeSlave(self, self.url, max_downloads=1)
        ds = [slave.getFile(n, io.BytesIO()) for n in "abc"]
        yield self.drain(ds)
        self.assertEqual(self.files.peak, 1)

    @defer.inlineCallbacks
    def test_overall(self):
        pool = makePool(reactor, maxPersistentPerHost=4, maxDownloads=1)
        closePoolAtEnd(self, pool)
        slaves = [BuilderSlave(n, self.url, pool=pool, max_downloads=4)
                  for n in ("bob", "alice")]
        ds = [s.getFile(n, io.BytesIO()) for s in slaves for n in "ab"]
        yield self.drain(ds)
        self.assertEqual(self.files.peak, 1)


class MockSlaveTests(unittest.TestCase):
    """The seed's mocks answer like BuilderSlave does."""

    def status(self, slave):
        return self.successResultOf(slave.status())

    def test_interface(self):
        for cls in (mockslaves.OkSlave, mockslaves.BuildingSlave,
                    mockslaves.BrokenSlave, mockslaves.AbortedSlave):
            verifyObject(ISlave, cls())
        verifyObject(ISlave, mockslaves.WaitingSlave("BuildStatus.OK"))

    def test_statuses(self):
        m = mockslaves
        for slave, expected in [
                (m.SaneBuildingSlave(),
                 ("BuilderStatus.BUILDING", None, "8-1")),
                (m.SaneWaitingSlave(),
                 ("BuilderStatus.WAITING", "BuildStatus.OK", "8-1")),
                (m.MismatchedWaitingSlave(),
                 ("BuilderStatus.WAITING", "BuildStatus.OK", "7-1")),
                (m.LostBuildingSlave(),
                 ("BuilderStatus.BUILDING", None, "1000-10000")),
                (m.LostWaitingSlave(),
                 ("BuilderStatus.WAITING", "BuildStatus.OK", "1000-10000")),
                (m.OkSlave(), ("BuilderStatus.IDLE", None, None)),
                (m.AbortedSlave(), ("BuilderStatus.ABORTED", None, "1-1")),
                (m.AbortingSlave(), ("BuilderStatus.ABORTING", None, "1-1")),
                (m.BuildingSlave(cookie="5-6"),
                 ("BuilderStatus.BUILDING", None, "5-6"))]:
            status = self.status(slave)
            self.assertEqual(
                (status.builder_status, status.build_status, status.cookie),
                expected, slave)
        self.assertEqual(self.status(m.BuildingSlave()).logtail,
                         "This is a build log")

    def test_waiting(self):
        status = self.status(mockslaves.WaitingSlave(
            "BuildStatus.DEPFAIL", "baz (>= 1.0.1)"))
        self.assertEqual(
            (status.build_status, status.cookie, dict(status.filemap),
             status.dependencies),
            ("BuildStatus.DEPFAIL", "1-1", {}, "baz (>= 1.0.1)"))

    def test_broken(self):
        f = self.failureResultOf(
            mockslaves.BrokenSlave("b1").status(), SlaveFault)
        self.assertEqual((f.value.faultCode, f.value.faultString),
                         (8001, "Broken slave"))
        self.assertIsInstance(f.value, SlaveError)

    def test_okSlavePrints(self):
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        slave = mockslaves.OkSlave(verbose=True)
        self.assertEqual(
            self.successResultOf(slave.ensurepresent(SHA_A, "http://x")),
            (True, "Cache"))
        self.assertEqual(
            self.successResultOf(slave.build("1-1", "binarypackage", SHA_A,
                                             {}, {})),
            ("BuilderStatus.BUILDING", "1-1"))
        self.assertEqual(out.getvalue(),
                         "ensurepresent called\nOkSlave BUILDING\n")
        self.assertEqual([c[0] for c in slave.calls],
                         ["ensurepresent", "build"])

    def test_rescuePrints(self):
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        mockslaves.SaneWaitingSlave(verbose=True).clean()
        mockslaves.SaneBuildingSlave(verbose=True).abort()
        mockslaves.MismatchedWaitingSlave(verbose=True).clean()
        mockslaves.SaneWaitingSlave().clean()
        self.assertEqual(out.getvalue(), "Rescuing SaneSlave\n" * 2)

    def test_buildlog(self):
        for slave in (mockslaves.BuildingSlave(),
                      mockslaves.WaitingSlave("BuildStatus.OK")):
            sink = io.BytesIO()
            self.assertEqual(
                self.successResultOf(slave.getFile("buildlog", sink)), 19)
            self.assertEqual(sink.getvalue(), b"This is a build log")
        self.failureResultOf(
            mockslaves.OkSlave().getFile("buildlog", io.BytesIO()),
            SlaveHTTPError)

    def test_fetchFile(self):
        slave = mockslaves.WaitingSlave.withFiles(
            "BuildStatus.OK", {"foo.deb": b"deb", "foo.changes": b"chg"})
        status = self.status(slave)
        destdir = self.mktemp()
        os.mkdir(destdir)
        for name, digest in status.filemap.items():
            path = self.successResultOf(
                slave.fetchFile(digest, destdir, name))
            with open(path, "rb") as f:
                self.assertEqual(f.read(), {"foo.deb": b"deb",
                                            "foo.changes": b"chg"}[name])
        self.failureResultOf(
            slave.fetchFile(status.filemap["foo.deb"], destdir, "../x"),
            UnsafeFilename)
        slave.files[SHA_A] = b"not a"
        self.failureResultOf(slave.fetchFile(SHA_A, destdir, "a"),
                             SlaveChecksumMismatch)
        self.assertEqual(sorted(os.listdir(destdir)),
                         ["foo.changes", "foo.deb"])


class BoundedTextTests(unittest.TestCase):
    """Texts from builders are bounded and lose the characters that would
    act on a terminal, a page or a mail, where they enter."""

    def test_hugeLogtailKeepsItsLast2KiB(self):
        """An 11 MB log tail: its last 2 KiB, as the real daemon sends."""
        big = b"x" * (11 * 1024 * 1024) + b"\nthe end"
        for value in (Binary(big), big, big.decode()):
            logtail = normaliseStatus(
                ("BuilderStatus.BUILDING", "1-1", value)).logtail
            self.assertEqual(len(logtail.encode()), 2048)
            self.assertTrue(logtail.endswith("x\nthe end"))

    def test_controlsAndBidiReplaced(self):
        hostile = "red \x1b[31m csi \x9b2J rlo \u202eevil\u2066 cr\r ok\n\tend"
        status = normaliseStatus({
            "builder_status": "BuilderStatus.WAITING",
            "build_status": "BuildStatus.DEPFAIL", "build_id": "1-1",
            "logtail": Binary(hostile.encode()), "filemap": {},
            "dependencies": hostile, "builder_version": hostile})
        self.assertEqual(
            status.logtail,
            "red \ufffd[31m csi \ufffd2J rlo \ufffdevil\ufffd cr ok\n\tend")
        self.assertEqual(
            status.dependencies,
            "red \ufffd[31m csi \ufffd2J rlo \ufffdevil\ufffd cr ok  end")
        self.assertNotIn("\x1b", status.builder_version)

    def test_hugeDependencies(self):
        status = normaliseStatus((
            "BuilderStatus.WAITING", "BuildStatus.DEPFAIL", "1-1", {},
            "libfoo (>= 1), " * 100000))
        self.assertLessEqual(len(status.dependencies.encode()), 4096)
        self.assertTrue(status.dependencies.startswith("libfoo (>= 1), "))

    def test_cookieWithControlsOrHuge(self):
        for cookie in ("1-1\x1b[2J", "1-1\u202e", "1" * 201):
            self.assertRaises(SlaveProtocolError, normaliseStatus,
                              ("BuilderStatus.BUILDING", cookie))

    def test_hugeFault(self):
        """An 8 MB fault string: at most 1 KiB of it, on one line."""
        e = SlaveFault("bob", 8002, "boom\n\x1b[2J" + "x" * 8 * 1024 * 1024)
        self.assertLessEqual(len(e.faultString.encode()), 1024)
        self.assertLess(len(str(e)), 1100)
        self.assertTrue(e.faultString.startswith("boom \ufffd[2J"))
        self.assertNotIn("\n", str(e))
