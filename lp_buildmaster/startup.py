"""Start-up checks: what twistd's plugin runs before the master.

This module imports little, so that a wrong option, port or database is
told (one line, exit status 1) without loading the whole master: the
plugin's options come from here, and L{makeService} imports
L{lp_buildmaster.service} only once every check has passed. Checks that
need no database (the state directory, the manhole's key file, the ports)
come before the embedded database is started or created.
"""

import atexit
import os
import socket
import sys


from lp_buildmaster import config as configmodule
from lp_buildmaster.store import connection, sampledata, schema


class Options(configmodule.ConfigOptions):
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


def prepare(config, log=None):
    """Everything that must hold before the master runs; synchronous.

    @return: the DSN to use.
    @raise SystemExit: with one line saying what is wrong.
    """
    try:
        # Everything that needs no database first: a wrong port or key
        # file must not cost an initdb.
        state = connection.checkStateDir(config.master_state_dir)
        if config.manhole_port and not os.path.isfile(
                config.manhole_authorized_keys):
            raise configmodule.ConfigError(
                "[manhole] authorized_keys must name an existing file when "
                "[manhole] port is set (got %r)"
                % config.manhole_authorized_keys)
        checkPorts(config)
        dsn = connection.resolveDSN(config.master_database,
                                    config.master_state_dir)
        connection.prepareDatabase(dsn, log=log)
        if config.master_demo:
            conn = connection.connectSync(dsn)
            try:
                sampledata.loadSampleData(conn, state / "librarian")
            finally:
                conn.close()
    except (connection.StateDirError, connection.DatabaseUnavailable,
            schema.SchemaError, configmodule.ConfigError) as e:
        raise SystemExit("buildmaster: error: %s" % (e,))
    return dsn


def checkPorts(config):
    """Each port the master will listen on can be bound now.

    @raise configmodule.ConfigError: naming the port and why not.
    """
    wanted = [("[web] port", config.web_interface, config.web_port)]
    if not config.librarian_url:
        # With a librarian of its own (which may well run on this host
        # and port), the master serves no files.
        wanted.append(("[librarian] port", config.librarian_interface,
                       config.librarian_port))
    if config.manhole_port:
        wanted.append(("[manhole] port", "127.0.0.1", config.manhole_port))
    for key, interface, port in wanted:
        if not port:
            continue
        family = socket.AF_INET6 if ":" in interface else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            # As Twisted's listening ports do: a port in TIME_WAIT is fine,
            # one another process listens on is not.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((interface, port))
        except OSError as e:
            raise configmodule.ConfigError(
                "%s %s:%d cannot be used: %s"
                % (key, interface, port, e.strerror or e)) from None
        finally:
            sock.close()


class StartupError(Exception):
    """A part of the master could not start."""


#: The exit status once the reactor has stopped (see L{exitStatus}).
_exit = {"status": 0}


def _exitWithStatus():
    """At exit, after every handler registered later (the embedded
    PostgreSQL's among them), end with the status a failed start set:
    twistd itself always exits 0."""
    if _exit["status"]:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit["status"])


def makeService(options):
    # Registered before anything (the embedded PostgreSQL) registers its
    # own exit handlers, so that it runs after them.
    atexit.register(_exitWithStatus)
    config = options.config
    if not config.master_name:
        # Stable across restarts, so a restarted master takes its own
        # builders back at once.
        config = config.replace(master_name=socket.gethostname())
    dsn = prepare(config, log=lambda line: print(line, file=sys.stderr))
    from twisted.internet import reactor
    # After the reactor has stopped, before twistd re-raises the signal
    # that stopped it (which would skip every exit handler).
    reactor.addSystemEventTrigger("after", "shutdown",
                                  connection.stopEmbedded)
    from lp_buildmaster.service import MasterService
    return MasterService(config, dsn)
