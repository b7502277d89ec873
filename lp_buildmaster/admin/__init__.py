"""C{buildmaster-admin}: the operator's command line, one module per
command group.

It reads the same configuration as the master and works whether or not a
master is running: the database is the truth. Errors go to stderr as one
line, with exit status 1 (2 for a usage error).

- C{main}: the entry point (C{setup.cfg}) and the parser;
- C{command}: what every command uses (L{AdminError}, running on a store,
  argument types, the CLI's actor); C{render}: tables and JSON;
  C{lookups}: finding what a command names;
- C{builders}, C{builds} (and C{why}), C{sources}, C{chroots} (with
  C{library}: files stored in the librarian), C{accounts} (and tokens),
  C{world} (processors, distributions, series, architectures),
  C{archives} (and their dependencies), C{watch}, C{maintenance}
  (C{init}, C{sampledata}, C{process-upload}).

Imports point downward: the admin modules import the store, the model,
the librarian, L{lp_buildmaster.formatting} and L{lp_buildmaster.why};
L{lp_buildmaster.actions} (which the API shares with the CLI) is imported
only when a command runs, because it imports this package's store-level
checks. Nothing in the master imports this package but the actions and
the pages (L{RETRYABLE_STATES}), through the names re-exported here.
"""

from lp_buildmaster.admin.builders import (
    _builderAdd, _builderSet, checkBuilderURL)
from lp_buildmaster.admin.builds import (
    RETRYABLE_STATES, _buildCancel, _buildRequest, _buildRescore,
    _buildRetry, cancelTarget)
from lp_buildmaster.admin.command import (
    INT4_MAX, INT4_MIN, AdminError, integer, librarianTarget, positiveFloat,
    positiveInt)
from lp_buildmaster.admin.library import addLibraryFile
from lp_buildmaster.admin.lookups import getBuild, getBuilder
from lp_buildmaster.admin.main import main, makeParser
from lp_buildmaster.admin.render import table
from lp_buildmaster.admin.sources import (
    readChanges, readDsc, sourceFileType)

__all__ = [
    "AdminError", "INT4_MAX", "INT4_MIN", "RETRYABLE_STATES",
    "_buildCancel", "_buildRequest", "_buildRescore", "_buildRetry",
    "_builderAdd", "_builderSet", "addLibraryFile", "cancelTarget",
    "checkBuilderURL", "getBuild", "getBuilder", "integer",
    "librarianTarget", "main", "makeParser", "positiveFloat",
    "positiveInt", "readChanges", "readDsc", "sourceFileType", "table"]
