"""L{SimulatedFarm}: simulated builders sharing one port (or each its
own), their files, counters and downloads for ensurepresent(); what the
programs serving farms share (the simulator's own, benchmarks/farm.py):
builders named in a name space several processes share, a watch on every
call, and the JSON line describing a listening farm.

Imports C{constants}, C{profiles}, C{builder}, C{rpc} and C{web}.
"""

import collections
import hashlib
import os
import random
from urllib.parse import quote

from twisted.internet import defer

from lp_buildmaster.clock import orReactor
from lp_buildmaster.testing.simulator.builder import SimulatedBuilder
from lp_buildmaster.testing.simulator.constants import MAX_FETCH_SIZE
from lp_buildmaster.testing.simulator.profiles import BuildProfile
from lp_buildmaster.testing.simulator.rpc import RpcHandler
from lp_buildmaster.testing.simulator.web import FarmSite


class SimulatedFarm:
    """Simulated builders sharing one port.

    @ivar builders: C{{name: SimulatedBuilder}}.
    @ivar counters: a C{collections.Counter}: calls served per XML-RPC
        method name (C{counters['status']}), C{files} and C{buildlogs}
        served, C{hung}, C{refused} and C{garbage} faults, C{faults} sent,
        C{builds_started}, C{builds_finished}, C{outcome_<OUTCOME>},
        C{downloads}.
    @ivar store: C{{sha1: bytes}} of everything ensurepresent() fetched
        (shared by all builders; each builder knows which sha1s it has).
    """

    def __init__(self, clock=None, reactor=None, seed=0, profile=None,
                 fetch=True, fetch_timeout=600.0):
        """
        @param clock: times the builds (default: C{reactor}).
        @param reactor: listens and downloads (default: the global reactor).
        @param seed: makes every build's outcome, duration and log
            reproducible.
        @param profile: the default L{BuildProfile} of new builders.
        @param fetch: C{True}: ensurepresent() downloads and checks the
            sha1, and build() answers UNKNOWNSUM for files not fetched;
            C{False}: ensurepresent() trusts and answers C{[True, 'Cache']}
            (for large farms).
        """
        reactor = orReactor(reactor)
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.seed = seed
        self.profile = profile if profile is not None else BuildProfile()
        self.fetch = fetch
        self.fetch_timeout = fetch_timeout
        self.builders = {}
        self.counters = collections.Counter()
        self.store = {}
        self.interface = "127.0.0.1"
        self.port = None
        self._rng = random.Random(seed)
        self._listeners = []
        self._sites = []
        self._hung = set()
        self._downloads = set()
        self._pool = None
        self._http = None
        self._rpc = RpcHandler(self)
        #: Called as C{f(builder, method)} for every XML-RPC call taken.
        self.callWatchers = []

    def addBuilder(self, name, arch_tag="i386", profile=None):
        """A new IDLE builder; its URL is L{urlFor}C{(name)}."""
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError("bad builder name %r" % (name,))
        if name in self.builders:
            raise ValueError("builder %r exists already" % (name,))
        builder = SimulatedBuilder(self, name, arch_tag, profile)
        self.builders[name] = builder
        return builder

    def addBuilders(self, count, prefix="sim", first=1, width=None,
                    arch_tags=("i386",)):
        """C{count} IDLE builders named C{PREFIX-NNNNN} from number
        C{first}, with C{width} digits (default: enough, at least 5), their
        architectures dealt round-robin from C{arch_tags}: several farms
        (processes) share one name space by their C{first}.

        @return: the new builders' names, in order.
        """
        if width is None:
            width = max(5, len(str(first + count)))
        names = []
        for i in range(count):
            name = "%s-%0*d" % (prefix, width, first + i)
            self.addBuilder(name, arch_tag=arch_tags[i % len(arch_tags)])
            names.append(name)
        return names

    def watchCalls(self, watcher):
        """Have C{watcher(builder, method)} called for every XML-RPC call a
        builder takes (a hung or refused call is dropped before it is read
        and not seen), before it is answered: benchmarks stamp status()
        calls with it."""
        self.callWatchers.append(watcher)

    def describe(self, names=None):
        """What a farm's program prints once listening: C{port}, C{pid},
        C{url_template} and, for C{names} (default: every builder), their
        C{builders} URLs and C{arch_tags}."""
        if self.port is None:
            raise RuntimeError("the farm is not listening")
        names = list(self.builders) if names is None else names
        return {
            "port": self.port, "pid": os.getpid(),
            "url_template": "http://%s:%d/{name}/" % (self.interface,
                                                      self.port),
            "builders": {n: self.urlFor(n) for n in names},
            "arch_tags": {n: self.builders[n].arch_tag for n in names},
        }

    def __getitem__(self, name):
        return self.builders[name]

    def listen(self, port=0, interface="127.0.0.1", backlog=1024):
        """Serve every builder on one port; fires with the port number."""
        try:
            site = FarmSite(self)
            listener = self.reactor.listenTCP(
                port, site, backlog=backlog, interface=interface)
        except Exception:
            return defer.fail()
        self._sites.append(site)
        self._listeners.append(listener)
        self.interface = interface
        self.port = listener.getHost().port
        return defer.succeed(self.port)

    def listenBuilder(self, name, port=0, interface="127.0.0.1"):
        """Give one builder a port of its own (small demos); fires with the
        port number, and the builder's URL becomes C{http://HOST:P/}."""
        builder = self.builders[name]
        try:
            site = FarmSite(self, builder)
            listener = self.reactor.listenTCP(port, site, interface=interface)
        except Exception:
            return defer.fail()
        self._sites.append(site)
        self._listeners.append(listener)
        builder.port = (interface, listener.getHost().port)
        return defer.succeed(builder.port[1])

    def urlFor(self, name):
        """The builder's base URL, ending in C{/}."""
        builder = self.builders[name]
        if builder.port is not None:
            return "http://%s:%d/" % builder.port
        if self.port is None:
            raise RuntimeError("the farm is not listening")
        return "http://%s:%d/%s/" % (self.interface, self.port,
                                     quote(name, safe=""))

    def stop(self):
        """Stop every build timer, listener, connection and download."""
        for builder in self.builders.values():
            builder.stop()
        ds = [defer.maybeDeferred(listener.stopListening)
              for listener in self._listeners]
        self._listeners = []
        for d in list(self._downloads):
            d.cancel()
        for site in self._sites:
            for channel in list(site.channels):
                if channel.transport is not None:
                    channel.transport.abortConnection()
        self._sites = []
        if self._pool is not None:
            ds.append(self._pool.closeCachedConnections())
            self._pool = None
        return defer.DeferredList(ds).addCallback(lambda _: None)

    # -- downloads ---------------------------------------------------------

    def _download(self, builder, sha1, url, username, password):
        """ensurepresent() of a file not in the builder's cache."""
        import treq
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool
        if self._pool is None:
            from lp_buildmaster.slave import quietPool
            self._pool = quietPool(
                HTTPConnectionPool(self.reactor, persistent=False))
            self._http = HTTPClient(Agent(self.reactor, pool=self._pool))
        self.counters["downloads"] += 1
        digest = hashlib.sha1()
        parts = []
        size = 0

        def collect(chunk):
            nonlocal size
            size += len(chunk)
            if size > MAX_FETCH_SIZE:
                raise ValueError("file larger than %d bytes" % MAX_FETCH_SIZE)
            digest.update(chunk)
            parts.append(chunk)

        @defer.inlineCallbacks
        def fetch():
            auth = (username, password) if username else None
            response = yield self._http.get(url, auth=auth, unbuffered=True)
            if response.code != 200:
                yield treq.content(response).addErrback(lambda f: None)
                phrase = response.phrase
                if isinstance(phrase, bytes):
                    phrase = phrase.decode("latin-1")
                return [False, "Error accessing Librarian: HTTP Error %d: %s"
                        % (response.code, phrase)]
            yield treq.collect(response, collect)
            return None

        d = fetch()
        d.addTimeout(self.fetch_timeout, self.reactor)
        self._downloads.add(d)

        def done(result):
            self._downloads.discard(d)
            if hasattr(result, "getErrorMessage"):
                return [False, "Error accessing Librarian: <urlopen error "
                        "%s>" % result.getErrorMessage()]
            if result is not None:
                return result
            if digest.hexdigest() != sha1:
                return [False, "Digests did not match, removing again!"]
            self.store[sha1] = b"".join(parts)
            if builder.cache is None:
                builder.cache = set()
            builder.cache.add(sha1)
            return [True, "Download"]

        return d.addBoth(done)
