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

Imports point downward: the admin modules import
L{lp_buildmaster.actions} and L{lp_buildmaster.operations} (the checked
operations the CLI shares with the API and the pages), the store, the
model, the librarian, L{lp_buildmaster.formatting} and
L{lp_buildmaster.why}. Nothing else in the project imports this package.
The operations' names stay importable from here under their old names
(C{_buildRequest}, C{_builderAdd}, ...), and L{AdminError} is
L{lp_buildmaster.operations.Refused}.
"""

from lp_buildmaster.admin.command import (
    INT4_MAX, INT4_MIN, AdminError, integer, librarianTarget, positiveFloat,
    positiveInt)
from lp_buildmaster.admin.library import addLibraryFile
from lp_buildmaster.operations import (
    RETRYABLE_STATES, cancelTarget, checkBuilderURL, getBuild, getBuilder)
from lp_buildmaster.operations import addBuilder as _builderAdd
from lp_buildmaster.operations import cancelBuild as _buildCancel
from lp_buildmaster.operations import requestBuild as _buildRequest
from lp_buildmaster.operations import rescoreBuild as _buildRescore
from lp_buildmaster.operations import retryBuild as _buildRetry
from lp_buildmaster.operations import setBuilder as _builderSet
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
