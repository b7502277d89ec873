"""The farm simulator (lp_buildmaster.testing.simulator), driven over real
loopback HTTP by the project's client, L{lp_buildmaster.slave.BuilderSlave}:
its builds.

The scenarios the real daemon must play alike are in
C{tests/builder_scenarios.py} (L{ScenarioTests} here runs them); the rest
is what only the simulator does: its clock, profiles and outcomes, its
generated logs and results. Its network side (faults, HTTP, many builders
on one port, the program) is in C{test_simulator_network.py}; the fixture
in C{tests/simfarm.py}.
"""

import random
import xmlrpc.client

from debian.deb822 import Changes
from twisted.internet import defer, task
from twisted.trial import unittest
from twisted.web import resource, server
from twisted.web.xmlrpc import Fault

from lp_buildmaster.testing.simulator import (
    BuildLog, BuildProfile, SimulatedFarm, makeBinaryResults)
from lp_buildmaster.slave import SlaveFault
from tests.builder_scenarios import (
    ABORTING, BUILDING, COOKIE, IDLE, WAITING, BuilderScenarios)
from tests.realbuilder import makeBuildArgs
from tests.simfarm import (
    CHROOT, CHROOT_SHA1, FarmTestCase, profile, turnUntil)


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
