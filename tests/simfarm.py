"""The fixture of the simulator's tests (test_simulator.py,
test_simulator_network.py): a farm on one loopback port with builder
'bob', a client for it, and helpers.

Build time runs on a L{task.Clock}; the network on the real reactor.  The
client's timeouts run on the same Clock, so they only fire when a test
advances it (and a test never advances it with a call in flight unless it
wants that call to time out).
"""

import hashlib

from twisted.internet import defer, reactor, task
from twisted.trial import unittest
from twisted.web.xmlrpc import Proxy

from lp_buildmaster.testing import simulator
from lp_buildmaster.testing.simulator import BuildProfile, SimulatedFarm
from lp_buildmaster.slave import BuilderSlave, makePool
from tests.builder_scenarios import BUILDING, COOKIE, FileServer
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
