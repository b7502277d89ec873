"""The SSH manhole, driven by the real OpenSSH client."""

import os
import stat

from twisted.internet import defer, error, protocol, reactor, utils
from twisted.trial import unittest

from lp_buildmaster.manhole import (
    ManholeError, loadHostKey, makeManholeService)
from tests.database import DatabaseTestCase

SSH = "/usr/bin/ssh"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
TIMEOUT = 30


class SSHClient(protocol.ProcessProtocol):
    """An ssh process whose output can be waited for."""

    def __init__(self):
        self.out = b""
        self.err = b""
        self.ended = defer.Deferred()
        self._waiting = []

    def outReceived(self, data):
        self.out += data
        for marker, d in list(self._waiting):
            if marker in self.out:
                self._waiting.remove((marker, d))
                d.callback(self.out)

    def errReceived(self, data):
        self.err += data

    def waitFor(self, marker, timeout=TIMEOUT):
        """Fires with all output so far once C{marker} has appeared."""
        if marker in self.out:
            return defer.succeed(self.out)

        def cancel(d):
            self._waiting.remove((marker, d))
        d = defer.Deferred(cancel)
        self._waiting.append((marker, d))
        d.addTimeout(timeout, reactor)
        d.addErrback(self._explain, marker)
        return d

    def _explain(self, failure, marker):
        failure.trap(defer.TimeoutError, defer.CancelledError)
        raise AssertionError("%r never appeared; output %r, errors %r"
                             % (marker, self.out, self.err))

    def send(self, text):
        self.transport.write(text.encode("utf-8"))

    def processEnded(self, reason):
        for marker, d in self._waiting:
            d.errback(AssertionError(
                "ssh ended before %r appeared: output %r, errors %r"
                % (marker, self.out, self.err)))
        self._waiting = []
        self.ended.callback(reason.value.exitCode)


class ManholeTests(DatabaseTestCase):

    @defer.inlineCallbacks
    def setUp(self):
        yield super().setUp()
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)
        self.key = yield self.makeKey("operator")
        self.authorized_keys = os.path.join(self.dir, "authorized_keys")
        with open(self.key + ".pub") as src, \
                open(self.authorized_keys, "w") as dst:
            dst.write("# the operators\n" + src.read())
        self.host_key = os.path.join(self.dir, "manhole_host_key")
        namespace = {"master": None, "store": self.store,
                     "builders": {"bob": "building", "frog": "manual"}}
        self.service = makeManholeService(
            0, self.authorized_keys, namespace, host_key_path=self.host_key)
        self.service.startService()
        self.addCleanup(self.service.stopService)
        self.port = self.service.port.getHost().port

    @defer.inlineCallbacks
    def makeKey(self, name):
        path = os.path.join(self.dir, name)
        out, err, code = yield utils.getProcessOutputAndValue(
            SSH_KEYGEN, ["-q", "-t", "ed25519", "-N", "", "-C", name,
                         "-f", path])
        self.assertEqual(code, 0, err)
        return path

    def ssh(self, key):
        client = SSHClient()
        transport = reactor.spawnProcess(
            client, SSH,
            [SSH, "-F", "/dev/null", "-T", "-i", key, "-p", str(self.port),
             "-l", "operator",
             "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null",
             "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
             "-o", "IdentityAgent=none", "-o", "LogLevel=ERROR",
             "-o", "ConnectTimeout=%d" % TIMEOUT, "127.0.0.1"],
            env={"PATH": "/usr/bin:/bin", "HOME": self.dir})

        def stop():
            if client.ended.called:
                return None
            try:
                transport.signalProcess("KILL")
            except error.ProcessExitedAlready:
                pass
            return client.ended
        self.addCleanup(stop)
        return client

    @defer.inlineCallbacks
    def test_console_sees_the_namespace_and_shows_deferred_results(self):
        client = self.ssh(self.key)
        yield client.waitFor(b">>> ")
        # The echo of the input never holds the joined marker.
        client.send("print('RESULT' + ':' + store.__class__.__name__"
                    " + ':' + builders['frog'] + ':END')\r")
        yield client.waitFor(b"RESULT:Store:manual:END")
        client.send("store.builders.getByName('bob')\r")
        out = yield client.waitFor(b"called back: Builder(")
        self.assertIn(b"name='bob'", out.split(b"called back:")[-1])
        # Ctrl-D at an empty prompt logs out.
        client.send("\x04")
        yield client.ended

    @defer.inlineCallbacks
    def test_closing_input_ends_the_session(self):
        client = self.ssh(self.key)
        yield client.waitFor(b">>> ")
        client.transport.closeStdin()
        yield client.ended

    @defer.inlineCallbacks
    def test_key_not_in_authorized_keys_is_refused(self):
        stranger = yield self.makeKey("stranger")
        client = self.ssh(stranger)
        code = yield client.ended
        self.assertEqual(code, 255)
        self.assertIn(b"Permission denied (publickey)", client.err)
        self.assertNotIn(b">>>", client.out)

    @defer.inlineCallbacks
    def test_revoked_key_is_refused_without_restart(self):
        with open(self.authorized_keys, "w") as f:
            f.write("# nobody any more\n")
        client = self.ssh(self.key)
        code = yield client.ended
        self.assertEqual(code, 255)
        self.assertIn(b"Permission denied (publickey)", client.err)

    def test_host_key_is_kept_private_and_reused(self):
        mode = stat.S_IMODE(os.stat(self.host_key).st_mode)
        self.assertEqual(mode, 0o600)
        first = loadHostKey(self.host_key)
        second = loadHostKey(self.host_key)
        self.assertEqual(first.fingerprint(), second.fingerprint())
        self.assertEqual(first.sshType(), b"ssh-ed25519")


class ManholeSetupTests(unittest.TestCase):

    def test_missing_authorized_keys_is_an_error(self):
        missing = os.path.abspath(self.mktemp())
        e = self.assertRaises(ManholeError, makeManholeService, 0, missing,
                              {})
        self.assertIn("authorized_keys", str(e))

    def test_unreadable_host_key_is_an_error(self):
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write("not a key\n")
        self.assertRaises(ManholeError, loadHostKey, path)
