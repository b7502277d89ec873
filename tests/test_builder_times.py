"""How long a builder has been in its state, and when it was last
scanned: the database's triggers, the scanners' batched writes, and the
builder page and API that show them."""

import datetime
import types

from twisted.internet import defer, task

from lp_buildmaster.scantimes import ScanTimes
from lp_buildmaster.web.present import Farm
from lp_buildmaster.web.views import builderHTML
from tests.database import DatabaseTestCase
from tests.test_web import NOW, testConfig

LONG_AGO = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)


class StateSinceTests(DatabaseTestCase):
    """C{builder.state_since} moves with the transaction that changes the
    builder's state, and only then."""

    @defer.inlineCallbacks
    def since(self, name):
        rows = yield self.store.runQuery(
            "SELECT state_since, now() AS now FROM builder WHERE name = %s",
            (name,))
        return rows[0]["state_since"]

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        yield self.store.runOperation(
            "UPDATE builder SET state_since = %s", (LONG_AGO,))

    @defer.inlineCallbacks
    def test_failing_enabling_and_mode_move_it(self):
        frog = yield self.store.builders.getByName("frog")
        for values in ({"builderok": False}, {"builderok": True},
                       {"manual": False}, {"active": False}):
            yield self.store.runOperation(
                "UPDATE builder SET state_since = %s", (LONG_AGO,))
            yield self.store.builders.update(frog.id, **values)
            self.assertGreater((yield self.since("frog")), LONG_AGO, values)

    @defer.inlineCallbacks
    def test_other_changes_leave_it(self):
        frog = yield self.store.builders.getByName("frog")
        yield self.store.builders.update(frog.id, failnotes="a note",
                                         builderok=frog.builderok)
        yield self.store.runOperation(
            "UPDATE builder SET last_scanned = now(), failure_count = 2")
        self.assertEqual((yield self.since("frog")), LONG_AGO)
        self.assertEqual((yield self.since("bob")), LONG_AGO)

    @defer.inlineCallbacks
    def test_taking_and_losing_a_job_move_it(self):
        # bob runs build 8 (queue entry 1); frog takes build 10's entry.
        frog = yield self.store.builders.getByName("frog")
        yield self.store.runOperation(
            "UPDATE buildqueue SET builder = %s WHERE build = 10",
            (frog.id,))
        self.assertGreater((yield self.since("frog")), LONG_AGO)
        self.assertEqual((yield self.since("bob")), LONG_AGO)
        yield self.store.runOperation(
            "DELETE FROM buildqueue WHERE build = 8")
        self.assertGreater((yield self.since("bob")), LONG_AGO)
        yield self.store.runOperation(
            "UPDATE builder SET state_since = %s", (LONG_AGO,))
        yield self.store.runOperation(
            "UPDATE buildqueue SET lastscore = 5 WHERE build = 10")
        self.assertEqual((yield self.since("frog")), LONG_AGO)


def scanner(builder_id, last_scan):
    return types.SimpleNamespace(
        builder=types.SimpleNamespace(
            record=types.SimpleNamespace(id=builder_id)),
        last_scan=last_scan)


class ScanTimesTests(DatabaseTestCase):
    """The scanners' last scans reach the database in one statement a
    minute at most, whatever the number of builders."""

    @defer.inlineCallbacks
    def scanned(self):
        rows = yield self.store.runQuery(
            "SELECT name, last_scanned FROM builder ORDER BY name")
        return {row["name"]: row["last_scanned"] for row in rows}

    @defer.inlineCallbacks
    def test_batched_and_throttled(self):
        clock = task.Clock()
        clock.advance(NOW.timestamp())
        bob = (yield self.store.builders.getByName("bob")).id
        frog = (yield self.store.builders.getByName("frog")).id
        times = ScanTimes(self.store, clock)
        scanners = [scanner(bob, clock.seconds()),
                    scanner(frog, clock.seconds() - 5), scanner(99, None)]
        yield times.flush(scanners)
        self.assertEqual((yield self.scanned()), {
            "bob": NOW, "frog": NOW - datetime.timedelta(seconds=5)})
        self.assertEqual(times.flushes, 1)
        # Scanned again 15 s later: nothing written before a minute.
        clock.advance(15)
        scanners[0].last_scan = scanners[1].last_scan = clock.seconds()
        yield times.flush(scanners)
        self.assertEqual(times.flushes, 1)
        clock.advance(50)
        scanners[0].last_scan = clock.seconds()
        yield times.flush(scanners)
        self.assertEqual(times.flushes, 2)
        seen = yield self.scanned()
        # bob's scan moved by a minute and more; frog's last one only by
        # 20 s since it was written: kept for the next flush.
        self.assertEqual(seen["bob"], NOW + datetime.timedelta(seconds=65))
        self.assertEqual(seen["frog"], NOW - datetime.timedelta(seconds=5))

    @defer.inlineCallbacks
    def test_a_later_time_is_never_replaced_by_an_earlier_one(self):
        clock = task.Clock()
        clock.advance(NOW.timestamp())
        bob = (yield self.store.builders.getByName("bob")).id
        yield ScanTimes(self.store, clock).flush([scanner(bob, NOW.timestamp())])
        yield ScanTimes(self.store, clock).flush(
            [scanner(bob, NOW.timestamp() - 100)])
        self.assertEqual((yield self.scanned())["bob"], NOW)

    @defer.inlineCallbacks
    def test_a_failed_flush_is_tried_again(self):
        clock = task.Clock()
        clock.advance(NOW.timestamp())
        bob = (yield self.store.builders.getByName("bob")).id
        times = ScanTimes(self.store, clock)
        real = times.writer.markScanned
        times.writer.markScanned = lambda times: defer.fail(
            RuntimeError("database away"))
        yield times.flush([scanner(bob, NOW.timestamp())])
        times.writer.markScanned = real
        clock.advance(1)
        yield times.flush([scanner(bob, NOW.timestamp())])
        self.assertEqual((yield self.scanned())["bob"], NOW)

    def test_a_store_without_sql_records_nothing(self):
        times = ScanTimes(object(), task.Clock())
        self.assertIsNone(times.writer)
        self.successResultOf(times.flush([scanner(1, 0.0)]))


class ShownTests(DatabaseTestCase):
    """The builder page and the API show both; the master holding a
    builder gives its exact last scan."""

    @defer.inlineCallbacks
    def test_page_and_api(self):
        clock = task.Clock()
        clock.advance(NOW.timestamp())
        since = NOW - datetime.timedelta(hours=2, minutes=3, seconds=4)
        yield self.store.runOperation(
            "UPDATE builder SET state_since = %s, last_scanned = %s"
            " WHERE name = 'frog'",
            (since, NOW - datetime.timedelta(seconds=40)))
        master = types.SimpleNamespace(
            lastScan=lambda name: NOW.timestamp() - 3 if name == "frog"
            else None)
        farm = Farm(self.store, testConfig(master_state_dir=self.mktemp()),
                    clock=clock)
        frog, = yield farm.builders("frog")
        self.assertEqual(frog["state_since"], since)
        self.assertEqual(frog["time_in_state"],
                         datetime.timedelta(hours=2, minutes=3, seconds=4))
        self.assertEqual(frog["last_scanned"],
                         NOW - datetime.timedelta(seconds=40))
        farm.master = master
        frog, = yield farm.builders("frog")
        self.assertEqual(frog["last_scanned"],
                         NOW - datetime.timedelta(seconds=3))
        page = builderHTML(frog, [], 0, 25).decode("utf-8")
        self.assertIn('<span id="in-state">2:03:04</span>', page)
        self.assertIn('<span id="last-scan">2026-01-02 03:04:02 UTC</span>',
                      page)
        bob, = yield farm.builders("bob")
        self.assertIsNone(bob["last_scanned"])
        page = builderHTML(bob, [], 0, 25).decode("utf-8")
        self.assertIn('<span id="last-scan">never</span>', page)
