"""The real store's components provide the store interfaces they declare
(tests/test_store_contract.py holds the fake to the same ones)."""

import inspect

from twisted.trial import unittest
from zope.interface.verify import verifyObject

from lp_buildmaster.interfaces import (
    STORE_COMPONENTS, IAccountStore, IStore, IViewStore)
from lp_buildmaster.store import (
    Component, binaries, builders, builds, dispatch, distro, jobs, jobtypes,
    library, masters, queue, scans, sources, world)
from lp_buildmaster.store.accounts import AccountStore
from lp_buildmaster.store.views import ViewStore
from lp_buildmaster.testing.fakestore import FakeStore
from tests.database import DatabaseTestCase

#: The real component classes, by the store's attribute names.
REAL = {
    "builders": builders.BuilderStore, "builds": builds.BuildStore,
    "queue": queue.BuildQueueStore, "library": library.LibraryStore,
    "distro": distro.DistroStore, "sources": sources.SourceStore,
    "jobs": jobs.JobStore, "binaries": binaries.BinaryStore,
    "dispatch": dispatch.DispatchStore, "world": world.WorldStore,
    "masters": masters.MasterStore, "jobtypes": jobtypes.JobTypeStore,
    "scans": scans.ScanTimeStore,
}


class RealStoreInterfaceTests(DatabaseTestCase):

    def test_store(self):
        self.assertTrue(verifyObject(IStore, self.store))

    def test_components(self):
        components = {name for name, value in vars(self.store).items()
                      if isinstance(value, Component)}
        self.assertEqual(components, set(STORE_COMPONENTS))
        for name, interface in STORE_COMPONENTS.items():
            component = getattr(self.store, name)
            self.assertIsInstance(component, REAL[name])
            self.assertTrue(verifyObject(interface, component), name)

    def test_accountsAndViews(self):
        self.assertTrue(verifyObject(IAccountStore, AccountStore(self.store)))
        self.assertTrue(verifyObject(IViewStore, ViewStore(self.store)))


class InterfacesCompleteTests(unittest.TestCase):
    """Every public method of a real component (and of the fake's) is in
    its interface: a method added to the store is added to the contract,
    so that the fake store cannot silently lack it."""

    def test_noMethodOutsideTheInterface(self):
        fake = FakeStore()
        for name, interface in STORE_COMPONENTS.items():
            declared = set(interface.names())
            for cls in (REAL[name], type(getattr(fake, name))):
                public = {n for n, _ in inspect.getmembers(
                    cls, inspect.isfunction) if not n.startswith("_")}
                self.assertEqual(public - declared, set(),
                                 (name, cls.__name__))

    def test_accountsAndViewsComplete(self):
        for interface, cls in ((IAccountStore, AccountStore),
                               (IViewStore, ViewStore)):
            public = {n for n, _ in inspect.getmembers(
                cls, inspect.isfunction) if not n.startswith("_")}
            self.assertEqual(public - set(interface.names()), set(),
                             cls.__name__)

    def test_everyComponentListed(self):
        self.assertEqual(set(REAL), set(STORE_COMPONENTS))
