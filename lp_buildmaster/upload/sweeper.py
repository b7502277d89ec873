"""L{UploadSweeper}: the master's periodic processing of its upload area."""

from twisted.internet import defer
from twisted.logger import Logger

from lp_buildmaster import failures
from lp_buildmaster.periodic import PeriodicService

log = Logger(namespace="lp_buildmaster.service")


class UploadSweeper(PeriodicService):
    """Processes the uploads waiting in incoming/ (left by a restart,
    postponed by a failure of our own side, or from a master that does not
    process them itself) every 10 s, each postponed leaf with its own
    backoff; at start and every 5 minutes it first matches the UPLOADING
    builds against the leaves (L{UploadProcessor.reconcile}). Paused while
    the database is away."""

    def __init__(self, processor, clock, interval=10.0, database=None,
                 reconcile_every=30, retention=7 * 24 * 3600.0):
        PeriodicService.__init__(self, clock, interval)
        self.processor = processor
        self.retention = retention
        self.database = database
        self.reconcile_every = reconcile_every
        self.runs = 0
        self._errors = failures.OncePerChange()

    def run(self):
        if self.database is not None and not self.database.available:
            return None
        d = defer.succeed(None)
        if self.runs % self.reconcile_every == 0:
            d.addCallback(lambda _: self.processor.reconcile())
            # Finished leaves past the retention, their content stored.
            d.addCallback(lambda _: self.processor.expire(self.retention))
        self.runs += 1
        d.addCallback(lambda _: self.processor.processIncoming())
        d.addCallbacks(self._worked, self._failed)
        return d

    def _worked(self, result):
        self._errors.clear("sweep")
        return result

    def _failed(self, f):
        if self.database is not None and self.database.check(f):
            return None
        if self._errors.first("sweep", failures.signature(f)):
            log.error("upload processing failed: {error}; tried again in "
                      "{interval} s", error=failures.describe(f),
                      interval=self.interval)
        return None
