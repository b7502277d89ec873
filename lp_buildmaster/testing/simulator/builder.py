"""L{SimulatedBuilder}: one fake launchpad-buildd's state and its XML-RPC
methods (echo, info, status, ensurepresent, build, abort, clean).

A build is a start time, a duration and an outcome drawn from the builder's
L{BuildProfile}, and one timer on the farm's clock for its end.

Imports C{constants}, C{buildlog} and C{results}; the farm it belongs to is
passed in (it downloads for ensurepresent() and keeps the file store).
"""

import hashlib
import random
import xmlrpc.client as xmlrpclib

from lp_buildmaster.testing.simulator.buildlog import (
    BuildLog, logHeader, logTrailer)
from lp_buildmaster.testing.simulator.constants import (
    ABORTING, BINARYPACKAGE_ARGS, BUILD_TYPES, BUILDER_VERSION, BUILDING,
    FAULT_ERROR, IDLE, PROTOCOL_VERSION, WAITING)
from lp_buildmaster.testing.simulator.results import (
    makeBinaryResults, makeTemplatesResults, sourceOf, tarGz)


class BuilderFault(Exception):
    """An XML-RPC method refuses, as the daemon does: answered as a Fault
    (8002 unless said otherwise)."""

    def __init__(self, code=FAULT_ERROR, message="error"):
        Exception.__init__(self, message)
        self.code = code
        self.message = message


class SimulatedBuilder:
    """One fake launchpad-buildd: a little state, no port of its own.

    Knobs: C{profile} (a L{BuildProfile}), C{down}, C{hang}, C{garbage}
    (see the module docstring), C{arch_tag}.
    """

    __slots__ = (
        "farm", "name", "arch_tag", "profile", "down", "hang", "garbage",
        "state", "cookie", "build_status", "dependencies", "filemap",
        "files", "cache", "log", "builds", "port", "_timer", "_wedged",
        "_queue", "_build", "request", "__weakref__")

    def __init__(self, farm, name, arch_tag="i386", profile=None):
        self.farm = farm
        self.name = name
        self.arch_tag = arch_tag
        self.profile = profile if profile is not None else farm.profile
        self.down = False
        self.hang = False
        self.garbage = False
        self.state = IDLE
        self.cookie = None
        self.build_status = None
        self.dependencies = None
        self.filemap = None     # {name: sha1} of the results
        self.files = None       # {sha1: bytes} of the results
        self.cache = None       # sha1s ensurepresent() fetched
        self.log = None
        self.builds = 0
        self.port = None        # its own listening port, if any
        self._timer = None
        self._wedged = False
        self._queue = None      # calls waiting for a download to finish
        self._build = None      # what the running build will produce
        #: C{(build_type, filemap, args)} of the build() that started the
        #: current or last build.
        self.request = None

    def __repr__(self):
        return "<SimulatedBuilder %r %s>" % (self.name, self.state)

    @property
    def url(self):
        return self.farm.urlFor(self.name)

    @property
    def clock(self):
        return self.farm.clock

    # -- XML-RPC methods ---------------------------------------------------

    def xmlrpc_echo(self, *args):
        return list(args)

    def xmlrpc_info(self):
        return [PROTOCOL_VERSION, self.arch_tag, list(BUILD_TYPES)]

    def xmlrpc_status(self):
        state = self.state
        if state == IDLE:
            return {"builder_status": IDLE, "builder_version": BUILDER_VERSION}
        reply = {"builder_status": state, "build_id": self.cookie,
                 "builder_version": BUILDER_VERSION}
        if state == BUILDING:
            reply["logtail"] = xmlrpclib.Binary(
                self.log.tail(self.clock.seconds()))
        elif state == WAITING:
            reply["build_status"] = "BuildStatus." + self.build_status
            if self.build_status in ("OK", "PACKAGEFAIL", "DEPFAIL"):
                reply["filemap"] = dict(self.filemap or {})
                reply["dependencies"] = self.dependencies or ""
        return reply

    def xmlrpc_ensurepresent(self, sha1, url=None, username=None,
                             password=None):
        if not isinstance(sha1, str):
            raise BuilderFault()
        cached = self.cache is not None and sha1 in self.cache
        if cached:
            return [True, "Cache" if url else "No URL"]
        if not self.farm.fetch:
            return [True, "Cache"]
        if not url:
            return [False, "No URL"]
        return self.farm._download(self, sha1, url, username, password)

    def _inCache(self, sha1):
        if not self.farm.fetch:
            return True
        return self.cache is not None and sha1 in self.cache

    def xmlrpc_build(self, cookie, build_type, chroot_sha1, filemap, args):
        if build_type not in BUILD_TYPES:
            return ["BuilderStatus.UNKNOWNBUILDER",
                    "%s not in %r" % (build_type, list(BUILD_TYPES))]
        if not isinstance(filemap, dict) or not isinstance(args, dict):
            raise BuilderFault()
        if not self._inCache(chroot_sha1):
            return ["BuilderStatus.UNKNOWNSUM", "CHROOTSUM -> %s\n"
                    "***** INFO *****\nNo URL\n****************\n"
                    % (chroot_sha1,)]
        for name, sha1 in filemap.items():
            if not self._inCache(sha1):
                return ["BuilderStatus.UNKNOWNSUM", "FILESUM -> %s\n"
                        "***** INFO *****\nNo URL\n****************\n"
                        % (sha1,)]
        if not isinstance(cookie, str) or not cookie:
            raise BuilderFault()
        now = self.clock.seconds()
        if self.state != IDLE:
            # As the real daemon: the refused request still takes over the
            # cookie and empties the log.
            self.cookie = cookie
            if self.log is not None:
                self.log.truncate(now)
            raise BuilderFault()
        self.farm.counters["builds_started"] += 1
        self.builds += 1
        self.state = BUILDING
        self.cookie = cookie
        self.build_status = self.dependencies = None
        self.filemap = self.files = None
        dscs = sorted(n for n in filemap if isinstance(n, str)
                      and n.endswith(".dsc"))
        dsc = dscs[0] if dscs else None
        self.request = (build_type, dict(filemap), dict(args))
        if (build_type == "binarypackage" and (dsc is None or any(
                a not in args for a in BINARYPACKAGE_ARGS))) or (
                build_type == "translation-templates"
                and not (args.get("branch") or args.get("branch_url"))):
            # The real manager raises after the build was taken: the
            # builder says BUILDING for ever and cannot be aborted.
            self._wedged = True
            self.log = BuildLog(
                b"Forking launchpad-buildd slave process...\n", 0, now, 0.0,
                0)
            raise BuilderFault()
        self._wedged = False
        rng = random.Random("%s/%s/%d" % (self.farm.seed, self.name,
                                          self.builds))
        outcome, duration, log_size = self.profile.draw(rng)
        if build_type == "translation-templates" and outcome in (
                "DEPFAIL", "GIVENBACK"):
            # As launchpad-buildd's manager: no dependency wait, no give
            # back; its tools failing to install is a CHROOTFAIL.
            outcome = "CHROOTFAIL"
        arch = str(args.get("arch_tag") or self.arch_tag)
        suite = str(args.get("suite") or args.get("series") or "sid")
        if dsc is not None:
            source, version = sourceOf(
                dsc, self.farm.store.get(filemap[dsc]))
        else:
            source, version = build_type, cookie
        header = logHeader(self, cookie, build_type, chroot_sha1, args, dsc)
        deps = self.profile.dependencies
        reserve = len(logTrailer(outcome, source, version, arch, suite,
                                 cookie, deps, duration))
        self.log = BuildLog(header,
                            max(0, log_size - len(header) - reserve),
                            now, duration, rng.getrandbits(32),
                            series=str(args.get("series", "sid")), arch=arch)
        self._build = (outcome, build_type, source, version, arch, suite,
                       bool(args.get("arch_indep")), args.get("build_url"),
                       deps)
        self._timer = self.clock.callLater(duration, self._finish)
        return ["BuilderStatus.BUILDING", cookie]

    def xmlrpc_abort(self):
        if self.state != BUILDING:
            raise BuilderFault()
        self.state = ABORTING
        self._cancelTimer()
        if self._wedged:
            return ABORTING     # nothing to kill: ABORTING for ever
        profile = self.profile
        if profile.unkillable:
            self._timer = self.clock.callLater(
                profile.abort_timeout, self._finish, "BUILDERFAIL", True)
        else:
            self._timer = self.clock.callLater(
                profile.abort_delay, self._finish, "ABORTED")
        return ABORTING

    def xmlrpc_clean(self):
        if self.state != WAITING:
            raise BuilderFault()
        self.state = IDLE
        self.cookie = self.build_status = self.dependencies = None
        self.filemap = self.files = self.log = self._build = None
        return IDLE

    # -- the build ---------------------------------------------------------

    def _cancelTimer(self):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _finish(self, outcome=None, abort_failed=False):
        self._timer = None
        now = self.clock.seconds()
        (drawn, build_type, source, version, arch, suite, arch_indep,
         build_url, dependencies) = self._build
        outcome = outcome or drawn
        self.state = WAITING
        self.build_status = outcome
        elapsed = max(0.0, now - self.log.start)
        self.log.finish(logTrailer(
            "ABORT-FAILED" if abort_failed else outcome, source, version,
            arch, suite, self.cookie, dependencies, elapsed), now)
        if outcome == "DEPFAIL":
            self.dependencies = dependencies
        if outcome in ("OK", "PACKAGEFAIL", "DEPFAIL"):
            self.filemap, self.files = {}, {}
        if outcome == "OK":
            if build_type == "binarypackage":
                results = makeBinaryResults(
                    source, version, arch, suite, arch_indep, now,
                    build_url if isinstance(build_url, str) else None)
            elif build_type == "translation-templates":
                results = makeTemplatesResults(source)
            else:
                results = {"%s-%s.tar.gz" % (build_type, self.cookie):
                           tarGz([("./result", b"simulated\n")])}
            for name, data in results.items():
                sha1 = hashlib.sha1(data).hexdigest()
                self.filemap[name] = sha1
                self.files[sha1] = data
        self.farm.counters["builds_finished"] += 1
        self.farm.counters["outcome_" + outcome] += 1

    # -- files -------------------------------------------------------------

    def fileFor(self, name):
        """The bytes served at C{/filecache/<name>}, a L{BuildLog} for
        C{buildlog}, or None (404)."""
        if name == "buildlog":
            return self.log
        if self.files is not None and name in self.files:
            return self.files[name]
        if self.cache is not None and name in self.cache:
            return self.farm.store.get(name)
        return None

    def stop(self):
        self._cancelTimer()
