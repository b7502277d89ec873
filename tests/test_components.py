"""The registrations of lp_buildmaster.components: each adapter and
utility, looked up as the dispatcher, the collector and the service do,
and verifyObject on every provider."""

import dataclasses
import gzip
import io
import logging
import os
import sys
import tarfile
import time

from twisted.internet import defer, reactor, task
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from lp_buildmaster import components
from lp_buildmaster.behaviours import BuildFarmJobBehaviourBase
from lp_buildmaster.behaviours.binarypackage import (
    BinaryPackageBuildBehaviour)
from lp_buildmaster.behaviours.translationtemplates import (
    TEMPLATES_TARBALL, TranslationTemplatesBuildBehaviour)
from lp_buildmaster.buildergroup import BuilderHandle, Job
from lp_buildmaster.interfaces import (
    IBuild, IBuilder, IBuildFarmJobBehaviour, IBuildQueue, ILibrarianClient,
    ISlave, ISlaveFactory, IVirtualizedSlave)
from lp_buildmaster.librarian.client import LibrarianClient
from lp_buildmaster.librarian.remote import RemoteLibrarianClient
from lp_buildmaster.master import QueueItem
from lp_buildmaster.model.records import Build, Builder, BuildQueue
from lp_buildmaster.registry import (
    ComponentLookupError, getUtility, queryUtility)
from lp_buildmaster.slave import BuilderSlave, makePool
from lp_buildmaster.testing.fakestore import FakeStore
from lp_buildmaster.testing.simulator import SimulatedFarm
from lp_buildmaster.upload import UploadRejected
from lp_buildmaster.vmreset import ResetFailed, VirtualizedSlave, resetBuilder


def record(cls, **values):
    """A C{cls} record with C{values}, None for every other field."""
    fields = {f.name: None for f in dataclasses.fields(cls)
              if f.default is dataclasses.MISSING}
    fields.update(values)
    return cls(**fields)


def tarball(members, compress=True):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue()) if compress else raw.getvalue()


class BehaviourLookupTests(unittest.TestCase):
    """IBuildFarmJobBehaviour(build), by the build's job type."""

    def test_binarypackage(self):
        build = record(Build, id=1)
        self.assertEqual(build.job_type, "binarypackage")
        behaviour = IBuildFarmJobBehaviour(build)
        self.assertIsInstance(behaviour, BinaryPackageBuildBehaviour)
        self.assertIs(behaviour.build, build)
        self.assertEqual(behaviour.build_type, "binarypackage")
        verifyObject(IBuildFarmJobBehaviour, behaviour)

    def test_translationTemplates(self):
        build = record(Build, id=2, job_type="translation-templates")
        behaviour = IBuildFarmJobBehaviour(build)
        self.assertIsInstance(behaviour, TranslationTemplatesBuildBehaviour)
        self.assertEqual(behaviour.build_type, "translation-templates")
        verifyObject(IBuildFarmJobBehaviour, behaviour)

    def test_unknownJobType(self):
        """A job type nobody registered cannot be adapted."""
        build = record(Build, id=3, job_type="livefs")
        self.assertRaises(TypeError, IBuildFarmJobBehaviour, build)
        self.assertIsNone(IBuildFarmJobBehaviour(build, None))

    def test_registeringAJobType(self):
        """A job type is one registration, and can be taken back."""
        class LiveFSBehaviour(BuildFarmJobBehaviourBase):
            build_type = "livefs"
        build = record(Build, id=4, job_type="livefs")
        components.registerJobType(LiveFSBehaviour)
        self.addCleanup(components.unregisterJobType, LiveFSBehaviour)
        self.assertIsInstance(IBuildFarmJobBehaviour(build), LiveFSBehaviour)
        components.unregisterJobType(LiveFSBehaviour)
        self.assertIsNone(IBuildFarmJobBehaviour(build, None))
        # The others are untouched.
        self.assertIsInstance(IBuildFarmJobBehaviour(record(Build, id=5)),
                              BinaryPackageBuildBehaviour)

    def test_jobTypesAreRegistered(self):
        self.assertEqual(sorted(components.JOB_TYPES),
                         ["binarypackage", "translation-templates"])


class UploadLeafTests(unittest.TestCase):

    def test_leafName(self):
        """C{<UTC timestamp>-<cookie>}, for every job type."""
        now = time.mktime((2005, 1, 1, 8, 0, 0, 0, 0, 0)) - time.timezone
        for job_type in components.JOB_TYPES:
            behaviour = IBuildFarmJobBehaviour(
                record(Build, id=7, job_type=job_type))
            self.assertEqual(behaviour.getUploadDirLeaf("7-99", now),
                             "20050101-080000-7-99")

    def test_binaryFetchesEveryFile(self):
        behaviour = IBuildFarmJobBehaviour(record(Build, id=7))
        filemap = {"a.deb": "1" * 40, "a.changes": "2" * 40}
        self.assertEqual(behaviour.verifySuccessfulBuild(filemap, "bob"),
                         filemap)

    def test_templatesFetchOnlyTheTarball(self):
        behaviour = IBuildFarmJobBehaviour(
            record(Build, id=7, job_type="translation-templates"))
        self.assertEqual(behaviour.verifySuccessfulBuild(
            {TEMPLATES_TARBALL: "1" * 40, "other.txt": "2" * 40}, "bob"),
            {TEMPLATES_TARBALL: "1" * 40})
        self.assertEqual(behaviour.verifySuccessfulBuild({}, "bob"), {})


class TemplatesUploadTests(unittest.TestCase):
    """A translation-templates upload: its one tarball, checked."""

    def setUp(self):
        self.leaf = self.mktemp()
        os.mkdir(self.leaf)
        self.behaviour = IBuildFarmJobBehaviour(
            record(Build, id=7, job_type="translation-templates"))

    def write(self, data):
        with open(os.path.join(self.leaf, TEMPLATES_TARBALL), "wb") as f:
            f.write(data)

    def test_accepted(self):
        data = tarball([("po/hello.pot", b"msgid \"\"\n"),
                        ("po/README", b"x")])
        self.write(data)
        upload = self.behaviour.readUpload(self.leaf)
        self.assertEqual([(f.name, f.size, f.filetype, f.content_type)
                          for f in upload.files],
                         [(TEMPLATES_TARBALL, len(data), "tar.gz",
                           "application/x-gtar")])
        self.assertEqual(upload.binaries, ())
        self.assertIsNone(upload.changes)
        self.assertIn("1 translation templates", upload.summary)

    def test_missing(self):
        e = self.assertRaises(UploadRejected, self.behaviour.readUpload,
                              self.leaf)
        self.assertIn("%s is missing" % TEMPLATES_TARBALL, str(e))

    def test_symlinkRefused(self):
        os.symlink("/etc/passwd", os.path.join(self.leaf, TEMPLATES_TARBALL))
        e = self.assertRaises(UploadRejected, self.behaviour.readUpload,
                              self.leaf)
        self.assertIn("not a regular file", str(e))

    def test_notGzipped(self):
        self.write(tarball([("po/hello.pot", b"x")], compress=False))
        e = self.assertRaises(UploadRejected, self.behaviour.readUpload,
                              self.leaf)
        self.assertIn("not a gzipped tarball", str(e))

    def test_noTemplate(self):
        self.write(tarball([("po/README", b"x")]))
        e = self.assertRaises(UploadRejected, self.behaviour.readUpload,
                              self.leaf)
        self.assertIn("holds no translation template", str(e))

    def test_tooManyMembers(self):
        self.patch(
            __import__("lp_buildmaster.behaviours.translationtemplates",
                       fromlist=["MAX_MEMBERS"]), "MAX_MEMBERS", 2)
        self.write(tarball([("a.pot", b"x"), ("b.pot", b"y"),
                            ("c.pot", b"z")]))
        e = self.assertRaises(UploadRejected, self.behaviour.readUpload,
                              self.leaf)
        self.assertIn("more than 2 members", str(e))


class RecordAdapterTests(unittest.TestCase):
    """The records provide their interfaces; what holds them adapts."""

    def setUp(self):
        self.builder = record(Builder, id=1, name="bob",
                              url="http://127.0.0.1:1/")
        self.build = record(Build, id=7)
        self.queue = record(BuildQueue, id=99, build=7)
        self.slave = object()

    def test_recordsProvideTheirInterfaces(self):
        self.assertIs(IBuilder(self.builder), self.builder)
        self.assertIs(IBuild(self.build), self.build)
        self.assertIs(IBuildQueue(self.queue), self.queue)

    def test_job(self):
        job = Job(self.queue, self.build,
                  BuilderHandle(self.builder, self.slave))
        self.assertIs(IBuild(job), self.build)
        self.assertIs(IBuildQueue(job), self.queue)
        self.assertIs(IBuilder(job), self.builder)

    def test_builderHandle(self):
        handle = BuilderHandle(self.builder, self.slave)
        self.assertIs(IBuilder(handle), self.builder)
        self.assertIs(ISlave(handle), self.slave)

    def test_queueItem(self):
        item = QueueItem(self.queue, self.build)
        self.assertIs(IBuild(item), self.build)
        self.assertIs(IBuildQueue(item), self.queue)
        self.assertRaises(TypeError, IBuilder, item)

    def test_jobAdaptsToItsBehaviour(self):
        """A job's behaviour is its build's."""
        job = Job(self.queue, self.build,
                  BuilderHandle(self.builder, self.slave))
        self.assertIsInstance(IBuildFarmJobBehaviour(IBuild(job)),
                              BinaryPackageBuildBehaviour)


class SlaveAdapterTests(unittest.TestCase):
    """ISlave(builder): a client made by the ISlaveFactory utility."""

    def test_defaultFactory(self):
        builder = record(Builder, id=1, name="bob",
                         url="http://127.0.0.1:8221/")
        slave = ISlave(builder)
        self.assertIsInstance(slave, BuilderSlave)
        self.assertEqual((slave.name, slave.url),
                         ("bob", "http://127.0.0.1:8221/"))
        verifyObject(ISlave, slave)
        # A new client each time.
        self.assertIsNot(ISlave(builder), slave)

    def test_providedFactory(self):
        """The service's factory gives its options to every client;
        withdrawing it restores the one before."""
        clock = task.Clock()
        before = getUtility(ISlaveFactory)
        factory = components.SlaveFactory(reactor=clock, timeout=7.0)
        verifyObject(ISlaveFactory, factory)
        components.provideUtility(factory, ISlaveFactory)
        self.addCleanup(components.provideUtility, before, ISlaveFactory)
        slave = ISlave(record(Builder, id=2, name="frog",
                              url="http://127.0.0.1:9/", virtualized=True))
        self.assertEqual(slave.timeout, 7.0)
        self.assertIs(getUtility(ISlaveFactory), factory)


class LibrarianUtilityTests(unittest.TestCase):
    """The librarian client is provided, then looked up where used."""

    def localClient(self):
        return LibrarianClient(None, self.mktemp(), "http://127.0.0.1:1/",
                               b"s", clock=task.Clock())

    def test_providers(self):
        local = self.localClient()
        remote = RemoteLibrarianClient("http://127.0.0.1:1/", b"s",
                                       self.mktemp(), reactor=task.Clock())
        verifyObject(ILibrarianClient, local)
        verifyObject(ILibrarianClient, remote)

    def test_provideAndRemove(self):
        self.assertIsNone(queryUtility(ILibrarianClient))
        self.assertRaises(ComponentLookupError, getUtility, ILibrarianClient)
        client = self.localClient()
        components.provideUtility(client, ILibrarianClient)
        self.addCleanup(components.removeUtility, client, ILibrarianClient)
        self.assertIs(getUtility(ILibrarianClient), client)
        # Someone else's client is not withdrawn by mistake.
        components.removeUtility(object(), ILibrarianClient)
        self.assertIs(getUtility(ILibrarianClient), client)
        components.removeUtility(client, ILibrarianClient)
        self.assertIsNone(queryUtility(ILibrarianClient))

    def test_dispatcherAndCollectorLookItUp(self):
        """Given no client, the dispatcher and the collector use the one
        provided; one given to them wins."""
        from lp_buildmaster.buildergroup import BuilderGroup
        from lp_buildmaster.master import Dispatcher
        client = self.localClient()
        components.provideUtility(client, ILibrarianClient)
        self.addCleanup(components.removeUtility, client, ILibrarianClient)
        clock = task.Clock()
        self.assertIs(Dispatcher(None, None, clock=clock,
                                 reactor=clock).librarian, client)
        self.assertIs(BuilderGroup(None, None, clock=clock).librarian, client)
        mine = object()
        self.assertIs(Dispatcher(None, mine, clock=clock,
                                 reactor=clock).librarian, mine)


class VirtualizedSlaveTests(unittest.TestCase):
    """ISlave(builder) of a virtualized builder resets its VM itself, with
    the reset command the factory was given, then checks it echoes: a
    simulated builder on 127.0.0.1, a real command, the timeout on a
    Clock."""

    @defer.inlineCallbacks
    def setUp(self):
        self.farm = SimulatedFarm(reactor=reactor, seed=1)
        yield self.farm.listen()
        self.addCleanup(self.farm.stop)
        self.farm.addBuilder("vm")
        self.pool = makePool(reactor)
        self.addCleanup(self.pool.closeCachedConnections)
        self.clock = task.Clock()
        self.record = record(Builder, id=3, name="vm",
                             url=self.farm.urlFor("vm"), virtualized=True,
                             vm_host="vmhost", clean=False)

    def slave(self, command, timeout=300.0):
        before = getUtility(ISlaveFactory)
        self.addCleanup(components.provideUtility, before, ISlaveFactory)
        components.provideUtility(components.SlaveFactory(
            reset_command=command, reset_timeout=timeout, reactor=reactor,
            clock=self.clock, pool=self.pool, timeout=30.0), ISlaveFactory)
        slave = ISlave(self.record)
        self.assertIsInstance(slave, VirtualizedSlave)
        verifyObject(IVirtualizedSlave, slave)
        return slave

    def test_notVirtualized(self):
        slave = ISlave(dataclasses.replace(self.record, virtualized=False))
        self.assertFalse(IVirtualizedSlave.providedBy(slave))

    @defer.inlineCallbacks
    def test_resumeRunsTheCommandThenEchoes(self):
        """The command gets the builder's current vm_host; the builder is
        asked to echo afterwards; resetBuilder records it clean."""
        slave = self.slave(
            "%s -c 'import sys; sys.exit(sys.argv[1:] != [\"vmhost2\", "
            "\"vm\"])' {vm_host} {name}" % sys.executable)
        store = FakeStore()
        builder_id = yield store.builders.add(
            "vm", self.record.url, 1, virtualized=True, vm_host="vmhost2")
        yield store.builders.update(builder_id, clean=False)
        handle = BuilderHandle((yield store.builders.get(builder_id)), slave)
        yield resetBuilder(handle, store, reactor, self.clock, None, 1.0,
                           logging.getLogger("test"))
        self.assertEqual(self.farm.counters["echo"], 1)
        self.assertTrue(handle.record.clean)
        self.assertTrue((yield store.builders.get(builder_id)).clean)

    @defer.inlineCallbacks
    def test_resumeFails(self):
        slave = self.slave("%s -c 'import sys; sys.exit(3)'"
                           % sys.executable)
        e = yield self.assertFailure(slave.resume("vmhost"), ResetFailed)
        self.assertIn("exit 3", str(e))
        self.assertEqual(self.farm.counters["echo"], 0)

    @defer.inlineCallbacks
    def test_resumeTimesOut(self):
        slave = self.slave("%s -c 'import sys; sys.stdin.read()'"
                           % sys.executable, timeout=60)
        d = slave.resume("vmhost")
        self.clock.advance(61)
        e = yield self.assertFailure(d, ResetFailed)
        self.assertIn("timed out after 60 s", str(e))
        self.assertEqual(self.farm.counters["echo"], 0)

    @defer.inlineCallbacks
    def test_noCommandOnlyEchoes(self):
        slave = self.slave(None)
        yield slave.resume("vmhost")
        self.assertEqual(self.farm.counters["echo"], 1)


class ProvideAndRestoreTests(unittest.TestCase):

    def test_restoresWhatItReplaced(self):
        """A utility provided over another is withdrawn back to it (a
        stopped master leaves the default client factory in place)."""
        default = getUtility(ISlaveFactory)
        mine = components.SlaveFactory()
        before = components.provideUtility(mine, ISlaveFactory)
        self.addCleanup(components.provideUtility, default, ISlaveFactory)
        self.assertIs(before, default)
        self.assertIs(getUtility(ISlaveFactory), mine)
        components.removeUtility(mine, ISlaveFactory, before)
        self.assertIs(getUtility(ISlaveFactory), default)


class SeedFacadeTests(unittest.TestCase):

    def test_builddMasterGetsClientsFromISlave(self):
        """The seed's BuilddMaster, given no factory, gets a builder's
        client as production does: ISlave(builder)."""
        from lp_buildmaster.master import BuilddMaster
        clock = task.Clock()
        master = BuilddMaster(logging.getLogger("test"), FakeStore(),
                              clock=clock)
        self.assertIs(master.slaveFactory, ISlave)
        slave = master.slaveFactory(record(
            Builder, id=1, name="bob", url="http://127.0.0.1:8221/",
            virtualized=False))
        self.assertIsInstance(slave, BuilderSlave)
