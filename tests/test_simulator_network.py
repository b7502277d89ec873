"""The farm simulator's network side: faults (hang, down, garbage, and
their rates), HTTP both ways, many builders on one port or a port each,
big logs streamed, several farm processes sharing a name space, and the
C{python -m lp_buildmaster.testing.simulator} program. The fixture is in
C{tests/simfarm.py}.
"""

import hashlib
import json
import os
import signal
import sys
import xmlrpc.client

import psutil
from twisted.internet import defer, reactor, task
from twisted.internet import protocol
from twisted.internet.protocol import ProcessProtocol
from twisted.trial import unittest

import lp_buildmaster
from lp_buildmaster.testing.simulator import BuildProfile, SimulatedFarm
from lp_buildmaster.slave import (
    BuilderSlave, SlaveConnectionError, SlaveHTTPError, SlaveProtocolError,
    SlaveTimeout, makePool)
from tests.builder_scenarios import BUILDING, COOKIE, IDLE, WAITING
from tests.realbuilder import makeBuildArgs
from tests.simfarm import (
    CHROOT, CHROOT_SHA1, FarmTestCase, Sink, profile, turnUntil)


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
                (self.post(call, b"HTTP/1.1", b"Connection: close\r\n"), 1),
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
