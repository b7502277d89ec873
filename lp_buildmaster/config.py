"""Configuration: an INI file, overridden by the environment and options.

Every key has a default and a parser; ``conf/buildmaster.conf`` documents
them all. A key may be overridden by the environment variable
``BUILDMASTER_<SECTION>_<KEY>`` (upper case), and ``BUILDMASTER_DATABASE``
stands for ``[master] database``. A bad value is one L{ConfigError} that
names the key.
"""

import configparser
import math
import os
from urllib.parse import urlparse

import psycopg2
from psycopg2.extensions import parse_dsn
from twisted.python import usage


class ConfigError(Exception):
    """A configuration value is wrong; the message names the key."""


def _int(minimum=None, maximum=None):
    def parse(text):
        value = int(text)
        if minimum is not None and value < minimum:
            raise ValueError("must be at least %d" % minimum)
        if maximum is not None and value > maximum:
            raise ValueError("must be at most %d" % maximum)
        return value
    return parse


def _float(minimum=0.0):
    def parse(text):
        value = float(text)
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        if not value > minimum:
            raise ValueError("must be greater than %g" % minimum)
        return value
    return parse


def _bool(text):
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _str(text):
    return text.strip()


def _list(text):
    return tuple(item.strip() for item in text.replace("\n", ",").split(",")
                 if item.strip())


def _choice(*choices):
    def parse(text):
        value = text.strip().lower()
        if value not in choices:
            raise ValueError("must be one of %s" % ", ".join(choices))
        return value
    return parse


def _dsn(text):
    text = text.strip()
    if text and "://" in text and not urlparse(text).scheme.startswith(
            "postgres"):
        raise ValueError("must be a postgresql:// URL or a libpq DSN")
    if text:
        try:
            port = parse_dsn(text).get("port")
        except psycopg2.ProgrammingError as e:
            raise ValueError("not a PostgreSQL DSN: %s"
                             % str(e).strip().splitlines()[0]) from None
        if port is not None and not all(
                p.isdigit() and 1 <= int(p) <= 65535 for p in port.split(",")):
            raise ValueError("bad port %r" % (port,))
    return text


#: (section, key) -> (default, parser, description)
KEYS = {
    ("master", "state_dir"): (
        "var", _str, "Where the embedded database, the librarian's files "
        "and the upload area live."),
    ("master", "database"): (
        "", _dsn, "PostgreSQL DSN; empty runs an embedded PostgreSQL in "
        "the state directory."),
    ("master", "name"): (
        "", _str, "This master's name in the master table: masters "
        "sharing a database share the builders out between the live ones "
        "by name, so each needs its own. Empty means the host name."),
    ("master", "scan_interval"): (
        "15", _float(), "Seconds between two scans of one builder."),
    ("master", "rescore_interval"): (
        "300", _float(), "Seconds between passes of automatic rescoring "
        "(a given-back job gets its computed score back)."),
    ("master", "demo"): (
        "0", _int(0, 1000), "Run this many simulated builders with the "
        "sample data (for trying it out)."),
    ("web", "interface"): ("127.0.0.1", _str, "Address of the dashboard."),
    ("web", "anonymous_read"): (
        "true", _bool, "Let anyone read the pages and the API without "
        "logging in (actions always need an account)."),
    ("web", "session_lifetime"): (
        "43200", _float(), "Seconds a browser login lasts."),
    ("web", "secure_cookies"): (
        "false", _bool, "Mark the login cookie Secure (set it when the "
        "pages are served over HTTPS by a proxy)."),
    ("web", "port"): ("8010", _int(0, 65535), "Port of the dashboard, "
                      "JSON API and /metrics; 0 picks a free one."),
    ("librarian", "interface"): ("127.0.0.1", _str,
                                 "Address the librarian serves files on."),
    ("librarian", "port"): ("8011", _int(0, 65535),
                            "Port the librarian serves files on."),
    ("librarian", "public_url"): (
        "", _str, "URL builders fetch files from; empty derives it from "
        "interface and port."),
    ("librarian", "token_lifetime"): (
        "86400", _int(1), "Seconds a restricted file's token stays valid."),
    ("librarian", "url"): (
        "", _str, "The librarian this master uses, running on its own "
        "(twistd -n librarian), e.g. http://10.0.0.5:8011/; empty: the "
        "master runs one itself on interface and port."),
    ("librarian", "secret_file"): (
        "", _str, "File holding the librarian's secret (it signs tokens "
        "and opens the librarian's API to masters); the librarian and "
        "every master using it need the same. Empty: "
        "STATE_DIR/librarian.secret, made at the first start."),
    ("librarian", "backend"): (
        "local", _choice("local", "swift"), "Where the librarian keeps "
        "file content: local (STATE_DIR/librarian) or swift."),
    ("librarian", "swift_auth_url"): (
        "", _str, "Swift's v1.0 auth URL (with backend = swift), e.g. "
        "http://127.0.0.1:8080/auth/v1.0."),
    ("librarian", "swift_user"): ("", _str, "Swift user, e.g. test:tester."),
    ("librarian", "swift_key"): ("", _str, "Swift key (password)."),
    ("librarian", "swift_container"): (
        "librarian", _str, "Swift container holding the content, made "
        "when missing."),
    ("manhole", "port"): ("0", _int(0, 65535),
                          "SSH manhole port on 127.0.0.1; 0 disables it."),
    ("manhole", "authorized_keys"): (
        "", _str, "authorized_keys file for the manhole (required when "
        "the port is set)."),
    ("slave", "timeout"): ("30", _float(),
                           "Seconds before an XML-RPC call is cancelled."),
    ("slave", "ensurepresent_timeout"): (
        "1800", _float(), "Seconds before an ensurepresent call is "
        "cancelled."),
    ("slave", "keepalive"): (
        "false", _bool, "Send XML-RPC calls over HTTP/1.1 connections kept "
        "open for each builder's next call (one idle socket per builder; "
        "40% less of the builder's CPU per call, as much of the master's); "
        "false opens and closes a connection for every call."),
    ("slave", "download_min_rate"): (
        "65536", _int(1), "Bytes a second a file download from a builder "
        "must keep up: one taking longer than timeout plus its size at this "
        "rate is cancelled and fails the builder, freeing its slot."),
    ("failures", "job_threshold"): (
        "3", _int(1), "Failures after which a job is failed."),
    ("failures", "builder_threshold"): (
        "5", _int(1), "Failures after which a builder is disabled."),
    ("failures", "transient_tolerance"): (
        "5", _int(0), "Consecutive transient errors (timeouts, refused "
        "connections) tolerated before they count as a failure."),
    ("failures", "cancel_timeout"): (
        "180", _float(), "Seconds a cancelled build's builder has to "
        "reach ABORTED before it is failed."),
    ("builders", "reset_command"): (
        "", _str, "Command that resets a dirty virtualized builder before "
        "its next build; {vm_host} and {name} are substituted. Empty: "
        "only check that it answers."),
    ("builders", "reset_timeout"): (
        "300", _float(), "Seconds the reset command may take."),
    ("builders", "archive_url"): (
        "http://127.0.0.1/ubuntu", _str, "Archive URL builders install "
        "build dependencies from (the sources.list line of each build)."),
    ("builders", "pool_size"): (
        "16", _int(1), "Concurrent file downloads from builders."),
    ("depwait", "interval"): (
        "300", _float(), "Seconds between retries of builds waiting for "
        "dependencies."),
    ("upload", "max_files"): (
        "1000", _int(1), "Result files one build may send; more fails the "
        "builder."),
    ("upload", "max_size"): (
        str(32 * 1024 ** 3), _int(1), "Bytes one build's result files may "
        "total; more fails the builder."),
    ("upload", "retention"): (
        str(7 * 24 * 3600), _float(), "Seconds finished upload leaves "
        "(accepted/, rejected/, failed/) are kept once their content is in "
        "the librarian (default 7 days)."),
    ("upload", "process_in_master"): (
        "true", _bool, "Process uploads inside the master (else run "
        "buildmaster-admin process-upload from cron)."),
    ("smtp", "host"): ("127.0.0.1", _str, "SMTP server for notifications."),
    ("smtp", "port"): ("25", _int(1, 65535), "SMTP port."),
    ("smtp", "sender"): ("buildmaster@localhost", _str,
                         "From address of notifications."),
    ("smtp", "admins"): ("", _list, "Comma-separated addresses that get "
                         "every notification."),
    ("smtp", "enabled"): ("false", _bool, "Send notification email."),
    ("log", "json_file"): ("", _str, "Also write the log to this file, "
                           "one JSON object per line."),
    ("log", "level"): ("info", _choice("debug", "info", "warn", "error",
                                       "critical"),
                       "Least important events logged: debug, info, warn, "
                       "error or critical."),
}


#: BUILDMASTER_* variables that are not BUILDMASTER_<SECTION>_<KEY>: the
#: database's alias, and the test suite's server (tests/database.py).
OTHER_VARIABLES = frozenset(["BUILDMASTER_DATABASE", "BUILDMASTER_TEST_DSN"])


class Config:
    """Parsed configuration: C{config.get(section, key)} or attributes
    C{config.<section>_<key>}."""

    def __init__(self, values):
        self._values = dict(values)

    def get(self, section, key):
        return self._values[(section, key)]

    def __getattr__(self, name):
        for (section, key), value in self._values.items():
            if "%s_%s" % (section, key) == name:
                return value
        raise AttributeError(name)

    def replace(self, **overrides):
        """A copy with C{section_key=value} overrides (already parsed)."""
        values = dict(self._values)
        for name, value in overrides.items():
            for section, key in KEYS:
                if "%s_%s" % (section, key) == name:
                    values[(section, key)] = value
                    break
            else:
                raise KeyError(name)
        return Config(values)


def load(path=None, environ=None, overrides=None):
    """Read C{path} (optional), then the environment, then C{overrides}.

    @param overrides: C{{(section, key): text}} from command-line options.
    @raise ConfigError: naming the bad key, or the unreadable file.
    """
    environ = os.environ if environ is None else environ
    raw = {name: default for name, (default, _, _) in KEYS.items()}
    origin = {name: "default" for name in KEYS}
    if path:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            with open(path) as f:
                parser.read_file(f)
        except OSError as e:
            raise ConfigError("cannot read config file %s: %s"
                              % (path, e.strerror)) from None
        except configparser.Error as e:
            raise ConfigError("config file %s does not parse: %s"
                              % (path, str(e).splitlines()[0])) from None
        for section in parser.sections():
            for key, value in parser.items(section):
                if (section, key) not in KEYS:
                    raise ConfigError("unknown key [%s] %s in %s"
                                      % (section, key, path))
                raw[(section, key)] = value
                origin[(section, key)] = path
    variables = {}
    for (section, key) in KEYS:
        variable = "BUILDMASTER_%s_%s" % (section.upper(), key.upper())
        variables[variable] = (section, key)
        if variable in environ:
            raw[(section, key)] = environ[variable]
            origin[(section, key)] = "$" + variable
    # A misspelt variable is an error, as an unknown INI key is.
    unknown = sorted(
        name for name in environ if name.startswith("BUILDMASTER_")
        and name not in variables and name not in OTHER_VARIABLES)
    if unknown:
        raise ConfigError(
            "unknown environment variable %s: not BUILDMASTER_DATABASE nor"
            " BUILDMASTER_<SECTION>_<KEY> of a configuration key"
            % ", ".join(unknown))
    if environ.get("BUILDMASTER_DATABASE"):
        raw[("master", "database")] = environ["BUILDMASTER_DATABASE"]
        origin[("master", "database")] = "$BUILDMASTER_DATABASE"
    for name, value in (overrides or {}).items():
        if value is not None:
            raw[name] = value
            origin[name] = "the command line"
    values = {}
    for (section, key), text in raw.items():
        parse = KEYS[(section, key)][1]
        try:
            values[(section, key)] = parse(str(text))
        except ValueError as e:
            raise ConfigError("bad value %r for [%s] %s (from %s): %s"
                              % (text, section, key,
                                 origin[(section, key)], e)) from None
    return Config(values)


def defaultConfigText():
    """The text of C{conf/buildmaster.conf}: every key, its meaning and
    its default (a test keeps the shipped file equal to it)."""
    import textwrap
    lines = [
        "# lp-buildmaster configuration: every key, with its default.",
        "# Override any key with BUILDMASTER_<SECTION>_<KEY> in the "
        "environment;",
        "# BUILDMASTER_DATABASE stands for [master] database.",
    ]
    section = None
    for (name, key), (default, _, doc) in KEYS.items():
        if name != section:
            lines += ["", "[%s]" % name]
            section = name
        lines += ["# " + line for line in textwrap.wrap(doc, 74)]
        lines.append("%s = %s" % (key, default))
    return "\n".join(lines) + "\n"


class ConfigOptions(usage.Options):
    """twistd options that override configuration keys: C{_OVERRIDES}
    maps each option to its C{(section, key)}; C{self.config} is the
    loaded configuration, and a bad value is a usage error."""

    _OVERRIDES = {}

    def postOptions(self):
        overrides = {key: self[option]
                     for option, key in self._OVERRIDES.items()}
        try:
            self.config = load(self["config"], overrides=overrides)
        except ConfigError as e:
            raise usage.UsageError(str(e))


if __name__ == "__main__":
    print(defaultConfigText(), end="")
