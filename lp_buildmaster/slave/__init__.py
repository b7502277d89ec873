"""The builder client: drives one launchpad-buildd ("slave") over XML-RPC
and fetches its files over HTTP.

Everything a builder sends is untrusted. Replies are size-capped while they
arrive and parsed without DTDs, entities or unbounded nesting, status
replies of both shapes become one validated L{SlaveStatus}, and file names
are checked before anything touches the disk. Nothing past this package
knows which shape arrived or which Twisted exception a failure started as:
callers see L{SlaveError}s.

Modules, each importing only those listed before it (and below the package,
only L{lp_buildmaster.text}, L{lp_buildmaster.model.names} and
L{lp_buildmaster.interfaces}):

- C{errors}: L{SlaveError} and its subclasses, one per kind of failure;
- C{replies}: the bounded, incremental XML-RPC reply parser;
- C{status}: L{normaliseStatus}, L{validateFilename} and the build()
  request check;
- C{pool}: the keep-alive connection pool calls and downloads share
  (L{makePool}), each builder's calls on connections of its own, every
  response's head bounded;
- C{rpc}: XML-RPC calls over kept-alive HTTP/1.1 (C{[slave] keepalive}),
  the reply capped and parsed as it arrives, a connection dropped after
  anything amiss;
- C{proxy}: the same over C{twisted.web.xmlrpc.Proxy}, one connection per
  call (the default);
- C{downloads}: download slots and watched download bodies;
- C{client}: L{BuilderSlave}, which uses them all.

The names others use are importable from the package itself.
"""

from lp_buildmaster.slave.errors import (
    InvalidBuildRequest, SlaveChecksumMismatch, SlaveConnectionError,
    SlaveDownloadCancelled, SlaveError, SlaveFault, SlaveFileTooLarge,
    SlaveHTTPError, SlaveProtocolError, SlaveReplyTooLarge, SlaveTimeout,
    SlaveTooSlow, SlaveUnsafeReply, UnsafeFilename)
from lp_buildmaster.slave.status import (
    BUILD_STATUSES, BUILDER_STATUSES, SlaveStatus, _buildRequestProblem,
    normaliseStatus, validateFilename)
from lp_buildmaster.slave.pool import makePool, quietPool
from lp_buildmaster.slave.downloads import DOWNLOAD_MIN_RATE
from lp_buildmaster.slave.client import BuilderSlave

__all__ = [
    "BuilderSlave", "SlaveStatus", "normaliseStatus", "validateFilename",
    "makePool", "quietPool", "DOWNLOAD_MIN_RATE", "SlaveError",
    "SlaveTimeout", "SlaveConnectionError", "SlaveProtocolError",
    "SlaveHTTPError", "SlaveFault", "SlaveReplyTooLarge", "SlaveFileTooLarge",
    "SlaveUnsafeReply", "SlaveChecksumMismatch", "SlaveTooSlow",
    "SlaveDownloadCancelled", "UnsafeFilename", "InvalidBuildRequest",
    "BUILDER_STATUSES", "BUILD_STATUSES", "_buildRequestProblem",
]
