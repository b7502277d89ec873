"""An in-memory store for logic tests, as Buildbot's fakedb backs its.

L{FakeStore} provides L{IStore} and each component's interface with the
semantics the scanner, the dispatcher, the failure judge, dependency waits
and C{why} rely on: build and queue states, a queue entry held by at most
one builder, reservations and starts, candidate selection (score
descending, then id; archive enabled; pocket allowed by the series'
status; chroot present; unpublished sources superseded on the way),
failure counts, guarded transitions that answer False when the state they
expect is gone. Tables are dicts of rows (plain dicts with the schema's
columns, enumerations as integers), so C{fromRow} makes the same records
as the real store does.

What it does not reproduce stays on PostgreSQL: SQL itself (prepared
statements, row locks between concurrent transactions, SKIP LOCKED,
LISTEN/NOTIFY and the triggers behind instant dispatch, a connection
lost mid-transaction), the views of the web pages and the API, and the
accounts. Masters' leases and heartbeats are kept, on the fake's clock,
but several masters racing for one builder are tested on PostgreSQL.
tests/test_store_contract*.py run the same checks of the core operations
against both stores, so that the fake cannot drift from the real one.

Every method answers with an already-fired Deferred: the code under test
yields as it does on the real store.

The rows and the sample data are in L{faketables}; the components in
L{fakebuilds} (builders, builds, queue, job types), L{fakecatalog} (library, distro,
sources), L{fakejobs} (jobs, dispatch, binaries, scans) and L{fakeworld} (world,
masters), each beside the real component it mirrors.
"""

import datetime

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.interfaces import IStore
from lp_buildmaster.testing import fakejobs, fakeworld
from lp_buildmaster.testing.fakebuilds import (
    FakeBuilderStore, FakeBuildQueueStore, FakeBuildStore, FakeJobTypeStore)
from lp_buildmaster.testing.fakecatalog import (
    FakeDistroStore, FakeLibraryStore, FakeSourceStore)
from lp_buildmaster.testing.faketables import UTC, Tables, loadSampleData

__all__ = ["FakeStore", "Tables", "loadSampleData"]


@implementer(IStore)
class FakeStore:
    """The store in memory, with the seed's sample data unless
    C{sample=False}.

    @param clock: what C{now()} reads (an C{IReactorTime}); the wall
        clock by default.
    @param tables: the rows of another fake store to share (see
        L{connection}).
    """

    def __init__(self, sample=True, clock=None, tables=None):
        self.clock = clock
        #: Shared with the stores of L{connection}.
        self.tables = tables if tables is not None else Tables(self.now)
        #: Always 0: the fake sends no statements (the real store counts
        #: them for benchmarks and metrics).
        self.statements = 0
        self.closed = False
        #: What L{ping} answers: a test may take the database away.
        self.available = True
        self.builders = FakeBuilderStore(self)
        self.builds = FakeBuildStore(self)
        self.queue = FakeBuildQueueStore(self)
        self.library = FakeLibraryStore(self)
        self.distro = FakeDistroStore(self)
        self.sources = FakeSourceStore(self)
        self.jobs = fakejobs.FakeJobStore(self)
        self.dispatch = fakejobs.FakeDispatchStore(self)
        self.binaries = fakejobs.FakeBinaryStore(self)
        self.world = fakeworld.FakeWorldStore(self)
        self.masters = fakeworld.FakeMasterStore(self)
        self.jobtypes = FakeJobTypeStore(self)
        self.scans = fakejobs.FakeScanTimeStore(self)
        if sample and tables is None:
            loadSampleData(self.tables)

    def connection(self):
        """Another store on the same rows, as a second connection to one
        database is (for several masters in one test): its components are
        its own, so that a test may break one master's."""
        return FakeStore(clock=self.clock, tables=self.tables)

    def now(self):
        if self.clock is None:
            return datetime.datetime.now(UTC)
        return datetime.datetime.fromtimestamp(self.clock.seconds(), UTC)

    def ping(self):
        return defer.succeed(self.available)

    def close(self):
        self.closed = True


