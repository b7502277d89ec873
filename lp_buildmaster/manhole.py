"""The SSH manhole: a Python console inside the running master.

Operators log in with a key listed in an authorized_keys file (no
passwords, any user name) and get a colourised Python prompt whose
namespace holds the master's objects (C{master}, C{store}, C{builders}).
A Deferred evaluated at the prompt is shown when it fires, so
C{store.builders.getByName("bob")} prints the builder.

The host key is made once (Ed25519) and kept in the state directory, so
clients see the same key on every start.
"""

import os

from cryptography.hazmat.primitives.asymmetric import ed25519
from twisted.conch import manhole, manhole_ssh
from twisted.conch.checkers import (
    IAuthorizedKeysDB, SSHPublicKeyChecker, readAuthorizedKeyFile)
from twisted.conch.insults import insults
from twisted.conch.ssh import keys
from twisted.cred import portal
from twisted.logger import Logger
from zope.interface import implementer

from lp_buildmaster.clock import orReactor
from lp_buildmaster.web.listening import ListeningService, tcpEndpoint

log = Logger(namespace="lp_buildmaster.manhole")


class ManholeError(Exception):
    """The manhole cannot be set up; the message says why."""


@implementer(IAuthorizedKeysDB)
class AuthorizedKeysFile:
    """The keys of an authorized_keys file, for any user name.

    The file is read at each login, so keys can be added or revoked
    without a restart; a missing or unreadable file lets nobody in.
    """

    def __init__(self, path):
        self.path = path

    def getAuthorizedKeys(self, username):
        try:
            with open(self.path, "rb") as f:
                return list(readAuthorizedKeyFile(f))
        except OSError as e:
            log.error("cannot read {path}: {error}", path=self.path,
                      error=e.strerror)
            return []


def loadHostKey(path):
    """The host key in C{path}, made (Ed25519, mode 0600) if missing.

    Synchronous: it runs while the service is built, before the reactor.
    """
    if os.path.exists(path):
        try:
            return keys.Key.fromFile(path)
        except (OSError, keys.BadKeyError) as e:
            raise ManholeError("cannot read the manhole host key %s: %s"
                               % (path, e)) from None
    key = keys.Key(ed25519.Ed25519PrivateKey.generate())
    data = key.toString("openssh")
    # Written aside and renamed: a crash never leaves half a key.
    partial = path + ".new"
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(partial, path)
    except OSError as e:
        raise ManholeError("cannot write the manhole host key %s: %s"
                           % (path, e.strerror)) from None
    log.info("made a new manhole host key in {path}", path=path)
    return key


class ManholeSession(manhole_ssh.TerminalSession):
    """A terminal session that also works without a pty (C{ssh -T}) and
    ends when the client closes its input."""

    width, height = 80, 25
    _proto = None

    def openShell(self, proto):
        self._proto = proto
        super().openShell(proto)

    def windowChanged(self, newWindowSize):
        self.height, self.width = newWindowSize[:2]

    def eofReceived(self):
        if self._proto is not None:
            self._proto.loseConnection()


class ManholeRealm(manhole_ssh.TerminalRealm):
    sessionFactory = ManholeSession

    def __init__(self, namespace):
        super().__init__()
        # Each login gets its own copy: one operator's variables do not
        # appear in another's console.
        self.chainedProtocolFactory = lambda: insults.ServerProtocol(
            manhole.ColoredManhole, dict(namespace))


def makeManholeFactory(authorized_keys_path, namespace, host_key):
    realm = ManholeRealm(namespace)
    checker = SSHPublicKeyChecker(AuthorizedKeysFile(authorized_keys_path))
    factory = manhole_ssh.ConchFactory(portal.Portal(realm, [checker]))
    factory.publicKeys = {host_key.sshType(): host_key.public()}
    factory.privateKeys = {host_key.sshType(): host_key}
    return factory


def makeManholeService(port, authorized_keys_path, namespace,
                       interface="127.0.0.1", host_key_path=None,
                       reactor=None):
    """The SSH manhole as a service listening on C{interface}:C{port}.

    @param port: the TCP port; 0 picks a free one (the service's C{port}
        attribute tells which once started).
    @param authorized_keys_path: the OpenSSH authorized_keys file whose
        keys may log in; it must exist.
    @param namespace: a dict of the names the console starts with, e.g.
        C{{"master": master, "store": store, "builders": ...}}.
    @param host_key_path: where the host key is kept (made if missing),
        e.g. C{<state dir>/manhole_host_key}; None makes a new key at
        each start.
    @raise ManholeError: the authorized_keys file or host key is unusable.
    """
    reactor = orReactor(reactor)
    if not authorized_keys_path or not os.path.isfile(authorized_keys_path):
        raise ManholeError(
            "the manhole needs an authorized_keys file; %r is not one"
            % (authorized_keys_path,))
    if host_key_path is None:
        host_key = keys.Key(ed25519.Ed25519PrivateKey.generate())
    else:
        host_key = loadHostKey(host_key_path)
    factory = makeManholeFactory(authorized_keys_path, namespace, host_key)
    svc = ListeningService(tcpEndpoint(reactor, port, interface), factory,
                           "SSH manhole")
    svc.setName("manhole")
    return svc
