"""One SMTP conversation with the relay (Twisted's
L{ESMTPSenderFactory}), which says when its connection is over, and how a
failed one is described and judged."""

from twisted.internet.defer import Deferred
from twisted.mail.smtp import SUCCESS, ESMTPSenderFactory, SMTPClientError

from lp_buildmaster.notify.addresses import oneLine


class SenderFactory(ESMTPSenderFactory):
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


class Attempt:
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


def asText(value):
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value)


def failureReason(failure):
    error = failure.value
    if isinstance(error, SMTPClientError):
        reason = "%s %s" % (error.code, oneLine(asText(error.resp)))
        refused = [
            "%s: %s %s" % (asText(address), code, oneLine(asText(resp)))
            for address, code, resp in (error.addresses or ())
            if code not in SUCCESS]
        if refused:
            reason += " (%s)" % ("; ".join(refused),)
        return reason
    return oneLine(failure.getErrorMessage()) or failure.type.__name__


def isPermanent(failure):
    """A 5xx reply: the relay will not take this message, ever."""
    error = failure.value
    return (isinstance(error, SMTPClientError)
            and isinstance(error.code, int) and 500 <= error.code < 600)
