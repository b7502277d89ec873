"""The catalogue's builders (tests/hostile.py): what the hostile ones send
(XML-RPC replies that are bombs, floods, deeply nested or lying, the
builder's C{/rpc} answering with them, a file cache that drips), and a
well-behaved collector whose collection must not wait on them.
"""

import collections
import re
import xmlrpc.client as xmlrpclib

from twisted.internet import defer, reactor
from twisted.web import resource, server

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.model.records import makeCookie
from tests.farm import addBuilder, addRunningJob
from tests.test_slave_fixtures import daemonSite

MB = 1024 * 1024


def response(value):
    return xmlrpclib.dumps((value,), methodresponse=True,
                           allow_none=True).encode("utf-8")


def fault(code, text):
    return xmlrpclib.dumps(xmlrpclib.Fault(code, text),
                           methodresponse=True).encode("utf-8")


def waiting(cookie, filemap):
    return response({"builder_status": "BuilderStatus.WAITING",
                     "build_status": "BuildStatus.OK", "build_id": cookie,
                     "filemap": filemap, "dependencies": ""})


def building(cookie, logtail):
    return response({"builder_status": "BuilderStatus.BUILDING",
                     "build_id": cookie,
                     "logtail": xmlrpclib.Binary(logtail)})


def entityBomb(size):
    """A DTD entity of 290 bytes referenced until the reply is C{size}
    bytes: under the reply cap, expanding a hundredfold."""
    head = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "' + b"x" * 290
            + b'">]><methodResponse><params><param><value><struct><member>'
            b"<name>builder_status</name><value><string>"
            b"BuilderStatus.BUILDING</string></value></member><member>"
            b"<name>build_id</name><value><string>1-1</string></value>"
            b"</member><member><name>logtail</name><value><string>")
    tail = (b"</string></value></member></struct></value></param></params>"
            b"</methodResponse>")
    return head + b"&a;" * ((size - len(head) - len(tail)) // 3) + tail


def billionLaughs():
    return (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY l0 "ha">'
            + b"".join(b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10)
                       for i in range(1, 10))
            + b']><methodResponse><params><param><value><string>&l9;'
            b"</string></value></param></params></methodResponse>")


def nested(depth):
    return (b"<methodResponse><params><param>"
            + b"<value><array><data>" * depth
            + b"</data></array></value>" * depth
            + b"</param></params></methodResponse>")


class Flood:
    """A reply of C{total} bytes, written only as the connection takes it
    (so the builder's side never holds it all)."""

    chunk = b"<value><string>" + b"x" * 65000 + b"</string></value>"

    def __init__(self, total):
        self.total = total

    def __call__(self, request):
        return _FloodWriter(self.total).start(request)


class _FloodWriter:
    """One flooded reply."""

    chunk = Flood.chunk
    paused = stopped = False

    def __init__(self, total):
        self.total = total
        self.sent = 0

    def start(self, request):
        request.setHeader(b"content-type", b"text/xml")
        request.write(b"<?xml version='1.0'?><methodResponse><params>")
        self.request = request
        request.registerProducer(self, True)
        reactor.callLater(0, self.resumeProducing)
        return server.NOT_DONE_YET

    def resumeProducing(self):
        self.paused = False
        while self.sent < self.total and not self.paused and not self.stopped:
            self.request.write(self.chunk)
            self.sent += len(self.chunk)
        if self.sent >= self.total and not self.stopped:
            self.stopped = True
            self.request.unregisterProducer()
            self.request.finish()

    def pauseProducing(self):
        self.paused = True

    def stopProducing(self):
        self.stopped = True


class HostileRPC(resource.Resource):
    """/rpc of a hostile builder: status() as the case says; abort() and
    clean() as a real daemon answers them."""

    isLeaf = True

    def __init__(self, case, cookie):
        resource.Resource.__init__(self)
        self.case = case
        self.cookie = cookie
        self.calls = collections.Counter()
        # Made once, before the measuring starts: the builder's own cost
        # of making its reply is not the master's.
        self.statusReply = case.reply(cookie)

    def render_POST(self, request):
        body = request.content.read(64 * 1024)
        match = re.search(rb"<methodName>([A-Za-z_]+)</methodName>", body)
        method = match.group(1).decode() if match else "?"
        self.calls[method] += 1
        if method == "status":
            reply = self.statusReply
        elif method == "abort":
            reply = response("BuilderStatus.ABORTING")
        elif method == "clean":
            reply = response("BuilderStatus.IDLE")
        else:
            reply = fault(8001, "unknown method")
        if callable(reply):
            return reply(request)
        if isinstance(reply, tuple):
            code, reply = reply
            request.setResponseCode(code)
        request.setHeader(b"content-type", b"text/xml")
        return reply


class Drip(resource.Resource):
    """C{/filecache/<name>} of a slow-drip builder: every file is said to be
    C{size} bytes long and sent C{chunk} at a time, one chunk per C{period}
    seconds of C{clock} (the catalogue's Clock, advanced in steps), so it
    never ends in the run unless the master hangs up.

    @ivar downloads: one dict per request: C{name}, C{started} and
        C{ended} (clock seconds; C{ended} None while it is open) and
        C{sent} (bytes).
    """

    isLeaf = True

    def __init__(self, clock, period, size=16 * 1024, chunk=b"x"):
        resource.Resource.__init__(self)
        self.clock = clock
        self.period = period
        self.size = size
        self.chunk = chunk
        self.downloads = []
        self._open = {}

    def render_GET(self, request):
        download = {"name": request.postpath[-1].decode("utf-8", "replace"),
                    "started": self.clock.seconds(), "ended": None,
                    "sent": 0}
        self.downloads.append(download)
        request.setHeader(b"content-type", b"application/octet-stream")
        request.setHeader(b"content-length", b"%d" % self.size)
        request.notifyFinish().addBoth(self._ended, download)
        # The first chunk at once: the headers go with it.
        self._drip(request, download)
        return server.NOT_DONE_YET

    def _drip(self, request, download):
        request.write(self.chunk)
        download["sent"] += len(self.chunk)
        if download["sent"] >= self.size:
            request.finish()
            return
        self._open[id(download)] = (request, self.clock.callLater(
            self.period, self._drip, request, download))

    def _ended(self, _, download):
        download["ended"] = self.clock.seconds()
        request, call = self._open.pop(id(download), (None, None))
        if call is not None and call.active():
            call.cancel()

    @property
    def started(self):
        return bool(self.downloads)

    def stop(self):
        """Drop what is still open (the master never hung up)."""
        for request, call in list(self._open.values()):
            if call.active():
                call.cancel()
            request.channel.transport.abortConnection()


def listen(site):
    site.timeOut = None
    site.log = lambda request: None
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    return port, "http://127.0.0.1:%d/" % port.getHost().port


class Collector:
    """A well-behaved builder running a build that ends (OK) when told,
    then served its log at once: its collection needs a download slot."""

    def __init__(self, clock):
        self.clock = clock
        site, self.daemon, self.files = daemonSite()
        self.port, self.url = listen(site)
        self.finishedAt = None
        self.fetchedAt = None
        served = self.files.render_GET

        def render(request):
            if self.fetchedAt is None:
                self.fetchedAt = clock.seconds()
            return served(request)
        self.files.render_GET = render

    @defer.inlineCallbacks
    def add(self, store, ids):
        builder_id = yield addBuilder(store, "collector")
        yield store.builders.update(builder_id, url=self.url)
        build_id, queue_id = yield addRunningJob(store, builder_id)
        ids.update(collector=builder_id, collector_build=build_id)
        self.daemon.builder_status = "BuilderStatus.BUILDING"
        self.daemon.cookie = makeCookie(build_id, queue_id)

    def finish(self):
        """The build ends OK, its log ready at /filecache/buildlog."""
        self.files.files["buildlog"] = b"collected while others drip\n"
        self.daemon.builder_status = "BuilderStatus.WAITING"
        self.daemon.build_status = "BuildStatus.OK"
        self.daemon.filemap = {}
        self.finishedAt = self.clock.seconds()

    @defer.inlineCallbacks
    def check(self, store, ids, drip, interval):
        problems = []
        build = yield store.builds.get(ids["collector_build"])
        if build.buildstate != BuildStatus.UPLOADING:
            problems.append("the collector's build is %s, not collected"
                            % build.buildstate.name)
        builder = yield store.builders.get(ids["collector"])
        if not builder.builderok or builder.failure_count:
            problems.append("the collector was counted a failure")
        ended = [d["ended"] for d in drip.downloads]
        if self.fetchedAt is None or None in ended:
            problems.append("the collector's log was fetched at %s, the "
                            "offender's downloads ended at %s"
                            % (self.fetchedAt, ended))
        elif self.fetchedAt < min(ended):
            problems.append("the collector's log was fetched while the "
                            "offender held the farm's only download slot")
        elif self.fetchedAt > max(ended) + interval:
            problems.append("the collector's log was fetched %.2f s after "
                            "the offender's last download ended"
                            % (self.fetchedAt - max(ended)))
        return problems


def checkDrip(drip, timeout, minRate, since=None):
    """Each download was abandoned by its deadline: the call timeout plus
    the size at the minimum rate, or else by clock time C{since} (give or
    take two steps of lag)."""
    problems = []
    if not drip.downloads:
        return ["the offender's files were never fetched"]
    for d in drip.downloads:
        deadline = timeout + drip.size / minRate
        if since is not None:
            deadline = since - d["started"]
        if d["ended"] is None:
            problems.append("the download of %s was never abandoned"
                            % d["name"])
        elif d["ended"] - d["started"] > deadline + 2 * drip.period:
            problems.append("the download of %s was abandoned after %.2f s,"
                            " past its deadline of %.2f s" % (
                                d["name"], d["ended"] - d["started"],
                                deadline))
    return problems
