"""Resetting a dirty virtualized builder before it takes a job.

A virtualized builder that ran a job is dirty: its VM must be reset (by
the configured C{[master] reset_command}, run with a timeout) and answer
C{echo} again before it may take another job. L{resetBuilder} does that
for the dispatcher; L{VirtualizedSlave}, the client C{ISlave(builder)}
gives a virtualized builder, resets its own VM (C{resume}); L{runCommand}
runs one command without blocking the reactor; L{ResetFailed} is the
builder's failure when either goes wrong.

Imports: interfaces, the slave client and its errors, and the store's
builder component (through the store it is given); nothing above.
"""

import dataclasses
import logging
import shlex

from twisted.internet import defer, error, protocol
from zope.interface import implementer

from lp_buildmaster.clock import orReactor
from lp_buildmaster.interfaces import IVirtualizedSlave
from lp_buildmaster.slave import BuilderSlave, SlaveError


class ResetFailed(SlaveError):
    """A virtualized builder's reset command failed or timed out."""


@defer.inlineCallbacks
def resetBuilder(builder, store, reactor, clock, command, timeout, logger):
    """Reset a dirty virtualized builder, then check it answers, and
    record it clean. A client that resets its own builder (an
    L{IVirtualizedSlave}, as C{ISlave(builder)} gives in production) does
    it with its C{resume}; otherwise C{command} is run here (a mock slave,
    or a builder made virtualized since its client was made).

    @param command: the reset command (a string, C{{vm_host}} and
        C{{name}} substituted); None to reset nothing and only check the
        builder echoes.
    @raise ResetFailed: the command failed or timed out.
    """
    record = builder.record
    if IVirtualizedSlave.providedBy(builder.slave):
        yield builder.slave.resume(record.vm_host)
    else:
        yield _reset(reactor, clock, command, timeout, logger, record.name,
                     record.vm_host)
        yield builder.slave.echo("ready")
    yield store.builders.update(record.id, clean=True)
    builder.record = dataclasses.replace(record, clean=True)


def _reset(reactor, clock, command, timeout, logger, name, vm_host):
    """Run the reset C{command} of builder C{name}, if there is one."""
    if not command:
        return defer.succeed(None)
    command = command.format(vm_host=vm_host or "", name=name)
    logger.info("Resetting builder '%s': %s", name, command)
    return runCommand(reactor, clock, shlex.split(command), timeout, name)


@implementer(IVirtualizedSlave)
class VirtualizedSlave(BuilderSlave):
    """The client of a virtualized builder: a L{BuilderSlave} that resets
    its VM with the configured command (what C{ISlave(builder)} gives for
    a virtualized builder)."""

    def __init__(self, name, url, reset_command=None, reset_timeout=300.0,
                 logger=None, reactor=None, clock=None, **options):
        super().__init__(name, url, reactor=reactor, clock=clock, **options)
        reactor = orReactor(reactor)
        self.reset_command = reset_command
        self.reset_timeout = reset_timeout
        self._reactor = reactor
        self._logger = logger or logging.getLogger("lp_buildmaster.dispatch")

    def __repr__(self):
        return "<VirtualizedSlave %r at %s>" % (self.name, self.url)

    @defer.inlineCallbacks
    def resume(self, vm_host):
        yield _reset(self._reactor, self._clock, self.reset_command,
                     self.reset_timeout, self._logger, self.name, vm_host)
        yield self.echo("ready")


class _CommandProtocol(protocol.ProcessProtocol):
    def __init__(self, done):
        self.done = done
        self.output = b""

    def outReceived(self, data):
        self.output = (self.output + data)[-4096:]

    errReceived = outReceived

    def processEnded(self, reason):
        self.done.callback(reason.value)


@defer.inlineCallbacks
def runCommand(reactor, clock, argv, timeout, name):
    """Run C{argv}; kill it after C{timeout} seconds of C{clock}.

    @raise ResetFailed: it failed, could not start, or timed out.
    """
    done = defer.Deferred()
    proto = _CommandProtocol(done)
    try:
        process = reactor.spawnProcess(proto, argv[0], argv, env=None)
    except OSError as e:
        raise ResetFailed(name, "cannot run %s: %s" % (argv[0], e))
    timer = clock.callLater(timeout, process.signalProcess, "KILL")
    try:
        reason = yield done
    finally:
        if timer.active():
            timer.cancel()
    if isinstance(reason, error.ProcessDone):
        return proto.output
    if getattr(reason, "signal", None) == 9 and not timer.active():
        raise ResetFailed(name, "reset command timed out after %d s"
                          % timeout)
    raise ResetFailed(name, "reset command failed (exit %s): %s" % (
        getattr(reason, "exitCode", "?"),
        proto.output.decode("utf-8", "replace").strip()[-200:]))

