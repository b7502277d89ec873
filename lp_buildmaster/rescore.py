"""Periodic automatic rescoring, as Launchpad's periodic rescoring did.

A job given back drops to score 0 (the seed's step), behind every new
job; the next pass gives it its computed score again. Scores set by hand
(C{build rescore}) are kept. One statement reads the waiting entries not
scored by hand; only changed scores are written.
"""

import logging

from lp_buildmaster.periodic import PeriodicService


class Rescorer(PeriodicService):
    """Runs C{store.queue.rescoreAll()} every C{interval} seconds (and at
    start); a failed pass is logged once and the next one tries again."""

    name = "rescorer"

    def __init__(self, store, clock=None, interval=300.0, logger=None):
        PeriodicService.__init__(self, clock, interval)
        self.store = store
        self.logger = logger or logging.getLogger("lp_buildmaster.rescore")

    def run(self):
        d = self.store.queue.rescoreAll()

        def done(changed):
            if changed:
                self.logger.info("Rescored %d waiting builds", len(changed))
            return changed

        def failed(failure):
            self.logger.error("Automatic rescoring failed: %s",
                              failure.getErrorMessage())
            return {}
        return d.addCallbacks(done, failed)
