"""A real launchpad-buildd daemon, run as a subprocess, for integration tests.

    builder = RealBuilder(self.mktemp())
    yield builder.start()                 # fires once echo() answers
    self.addCleanup(builder.stop)
    builder.setOutcome("DEPFAIL", dependencies="baz (>= 1.0.1)")
    chroot, filemap = builder.prepareBuild("foo", "1.0-1")
    proxy = builder.proxy()
    yield proxy.callRemote("build", "1-1", "binarypackage", chroot, filemap,
                           makeBuildArgs())
    status = yield builder.waitForStatus("BuilderStatus.WAITING")

The daemon is lpbuildd's own XMLRPCBuilder with its own binary-package
manager state machine (INIT, UNPACK, MOUNT, SOURCES, KEYS, UPDATE, SBUILD,
UMOUNT, CLEANUP), and its translation-templates manager (GENERATE instead
of SBUILD, its result fetched from the chroot); only the programs those
managers run are fakes (see ``bin/``): ``builder-prep``, ``in-target``
(with ``generate-translation-templates``), ``sbuild-package`` and ``sudo``.
``setOutcome`` decides what the fakes do for the next build.  The daemon's
home ($HOME, where it makes ``build-<cookie>`` directories) is
``BASEDIR/home``, its file cache ``BASEDIR/filecache``, its log
``BASEDIR/buildd.log``.

Over 400 lines because it is one fixture: the daemon's life cycle, the
control of its fakes (``setOutcome``) and the conveniences tests use on
it, which every real-daemon test imports together.
"""

import base64
import configparser
import hashlib
import json
import os
import re
import signal
import sys

from twisted.internet import defer, task
from twisted.internet.protocol import ProcessProtocol
from twisted.web.xmlrpc import Proxy

from lp_buildmaster.clock import orReactor

__all__ = [
    "RealBuilder", "RealBuilderError", "makeBuildArgs", "makeDsc",
    "pollUntil", "OUTCOMES", "TEMPLATES_RESULT",
]

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "bin")
LAUNCHER = os.path.join(HERE, "launcher.py")

#: The translation-templates manager's resultarchive (as Launchpad's
#: builders configure it).
TEMPLATES_RESULT = "translation-templates.tar.gz"

OUTCOMES = ("OK", "PACKAGEFAIL", "DEPFAIL", "CHROOTFAIL", "GIVENBACK",
            "BUILDERFAIL")

#: A relation the daemon's dep-wait regex captures whole: one package,
#: optionally one version constraint.
_SINGLE_RELATION = re.compile(
    r"^[^\s,|()]+( \((<<|<=|=|>=|>>|<|>) ?[^()\s]+\))?$")


class RealBuilderError(Exception):
    """The daemon did not start, or misbehaved; the message has its log."""


def makeDsc(source="foo", version="1.0-1", build_depends="debhelper (>= 9)",
            architecture="any"):
    """The bytes of a small but well-formed source package .dsc."""
    upstream = version.split(":", 1)[-1].rsplit("-", 1)[0]
    orig = "%s_%s.orig.tar.gz" % (source, upstream)
    return (
        "Format: 3.0 (quilt)\n"
        "Source: %(source)s\n"
        "Binary: %(source)s\n"
        "Architecture: %(architecture)s\n"
        "Version: %(version)s\n"
        "Maintainer: Foo Maintainer <foo@example.com>\n"
        "Standards-Version: 4.5.0\n"
        "Build-Depends: %(build_depends)s\n"
        "Checksums-Sha1:\n"
        " da39a3ee5e6b4b0d3255bfef95601890afd80709 0 %(orig)s\n"
        "Checksums-Sha256:\n"
        " e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        " 0 %(orig)s\n"
        "Files:\n"
        " d41d8cd98f00b204e9800998ecf8427e 0 %(orig)s\n"
        % dict(source=source, version=version, architecture=architecture,
               build_depends=build_depends, orig=orig)
    ).encode("utf-8")


def makeBuildArgs(series="hoary", distribution="ubuntu", suite=None,
                  pocket=None, component="main", arch_tag="i386",
                  arch_indep=False, archive_private=False,
                  archive_purpose="PRIMARY", archives=None,
                  build_url="http://launchpad.test/ubuntu/+source/foo/"
                            "1.0-1/+build/1",
                  trusted_keys=None, **extra):
    """The args dict a real master sends with a 'binarypackage' build().

    ``suite`` defaults to the series plus the pocket suffix
    (``pocket='updates'`` gives 'hoary-updates'; no pocket gives 'hoary').
    The daemon needs series, distribution, suite and ogrecomponent, and a
    filemap with a '*.dsc' key; without them it wedges in BUILDING.
    """
    if suite is None:
        suite = series if not pocket else "%s-%s" % (series, pocket.lower())
    if archives is None:
        archives = [
            "deb http://ftpmaster.internal/%s %s main restricted universe "
            "multiverse" % (distribution, suite)]
    args = {
        "series": series,
        "distribution": distribution,
        "suite": suite,
        "ogrecomponent": component,
        "arch_tag": arch_tag,
        "arch_indep": arch_indep,
        "archive_private": archive_private,
        "archive_purpose": archive_purpose,
        "archives": list(archives),
        "build_url": build_url,
        "trusted_keys": list(trusted_keys or []),
    }
    args.update(extra)
    return args


def pollUntil(poll, predicate, timeout=20.0, interval=0.05, reactor=None,
              description="condition"):
    """Call ``poll()`` (returning a Deferred) until ``predicate(result)``.

    Waits ``interval`` seconds between polls on the real reactor; fails with
    RealBuilderError after ``timeout`` seconds, naming the last result.
    Fires with the first result that satisfies the predicate.
    """
    reactor = orReactor(reactor)

    @defer.inlineCallbacks
    def loop():
        deadline = reactor.seconds() + timeout
        last = None
        while True:
            last = yield poll()
            if predicate(last):
                return last
            if reactor.seconds() >= deadline:
                raise RealBuilderError(
                    "timed out after %.1fs waiting for %s; last: %r"
                    % (timeout, description, last))
            yield task.deferLater(reactor, interval, lambda: None)

    return loop()


class _DaemonProtocol(ProcessProtocol):
    """Collects the daemon's stdout/stderr and tells waiters it ended."""

    MAX_OUTPUT = 1 << 20

    def __init__(self):
        self.output = bytearray()
        self.exited = False
        self.reason = None
        self._waiters = []

    def _collect(self, data):
        room = self.MAX_OUTPUT - len(self.output)
        if room > 0:
            self.output += data[:room]

    outReceived = errReceived = _collect

    def processEnded(self, reason):
        self.exited = True
        self.reason = reason.value
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    def whenEnded(self):
        if self.exited:
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiters.append(d)
        return d


class RealBuilder:
    """A launchpad-buildd daemon on 127.0.0.1 with fake build helpers.

    :param basedir: a directory for the daemon (created if missing).
    :param arch_tag: the builder's architecture (info() and sbuild's --arch
        when the build args don't say).
    :param abort_timeout: seconds the daemon waits for its process reaper
        after abort() before it gives up with BUILDERFAIL (real: 120).
    """

    def __init__(self, basedir, arch_tag="i386", abort_timeout=120.0,
                 reactor=None):
        reactor = orReactor(reactor)
        self.reactor = reactor
        self.basedir = os.path.abspath(basedir)
        self.filecache = os.path.join(self.basedir, "filecache")
        self.home = os.path.join(self.basedir, "home")
        self.arch_tag = arch_tag
        self.abort_timeout = abort_timeout
        self.port = None
        self.url = None
        self.rpc_url = None
        self._protocol = None
        self._transport = None

    # -- life cycle -------------------------------------------------------

    def _writeConfig(self):
        conf = configparser.ConfigParser()
        conf["builder"] = {
            "architecturetag": self.arch_tag,
            "filecache": self.filecache,
            "bindhost": "127.0.0.1",
            "bindport": "0",
            "sharepath": HERE,  # the manager runs sharepath/bin/<helper>
        }
        # The translation-templates manager's result (its tarball's name).
        conf["translationtemplatesmanager"] = {
            "resultarchive": TEMPLATES_RESULT}
        conf["realbuilder"] = {"abort_timeout": str(self.abort_timeout)}
        with open(os.path.join(self.basedir, "buildd.conf"), "w") as f:
            conf.write(f)

    def _environ(self):
        env = dict(os.environ)
        env.pop("BUILDD_SLAVE_CONFIG", None)
        env.update({
            "HOME": self.home,
            "REALBUILDER_DIR": self.basedir,
            # Fake helpers (and the fake sudo) first, then this Python.
            "PATH": os.pathsep.join([
                BIN, os.path.dirname(sys.executable),
                env.get("PATH", "/usr/bin:/bin")]),
            "PYTHONUNBUFFERED": "1",
            "LC_ALL": "C.UTF-8",
        })
        return env

    def start(self, timeout=30.0):
        """Start the daemon; fires once it answers echo() over XML-RPC."""
        if self._protocol is not None and not self._protocol.exited:
            raise RealBuilderError("already started")
        for path in (self.basedir, self.filecache, self.home):
            os.makedirs(path, exist_ok=True)
        for stale in ("port", "buildd.log"):
            try:
                os.remove(os.path.join(self.basedir, stale))
            except FileNotFoundError:
                pass
        self._writeConfig()
        self.port = self.url = self.rpc_url = None
        if not os.path.exists(os.path.join(self.basedir, "control.json")):
            self.setOutcome("OK")
        self._protocol = _DaemonProtocol()
        self._transport = self.reactor.spawnProcess(
            self._protocol, sys.executable,
            [sys.executable, LAUNCHER, self.basedir],
            env=self._environ(), path=self.basedir)
        return self._waitUntilAnswering(timeout)

    @defer.inlineCallbacks
    def _waitUntilAnswering(self, timeout):
        protocol = self._protocol
        deadline = self.reactor.seconds() + timeout
        portfile = os.path.join(self.basedir, "port")
        last_error = None
        while True:
            if protocol.exited:
                raise RealBuilderError(
                    "launchpad-buildd exited during start-up (%s)\n%s"
                    % (protocol.reason, self.log()))
            if self.port is None and os.path.exists(portfile):
                with open(portfile) as f:
                    self.port = int(f.read())
                self.url = "http://127.0.0.1:%d/" % self.port
                self.rpc_url = self.url + "rpc"
            if self.port is not None:
                try:
                    d = self.proxy(connectTimeout=2.0).callRemote(
                        "echo", "ping")
                    d.addTimeout(5.0, self.reactor)
                    answer = yield d
                except Exception as e:
                    last_error = e
                else:
                    if answer == ["ping"]:
                        return None
                    last_error = "echo answered %r" % (answer,)
            if self.reactor.seconds() >= deadline:
                yield self.stop()
                raise RealBuilderError(
                    "launchpad-buildd did not answer echo() within %.0fs "
                    "(last error: %s)\n%s" % (timeout, last_error, self.log()))
            yield task.deferLater(self.reactor, 0.05, lambda: None)

    def _signalGroup(self, signum):
        """Signal the daemon's process group (it and every helper)."""
        if self._transport is None or self._transport.pid is None:
            pid = getattr(self, "_lastpid", None)
        else:
            pid = self._lastpid = self._transport.pid
        if pid is None:
            return
        try:
            os.killpg(pid, signum)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, signum)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self, grace=5.0):
        """Stop the daemon and its helpers; fires once the daemon is gone.

        SIGTERM to its process group, SIGKILL after ``grace`` seconds, and a
        final SIGKILL to the group for any helper left behind.
        """
        protocol = self._protocol
        if protocol is None:
            return defer.succeed(None)
        if protocol.exited:
            self._signalGroup(signal.SIGKILL)
            return defer.succeed(None)
        self._signalGroup(signal.SIGTERM)
        kill = self.reactor.callLater(grace, self._signalGroup,
                                      signal.SIGKILL)

        def ended(result):
            if kill.active():
                kill.cancel()
            self._signalGroup(signal.SIGKILL)
            return result

        return protocol.whenEnded().addBoth(ended)

    # -- controlling the fakes ---------------------------------------------

    def setOutcome(self, outcome, log_size=4096, duration=0.0, files=None,
                   dependencies=None, unkillable=False, templates=None):
        """Decide how the next build(s) end.

        :param outcome: one of OUTCOMES.  CHROOTFAIL fails unpacking the
            chroot; the others are sbuild's exit code and log as the real
            manager reads them (see bin/sbuild-package).
        :param log_size: about how many bytes the whole build log has.
        :param duration: seconds the fake sbuild takes (it writes its log
            gradually meanwhile, so the logtail moves).
        :param files: for OK: None (one <source>_<version>_<arch>.deb, plus
            a <source>-doc_..._all.deb when arch_indep), a list of file
            names (.deb names become small real .deb archives), or a dict
            {name: bytes}.  The .changes and .buildinfo are always added.
        :param templates: for a translation-templates build, the
            templates the branch yields, packed into TEMPLATES_RESULT:
            paths such as 'po/foo.pot', or {path: bytes}; None is one
            po/<branch's last segment>.pot, [] none (so no tarball, as the
            real generator).  Its failures: PACKAGEFAIL fails generating
            them, DEPFAIL and GIVENBACK fail installing the tools (the
            daemon says CHROOTFAIL), BUILDERFAIL exits 1 (bin/in-target).
        :param dependencies: for DEPFAIL, one relation such as
            'baz (>= 1.0.1)'; the daemon reports it normalised by
            python-debian (PkgRelation.str).
        :param unkillable: the fake process reaper (in-target
            scan-for-processes) hangs instead of killing the build, like the
            real one with a process stuck in the kernel; abort() then ends
            in BUILDERFAIL after ``abort_timeout``.
        """
        if outcome not in OUTCOMES:
            raise ValueError("outcome %r is not one of %s"
                             % (outcome, ", ".join(OUTCOMES)))
        if outcome == "DEPFAIL":
            if dependencies is None:
                dependencies = "baz (>= 1.0.1)"
            if not _SINGLE_RELATION.match(dependencies):
                raise ValueError(
                    "dependencies %r: the daemon's dep-wait regex captures "
                    "exactly one relation like 'baz (>= 1.0.1)'"
                    % (dependencies,))
        elif dependencies is not None:
            raise ValueError("dependencies only make sense for DEPFAIL")
        spec = None
        if files is not None:
            items = files.items() if isinstance(files, dict) else \
                [(name, None) for name in files]
            spec = []
            for name, data in items:
                if not name or "/" in name or " " in name or \
                        name.startswith("."):
                    raise ValueError("bad result file name %r" % (name,))
                spec.append([name, None if data is None
                             else base64.b64encode(data).decode("ascii")])
        if templates is not None:
            items = templates.items() if isinstance(templates, dict) else \
                [(path, None) for path in templates]
            templates = []
            for path, data in items:
                if not path or path.startswith("/") or ".." in path:
                    raise ValueError("bad template path %r" % (path,))
                templates.append([path, None if data is None else
                                  base64.b64encode(data).decode("ascii")])
        control = {
            "outcome": outcome,
            "log_size": int(log_size),
            "duration": float(duration),
            "files": spec,
            "dependencies": dependencies,
            "unkillable": bool(unkillable),
            "templates": templates,
        }
        os.makedirs(self.basedir, exist_ok=True)
        path = os.path.join(self.basedir, "control.json")
        with open(path + ".tmp", "w") as f:
            json.dump(control, f)
        os.rename(path + ".tmp", path)

    # -- conveniences ------------------------------------------------------

    def proxy(self, connectTimeout=30.0):
        """A twisted.web.xmlrpc.Proxy on the daemon's /rpc."""
        if self.rpc_url is None:
            raise RealBuilderError("not started")
        return Proxy(self.rpc_url.encode("ascii"), allowNone=True,
                     connectTimeout=connectTimeout, reactor=self.reactor)

    def putInCache(self, data):
        """Put bytes straight into the daemon's file cache; return the sha1.

        The daemon only checks that <filecache>/<sha1> exists, so this is
        what a successful ensurepresent() leaves behind.
        """
        sha1 = hashlib.sha1(data).hexdigest()
        path = os.path.join(self.filecache, sha1)
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.rename(path + ".tmp", path)
        return sha1

    def prepareBuild(self, source="foo", version="1.0-1",
                     build_depends="debhelper (>= 9)",
                     chroot=b"fake chroot tarball\n"):
        """Cache a chroot and a .dsc; return (chroot_sha1, filemap)."""
        chroot_sha1 = self.putInCache(chroot)
        dsc_name = "%s_%s.dsc" % (source, version.split(":", 1)[-1])
        dsc_sha1 = self.putInCache(makeDsc(source, version, build_depends))
        return chroot_sha1, {dsc_name: dsc_sha1}

    def waitForStatus(self, *builder_statuses, timeout=20.0, interval=0.05):
        """Poll status() until builder_status is one of those given."""
        proxy = self.proxy()
        return pollUntil(
            lambda: proxy.callRemote("status"),
            lambda s: s.get("builder_status") in builder_statuses,
            timeout=timeout, interval=interval, reactor=self.reactor,
            description="builder_status in %r" % (builder_statuses,))

    def buildPath(self, cookie, *extra):
        """The daemon's build directory for a cookie."""
        return os.path.join(self.home, "build-" + cookie, *extra)

    def calls(self):
        """The helper calls made so far: a list of [helper, arg, ...]."""
        try:
            with open(os.path.join(self.basedir, "calls.log")) as f:
                entries = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []
        return [[e["helper"]] + e["args"] for e in entries]

    def log(self):
        """The daemon's own log (twisted log + raw stdout/stderr)."""
        parts = []
        try:
            with open(os.path.join(self.basedir, "buildd.log"),
                      errors="replace") as f:
                parts.append(f.read())
        except FileNotFoundError:
            parts.append("(no buildd.log)\n")
        if self._protocol is not None and self._protocol.output:
            parts.append("--- daemon stdout/stderr ---\n")
            parts.append(self._protocol.output.decode("utf-8", "replace"))
        return "".join(parts)
