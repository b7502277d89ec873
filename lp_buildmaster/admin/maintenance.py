"""C{init} and C{sampledata} (the only commands that may create the
embedded database), and C{process-upload}."""

import sys

from lp_buildmaster.admin.command import (
    librarianRoot, runDeferred, uploadRoot)
from lp_buildmaster.store import connection, sampledata


#: The only commands that may create the embedded database.
CREATING_COMMANDS = ("init", "sampledata")


def cmd_init(args, config, dsn):
    """Create the database (embedded unless one is configured) and bring
    its schema up to date."""
    print("database ready: %s" % connection.describeDSN(dsn))


def cmd_sampledata(args, config, dsn):
    """Load the seed's sample data (idempotent)."""
    conn = connection.connectSync(dsn)
    try:
        loaded = sampledata.loadSampleData(conn, librarianRoot(config))
    finally:
        conn.close()
    print("sample data loaded" if loaded else "sample data already present")


def cmd_process_upload(args, config, dsn):
    """Process the builds waiting in the upload area."""
    from twisted.logger import LogLevel, formatEvent, globalLogPublisher

    from lp_buildmaster.upload import runProcessUpload

    def show(event):
        # The reactor's own chatter ("Main loop terminated.") is not news.
        if not event.get("log_namespace", "").startswith("lp_buildmaster"):
            return
        stream = (sys.stderr if event.get("log_level") in
                  (LogLevel.error, LogLevel.critical) else sys.stdout)
        print(formatEvent(event), file=stream)
    globalLogPublisher.addObserver(show)
    return runDeferred(runProcessUpload, dsn, uploadRoot(config),
                       librarianRoot(config))


def addDatabaseCommands(sub):
    sub.add_parser("init", help=cmd_init.__doc__).set_defaults(
        func=cmd_init)
    sub.add_parser("sampledata", help=cmd_sampledata.__doc__).set_defaults(
        func=cmd_sampledata)


def addUploadCommand(sub):
    sub.add_parser("process-upload", help=cmd_process_upload.__doc__
                   ).set_defaults(func=cmd_process_upload)
