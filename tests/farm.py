"""Setting up builders and jobs in a test's store: the real one
(L{tests.database.DatabaseTestCase}) or the fake (L{FakeStoreTestCase})."""

import datetime
import logging
from pathlib import Path

from twisted.internet import defer
from twisted.trial import unittest

from lp_buildmaster.buildergroup import BuilderGroup
from lp_buildmaster.enums import (
    BuildStatus, PackagePublishingPocket, PackagePublishingStatus)
from lp_buildmaster.notify import NOTIFY_STATES
from lp_buildmaster.store import sampledata
from lp_buildmaster.testing.fakestore import FakeStore


class LogCapture(logging.Handler):
    """Records stdlib log lines as the seed's doctest prints them:
    C{LEVEL:logger:message}."""

    def __init__(self, logger):
        super().__init__(logging.DEBUG)
        self.lines = []
        self.logger = logger
        self.level_before = logger.level
        logger.addHandler(self)
        logger.setLevel(logging.DEBUG)

    def emit(self, record):
        self.lines.append("%s:%s:%s" % (
            record.levelname, record.name, record.getMessage()))

    def close(self):
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level_before)
        super().close()

    def matching(self, level):
        return [line for line in self.lines if line.startswith(level + ":")]


def captureLogs(testcase, name=None):
    """Capture the stdlib logger C{name} (root by default) for a test."""
    capture = LogCapture(logging.getLogger(name))
    testcase.addCleanup(capture.close)
    return capture


@defer.inlineCallbacks
def addBuilder(store, name, processor="x86", **kwargs):
    proc = yield store.distro.getProcessor(processor)
    builder_id = yield store.builders.add(
        name, "http://127.0.0.1:9/%s/" % name.replace(" ", "-"), proc.id,
        **kwargs)
    return builder_id


@defer.inlineCallbacks
def addBuild(store, series="hoary", arch="i386", source_build=7,
             pocket=PackagePublishingPocket.RELEASE, score=0):
    """A NEEDSBUILD build of the same source as C{source_build}, queued.

    @return: C{(build_id, queue_id)}.
    """
    dar = yield store.distro.getDistroArchRelease("ubuntu", series, arch)
    template = yield store.builds.get(source_build)
    build_id = yield store.builds.create(
        dar.id, template.sourcepackagerelease, template.archive, pocket)
    queue_id = yield store.queue.enqueue(build_id, score)
    return build_id, queue_id


#: When the jobs L{startJob} puts on builders started.
JOB_START = datetime.datetime(2005, 1, 1, 8, 0, tzinfo=datetime.timezone.utc)


@defer.inlineCallbacks
def startJob(store, builder_id, build_id, queue_id,
             state=BuildStatus.BUILDING):
    """Put a queued job on a builder, as a dispatch would, whatever its
    chroot and publication (on the real store or the fake)."""
    if isinstance(store, FakeStore):
        store.tables.set("buildqueue", store.tables.get(
            "buildqueue", queue_id), builder=builder_id, buildstart=JOB_START)
    else:
        yield store.runOperation(
            "UPDATE buildqueue SET builder = %s, buildstart = %s"
            " WHERE id = %s", (builder_id, JOB_START, queue_id))
    yield store.builds.update(build_id, buildstate=state)


def takeJobBack(store, queue_id):
    """A job's builder and start cleared behind the scanner's back (as
    another master or an operator would), on either store."""
    if isinstance(store, FakeStore):
        store.tables.get("buildqueue", queue_id).update(
            builder=None, buildstart=None)
        return defer.succeed(None)
    return store.runOperation(
        "UPDATE buildqueue SET builder = NULL, buildstart = NULL"
        " WHERE id = %s", (queue_id,))


def dropRunningJobs(store):
    """Delete every queue entry a builder holds, on either store."""
    if isinstance(store, FakeStore):
        for entry in store.tables.where("buildqueue"):
            if entry["builder"] is not None:
                del store.tables.table("buildqueue")[entry["id"]]
        return defer.succeed(None)
    return store.runOperation(
        "DELETE FROM buildqueue WHERE builder IS NOT NULL")


def publishSource(store, spr_id, distrorelease, archive,
                  pocket=PackagePublishingPocket.RELEASE,
                  status=PackagePublishingStatus.PUBLISHED):
    """One more publication of a source, on either store."""
    if isinstance(store, FakeStore):
        store.tables.insert(
            "sourcepackagepublishinghistory", sourcepackagerelease=spr_id,
            distrorelease=distrorelease, archive=archive, pocket=pocket,
            status=status)
        return defer.succeed(None)
    return store.runOperation(
        "INSERT INTO sourcepackagepublishinghistory (sourcepackagerelease,"
        " distrorelease, archive, pocket, status) VALUES (%s, %s, %s, %s,"
        " %s)", (spr_id, distrorelease, archive, pocket.value, status.value))


def setPublicationStatus(store, spr_id, status):
    """Every publication of a source in C{status}, on either store."""
    if isinstance(store, FakeStore):
        for row in store.tables.where("sourcepackagepublishinghistory",
                                      sourcepackagerelease=spr_id):
            row["status"] = status.value
        return defer.succeed(None)
    return store.runOperation(
        "UPDATE sourcepackagepublishinghistory SET status = %s"
        " WHERE sourcepackagerelease = %s", (status.value, spr_id))


def dropSourceFiles(store, spr_id, filetype):
    """A source's files of C{filetype} gone, on either store."""
    if isinstance(store, FakeStore):
        for row in store.tables.where("sourcepackagereleasefile",
                                      sourcepackagerelease=spr_id,
                                      filetype=filetype):
            del store.tables.table("sourcepackagereleasefile")[row["id"]]
        return defer.succeed(None)
    return store.runOperation(
        "DELETE FROM sourcepackagereleasefile WHERE filetype = %s"
        " AND sourcepackagerelease = %s", (filetype, spr_id))


def setSourceComponent(store, spr_id, component):
    """A source's component changed, on either store."""
    if isinstance(store, FakeStore):
        store.tables.get("sourcepackagerelease", spr_id)["component"] = \
            component
        return defer.succeed(None)
    return store.runOperation(
        "UPDATE sourcepackagerelease SET component = %s WHERE id = %s",
        (component, spr_id))


def addBinaryRow(store, build_id, name, version, architecture,
                 distroarchrelease, distrorelease, archive,
                 pocket=PackagePublishingPocket.RELEASE):
    """A binarypackagerelease row in any archive (whatever its build's),
    on either store."""
    values = dict(build=build_id, name=name, version=version,
                  architecture=architecture,
                  distroarchrelease=distroarchrelease,
                  distrorelease=distrorelease, archive=archive,
                  pocket=pocket.value)
    if isinstance(store, FakeStore):
        store.tables.insert("binarypackagerelease", changesfile=None,
                            buildinfo=None, **values)
        return defer.succeed(None)
    columns = sorted(values)
    return store.runOperation(
        "INSERT INTO binarypackagerelease (%s) VALUES (%s)" % (
            ", ".join(columns), ", ".join(["%s"] * len(columns))),
        tuple(values[c] for c in columns))


def builderOwners(store):
    """C{{builder name: owning master or None}}, on either store."""
    if isinstance(store, FakeStore):
        return defer.succeed({b["name"]: b["owner"]
                              for b in store.tables.where("builder")})
    d = store.runQuery("SELECT name, owner FROM builder")
    return d.addCallback(lambda rows: {r["name"]: r["owner"] for r in rows})


def emptyQueue(store):
    """Every queue entry gone, on either store."""
    if isinstance(store, FakeStore):
        store.tables.table("buildqueue").clear()
        return defer.succeed(None)
    return store.runOperation("DELETE FROM buildqueue")


@defer.inlineCallbacks
def disableArchives(store):
    """Every archive disabled, through the store's world component."""
    for archive in (yield store.world.archiveRows()):
        yield store.world.updateArchive(archive["id"], enabled=False)


@defer.inlineCallbacks
def addRunningJob(store, builder_id, state=BuildStatus.BUILDING, **kwargs):
    """A new build running on a builder: C{(build_id, queue_id)}."""
    build_id, queue_id = yield addBuild(store, **kwargs)
    yield startJob(store, builder_id, build_id, queue_id, state)
    return build_id, queue_id


class RecordingNotifier:
    """Stands for the SMTP notifier where a test only asks *whether* a
    notification went out (tests/test_notify.py sends real mail)."""

    def __init__(self):
        self.sent = []

    def notify(self, build, log_url=None, extra_info=None):
        if build.buildstate not in NOTIFY_STATES:
            return False
        self.sent.append((build, log_url))
        return True

    def sentFor(self, build_id):
        return [b for b, _ in self.sent if b.id == build_id]


def makeGroup(store, librarian=None, uploads=None, notifier=None, clock=None,
              logger=None, **kwargs):
    return BuilderGroup(logger or logging.getLogger(), store,
                        librarian=librarian, uploads=uploads,
                        notifier=notifier, clock=clock, **kwargs)


class FakeStoreTestCase(unittest.TestCase):
    """A test with C{self.store}, a L{FakeStore} holding the sample data,
    and C{self.librarian_root} holding the sample files: logic tests that
    need no PostgreSQL (as L{tests.database.DatabaseTestCase} gives the
    real store)."""

    def setUp(self):
        self.store = FakeStore()
        self.librarian_root = Path(self.mktemp()).resolve() / "librarian"
        self.librarian_root.mkdir(parents=True)
        sampledata.ensureSampleFiles(self.librarian_root)
