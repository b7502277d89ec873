"""``buildmaster-admin``: its pure decisions, ``why``'s reasoning, and the
real command run as a subprocess against a fresh sample-data database.

The command runs its own reactor (task.react), so it cannot run inside
trial's: each case starts ``.venv/bin/buildmaster-admin``. Several steps
share one test to keep the number of process starts down.
"""

import argparse
import datetime
import hashlib
import json
import os
import re
import sys
from pathlib import Path

from twisted.internet import defer, protocol, utils
from twisted.trial import unittest

from lp_buildmaster import admin, why
from lp_buildmaster.enums import (
    ArchivePurpose, BuildStatus, DistroReleaseStatus, PackagePublishingPocket,
    SourcePackageUrgency)
from lp_buildmaster.librarian.storage import ContentStore
from lp_buildmaster.model.names import (
    builderNameProblem, placementProblem, sourceProblem)
from lp_buildmaster.model.records import (
    Build, Builder, BuildQueue, PocketChroot)
from lp_buildmaster.store.sampledata import sourceFiles
from tests.database import DatabaseTestCase

ADMIN = Path(sys.executable).parent / "buildmaster-admin"
NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
HOUR = datetime.timedelta(hours=1)


def makeBuild(**values):
    """A hoary i386 NEEDSBUILD build of pmount in the primary archive."""
    defaults = dict(
        id=10, buildstate=BuildStatus.NEEDSBUILD, builder=None,
        datecreated=NOW, date_started=None, datebuilt=None,
        buildduration=None, buildlog=None, upload_log=None,
        dependencies=None, pocket=PackagePublishingPocket.RELEASE,
        failure_count=0, failnotes=None, archive=1, archive_name="primary",
        archive_purpose=ArchivePurpose.PRIMARY, archive_private=False,
        archive_require_virtualized=False, archive_enabled=True,
        distroarchrelease=2, architecturetag="i386", processor=1,
        processor_name="x86", distrorelease=2, distrorelease_name="hoary",
        releasestatus=DistroReleaseStatus.DEVELOPMENT, distribution=1,
        distribution_name="ubuntu", sourcepackagerelease=1,
        source_name="pmount", source_version="0.1-1", component="main",
        urgency=SourcePackageUrgency.LOW, maintainer="",
        architecturehintlist="any")
    defaults.update(values)
    return Build(**defaults)


def makeBuilder(id, name, **values):
    defaults = dict(
        id=id, name=name, title=name, url="http://127.0.0.1:1/",
        processor=1, virtualized=False, manual=False, active=True,
        builderok=True, failnotes=None, failure_count=0, vm_host=None,
        clean=True)
    defaults.update(values)
    return Builder(**defaults)


def makeQueue(id=2, build=10, virtualized=False, **values):
    defaults = dict(id=id, build=build, builder=None, buildstart=None,
                    lastscore=10, manual=False, logtail=None, processor=1,
                    virtualized=virtualized)
    defaults.update(values)
    return BuildQueue(**defaults)


def context(**values):
    """A dispatchContext in which build 10 would start at the next scan."""
    defaults = dict(
        build=makeBuild(), queue=makeQueue(),
        builders=[makeBuilder(1, "bob")], busy={},
        chroot=PocketChroot(1, 2, PackagePublishingPocket.RELEASE, 5),
        published=True, pending=[2], mean_duration=None, now=NOW)
    defaults.update(values)
    return defaults


class WhyTests(unittest.TestCase):

    def codes(self, **values):
        return [r.code for r in why.explain(**context(**values)).reasons]

    def test_readyToStart(self):
        explanation = why.explain(**context())
        self.assertEqual([r.code for r in explanation.reasons], ["idle"])
        self.assertIn("bob idle", explanation.reasons[0].message)
        self.assertEqual((explanation.position, explanation.waiting,
                          explanation.estimated_start), (1, 1, NOW))

    def test_notNeedsbuild(self):
        explanation = why.explain(**context(
            build=makeBuild(buildstate=BuildStatus.FULLYBUILT), queue=None,
            builders=[]))
        self.assertEqual(
            [(r.code, r.message) for r in explanation.reasons],
            [("state", "build 10 is FULLYBUILT (Successfully built), not "
              "waiting to be built")])

    def test_eachBlockingReason(self):
        building = makeBuild(buildstate=BuildStatus.BUILDING)
        cases = [
            (dict(queue=None, pending=[]), ["not-queued"]),
            (dict(builders=[]), ["no-builder"]),
            (dict(builders=[makeBuilder(1, "bob", virtualized=True)]),
             ["virtualization"]),
            (dict(builders=[makeBuilder(1, "bob", manual=True)]),
             ["builders-unavailable"]),
            (dict(chroot=None), ["no-chroot"]),
            (dict(chroot=PocketChroot(1, 2, PackagePublishingPocket.RELEASE,
                                      None)), ["no-chroot"]),
            (dict(build=makeBuild(pocket=PackagePublishingPocket.SECURITY)),
             ["pocket"]),
            (dict(build=makeBuild(archive_enabled=False)),
             ["archive-disabled"]),
            (dict(published=False), ["superseded"]),
            (dict(build=building), ["state"]),
        ]
        for values, expected in cases:
            self.assertEqual(self.codes(**values), expected, values)

    def test_allReasonsListed(self):
        explanation = why.explain(**context(
            build=makeBuild(archive_enabled=False,
                            releasestatus=DistroReleaseStatus.CURRENT),
            builders=[], chroot=None, published=False))
        self.assertEqual(
            [r.code for r in explanation.reasons],
            ["no-builder", "no-chroot", "pocket", "archive-disabled",
             "superseded"])
        self.assertEqual(explanation.reasons[2].message,
                         "ubuntu hoary is CURRENT and takes no builds for "
                         "pocket RELEASE")
        self.assertIsNone(explanation.estimated_start)

    def test_ppaNeedsVirtualizedBuilders(self):
        [reason] = why.explain(**context(
            build=makeBuild(archive_name="ppa",
                            archive_require_virtualized=True),
            queue=makeQueue(virtualized=True),
            builders=[makeBuilder(1, "bob"), makeBuilder(2, "frog")])
        ).reasons
        self.assertEqual(reason.message,
                         "archive ppa needs virtualized builders, but the "
                         "x86 builders (bob, frog) are all non-virtualized")

    def test_unusableBuildersNamed(self):
        [reason] = why.explain(**context(builders=[
            makeBuilder(1, "bob", builderok=False, failnotes="disk full"),
            makeBuilder(2, "frog", manual=True),
            makeBuilder(3, "gnu", active=False),
            makeBuilder(4, "vm", virtualized=True)])).reasons
        self.assertEqual(
            reason.message,
            "no non-virtualized x86 builder takes jobs: bob has failed "
            "(disk full); frog is in manual mode; gnu is disabled")

    def test_busyWithPositionAndEstimate(self):
        # Two usable builders, both busy; two jobs ahead of ours.
        explanation = why.explain(**context(
            builders=[makeBuilder(1, "bob"), makeBuilder(2, "frog"),
                      makeBuilder(3, "gnu", manual=True)],
            busy={1: NOW - 30 * datetime.timedelta(minutes=1),
                  2: NOW - 10 * datetime.timedelta(minutes=1)},
            pending=[7, 8, 2, 9], mean_duration=HOUR))
        [reason] = explanation.reasons
        self.assertEqual(reason.code, "busy")
        self.assertEqual((explanation.position, explanation.waiting), (3, 4))
        # bob is free at 12:30 and frog at 12:50; they take the two jobs
        # ahead, and bob is free again first, at 13:30.
        self.assertEqual(explanation.estimated_start, NOW + 90 * (HOUR / 60))
        self.assertEqual(
            reason.message,
            "number 3 of 4 waiting for a non-virtualized x86 builder; 2 of "
            "2 usable builders busy (bob, frog); estimated start "
            "2026-01-01 13:30 UTC (in about 1h 30m)")
        self.assertEqual(explanation.asDict()["estimated_start"],
                         "2026-01-01T13:30:00+00:00")

    def test_neverBlockedAndStartingSoon(self):
        """A build that cannot start (no chroot) is never also said to
        start at the next scan or "any moment now"."""
        for busy in ({}, {1: NOW}):
            explanation = why.explain(**context(chroot=None, busy=busy))
            text = why.formatText(explanation)
            self.assertIn("no chroot", text)
            self.assertNotIn("any moment now", text)
            self.assertNotIn("next scan", text)
            self.assertIsNone(explanation.estimated_start)

    def test_idleBuilderTakenByJobsAhead(self):
        explanation = why.explain(**context(pending=[5, 2]))
        self.assertEqual([r.code for r in explanation.reasons], ["busy"])
        self.assertEqual(explanation.estimated_start,
                         NOW + why.DEFAULT_DURATION)

    def test_formatText(self):
        text = why.formatText(why.explain(**context(chroot=None)))
        self.assertEqual(text, "build 10: NEEDSBUILD\n"
                         "  - there is no chroot for ubuntu hoary i386 in "
                         "pocket RELEASE")

    def test_describeDelay(self):
        for minutes, text in [(0, "any moment now"), (7, "in about 7m"),
                              (125, "in about 2h 05m")]:
            self.assertEqual(
                why.describeDelay(datetime.timedelta(minutes=minutes)), text)


class DecisionTests(unittest.TestCase):

    def test_checkBuilderURL(self):
        for url in ["http://127.0.0.1:8221/", "https://b.example:443/"]:
            self.assertEqual(admin.checkBuilderURL(url), url)
        for url in ["127.0.0.1:8221", "ftp://h:21/", "http://h/",
                    "http://:80/", "http://h:port/", "http://h:99999/",
                    "https://b.example:443", "http://[::1]:8221/"]:
            self.assertRaises(admin.AdminError, admin.checkBuilderURL, url)

    def test_cancelTarget(self):
        self.assertEqual(admin.cancelTarget(BuildStatus.NEEDSBUILD),
                         (BuildStatus.CANCELLED, True))
        self.assertEqual(admin.cancelTarget(BuildStatus.BUILDING),
                         (BuildStatus.CANCELLING, False))
        for state in BuildStatus:
            if state not in (BuildStatus.NEEDSBUILD, BuildStatus.BUILDING):
                self.assertIsNone(admin.cancelTarget(state), state)

    def test_sourceFileType(self):
        for name, kind in [
                ("hello_1.0-1.dsc", "dsc"),
                ("hello_1.0.orig.tar.gz", "orig-tarball"),
                ("hello_1.0.orig-docs.tar.xz", "component-orig-tarball"),
                ("hello_1.0-1.debian.tar.xz", "debian-tarball"),
                ("hello_1.0-1.diff.gz", "diff"),
                ("hello_1.0.tar.gz", "tarball")]:
            self.assertEqual(admin.sourceFileType(name), kind)

    def test_readDsc(self):
        root = Path(self.mktemp())
        root.mkdir()
        files = writeSource(root, "hello", "2.10-1")
        dsc, tarball = files
        parsed, text = admin.readDsc(dsc, [tarball])
        self.assertEqual((parsed["Source"], parsed["Version"]),
                         ("hello", "2.10-1"))
        self.assertEqual(text, dsc.read_text())
        stray = root / "stray.tar.gz"
        stray.write_bytes(b"x")
        cases = [
            ([], "hello_2.10-1.dsc lists hello_2.10-1.tar.gz, which was "
             "not given"),
            ([tarball, stray], "stray.tar.gz is not listed in "
             "hello_2.10-1.dsc"),
        ]
        for given, message in cases:
            e = self.assertRaises(admin.AdminError, admin.readDsc, dsc,
                                  given)
            self.assertEqual(str(e), message)
        # Same size, different bytes.
        data = bytearray(tarball.read_bytes())
        data[-1] ^= 0xff
        tarball.write_bytes(bytes(data))
        e = self.assertRaises(admin.AdminError, admin.readDsc, dsc,
                              [tarball])
        self.assertEqual(str(e), "hello_2.10-1.tar.gz does not match its "
                         "md5sum in hello_2.10-1.dsc")
        tarball.write_bytes(b"short")
        e = self.assertRaises(admin.AdminError, admin.readDsc, dsc,
                              [tarball])
        self.assertIn("is 5 bytes, but hello_2.10-1.dsc says", str(e))
        notdsc = root / "empty.dsc"
        notdsc.write_text("Hello: world\n")
        e = self.assertRaises(admin.AdminError, admin.readDsc, notdsc, [])
        self.assertEqual(str(e), "empty.dsc has no Source field")

    def test_table(self):
        self.assertEqual(admin.table(["A", "BB"], [["xyz", None], [1, 2]]),
                         "A    BB\nxyz\n1    2")


class OperatorInputTests(unittest.TestCase):
    """What an operator types is checked before anything is stored."""

    def test_builderURLs(self):
        for url in ("http://127.0.0.1:9000/", "https://builder-1.example:1/",
                    "http://alf:65535/", "http://10.0.0.7:8221/"):
            self.assertEqual(admin.checkBuilderURL(url), url)
        for url, problem in [
                ("http://h:1", "the path must be /"),
                ("http://h:1/rpc", "the path must be /"),
                ("http://h:1/?q=1", "no query"),
                ("http://h:1/#frag", "no fragment"),
                ("http://user:pw@h:1/", "no user name or password"),
                ("http://h:0/", "port must be a number from 1 to 65535"),
                ("http://h:65536/", "port must be a number from 1 to 65535"),
                ("http://h/", "port must be a number from 1 to 65535"),
                ("http://h :1/", "white space"),
                ("http://h:1/\x1b", "control characters"),
                ("http://[::1]:1/", "IPv6 addresses are not supported"),
                ("http://bad_host:1/", "bad host name"),
                ("http://-x:1/", "bad host name"),
                ("http://300.1.1.1:1/", "bad IPv4 address"),
                ("ftp://h:1/", "scheme must be http or https"),
                ("", "scheme must be http or https")]:
            e = self.assertRaises(admin.AdminError, admin.checkBuilderURL, url)
            self.assertIn(problem, str(e), url)
            self.assertIn("it must be http(s)://HOST:PORT/", str(e))

    def test_builderNames(self):
        for name in ("bob", "demo-1", "a", "x86.builder+1_b", "b" * 64):
            self.assertIsNone(builderNameProblem(name))
        for name in ("", "bad name", "Bob", "-x", ".x", "a/b", "b" * 65,
                     "caf\u00e9", "a\nb"):
            self.assertIn("is not a builder name", builderNameProblem(name))

    def test_sourceNames(self):
        self.assertIsNone(sourceProblem("hello", "1:2.10~rc1+dfsg-0ubuntu1"))
        for name, version, problem in [
                ("evil/../../x", "1", "not a source package name"),
                ("Foo_B\u00e4r", "1", "not a source package name"),
                ("x", "1", "not a source package name"),
                ("hello", "evil/../../x", "not a valid Debian version"),
                ("hello", "cr.g7-37", "not a valid Debian version"),
                ("hello", "1.0-", "not a valid Debian version"),
                ("hello", "1 0", "not a valid Debian version")]:
            self.assertIn(problem, sourceProblem(name, version))
        self.assertIsNone(placementProblem("universe", "universe/net"))
        self.assertIn("unknown component 'bogus'",
                      placementProblem("bogus", "misc"))
        self.assertIn("is not a section", placementProblem("main", "a b"))

    def test_numbers(self):
        score = admin.integer(what="a score")
        self.assertEqual(score("2147483647"), 2 ** 31 - 1)
        self.assertEqual(score("-2147483648"), -2 ** 31)
        for text in ("2147483648", "-2147483649", "x"):
            self.assertRaises(argparse.ArgumentTypeError, score, text)
        for text in ("99999999999999999999", "0", "-1"):
            self.assertRaises(argparse.ArgumentTypeError, admin.positiveInt,
                              text)
        for text in ("inf", "nan", "0"):
            self.assertRaises(argparse.ArgumentTypeError,
                              admin.positiveFloat, text)


def writeSource(root, name, version):
    """A source package's .dsc and tarball in C{root}; their paths."""
    paths = []
    for filename, data, _ in sourceFiles(name, version,
                                         "Me <me@example.com>"):
        path = root / filename
        path.write_bytes(data)
        paths.append(path)
    return paths


class AdminCommandTestCase(DatabaseTestCase):
    """Runs the real command on this test's database."""

    def setUp(self):
        d = DatabaseTestCase.setUp(self)

        def more(_):
            self.state_dir = Path(self.mktemp()).resolve()
            self.state_dir.mkdir()
        return d.addCallback(more)

    @defer.inlineCallbacks
    def admin(self, *args):
        """Fires with C{(stdout, stderr, exit code)}."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("BUILDMASTER_")}
        out, err, code = yield utils.getProcessOutputAndValue(
            str(ADMIN), ("--database", self.dsn, "--state-dir",
                         str(self.state_dir)) + tuple(args), env=env)
        return out.decode(), err.decode(), code

    @defer.inlineCallbacks
    def assertFails(self, message, *args):
        """The command fails with exit 1 and C{message} on one line."""
        out, err, code = yield self.admin(*args)
        self.assertEqual((out, err, code),
                         ("", "buildmaster-admin: error: %s\n" % message, 1),
                         args)

    @defer.inlineCallbacks
    def assertSucceeds(self, *args):
        """The command succeeds quietly on stderr; fires with stdout."""
        out, err, code = yield self.admin(*args)
        self.assertEqual((err, code), ("", 0), args)
        return out

    @defer.inlineCallbacks
    def query(self, sql, args=None):
        return (yield self.store.runQuery(sql, args))


class BuilderCommandTests(AdminCommandTestCase):

    @defer.inlineCallbacks
    def test_add(self):
        out = yield self.assertSucceeds(
            "builder", "add", "alf", "http://127.0.0.1:9000/",
            "--processor", "x86", "--virtualized", "--vm-host", "vmhost1")
        alf = yield self.store.builders.getByName("alf")
        self.assertEqual(out, "builder alf added (id %d)\n" % alf.id)
        self.assertEqual(
            (alf.url, alf.virtualized, alf.manual, alf.vm_host, alf.title),
            ("http://127.0.0.1:9000/", True, False, "vmhost1", "alf"))
        yield self.assertFails(
            "a builder named 'alf' exists already",
            "builder", "add", "alf", "http://127.0.0.1:9001/",
            "--processor", "x86")
        yield self.assertFails(
            "malformed builder URL 'http://127.0.0.1/': it must be "
            "http(s)://HOST:PORT/ (the port must be a number from 1 to "
            "65535)",
            "builder", "add", "gnu", "http://127.0.0.1/",
            "--processor", "x86")
        yield self.assertFails(
            "unknown processor 'arm'; known: amd64, x86",
            "builder", "add", "gnu", "http://127.0.0.1:9002/",
            "--processor", "arm")
        self.assertIsNone((yield self.store.builders.getByName("gnu")))

    @defer.inlineCallbacks
    def test_addRefusesHostileInput(self):
        """Names and URLs the README refuses are refused, in one line, and
        nothing is added (a password would show in every listing)."""
        for name, url, message in [
                ("", "http://127.0.0.1:9000/", "'' is not a builder name"),
                ("bad name", "http://127.0.0.1:9000/",
                 "'bad name' is not a builder name"),
                ("gnu", "http://user:pw@127.0.0.1:9000/",
                 "no user name or password"),
                ("gnu", "http://[::1]:1/", "IPv6 addresses are not"),
                ("gnu", "http://h:1", "the path must be /")]:
            out, err, code = yield self.admin(
                "builder", "add", name, url, "--processor", "x86")
            self.assertEqual((out, code), ("", 1), (name, url))
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn(message, err)
        rows = yield self.query("SELECT count(*) AS n FROM builder")
        self.assertEqual(rows[0]["n"], 2)

    @defer.inlineCallbacks
    def test_listAndSet(self):
        out = yield self.assertSucceeds("builder", "list")
        self.assertEqual(out.splitlines(), [
            "NAME  PROCESSOR  URL                     VIRT  MODE    STATUS"
            "    BUILD",
            "bob   x86        http://127.0.0.1:8221/  no    auto    building"
            "  8",
            "frog  x86        http://127.0.0.1:8222/  no    manual  manual"])

        out = yield self.assertSucceeds(
            "builder", "set", "bob", "--disable", "disk full", "--manual")
        self.assertEqual(out, "builder bob: failed: disk full, manual\n")
        bob = yield self.store.builders.getByName("bob")
        self.assertEqual((bob.builderok, bob.failnotes, bob.manual,
                          bob.active), (False, "disk full", True, True))

        yield self.store.builders.update(bob.id, failure_count=3)
        out = yield self.assertSucceeds(
            "--json", "builder", "set", "bob", "--enable", "--auto")
        row = json.loads(out)
        self.assertEqual(
            (row["name"], row["builderok"], row["failnotes"],
             row["failure_count"], row["manual"], row["status"]),
            ("bob", True, None, 0, False, "building"))
        bob = yield self.store.builders.getByName("bob")
        self.assertEqual((bob.builderok, bob.failnotes, bob.failure_count,
                          bob.manual), (True, None, 0, False))

        out = yield self.assertSucceeds("builder", "list", "--json")
        self.assertEqual([(r["name"], r["current_build"], r["status"])
                          for r in json.loads(out)],
                         [("bob", 8, "building"), ("frog", None, "manual")])

        yield self.assertFails("unknown builder 'nobody'",
                               "builder", "set", "nobody", "--enable")
        out, err, code = yield self.admin("builder", "set", "bob")
        self.assertEqual(code, 2)
        self.assertIn("needs --enable, --disable, --manual or --auto", err)
        out, err, code = yield self.admin(
            "builder", "set", "bob", "--enable", "--disable", "x")
        self.assertEqual(code, 2)

    @defer.inlineCallbacks
    def test_builderShow(self):
        """How long a builder has been in its state and its last scan, as
        the builder page shows them."""
        since = datetime.datetime(2026, 1, 2, 3, 4, 5,
                                  tzinfo=datetime.timezone.utc)
        yield self.store.runOperation(
            "UPDATE builder SET state_since = %s, last_scanned = %s"
            " WHERE name = 'bob'",
            (since, since + datetime.timedelta(minutes=1)))
        out = yield self.assertSucceeds("builder", "show", "bob")
        lines = out.splitlines()
        self.assertIn("status:         building", lines)
        self.assertIn("current_build:  8", lines)
        self.assertIn("state_since:    2026-01-02 03:04:05 UTC", lines)
        self.assertIn("last_scanned:   2026-01-02 03:05:05 UTC", lines)
        self.assertTrue(any(re.match(r"^time_in_state: +\d+:\d\d:\d\d$", line)
                            for line in lines), lines)
        row = json.loads((yield self.assertSucceeds(
            "--json", "builder", "show", "frog")))
        self.assertEqual((row["name"], row["status"], row["last_scanned"]),
                         ("frog", "manual", None))
        self.assertRegex(row["state_since"], r"^\d{4}-\d\d-\d\dT")
        self.assertIsInstance(row["time_in_state"], float)
        yield self.assertFails("unknown builder 'nobody'",
                               "builder", "show", "nobody")


class AccountAndRemoveCommandTests(AdminCommandTestCase):

    @defer.inlineCallbacks
    def test_accountsTokensAndAudit(self):
        out = yield self.assertSucceeds("account", "add", "olga", "--role",
                                        "operator")
        self.assertRegex(out, r"^account olga added \(id \d+, operator\)\n$")
        yield self.assertFails("an account named 'olga' exists already",
                               "account", "add", "olga", "--role", "admin")
        row = json.loads((yield self.assertSucceeds(
            "--json", "token", "create", "olga", "--description", "ci")))
        self.assertEqual((row["account"], row["role"]), ("olga", "operator"))
        self.assertTrue(row["token"].startswith("bm_"))
        from lp_buildmaster.store.accounts import AccountStore, secretHash
        accounts = AccountStore(self.store)
        self.assertEqual((yield accounts.byToken(row["token"])).name, "olga")
        stored = yield self.query("SELECT token_hash FROM apitoken")
        self.assertEqual([r["token_hash"] for r in stored],
                         [secretHash(row["token"])])
        out = yield self.assertSucceeds("token", "list")
        self.assertNotIn(row["token"], out)
        self.assertIn("olga", out)
        out = yield self.assertSucceeds("token", "revoke", str(row["id"]))
        self.assertEqual(out, "token %d revoked\n" % row["id"])
        self.assertIsNone((yield accounts.byToken(row["token"])))
        yield self.assertFails("no live token %d" % row["id"],
                               "token", "revoke", str(row["id"]))
        yield self.assertFails("unknown account 'nobody'",
                               "token", "create", "nobody")
        audit = yield accounts.audit(limit=10)
        self.assertEqual([a.action for a in audit],
                         ["token revoke", "token create", "account add"])
        self.assertTrue(audit[0].actor.startswith("cli:"))
        self.assertTrue(audit[0].origin.startswith("cli@"))

    @defer.inlineCallbacks
    def test_builderRemoveKeepsHistory(self):
        yield self.assertFails(
            "builder bob is running build 8 (BUILDING); cancel it or wait "
            "before removing the builder", "builder", "remove", "bob")
        out = yield self.assertSucceeds("builder", "remove", "frog")
        self.assertEqual(out, "builder frog retired; its builds keep "
                         "naming it\n")
        frog = yield self.store.builders.getByName("frog")
        self.assertFalse(frog.active)
        yield self.assertFails("builder frog is retired already",
                               "builder", "remove", "frog")
        # bob's history stays when bob is retired after its build.
        bob = yield self.store.builders.getByName("bob")
        yield self.store.runOperation(
            "UPDATE buildqueue SET builder = NULL WHERE builder = %s",
            (bob.id,))
        yield self.assertSucceeds("builder", "remove", "bob")
        self.assertEqual((yield self.store.builds.get(1)).builder, bob.id)
        from lp_buildmaster.store.accounts import AccountStore
        audit = yield AccountStore(self.store).audit(builder=frog.id)
        self.assertEqual([a.action for a in audit], ["builder remove"])

    @defer.inlineCallbacks
    def test_rescoreBackToAutomatic(self):
        yield self.assertSucceeds("build", "rescore", "10", "5000")
        out = yield self.assertSucceeds("build", "rescore", "10", "--auto")
        self.assertEqual(out, "build 10 now has score 2225 (automatic)\n")
        entry = yield self.store.queue.getByBuild(10)
        self.assertEqual((entry.lastscore, entry.manual), (2225, False))
        out, err, code = yield self.admin("build", "rescore", "10")
        self.assertEqual(code, 2)
        self.assertIn("needs a SCORE or --auto", err)


class ChrootAndSourceCommandTests(AdminCommandTestCase):

    def makeTarball(self):
        """A small gzipped tarball holding one file; its path and bytes."""
        import io
        import tarfile
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            info = tarfile.TarInfo("chroot-autobuild/etc/hostname")
            info.size = 6
            tar.addfile(info, io.BytesIO(b"hoary\n"))
        path = Path(self.mktemp())
        path.write_bytes(buffer.getvalue())
        return path, buffer.getvalue()

    @defer.inlineCallbacks
    def test_chrootSetRefusesNonTarballs(self):
        """An empty file, a non-tarball, /etc/shadow or a directory is
        refused with one line, and nothing reaches the librarian."""
        empty = Path(self.mktemp())
        empty.write_bytes(b"")
        text = Path(self.mktemp())
        text.write_bytes(b"root:x:0:0\n" * 10)
        directory = Path(self.mktemp())
        directory.mkdir()
        emptyTar = Path(self.mktemp())
        import tarfile
        tarfile.open(emptyTar, "w").close()
        for path, message in [
                (empty, "is not a readable tarball"),
                (text, "is not a readable tarball"),
                (Path("/etc/shadow"), "is not a readable tarball"),
                (emptyTar, "is an empty tarball"),
                (directory, "is a directory, not a file")]:
            out, err, code = yield self.admin(
                "chroot", "set", "ubuntu", "hoary", "i386", str(path))
            self.assertEqual((out, code), ("", 1), path)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn(message, err)
        self.assertFalse((self.state_dir / "librarian").exists() and any(
            p.is_file() for p in (self.state_dir / "librarian").rglob("*")))

    @defer.inlineCallbacks
    def test_sourceAddRefusesBadNames(self):
        """A Source or Version with a slash, an invalid Debian version, a
        name against policy, an unknown component: refused at the door."""
        root = Path(self.mktemp())
        root.mkdir()
        dsc, tarball = writeSource(root, "hello", "2.10-1")
        original = dsc.read_text()
        for old, new, message in [
                ("Version: 2.10-1", "Version: evil/../../x",
                 "'evil/../../x' is not a valid Debian version"),
                ("Version: 2.10-1", "Version: cr.g7-37",
                 "'cr.g7-37' is not a valid Debian version"),
                ("Source: hello", "Source: evil/../../x",
                 "'evil/../../x' is not a source package name"),
                ("Source: hello", "Source: Foo_B\u00e4r",
                 "'Foo_B\u00e4r' is not a source package name")]:
            self.assertIn(old, original)
            dsc.write_text(original.replace(old, new))
            out, err, code = yield self.admin(
                "source", "add", "ubuntu", "hoary", str(dsc), str(tarball))
            self.assertEqual((out, code), ("", 1), new)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn(message, err)
        dsc.write_text(original)
        out, err, code = yield self.admin(
            "source", "add", "ubuntu", "hoary", "--component", "bogus",
            str(dsc), str(tarball))
        self.assertEqual(code, 1)
        self.assertIn("unknown component 'bogus'", err)
        self.assertIsNone(
            (yield self.store.sources.getByNameVersion("hello", "2.10-1")))

    @defer.inlineCallbacks
    def test_chrootSet(self):
        tarball, data = self.makeTarball()
        out = yield self.assertSucceeds(
            "chroot", "set", "ubuntu", "hoary", "i386", "--pocket",
            "security", str(tarball))
        dar = yield self.store.distro.getDistroArchRelease(
            "ubuntu", "hoary", "i386")
        chroot = yield self.store.distro.getChroot(
            dar.id, PackagePublishingPocket.SECURITY)
        alias = yield self.store.library.getAlias(chroot.chroot)
        self.assertEqual(out, "chroot of ubuntu hoary i386 SECURITY is now "
                         "%s (library file %d)\n" % (tarball.name, alias.id))
        sha1 = hashlib.sha1(data).hexdigest()
        self.assertEqual((alias.filename, alias.sha1, alias.filesize),
                         (tarball.name, sha1, len(data)))
        self.assertEqual(
            ContentStore(self.state_dir / "librarian").path(sha1)
            .read_bytes(), data)

        yield self.assertFails(
            "no such file: /nonexistent/chroot.tar.gz",
            "chroot", "set", "ubuntu", "hoary", "i386",
            "/nonexistent/chroot.tar.gz")
        yield self.assertFails(
            "ubuntu hoary has no architecture 'sparc'",
            "chroot", "set", "ubuntu", "hoary", "sparc", str(tarball))
        yield self.assertFails(
            "unknown pocket 'nowhere'; choose one of release, security, "
            "updates, proposed, backports",
            "chroot", "set", "ubuntu", "hoary", "i386", "--pocket",
            "nowhere", str(tarball))

    @defer.inlineCallbacks
    def test_sourceAddThenBuildRequest(self):
        root = Path(self.mktemp())
        root.mkdir()
        dsc, tarball = writeSource(root, "hello", "2.10-1")
        yield self.assertFails(
            "hello_2.10-1.dsc lists hello_2.10-1.tar.gz, which was not "
            "given", "source", "add", "ubuntu", "hoary", str(dsc))
        out = yield self.assertSucceeds(
            "--json", "source", "add", "ubuntu", "hoary", "--urgency",
            "high", "--component", "universe", str(dsc), str(tarball))
        row = json.loads(out)
        spr = yield self.store.sources.getByNameVersion("hello", "2.10-1")
        self.assertEqual((row["id"], row["name"], row["version"]),
                         (spr.id, "hello", "2.10-1"))
        self.assertEqual(
            (spr.component, spr.urgency, spr.maintainer,
             spr.architecturehintlist),
            ("universe", SourcePackageUrgency.HIGH, "Me <me@example.com>",
             "any"))
        files = yield self.store.sources.files(spr.id)
        self.assertEqual([t for _, t in files], ["dsc", "tarball"])
        aliases = yield self.store.library.getAliases([a for a, _ in files])
        content = ContentStore(self.state_dir / "librarian")
        for (alias_id, _), path in zip(files, [dsc, tarball]):
            alias = aliases[alias_id]
            self.assertEqual(alias.filename, path.name)
            self.assertEqual(content.path(alias.sha1).read_bytes(),
                             path.read_bytes())
        hoary = yield self.store.distro.getDistroRelease("ubuntu", "hoary")
        self.assertTrue((yield self.store.sources.isPublishedInPocket(
            spr.id, hoary.id, 1, PackagePublishingPocket.RELEASE)))
        yield self.assertFails(
            "source hello 2.10-1 exists already",
            "source", "add", "ubuntu", "hoary", str(dsc), str(tarball))
        yield self.assertFails(
            "unknown archive 'nope' of ubuntu",
            "source", "add", "ubuntu", "hoary", "--archive", "nope",
            str(dsc), str(tarball))

        out = yield self.assertSucceeds(
            "build", "request", "ubuntu", "hoary", "i386", "hello",
            "2.10-1")
        build_id = int(out)
        build = yield self.store.builds.get(build_id)
        entry = yield self.store.queue.getByBuild(build_id)
        self.assertEqual(
            (build.title, build.buildstate, entry.lastscore, entry.manual,
             entry.builder),
            ("i386 build of hello 2.10-1 in ubuntu hoary RELEASE",
             BuildStatus.NEEDSBUILD, 2000 + 200 + 75, False, None))
        yield self.assertFails(
            "build %d of hello 2.10-1 for i386 in ubuntu hoary RELEASE "
            "(archive primary) is NEEDSBUILD already" % build_id,
            "build", "request", "ubuntu", "hoary", "i386", "hello",
            "2.10-1")
        yield self.assertFails(
            "source hello 2.10-1 is not published in ubuntu hoary SECURITY "
            "(archive primary)",
            "build", "request", "ubuntu", "hoary", "i386", "hello",
            "2.10-1", "--pocket", "security")
        yield self.assertFails(
            "unknown source hello 9.9",
            "build", "request", "ubuntu", "hoary", "i386", "hello", "9.9")

    @defer.inlineCallbacks
    def test_buildRequestRefusesRunningDuplicate(self):
        # Build 8 (mozilla-firefox 0.9, hoary i386 RELEASE) is BUILDING.
        yield self.assertFails(
            "build 8 of mozilla-firefox 0.9 for i386 in ubuntu hoary "
            "RELEASE (archive primary) is BUILDING already",
            "build", "request", "ubuntu", "hoary", "i386",
            "mozilla-firefox", "0.9")
        yield self.assertFails(
            "unknown series 'breezy' of ubuntu",
            "build", "request", "ubuntu", "breezy", "i386", "pmount",
            "0.1-1")


class BuildCommandTests(AdminCommandTestCase):

    @defer.inlineCallbacks
    def test_numbersOutOfRangeAndBadDSN(self):
        """Numbers past their column's type and a DSN libpq cannot parse
        give a usage error or one line, never a traceback."""
        for args in [("build", "list", "--limit", "99999999999999999999"),
                     ("build", "rescore", "10", "2147483648"),
                     ("build", "show", "99999999999"),
                     ("build", "retry", "-1")]:
            out, err, code = yield self.admin(*args)
            self.assertEqual(code, 2, (args, err))
            self.assertNotIn("Traceback", err)
            self.assertIn("must be at", err)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("BUILDMASTER_")}
        out, err, code = yield utils.getProcessOutputAndValue(
            str(ADMIN), ("--database", "not a dsn", "build", "list"),
            env=env)
        self.assertEqual(code, 1)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn(b"not a PostgreSQL DSN", err)
        out, err, code = yield utils.getProcessOutputAndValue(
            str(ADMIN), ("--database", self.dsn, "build", "list"),
            env=dict(env, BUILDMASTER_MASTER_SCAN_INTERVALL="5"))
        self.assertEqual(code, 1)
        self.assertIn(b"unknown environment variable "
                      b"BUILDMASTER_MASTER_SCAN_INTERVALL", err)

    @defer.inlineCallbacks
    def test_showAndList(self):
        out = yield self.assertSucceeds("build", "show", "8", "--json")
        row = json.loads(out)
        self.assertEqual(
            (row["id"], row["state"], row["builder"], row["score"],
             row["title"]),
            (8, "BUILDING", "bob", 1000,
             "i386 build of mozilla-firefox 0.9 in ubuntu hoary RELEASE"))
        out = yield self.assertSucceeds("build", "show", "10")
        self.assertIn("state:         NEEDSBUILD\n", out)
        self.assertIn("score:         10\n", out)
        out = yield self.assertSucceeds(
            "--json", "build", "list", "--state", "fullybuilt", "--limit",
            "3")
        self.assertEqual([r["id"] for r in json.loads(out)], [9, 7, 6])
        out = yield self.assertSucceeds("build", "list", "--limit", "2")
        self.assertEqual(out.splitlines(), [
            "ID  TYPE           STATE       BUILDER  SCORE  TITLE",
            "10  binarypackage  NEEDSBUILD           10     i386 build of "
            "cnews cr.g7-37 in ubuntu hoary RELEASE",
            "9   binarypackage  FULLYBUILT  bob             i386 build of "
            "alsa-utils 1.0.9a-4 in ubuntu warty UPDATES"])
        yield self.assertFails(
            "unknown build state 'broken'; choose one of needsbuild, "
            "fullybuilt, failedtobuild, manualdepwait, chrootwait, "
            "superseded, building, failedtoupload, uploading, cancelling, "
            "cancelled", "build", "list", "--state", "broken")
        yield self.assertFails("unknown build 999", "build", "show", "999")
        out, err, code = yield self.admin("build", "show", "eight")
        self.assertEqual(code, 2)
        out, err, code = yield self.admin("build", "list", "--limit", "0")
        self.assertEqual(code, 2)

    @defer.inlineCallbacks
    def test_showGivesURLsReadableTimesAndISOJSON(self):
        log = yield self.store.library.addAlias(
            "a" * 40, "b" * 64, 10, "buildlog_9.txt.gz", "text/plain")
        upload_log = yield self.store.library.addAlias(
            "c" * 40, "d" * 64, 10, "uploader.log", "text/plain")
        built = datetime.datetime(2026, 11, 29, 4, 10, 34, 960698,
                                  tzinfo=datetime.timezone.utc)
        yield self.store.builds.update(
            9, buildlog=log, upload_log=upload_log, datebuilt=built,
            buildduration=datetime.timedelta(hours=1, seconds=29.960698))
        out = yield self.assertSucceeds("build", "show", "9")
        self.assertIn("buildlog:      http://127.0.0.1:8011/%d/"
                      "buildlog_9.txt.gz\n" % log, out)
        self.assertIn("upload_log:    http://127.0.0.1:8011/%d/"
                      "uploader.log\n" % upload_log, out)
        self.assertIn("buildduration: 1:00:29\n", out)
        self.assertIn("datebuilt:     2026-11-29 04:10:34 UTC\n", out)
        row = json.loads((yield self.assertSucceeds(
            "build", "show", "9", "--json")))
        self.assertEqual(
            (row["datebuilt"], row["buildduration"], row["buildlog"]),
            ("2026-11-29T04:10:34+00:00", 3629.960698,
             "http://127.0.0.1:8011/%d/buildlog_9.txt.gz" % log))

    @defer.inlineCallbacks
    def test_rescoreCancelRetry(self):
        out = yield self.assertSucceeds("build", "rescore", "10", "5000")
        self.assertEqual(out, "build 10 now has score 5000\n")
        entry = yield self.store.queue.getByBuild(10)
        self.assertEqual((entry.lastscore, entry.manual), (5000, True))
        yield self.assertFails(
            "build 8 is not waiting in the queue (it is BUILDING)",
            "build", "rescore", "8", "1")

        out = yield self.assertSucceeds("build", "cancel", "10")
        self.assertEqual(out, "build 10 is CANCELLED\n")
        self.assertEqual((yield self.store.builds.get(10)).buildstate,
                         BuildStatus.CANCELLED)
        self.assertIsNone((yield self.store.queue.getByBuild(10)))
        out = yield self.assertSucceeds("build", "cancel", "8")
        self.assertEqual(out, "build 8 is CANCELLING: the scanner aborts "
                         "it on its builder\n")
        self.assertEqual((yield self.store.builds.get(8)).buildstate,
                         BuildStatus.CANCELLING)
        # The running job stays until the scanner has aborted it.
        self.assertIsNotNone((yield self.store.queue.getByBuild(8)))
        yield self.assertFails(
            "build 1 is FULLYBUILT; only NEEDSBUILD and BUILDING builds "
            "can be cancelled", "build", "cancel", "1")

        # Build 3 is FAILEDTOBUILD; the cancelled build 10 may come back.
        yield self.store.builds.update(3, failure_count=2)
        for build_id in (3, 10):
            out = yield self.assertSucceeds("build", "retry", str(build_id))
            self.assertEqual(out, "build %d is NEEDSBUILD again\n"
                             % build_id)
        three = yield self.store.builds.get(3)
        self.assertEqual(
            (three.buildstate, three.failure_count, three.builder,
             three.datebuilt),
            (BuildStatus.NEEDSBUILD, 0, None, None))
        entry = yield self.store.queue.getByBuild(3)
        self.assertEqual((entry.lastscore, entry.manual, entry.builder),
                         (2625 + 50, False, None))  # main, high urgency
        entry = yield self.store.queue.getByBuild(10)
        self.assertEqual((entry.lastscore, entry.manual), (2225, False))
        yield self.assertFails(
            "build 1 is FULLYBUILT; only FAILEDTOBUILD, MANUALDEPWAIT, "
            "CHROOTWAIT, FAILEDTOUPLOAD, CANCELLED builds can be retried",
            "build", "retry", "1")
        yield self.assertFails("unknown build 999", "build", "retry", "999")


class WhyAndWatchCommandTests(AdminCommandTestCase):

    @defer.inlineCallbacks
    def test_why(self):
        # Build 10 waits behind bob's build 8; frog is manual; hoary i386
        # has no chroot in the sample data.
        out = yield self.assertSucceeds("--json", "why", "10")
        row = json.loads(out)
        self.assertEqual(
            (row["build"], row["state"], row["queue_position"],
             row["queue_length"], [r["code"] for r in row["reasons"]]),
            (10, "NEEDSBUILD", 1, 1, ["no-chroot", "busy"]))
        # No chroot: it cannot start, so no estimate says it soon will.
        self.assertIsNone(row["estimated_start"])
        self.assertIn("no estimate until the above is resolved",
                      row["reasons"][1]["message"])
        self.assertNotIn("any moment now", out)
        out = yield self.assertSucceeds("why", "8")
        self.assertEqual(out, "build 8: BUILDING\n  - build 8 is BUILDING "
                         "(Currently building), not waiting to be built\n")
        yield self.assertFails("unknown build 999", "why", "999")

    @defer.inlineCallbacks
    def test_whyReadsTheDatabase(self):
        bob = yield self.store.builders.getByName("bob")
        yield self.store.builders.failBuilder(bob.id, "disk full")
        yield self.store.runOperation(
            "UPDATE sourcepackagepublishinghistory SET status = 3"
            " WHERE sourcepackagerelease = %s", (
                (yield self.store.builds.get(10)).sourcepackagerelease,))
        out = yield self.assertSucceeds("why", "10")
        self.assertEqual(out.splitlines(), [
            "build 10: NEEDSBUILD",
            "  - no non-virtualized x86 builder takes jobs: bob has failed "
            "(disk full); frog is in manual mode",
            "  - there is no chroot for ubuntu hoary i386 in pocket RELEASE",
            "  - source cnews cr.g7-37 is no longer published in ubuntu "
            "hoary (archive primary): the build will be marked SUPERSEDED "
            "instead of dispatched"])

    @defer.inlineCallbacks
    def test_watchOnce(self):
        out = yield self.assertSucceeds("watch", "--once")
        self.assertNotIn("\x1b", out)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("lp-buildmaster at "))
        self.assertEqual(lines[2:], [
            "BUILDER  PROCESSOR  STATE     MODE    BUILD"
            "                                                        "
            "FAILNOTES",
            "bob      x86        building  auto    8 i386 build of "
            "mozilla-firefox 0.9 in ubuntu hoary RELEASE",
            "frog     x86        manual    manual",
            "",
            "POS  BUILD  SCORE  PROCESSOR  TITLE",
            "1    10     10     x86        i386 build of cnews cr.g7-37 in "
            "ubuntu hoary RELEASE"])
        out = yield self.assertSucceeds("--json", "watch", "--once")
        snapshot = json.loads(out)
        self.assertEqual([(b["name"], b["build"])
                          for b in snapshot["builders"]],
                         [("bob", 8), ("frog", None)])
        self.assertEqual(snapshot["queue"], [{
            "position": 1, "build": 10, "score": 10, "manual": False,
            "processor": "x86",
            "title": "i386 build of cnews cr.g7-37 in ubuntu hoary "
                     "RELEASE"}])

    @defer.inlineCallbacks
    def test_watchJSONStreamsOneDocumentPerLine(self):
        """Without --once, --json writes a JSON document per line and no
        terminal escapes; the test stops it after three frames."""
        lines = []
        done = defer.Deferred()

        class Reader(protocol.ProcessProtocol):
            buffer = b""

            def outReceived(self, data):
                self.buffer += data
                while b"\n" in self.buffer and len(lines) < 3:
                    line, self.buffer = self.buffer.split(b"\n", 1)
                    lines.append(line)
                    if len(lines) == 3:
                        self.transport.signalProcess("TERM")

            def processEnded(self, reason):
                done.callback(None)

        env = {k: v for k, v in os.environ.items()
               if not k.startswith("BUILDMASTER_")}
        from twisted.internet import reactor
        reactor.spawnProcess(
            Reader(), str(ADMIN), [str(ADMIN), "--database", self.dsn,
                                   "--state-dir", str(self.state_dir),
                                   "--json", "watch", "--interval", "0.05"],
            env=env)
        yield done
        self.assertEqual(len(lines), 3)
        for line in lines:
            self.assertNotIn(b"\x1b", line)
            frame = json.loads(line)
            self.assertEqual([b["name"] for b in frame["builders"]],
                             ["bob", "frog"])
            self.assertRegex(frame["time"],
                             r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")

    @defer.inlineCallbacks
    def test_processUploadWithNothingToDo(self):
        yield self.assertSucceeds("process-upload")

    @defer.inlineCallbacks
    def test_usage(self):
        out, err, code = yield self.admin()
        self.assertEqual(code, 2)
        self.assertIn("usage: buildmaster-admin", err)
        out, err, code = yield self.admin("build")
        self.assertEqual(code, 2)
