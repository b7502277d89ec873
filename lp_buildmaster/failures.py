"""The one classification of errors: whose fault, and whether to retry.

Every error that reaches the scanner, the dispatcher or collection is
classified here, once, into one of four kinds:

- L{INFRASTRUCTURE}: our own side is unavailable for a while: the
  database (down, restarting, connections killed or reconnecting), our
  own librarian or upload area. Nobody's failure: nothing is counted, the
  work is retried later.
- L{BUILDER}: the builder is at fault: refused, timed out, its host does
  not resolve, it broke the protocol or sent a bad file. Counted against
  the builder through C{judgeFailure}; C{transient} ones are tolerated a
  few times in a row first.
- L{JOB}: the job is at fault: the pocket policy forbids it, the build
  request is invalid, a file it needs is gone from our librarian
  (L{LibraryFileMissing}), the upload is rejected. Counted against the
  job.
- L{UNEXPECTED}: anything else. Counted once against both, with one log
  line (never a traceback every scan).

Every L{lp_buildmaster.slave.SlaveError} (and any subclass added later)
is a builder fault unless listed here as something else.
"""

import dataclasses
import os
import traceback

import psycopg2
from twisted.internet import defer, error
from twisted.python import failure as tfailure
from txpostgres import reconnection, txpostgres

from lp_buildmaster.model.policy import PocketPolicyError
from lp_buildmaster.slave import InvalidBuildRequest, SlaveError

INFRASTRUCTURE = "infrastructure"
BUILDER = "builder"
JOB = "job"
UNEXPECTED = "unexpected"


class InfrastructureError(Exception):
    """Our own side failed (the librarian, the upload area): nobody's
    fault, retried later."""


class OwnLibrarianUnavailable(InfrastructureError):
    """A builder could not fetch a file from our own librarian, and the
    master's own check of the file failed too (our librarian or its
    database unavailable): not the builder's fault."""


class LibraryFileMissing(InvalidBuildRequest):
    """A file a build needs is gone from our own librarian (its alias is
    unknown or its content deleted): the job's fault, never the
    builder's, and no other builder would fetch it either. The dispatcher
    fails the build with this text as its notes."""


class DatabaseUnavailable(InfrastructureError):
    """The database cannot be used at the moment (the master paused)."""


@dataclasses.dataclass(frozen=True)
class Classification:
    """What an error means.

    @ivar kind: L{INFRASTRUCTURE}, L{BUILDER}, L{JOB} or L{UNEXPECTED}.
    @ivar transient: retrying may well succeed: for builder faults, the
        transient tolerance applies; for job faults, the job may be tried
        again elsewhere.
    @ivar reason: a short label for metrics (C{buildmaster_failures}).
    @ivar database: the error says the database is unavailable.
    """

    kind: str
    transient: bool
    reason: str
    database: bool = False

    @property
    def counts_builder(self):
        return self.kind in (BUILDER, UNEXPECTED)

    @property
    def counts_job(self):
        return self.kind in (JOB, UNEXPECTED)


#: Errors that mean the database is unavailable for a while.
DATABASE_ERRORS = (
    psycopg2.OperationalError, psycopg2.InterfaceError,
    reconnection.ConnectionDead, txpostgres.RollbackFailed,
    txpostgres.UnexpectedPollResult, txpostgres.AlreadyPolling,
    DatabaseUnavailable,
)

#: Twisted network errors that did not become a SlaveError (a host that
#: does not resolve, a connection that failed before the slave client saw
#: it): the builder's, tolerated as transient.
NETWORK_ERRORS = (error.DNSLookupError, error.ConnectError,
                  error.ConnectionClosed, error.TimeoutError,
                  defer.TimeoutError)


def _unwrap(err):
    if isinstance(err, tfailure.Failure):
        return err.value
    return err


def classify(err):
    """Classify an exception or a L{twisted.python.failure.Failure}.

    @return: a L{Classification}.
    """
    exc = _unwrap(err)
    name = type(exc).__name__
    if isinstance(exc, DATABASE_ERRORS):
        return Classification(INFRASTRUCTURE, True, "database", database=True)
    if isinstance(exc, InfrastructureError):
        return Classification(INFRASTRUCTURE, True, name)
    if isinstance(exc, defer.CancelledError):
        # The master is stopping, or gave up on a call itself.
        return Classification(INFRASTRUCTURE, True, "cancelled")
    if isinstance(exc, InvalidBuildRequest):
        return Classification(JOB, False, name)
    if isinstance(exc, PocketPolicyError):
        return Classification(JOB, False, name)
    if _isUploadRejection(exc):
        return Classification(JOB, False, name)
    if isinstance(exc, SlaveError):
        return Classification(BUILDER, bool(getattr(exc, "transient", False)),
                              name)
    if isinstance(exc, NETWORK_ERRORS):
        return Classification(BUILDER, True, name)
    if isinstance(exc, OSError):
        # Not a network error (those are above): our own disk, e.g. the
        # upload area or the librarian's storage is full or unwritable.
        return Classification(INFRASTRUCTURE, True, "local-io")
    return Classification(UNEXPECTED, True, name)


def _isUploadRejection(exc):
    # Imported late: the upload package imports the store, which must not import
    # this module's dependants in a cycle.
    from lp_buildmaster.upload import UploadRejected
    return isinstance(exc, UploadRejected)


def describe(err):
    """One line for a log: the error's type and message and, for an
    unexpected error, where it was raised (never a whole traceback)."""
    exc = _unwrap(err)
    original = getattr(exc, "originalFailure", None)
    if isinstance(exc, txpostgres.RollbackFailed) and original is not None:
        # Its own text embeds the original failure's whole repr.
        return "RollbackFailed after %s" % describe(original)
    text = "%s: %s" % (type(exc).__name__, str(exc).strip().splitlines()[0]
                       if str(exc).strip() else "")
    if classify(exc).kind == UNEXPECTED:
        where = _origin(err)
        if where:
            text += " (at %s)" % where
    return text.rstrip(": ")


def _origin(err):
    """C{file:line in function} of the innermost frame, or None."""
    if isinstance(err, tfailure.Failure):
        frames = err.frames
        if frames:
            fn, filename, line = frames[-1][:3]
            return "%s:%d in %s" % (os.path.basename(filename), line, fn)
        return None
    tb = getattr(err, "__traceback__", None)
    if tb is None:
        return None
    last = traceback.extract_tb(tb)[-1]
    return "%s:%d in %s" % (os.path.basename(last.filename), last.lineno,
                            last.name)


class OncePerChange:
    """Remembers the last error logged for each key, so that an error
    repeated every scan is logged once, and again only when it changes
    or after it stopped."""

    def __init__(self):
        self._last = {}

    def first(self, key, signature):
        """Whether C{signature} is new for C{key} (and remember it)."""
        if self._last.get(key) == signature:
            return False
        self._last[key] = signature
        return True

    def clear(self, key):
        """C{key} worked: its next error is logged again. Returns whether
        an error was remembered."""
        return self._last.pop(key, None) is not None


def signature(err):
    """What makes two errors 'the same' for L{OncePerChange}."""
    exc = _unwrap(err)
    return (type(exc).__name__, str(exc))
