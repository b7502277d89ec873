"""Numbered schema migrations.

Migrations are the files ``migrations/NNNN_name.sql``. Each is applied in
one transaction together with its row in ``schema_version``, so a migration
interrupted midway leaves the schema as it was. Several masters starting at
once serialise on an advisory lock.

This runs on a plain (synchronous) psycopg2 connection: at start-up before
the reactor runs, from the admin command, or in a thread. It never runs on
the reactor thread of a running master.
"""

import re
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# An arbitrary constant: the advisory lock that serialises migrations.
_LOCK_KEY = 0x6C7062  # "lpb"


class SchemaError(Exception):
    """The database schema cannot be used by this code."""


class SchemaTooNew(SchemaError):
    """The database was migrated by a newer release of the master."""


class MigrationFailed(SchemaError):
    """A migration raised; its transaction was rolled back."""


def migrations(directory=MIGRATIONS_DIR):
    """The migrations in C{directory}, in order.

    @return: a list of C{(version, name, sql)}.
    """
    found = []
    for path in sorted(Path(directory).glob("*.sql")):
        match = re.match(r"^(\d{4})_(\w+)\.sql$", path.name)
        if match is None:
            raise SchemaError("badly named migration %s" % (path.name,))
        found.append((int(match.group(1)), match.group(2), path.read_text()))
    versions = [version for version, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise SchemaError("migrations are not numbered 1..N: %r" % versions)
    return found


def latestVersion(directory=MIGRATIONS_DIR):
    return len(migrations(directory))


def currentVersion(conn):
    """The version recorded in C{conn}'s database; 0 when none."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_version') IS NOT NULL")
        if not cur.fetchone()[0]:
            conn.rollback()
            return 0
        cur.execute("SELECT coalesce(max(version), 0) FROM schema_version")
        version = cur.fetchone()[0]
    conn.rollback()
    return version


def upgrade(conn, directory=MIGRATIONS_DIR, log=None):
    """Apply every migration newer than the database's version.

    @param conn: a psycopg2 connection, not in autocommit mode.
    @return: the versions applied, in order.
    @raise SchemaTooNew: the database is ahead of this code.
    @raise MigrationFailed: a migration failed and was rolled back.
    """
    known = migrations(directory)
    applied = []
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        conn.commit()
        try:
            cur.execute("""
                CREATE TABLE IF NOT EXISTS schema_version (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied timestamptz NOT NULL DEFAULT now())""")
            conn.commit()
            cur.execute("SELECT coalesce(max(version), 0) FROM schema_version")
            current = cur.fetchone()[0]
            conn.commit()
            if current > len(known):
                raise SchemaTooNew(
                    "the database schema is version %d but this "
                    "lp-buildmaster knows only up to version %d; upgrade "
                    "lp-buildmaster" % (current, len(known)))
            for version, name, sql in known[current:]:
                try:
                    cur.execute(sql)
                    cur.execute(
                        "INSERT INTO schema_version (version, name) "
                        "VALUES (%s, %s)", (version, name))
                    conn.commit()
                except Exception as e:
                    conn.rollback()
                    raise MigrationFailed(
                        "migration %04d_%s failed and was rolled back: %s"
                        % (version, name, str(e).strip().splitlines()[0])
                    ) from e
                applied.append(version)
                if log is not None:
                    log("applied migration %04d_%s" % (version, name))
        finally:
            conn.rollback()
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
            conn.commit()
    return applied
