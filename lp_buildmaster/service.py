"""The twistd service: ``twistd -n buildmaster``.

L{makeService} runs before the reactor starts: it reads the
configuration, checks the state directory, starts the embedded database
when none is configured and migrates the schema. Each failure there is
one clear line and a non-zero exit. What runs afterwards is a
L{MasterService}, a MultiService whose children are the master's parts.
"""

import sys

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python import usage

from lp_buildmaster import config as configmodule
from lp_buildmaster.store import Store, connection, schema

log = Logger(namespace="lp_buildmaster.service")


class Options(usage.Options):
    optParameters = [
        ["config", "c", None, "INI configuration file "
         "(see conf/buildmaster.conf)."],
        ["database", "d", None, "PostgreSQL DSN (default: embedded, or "
         "$BUILDMASTER_DATABASE)."],
        ["state-dir", "s", None, "State directory (default: ./var)."],
        ["web-port", None, None, "Dashboard, API and metrics port."],
        ["librarian-port", None, None, "Librarian HTTP port."],
        ["manhole-port", None, None, "SSH manhole port (0: off)."],
        ["scan-interval", None, None, "Seconds between scans of a builder."],
        ["demo", None, None, "Run N simulated builders with sample data."],
    ]

    _OVERRIDES = {
        "database": ("master", "database"),
        "state-dir": ("master", "state_dir"),
        "web-port": ("web", "port"),
        "librarian-port": ("librarian", "port"),
        "manhole-port": ("manhole", "port"),
        "scan-interval": ("master", "scan_interval"),
        "demo": ("master", "demo"),
    }

    def postOptions(self):
        overrides = {key: self[option]
                     for option, key in self._OVERRIDES.items()}
        try:
            self.config = configmodule.load(self["config"],
                                            overrides=overrides)
        except configmodule.ConfigError as e:
            raise usage.UsageError(str(e))


def prepare(config, log=None):
    """Everything that must hold before the master runs; synchronous.

    @return: the DSN to use.
    @raise SystemExit: with one line saying what is wrong.
    """
    try:
        connection.checkStateDir(config.master_state_dir)
        dsn = connection.resolveDSN(config.master_database,
                                    config.master_state_dir)
        connection.prepareDatabase(dsn, log=log)
    except (connection.StateDirError, connection.DatabaseUnavailable,
            schema.SchemaError) as e:
        raise SystemExit("buildmaster: error: %s" % (e,))
    return dsn


class MasterService(service.MultiService):
    """The running master: the store, then its parts as children."""

    def __init__(self, config, dsn):
        super().__init__()
        self.config = config
        self.dsn = dsn
        self.store = None

    @defer.inlineCallbacks
    def startService(self):
        try:
            self.store = yield Store.connect(self.dsn)
        except Exception as e:
            log.critical("cannot connect to the database: {error}", error=e)
            from twisted.internet import reactor
            reactor.stop()
            return
        super().startService()
        log.info("buildmaster ready: database {db}, state directory "
                 "{state_dir}", db=connection.describeDSN(self.dsn),
                 state_dir=self.config.master_state_dir)

    @defer.inlineCallbacks
    def stopService(self):
        yield super().stopService()
        if self.store is not None:
            self.store.close()
            self.store = None
        log.info("buildmaster stopped")


def makeService(options):
    config = options.config
    dsn = prepare(config, log=lambda line: print(line, file=sys.stderr))
    return MasterService(config, dsn)
