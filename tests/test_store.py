"""The store: migrations, sample data, components and test isolation."""

from pathlib import Path

import psycopg2
from twisted.internet import defer
from twisted.trial import unittest

from lp_buildmaster.enums import (
    BuildStatus, DistroReleaseStatus, PackagePublishingPocket)
from lp_buildmaster.store import connection, sampledata, schema
from lp_buildmaster.store.builders import DuplicateName
from tests.database import DatabaseTestCase, createDatabase, dropDatabase


def withConnection(dsn, fn):
    conn = connection.connectSync(dsn)
    try:
        return fn(conn)
    finally:
        conn.close()


def query(dsn, sql, args=None):
    def run(conn):
        with conn.cursor() as cur:
            cur.execute(sql, args)
            rows = cur.fetchall() if cur.description else None
        conn.commit()
        return rows
    return withConnection(dsn, run)


class EmptyDatabaseTestCase(unittest.TestCase):
    """Migrations against databases made for each test (no template)."""

    def setUp(self):
        self.dsn, name = createDatabase(template=False)
        self.addCleanup(dropDatabase, name)

    def migrationsDir(self, upto=None, extra=()):
        """A copy of the migrations (the first C{upto}) plus C{extra}."""
        target = Path(self.mktemp())
        target.mkdir()
        for version, name, sql in schema.migrations()[:upto]:
            (target / ("%04d_%s.sql" % (version, name))).write_text(sql)
        for filename, sql in extra:
            (target / filename).write_text(sql)
        return target

    def upgrade(self, directory=schema.MIGRATIONS_DIR):
        return withConnection(
            self.dsn, lambda conn: schema.upgrade(conn, directory))

    def test_fromEmpty(self):
        """Every migration applies to an empty database, once."""
        applied = self.upgrade()
        self.assertEqual(applied, list(range(1, schema.latestVersion() + 1)))
        self.assertEqual(self.upgrade(), [])
        tables = {row[0] for row in query(
            self.dsn, "SELECT tablename FROM pg_tables"
            " WHERE schemaname = 'public'")}
        for table in ["processor", "distribution", "distrorelease",
                      "distroarchrelease", "pocketchroot", "archive",
                      "sourcepackagename", "sourcepackagerelease",
                      "sourcepackagepublishinghistory", "build",
                      "buildqueue", "builder", "libraryfilecontent",
                      "libraryfilealias", "schema_version"]:
            self.assertIn(table, tables)
        self.assertEqual(
            withConnection(self.dsn, schema.currentVersion),
            schema.latestVersion())

    def test_upgradeKeepsData(self):
        """A new migration upgrades a database that holds data."""
        self.upgrade(self.migrationsDir())
        withConnection(self.dsn, lambda conn: sampledata.loadSampleData(
            conn, self.mktemp()))
        before = query(self.dsn, "SELECT id, name, url FROM builder"
                                 " ORDER BY id")
        extra = ("%04d_builder_notes.sql" % (schema.latestVersion() + 1),
                 "ALTER TABLE builder ADD COLUMN notes text;\n"
                 "UPDATE builder SET notes = 'was ' || name;\n")
        applied = self.upgrade(self.migrationsDir(extra=[extra]))
        self.assertEqual(applied, [schema.latestVersion() + 1])
        after = query(self.dsn, "SELECT id, name, url, notes FROM builder"
                                " ORDER BY id")
        self.assertEqual([row[:3] for row in after], before)
        self.assertEqual([row[3] for row in after],
                         ["was bob", "was frog"])
        self.assertEqual(query(self.dsn, "SELECT count(*) FROM build")[0][0],
                         len(sampledata.BUILDS))

    def test_interruptedMigrationLeavesSchema(self):
        """A migration failing midway is rolled back whole."""
        self.upgrade()
        broken = ("%04d_broken.sql" % (schema.latestVersion() + 1),
                  "ALTER TABLE builder ADD COLUMN half text;\n"
                  "SELECT no_such_function();\n")
        directory = self.migrationsDir(extra=[broken])
        e = self.assertRaises(schema.MigrationFailed, self.upgrade, directory)
        self.assertIn("_broken failed and was rolled back", str(e))
        columns = {row[0] for row in query(
            self.dsn, "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'builder'")}
        self.assertNotIn("half", columns)
        self.assertEqual(withConnection(self.dsn, schema.currentVersion),
                         schema.latestVersion())

    def test_schemaTooNew(self):
        """A database migrated by a newer release is refused, clearly."""
        self.upgrade()
        query(self.dsn, "INSERT INTO schema_version (version, name)"
                        " VALUES (999, 'future')")
        e = self.assertRaises(schema.SchemaTooNew, self.upgrade)
        self.assertIn("version 999", str(e))

    def test_sampleDataIdempotent(self):
        self.upgrade()
        root = self.mktemp()
        self.assertTrue(withConnection(
            self.dsn, lambda c: sampledata.loadSampleData(c, root)))
        self.assertFalse(withConnection(
            self.dsn, lambda c: sampledata.loadSampleData(c, root)))
        self.assertEqual(query(self.dsn, "SELECT count(*) FROM build")[0][0],
                         10)


class ConnectionErrorsTestCase(unittest.TestCase):

    def test_unreachable(self):
        e = self.assertRaises(
            connection.DatabaseUnavailable, connection.connectSync,
            "postgresql://nobody@127.0.0.1:1/nothing")
        self.assertIn("cannot connect to the database", str(e))
        self.assertNotIn("\n", str(e))

    def test_badCredentials(self):
        dsn, name = createDatabase(template=False)
        self.addCleanup(dropDatabase, name)
        bad = connection.withDatabase(dsn, name)
        bad = psycopg2.extensions.make_dsn(bad, user="no_such_role_here")
        e = self.assertRaises(connection.DatabaseUnavailable,
                              connection.connectSync, bad)
        self.assertIn("no_such_role_here", str(e))
        self.assertNotIn("\n", str(e))

    def test_unwritableStateDir(self):
        base = Path(self.mktemp())
        base.mkdir()
        blocker = base / "file"
        blocker.write_text("not a directory")
        e = self.assertRaises(connection.StateDirError,
                              connection.checkStateDir, blocker / "var")
        self.assertIn("is not writable", str(e))


class SampleDataTestCase(DatabaseTestCase):
    """The seed's world, through the store's components."""

    @defer.inlineCallbacks
    def test_seedBuilds(self):
        build8 = yield self.store.builds.get(8)
        self.assertEqual(build8.buildstate, BuildStatus.BUILDING)
        bq1 = yield self.store.queue.get(1)
        self.assertEqual(bq1.build, 8)
        build7 = yield self.store.builds.get(7)
        self.assertEqual((build7.source_name, build7.source_version,
                          build7.distrorelease_name, build7.architecturetag),
                         ("pmount", "0.1-1", "hoary", "i386"))
        bq2 = yield self.store.queue.get(2)
        build = yield self.store.builds.get(bq2.build)
        self.assertEqual(build.buildstate, BuildStatus.NEEDSBUILD)
        self.assertEqual(build.processor_name, "x86")
        self.assertIsNone((yield self.store.builds.get(1000)))
        for build_id in range(1, 11):
            self.assertIsNotNone((yield self.store.builds.get(build_id)))

    @defer.inlineCallbacks
    def test_seriesAndArchReleases(self):
        hoary = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        self.assertEqual(hoary.title,
                         "The Hoary Hedgehog Release for i386 (x86)")
        self.assertEqual(hoary.releasestatus, DistroReleaseStatus.DEVELOPMENT)
        warty = yield self.store.distro.getDistroRelease("ubuntu", "warty")
        self.assertEqual(warty.releasestatus, DistroReleaseStatus.CURRENT)

    @defer.inlineCallbacks
    def test_libraryAliases(self):
        """Aliases 1 and 2 are pmount's .dsc and tarball, on disk."""
        from lp_buildmaster.librarian.storage import ContentStore
        aliases = yield self.store.library.getAliases([1, 2])
        self.assertEqual(aliases[1].filename, "pmount_0.1-1.dsc")
        self.assertEqual(aliases[2].filename, "pmount_0.1-1.tar.gz")
        content = ContentStore(self.librarian_root)
        dsc = content.path(aliases[1].sha1).read_text()
        self.assertIn("Source: pmount", dsc)
        self.assertIn(aliases[2].sha1, dsc)

    @defer.inlineCallbacks
    def test_sourcePublished(self):
        build = yield self.store.builds.get(7)
        files = yield self.store.sources.files(build.sourcepackagerelease)
        self.assertEqual([t for _, t in files], ["dsc", "tarball"])
        self.assertTrue((yield self.store.sources.isPublished(
            build.sourcepackagerelease, build.distrorelease, build.archive)))

    @defer.inlineCallbacks
    def test_addBuilderAndDuplicate(self):
        x86 = yield self.store.distro.getProcessor("x86")
        builder_id = yield self.store.builders.add(
            "nice", "http://127.0.0.1:9/", x86.id)
        builder = yield self.store.builders.get(builder_id)
        self.assertEqual((builder.name, builder.builderok), ("nice", True))
        yield self.assertFailure(
            self.store.builders.add("nice", "http://x/", x86.id),
            DuplicateName)

    @defer.inlineCallbacks
    def test_failnotesBounded(self):
        """Failnotes from anywhere (an 8 MB fault string, a terminal escape)
        are stored as one printable line of at most 1 KiB."""
        bob = yield self.store.builders.getByName("bob")
        yield self.store.builders.failBuilder(
            bob.id, "Fault 8002: \x1b[2J\u202e" + "x" * 8 * 1024 * 1024)
        bob = yield self.store.builders.get(bob.id)
        self.assertLessEqual(len(bob.failnotes.encode()), 1024)
        self.assertTrue(bob.failnotes.startswith(
            "Fault 8002: \ufffd[2J\ufffdxxx"), bob.failnotes[:40])

    @defer.inlineCallbacks
    def test_pendingOrder(self):
        """Pending entries come highest score first, then lowest id."""
        hoary = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        build = yield self.store.builds.get(7)
        ids = []
        for score in (10, 50, 50):
            build_id = yield self.store.builds.create(
                hoary.id, build.sourcepackagerelease, build.archive,
                PackagePublishingPocket.RELEASE)
            ids.append((yield self.store.queue.enqueue(build_id, score)))
        pending = yield self.store.queue.pending()
        self.assertEqual([q.id for q in pending], [ids[1], ids[2], 2, ids[0]])


class IsolationTestCase(DatabaseTestCase):
    """Each test sees only its own changes: both tests add the same name."""

    @defer.inlineCallbacks
    def _addAndCount(self):
        yield self.store.builders.add("isolated", "http://127.0.0.1:9/", 1)
        builders = yield self.store.builders.all()
        self.assertEqual(sorted(b.name for b in builders),
                         ["bob", "frog", "isolated"])

    def test_one(self):
        return self._addAndCount()

    def test_two(self):
        return self._addAndCount()


class DatabaseGoesAwayTestCase(DatabaseTestCase):
    """Connections killed under the master (a restart, a failover): calls
    fail meanwhile, then the store and its LISTEN work again."""

    def killConnections(self):
        conn = connection.connectSync(self.dsn)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.dbname,))
                return cur.rowcount
        finally:
            conn.close()

    @defer.inlineCallbacks
    def eventually(self, fn, tries=100):
        """C{fn()}'s result once it stops failing (bounded)."""
        from twisted.internet import reactor, task
        for _ in range(tries):
            try:
                result = yield fn()
                return result
            except psycopg2.Error:
                yield task.deferLater(reactor, 0.1, lambda: None)
        self.fail("the store did not come back")

    @defer.inlineCallbacks
    def test_storeReconnects(self):
        self.assertEqual((yield self.store.builds.get(8)).id, 8)
        self.assertGreater(self.killConnections(), 0)
        build = yield self.eventually(lambda: self.store.builds.get(8))
        self.assertEqual(build.id, 8)
        # Every connection of the pool is back.
        for _ in range(4):
            rows = yield self.eventually(
                lambda: self.store.runQuery("SELECT 1 AS one"))
            self.assertEqual(rows[0]["one"], 1)
        # txpostgres logs each connection it finds dead: expected here.
        self.flushLoggedErrors(psycopg2.OperationalError,
                               psycopg2.InterfaceError)

    @defer.inlineCallbacks
    def test_listenReconnects(self):
        from lp_buildmaster.store import listen
        heard = []
        waiter = [defer.Deferred()]

        def observer(notify):
            heard.append(notify.payload)
            if not waiter[0].called:
                waiter[0].callback(None)
        conn = yield listen(self.dsn, ["testchannel"], observer)
        self.addCleanup(conn.close)
        yield self.store.runOperation("NOTIFY testchannel, 'before'")
        yield waiter[0]
        self.killConnections()
        waiter[0] = defer.Deferred()
        yield self.eventually(lambda: self.store.runOperation(
            "NOTIFY testchannel, 'after'").addCallback(
                lambda _: waiter[0].called or _retry()))
        self.assertEqual(heard[0], "before")
        self.assertIn("after", heard)
        self.flushLoggedErrors(psycopg2.OperationalError,
                               psycopg2.InterfaceError)


def _retry():
    """Raise so that C{eventually} tries again (the listener may not be
    back yet when the first NOTIFY after the kill goes out)."""
    raise psycopg2.OperationalError("not heard yet")
