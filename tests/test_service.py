"""The twistd plugin, start-up checks and configuration."""

import json
import os
import signal
import sys
from pathlib import Path

from twisted.internet import defer, error, protocol, reactor
from twisted.plugin import getPlugins
from twisted.application.service import IServiceMaker
from twisted.python import usage
from twisted.trial import unittest

from lp_buildmaster import config as configmodule
from lp_buildmaster.service import Options, prepare
from lp_buildmaster.store import schema
from tests.database import createDatabase, dropDatabase

TWISTD = str(Path(sys.executable).parent / "twistd")


class ConfigTestCase(unittest.TestCase):

    def writeConfig(self, text):
        path = Path(self.mktemp())
        path.write_text(text)
        return str(path)

    def test_defaults(self):
        config = configmodule.load(environ={})
        self.assertEqual(config.master_scan_interval, 15.0)
        self.assertEqual(config.failures_job_threshold, 3)
        self.assertEqual(config.failures_builder_threshold, 5)
        self.assertEqual(config.web_interface, "127.0.0.1")

    def test_fileEnvironmentAndOverrides(self):
        path = self.writeConfig("[master]\nscan_interval = 5\n"
                                "[web]\nport = 9000\n")
        config = configmodule.load(
            path, environ={"BUILDMASTER_WEB_PORT": "9001",
                           "BUILDMASTER_DATABASE": "postgresql://a@b/c"},
            overrides={("master", "scan_interval"): "7"})
        self.assertEqual(config.master_scan_interval, 7.0)
        self.assertEqual(config.web_port, 9001)
        self.assertEqual(config.master_database, "postgresql://a@b/c")

    def test_badValueNamesKey(self):
        path = self.writeConfig("[master]\nscan_interval = soon\n")
        e = self.assertRaises(configmodule.ConfigError, configmodule.load,
                              path, environ={})
        self.assertIn("[master] scan_interval", str(e))
        self.assertIn(path, str(e))

    def test_badEnvironmentValue(self):
        e = self.assertRaises(
            configmodule.ConfigError, configmodule.load,
            environ={"BUILDMASTER_FAILURES_JOB_THRESHOLD": "0"})
        self.assertIn("[failures] job_threshold", str(e))
        self.assertIn("$BUILDMASTER_FAILURES_JOB_THRESHOLD", str(e))

    def test_unknownKey(self):
        path = self.writeConfig("[master]\nscan_intervall = 5\n")
        e = self.assertRaises(configmodule.ConfigError, configmodule.load,
                              path, environ={})
        self.assertIn("unknown key [master] scan_intervall", str(e))

    def test_unknownEnvironmentVariable(self):
        """A misspelt BUILDMASTER_* variable is an error, as an unknown INI
        key is; the database's alias and the tests' server are known."""
        e = self.assertRaises(
            configmodule.ConfigError, configmodule.load,
            environ={"BUILDMASTER_MASTER_SCAN_INTERVALL": "5",
                     "BUILDMASTER_TEST_DSN": "postgresql://x/y",
                     "BUILDMASTER_DATABASE": "postgresql://a@b/c"})
        self.assertIn("unknown environment variable "
                      "BUILDMASTER_MASTER_SCAN_INTERVALL", str(e))
        self.assertNotIn("TEST_DSN", str(e))
        configmodule.load(environ={"BUILDMASTER_TEST_DSN": "x",
                                   "BUILDMASTERY": "not ours"})

    def test_scanIntervalFinite(self):
        for text in ("inf", "-inf", "nan", "1e999", "0", "-1"):
            path = self.writeConfig("[master]\nscan_interval = %s\n" % text)
            e = self.assertRaises(configmodule.ConfigError, configmodule.load,
                                  path, environ={})
            self.assertIn("[master] scan_interval", str(e))

    def test_badDSN(self):
        for dsn in ("not a dsn", "host=x port", "postgresql://a@b:99999999/c"):
            e = self.assertRaises(
                configmodule.ConfigError, configmodule.load, environ={},
                overrides={("master", "database"): dsn})
            self.assertIn("[master] database", str(e))
            self.assertNotIn("\n", str(e))
        for dsn in ("", "dbname=x host=/tmp", "postgresql://u@127.0.0.1/x"):
            configmodule.load(environ={},
                              overrides={("master", "database"): dsn})

    def test_missingFile(self):
        e = self.assertRaises(configmodule.ConfigError, configmodule.load,
                              "/nonexistent/buildmaster.conf", environ={})
        self.assertIn("cannot read config file", str(e))

    def test_documentedDefaults(self):
        """conf/buildmaster.conf lists every key with its default."""
        shipped = Path(__file__).parent.parent / "conf" / "buildmaster.conf"
        config = configmodule.load(str(shipped), environ={})
        self.assertEqual(config._values, configmodule.load(environ={})._values)
        # Regenerate with: python -m lp_buildmaster.config
        self.assertEqual(shipped.read_text(),
                         configmodule.defaultConfigText())

    def test_optionsUsageError(self):
        options = Options()
        e = self.assertRaises(usage.UsageError, options.parseOptions,
                              ["--scan-interval", "-1"])
        self.assertIn("[master] scan_interval", str(e))


class PrepareTestCase(unittest.TestCase):
    """Start-up failures are one line and an exit."""

    def config(self, overrides):
        return configmodule.load(environ={}, overrides=overrides)

    def test_unreachableDatabase(self):
        config = self.config({
            ("master", "database"): "postgresql://nobody@127.0.0.1:1/x",
            ("master", "state_dir"): self.mktemp()})
        e = self.assertRaises(SystemExit, prepare, config)
        self.assertTrue(str(e.code).startswith(
            "buildmaster: error: cannot connect to the database"))
        self.assertNotIn("\n", str(e.code))

    def test_unwritableStateDir(self):
        blocker = Path(self.mktemp())
        blocker.write_text("a file")
        config = self.config({("master", "state_dir"): str(blocker)})
        e = self.assertRaises(SystemExit, prepare, config)
        self.assertIn("is not writable", str(e.code))

    def test_schemaTooNew(self):
        dsn, name = createDatabase()
        self.addCleanup(dropDatabase, name)
        from lp_buildmaster.store import connection
        conn = connection.connectSync(dsn)
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO schema_version (version, name)"
                        " VALUES (%s, 'future')",
                        (schema.latestVersion() + 1,))
        conn.close()
        config = self.config({("master", "database"): dsn,
                                ("master", "state_dir"): self.mktemp()})
        e = self.assertRaises(SystemExit, prepare, config)
        self.assertIn("upgrade lp-buildmaster", str(e.code))


class _Watch(protocol.ProcessProtocol):
    """Collects a process's output; signals when a line appears."""

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


class TwistdTestCase(unittest.TestCase):
    """``twistd -n buildmaster`` as an operator runs it."""

    def test_pluginListed(self):
        names = [p.tapname for p in getPlugins(IServiceMaker)]
        self.assertIn("buildmaster", names)

    @defer.inlineCallbacks
    def test_startsAndStopsOnSigterm(self):
        dsn, name = createDatabase(template=False)
        self.addCleanup(dropDatabase, name)
        state = Path(self.mktemp()).resolve()
        watch = _Watch(b"buildmaster ready")
        env = dict(os.environ, BUILDMASTER_DATABASE=dsn)
        process = reactor.spawnProcess(
            watch, TWISTD, [TWISTD, "-n", "--pidfile=", "buildmaster",
                            "--state-dir", str(state), "--web-port", "0",
                            "--librarian-port", "0"],
            env=env, path=str(state.parent))
        timeout = reactor.callLater(60, process.signalProcess, "KILL")
        try:
            yield watch.seen
            process.signalProcess("TERM")
            reason = yield watch.ended
        finally:
            if timeout.active():
                timeout.cancel()
        # twistd stops the reactor, then re-raises SIGTERM so its exit
        # status says how it ended.
        if not isinstance(reason, error.ProcessDone):
            self.assertIsInstance(reason, error.ProcessTerminated)
            self.assertEqual(reason.signal, signal.SIGTERM,
                             watch.output.decode())
        self.assertIn(b"applied migration 0001_initial", watch.output)
        self.assertIn(b"dashboard listening on 127.0.0.1:", watch.output)
        self.assertIn(b"librarian listening on 127.0.0.1:", watch.output)
        self.assertIn(b"buildmaster stopped", watch.output)
        self.assertIn(b"Server Shut Down", watch.output)


class QuietLogTestCase(unittest.TestCase):
    """What an operator sees from ``twistd -n buildmaster --demo``: no
    factory chatter, no debug lines, and a JSON log of plain objects."""

    @defer.inlineCallbacks
    def test_dispatchLogsQuietlyAndJSONLinesArePlain(self):
        dsn, name = createDatabase(template=False)
        self.addCleanup(dropDatabase, name)
        state = Path(self.mktemp()).resolve()
        json_file = state.parent / "log.json"
        watch = _Watch(b"Dispatched")
        env = dict(os.environ, BUILDMASTER_DATABASE=dsn,
                   BUILDMASTER_LOG_JSON_FILE=str(json_file))
        process = reactor.spawnProcess(
            watch, TWISTD, [TWISTD, "-n", "--pidfile=", "buildmaster",
                            "--state-dir", str(state), "--web-port", "0",
                            "--librarian-port", "0", "--demo", "2"],
            env=env, path=str(state.parent))
        timeout = reactor.callLater(60, process.signalProcess, "KILL")
        try:
            yield watch.seen
            process.signalProcess("TERM")
            yield watch.ended
        finally:
            if timeout.active():
                timeout.cancel()
        output = watch.output.decode()
        self.assertIn("Dispatched", output)
        self.assertNotIn("Starting factory", output)
        self.assertNotIn("Stopping factory", output)
        self.assertNotIn("#debug]", output)
        lines = json_file.read_text().splitlines()
        self.assertTrue(lines)
        records = [json.loads(line) for line in lines]
        self.assertTrue(any("Dispatched" in r["message"] for r in records))
        for record in records:
            self.assertFalse(any(k.startswith("log_") for k in record),
                             record)
            self.assertEqual(
                {"time", "level", "namespace", "message"} - set(record),
                set())
            self.assertNotEqual(record["level"], "debug")
