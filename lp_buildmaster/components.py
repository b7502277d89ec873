"""Every adapter and utility registration of lp-buildmaster, in one place.

Imported once at start-up (the service, C{buildmaster-admin}, the tests
and the benchmarks import it); importing it again changes nothing. The
lookups themselves need only L{lp_buildmaster.interfaces}:

- C{IBuildFarmJobBehaviour(build)}: what the build's job type does (the
  build() request, which result files to fetch, the upload's leaf and its
  checks), one adapter per job type, registered under the job type's
  name (L{JOB_TYPES}); the dispatcher and the collector never test a
  build's type.
- C{IBuilder(x)}, C{IBuild(x)}, C{IBuildQueue(x)}: the records provide
  their interface themselves; a running L{Job}, a L{BuilderHandle} and
  a pending L{QueueItem} adapt to the records they hold, as the seed's
  objects answer C{.builder}, C{.build} and C{.buildqueue}.
- C{ISlave(builder)}: the client of a builder record, made by the
  L{ISlaveFactory} utility (the service provides one with its connection
  pool, timeouts and reset command; the default uses the global reactor):
  for a virtualized builder an L{IVirtualizedSlave} that resets its VM
  (C{resume}); a L{BuilderHandle} gives the client it holds.
- C{getUtility(ILibrarianClient)}: the master's librarian client (local or
  remote), provided by the service at start; the dispatcher and the
  collector look it up when they were given none.

This module sits at the top, beside the service: it may import anything;
nothing but entry points imports it.
"""

from zope.interface import implementedBy, implementer

from lp_buildmaster.behaviours.binarypackage import (
    BinaryPackageBuildBehaviour)
from lp_buildmaster.behaviours.translationtemplates import (
    TranslationTemplatesBuildBehaviour)
from lp_buildmaster.buildergroup import BuilderHandle, Job
from lp_buildmaster.interfaces import (
    IBuild, IBuilder, IBuildFarmJobBehaviour, IBuildQueue, ILibrarianClient,
    ISlave, ISlaveFactory)
from lp_buildmaster.master import QueueItem
from lp_buildmaster.registry import getUtility, registry
from lp_buildmaster.slave import BuilderSlave
from lp_buildmaster.vmreset import VirtualizedSlave

#: The behaviour of each job type, by launchpad-buildd's build type.
JOB_TYPES = {
    BinaryPackageBuildBehaviour.build_type: BinaryPackageBuildBehaviour,
    TranslationTemplatesBuildBehaviour.build_type:
        TranslationTemplatesBuildBehaviour,
}


def registerAdapter(factory, required, provided, name=""):
    """C{provided(ob)} gives C{factory(ob)} for an C{ob} providing
    C{required} (an interface, or a class: its instances); with C{name},
    for an C{ob} whose C{job_type} is C{name}."""
    if isinstance(required, type):
        required = implementedBy(required)
    registry.register([required], provided, name, factory)


def registerJobType(behaviour):
    """Add a job type: its L{IBuildFarmJobBehaviour} class, adapted from
    builds whose C{job_type} is the class's C{build_type}."""
    registerAdapter(behaviour, IBuild, IBuildFarmJobBehaviour,
                    name=behaviour.build_type)


def unregisterJobType(behaviour):
    """Remove a job type registered by L{registerJobType}."""
    registry.unregister([IBuild], IBuildFarmJobBehaviour,
                        behaviour.build_type, behaviour)


def provideUtility(component, provided):
    """Make C{component} what C{getUtility(provided)} gives; returns the
    one it replaces (or None), for L{removeUtility}."""
    before = registry.lookup((), provided)
    registry.register([], provided, "", component)
    return before


def removeUtility(component, provided, before=None):
    """Withdraw C{component} if it is still the C{provided} utility,
    putting C{before} (what L{provideUtility} returned) back."""
    if registry.lookup((), provided) is component:
        registry.unregister([], provided, "", component)
        if before is not None:
            registry.register([], provided, "", before)


@implementer(ISlaveFactory)
class SlaveFactory:
    """The L{ISlaveFactory}: a client for each builder record, made with
    the same options (C{reactor}, C{pool}, C{timeout},
    C{ensurepresent_timeout}, C{download_min_rate}, ...): a
    L{BuilderSlave}, or for a virtualized builder a L{VirtualizedSlave}
    that resets its VM with C{reset_command} (killed after
    C{reset_timeout} seconds)."""

    def __init__(self, reset_command=None, reset_timeout=300.0,
                 **options):
        self.reset_command = reset_command
        self.reset_timeout = reset_timeout
        self.options = options

    def __call__(self, builder):
        if builder.virtualized:
            return VirtualizedSlave(
                builder.name, builder.url, reset_command=self.reset_command,
                reset_timeout=self.reset_timeout, **self.options)
        return BuilderSlave(builder.name, builder.url, **self.options)


def slaveOf(builder):
    """C{ISlave(builder)}: a new client from the L{ISlaveFactory}."""
    return getUtility(ISlaveFactory)(builder)


for _behaviour in JOB_TYPES.values():
    registerJobType(_behaviour)

registerAdapter(lambda job: job.build, Job, IBuild)
registerAdapter(lambda job: job.queue, Job, IBuildQueue)
registerAdapter(lambda job: job.builder.record, Job, IBuilder)
registerAdapter(lambda handle: handle.record, BuilderHandle, IBuilder)
registerAdapter(lambda handle: handle.slave, BuilderHandle, ISlave)
registerAdapter(lambda item: item.build, QueueItem, IBuild)
registerAdapter(lambda item: item.queue, QueueItem, IBuildQueue)
registerAdapter(slaveOf, IBuilder, ISlave)

if registry.lookup((), ISlaveFactory) is None:
    provideUtility(SlaveFactory(), ISlaveFactory)

__all__ = [
    "JOB_TYPES", "SlaveFactory", "getUtility", "provideUtility",
    "registerAdapter", "registerJobType", "removeUtility",
    "unregisterJobType", "ILibrarianClient",
]
