"""Build notifications by mail.

When a build ends in a state somebody has to act on (the seed notifies for
FAILEDTOBUILD and CHROOTWAIT; the design adds FAILEDTOUPLOAD) the master
mails the source's maintainer and the configured admin addresses.

L{BuildNotifier.notify} never blocks and never raises into its caller: it
builds the message, starts an SMTP conversation (Twisted's
L{ESMTPSenderFactory} over a TCP connection to the configured relay) and
returns at once.  A failed attempt is logged and retried after each of
C{retry_delays} in turn; after the last retry the notification is given up
with an error log line.  A permanent refusal (a 5xx reply) is given up at
once, since asking the same relay again gets the same answer.

Two time sources are kept apart on purpose: connections always use the
C{reactor} (real network I/O), while retries are scheduled on the C{clock},
so tests drive the retry schedule with L{twisted.internet.task.Clock} and
still talk to a real SMTP server.
"""

import datetime
import email.policy
import email.utils
import enum
import re
from email.headerregistry import Address
from email.message import EmailMessage
from io import BytesIO

from twisted.internet.defer import (
    CancelledError, Deferred, DeferredList, succeed)
from twisted.logger import Logger
from twisted.mail.smtp import SUCCESS, ESMTPSenderFactory, SMTPClientError

from lp_buildmaster.enums import BuildStatus


#: Build states that mail the maintainer and the admins.
NOTIFY_STATES = frozenset([
    BuildStatus.FAILEDTOBUILD,
    BuildStatus.CHROOTWAIT,
    BuildStatus.FAILEDTOUPLOAD,
])

#: Lines are written with "\n": the SMTP client turns them into CRLF.
#: cte_type 7bit makes non-ASCII bodies quoted-printable (or base64), since
#: the client does not negotiate 8BITMIME.
MAIL_POLICY = email.policy.default.clone(cte_type="7bit")

_WHITESPACE = re.compile(r"\s+")

#: Addresses taken from a source's Maintainer (and Changed-By) at most.
MAX_SOURCE_RECIPIENTS = 3

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(r"%s(\.%s)*" % (_ATOM, _ATOM))
_DOMAIN = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _oneLine(value):
    """Collapse all whitespace (CR and LF included) to single spaces, so
    nothing a slave or an uploader wrote can add a header or a line."""
    return _WHITESPACE.sub(" ", str(value)).strip()


def _describe(value):
    """A short text for an attribute that may be a string, an enum item,
    or a record with a C{name}; None when there is nothing to say."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        text = value.name
    elif isinstance(value, str):
        text = value
    elif isinstance(getattr(value, "name", None), str):
        text = value.name
    else:
        text = str(value)
    text = _oneLine(text)
    return text or None


def _describeDuration(value):
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        return str(value - datetime.timedelta(microseconds=value.microseconds))
    if isinstance(value, (int, float)):
        return _describeDuration(datetime.timedelta(seconds=value))
    return _describe(value)


def _indent(text, prefix="  "):
    """Indent free text so none of its lines starts with a dot (the SMTP
    end-of-data marker) or looks like a field of ours."""
    return "\n".join(
        prefix + line.rstrip() for line in str(text).splitlines())


def parseAddresses(text):
    """Parse an RFC 822 address list into L{Address} objects.

    Addresses that cannot go on an SMTP envelope (no domain, non-ASCII
    local part, control characters) are returned separately, as text.

    @return: C{(addresses, rejected)}.
    """
    addresses, rejected = [], []
    if not text:
        return addresses, rejected
    if isinstance(text, str):
        text = [text]
    fields = []
    for field in text:
        # Maintainer and Changed-By are one-line fields: a continuation
        # line (" Bcc: victim@...") or a group ("Bcc: a@b;") is not an
        # address of the package's people but an attempt to add some.
        if "\n" in field or "\r" in field or ":" in field or ";" in field:
            rejected.append(_oneLine(field)[:200])
        else:
            fields.append(field)
    for name, spec in email.utils.getaddresses(fields):
        address = _makeAddress(name, spec)
        if address is None:
            rejected.append(spec or name)
        elif len(addresses) >= MAX_SOURCE_RECIPIENTS:
            rejected.append(spec)
        else:
            addresses.append(address)
    return addresses, rejected


def _makeAddress(name, spec):
    spec = spec.strip()
    local, at, domain = spec.rpartition("@")
    if not at or not local or not domain:
        return None
    if _WHITESPACE.search(spec) or any(c in spec for c in "<>,;\"()"):
        return None
    try:
        local.encode("ascii")
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    # A dot-atom local part (no encoded word) and a host name with a dot.
    if (not _LOCAL.fullmatch(local) or local.startswith("=?")
            or not _DOMAIN.fullmatch(domain)):
        return None
    try:
        return Address(display_name=_oneLine(name),
                       addr_spec="%s@%s" % (local, domain))
    except (ValueError, IndexError, TypeError):
        return None


class _SenderFactory(ESMTPSenderFactory):
    """An L{ESMTPSenderFactory} that also says when its connection is
    over (failed or lost), so the notifier can tell when nothing of an
    attempt is left on the reactor."""

    noisy = False

    def __init__(self, *args, **kwargs):
        self.connectionEnded = Deferred()
        self.lastProtocol = None
        ESMTPSenderFactory.__init__(self, *args, **kwargs)

    def buildProtocol(self, addr):
        protocol = ESMTPSenderFactory.buildProtocol(self, addr)
        self.lastProtocol = protocol
        return protocol

    def clientConnectionFailed(self, connector, reason):
        try:
            ESMTPSenderFactory.clientConnectionFailed(self, connector, reason)
        finally:
            self._ended()

    def clientConnectionLost(self, connector, reason):
        try:
            ESMTPSenderFactory.clientConnectionLost(self, connector, reason)
        finally:
            self._ended()

    def _ended(self):
        if not self.connectionEnded.called:
            self.connectionEnded.callback(None)


class _Attempt:
    """One SMTP conversation for one notification."""

    def __init__(self, factory, result):
        self.factory = factory
        self.result = result
        self.connector = None

    def abort(self):
        """Drop the conversation now, whatever stage it is in."""
        self.factory.sendFinished = True
        if self.factory.connectionEnded.called:
            return
        protocol = self.factory.lastProtocol
        if protocol is not None and protocol.transport is not None \
                and protocol.connected:
            protocol.transport.abortConnection()
        elif self.connector is not None:
            self.connector.disconnect()


class _Notification:
    """A message on its way: what to send, to whom, and where it stands."""

    def __init__(self, build_id, state, recipients, data):
        self.build_id = build_id
        self.state = state
        self.recipients = recipients
        self.data = data
        self.attempts = 0
        self.retry_call = None
        self.attempt = None


class BuildNotifier:
    """Mails the people concerned when a build ends badly.

    @ivar sent: notifications delivered to the relay.
    @ivar failed: notifications given up (retries exhausted, or refused
        permanently).
    @ivar dropped: notifications abandoned by L{stop}.
    """

    log = Logger()

    def __init__(self, smtp_host="127.0.0.1", smtp_port=25,
                 sender="buildmaster@localhost", admins=(), reactor=None,
                 retry_delays=(30, 120, 600, 1800), enabled=True, timeout=60,
                 clock=None):
        """
        @param reactor: makes the TCP connections (the global reactor by
            default).
        @param clock: schedules retries (C{reactor} by default); tests pass
            a L{twisted.internet.task.Clock} here.
        @param admins: addresses mailed about every notifying build; a
            string is read as a comma-separated address list.
        @param timeout: seconds to wait for the connection and for each
            server reply.
        """
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.smtp_host = smtp_host
        self.smtp_port = int(smtp_port)
        senders, rejected = parseAddresses(sender)
        if len(senders) != 1 or rejected:
            raise ValueError("not a usable sender address: %r" % (sender,))
        self.sender = senders[0]
        if isinstance(admins, str):
            admins = [admins]
        self.admins, rejected = parseAddresses(list(admins or ()))
        if rejected:
            raise ValueError("not usable admin addresses: %r" % (rejected,))
        self.retry_delays = tuple(retry_delays)
        self.enabled = enabled
        self.timeout = timeout
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.running = True
        self._pending = set()
        self._inflight = set()
        self._idleWaiters = []

    # -- deciding and composing ------------------------------------------

    def shouldNotify(self, build):
        """Whether a build in its current state is mailed about."""
        return getattr(build, "buildstate", None) in NOTIFY_STATES

    def recipientsFor(self, build):
        """The maintainer's addresses, then the admins', without repeats.

        @return: C{(to, cc)}, lists of L{Address}: C{to} is the maintainer
            (or the admins when there is no usable maintainer), C{cc} the
            admins otherwise.
        """
        maintainers, rejected = parseAddresses(
            getattr(build, "maintainer", None))
        if rejected:
            self.log.warn(
                "Build #{build_id}: ignoring unusable maintainer address(es)"
                " {rejected!r}", build_id=build.id, rejected=rejected)
        seen = set()
        to, cc = [], []
        for address in maintainers:
            if address.addr_spec.lower() not in seen:
                seen.add(address.addr_spec.lower())
                to.append(address)
        admins = cc if to else to
        for address in self.admins:
            if address.addr_spec.lower() not in seen:
                seen.add(address.addr_spec.lower())
                admins.append(address)
        return to, cc

    def buildMessage(self, build, log_url=None, extra_info=None,
                     recipients=None):
        """Compose the notification for C{build} as an L{EmailMessage}."""
        if recipients is None:
            recipients = self.recipientsFor(build)
        to, cc = recipients
        state = build.buildstate
        title = _oneLine(build.title)
        message = EmailMessage(policy=MAIL_POLICY)
        message["From"] = self.sender
        if to:
            message["To"] = to
        if cc:
            message["Cc"] = cc
        message["Subject"] = "[Build #%s] %s: %s" % (
            build.id, title, state.title)
        message["Date"] = email.utils.formatdate(
            self.reactor.seconds(), usegmt=True)
        message["Message-ID"] = email.utils.make_msgid(
            "build%s" % (build.id,), domain=self.sender.domain)
        message["Auto-Submitted"] = "auto-generated"
        message["Precedence"] = "bulk"
        message["X-Build-Id"] = str(build.id)
        message["X-Build-State"] = state.name

        fields = [
            ("Source-Package", "Source Package",
             _describe(getattr(build, "source_name", None))),
            ("Source-Version", "Version",
             _describe(getattr(build, "source_version", None))),
            ("Architecture", "Architecture",
             _describe(getattr(build, "architecturetag", None))),
            ("Distribution", "Distribution",
             _describe(getattr(build, "distribution_name", None))),
            ("Distrorelease", "Distrorelease",
             _describe(getattr(build, "distrorelease_name", None))),
            ("Pocket", "Pocket",
             _describe(getattr(build, "pocket", None))),
            ("Builder", "Builder", self._builderName(build)),
            ("Duration", "Duration",
             _describeDuration(getattr(build, "buildduration", None))),
        ]
        for header, _, value in fields:
            if value is not None:
                message["X-Build-" + header] = value

        lines = [
            "Build #%s: %s" % (build.id, title),
            "",
            " * State: %s" % (state.title,),
        ]
        for _, label, value in fields:
            if value is not None:
                lines.append(" * %s: %s" % (label, value))
        lines.append(" * Build Log: %s" % (
            _oneLine(log_url) if log_url else "(not available)",))
        failnotes = getattr(build, "failnotes", None)
        if failnotes:
            lines += ["", "Why it failed:", _indent(failnotes)]
        dependencies = getattr(build, "dependencies", None)
        if dependencies:
            lines += ["", "Missing dependencies:", _indent(dependencies)]
        if extra_info:
            lines += ["", "Further information:", _indent(extra_info)]
        lines += [
            "",
            "-- ",
            "You are receiving this email because you are the maintainer of",
            "this source package or an administrator of this build farm.",
        ]
        message.set_content("\n".join(lines) + "\n")
        return message

    def _builderName(self, build):
        name = getattr(build, "builder_name", None)
        if name is None:
            builder = getattr(build, "builder", None)
            name = getattr(builder, "name", None)
        return _describe(name)

    # -- sending ---------------------------------------------------------

    def notify(self, build, log_url=None, extra_info=None):
        """Mail about C{build} if its state calls for it.

        Never blocks and never raises: the sending happens in the
        background.

        @return: True if a mail was queued, False otherwise.
        """
        try:
            return self._notify(build, log_url, extra_info)
        except Exception:
            self.log.failure(
                "Could not prepare the notification for build {build!r}",
                build=build)
            return False

    def _notify(self, build, log_url, extra_info):
        if not self.shouldNotify(build):
            return False
        if not self.enabled:
            self.log.info(
                "Notifications are disabled; not mailing about build"
                " #{build_id}", build_id=build.id)
            return False
        if not self.running:
            self.log.warn(
                "Notifier is stopped; not mailing about build #{build_id}",
                build_id=build.id)
            return False
        to, cc = self.recipientsFor(build)
        if not to:
            self.log.warn(
                "Build #{build_id} is {state}, but there is nobody to mail",
                build_id=build.id, state=build.buildstate.name)
            return False
        data = self.buildMessage(
            build, log_url, extra_info, recipients=(to, cc)).as_bytes()
        note = _Notification(
            build.id, build.buildstate,
            [address.addr_spec for address in to + cc], data)
        self._pending.add(note)
        self._attempt(note)
        return True

    def _attempt(self, note):
        note.attempts += 1
        result = Deferred(lambda d: attempt.abort())
        factory = _SenderFactory(
            None, None, self.sender.addr_spec, note.recipients,
            BytesIO(note.data), result, retries=0, timeout=self.timeout,
            heloFallback=True, requireAuthentication=False,
            requireTransportSecurity=False)
        attempt = _Attempt(factory, result)
        note.attempt = attempt
        self._inflight.add(attempt)
        DeferredList(
            [result, factory.connectionEnded], consumeErrors=True
        ).addCallback(self._attemptEnded, note, attempt)
        try:
            attempt.connector = self.reactor.connectTCP(
                self.smtp_host, self.smtp_port, factory,
                timeout=self.timeout)
        except Exception as e:
            # Never expected from connectTCP, which reports errors through
            # the factory; but never let one escape into the caller.
            factory.sendFinished = True
            if not result.called:
                result.errback(e)
            factory._ended()

    def _attemptEnded(self, results, note, attempt):
        (ok, value), _ = results
        self._inflight.discard(attempt)
        note.attempt = None
        try:
            self._judge(note, ok, value)
        finally:
            self._checkIdle()

    def _judge(self, note, ok, value):
        if ok:
            numOk, addresses = value
            self.sent += 1
            self._pending.discard(note)
            self.log.info(
                "Mailed {count} recipient(s) about build #{build_id}"
                " ({state})", count=numOk, build_id=note.build_id,
                state=note.state.name)
            refused = [
                "%s (%s)" % (_text(address), code)
                for address, code, _ in addresses if code not in SUCCESS]
            if refused:
                self.log.warn(
                    "The relay refused some recipients of build #{build_id}:"
                    " {refused}", build_id=note.build_id,
                    refused=", ".join(refused))
            return
        reason = _reason(value)
        if not self.running or value.check(CancelledError):
            self._drop(note)
            return
        if _isPermanent(value):
            self.failed += 1
            self._pending.discard(note)
            self.log.error(
                "Giving up mailing about build #{build_id}: the relay"
                " {host}:{port} refused it permanently: {reason}",
                build_id=note.build_id, host=self.smtp_host,
                port=self.smtp_port, reason=reason)
            return
        if note.attempts <= len(self.retry_delays):
            delay = self.retry_delays[note.attempts - 1]
            self.log.warn(
                "Attempt {attempt} to mail about build #{build_id} via"
                " {host}:{port} failed: {reason}; retrying in {delay}s",
                attempt=note.attempts, build_id=note.build_id,
                host=self.smtp_host, port=self.smtp_port, reason=reason,
                delay=delay)
            note.retry_call = self.clock.callLater(delay, self._retry, note)
            return
        self.failed += 1
        self._pending.discard(note)
        self.log.error(
            "Giving up mailing about build #{build_id} after {attempts}"
            " attempts via {host}:{port}: {reason}",
            build_id=note.build_id, attempts=note.attempts,
            host=self.smtp_host, port=self.smtp_port, reason=reason)

    def _retry(self, note):
        note.retry_call = None
        if not self.running:
            self._drop(note)
            return
        self._attempt(note)

    def _drop(self, note):
        if note in self._pending:
            self._pending.discard(note)
            self.dropped += 1
            self.log.info(
                "Dropped the notification for build #{build_id}",
                build_id=note.build_id)

    # -- lifecycle -------------------------------------------------------

    @property
    def pending(self):
        """Notifications not finished yet: in flight or waiting to retry."""
        return len(self._pending)

    @property
    def inFlight(self):
        """SMTP conversations under way."""
        return len(self._inflight)

    def whenIdle(self):
        """A Deferred firing when no SMTP conversation is under way (and
        its connection is closed).  Notifications waiting for a retry do
        not count: they are on the clock, not the network."""
        if not self._inflight:
            return succeed(None)
        d = Deferred()
        self._idleWaiters.append(d)
        return d

    def _checkIdle(self):
        if self._inflight:
            return
        waiters, self._idleWaiters = self._idleWaiters, []
        for d in waiters:
            d.callback(None)

    def start(self):
        """Accept notifications again after L{stop}."""
        self.running = True

    def stop(self):
        """Cancel retries and abort conversations under way.

        @return: a Deferred firing once every connection is closed, so
            nothing of the notifier is left on the reactor or the clock.
        """
        self.running = False
        for note in list(self._pending):
            if note.retry_call is not None and note.retry_call.active():
                note.retry_call.cancel()
                note.retry_call = None
                self._drop(note)
        for attempt in list(self._inflight):
            if not attempt.result.called:
                attempt.result.cancel()
            else:
                attempt.abort()
        return self.whenIdle()


def _text(value):
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value)


def _reason(failure):
    error = failure.value
    if isinstance(error, SMTPClientError):
        reason = "%s %s" % (error.code, _oneLine(_text(error.resp)))
        refused = [
            "%s: %s %s" % (_text(address), code, _oneLine(_text(resp)))
            for address, code, resp in (error.addresses or ())
            if code not in SUCCESS]
        if refused:
            reason += " (%s)" % ("; ".join(refused),)
        return reason
    return _oneLine(failure.getErrorMessage()) or failure.type.__name__


def _isPermanent(failure):
    """A 5xx reply: the relay will not take this message, ever."""
    error = failure.value
    return (isinstance(error, SMTPClientError)
            and isinstance(error.code, int) and 500 <= error.code < 600)
