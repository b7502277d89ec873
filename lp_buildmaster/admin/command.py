"""What every command of C{buildmaster-admin} uses: L{AdminError} (a
refusal on one line), running a Deferred-returning function on a store
under the reactor, argument types checked against their columns, the CLI's
actor for L{lp_buildmaster.actions}, and parser helpers."""

import argparse
import getpass
import math
import socket
from pathlib import Path

from twisted.internet import defer, task

from lp_buildmaster.actions import Actions, Actor
from lp_buildmaster.operations import (  # re-exported
    INT4_MAX, INT4_MIN, Refused as AdminError, parseEnum)
from lp_buildmaster.store import Store


def librarianRoot(config):
    return Path(config.master_state_dir) / "librarian"


def librarianTarget(config):
    """Where files added here go: the state directory's librarian, or a
    factory C{f(store)} of the client of the shared librarian
    (C{[librarian] url}) or of the Swift backend."""
    if not config.librarian_url and config.librarian_backend == "local":
        return librarianRoot(config)

    def client(store):
        from lp_buildmaster.service import librarianSecret
        state = Path(config.master_state_dir)
        secret = librarianSecret(state, config.librarian_secret_file)
        if config.librarian_url:
            from twisted.internet import reactor
            from twisted.web.client import HTTPConnectionPool

            from lp_buildmaster.librarian.remote import (
                RemoteLibrarianClient)
            # One command, one upload: no connection kept afterwards.
            return RemoteLibrarianClient(
                config.librarian_url, secret, state / "librarian-spool",
                pool=HTTPConnectionPool(reactor, persistent=False))
        from lp_buildmaster.librarian.backends import backendFromConfig
        from lp_buildmaster.librarian.client import LibrarianClient
        return LibrarianClient(store, backendFromConfig(config, state), "",
                               secret)
    return client


def uploadRoot(config):
    return Path(config.master_state_dir) / "uploads"


@defer.inlineCallbacks
def _withStore(dsn, fn, *args):
    store = yield Store.connect(dsn, size=1)
    try:
        return (yield fn(store, *args))
    finally:
        store.close()


def runWithStore(dsn, fn, *args):
    """Run C{fn(store, *args)} (returning a Deferred) on a reactor; return
    its result, or raise what it failed with."""
    return runDeferred(_withStore, dsn, fn, *args)


def runDeferred(fn, *args):
    """Run C{fn(*args)} (returning a Deferred) under L{task.react}; return
    its result, or raise what it failed with."""
    result = []
    failures = []

    def main(reactor):
        d = defer.maybeDeferred(fn, *args)
        d.addCallbacks(result.append, failures.append)
        return d
    try:
        task.react(main)
    except SystemExit as e:
        if e.code:
            raise
    if failures:
        failures[0].raiseException()
    return result[0] if result else None


def integer(minimum=INT4_MIN, maximum=INT4_MAX, what="number"):
    """An argparse type: an integer between C{minimum} and C{maximum}."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a number" % text)
        if value < minimum:
            raise argparse.ArgumentTypeError(
                "%s must be at least %d" % (what, minimum))
        if value > maximum:
            raise argparse.ArgumentTypeError(
                "%s must be at most %d" % (what, maximum))
        return value
    return parse


#: Ids and counts: 1 up to what an integer column holds.
positiveInt = integer(1, INT4_MAX)


def positiveFloat(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text)
    if not math.isfinite(value) or not value > 0:
        raise argparse.ArgumentTypeError(
            "must be a finite number greater than 0")
    return value


def cliActor():
    """The CLI acts as the shell user, with every right (it can read the
    master's configuration and database anyway)."""
    return Actor("cli:%s" % getpass.getuser(), "admin",
                 "cli@%s" % socket.gethostname())


def runAction(dsn, name, *args, **kwargs):
    """Run C{Actions(store, cliActor()).name(*args, **kwargs)}."""
    def act(store):
        return getattr(Actions(store, cliActor()), name)(*args, **kwargs)
    return runWithStore(dsn, act)


def jsonOption(parser):
    """--json after the subcommand too (it is global as well)."""
    parser.add_argument("--json", action="store_true",
                        default=argparse.SUPPRESS,
                        help="print JSON instead of text")


def group(sub, name, help):
    """A subcommand with subcommands of its own."""
    p = sub.add_parser(name, help=help)
    inner = p.add_subparsers(dest="action", metavar="ACTION")
    inner.required = True
    return inner


def flag(parser, name, help, off=None):
    """--NAME / --no-NAME (or --OFF), default None: unchanged."""
    dest = name.replace("-", "_")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--" + name, dest=dest, action="store_true",
                       default=None, help=help)
    group.add_argument("--" + (off or "no-" + name), dest=dest,
                       action="store_false")
