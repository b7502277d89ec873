"""The embedded PostgreSQL lives exactly as long as the processes using
it, however they end; buildmaster-admin creates one only when asked."""

import json
import os
import signal
import sys
from pathlib import Path

import psutil
from twisted.internet import defer, error, protocol, reactor, utils
from twisted.trial import unittest

TWISTD = str(Path(sys.executable).parent / "twistd")
ADMIN = str(Path(sys.executable).parent / "buildmaster-admin")


def cleanEnv():
    """The environment without any BUILDMASTER_* setting: the embedded
    database is used."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("BUILDMASTER_")}


class _Watch(protocol.ProcessProtocol):
    def __init__(self, marker):
        self.marker = marker
        self.output = b""
        self.seen = defer.Deferred()
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.output += data
        if self.marker in self.output and not self.seen.called:
            self.seen.callback(None)

    errReceived = outReceived

    def processEnded(self, reason):
        if not self.seen.called:
            self.seen.errback(RuntimeError(self.output.decode()))
        self.ended.callback(reason.value)


def postmasterPid(pgdata):
    """The pid in C{pgdata}/postmaster.pid if that process runs, else
    None."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    return pid if psutil.pid_exists(pid) else None


def stopLeftover(pgdata):
    """If this test failed, stop the server it left running."""
    pid = postmasterPid(pgdata)
    if pid is not None:
        server = psutil.Process(pid)
        server.terminate()
        server.wait(30)


class EmbeddedStopsTests(unittest.TestCase):

    @defer.inlineCallbacks
    def runUntilReady(self, state, stop_signal):
        watch = _Watch(b"buildmaster ready")
        process = reactor.spawnProcess(
            watch, TWISTD, [TWISTD, "-n", "--pidfile=", "buildmaster",
                            "--state-dir", str(state), "--web-port", "0",
                            "--librarian-port", "0"],
            env=cleanEnv(), path=str(state.parent))
        killer = reactor.callLater(240, process.signalProcess, "KILL")
        try:
            yield watch.seen
            pgdata = state / "postgres"
            self.assertIsNotNone(postmasterPid(pgdata), watch.output)
            process.signalProcess(stop_signal)
            reason = yield watch.ended
        finally:
            if killer.active():
                killer.cancel()
        self.assertIn(b"buildmaster stopped", watch.output)
        return reason

    @defer.inlineCallbacks
    def test_goneAfterSigtermAndCtrlC(self):
        state = Path(self.mktemp()).resolve()
        pgdata = state / "postgres"
        self.addCleanup(stopLeftover, pgdata)
        for stop_signal in ("TERM", "INT"):
            reason = yield self.runUntilReady(state, stop_signal)
            self.assertIsInstance(reason, (error.ProcessDone,
                                           error.ProcessTerminated))
            self.assertIsNone(postmasterPid(pgdata), stop_signal)
            pids = json.loads((pgdata / ".handle_pids.json").read_text())
            self.assertEqual(pids, [], stop_signal)


class AdminCreatesNoDatabaseTests(unittest.TestCase):

    @defer.inlineCallbacks
    def test_refusesOutsideInitAndSampledata(self):
        """From a folder with no state, a command other than init or
        sampledata refuses in one line naming the state directory, and
        creates nothing."""
        where = Path(self.mktemp()).resolve()
        where.mkdir()
        out, err, code = yield utils.getProcessOutputAndValue(
            ADMIN, ("build", "list"), env=cleanEnv(), path=str(where))
        self.assertEqual(code, 1, err)
        lines = err.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(
            lines[0], "buildmaster-admin: error: no database in %s: run "
            "'buildmaster-admin init' (or sampledata) to create one, or name "
            "the master's state directory with --state-dir" % (where / "var"))
        self.assertEqual(os.listdir(where), [])
