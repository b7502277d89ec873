"""Resetting a dirty virtualized builder before it takes a job.

A virtualized builder that ran a job is dirty: its VM must be reset (by
the configured C{[master] reset_command}, run with a timeout) and answer
C{echo} again before it may take another job. L{resetBuilder} does that
for the dispatcher; L{runCommand} runs one command without blocking the
reactor; L{ResetFailed} is the builder's failure when either goes wrong.

Imports: the slave client's errors and the store's builder component
(through the store it is given); nothing above.
"""

import dataclasses
import shlex

from twisted.internet import defer, error, protocol

from lp_buildmaster.slave import SlaveError


class ResetFailed(SlaveError):
    """A virtualized builder's reset command failed or timed out."""


@defer.inlineCallbacks
def resetBuilder(builder, store, reactor, clock, command, timeout, logger):
    """Reset a dirty virtualized builder, then check it answers, and
    record it clean.

    @param command: the reset command (a string, C{{vm_host}} and
        C{{name}} substituted); None to reset nothing and only check the
        builder echoes.
    @raise ResetFailed: the command failed or timed out.
    """
    record = builder.record
    if command:
        command = command.format(vm_host=record.vm_host or "",
                                 name=record.name)
        logger.info("Resetting builder '%s': %s", record.name, command)
        yield runCommand(reactor, clock, shlex.split(command), timeout,
                         record.name)
    yield builder.slave.echo("ready")
    yield store.builders.update(record.id, clean=True)
    builder.record = dataclasses.replace(record, clean=True)


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

