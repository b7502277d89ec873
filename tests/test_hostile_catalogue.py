"""The hostile-builder catalogue (tests/hostile.py, tests/hostile_builders.py):
every hostile case of issue 12, and every case that held before it, against
a master beside a well-behaved builder on loopback. Each asserts that only
the offender is failed, within the thresholds; that the well-behaved
builder keeps its scan rate; that the master's RSS grows by less than
64 MB; that no reactor stall exceeds 1 s; and that no traceback is logged.
The slow-drip cases also assert that the offender's download is abandoned
by its deadline (or, disabled, at the next refresh) and that another
builder's collection waits no longer."""

from twisted.internet import defer

from tests.database import DatabaseTestCase
from tests.hostile import catalogue, runCase

INTERVALS = 8


class HostileCatalogueTests(DatabaseTestCase):

    timeout = 300

    @defer.inlineCallbacks
    def assertContained(self, case):
        result = yield runCase(self.store, case, intervals=INTERVALS)
        self.assertEqual(result["problems"], [], result)
        self.assertGreaterEqual(result["good_scans_per_interval"],
                                (INTERVALS - 1) / INTERVALS, result)
        self.assertLess(result["rss_growth_mb"], 64, result)
        self.assertLess(result["longest_stall_s"], 1.0, result)
        self.assertEqual(result["tracebacks"], 0, result)


def _makeTest(case):
    def test(self):
        return self.assertContained(case)
    test.__name__ = "test_" + case.name.replace("-", "_")
    test.__doc__ = "Hostile builder: %s%s." % (
        case.name, " (held before issue 12)" if case.held else "")
    return test


for _case in catalogue():
    setattr(HostileCatalogueTests, "test_" + _case.name.replace("-", "_"),
            _makeTest(_case))
del _case
