"""The farm simulator (lp_buildmaster.testing.simulator), driven over real
loopback HTTP by the project's client, L{lp_buildmaster.slave.BuilderSlave}.

The scenarios the real daemon must play alike are in
C{tests/builder_scenarios.py} (L{ScenarioTests} here runs them); the rest
is what only the simulator does: its clock, profiles, faults, one port for
many builders, the program.

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
from twisted.web import resource, server
from twisted.web.xmlrpc import Fault, Proxy

import lp_buildmaster
from lp_buildmaster.testing import simulator
from lp_buildmaster.testing.simulator import (
    BuildLog, BuildProfile, SimulatedFarm, makeBinaryResults)
from lp_buildmaster.slave import (
    BuilderSlave, SlaveConnectionError, SlaveFault, SlaveHTTPError,
    SlaveProtocolError, SlaveTimeout, makePool)
from tests.builder_scenarios import (
    ABORTING, BUILDING, COOKIE, IDLE, WAITING, BuilderScenarios, FileServer)
from tests.realbuilder import makeBuildArgs, makeDsc


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


class FarmTestCase(unittest.TestCase):
    """A farm on one port, builder 'bob', and a client for it."""

    farm_fetch = True
    farm_profile = None

    @defer.inlineCallbacks
    def setUp(self):
        self.clock = task.Clock()
        self.farm = SimulatedFarm(
            clock=self.clock, reactor=reactor, seed=42,
            profile=self.farm_profile or profile(), fetch=self.farm_fetch)
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
    def startBuild(self, outcome=None, cookie=COOKIE, source="foo",
                   version="1.0-1", args=None, slave=None, **options):
        """Start a binarypackage build; with an C{outcome}, bob's builds
        end so (with C{options} for L{profile})."""
        if outcome is not None:
            self.setOutcome(outcome, **options)
        slave = slave or self.slave
        filemap = yield self.prepare(slave, source=source, version=version)
        result = yield slave.build(cookie, "binarypackage", CHROOT_SHA1,
                                   filemap, args or makeBuildArgs())
        self.assertEqual((BUILDING, cookie), result)
        return filemap

    # What tests/builder_scenarios.py asks of a builder.

    builder_version = simulator.BUILDER_VERSION

    def rawCall(self, method, *args):
        return self.proxy().callRemote(method, *args)

    @defer.inlineCallbacks
    def prepareBuild(self, source="foo", version="1.0-1"):
        filemap = yield self.prepare(source=source, version=version)
        return CHROOT_SHA1, filemap

    def setOutcome(self, outcome, **options):
        self.bob.profile = profile(outcome, **options)

    def finishBuild(self):
        """bob's builds take 100 s (L{profile})."""
        self.clock.advance(100)
        return self.slave.status()

    def elapse(self, seconds):
        self.clock.advance(seconds)

    @defer.inlineCallbacks
    def fetch(self, name, slave=None):
        sink = Sink()
        yield (slave or self.slave).getFile(name, sink)
        return sink.getvalue()


class ScenarioTests(BuilderScenarios, FarmTestCase):
    """The scenarios both builders share (tests/builder_scenarios.py),
    against the simulator."""


class FullCycleTests(FarmTestCase):

    @defer.inlineCallbacks
    def test_log_grows_with_the_clock(self):
        yield self.startBuild()
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
        # WAITING: the whole log, of the profile's size.
        self.clock.advance(50)
        status = yield self.slave.status()
        self.assertEqual((WAITING, "BuildStatus.OK"),
                         (status.builder_status, status.build_status))
        whole = yield self.fetch("buildlog")
        self.assertTrue(whole.startswith(half))
        self.assertTrue(45000 < len(whole) < 55000, len(whole))
        # clean() forgets the build; the chroot stays in the cache.
        self.assertEqual(IDLE, (yield self.slave.clean()))
        self.assertEqual(CHROOT, (yield self.fetch(CHROOT_SHA1)))
        self.assertEqual(1, self.farm.counters["outcome_OK"])
        self.assertEqual(1, self.farm.counters["builds_finished"])


class OutcomeTests(FarmTestCase):
    """What the simulator's profiles decide about outcomes (the keys each
    outcome gives are in tests/builder_scenarios.py)."""

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
    def test_depfail_log_names_the_dependency(self):
        yield self.finish("DEPFAIL", dependencies="baz (>= 1.0.1)")
        self.assertIn(b"Depends: baz (>= 1.0.1) but it is not installable",
                      (yield self.fetch("buildlog")))

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

class RefusalTests(FarmTestCase):
    """The daemon's replies to requests it will not do."""

    @defer.inlineCallbacks
    def test_arguments_of_the_wrong_type_are_faults(self):
        proxy = self.proxy()
        e = yield self.assertFailure(proxy.callRemote("status", 1), Fault)
        self.assertEqual(8002, e.faultCode)
        filemap = yield self.prepare()
        e = yield self.assertFailure(
            proxy.callRemote("build", 7, "binarypackage", CHROOT_SHA1,
                             filemap, makeBuildArgs()), Fault)
        self.assertEqual(8002, e.faultCode)
        self.assertEqual(IDLE, (yield self.slave.status()).builder_status)

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
            yield self.startBuild(slave=slaves[name], cookie="%d-1" % i)
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
        yield self.startBuild(slave=solo)
        self.clock.advance(100)
        status = yield solo.status()
        self.assertEqual("BuildStatus.OK", status.build_status)
        for sha1 in status.filemap.values():
            data = yield self.fetch(sha1, solo)
            self.assertEqual(sha1, hashlib.sha1(data).hexdigest())
        self.farm.builders["solo"].down = True
        yield self.assertFailure(solo.status(), SlaveConnectionError)


class NoFetchTests(FarmTestCase):

    farm_fetch = False

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


class NameSpaceTests(FarmTestCase):
    """What several farm processes (the benchmarks') rely on."""

    @defer.inlineCallbacks
    def test_addBuilders_watchCalls_and_describe(self):
        names = self.farm.addBuilders(3, prefix="x", first=98,
                                      arch_tags=("i386", "amd64"))
        self.assertEqual(["x-00098", "x-00099", "x-00100"], names)
        self.assertEqual(["i386", "amd64", "i386"],
                         [self.farm[n].arch_tag for n in names])
        self.assertEqual(["y-7", "y-8"], self.farm.addBuilders(
            2, prefix="y", first=7, width=1))
        seen = []
        self.farm.watchCalls(lambda b, method: seen.append((b.name, method)))
        yield self.client("x-00099").status()
        yield self.slave.echo("hi")
        self.assertEqual([("x-00099", "status"), ("bob", "echo")], seen)
        info = self.farm.describe(names)
        self.assertEqual((self.port, os.getpid()), (info["port"], info["pid"]))
        self.assertEqual(self.farm.urlFor("x-00100"),
                         info["builders"]["x-00100"])
        self.assertEqual(info["url_template"].format(name="x-00100"),
                         info["builders"]["x-00100"])
        self.assertEqual({"x-00098": "i386", "x-00099": "amd64",
                          "x-00100": "i386"}, info["arch_tags"])
