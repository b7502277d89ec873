"""The C{buildmaster-admin} entry point: the parser, the configuration and
the database every command runs against, and the one-line errors."""

import argparse
import os
import sys
from pathlib import Path

from lp_buildmaster import config as configmodule
from lp_buildmaster.admin import (
    accounts, archives, builders, builds, chroots, maintenance, sources,
    watch, world)
from lp_buildmaster.admin.command import AdminError
from lp_buildmaster.store import connection, schema


def makeParser():
    """The parser of every command; each command group adds its own."""
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
    maintenance.addDatabaseCommands(sub)
    builders.addBuilderCommands(sub)
    chroots.addChrootCommands(sub)
    sources.addSourceCommands(sub)
    builds.addBuildCommands(sub)
    accounts.addAccountCommands(sub)
    world.addWorldCommands(sub)
    archives.addArchiveCommands(sub)
    builds.addWhyCommand(sub)
    watch.addWatchCommand(sub)
    maintenance.addUploadCommand(sub)
    return parser, sub


def main(argv=None):
    import lp_buildmaster.components  # noqa: F401 (the adapters, at start-up)
    parser, _ = makeParser()
    args = parser.parse_args(argv)
    try:
        config = configmodule.load(args.config, overrides={
            ("master", "database"): args.database,
            ("master", "state_dir"): args.state_dir})
        if (args.command not in maintenance.CREATING_COMMANDS
                and not (config.master_database
                         or os.environ.get("BUILDMASTER_DATABASE"))
                and not connection.embeddedExists(config.master_state_dir)):
            raise AdminError(
                "no database in %s: run 'buildmaster-admin init' (or "
                "sampledata) to create one, or name the master's state "
                "directory with --state-dir"
                % Path(config.master_state_dir).resolve())
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
