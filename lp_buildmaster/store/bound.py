"""The store's components inside one transaction.

L{inOneTransaction} runs C{fn(bound)} where C{bound} looks like the
L{lp_buildmaster.store.Store} (the same components, the same methods) but
sends every statement through one transaction: everything C{fn} does is
committed together, or nothing is. The actions use it so that an action
and its audit entry are one transaction.

A component's own C{runInteraction} becomes a SAVEPOINT inside it, so a
component that catches its own failed interaction (a duplicate name)
leaves the transaction usable.
"""

import itertools

from twisted.internet import defer


class BoundStore:
    """A store whose statements all go through one
    L{lp_buildmaster.store.Transaction}."""

    def __init__(self, store, transaction):
        self._store = store
        self._transaction = transaction
        self._savepoints = itertools.count(1)
        self.dsn = getattr(store, "dsn", None)

    def __getattr__(self, name):
        # Components are made on first use, bound to this transaction.
        from lp_buildmaster.store import Component
        component = getattr(self._store, name)
        if not isinstance(component, Component):
            raise AttributeError(name)
        bound = type(component)(self)
        setattr(self, name, bound)
        return bound

    def runQuery(self, sql, args=None):
        return self._transaction.fetchall(sql, args)

    def runOperation(self, sql, args=None):
        d = self._transaction.execute(sql, args)
        return d.addCallback(lambda _: None)

    @defer.inlineCallbacks
    def runInteraction(self, fn, *args, **kwargs):
        name = "bound_%d" % next(self._savepoints)
        yield self._transaction.execute("SAVEPOINT " + name)
        try:
            result = yield fn(self._transaction, *args, **kwargs)
        except BaseException:
            yield self._transaction.execute("ROLLBACK TO SAVEPOINT " + name)
            raise
        yield self._transaction.execute("RELEASE SAVEPOINT " + name)
        return result


def inOneTransaction(store, fn, *args, **kwargs):
    """C{fn(bound, ...)} with every statement in one transaction of
    C{store}: committed when its Deferred fires, rolled back when it
    fails. A store without transactions (a bound one already, or a fake)
    is passed as it is."""
    if isinstance(store, BoundStore) or not hasattr(store, "pool"):
        return defer.maybeDeferred(fn, store, *args, **kwargs)
    return store.runInteraction(
        lambda transaction: fn(BoundStore(store, transaction), *args,
                               **kwargs))
