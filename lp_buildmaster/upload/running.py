"""Where uploads meet the rest of the master: the scanner's hand-over
(L{BuildUploads}) and C{buildmaster-admin process-upload}
(L{runProcessUpload})."""

from pathlib import Path

from twisted.internet import defer
from twisted.logger import Logger

from lp_buildmaster.upload.area import FAILED, OUTCOME_STATES, UploadArea
from lp_buildmaster.upload.processor import UploadProcessor


@defer.inlineCallbacks
def runProcessUpload(dsn, upload_root, librarian_root, log=None):
    """Process the upload area once, as C{buildmaster-admin process-upload}.

    For L{twisted.internet.task.react}: C{react(lambda reactor:
    runProcessUpload(dsn, root, librarian_root).addCallback(sys.exit))}.

    @return: a Deferred firing with the exit code: 0 when every upload was
        accepted or rejected, 1 when one failed or the database could not be
        reached.
    """
    from lp_buildmaster.librarian.client import LibrarianClient
    from lp_buildmaster.librarian.storage import ContentStore
    from lp_buildmaster.store import Store
    log = log or Logger(namespace="lp_buildmaster.upload")
    try:
        store = yield Store.connect(dsn, size=1)
    except Exception as e:
        log.error("process-upload: cannot connect to the database: {e}", e=e)
        return 1
    try:
        librarian = LibrarianClient(
            store, ContentStore(librarian_root), "", b"")
        results = yield UploadProcessor(
            store, librarian, UploadArea(upload_root), log).processIncoming()
    finally:
        store.close()
    for leaf, outcome in results:
        log.info("process-upload: {leaf} {outcome}", leaf=leaf,
                 outcome=outcome)
    return 1 if any(o == FAILED for _, o in results) else 0


class BuildUploads:
    """Where the scanner hands an OK build's files: grabbed into
    incoming/, then processed at once when the master processes uploads
    itself, else left for C{buildmaster-admin process-upload}."""

    def __init__(self, area, processor=None, clock=None):
        self.area = area
        self.processor = processor
        self.clock = clock

    def grab(self, slave, filemap, cookie, naming=None):
        """Fires with the leaf's path in incoming/, named by
        C{naming(cookie, now)} (the build's behaviour's
        C{getUploadDirLeaf})."""
        return self.area.grab(slave, filemap, cookie, self.clock,
                              naming=naming)

    def processLeaf(self, leaf):
        """Fires with the build's new state, or None when not processed."""
        if self.processor is None:
            return defer.succeed(None)
        d = self.processor.processLeaf(Path(leaf).name)
        d.addCallback(lambda outcome: OUTCOME_STATES.get(outcome))
        return d
