"""Start-up is all or nothing: a part that cannot start stops the rest,
one line ``buildmaster: error: ...`` and exit status 1; checks that need
no database come before it; instant dispatch retries LISTEN."""

import io
import logging
import os
import sys
from pathlib import Path

from twisted.internet import defer, error, protocol, reactor, task
from twisted.internet.protocol import Factory
from twisted.trial import unittest

from lp_buildmaster import config as configmodule
from lp_buildmaster import service as servicemodule
from lp_buildmaster.master import InstantDispatch
from lp_buildmaster.service import MasterService, prepare
from lp_buildmaster.store import connection
from tests.database import DatabaseTestCase, createDatabase, dropDatabase
from tests.farm import captureLogs

TWISTD = str(Path(sys.executable).parent / "twistd")


def takePort(testcase):
    """A port something else listens on, on 127.0.0.1."""
    port = reactor.listenTCP(0, Factory.forProtocol(protocol.Protocol),
                             interface="127.0.0.1")
    testcase.addCleanup(port.stopListening)
    return port.getHost().port


class _Collect(protocol.ProcessProtocol):
    def __init__(self):
        self.output = {1: b"", 2: b""}
        self.ended = defer.Deferred()

    def childDataReceived(self, fd, data):
        self.output[fd] = self.output.get(fd, b"") + data

    def processEnded(self, reason):
        self.ended.callback(reason.value)


class PortInUseTwistdTests(unittest.TestCase):
    """``twistd -n buildmaster`` with a port already taken."""

    @defer.inlineCallbacks
    def runTwistd(self, *args):
        state = Path(self.mktemp()).resolve()
        # A database that does not exist: the ports are checked first, so
        # it is never reached.
        env = dict(os.environ, BUILDMASTER_DATABASE="host=127.0.0.1 port=1 "
                   "dbname=never connect_timeout=30")
        watch = _Collect()
        started = reactor.seconds()
        process = reactor.spawnProcess(
            watch, TWISTD, [TWISTD, "-n", "--pidfile=", "buildmaster",
                            "--state-dir", str(state)] + list(args),
            env=env, path=str(state.parent))
        killer = reactor.callLater(60, process.signalProcess, "KILL")
        try:
            reason = yield watch.ended
        finally:
            if killer.active():
                killer.cancel()
        return reason, reactor.seconds() - started, watch.output

    @defer.inlineCallbacks
    def assertRefused(self, args, expected):
        reason, took, output = yield self.runTwistd(*args)
        self.assertIsInstance(reason, error.ProcessTerminated)
        self.assertEqual(reason.exitCode, 1, output)
        lines = output[2].decode().strip().splitlines()
        self.assertEqual(len(lines), 1, output)
        self.assertTrue(lines[0].startswith("buildmaster: error: "), lines)
        self.assertIn(expected, lines[0])
        self.assertLess(took, 5.0)
        self.assertNotIn(b"ready", output[1])

    def test_webPortInUse(self):
        port = takePort(self)
        return self.assertRefused(
            ["--web-port", str(port), "--librarian-port", "0"],
            "[web] port 127.0.0.1:%d cannot be used: Address already in use"
            % port)

    def test_librarianPortInUse(self):
        port = takePort(self)
        return self.assertRefused(
            ["--web-port", "0", "--librarian-port", str(port)],
            "[librarian] port 127.0.0.1:%d cannot be used" % port)

    def test_manholePortInUseBeforeTheDatabase(self):
        port = takePort(self)
        keys = Path(self.mktemp()).resolve()
        keys.write_text("")
        return self.assertRefused(
            ["--web-port", "0", "--librarian-port", "0", "--manhole-port",
             str(port), "--config", self._config(keys)],
            "[manhole] port 127.0.0.1:%d cannot be used" % port)

    def _config(self, keys):
        path = Path(self.mktemp()).resolve()
        path.write_text("[manhole]\nauthorized_keys = %s\n" % keys)
        return str(path)


class PrepareOrderTests(unittest.TestCase):

    def test_portCheckedBeforeInitdb(self):
        """A bad manhole port is refused before any database is made: the
        embedded database's folder is never created."""
        port = takePort(self)
        keys = Path(self.mktemp())
        keys.write_text("")
        state = Path(self.mktemp())
        config = configmodule.load(environ={}, overrides={
            ("master", "state_dir"): str(state),
            ("manhole", "port"): str(port),
            ("manhole", "authorized_keys"): str(keys),
            ("web", "port"): "0", ("librarian", "port"): "0"})
        e = self.assertRaises(SystemExit, prepare, config)
        self.assertIn("[manhole] port 127.0.0.1:%d" % port, str(e))
        self.assertFalse((state / "postgres").exists())


class _Reactor:
    """The real reactor, except that stop() is only recorded."""

    def __init__(self):
        self.stopped = 0

    def __getattr__(self, name):
        return getattr(reactor, name)

    def stop(self):
        self.stopped += 1


class AllOrNothingTests(DatabaseTestCase):

    def setUp(self):
        d = defer.maybeDeferred(DatabaseTestCase.setUp, self)
        self.addCleanup(servicemodule._exit.__setitem__, "status", 0)
        return d

    @defer.inlineCallbacks
    def test_portTakenAfterTheChecksStopsWhatStarted(self):
        """The web port taken between the checks and the start (a race):
        the parts started are stopped, one line, exit status 1."""
        port = takePort(self)
        state = Path(self.mktemp()).resolve()
        state.mkdir()
        config = configmodule.load(environ={}, overrides={
            ("master", "state_dir"): str(state),
            ("web", "port"): str(port), ("librarian", "port"): "0",
            ("master", "scan_interval"): "3600"})
        fake = _Reactor()
        master = MasterService(config, self.dsn, reactor=fake)
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        yield master.startService()
        printed = stderr.getvalue().splitlines()
        self.assertEqual(len(printed), 1)
        self.assertTrue(printed[0].startswith(
            "buildmaster: error: dashboard: Couldn't listen on"), printed)
        self.assertEqual(fake.stopped, 1)
        self.assertEqual(servicemodule._exit["status"], 1)
        self.assertFalse(master.running)
        # The librarian started before the dashboard, and was stopped.
        self.assertIsNone(master.librarian_service.port)
        self.assertFalse(master.librarian_service.running)
        self.assertFalse(master.manager.running)
        self.assertIsNone(master.store)
        # twistd's own stopService at shutdown has nothing left to do.
        yield master.stopService()


class ListenRetryTests(DatabaseTestCase):

    def admin(self, sql):
        conn = connection.connectSync(
            connection.withDatabase(self.dsn, "postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def allow(self, allowed):
        self.admin("ALTER DATABASE %s ALLOW_CONNECTIONS %s" % (
            connection.quoteIdent(self.dbname), "true" if allowed else
            "false"))

    @defer.inlineCallbacks
    def test_retriesUntilItListens(self):
        clock = task.Clock()
        logs = captureLogs(self, "test.instant")

        class Manager:
            vitals = {}
            scanners = {}
            dispatcher = None

            def refresh(self):
                refreshed.append(True)
        refreshed = []
        manager = Manager()
        manager.clock = clock
        instant = InstantDispatch(self.dsn, manager,
                                  logger=logging.getLogger("test.instant"))
        self.allow(False)
        self.addCleanup(self.allow, True)
        yield instant.startService()
        self.addCleanup(instant.stopService)
        self.assertIsNone(instant.conn)
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        # Further failures say nothing more; the delay grows.
        clock.advance(1)
        yield instant._listening
        clock.advance(2)
        yield instant._listening
        self.assertEqual(instant._listenFailures, 3)
        self.allow(True)
        clock.advance(4)
        yield instant._listening
        self.assertIsNotNone(instant.conn)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(len(logs.lines), 2, logs.lines)
        self.assertIn("cannot LISTEN", logs.lines[0])
        self.assertIn("listening again after 3 failed attempts",
                      logs.lines[1])
        # It hears notifications now.
        yield self.store.runOperation("NOTIFY builders")
        for _ in range(100):
            if instant._scheduled is not None:
                break
            yield task.deferLater(reactor, 0.01, lambda: None)
        clock.advance(0)
        self.assertEqual(refreshed, [True])
