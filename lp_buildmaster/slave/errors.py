"""The errors of talking to a builder: one L{SlaveError} subclass per kind
of failure, each naming its builder and saying whether retrying may help.
L{lp_buildmaster.failures} classifies them; nothing past the slave client
sees the Twisted exception a failure started as.

Imports nothing of the project but L{lp_buildmaster.text}.
"""

from lp_buildmaster.text import notes

__all__ = [
    "SlaveError", "SlaveTimeout", "SlaveTooSlow", "SlaveDownloadCancelled",
    "SlaveConnectionError", "SlaveProtocolError", "SlaveReplyTooLarge",
    "SlaveUnsafeReply", "SlaveFileTooLarge", "SlaveChecksumMismatch",
    "UnsafeFilename", "SlaveHTTPError", "SlaveFault", "InvalidBuildRequest",
]


def _short(value):
    """A bounded repr, so a hostile reply cannot bloat our logs."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class SlaveError(Exception):
    """Something went wrong talking to a builder.

    @ivar builder: the builder's name; the message always starts with it.
    @ivar transient: True when retrying later may well succeed (a timeout,
        a dropped connection), False when the builder itself is at fault.
    """

    transient = False

    def __init__(self, builder, message):
        Exception.__init__(self, "Builder %r: %s" % (builder, message))
        self.builder = builder
        #: The message without the builder's name, for lines that name it.
        self.reason = message


class SlaveTimeout(SlaveError):
    """The builder did not answer in time; the connection was closed."""

    transient = True


class SlaveTooSlow(SlaveError):
    """A download fell behind the minimum rate: its overall deadline (the
    call timeout plus the file's size at the minimum rate) passed. The
    builder is at fault: it held a farm-wide download slot."""


class SlaveDownloadCancelled(SlaveError):
    """A download was cancelled because its builder was disabled, removed
    or failed; its slot is free again."""

    transient = True


class SlaveConnectionError(SlaveError):
    """The connection was refused, reset or closed before a reply."""

    transient = True


class SlaveProtocolError(SlaveError):
    """The builder sent something that is not a valid reply."""


class SlaveReplyTooLarge(SlaveProtocolError):
    """An XML-RPC reply grew past C{max_reply_size}; it was dropped unread."""


class SlaveUnsafeReply(SlaveProtocolError):
    """An XML-RPC reply declaring a DTD or entities, or nested too deep or
    holding too many elements (L{lp_buildmaster.slave.replies})."""


class SlaveFileTooLarge(SlaveProtocolError):
    """A file grew past its size limit; nothing was kept."""


class SlaveChecksumMismatch(SlaveProtocolError):
    """A fetched file's sha1 is not the one asked for; nothing was kept."""


class UnsafeFilename(SlaveProtocolError):
    """A file name that could resolve outside its target directory."""


class SlaveHTTPError(SlaveError):
    """The builder answered with an HTTP status other than 200.

    @ivar code: the HTTP status as an int.
    """

    def __init__(self, builder, code, message=""):
        SlaveError.__init__(
            self, builder, ("HTTP %s %s" % (code, message)).rstrip())
        self.code = code
        # Gateway-style errors come and go; anything else is the builder's.
        self.transient = code in (502, 503, 504)


class SlaveFault(SlaveError):
    """The daemon raised: an XML-RPC Fault (8002 is any exception inside it,
    8001 an unknown method)."""

    def __init__(self, builder, faultCode, faultString):
        faultString = notes(faultString)
        SlaveError.__init__(
            self, builder, "Fault %s: %s" % (_short(faultCode), faultString))
        self.faultCode = faultCode
        self.faultString = faultString


class InvalidBuildRequest(SlaveError, ValueError):
    """A build() request the daemon would refuse or wedge on; not sent."""

