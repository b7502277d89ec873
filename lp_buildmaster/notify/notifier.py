"""L{BuildNotifier}: mails the people concerned in the background, with
retries on the clock, and stops leaving nothing on the reactor."""

from io import BytesIO

from twisted.internet.defer import (
    CancelledError, Deferred, DeferredList, succeed)
from twisted.logger import Logger
from twisted.mail.smtp import SUCCESS

from lp_buildmaster.clock import orReactor
from lp_buildmaster.notify import compose
from lp_buildmaster.notify.addresses import parseAddresses
from lp_buildmaster.notify.compose import NOTIFY_STATES
from lp_buildmaster.notify.smtp import (
    Attempt, SenderFactory, asText, failureReason, isPermanent)


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
        reactor = orReactor(reactor)
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
        self.admins, rejected = parseAddresses(list(admins or ()),
                                               limit=None)
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
        """L{compose.recipientsFor} with our admins; unusable source
        addresses are logged once and left out."""
        to, cc, rejected = compose.recipientsFor(build, self.admins)
        if rejected:
            self.log.warn(
                "Build #{build_id}: ignoring unusable Changed-By or"
                " Maintainer address(es) {rejected!r}", build_id=build.id,
                rejected=rejected)
        return to, cc

    def buildMessage(self, build, log_url=None, extra_info=None,
                     recipients=None):
        """Compose the notification for C{build} as an L{EmailMessage}."""
        if recipients is None:
            recipients = self.recipientsFor(build)
        return compose.composeMessage(
            build, self.sender, recipients, self.reactor.seconds(),
            log_url=log_url, extra_info=extra_info)

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
        factory = SenderFactory(
            None, None, self.sender.addr_spec, note.recipients,
            BytesIO(note.data), result, retries=0, timeout=self.timeout,
            heloFallback=True, requireAuthentication=False,
            requireTransportSecurity=False)
        attempt = Attempt(factory, result)
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
                "%s (%s)" % (asText(address), code)
                for address, code, _ in addresses if code not in SUCCESS]
            if refused:
                self.log.warn(
                    "The relay refused some recipients of build #{build_id}:"
                    " {refused}", build_id=note.build_id,
                    refused=", ".join(refused))
            return
        reason = failureReason(value)
        if not self.running or value.check(CancelledError):
            self._drop(note)
            return
        if isPermanent(value):
            self._giveUp(note, reason, ": the relay {host}:{port} refused"
                         " it permanently")
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
        self._giveUp(note, reason,
                     " after {attempts} attempts via {host}:{port}")

    def _giveUp(self, note, reason, why):
        """Count C{note} failed and say so once, C{why} naming the relay
        ({host}, {port}) and the {attempts}."""
        self.failed += 1
        self._pending.discard(note)
        self.log.error(
            "Giving up mailing about build #{build_id}" + why
            + ": {reason}", build_id=note.build_id, attempts=note.attempts,
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
