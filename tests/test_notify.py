"""Tests for lp_buildmaster.notify against a real SMTP server.

The server is Twisted's own ESMTP protocol listening on 127.0.0.1 with an
in-memory delivery.  The network runs on the real reactor; the notifier's
retries run on a L{task.Clock}, so the tests step through the retry
schedule without waiting.
"""

import datetime
import email
import email.policy

from zope.interface import implementer

from twisted.internet import defer, protocol, reactor, task
from twisted.logger import Logger, formatEvent
from twisted.mail import smtp
from twisted.mail.interfaces import IMessageDelivery
from twisted.trial import unittest

from lp_buildmaster.enums import BuildStatus, PackagePublishingPocket
from lp_buildmaster.notify import NOTIFY_STATES, BuildNotifier


TITLE = "i386 build of pmount 0.1-1 in ubuntu hoary RELEASE"
LOG_URL = "http://librarian.example.com/42/buildlog_ubuntu-hoary-i386.txt.gz"
NOTIFYING = [BuildStatus.FAILEDTOBUILD, BuildStatus.CHROOTWAIT,
             BuildStatus.FAILEDTOUPLOAD]


def unfolded(value):
    """A header value as a mail reader shows it.

    The email package folds a long header right after its colon when the
    whole value fits on the continuation line (valid RFC 5322 folding), and
    its parser then keeps the continuation's leading space; readers ignore
    it, and so do the tests.
    """
    return str(value).strip()


class FakeBuild:
    """What the notifier reads off a build."""

    def __init__(self, buildstate, id=7, title=TITLE,
                 maintainer="Foo Bar <foo@example.com>", dependencies=None,
                 **extra):
        self.id = id
        self.title = title
        self.buildstate = buildstate
        self.maintainer = maintainer
        self.dependencies = dependencies
        # As the store's Build record has them: ids and names.
        self.distribution, self.distribution_name = 1, "ubuntu"
        self.distrorelease, self.distrorelease_name = 3, "hoary"
        self.architecturetag = "i386"
        self.source_name = "pmount"
        self.source_version = "0.1-1"
        self.pocket = PackagePublishingPocket.RELEASE
        self.builder_name = "bob"
        self.buildduration = datetime.timedelta(minutes=5, seconds=3)
        self.__dict__.update(extra)


@implementer(smtp.IMessage)
class RecordingMessage:

    def __init__(self, server, user):
        self.server = server
        self.user = user
        self.lines = []

    def lineReceived(self, line):
        self.lines.append(line)

    def eomReceived(self):
        self.server.received.append(
            (str(self.user.orig), str(self.user.dest),
             b"\n".join(self.lines)))
        return defer.succeed(None)

    def connectionLost(self):
        self.lines = None


@implementer(IMessageDelivery)
class RecordingDelivery:

    def __init__(self, server):
        self.server = server

    def receivedHeader(self, helo, origin, recipients):
        return None

    def validateFrom(self, helo, origin):
        return origin

    def validateTo(self, user):
        self.server.rcpts += 1
        if self.server.refuse is not None:
            raise smtp.SMTPServerError(*self.server.refuse)
        return lambda: RecordingMessage(self.server, user)


class ServerProtocol(smtp.ESMTP):

    def connectionMade(self):
        self.host = b"mx.test"
        self.delivery = RecordingDelivery(self.factory.server)
        self.factory.server.connected(self)
        smtp.ESMTP.connectionMade(self)

    def connectionLost(self, reason):
        smtp.ESMTP.connectionLost(self, reason)
        self.factory.server.disconnected(self)


class SilentProtocol(protocol.Protocol):
    """Accepts a connection and never says a word."""

    def connectionMade(self):
        self.factory.server.connected(self)

    def connectionLost(self, reason):
        self.factory.server.disconnected(self)


class BusyProtocol(ServerProtocol):
    """Greets with 421 (service not available) and hangs up."""

    def connectionMade(self):
        self.factory.server.connected(self)
        self.sendCode(421, b"mx.test busy, come back later")
        self.transport.loseConnection()


class RecordingServer:
    """An SMTP server on 127.0.0.1 recording what it receives.

    @ivar refuse: C{(code, text)} to answer every RCPT with, or None to
        accept.
    @ivar received: C{(envelope sender, envelope recipient, data)} per
        recipient delivered.
    """

    def __init__(self, protocolClass=ServerProtocol):
        self.protocolClass = protocolClass
        self.received = []
        self.refuse = None
        self.rcpts = 0
        self.connections = 0
        self.open = set()
        self._closedWaiters = []
        self._connectedWaiters = []
        self.port = None

    def start(self):
        factory = protocol.ServerFactory()
        factory.protocol = self.protocolClass
        factory.server = self
        factory.noisy = False
        self.port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        return self.port.getHost().port

    def connected(self, proto):
        self.connections += 1
        self.open.add(proto)
        waiters, self._connectedWaiters = self._connectedWaiters, []
        for d in waiters:
            d.callback(proto)

    def whenConnected(self):
        d = defer.Deferred()
        self._connectedWaiters.append(d)
        return d

    def disconnected(self, proto):
        self.open.discard(proto)
        if not self.open:
            waiters, self._closedWaiters = self._closedWaiters, []
            for d in waiters:
                d.callback(None)

    def whenClosed(self):
        if not self.open:
            return defer.succeed(None)
        d = defer.Deferred()
        self._closedWaiters.append(d)
        return d

    @defer.inlineCallbacks
    def stop(self):
        if self.port is not None:
            yield self.port.stopListening()
            self.port = None
        yield self.whenClosed()

    def messages(self):
        """The distinct messages received: C{[(sender, [recipients],
        EmailMessage)]} in arrival order."""
        grouped = {}
        for sender, recipient, data in self.received:
            entry = grouped.setdefault(data, (sender, []))
            entry[1].append(recipient)
        return [
            (sender, recipients,
             email.message_from_bytes(data, policy=email.policy.default))
            for data, (sender, recipients) in grouped.items()]


class BuildNotifierTests(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        self.events = []
        self.servers = []
        self.notifiers = []
        self.addCleanup(self._stopAll)

    @defer.inlineCallbacks
    def _stopAll(self):
        for notifier in self.notifiers:
            yield notifier.stop()
        for server in self.servers:
            yield server.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def startServer(self, protocolClass=ServerProtocol):
        server = RecordingServer(protocolClass)
        port = server.start()
        self.servers.append(server)
        return server, port

    @defer.inlineCallbacks
    def closedPort(self):
        """A port on 127.0.0.1 where nothing listens."""
        port = reactor.listenTCP(
            0, protocol.ServerFactory(), interface="127.0.0.1")
        number = port.getHost().port
        yield port.stopListening()
        return number

    def makeNotifier(self, port, **kwargs):
        kwargs.setdefault("admins", ["Admin One <admin1@example.com>",
                                     "admin2@example.com"])
        kwargs.setdefault("sender", "Build Master <buildd@example.com>")
        notifier = BuildNotifier(
            smtp_host="127.0.0.1", smtp_port=port, reactor=reactor,
            clock=self.clock, timeout=10, **kwargs)
        notifier.log = Logger(observer=self.events.append)
        self.notifiers.append(notifier)
        return notifier

    def logged(self, level):
        return [formatEvent(event) for event in self.events
                if event["log_level"].name == level]

    # -- which states mail -------------------------------------------------

    def test_notifyStates(self):
        """Exactly the seed's notifying states plus FAILEDTOUPLOAD."""
        self.assertEqual(NOTIFY_STATES, frozenset(NOTIFYING))

    @defer.inlineCallbacks
    def test_notifyingStatesSend(self):
        """Each notifying state mails the maintainer and the admins."""
        server, port = self.startServer()
        notifier = self.makeNotifier(port)
        for number, state in enumerate(NOTIFYING, 1):
            build = FakeBuild(state, id=number)
            self.assertIs(notifier.notify(build, log_url=LOG_URL), True)
            yield notifier.whenIdle()
            messages = server.messages()
            self.assertEqual(len(messages), number)
            sender, recipients, message = messages[-1]
            self.assertEqual(sender, "buildd@example.com")
            self.assertEqual(
                sorted(recipients),
                ["admin1@example.com", "admin2@example.com",
                 "foo@example.com"])
            self.assertEqual(
                unfolded(message["Subject"]),
                "[Build #%d] %s: %s" % (number, TITLE, state.title))
            self.assertEqual(message["X-Build-State"], state.name)
            self.assertEqual(message["X-Build-Id"], str(number))
            self.assertEqual(message["To"], "Foo Bar <foo@example.com>")
            self.assertEqual(
                message["Cc"],
                "Admin One <admin1@example.com>, admin2@example.com")
            self.assertEqual(
                message["From"], "Build Master <buildd@example.com>")
            self.assertEqual(message["X-Build-Source-Package"], "pmount")
            self.assertEqual(message["X-Build-Pocket"], "RELEASE")
            self.assertEqual(message["Auto-Submitted"], "auto-generated")
            self.assertIsNotNone(message["Date"])
            self.assertIsNotNone(message["Message-ID"])
            body = message.get_content()
            self.assertIn(TITLE, body)
            self.assertIn("State: %s" % (state.title,), body)
            self.assertIn("Build Log: %s" % (LOG_URL,), body)
            self.assertIn("Builder: bob", body)
            self.assertIn("Architecture: i386", body)
            self.assertIn("Duration: 0:05:03", body)
            self.assertNotIn("Missing dependencies", body)
        self.assertEqual(notifier.sent, 3)
        self.assertEqual(notifier.failed, 0)
        self.assertEqual(notifier.pending, 0)
        self.assertEqual(self.logged("warn"), [])
        self.assertEqual(self.logged("error"), [])

    @defer.inlineCallbacks
    def test_nonNotifyingStatesSendNone(self):
        """MANUALDEPWAIT, NEEDSBUILD (builder failed or given back),
        FULLYBUILT, CANCELLED and the rest mail nobody."""
        server, port = self.startServer()
        notifier = self.makeNotifier(port)
        quiet = [state for state in BuildStatus if state not in NOTIFYING]
        self.assertIn(BuildStatus.MANUALDEPWAIT, quiet)
        self.assertIn(BuildStatus.NEEDSBUILD, quiet)
        self.assertIn(BuildStatus.FULLYBUILT, quiet)
        self.assertIn(BuildStatus.CANCELLED, quiet)
        for state in quiet:
            build = FakeBuild(state, dependencies="libfoo (>= 1.0)")
            self.assertIs(notifier.notify(build, log_url=LOG_URL), False)
        self.assertEqual(notifier.inFlight, 0)
        yield notifier.whenIdle()
        # Prove a mail would have got through, then count connections.
        notifier.notify(FakeBuild(BuildStatus.CHROOTWAIT))
        yield notifier.whenIdle()
        self.assertEqual(server.connections, 1)
        self.assertEqual(len(server.messages()), 1)
        self.assertEqual(notifier.sent, 1)

    @defer.inlineCallbacks
    def test_dependenciesAndExtraInfo(self):
        """The body lists the dependencies and extra information, indented
        so that no line of theirs can start with a dot."""
        server, port = self.startServer()
        notifier = self.makeNotifier(port)
        build = FakeBuild(BuildStatus.FAILEDTOUPLOAD,
                          dependencies="libfoo (>= 1.0), bar")
        notifier.notify(build, log_url=LOG_URL,
                        extra_info="Upload rejected:\n.\nbad signature")
        yield notifier.whenIdle()
        [(_, _, message)] = server.messages()
        body = message.get_content()
        self.assertIn("Missing dependencies:\n  libfoo (>= 1.0), bar\n", body)
        self.assertIn(
            "Further information:\n  Upload rejected:\n  .\n  bad signature",
            body)

    @defer.inlineCallbacks
    def test_noMaintainerMailsAdminsOnly(self):
        server, port = self.startServer()
        notifier = self.makeNotifier(port)
        for number, maintainer in enumerate([None, ""], 1):
            build = FakeBuild(BuildStatus.FAILEDTOBUILD, id=number,
                              maintainer=maintainer)
            self.assertIs(notifier.notify(build), True)
            yield notifier.whenIdle()
            sender, recipients, message = server.messages()[-1]
            self.assertEqual(
                sorted(recipients),
                ["admin1@example.com", "admin2@example.com"])
            self.assertEqual(
                message["To"],
                "Admin One <admin1@example.com>, admin2@example.com")
            self.assertIsNone(message["Cc"])
            self.assertIn("Build Log: (not available)",
                          message.get_content())

    @defer.inlineCallbacks
    def test_hostileMaintainerFields(self):
        """Recipients come from the Maintainer field parsed by
        getaddresses, each validated and at most three: fifty addresses,
        a continuation line adding a Bcc, a group, and an encoded word
        smuggling an address add nobody. The body names the distribution
        and series, not their ids."""
        server, port = self.startServer()
        notifier = self.makeNotifier(port)
        many = ", ".join("m%d@example.com" % i for i in range(50))
        cases = [
            (many, ["m0@example.com", "m1@example.com", "m2@example.com"]),
            ("Foo <foo@example.com>\n Bcc: victim@example.com", []),
            ("Foo <foo@example.com>, Bcc: victim@example.com;", []),
            ("=?utf-8?q?Foo?= <=?utf-8?q?=20victim-enc@example.com?=>", []),
            ("Foo <foo@localhost>", []),
            ("Foo <foo@example.com>", ["foo@example.com"]),
        ]
        admins = ["admin1@example.com", "admin2@example.com"]
        for number, (maintainer, expected) in enumerate(cases, 1):
            build = FakeBuild(BuildStatus.FAILEDTOBUILD, id=number,
                              maintainer=maintainer)
            self.assertIs(notifier.notify(build), True)
            yield notifier.whenIdle()
            sender, recipients, message = server.messages()[-1]
            self.assertEqual(sorted(recipients), sorted(expected + admins),
                             maintainer)
            self.assertNotIn("victim", str(message))
        body = message.get_content()
        self.assertIn(" * Distribution: ubuntu\n", body)
        build = FakeBuild(BuildStatus.FAILEDTOUPLOAD, id=99,
                          failnotes="Upload rejected: p.changes is missing")
        self.assertIn("\nWhy it failed:\n  Upload rejected: p.changes is "
                      "missing\n", notifier.buildMessage(build).get_content())
        self.assertIn(" * Distrorelease: hoary\n", body)

    @defer.inlineCallbacks
    def test_maintainerWhoIsAlsoAdminMailedOnce(self):
        server, port = self.startServer()
        notifier = self.makeNotifier(port)
        notifier.notify(FakeBuild(BuildStatus.CHROOTWAIT,
                                  maintainer="Admin <ADMIN2@example.com>"))
        yield notifier.whenIdle()
        [(_, recipients, _)] = server.messages()
        self.assertEqual(sorted(recipients),
                         ["ADMIN2@example.com", "admin1@example.com"])

    @defer.inlineCallbacks
    def test_nobodyToMail(self):
        """No maintainer and no admins: nothing is queued, a warning says
        so."""
        server, port = self.startServer()
        notifier = self.makeNotifier(port, admins=())
        build = FakeBuild(BuildStatus.FAILEDTOBUILD, maintainer=None)
        self.assertIs(notifier.notify(build), False)
        yield notifier.whenIdle()
        self.assertEqual(server.connections, 0)
        self.assertEqual(len(self.logged("warn")), 1)

    @defer.inlineCallbacks
    def test_disabled(self):
        server, port = self.startServer()
        notifier = self.makeNotifier(port, enabled=False)
        self.assertIs(
            notifier.notify(FakeBuild(BuildStatus.FAILEDTOBUILD)), False)
        yield notifier.whenIdle()
        self.assertEqual(server.connections, 0)

    @defer.inlineCallbacks
    def test_nonAsciiIsEncoded(self):
        """Non-ASCII names, titles and dependencies travel encoded and
        decode back to the same text."""
        server, port = self.startServer()
        notifier = self.makeNotifier(port)
        title = "i386 build of pmöunt 0.1-1 in ubuntu hoary RELEASE"
        build = FakeBuild(BuildStatus.FAILEDTOBUILD, title=title,
                          maintainer="José Pérez <jose@example.com>",
                          dependencies="libcafé (>= 1)")
        notifier.notify(build)
        yield notifier.whenIdle()
        [(_, recipients, message)] = server.messages()
        raw = server.received[0][2]
        raw.decode("ascii")  # all of it 7-bit on the wire
        self.assertIn("jose@example.com", recipients)
        self.assertEqual(unfolded(message["Subject"]),
                         "[Build #7] %s: Failed to build" % (title,))
        self.assertEqual(message["To"], "José Pérez <jose@example.com>")
        body = message.get_content()
        self.assertIn(title, body)
        self.assertIn("libcafé (>= 1)", body)

    def test_noHeaderInjection(self):
        """A title or log URL with line breaks cannot add headers."""
        notifier = self.makeNotifier(25)
        build = FakeBuild(BuildStatus.FAILEDTOBUILD,
                          title="evil\r\nBcc: victim@example.com",
                          builder_name="b\nX-Evil: 1")
        message = notifier.buildMessage(
            build, log_url="http://x/\r\nBcc: victim@example.com")
        parsed = email.message_from_bytes(
            message.as_bytes(), policy=email.policy.default)
        self.assertIsNone(parsed["Bcc"])
        self.assertIsNone(parsed["X-Evil"])
        self.assertEqual(
            unfolded(parsed["Subject"]),
            "[Build #7] evil Bcc: victim@example.com: Failed to build")

    def test_neverRaises(self):
        """A build the notifier cannot describe is logged, not raised."""
        notifier = self.makeNotifier(25)

        class Broken:
            id = 3
            buildstate = BuildStatus.FAILEDTOBUILD
            maintainer = "foo@example.com"

            @property
            def title(self):
                raise RuntimeError("no title")

        self.assertIs(notifier.notify(Broken()), False)
        self.assertIs(notifier.notify(object()), False)
        [failure] = [event["log_failure"] for event in self.events
                     if "log_failure" in event]
        self.assertTrue(failure.check(RuntimeError))
        self.assertEqual(notifier.inFlight, 0)

    def test_badConfiguration(self):
        self.assertRaises(ValueError, BuildNotifier, sender="nobody")
        self.assertRaises(ValueError, BuildNotifier, admins=["not an address"])

    @defer.inlineCallbacks
    def test_adminsAreNotCapped(self):
        """The cap is for the addresses a source brings; every configured
        admin is mailed (each once)."""
        server, port = self.startServer()
        admins = ["admin%d@example.com" % i for i in range(6)]
        notifier = self.makeNotifier(
            port, admins=admins + ["ADMIN0@example.com"])
        notifier.notify(FakeBuild(BuildStatus.FAILEDTOBUILD))
        yield notifier.whenIdle()
        [(_, recipients, _)] = server.messages()
        self.assertEqual(sorted(recipients),
                         sorted(admins + ["foo@example.com"]))

    # -- never waiting for the network -------------------------------------

    @defer.inlineCallbacks
    def test_notifyDoesNotWait(self):
        """notify() returns while the SMTP conversation has not even
        started; a server that never answers does not hold it up."""
        server, port = self.startServer(SilentProtocol)
        notifier = self.makeNotifier(port)
        connected = server.whenConnected()
        self.assertIs(
            notifier.notify(FakeBuild(BuildStatus.FAILEDTOBUILD)), True)
        self.assertEqual(server.connections, 0)
        self.assertEqual(notifier.inFlight, 1)
        self.assertEqual(notifier.pending, 1)
        yield connected
        # Connected, and the server keeps quiet: still in flight.
        self.assertEqual(notifier.inFlight, 1)
        self.assertEqual(notifier.sent, 0)

    # -- failures and retries ----------------------------------------------

    @defer.inlineCallbacks
    def test_retryAfterTemporaryRefusal(self):
        """A 4xx reply is logged and retried on the clock; the retry gets
        through."""
        server, port = self.startServer()
        server.refuse = (451, "Try again later")
        notifier = self.makeNotifier(port)
        self.assertIs(
            notifier.notify(FakeBuild(BuildStatus.CHROOTWAIT),
                            log_url=LOG_URL), True)
        yield notifier.whenIdle()
        self.assertEqual(server.received, [])
        self.assertEqual(server.rcpts, 3)
        [warning] = self.logged("warn")
        self.assertIn("Attempt 1 to mail about build #7", warning)
        self.assertIn(
            "451 No recipients accepted (foo@example.com: 451 Try again later",
            warning)
        self.assertIn("retrying in 30s", warning)
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 30)
        self.assertEqual(notifier.pending, 1)

        server.refuse = None
        self.clock.advance(29)
        self.assertEqual(notifier.inFlight, 0)
        self.clock.advance(1)
        self.assertEqual(notifier.inFlight, 1)
        yield notifier.whenIdle()
        [(_, recipients, message)] = server.messages()
        self.assertEqual(len(recipients), 3)
        self.assertIn(LOG_URL, message.get_content())
        self.assertEqual(notifier.sent, 1)
        self.assertEqual(notifier.failed, 0)
        self.assertEqual(notifier.pending, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(server.connections, 2)

    @defer.inlineCallbacks
    def test_retryAfterBusyGreeting(self):
        """A 421 greeting is a temporary failure, retried on the clock."""
        server, port = self.startServer(BusyProtocol)
        notifier = self.makeNotifier(port, retry_delays=(5,))
        notifier.notify(FakeBuild(BuildStatus.FAILEDTOBUILD))
        yield notifier.whenIdle()
        [warning] = self.logged("warn")
        self.assertIn("421 mx.test busy, come back later", warning)
        self.assertIn("retrying in 5s", warning)
        self.clock.advance(5)
        yield notifier.whenIdle()
        [error] = self.logged("error")
        self.assertIn("after 2 attempts", error)
        self.assertEqual(server.connections, 2)
        self.assertEqual(notifier.failed, 1)

    @defer.inlineCallbacks
    def test_giveUpAfterLastRetry(self):
        """With nothing listening, every attempt fails; each is retried
        after the next delay, and after the last one the notification is
        given up with an error."""
        port = yield self.closedPort()
        notifier = self.makeNotifier(port, retry_delays=(30, 120, 600))
        self.assertIs(
            notifier.notify(FakeBuild(BuildStatus.FAILEDTOBUILD)), True)
        for delay in (30, 120, 600):
            yield notifier.whenIdle()
            [call] = self.clock.getDelayedCalls()
            self.assertEqual(call.getTime() - self.clock.seconds(), delay)
            self.assertEqual(self.logged("error"), [])
            self.clock.advance(delay)
        yield notifier.whenIdle()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        warnings = self.logged("warn")
        self.assertEqual(len(warnings), 3)
        self.assertIn("retrying in 600s", warnings[-1])
        [error] = self.logged("error")
        self.assertIn(
            "Giving up mailing about build #7 after 4 attempts", error)
        self.assertIn("127.0.0.1:%d" % (port,), error)
        self.assertEqual(notifier.failed, 1)
        self.assertEqual(notifier.sent, 0)
        self.assertEqual(notifier.pending, 0)

    @defer.inlineCallbacks
    def test_permanentRefusalNotRetried(self):
        """A 5xx reply is final: an error at once, no retry."""
        server, port = self.startServer()
        server.refuse = (550, "No such user")
        notifier = self.makeNotifier(port)
        notifier.notify(FakeBuild(BuildStatus.FAILEDTOBUILD))
        yield notifier.whenIdle()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        [error] = self.logged("error")
        self.assertIn(
            "refused it permanently: 550 No recipients accepted"
            " (foo@example.com: 550 No such user", error)
        self.assertEqual(notifier.failed, 1)
        self.assertEqual(server.received, [])

    # -- stopping ----------------------------------------------------------

    @defer.inlineCallbacks
    def test_stopCancelsPendingRetry(self):
        port = yield self.closedPort()
        notifier = self.makeNotifier(port)
        notifier.notify(FakeBuild(BuildStatus.FAILEDTOBUILD))
        yield notifier.whenIdle()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        yield notifier.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(notifier.dropped, 1)
        self.assertEqual(notifier.pending, 0)
        self.assertIs(
            notifier.notify(FakeBuild(BuildStatus.FAILEDTOBUILD)), False)
        self.assertEqual(notifier.inFlight, 0)

    @defer.inlineCallbacks
    def test_stopAbortsInFlight(self):
        """stop() aborts a conversation under way and fires once its
        connection is closed; nothing is retried."""
        server, port = self.startServer(SilentProtocol)
        notifier = self.makeNotifier(port)
        connected = server.whenConnected()
        notifier.notify(FakeBuild(BuildStatus.CHROOTWAIT))
        yield connected
        yield notifier.stop()
        self.assertEqual(notifier.inFlight, 0)
        self.assertEqual(notifier.pending, 0)
        self.assertEqual(notifier.dropped, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.logged("error"), [])
        yield server.whenClosed()

    @defer.inlineCallbacks
    def test_stopBeforeConnected(self):
        """stop() right after notify(), before the connection is made."""
        server, port = self.startServer()
        notifier = self.makeNotifier(port)
        notifier.notify(FakeBuild(BuildStatus.CHROOTWAIT))
        yield notifier.stop()
        self.assertEqual(notifier.inFlight, 0)
        self.assertEqual(notifier.dropped, 1)
        self.assertEqual(server.received, [])

    @defer.inlineCallbacks
    def test_startAfterStop(self):
        server, port = self.startServer()
        notifier = self.makeNotifier(port)
        yield notifier.stop()
        notifier.start()
        self.assertIs(
            notifier.notify(FakeBuild(BuildStatus.CHROOTWAIT)), True)
        yield notifier.whenIdle()
        self.assertEqual(len(server.messages()), 1)
