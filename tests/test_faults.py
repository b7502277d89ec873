"""The fault suite, small: benchmarks/faults.py as a subprocess, each fault
once (the embedded PostgreSQL restarted, connections killed, connections
refused), with nothing lost, stuck, wrongly failed or wrongly disabled,
dispatch back within one interval and no traceback logged."""

import json
import os
import sys
from pathlib import Path

from twisted.internet import defer, utils
from twisted.trial import unittest

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "faults.py"


class FaultSuiteTests(unittest.TestCase):

    timeout = 900

    @defer.inlineCallbacks
    def test_smallRun(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("BUILDMASTER_")}
        out, err, code = yield utils.getProcessOutputAndValue(
            sys.executable,
            (str(BENCHMARK), "--builders", "3", "--interval", "5",
             "--rounds", "1", "--gap", "8", "--outage", "5",
             "--warmup", "8", "--drain", "90"), env=env)
        result = json.loads(out)
        self.assertEqual(code, 0, (result, err[-2000:]))
        self.assertEqual(dict(result["faults_run"]),
                         {"restart": 1, "terminate": 1, "refuse": 1})
        self.assertGreater(result["builds"]["total"], 0)
        self.assertEqual(
            (result["lost"], result["stuck"], result["wrongly_failed"],
             result["builders_wrongly_disabled"], result["tracebacks"]),
            (0, 0, 0, 0, 0), result)
        self.assertEqual(result["builds"]["states"],
                         {"FULLYBUILT": result["builds"]["total"]})
        self.assertLessEqual(result["dispatch_resume_s"]["max"], 5)
        self.assertTrue(result["meets_target"])
