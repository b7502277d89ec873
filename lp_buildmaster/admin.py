"""``buildmaster-admin``: the operator's command line.

It reads the same configuration as the master and works whether or not a
master is running: the database is the truth. Errors go to stderr as one
line, with exit status 1 (2 for a usage error).
"""

import argparse
import json
import sys
from pathlib import Path

from twisted.internet import defer, task

from lp_buildmaster import config as configmodule
from lp_buildmaster.store import Store, connection, sampledata, schema


class AdminError(Exception):
    """A failure to report on one line."""


def librarianRoot(config):
    return Path(config.master_state_dir) / "librarian"


def uploadRoot(config):
    return Path(config.master_state_dir) / "uploads"


def cmd_sampledata(args, config, dsn):
    """Load the seed's sample data (idempotent)."""
    conn = connection.connectSync(dsn)
    try:
        loaded = sampledata.loadSampleData(conn, librarianRoot(config))
    finally:
        conn.close()
    print("sample data loaded" if loaded else "sample data already present")


@defer.inlineCallbacks
def _withStore(dsn, fn, *args):
    store = yield Store.connect(dsn, size=1)
    try:
        return (yield fn(store, *args))
    finally:
        store.close()


def runWithStore(dsn, fn, *args):
    """Run C{fn(store, *args)} (returning a Deferred) on a reactor."""
    result = []

    def main(reactor):
        d = _withStore(dsn, fn, *args)
        d.addCallback(result.append)
        return d
    try:
        task.react(main)
    except SystemExit as e:
        if e.code:
            raise
    return result[0] if result else None


def output(args, rows, text):
    """Print C{rows} as JSON with --json, else C{text(rows)}."""
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(text(rows))


def makeParser():
    parser = argparse.ArgumentParser(
        prog="buildmaster-admin",
        description="Administer an lp-buildmaster build farm.")
    parser.add_argument("--config", help="INI configuration file")
    parser.add_argument("--database", help="PostgreSQL DSN")
    parser.add_argument("--state-dir", help="state directory (default var)")
    parser.add_argument("--json", action="store_true",
                        help="print listings as JSON")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    sub.add_parser("sampledata", help=cmd_sampledata.__doc__).set_defaults(
        func=cmd_sampledata)
    return parser, sub


def main(argv=None):
    parser, _ = makeParser()
    args = parser.parse_args(argv)
    try:
        config = configmodule.load(args.config, overrides={
            ("master", "database"): args.database,
            ("master", "state_dir"): args.state_dir})
        connection.checkStateDir(config.master_state_dir)
        dsn = connection.resolveDSN(config.master_database,
                                    config.master_state_dir)
        connection.prepareDatabase(dsn)
        return args.func(args, config, dsn) or 0
    except (configmodule.ConfigError, connection.StateDirError,
            connection.DatabaseUnavailable, schema.SchemaError,
            AdminError) as e:
        print("buildmaster-admin: error: %s" % (e,), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
