"""A master killed (SIGKILL) mid-build restarts and loses no build."""

import os
import sys
from pathlib import Path

from twisted.internet import defer, error, protocol, reactor, task

from lp_buildmaster.enums import BuildStatus, PackagePublishingPocket
from lp_buildmaster.testing.simulator import PROFILES, SimulatedFarm
from tests.database import DatabaseTestCase

TWISTD = str(Path(sys.executable).parent / "twistd")
TIMEOUT = 60
RELEASE = PackagePublishingPocket.RELEASE


class _Master(protocol.ProcessProtocol):
    def __init__(self):
        self.output = b""
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.output += data

    errReceived = outReceived

    def processEnded(self, reason):
        self.ended.callback(reason.value)


class KilledMasterTestCase(DatabaseTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.farm = SimulatedFarm(reactor=reactor, fetch=False,
                                  profile=PROFILES["fast"].replace(
                                      duration=(4.0, 4.0),
                                      outcomes={"OK": 1.0}))
        self.farm.addBuilder("survivor")
        yield self.farm.listen(0)
        self.addCleanup(self.farm.stop)
        for name in ("bob", "frog"):
            sample = yield self.store.builders.getByName(name)
            yield self.store.builders.update(sample.id, active=False)
        yield self.store.runOperation("DELETE FROM buildqueue WHERE id = 2")
        x86 = yield self.store.distro.getProcessor("x86")
        yield self.store.builders.add("survivor",
                                      self.farm.urlFor("survivor"), x86.id)
        self.dar = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        yield self.store.distro.setChroot(self.dar.id, RELEASE, 2)
        self.masters = []

    def startMaster(self):
        master = _Master()
        state = self.librarian_root.parent
        env = dict(os.environ, BUILDMASTER_DATABASE=self.dsn)
        master.process = reactor.spawnProcess(
            master, TWISTD, [TWISTD, "-n", "--pidfile=", "buildmaster",
                             "--state-dir", str(state), "--web-port", "0",
                             "--librarian-port", "0",
                             "--scan-interval", "0.5"],
            env=env, path=str(state))
        self.masters.append(master)
        self.addCleanup(self.reap, master)
        return master

    @defer.inlineCallbacks
    def reap(self, master):
        if not master.ended.called:
            master.process.signalProcess("KILL")
        yield master.ended

    @defer.inlineCallbacks
    def waitForState(self, build_id, states):
        deadline = reactor.seconds() + TIMEOUT
        while True:
            build = yield self.store.builds.get(build_id)
            if build.buildstate in states:
                return build
            if reactor.seconds() > deadline:
                self.fail("build %d stayed %s; master output:\n%s" % (
                    build_id, build.buildstate.name,
                    b"\n".join(m.output[-3000:] for m in self.masters
                               ).decode("utf-8", "replace")))
            yield task.deferLater(reactor, 0.1, lambda: None)

    @defer.inlineCallbacks
    def test_killedWhileBuildingThenRestarted(self):
        template = yield self.store.builds.get(7)
        build_id = yield self.store.builds.request(
            self.dar.id, template.sourcepackagerelease, template.archive,
            RELEASE)
        first = self.startMaster()
        yield self.waitForState(build_id, [BuildStatus.BUILDING])
        first.process.signalProcess("KILL")
        reason = yield first.ended
        self.assertIsInstance(reason, error.ProcessTerminated)
        # The builder goes on building while no master is there.
        second = self.startMaster()
        build = yield self.waitForState(
            build_id, [BuildStatus.FULLYBUILT, BuildStatus.FAILEDTOUPLOAD,
                       BuildStatus.FAILEDTOBUILD])
        self.assertEqual(build.buildstate, BuildStatus.FULLYBUILT,
                         second.output.decode("utf-8", "replace")[-3000:])
        self.assertIsNotNone(build.buildlog)
        self.assertIsNone((yield self.store.queue.getByBuild(build_id)))
        # Built once, not twice.
        self.assertEqual(self.farm.counters["builds_started"], 1)
        second.process.signalProcess("TERM")
        yield second.ended
        self.assertIn(b"buildmaster stopped", second.output)
