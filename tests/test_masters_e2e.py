"""Three masters as separate processes (twistd), a librarian on its own
(twistd -n librarian), one database and 30 simulated builders: the work
is spread, a SIGKILLed master's builders are scanned again within two
intervals, nothing is dispatched twice or lost, and builders fetch every
file from the shared librarian."""

import collections
import os
import re
import sys
import xmlrpc.client
from pathlib import Path

from twisted.internet import defer, error, protocol, reactor, task

from lp_buildmaster.assignment import assign
from lp_buildmaster.enums import BuildStatus, PackagePublishingPocket
from lp_buildmaster.testing.simulator import PROFILES, SimulatedFarm
from tests.database import DatabaseTestCase
from tests.farm import addBuild

TWISTD = str(Path(sys.executable).parent / "twistd")
INTERVAL = 2.0
BUILDERS = 30
BUILDS = 12
TIMEOUT = 120
RELEASE = PackagePublishingPocket.RELEASE
MASTERS = ("m1", "m2", "m3")


class _Process(protocol.ProcessProtocol):
    def __init__(self, name):
        self.name = name
        self.output = b""
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.output += data

    errReceived = outReceived

    def processEnded(self, reason):
        self.ended.callback(reason.value)


class ThreeMastersTestCase(DatabaseTestCase):

    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.state = self.librarian_root.parent
        self.secret = self.state / "librarian.secret"
        self.secret.write_text("ab" * 32)
        self.farm = SimulatedFarm(reactor=reactor, fetch=True,
                                  profile=PROFILES["fast"].replace(
                                      duration=(6.0, 9.0),
                                      outcomes={"OK": 1.0}))
        self.scans = collections.defaultdict(list)
        self.started = collections.Counter()
        self.fetched = []
        names = ["b%02d" % i for i in range(BUILDERS)]
        for name in names:
            self.farm.addBuilder(name)
        self.watch()
        download = self.farm._download

        def recordDownload(builder, sha1, url, *args):
            self.fetched.append((builder.name, sha1, url))
            return download(builder, sha1, url, *args)
        self.farm._download = recordDownload
        yield self.farm.listen(0)
        self.addCleanup(self.farm.stop)
        for name in ("bob", "frog"):
            sample = yield self.store.builders.getByName(name)
            yield self.store.builders.update(sample.id, active=False)
        yield self.store.runOperation("DELETE FROM buildqueue")
        x86 = yield self.store.distro.getProcessor("x86")
        for name in names:
            yield self.store.builders.add(name, self.farm.urlFor(name),
                                          x86.id)
        self.names = names
        self.dar = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        yield self.store.distro.setChroot(self.dar.id, RELEASE, 2)
        self.processes = {}

    def watch(self):
        """Note every status() call and every build() the builders get."""
        handle = self.farm._rpc.handle

        def watched(builder, body, responder):
            params, method = xmlrpc.client.loads(body)
            if method == "status":
                self.scans[builder.name].append(reactor.seconds())
            elif method == "build":
                self.started[params[0]] += 1
            return handle(builder, body, responder)
        self.farm._rpc.handle = watched

    def spawn(self, name, argv, env):
        process = _Process(name)
        process.transport = reactor.spawnProcess(
            process, TWISTD, [TWISTD, "-n", "--pidfile="] + argv,
            env=dict(os.environ, BUILDMASTER_DATABASE=self.dsn,
                     BUILDMASTER_LIBRARIAN_SECRET_FILE=str(self.secret),
                     **env),
            path=str(self.state))
        self.processes[name] = process
        self.addCleanup(self.reap, process)
        return process

    @defer.inlineCallbacks
    def reap(self, process):
        if not process.ended.called:
            process.transport.signalProcess("KILL")
        yield process.ended

    @defer.inlineCallbacks
    def waitFor(self, check, what):
        deadline = reactor.seconds() + TIMEOUT
        while True:
            result = yield check()
            if result:
                return result
            if reactor.seconds() > deadline:
                self.fail("timed out waiting for %s; output:\n%s" % (
                    what, "\n".join(
                        "--- %s\n%s" % (p.name, p.output[-2500:].decode(
                            "utf-8", "replace"))
                        for p in self.processes.values())))
            yield task.deferLater(reactor, 0.1, lambda: None)

    def startLibrarian(self):
        librarian = self.spawn("librarian", [
            "librarian", "--state-dir", str(self.state), "--port", "0"], {})

        def listening():
            found = re.search(rb"librarian listening on 127\.0\.0\.1:(\d+)",
                              librarian.output)
            return defer.succeed(found and int(found.group(1)))
        return self.waitFor(listening, "the librarian")

    def startMaster(self, name, librarian_url):
        state = self.state / name
        state.mkdir(exist_ok=True)
        return self.spawn(name, [
            "buildmaster", "--state-dir", str(state), "--web-port", "0",
            "--scan-interval", str(INTERVAL)],
            {"BUILDMASTER_MASTER_NAME": name,
             "BUILDMASTER_LIBRARIAN_URL": librarian_url})

    @defer.inlineCallbacks
    def owners(self):
        rows = yield self.store.runQuery(
            "SELECT name, owner FROM builder WHERE active")
        return {row["name"]: row["owner"] for row in rows}

    @defer.inlineCallbacks
    def states(self, build_ids):
        rows = yield self.store.runQuery(
            "SELECT id, buildstate FROM build WHERE id = ANY(%s)",
            (list(build_ids),))
        return {row["id"]: BuildStatus(row["buildstate"]) for row in rows}

    @defer.inlineCallbacks
    def test_threeMastersShareFailOverAndShareTheLibrarian(self):
        port = yield self.startLibrarian()
        librarian_url = "http://127.0.0.1:%d/" % port
        for name in MASTERS:
            self.startMaster(name, librarian_url)

        def ready():
            return defer.succeed(all(
                b"buildmaster ready" in self.processes[n].output
                for n in MASTERS))
        yield self.waitFor(ready, "three masters ready")
        up = reactor.seconds()

        # The spread, three intervals on.
        yield task.deferLater(reactor, 3 * INTERVAL, lambda: None)
        owners = yield self.owners()
        shares = collections.Counter(owners[n] for n in self.names)
        self.assertEqual(sorted(shares), list(MASTERS), owners)
        self.assertLessEqual(max(shares.values()) - min(shares.values()), 1,
                             shares)
        self.assertEqual({n: owners[n] for n in self.names},
                         assign(self.names, MASTERS))
        masters = yield self.store.masters.all()
        self.assertEqual([(m.name, m.live, m.builders) for m in masters],
                         [(n, True, shares[n]) for n in MASTERS])

        # Builds, dispatched by all three.
        build_ids = []
        for _ in range(BUILDS):
            build_id, _ = yield addBuild(self.store)
            build_ids.append(build_id)

        def building():
            d = self.states(build_ids)
            return d.addCallback(lambda s: sum(
                state == BuildStatus.BUILDING for state in s.values())
                >= BUILDS // 2)
        yield self.waitFor(building, "builds building")

        # SIGKILL the master holding most builders.
        owners = yield self.owners()
        victim = max(MASTERS, key=lambda m: (
            sum(owners[n] == m for n in self.names), m))
        held = [n for n in self.names if owners[n] == victim]
        killed = reactor.seconds()
        self.processes[victim].transport.signalProcess("KILL")
        reason = yield self.processes[victim].ended
        self.assertIsInstance(reason, error.ProcessTerminated)
        yield task.deferLater(reactor, 3 * INTERVAL, lambda: None)
        delays = {}
        for name in held:
            after = [t for t in self.scans[name] if t > killed]
            self.assertTrue(after, "%s never scanned again" % name)
            delays[name] = after[0] - killed
        self.failover = max(delays.values())
        self.assertLessEqual(self.failover, 2 * INTERVAL, delays)
        owners = yield self.owners()
        survivors = [m for m in MASTERS if m != victim]
        self.assertEqual({n: owners[n] for n in self.names},
                         assign(self.names, survivors))

        # Every build ends FULLYBUILT: the killed master, restarted, still
        # processes an upload it had collected just before it died.
        def finished():
            d = self.states(build_ids)
            return d.addCallback(lambda s: all(
                state in (BuildStatus.FULLYBUILT, BuildStatus.FAILEDTOUPLOAD,
                          BuildStatus.FAILEDTOBUILD)
                for state in s.values()))
        uploading = yield self.states(build_ids)
        if BuildStatus.UPLOADING in uploading.values():
            self.processes[victim + " again"] = self.processes.pop(victim)
            self.startMaster(victim, librarian_url)
        yield self.waitFor(finished, "every build finished")
        states = yield self.states(build_ids)
        self.assertEqual(set(states.values()), {BuildStatus.FULLYBUILT})

        # No build dispatched twice; none refused for a busy builder.
        self.assertEqual(len(self.started), BUILDS)
        self.assertEqual(set(self.started.values()), {1})
        self.assertEqual(self.farm.counters["faults"], 0)
        # Every file builders fetched came from the shared librarian.
        self.assertTrue(self.fetched)
        self.assertEqual({url.split("/")[2] for _, _, url in self.fetched},
                         {"127.0.0.1:%d" % port})
        for master in survivors:
            self.processes[master].transport.signalProcess("TERM")
            yield self.processes[master].ended
            self.assertIn(b"buildmaster stopped",
                          self.processes[master].output)
        print("\nfailover: spread %s, slowest builder of %s scanned again "
              "%.2f s (%.2f intervals) after SIGKILL, up %.1f s"
              % (dict(shares), victim, self.failover,
                 self.failover / INTERVAL, killed - up))
