"""The real store's components provide the store interfaces they declare
(tests/test_store_contract.py holds the fake to the same ones)."""

from zope.interface.verify import verifyObject

from lp_buildmaster.interfaces import (
    STORE_COMPONENTS, IAccountStore, IStore, IViewStore)
from lp_buildmaster.store.accounts import AccountStore
from lp_buildmaster.store.views import ViewStore
from tests.database import DatabaseTestCase


class RealStoreInterfaceTests(DatabaseTestCase):

    def test_store(self):
        self.assertTrue(verifyObject(IStore, self.store))

    def test_components(self):
        for name, interface in STORE_COMPONENTS.items():
            component = getattr(self.store, name)
            self.assertTrue(verifyObject(interface, component), name)

    def test_accountsAndViews(self):
        self.assertTrue(verifyObject(IAccountStore, AccountStore(self.store)))
        self.assertTrue(verifyObject(IViewStore, ViewStore(self.store)))
