"""The demo farm of ``make run``: simulated builders and a stream of work.

L{DemoFarm} runs a L{lp_buildmaster.testing.simulator.SimulatedFarm} of N
builders on one loopback port (they speak the real launchpad-buildd protocol),
registers them as builders ``demo-1`` ... ``demo-N`` (``demo-3`` is amd64,
the others i386), gives ubuntu/hoary a chroot for each architecture, and
keeps the queue fed: every little while it requests a build of one of the
sample sources, so that a newcomer sees builds dispatched, logs growing and
results arriving on the dashboard within a minute.
"""

import io
import logging
import random

from twisted.application import service
from twisted.internet import defer, task

from lp_buildmaster.enums import PackagePublishingPocket
from lp_buildmaster.model.names import sourceProblem
from lp_buildmaster.testing.simulator import PROFILES, SimulatedFarm

log = logging.getLogger("lp_buildmaster.demo")

RELEASE = PackagePublishingPocket.RELEASE
#: The sample series and the architectures the demo builds for.
SERIES = ("ubuntu", "hoary")
#: The sample builds whose sources the demo rebuilds.
SAMPLE_BUILDS = (1, 2, 3, 7, 10)


def demoArch(index):
    """The architecture of the demo's builder number C{index} (from 1)."""
    return "amd64" if index % 3 == 0 else "i386"


class DemoFarm(service.Service):

    def __init__(self, master, builders, feed_interval=15.0, seed=None):
        """
        @param master: the L{lp_buildmaster.service.MasterService}.
        @param builders: how many simulated builders.
        """
        self.master = master
        self.count = builders
        self.feed_interval = feed_interval
        self.rng = random.Random(seed)
        self.farm = None
        self.loop = None
        self._feeding = None
        self._starting = None

    def startService(self):
        super().startService()
        self._starting = self._start()
        self._starting.addErrback(
            lambda f: log.error("demo farm failed to start: %s",
                                f.getTraceback()))

    @defer.inlineCallbacks
    def _start(self):
        reactor = self.master.reactor
        self.farm = SimulatedFarm(reactor=reactor, profile=PROFILES["demo"],
                                  seed=self.rng.randrange(1 << 30))
        names = []
        for index in range(1, self.count + 1):
            name = "demo-%d" % index
            self.farm.addBuilder(name, arch_tag=demoArch(index))
            names.append((name, demoArch(index)))
        yield self.farm.listen(0)
        yield self.register(names)
        yield self.setChroots()
        log.info("demo farm: %d simulated builders on %s", self.count,
                 self.farm.urlFor(names[0][0]).rsplit("/", 2)[0])
        self.loop = task.LoopingCall(self.feed)
        self.loop.clock = reactor
        self.loop.start(self.feed_interval, now=True)

    @defer.inlineCallbacks
    def register(self, names):
        """Builder rows for the simulated builders (their port is new at
        every start)."""
        store = self.master.store
        processors = {"i386": (yield store.distro.getProcessor("x86")),
                      "amd64": (yield store.distro.getProcessor("amd64"))}
        for name, arch in names:
            url = self.farm.urlFor(name)
            existing = yield store.builders.getByName(name)
            if existing is None:
                yield store.builders.add(
                    name, url, processors[arch].id,
                    title="Simulated %s builder" % arch)
            else:
                yield store.builders.update(
                    existing.id, url=url, builderok=True, failnotes=None,
                    failure_count=0, active=True)

    @defer.inlineCallbacks
    def setChroots(self):
        store, librarian = self.master.store, self.master.librarian
        for arch in ("i386", "amd64"):
            dar = yield store.distro.getDistroArchRelease(*SERIES, arch)
            chroot = yield store.distro.getChroot(dar.id, RELEASE)
            if chroot is not None and chroot.chroot is not None:
                continue
            data = ("demo chroot for %s %s %s\n" % (SERIES + (arch,))
                    ).encode() * 64
            alias = yield librarian.addFile(
                "chroot-%s-%s-%s.tar.gz" % (SERIES + (arch,)), len(data),
                io.BytesIO(data), "application/gzip")
            yield store.distro.setChroot(dar.id, RELEASE, alias)

    def feed(self):
        """Keep some work queued: one more build when the queue is short."""
        d = self._feeding = self._feed()
        d.addErrback(lambda f: log.error("demo feed failed: %s",
                                         f.getErrorMessage()))

        def done(result):
            self._feeding = None
        d.addBoth(done)
        return d

    @defer.inlineCallbacks
    def _feed(self):
        store = self.master.store
        pending = yield store.queue.pending()
        if len(pending) >= self.count:
            return
        arch = self.rng.choice(["i386", "i386", "amd64"])
        dar = yield store.distro.getDistroArchRelease(*SERIES, arch)
        # Any sample source published in hoary that an upload can accept:
        # rebuild it. (The seed's cnews cr.g7-37 is no valid Debian version,
        # so its builds could only end FAILEDTOUPLOAD.)
        templates = []
        for build_id in SAMPLE_BUILDS:
            build = yield store.builds.get(build_id)
            if sourceProblem(build.source_name, build.source_version) is None:
                templates.append(build)
        template = self.rng.choice(templates)
        build_id = yield store.builds.create(
            dar.id, template.sourcepackagerelease, template.archive, RELEASE)
        yield store.queue.enqueueBuild(build_id)
        log.info("demo: requested build %d (%s %s on %s)", build_id,
                 template.source_name, template.source_version, arch)

    @defer.inlineCallbacks
    def stopService(self):
        super().stopService()
        if self._starting is not None:
            yield self._starting
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if self._feeding is not None:
            yield self._feeding
        if self.farm is not None:
            yield self.farm.stop()
