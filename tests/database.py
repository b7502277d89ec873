"""A fresh, migrated, sample-loaded database for every test.

The server is C{$BUILDMASTER_TEST_DSN} when set (CI points it at the
machine's PostgreSQL), else an embedded pgserver PostgreSQL in
C{var/test-postgres}. A template database is built once per version of
the schema and sample data; each test gets a copy of it with
C{CREATE DATABASE ... TEMPLATE}, dropped when the test ends.
"""

import hashlib
import itertools
import os
from pathlib import Path

from twisted.internet import defer, threads
from twisted.trial import unittest

from lp_buildmaster.store import Store, connection, sampledata, schema

ROOT = Path(__file__).resolve().parent.parent
_counter = itertools.count()
_admin_dsn = None
_template = None


def adminDSN():
    """The DSN of a database on the test server we may create others from."""
    global _admin_dsn
    if _admin_dsn is None:
        dsn = os.environ.get("BUILDMASTER_TEST_DSN")
        if not dsn:
            (ROOT / "var").mkdir(exist_ok=True)
            server = connection.startPgserver(ROOT / "var" / "test-postgres")
            dsn = server.get_uri()
        _admin_dsn = dsn
    return _admin_dsn


def templateName():
    """Named after what goes into it, so a changed schema gets a new one."""
    digest = hashlib.sha1()
    for path in sorted(schema.MIGRATIONS_DIR.glob("*.sql")):
        digest.update(path.read_bytes())
    digest.update(Path(sampledata.__file__).read_bytes())
    return "lpbm_template_" + digest.hexdigest()[:12]


def _adminExecute(sql, args=None):
    conn = connection.connectSync(adminDSN())
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def ensureTemplate():
    """Create the template database once (synchronous)."""
    global _template
    if _template is not None:
        return _template
    name = templateName()
    conn = connection.connectSync(adminDSN())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            # Two trial workers may get here at once.
            cur.execute("SELECT pg_advisory_lock(4242)")
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                        (name,))
            if cur.fetchone() is None:
                building = name + "_new"
                cur.execute("DROP DATABASE IF EXISTS %s"
                            % connection.quoteIdent(building))
                cur.execute("CREATE DATABASE %s"
                            % connection.quoteIdent(building))
                dsn = connection.withDatabase(adminDSN(), building)
                connection.prepareDatabase(dsn)
                load = connection.connectSync(dsn)
                try:
                    sampledata.loadSampleData(
                        load, ROOT / "var" / "test-librarian-template")
                finally:
                    load.close()
                cur.execute("ALTER DATABASE %s RENAME TO %s" % (
                    connection.quoteIdent(building),
                    connection.quoteIdent(name)))
            cur.execute("SELECT pg_advisory_unlock(4242)")
    finally:
        conn.close()
    _template = name
    return name


def createDatabase(template=True):
    """A new database (a copy of the template, or empty); its DSN and name.

    Synchronous.
    """
    name = "lpbm_test_%d_%d" % (os.getpid(), next(_counter))
    sql = "CREATE DATABASE %s" % connection.quoteIdent(name)
    if template:
        sql += " TEMPLATE %s" % connection.quoteIdent(ensureTemplate())
    _adminExecute("DROP DATABASE IF EXISTS %s" % connection.quoteIdent(name))
    _adminExecute(sql)
    return connection.withDatabase(adminDSN(), name), name


def dropDatabase(name):
    _adminExecute("DROP DATABASE IF EXISTS %s WITH (FORCE)"
                  % connection.quoteIdent(name))


class DatabaseTestCase(unittest.TestCase):
    """A test with C{self.dsn}, C{self.store} (a started L{Store} on a fresh
    sample-data database) and C{self.librarian_root} holding the sample
    files."""

    template = True

    @defer.inlineCallbacks
    def setUp(self):
        self.dsn, self.dbname = yield threads.deferToThread(
            createDatabase, self.template)
        self.addCleanup(threads.deferToThread, dropDatabase, self.dbname)
        self.librarian_root = Path(self.mktemp()).resolve() / "librarian"
        self.librarian_root.mkdir(parents=True)
        if self.template:
            sampledata.ensureSampleFiles(self.librarian_root)
            self.store = yield Store.connect(self.dsn, size=2)
            self.addCleanup(self.store.close)
