"""The librarian on its own: ``twistd -n librarian``.

Storage (a directory or Swift) plus HTTP: the public downloads and the
API masters use (L{lp_buildmaster.librarian.api}). It shares the masters'
database, where the files' rows live, and their configuration file: the
C{[librarian]} keys say where it listens, its storage and its secret,
C{[master] database} and C{state_dir} where its database and state are.
Start-up failures are one line and a non-zero exit, as for the master.
"""

import sys

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import server

from lp_buildmaster import config as configmodule
from lp_buildmaster.clock import orReactor
from lp_buildmaster.librarian.api import LibrarianAPI, LibrarianRoot
from lp_buildmaster.librarian.backends import backendFromConfig
from lp_buildmaster.librarian.client import LibrarianClient
from lp_buildmaster.librarian.server import LibrarianResource
from lp_buildmaster.slave import makePool
from lp_buildmaster.store import Store, connection, schema
from lp_buildmaster.web.listening import ListeningService, tcpEndpoint

log = Logger(namespace="lp_buildmaster.librarian")


class Options(configmodule.ConfigOptions):
    optParameters = [
        ["config", "c", None, "INI configuration file "
         "(see conf/buildmaster.conf)."],
        ["database", "d", None, "PostgreSQL DSN (default: embedded, or "
         "$BUILDMASTER_DATABASE)."],
        ["state-dir", "s", None, "State directory (default: ./var)."],
        ["port", "p", None, "Port to serve on ([librarian] port)."],
        ["interface", None, None, "Address to serve on "
         "([librarian] interface)."],
    ]

    _OVERRIDES = {
        "database": ("master", "database"),
        "state-dir": ("master", "state_dir"),
        "port": ("librarian", "port"),
        "interface": ("librarian", "interface"),
    }


class _Site(server.Site):
    """No access log line for every file a builder fetches."""

    noisy = False

    def log(self, request):
        pass


class LibrarianService(service.MultiService):
    """The store, the backend and the web server."""

    def __init__(self, config, dsn, reactor=None):
        super().__init__()
        reactor = orReactor(reactor)
        self.reactor = reactor
        self.config = config
        self.dsn = dsn
        self.store = None
        self.web = None

    @defer.inlineCallbacks
    def startService(self):
        from lp_buildmaster.librarian.secret import librarianSecret
        config, reactor = self.config, self.reactor
        self.store = yield Store.connect(self.dsn, size=4)
        state = config.master_state_dir
        secret = librarianSecret(state, config.librarian_secret_file)
        self.pool = makePool(reactor)
        backend = backendFromConfig(config, state, reactor=reactor,
                                    pool=self.pool)
        self.client = LibrarianClient(
            self.store, backend, self.publicURL(), secret, clock=reactor,
            token_lifetime=config.librarian_token_lifetime)
        root = LibrarianRoot(
            LibrarianResource(self.store, backend, secret, reactor),
            LibrarianAPI(self.client, secret))
        self.web = ListeningService(
            tcpEndpoint(reactor, config.librarian_port,
                        config.librarian_interface), _Site(root), "librarian")
        self.web.setServiceParent(self)
        super().startService()
        if not config.librarian_public_url:
            self.client.base_url = self.publicURL().rstrip("/")
        log.info("librarian ready: {backend} storage, database {db}",
                 backend=config.librarian_backend,
                 db=connection.describeDSN(self.dsn))

    def publicURL(self):
        config = self.config
        port = config.librarian_port
        if self.web is not None and self.web.port is not None:
            port = self.web.port.getHost().port
        return config.librarian_public_url or "http://%s:%d/" % (
            config.librarian_interface, port)

    @defer.inlineCallbacks
    def stopService(self):
        yield super().stopService()
        if getattr(self, "pool", None) is not None:
            yield self.pool.closeCachedConnections()
        if self.store is not None:
            self.store.close()
            self.store = None


def makeService(options):
    config = options.config
    try:
        connection.checkStateDir(config.master_state_dir)
        dsn = connection.resolveDSN(config.master_database,
                                    config.master_state_dir)
        connection.prepareDatabase(
            dsn, log=lambda line: print(line, file=sys.stderr))
    except (connection.StateDirError, connection.DatabaseUnavailable,
            schema.SchemaError, configmodule.ConfigError) as e:
        raise SystemExit("librarian: error: %s" % (e,))
    return LibrarianService(config, dsn)
