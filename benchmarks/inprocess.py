"""The master's machinery in a benchmark's own process, and timing it.

L{Master} builds what C{twistd -n buildmaster} scans and collects with
(no dispatcher); L{instrument} stamps every scan of every builder;
L{timed} times each call of a method.
"""

import logging
import time
from pathlib import Path

import common


class Master:
    """The master's scanning and collection machinery in this process, on
    the real reactor, as C{twistd} runs it without a dispatcher: a
    L{ScannerManager} over a L{BuilderGroup} with L{BuilderSlave}s sharing
    one pool; with C{directory}, also a L{LibrarianClient} over a
    L{ContentStore} and L{BuildUploads} processing uploads there.

    Log records of the scanner and the group are counted
    (C{log_counter}), not printed.
    """

    def __init__(self, reactor, store, interval, directory=None,
                 downloads=16, timeout=30.0, owner=None, keep=10,
                 keepalive=False):
        import lp_buildmaster.components  # noqa: F401 (the adapters)
        from lp_buildmaster.buildergroup import BuilderGroup
        from lp_buildmaster.scanner import ScannerManager
        from lp_buildmaster.slave import BuilderSlave, makePool
        self.store = store
        self.librarian = uploads = None
        if directory is not None:
            from lp_buildmaster.librarian.client import LibrarianClient
            from lp_buildmaster.librarian.storage import ContentStore
            from lp_buildmaster.upload import (
                BuildUploads, UploadArea, UploadProcessor)
            self.librarian = LibrarianClient(
                store, ContentStore(Path(directory) / "librarian"),
                "http://127.0.0.1:1/", b"bench", clock=reactor)
            area = UploadArea(Path(directory) / "uploads")
            area.ensure()
            uploads = BuildUploads(
                area, UploadProcessor(store, self.librarian, area), reactor)
        self.log_counter = common.CountingHandler(keep=keep)
        for name in ("lp_buildmaster.scanner", "lp_buildmaster.buildergroup"):
            logger = logging.getLogger(name)
            logger.addHandler(self.log_counter)
            logger.setLevel(logging.INFO)
            logger.propagate = False
        self.group = BuilderGroup(
            logging.getLogger("lp_buildmaster.buildergroup"), store,
            librarian=self.librarian, uploads=uploads, clock=reactor)
        self.pool = makePool(reactor, maxDownloads=downloads)

        def slaveFor(builder):
            return BuilderSlave(builder.name, builder.url, reactor=reactor,
                                pool=self.pool, timeout=timeout,
                                keepalive=keepalive)
        self.manager = ScannerManager(
            store, self.group, slaveFor, clock=reactor, interval=interval,
            logger=logging.getLogger("lp_buildmaster.scanner"), owner=owner)

    def start(self):
        self.manager.startService()

    def stop(self):
        """Fires once every scan has ended and the pool is closed."""
        from twisted.internet import defer
        d = defer.maybeDeferred(self.manager.stopService)
        d.addCallback(lambda _: self.pool.closeCachedConnections())
        return d


def instrument(clock, stamps, state):
    """Record C{(start, end)} of every scan of every builder, and how many
    are in flight, around L{SlaveScanner.scan}."""
    from lp_buildmaster.scanner import SlaveScanner
    original = SlaveScanner.scan

    def scan(self):
        if self._inflight is not None:
            return original(self)
        state["inflight"] += 1
        start = clock.seconds()
        d = original(self)

        def done(result, name=self.name):
            state["inflight"] -= 1
            stamps[name].append((start, clock.seconds()))
            return result
        d.addBoth(done)
        return d
    SlaveScanner.scan = scan
    return original


def recordCollections(group, now, collecting, collected, onCollected=None):
    """Wrap C{group.updateBuild} to stamp, by builder name and with
    C{now()}, when each collection starts (the first scan finding its
    builder WAITING: C{collecting}) and when it ends (C{collected});
    C{onCollected()} is called after each end."""
    update = group.updateBuild

    def updateBuild(job, librarian=None, status=None):
        name = job.builder.name
        waiting = (status is not None and status.builder_status
                   == "BuilderStatus.WAITING")
        if waiting:
            collecting.setdefault(name, now())
        d = update(job, librarian, status)

        def ended(result):
            if waiting:
                collected[name] = now()
                if onCollected is not None:
                    onCollected()
            return result
        return d.addBoth(ended)
    group.updateBuild = updateBuild


def timed(owner, name, durations):
    """Replace C{owner.name}, a method returning a Deferred, with one
    that appends each call's wall time (seconds) to C{durations}."""
    from twisted.internet import defer
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        started = time.monotonic()
        d = defer.maybeDeferred(original, *args, **kwargs)

        def done(result):
            durations.append(time.monotonic() - started)
            return result
        return d.addBoth(done)
    setattr(owner, name, wrapper)
