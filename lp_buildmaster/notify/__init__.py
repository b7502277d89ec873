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

Modules, each importing only those listed before it (and enums):
- C{addresses}: the package's people's addresses, parsed and checked;
- C{compose}: who is mailed and what the mail says (pure);
- C{smtp}: one conversation with the relay, and how a failure is judged;
- C{notifier}: L{BuildNotifier}, sending in the background with retries.
"""

from lp_buildmaster.notify.addresses import (
    MAX_SOURCE_RECIPIENTS, parseAddresses)
from lp_buildmaster.notify.compose import MAIL_POLICY, NOTIFY_STATES
from lp_buildmaster.notify.notifier import BuildNotifier

__all__ = ["BuildNotifier", "MAIL_POLICY", "MAX_SOURCE_RECIPIENTS",
           "NOTIFY_STATES", "parseAddresses"]
