"""Where the database is, and getting a connection to it.

With no DSN configured the master runs its own PostgreSQL (the ``pgserver``
wheel) inside the state directory and reuses it on the next start; with a
DSN it uses any PostgreSQL 13 or newer.
"""

import os
import tempfile
import warnings
from pathlib import Path

import psycopg2
import psycopg2.extensions

from lp_buildmaster.store import schema

MINIMUM_SERVER_VERSION = 130000
EMBEDDED_DBNAME = "buildmaster"


class DatabaseUnavailable(Exception):
    """The database cannot be reached or refuses us."""


class StateDirError(Exception):
    """The state directory cannot be used."""


def checkStateDir(state_dir):
    """Create C{state_dir} if needed and prove it is writable.

    @raise StateDirError: with a one-line reason.
    """
    path = Path(state_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise StateDirError(
            "state directory %s is not writable: %s"
            % (path, e.strerror or e)) from None
    return path.resolve()


def embeddedDSN(state_dir):
    """Start (or reuse) the embedded PostgreSQL in C{state_dir}/postgres.

    The server keeps running while any process that asked for it is alive,
    and stops after the last one exits.

    @return: a libpq DSN for the C{buildmaster} database in it.
    """
    root = checkStateDir(state_dir)
    pgdir = root / "postgres"
    # pgserver runs PostgreSQL as an unprivileged user when we are root;
    # that user must be able to reach the data directory.
    try:
        server = startPgserver(pgdir)
    except Exception as e:
        raise DatabaseUnavailable(
            "could not start the embedded PostgreSQL in %s: %s"
            % (pgdir, str(e).strip().splitlines()[-1] if str(e) else e)
        ) from None
    admin_dsn = server.get_uri()
    ensureDatabase(admin_dsn, EMBEDDED_DBNAME)
    return withDatabase(admin_dsn, EMBEDDED_DBNAME)


#: The embedded servers this process joined, for L{stopEmbedded}.
_joined = []


def startPgserver(pgdir):
    """Start or join the pgserver PostgreSQL whose data is in C{pgdir}."""
    # platformdirs (under pgserver) warns when XDG_RUNTIME_DIR is unset,
    # on import and later; harmless here.
    warnings.filterwarnings("ignore", module="platformdirs")
    import pgserver
    server = pgserver.get_server(str(pgdir), cleanup_mode="stop")
    _joined.append(server)
    return server


def embeddedExists(state_dir):
    """Whether C{state_dir} holds an embedded database already."""
    return (Path(state_dir) / "postgres" / "PG_VERSION").is_file()


def stopEmbedded():
    """Leave every embedded PostgreSQL this process joined: the last
    process to leave one stops it. pgserver does this at exit, but a
    process ended by a signal (twistd re-raises SIGTERM and SIGINT once
    its reactor has stopped) never gets there: call this before."""
    while _joined:
        server = _joined.pop()
        try:
            server.cleanup()
        except Exception:
            # At worst the server outlives us, as it did before.
            pass


def withDatabase(dsn, dbname):
    """C{dsn} pointed at database C{dbname} instead."""
    params = psycopg2.extensions.parse_dsn(dsn)
    params["dbname"] = dbname
    return psycopg2.extensions.make_dsn(**params)


def connectSync(dsn, **kwargs):
    """A synchronous connection, for start-up, the schema and tests.

    @raise DatabaseUnavailable: with a one-line reason.
    """
    try:
        conn = psycopg2.connect(dsn, connect_timeout=10, **kwargs)
    except psycopg2.OperationalError as e:
        reason = str(e).strip().splitlines()
        raise DatabaseUnavailable(
            "cannot connect to the database %s: %s"
            % (describeDSN(dsn), reason[0] if reason else "unknown error")
        ) from None
    if conn.server_version < MINIMUM_SERVER_VERSION:
        conn.close()
        raise DatabaseUnavailable(
            "the database %s runs PostgreSQL %d; 13 or newer is needed"
            % (describeDSN(dsn), conn.server_version // 10000))
    return conn


def describeDSN(dsn):
    """C{dsn} without its password, for messages."""
    try:
        params = psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        return "(unparsable DSN)"
    params.pop("password", None)
    return " ".join("%s=%s" % item for item in sorted(params.items()))


def ensureDatabase(admin_dsn, dbname, template=None):
    """Create database C{dbname} unless it exists."""
    conn = connectSync(admin_dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                        (dbname,))
            if cur.fetchone() is None:
                sql = "CREATE DATABASE %s" % (quoteIdent(dbname),)
                if template:
                    sql += " TEMPLATE %s" % (quoteIdent(template),)
                cur.execute(sql)
    finally:
        conn.close()


def quoteIdent(name):
    return '"%s"' % name.replace('"', '""')


def prepareDatabase(dsn, log=None):
    """Check C{dsn} answers and bring its schema up to date.

    Synchronous: call before the reactor runs, or in a thread.

    @raise DatabaseUnavailable: it cannot be reached.
    @raise schema.SchemaError: the schema is too new or a migration failed.
    @return: the migrations applied.
    """
    conn = connectSync(dsn)
    try:
        return schema.upgrade(conn, log=log)
    finally:
        conn.close()


def resolveDSN(database=None, state_dir="var"):
    """The DSN to use: C{database}, C{$BUILDMASTER_DATABASE}, or embedded."""
    dsn = database or os.environ.get("BUILDMASTER_DATABASE")
    if dsn:
        return dsn
    return embeddedDSN(state_dir)
