"""The registry of adapters and utilities, and their lookups.

Adapters are looked up by calling an interface
(C{IBuildFarmJobBehaviour(build)}, C{ISlave(builder)}): the hook installed
here answers from L{registry}, a plain C{zope.interface} adapter registry
(zope.component is not a dependency). Utilities are looked up with
L{getUtility} or L{queryUtility}. Only L{lp_buildmaster.components}
registers anything, in one place, when it is imported at start-up (it
imports this module, which installs the hook).

Imports nothing of the project: every layer may look components up.
"""

from zope.interface import providedBy
from zope.interface.adapter import AdapterRegistry
from zope.interface.interface import adapter_hooks

#: Every adapter and utility; registered only by L{lp_buildmaster.components}.
registry = AdapterRegistry()


class ComponentLookupError(LookupError):
    """No utility is registered for an interface."""


def getUtility(provided):
    """The utility registered for C{provided}.

    @raise ComponentLookupError: none is (was L{lp_buildmaster.components}
        imported, and the utility provided?).
    """
    utility = registry.lookup((), provided)
    if utility is None:
        raise ComponentLookupError(provided.__name__)
    return utility


def queryUtility(provided, default=None):
    """The utility registered for C{provided}, or C{default}."""
    utility = registry.lookup((), provided)
    return default if utility is None else utility


def namedAdapters(required, provided):
    """C{{name: factory}} of the adapters from C{required} (an interface)
    to C{provided} registered under a name: e.g. the behaviour of each
    job type."""
    return {name: factory
            for name, factory in registry.lookupAll([required], provided)
            if name}


def _adapt(provided, ob):
    """The adapter hook: C{provided(ob)} from L{registry}. An adapter
    registered under a name is found by the object's C{job_type}, so that
    each job type's L{IBuildFarmJobBehaviour} is one registration."""
    spec = providedBy(ob)
    factory = registry.lookup1(spec, provided)
    if factory is None:
        name = getattr(ob, "job_type", None)
        if isinstance(name, str) and name:
            factory = registry.lookup1(spec, provided, name)
    return None if factory is None else factory(ob)


if _adapt not in adapter_hooks:
    adapter_hooks.append(_adapt)
