"""The farm simulator (lp_buildmaster.testing.simulator), driven over real
loopback HTTP by the project's client, L{lp_buildmaster.slave.BuilderSlave}.

Build time runs on a L{task.Clock}; the network on the real reactor.  The
client's timeouts run on the same Clock, so they only fire when a test
advances it (and a test never advances it with a call in flight unless it
wants that call to time out).
"""

import hashlib
import json
import os
import random
import signal
import sys
import xmlrpc.client

import psutil
from debian.deb822 import Changes
from twisted.internet import defer, reactor, task
from twisted.internet import protocol
from twisted.internet.protocol import ProcessProtocol
from twisted.trial import unittest
from twisted.web import resource, server, static
from twisted.web.xmlrpc import Fault, Proxy

import lp_buildmaster
from lp_buildmaster.testing import simulator
from lp_buildmaster.testing.simulator import (
    BuildLog, BuildProfile, SimulatedFarm, makeBinaryResults)
from lp_buildmaster.slave import (
    BuilderSlave, SlaveConnectionError, SlaveFault, SlaveHTTPError,
    SlaveProtocolError, SlaveTimeout, makePool)
from lp_buildmaster.upload import readUpload
from tests.realbuilder import makeBuildArgs, makeDsc

COOKIE = "1-1"
IDLE = "BuilderStatus.IDLE"
BUILDING = "BuilderStatus.BUILDING"
WAITING = "BuilderStatus.WAITING"
ABORTING = "BuilderStatus.ABORTING"

CHROOT = b"a simulated chroot tarball\n" * 64
CHROOT_SHA1 = hashlib.sha1(CHROOT).hexdigest()


def profile(outcome="OK", **kwargs):
    """A profile whose builds take exactly 100 s and end in C{outcome}."""
    kwargs.setdefault("duration", (100.0, 100.0))
    kwargs.setdefault("log_size", (50000, 50000))
    return BuildProfile(outcomes={outcome: 1.0}, **kwargs)


class Sink:
    """Counts and hashes what getFile() writes; keeps it if asked."""

    def __init__(self, keep=True, watch=None):
        self.keep = keep
        self.parts = []
        self.size = 0
        self.sha1 = hashlib.sha1()
        self.watch = watch

    def write(self, data):
        self.size += len(data)
        self.sha1.update(data)
        if self.keep:
            self.parts.append(data)
        if self.watch is not None:
            self.watch()

    def getvalue(self):
        return b"".join(self.parts)


@defer.inlineCallbacks
def turnUntil(predicate, turns=2000, description="condition"):
    """Let the real reactor run (a few ms per turn) until C{predicate()}."""
    for _ in range(turns):
        if predicate():
            return
        yield task.deferLater(reactor, 0.005, lambda: None)
    raise AssertionError("gave up waiting for %s" % description)


class FileServer:
    """A little HTTP server on 127.0.0.1 for ensurepresent() to fetch from.
    """

    def __init__(self, testcase):
        self.root = resource.Resource()
        self.port = reactor.listenTCP(0, server.Site(self.root),
                                      interface="127.0.0.1")
        testcase.addCleanup(self.port.stopListening)
        self.base = "http://127.0.0.1:%d/" % self.port.getHost().port

    def add(self, name, data):
        self.root.putChild(name.encode("ascii"),
                           static.Data(data, "application/octet-stream"))
        return self.base + name


class FarmTestCase(unittest.TestCase):
    """A farm on one port, builder 'bob', and a client for it."""

    fetch = True
    farm_profile = None

    @defer.inlineCallbacks
    def setUp(self):
        self.clock = task.Clock()
        self.farm = SimulatedFarm(
            clock=self.clock, reactor=reactor, seed=42,
            profile=self.farm_profile or profile(), fetch=self.fetch)
        self.port = yield self.farm.listen()
        self.addCleanup(self.farm.stop)
        self.pool = makePool(reactor)
        self.addCleanup(self.pool.closeCachedConnections)
        self.bob = self.farm.addBuilder("bob")
        self.slave = self.client("bob")
        self.files = FileServer(self)

    def client(self, name, **kwargs):
        kwargs.setdefault("timeout", 30.0)
        return BuilderSlave(name, self.farm.urlFor(name), pool=self.pool,
                            clock=self.clock, reactor=reactor, **kwargs)

    def proxy(self, name="bob"):
        """A plain XML-RPC proxy, for what the client will not send."""
        return Proxy((self.farm.urlFor(name) + "rpc").encode("ascii"),
                     allowNone=True)

    @defer.inlineCallbacks
    def prepare(self, slave=None, source="foo", version="1.0-1"):
        """ensurepresent() a chroot and a .dsc; return the filemap."""
        slave = slave or self.slave
        dsc = makeDsc(source, version)
        dsc_name = "%s_%s.dsc" % (source, version.split(":")[-1])
        dsc_sha1 = hashlib.sha1(dsc).hexdigest()
        for sha1, data, name in ((CHROOT_SHA1, CHROOT, "chroot.tar.gz"),
                                 (dsc_sha1, dsc, dsc_name)):
            ok, info = yield slave.ensurepresent(
                sha1, self.files.add(name, data))
            self.assertTrue(ok, info)
        return {dsc_name: dsc_sha1}

    @defer.inlineCallbacks
    def startBuild(self, slave=None, cookie=COOKIE, args=None, **kwargs):
        slave = slave or self.slave
        filemap = yield self.prepare(slave, **kwargs)
        result = yield slave.build(cookie, "binarypackage", CHROOT_SHA1,
                                   filemap, args or makeBuildArgs())
        self.assertEqual((BUILDING, cookie), result)
        return filemap

    @defer.inlineCallbacks
    def fetch(self, name, slave=None):
        sink = Sink()
        yield (slave or self.slave).getFile(name, sink)
        return sink.getvalue()


class FullCycleTests(FarmTestCase):

    @defer.inlineCallbacks
    def test_ok_build_cycle(self):
        # IDLE, with the daemon's version.
        status = yield self.slave.status()
        self.assertEqual(IDLE, status.builder_status)
        self.assertEqual(simulator.BUILDER_VERSION, status.builder_version)
        self.assertEqual(["a", 1, ["b"]],
                         (yield self.slave.echo("a", 1, ("b",))))
        version, arch, types = yield self.slave.info()
        self.assertEqual(("1.0", "i386"), (version, arch))
        self.assertIn("binarypackage", types)

        # ensurepresent downloads, then finds it in the cache.
        url = self.files.add("chroot.tar.gz", CHROOT)
        self.assertEqual((True, "Download"),
                         (yield self.slave.ensurepresent(CHROOT_SHA1, url)))
        self.assertEqual((True, "Cache"),
                         (yield self.slave.ensurepresent(CHROOT_SHA1, url)))
        self.assertEqual((True, "No URL"),
                         (yield self.slave.ensurepresent(CHROOT_SHA1, None)))
        self.assertEqual(CHROOT, (yield self.fetch(CHROOT_SHA1)))

        filemap = yield self.prepare()
        self.assertEqual(
            (BUILDING, COOKIE),
            (yield self.slave.build(COOKIE, "binarypackage", CHROOT_SHA1,
                                    filemap, makeBuildArgs())))

        # BUILDING, with a logtail that grows with the clock.
        raw = yield self.proxy().callRemote("status")
        self.assertEqual(BUILDING, raw["builder_status"])
        self.assertEqual(COOKIE, raw["build_id"])
        self.assertIsInstance(raw["logtail"], xmlrpc.client.Binary)
        self.assertNotIn("filemap", raw)
        first = yield self.slave.status()
        self.assertIn("Forking launchpad-buildd slave process",
                      first.logtail)
        early = yield self.fetch("buildlog")
        self.clock.advance(50)
        middle = yield self.slave.status()
        self.assertEqual((BUILDING, COOKIE),
                         (middle.builder_status, middle.cookie))
        self.assertNotEqual(first.logtail, middle.logtail)
        raw = yield self.proxy().callRemote("status")
        self.assertEqual(2048, len(raw["logtail"].data))
        half = yield self.fetch("buildlog")
        self.assertTrue(half.startswith(early))
        self.assertGreater(len(half), len(early) + 20000)
        self.assertTrue(half.endswith(raw["logtail"].data))

        # WAITING OK with the results.
        self.clock.advance(50)
        status = yield self.slave.status()
        self.assertEqual((WAITING, "BuildStatus.OK", COOKIE, ""),
                         (status.builder_status, status.build_status,
                          status.cookie, status.dependencies))
        self.assertEqual(
            {"foo_1.0-1_i386.changes", "foo_1.0-1_i386.buildinfo",
             "foo_1.0-1_i386.deb"}, set(status.filemap))
        whole = yield self.fetch("buildlog")
        self.assertTrue(whole.startswith(half))
        self.assertIn(b"Status: successful", whole)
        self.assertIn(b"sbuild-package 1-1 i386 hoary", whole)
        self.assertIn(b"http://launchpad.test/ubuntu/+source/foo/", whole)
        self.assertTrue(45000 < len(whole) < 55000, len(whole))

        # Every file through fetchFile, which checks the sha1.
        leaf = self.mktemp()
        os.mkdir(leaf)
        contents = {}
        for name, sha1 in status.filemap.items():
            path = yield self.slave.fetchFile(sha1, leaf, name)
            with open(path, "rb") as f:
                contents[name] = f.read()
        self.assertTrue(contents["foo_1.0-1_i386.deb"].startswith(
            b"!<arch>\ndebian-binary   "))
        changes = Changes(contents["foo_1.0-1_i386.changes"])
        self.assertEqual(("foo", "1.0-1", "i386", "hoary"), (
            changes["Source"], changes["Version"], changes["Architecture"],
            changes["Distribution"]))
        listed = {f["name"]: f for f in changes["Files"]}
        self.assertEqual({"foo_1.0-1_i386.buildinfo", "foo_1.0-1_i386.deb"},
                         set(listed))
        sha1s = {f["name"]: f["sha1"] for f in changes["Checksums-Sha1"]}
        sha256s = {f["name"]: f["sha256"]
                   for f in changes["Checksums-Sha256"]}
        for name, entry in listed.items():
            data = contents[name]
            self.assertEqual(str(len(data)), entry["size"])
            self.assertEqual(hashlib.md5(data).hexdigest(), entry["md5sum"])
            self.assertEqual(hashlib.sha1(data).hexdigest(), sha1s[name])
            self.assertEqual(hashlib.sha256(data).hexdigest(), sha256s[name])
        # The master's own upload check accepts it.
        upload = readUpload(leaf)
        self.assertEqual(("foo", "1.0-1", 2),
                         (upload.source, upload.version, len(upload.files)))

        # clean() forgets the build: results and log are gone, the chroot
        # stays in the cache.
        self.assertEqual(IDLE, (yield self.slave.clean()))
        self.assertEqual(IDLE, (yield self.slave.status()).builder_status)
        for name in (status.filemap["foo_1.0-1_i386.deb"], "buildlog"):
            e = yield self.assertFailure(self.fetch(name), SlaveHTTPError)
            self.assertEqual(404, e.code)
        self.assertEqual(CHROOT, (yield self.fetch(CHROOT_SHA1)))
        self.assertEqual(1, self.farm.counters["outcome_OK"])

    @defer.inlineCallbacks
    def test_arch_indep_epoch_and_pocket(self):
        # The version (with its epoch) comes from the .dsc's contents; file
        # names drop the epoch.
        yield self.startBuild(
            source="bar", version="1:2.0-3",
            args=makeBuildArgs(arch_indep=True, pocket="updates"))
        self.clock.advance(100)
        status = yield self.slave.status()
        self.assertEqual(
            {"bar_2.0-3_i386.changes", "bar_2.0-3_i386.buildinfo",
             "bar_2.0-3_i386.deb", "bar-doc_2.0-3_all.deb"},
            set(status.filemap))
        changes = Changes((yield self.fetch(
            status.filemap["bar_2.0-3_i386.changes"])))
        self.assertEqual("1:2.0-3", changes["Version"])
        self.assertEqual("i386 all", changes["Architecture"])
        self.assertEqual("hoary-updates", changes["Distribution"])
        self.assertEqual("bar bar-doc", changes["Binary"])

    @defer.inlineCallbacks
    def test_builds_again_after_clean(self):
        yield self.startBuild()
        self.clock.advance(100)
        yield self.slave.clean()
        yield self.startBuild(cookie="2-2")
        self.clock.advance(100)
        status = yield self.slave.status()
        self.assertEqual(("BuildStatus.OK", "2-2"),
                         (status.build_status, status.cookie))
        self.assertEqual(2, self.farm.counters["builds_finished"])


class OutcomeTests(FarmTestCase):
    """Each outcome ends in WAITING with the keys the real daemon gives."""

    @defer.inlineCallbacks
    def finish(self, outcome, **kwargs):
        self.bob.profile = profile(outcome, **kwargs)
        yield self.startBuild()
        self.clock.advance(100)
        raw = yield self.proxy().callRemote("status")
        self.assertEqual((WAITING, COOKIE, "BuildStatus." + outcome),
                         (raw["builder_status"], raw["build_id"],
                          raw["build_status"]))
        status = yield self.slave.status()
        self.assertEqual("BuildStatus." + outcome, status.build_status)
        return raw

    @defer.inlineCallbacks
    def test_packagefail(self):
        raw = yield self.finish("PACKAGEFAIL")
        self.assertEqual(({}, ""), (raw["filemap"], raw["dependencies"]))
        self.assertIn(b"Fail-Stage: build", (yield self.fetch("buildlog")))

    @defer.inlineCallbacks
    def test_depfail(self):
        raw = yield self.finish("DEPFAIL", dependencies="baz (>= 1.0.1)")
        self.assertEqual(({}, "baz (>= 1.0.1)"),
                         (raw["filemap"], raw["dependencies"]))
        status = yield self.slave.status()
        self.assertEqual("baz (>= 1.0.1)", status.dependencies)
        self.assertIn(b"Depends: baz (>= 1.0.1) but it is not installable",
                      (yield self.fetch("buildlog")))

    @defer.inlineCallbacks
    def test_failures_without_files(self):
        for outcome in ("CHROOTFAIL", "GIVENBACK", "BUILDERFAIL"):
            # CHROOTFAIL fails early: 100 s is plenty for every one.
            raw = yield self.finish(outcome)
            self.assertNotIn("filemap", raw)
            self.assertNotIn("dependencies", raw)
            status = yield self.slave.status()
            self.assertIsNone(status.filemap)
            self.assertIsNone(status.dependencies)
            self.assertNotEqual(b"", (yield self.fetch("buildlog")))
            self.assertEqual(IDLE, (yield self.slave.clean()))

    @defer.inlineCallbacks
    def test_outcome_mix_follows_the_weights(self):
        weights = {"OK": 0.5, "PACKAGEFAIL": 0.25, "DEPFAIL": 0.25}
        self.bob.profile = BuildProfile(outcomes=weights,
                                        duration=(1.0, 5.0))
        seen = []
        filemap = yield self.prepare()
        for i in range(200):
            cookie = "%d-%d" % (i, i)
            result = yield self.slave.build(cookie, "binarypackage",
                                            CHROOT_SHA1, filemap,
                                            makeBuildArgs())
            self.assertEqual((BUILDING, cookie), result)
            self.clock.advance(5)
            seen.append(self.bob.build_status)
            self.assertEqual(IDLE, (yield self.slave.clean()))
        counts = {o: seen.count(o) for o in weights}
        self.assertEqual(200, sum(counts.values()))
        self.assertTrue(70 < counts["OK"] < 130, counts)
        self.assertTrue(25 < counts["DEPFAIL"] < 75, counts)


class AbortTests(FarmTestCase):

    @defer.inlineCallbacks
    def test_abort_ends_in_aborted(self):
        yield self.startBuild()
        self.clock.advance(10)
        self.assertEqual(ABORTING, (yield self.slave.abort()))
        raw = yield self.proxy().callRemote("status")
        self.assertEqual((ABORTING, COOKIE),
                         (raw["builder_status"], raw["build_id"]))
        self.assertNotIn("logtail", raw)
        # Aborting twice is a Fault: it is no longer BUILDING.
        e = yield self.assertFailure(self.slave.abort(), SlaveFault)
        self.assertEqual(8002, e.faultCode)
        self.clock.advance(self.bob.profile.abort_delay)
        status = yield self.slave.status()
        self.assertEqual((WAITING, "BuildStatus.ABORTED", COOKIE),
                         (status.builder_status, status.build_status,
                          status.cookie))
        self.assertIsNone(status.filemap)
        self.assertIn(b"Build killed with signal TERM",
                      (yield self.fetch("buildlog")))
        # The original end of the build never comes.
        self.clock.advance(1000)
        self.assertEqual("ABORTED", self.bob.build_status)
        self.assertEqual(IDLE, (yield self.slave.clean()))

    @defer.inlineCallbacks
    def test_unkillable_abort_ends_in_builderfail(self):
        self.bob.profile = profile(unkillable=True, abort_timeout=120.0,
                                   duration=(1000.0, 1000.0))
        yield self.startBuild()
        yield self.slave.abort()
        self.clock.advance(119)
        self.assertEqual(ABORTING,
                         (yield self.slave.status()).builder_status)
        self.clock.advance(1)
        status = yield self.slave.status()
        self.assertEqual((WAITING, "BuildStatus.BUILDERFAIL"),
                         (status.builder_status, status.build_status))

    @defer.inlineCallbacks
    def test_abort_and_clean_in_the_wrong_state_are_faults(self):
        for call in (self.slave.abort, self.slave.clean):
            e = yield self.assertFailure(call(), SlaveFault)
            self.assertEqual((8002, "error"), (e.faultCode, e.faultString))
        yield self.startBuild()
        e = yield self.assertFailure(self.slave.clean(), SlaveFault)
        self.assertEqual(8002, e.faultCode)
        self.assertEqual(BUILDING, self.bob.state)


class RefusalTests(FarmTestCase):
    """The daemon's replies to requests it will not do."""

    @defer.inlineCallbacks
    def test_unknown_sums_and_builder(self):
        filemap = yield self.prepare()
        status, info = yield self.slave.build(
            COOKIE, "binarypackage", "3" * 40, filemap, makeBuildArgs())
        self.assertEqual("BuilderStatus.UNKNOWNSUM", status)
        self.assertTrue(info.startswith("CHROOTSUM -> " + "3" * 40), info)
        status, info = yield self.slave.build(
            COOKIE, "binarypackage", CHROOT_SHA1,
            {"foo_1.0-1.dsc": "4" * 40}, makeBuildArgs())
        self.assertEqual("BuilderStatus.UNKNOWNSUM", status)
        self.assertTrue(info.startswith("FILESUM -> " + "4" * 40), info)
        status, info = yield self.slave.build(
            COOKIE, "nosuchtype", CHROOT_SHA1, filemap, makeBuildArgs())
        self.assertEqual("BuilderStatus.UNKNOWNBUILDER", status)
        self.assertIn("nosuchtype not in", info)
        self.assertIn("binarypackage", info)
        self.assertEqual(IDLE, (yield self.slave.status()).builder_status)

    @defer.inlineCallbacks
    def test_faults(self):
        proxy = self.proxy()
        e = yield self.assertFailure(proxy.callRemote("nosuchmethod"), Fault)
        self.assertEqual(8001, e.faultCode)
        e = yield self.assertFailure(proxy.callRemote("status", 1), Fault)
        self.assertEqual(8002, e.faultCode)
        filemap = yield self.prepare()
        for cookie in ("", 7):
            e = yield self.assertFailure(
                proxy.callRemote("build", cookie, "binarypackage",
                                 CHROOT_SHA1, filemap, makeBuildArgs()),
                Fault)
            self.assertEqual(8002, e.faultCode)
        self.assertEqual(IDLE, (yield self.slave.status()).builder_status)

    @defer.inlineCallbacks
    def test_refused_build_overwrites_cookie_and_empties_log(self):
        self.bob.profile = profile("PACKAGEFAIL")
        filemap = yield self.startBuild()
        self.clock.advance(100)
        self.assertNotEqual(b"", (yield self.fetch("buildlog")))
        e = yield self.assertFailure(
            self.slave.build("9-9", "binarypackage", CHROOT_SHA1, filemap,
                             makeBuildArgs()), SlaveFault)
        self.assertEqual(8002, e.faultCode)
        status = yield self.slave.status()
        self.assertEqual((WAITING, "BuildStatus.PACKAGEFAIL", "9-9"),
                         (status.builder_status, status.build_status,
                          status.cookie))
        self.assertEqual(b"", (yield self.fetch("buildlog")))

    @defer.inlineCallbacks
    def test_build_without_dsc_wedges(self):
        yield self.prepare()
        e = yield self.assertFailure(
            self.proxy().callRemote("build", COOKIE, "binarypackage",
                                    CHROOT_SHA1, {}, makeBuildArgs()),
            Fault)
        self.assertEqual(8002, e.faultCode)
        self.clock.advance(10000)
        status = yield self.slave.status()
        self.assertEqual((BUILDING, COOKIE),
                         (status.builder_status, status.cookie))
        self.assertEqual(ABORTING, (yield self.slave.abort()))
        self.clock.advance(10000)
        self.assertEqual(ABORTING,
                         (yield self.slave.status()).builder_status)

    @defer.inlineCallbacks
    def test_ensurepresent_failures(self):
        ok, info = yield self.slave.ensurepresent(
            "0" * 40, self.files.base + "missing")
        self.assertEqual(
            (False, "Error accessing Librarian: HTTP Error 404: Not Found"),
            (ok, info))
        url = self.files.add("chroot.tar.gz", CHROOT)
        self.assertEqual((False, "Digests did not match, removing again!"),
                         (yield self.slave.ensurepresent("1" * 40, url)))
        e = yield self.assertFailure(self.fetch("1" * 40), SlaveHTTPError)
        self.assertEqual(404, e.code)
        self.assertEqual((False, "No URL"),
                         (yield self.slave.ensurepresent("2" * 40, None)))
        ok, info = yield self.slave.ensurepresent(
            "5" * 40, "http://127.0.0.1:1/nothing")
        self.assertFalse(ok)
        self.assertTrue(info.startswith("Error accessing Librarian: "), info)

    @defer.inlineCallbacks
    def test_ensurepresent_blocks_the_builder(self):
        # Like the real daemon, a builder answers nothing else while it
        # downloads; other builders are not held up.
        held = []

        class Slow(resource.Resource):
            isLeaf = True

            def render_GET(self, request):
                held.append(request)
                return server.NOT_DONE_YET

        self.files.root.putChild(b"slow", Slow())
        self.farm.addBuilder("alice")
        alice = self.client("alice")
        fetched = self.slave.ensurepresent(CHROOT_SHA1,
                                           self.files.base + "slow")
        yield turnUntil(lambda: held, description="the download to start")
        answered = []
        self.slave.status().addCallback(answered.append)
        self.assertEqual(IDLE, (yield alice.status()).builder_status)
        yield turnUntil(lambda: self.farm.counters["status"] == 2,
                        description="bob's status() to arrive")
        self.assertEqual([], answered)
        held[0].write(CHROOT)
        held[0].finish()
        self.assertEqual((True, "Download"), (yield fetched))
        yield turnUntil(lambda: answered, description="bob's status()")
        self.assertEqual(IDLE, answered[0].builder_status)


class FaultTests(FarmTestCase):

    @defer.inlineCallbacks
    def test_hang_times_out(self):
        self.bob.hang = True
        d = self.slave.status()
        yield turnUntil(lambda: self.farm.counters["hung"] == 1,
                        description="the call to arrive")
        self.clock.advance(30)
        yield self.assertFailure(d, SlaveTimeout)
        yield turnUntil(lambda: not self.farm._hung,
                        description="the hung request to go")
        self.bob.hang = False
        self.assertEqual(IDLE, (yield self.slave.status()).builder_status)

    @defer.inlineCallbacks
    def test_hung_calls_are_dropped_by_stop(self):
        self.bob.hang = True
        d = self.proxy().callRemote("status")
        yield turnUntil(lambda: self.farm.counters["hung"] == 1,
                        description="the call to arrive")
        yield self.farm.stop()
        yield self.assertFailure(d, Exception)

    @defer.inlineCallbacks
    def test_down_resets_connections(self):
        self.bob.down = True
        yield self.assertFailure(self.slave.status(), SlaveConnectionError)
        yield self.assertFailure(self.fetch("buildlog"),
                                 SlaveConnectionError)
        self.bob.down = False
        self.assertEqual(IDLE, (yield self.slave.status()).builder_status)
        self.assertEqual(2, self.farm.counters["refused"])

    @defer.inlineCallbacks
    def test_garbage(self):
        self.bob.garbage = True
        e = yield self.assertFailure(self.slave.status(),
                                     SlaveProtocolError)
        self.assertIn("unparseable", str(e))
        self.bob.garbage = False
        self.assertEqual(IDLE, (yield self.slave.status()).builder_status)

    @defer.inlineCallbacks
    def test_fault_rates(self):
        self.bob.profile = profile(refuse_rate=0.5, garbage_rate=1.0)
        errors = set()
        for _ in range(40):
            try:
                yield self.slave.status()
            except (SlaveConnectionError, SlaveProtocolError) as e:
                errors.add(type(e))
        self.assertEqual({SlaveConnectionError, SlaveProtocolError}, errors)
        self.assertEqual(40, self.farm.counters["refused"]
                         + self.farm.counters["garbage"])

    @defer.inlineCallbacks
    def test_unknown_builder_is_404(self):
        ghost = BuilderSlave("ghost", "http://127.0.0.1:%d/ghost/" % self.port,
                             pool=self.pool, clock=self.clock)
        e = yield self.assertFailure(ghost.status(), SlaveHTTPError)
        self.assertEqual(404, e.code)


class _RawClient(protocol.Protocol):
    """Sends bytes in pieces, one per reactor turn; collects the answer."""

    def __init__(self, pieces):
        self.pieces = pieces
        self.received = []
        self.done = defer.Deferred()

    def connectionMade(self):
        def send():
            for piece in self.pieces:
                self.transport.write(piece)
                yield
        task.cooperate(send())

    def dataReceived(self, data):
        self.received.append(data)

    def connectionLost(self, reason):
        self.done.callback(b"".join(self.received))


class HTTPTests(FarmTestCase):
    """Plain XML-RPC POSTs take a short cut; everything else goes through
    twisted.web.  Both answer alike."""

    @defer.inlineCallbacks
    def raw(self, data, pieces=1):
        size = -(-len(data) // pieces)
        client = _RawClient([data[i:i + size]
                             for i in range(0, len(data), size)])
        yield protocol.ClientCreator(reactor, lambda: client).connectTCP(
            "127.0.0.1", self.port)
        answer = yield client.done
        head, _, body = answer.partition(b"\r\n\r\n")
        return head.split(b"\r\n")[0], body

    def post(self, body, version=b"HTTP/1.0", extra=b"", path=b"/bob/rpc"):
        return (b"POST %s %s\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: text/xml\r\n%sContent-Length: %d\r\n\r\n"
                % (path, version, extra, len(body)) + body)

    @defer.inlineCallbacks
    def test_rpc_both_ways(self):
        call = xmlrpc.client.dumps(("x", 2), "echo").encode()
        answers = set()
        for request, pieces in [
                (self.post(call), 1),
                (self.post(call), 40),       # arriving a few bytes at a time
                (self.post(call, b"HTTP/1.1"), 1),
                # twisted.web: an Expect header, an unusual path.
                (self.post(call, extra=b"Expect: 100-continue\r\n"), 1),
                (self.post(call, path=b"/bob/rpc?x=1"), 1)]:
            status, body = yield self.raw(request, pieces)
            self.assertIn(b" 200 OK", status)
            answers.add(body)
            self.assertEqual(((["x", 2],), None), xmlrpc.client.loads(body))
        self.assertEqual(1, len(answers))
        self.assertEqual(5, self.farm.counters["echo"])

    @defer.inlineCallbacks
    def test_http_odds_and_ends(self):
        # Unknown builders and paths are 404, a GET of rpc 405, a body
        # that is not XML-RPC 400.
        status, _ = yield self.raw(self.post(b"x", path=b"/nobody/rpc"))
        self.assertIn(b" 404 ", status)
        status, _ = yield self.raw(
            b"GET /bob/elsewhere HTTP/1.0\r\n\r\n")
        self.assertIn(b" 404 ", status)
        status, _ = yield self.raw(b"GET /bob/rpc HTTP/1.0\r\n\r\n")
        self.assertIn(b" 405 ", status)
        status, _ = yield self.raw(self.post(b"<not xml-rpc"))
        self.assertIn(b" 400 ", status)
        # Keep-alive file downloads, several on one connection.
        pool = makePool(reactor, maxPersistentPerHost=1)
        self.addCleanup(pool.closeCachedConnections)
        slave = BuilderSlave("bob", self.farm.urlFor("bob"), pool=pool,
                             clock=self.clock)
        self.assertEqual(IDLE, (yield slave.status()).builder_status)
        yield self.prepare(slave)
        for _ in range(3):
            sink = Sink()
            yield slave.getFile(CHROOT_SHA1, sink)
            self.assertEqual(CHROOT, sink.getvalue())


class ManyBuildersTests(FarmTestCase):

    farm_profile = BuildProfile(duration=(10.0, 100.0), outcomes={"OK": 1})

    @defer.inlineCallbacks
    def test_many_builders_share_one_port(self):
        names = ["b%03d" % i for i in range(60)]
        for i, name in enumerate(names):
            self.farm.addBuilder(name, arch_tag=("i386", "amd64")[i % 2])
        urls = {self.farm.urlFor(name) for name in names}
        self.assertEqual(
            {"http://127.0.0.1:%d/%s/" % (self.port, n) for n in names}, urls)
        slaves = {name: self.client(name) for name in names}
        infos = yield defer.gatherResults(
            [slaves[n].info() for n in names])
        self.assertEqual([("i386", "amd64")[i % 2] for i in range(60)],
                         [info[1] for info in infos])
        # Half of them build, each with its own cookie.
        building = names[::2]
        for i, name in enumerate(building):
            yield self.startBuild(slaves[name], cookie="%d-1" % i)
        statuses = yield defer.gatherResults(
            [slaves[n].status() for n in names])
        for name, status in zip(names, statuses):
            if name in building:
                self.assertEqual(
                    (BUILDING, "%d-1" % building.index(name)),
                    (status.builder_status, status.cookie))
            else:
                self.assertEqual(IDLE, status.builder_status)
        self.clock.advance(100)
        statuses = yield defer.gatherResults(
            [slaves[n].status() for n in building])
        self.assertEqual({(WAITING, "BuildStatus.OK")},
                         {(s.builder_status, s.build_status)
                          for s in statuses})
        self.assertEqual(90, self.farm.counters["status"])

    @defer.inlineCallbacks
    def test_same_seed_same_builds(self):
        def draws(seed):
            farm = SimulatedFarm(clock=task.Clock(), seed=seed,
                                 profile=self.farm_profile, fetch=False)
            b = farm.addBuilder("x")
            result = []
            for i in range(5):
                b.xmlrpc_build("%d-1" % i, "binarypackage", "0" * 40,
                               {"x_1.dsc": "1" * 40}, makeBuildArgs())
                delay = b._timer.getTime()
                farm.clock.advance(delay)
                result.append((delay, b.build_status,
                               len(b.log.read(0, 10 ** 9, delay))))
                b.xmlrpc_clean()
            return result

        self.assertEqual(draws(1), draws(1))
        self.assertNotEqual(draws(1), draws(2))
        yield defer.succeed(None)


class OwnPortTests(FarmTestCase):

    @defer.inlineCallbacks
    def test_builder_with_its_own_port(self):
        self.farm.addBuilder("solo", arch_tag="amd64")
        port = yield self.farm.listenBuilder("solo")
        self.assertEqual("http://127.0.0.1:%d/" % port,
                         self.farm.urlFor("solo"))
        solo = self.client("solo")
        self.assertEqual("amd64", (yield solo.info())[1])
        yield self.startBuild(solo)
        self.clock.advance(100)
        status = yield solo.status()
        self.assertEqual("BuildStatus.OK", status.build_status)
        for sha1 in status.filemap.values():
            data = yield self.fetch(sha1, solo)
            self.assertEqual(sha1, hashlib.sha1(data).hexdigest())
        self.farm.builders["solo"].down = True
        yield self.assertFailure(solo.status(), SlaveConnectionError)


class NoFetchTests(FarmTestCase):

    fetch = False

    @defer.inlineCallbacks
    def test_trusts_every_file(self):
        self.assertEqual((True, "Cache"), (yield self.slave.ensurepresent(
            "6" * 40, "http://127.0.0.1:1/never-fetched")))
        result = yield self.slave.build(
            COOKIE, "binarypackage", "7" * 40, {"baz_3.1-2.dsc": "8" * 40},
            makeBuildArgs())
        self.assertEqual((BUILDING, COOKIE), result)
        self.clock.advance(100)
        status = yield self.slave.status()
        # Source and version from the .dsc's name.
        self.assertIn("baz_3.1-2_i386.changes", status.filemap)
        self.assertEqual(0, self.farm.counters["downloads"])


class BigLogTests(FarmTestCase):

    farm_profile = profile(log_size=(50 * 1024 ** 2, 50 * 1024 ** 2),
                           duration=(10.0, 10.0))

    @defer.inlineCallbacks
    def test_big_log_is_streamed(self):
        yield self.startBuild()
        self.clock.advance(5)
        raw = yield self.proxy().callRemote("status")
        self.assertEqual(2048, len(raw["logtail"].data))
        self.clock.advance(5)
        process = psutil.Process()
        start = process.memory_info().rss
        peak = [start]

        def watch():
            if sink.size % (1024 * 1024) < 70000:
                peak[0] = max(peak[0], process.memory_info().rss)

        sink = Sink(keep=False, watch=watch)
        size = yield self.slave.getFile("buildlog", sink)
        self.assertEqual(size, sink.size)
        self.assertTrue(0.999 * 50 * 1024 ** 2 < size <= 50 * 1024 ** 2,
                        size)
        # Neither end held the log whole.
        self.assertLess(peak[0] - start, 20 * 1024 ** 2)
        # The log is the same bytes when read again, and its tail is the
        # logtail status() gave at the end.
        again = Sink(keep=False)
        yield self.slave.getFile("buildlog", again)
        self.assertEqual(sink.sha1.hexdigest(), again.sha1.hexdigest())


class BuildLogTests(unittest.TestCase):

    def test_ranges_agree_with_the_whole(self):
        # Long enough for the body to cycle through its block of lines.
        log = BuildLog(b"header line\n", 300000, 0.0, 10.0, 1234)
        log.finish(b"\ntrailer\n", 10.0)
        whole = log.read(0, 10 ** 9, 10.0)
        self.assertEqual(len(whole), log.length(10.0))
        self.assertEqual(12 + 300000 + 9, len(whole))
        self.assertTrue(whole.startswith(b"header line\n"))
        self.assertTrue(whole.endswith(b"\ntrailer\n"))
        rng = random.Random(5)
        ranges = [(0, 5), (11, 12), (len(whole) - 20, len(whole) + 5)] + [
            sorted(rng.randrange(len(whole)) for _ in range(2))
            for _ in range(200)]
        for start, end in ranges:
            self.assertEqual(whole[start:end], log.read(start, end, 10.0))
        self.assertEqual(whole[-2048:], log.tail(10.0))
        # Another seed, another log.
        other = BuildLog(b"header line\n", 300000, 0.0, 10.0, 4321)
        self.assertNotEqual(whole[:5000], other.read(0, 5000, 10.0))

    def test_grows_with_the_clock(self):
        log = BuildLog(b"h\n", 100000, 100.0, 100.0, 1)
        self.assertEqual(2, log.length(100.0))
        self.assertEqual(2 + 50000, log.length(150.0))
        self.assertEqual(2 + 100000, log.length(1000.0))
        log.truncate(150.0)
        self.assertEqual(b"", log.tail(150.0))
        self.assertEqual(150, len(log.tail(150.15)))
        self.assertEqual(2048, len(log.tail(200.0)))


class ResultTests(unittest.TestCase):

    def test_changes_lists_every_file(self):
        files = makeBinaryResults("hello", "2.10-1", "amd64", "noble")
        changes = Changes(files["hello_2.10-1_amd64.changes"])
        self.assertEqual(("hello", "2.10-1"),
                         (changes["Source"], changes["Version"]))
        self.assertEqual(
            set(files) - {"hello_2.10-1_amd64.changes"},
            {f["name"] for f in changes["Checksums-Sha256"]})


class ProfileTests(unittest.TestCase):

    def test_validation(self):
        self.assertRaises(ValueError, BuildProfile, outcomes={"FINE": 1})
        self.assertRaises(ValueError, BuildProfile, outcomes={"OK": 0})
        self.assertRaises(ValueError, BuildProfile, duration=(5, 1))
        self.assertRaises(ValueError, BuildProfile, hang_rate=2)
        self.assertEqual(0.1, BuildProfile().replace(hang_rate=0.1).hang_rate)

    def test_bad_builder_names(self):
        farm = SimulatedFarm(clock=task.Clock())
        farm.addBuilder("ok")
        for name in ("", "a/b", "ok"):
            self.assertRaises(ValueError, farm.addBuilder, name)


class _JsonLine(ProcessProtocol):
    def __init__(self):
        self.out = b""
        self.err = b""
        self.line = defer.Deferred()
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.out += data
        if b"\n" in self.out and not self.line.called:
            self.line.callback(json.loads(self.out.split(b"\n")[0]))

    def errReceived(self, data):
        self.err += data

    def processEnded(self, reason):
        if not self.line.called:
            self.line.errback(RuntimeError(self.err.decode()))
        self.ended.callback(reason.value)


class ProgramTests(unittest.TestCase):

    @defer.inlineCallbacks
    def test_main_serves_and_prints_json(self):
        protocol = _JsonLine()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [os.path.dirname(os.path.dirname(os.path.abspath(
                lp_buildmaster.__file__)))] + sys.path)
        transport = reactor.spawnProcess(
            protocol, sys.executable,
            [sys.executable, "-m", "lp_buildmaster.testing.simulator",
             "--builders", "3", "--port", "0", "--profile", "fast",
             "--arch", "i386", "--arch", "amd64", "--no-fetch"],
            env=env)
        self.addCleanup(lambda: protocol.ended if protocol.ended.called
                        else (transport.signalProcess("KILL"),
                              protocol.ended)[1])
        info = yield protocol.line.addTimeout(30, reactor)
        self.assertEqual(["sim-00001", "sim-00002", "sim-00003"],
                         sorted(info["builders"]))
        self.assertEqual("amd64", info["arch_tags"]["sim-00002"])
        url = info["builders"]["sim-00002"]
        self.assertEqual(
            "http://127.0.0.1:%d/sim-00002/" % info["port"], url)
        pool = makePool(reactor)
        self.addCleanup(pool.closeCachedConnections)
        slave = BuilderSlave("sim-00002", url, pool=pool, timeout=10)
        self.assertEqual(IDLE, (yield slave.status()).builder_status)
        self.assertEqual("amd64", (yield slave.info())[1])
        transport.signalProcess(signal.SIGTERM)
        yield protocol.ended
