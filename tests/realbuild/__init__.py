"""The real-build suite's fixtures: the real launchpad-buildd running its
own helpers (``bin/``: thin wrappers around lpbuildd.target and Debian's
sbuild) as root, and a loopback mirror of Debian that also serves the
security suite under the same URL, as Launchpad's pocket dependencies
expect of an archive.

Run with ``make test-realbuild`` (tests/realbuild/suite.py); ``make test``
does not collect it.
"""

import configparser
import os
import sys

import treq  # noqa: F401  (treq.collect)
from twisted.internet import defer
from twisted.web import resource, server

from tests.realbuilder import RealBuilder

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "bin")
LAUNCHER = os.path.join(HERE, "launcher.py")
DEBIAN = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"


class RealBuild(RealBuilder):
    """launchpad-buildd with the real helpers: it unpacks the chroot,
    mounts, runs apt and sbuild for real (as root, which its sudo calls
    then are)."""

    def _writeConfig(self):
        conf = configparser.ConfigParser()
        conf["builder"] = {
            "architecturetag": self.arch_tag,
            "filecache": self.filecache,
            "bindhost": "127.0.0.1",
            "bindport": "0",
            "sharepath": HERE,
        }
        conf["realbuilder"] = {"abort_timeout": str(self.abort_timeout)}
        with open(os.path.join(self.basedir, "buildd.conf"), "w") as f:
            conf.write(f)

    def _environ(self):
        env = RealBuilder._environ(self)
        env["PATH"] = os.pathsep.join([
            BIN, os.path.dirname(sys.executable),
            "/usr/sbin:/usr/bin:/sbin:/bin"])
        env["REALBUILD_PYTHON"] = sys.executable
        return env

    def start(self, timeout=60.0):
        for path in (self.basedir, self.filecache, self.home):
            os.makedirs(path, exist_ok=True)
        self._writeConfig()
        from tests.realbuilder import _DaemonProtocol
        self.port = self.url = self.rpc_url = None
        self._protocol = _DaemonProtocol()
        self._transport = self.reactor.spawnProcess(
            self._protocol, sys.executable,
            [sys.executable, LAUNCHER, self.basedir],
            env=self._environ(), path=self.basedir)
        return self._waitUntilAnswering(timeout)


class MirrorProxy(resource.Resource):
    """Debian's archive on loopback: ``/debian/...`` from deb.debian.org,
    except the security suite and its pool, from debian-security."""

    isLeaf = True

    def __init__(self, http):
        resource.Resource.__init__(self)
        self.http = http
        self.requests = []

    def upstream(self, path):
        if not path.startswith("/debian/"):
            return None
        rest = path[len("/debian/"):]
        if rest.startswith(("dists/bookworm-security/", "pool/updates/")):
            return "%s/%s" % (SECURITY, rest)
        return "%s/%s" % (DEBIAN, rest)

    def render_GET(self, request):
        return self._forward(request)

    def render_HEAD(self, request):
        return self._forward(request)

    def _forward(self, request):
        path = request.path.decode("latin-1")
        url = self.upstream(path)
        self.requests.append(path)
        if url is None or ".." in path:
            request.setResponseCode(404)
            return b""
        d = self.http.request(request.method.decode(), url)

        @defer.inlineCallbacks
        def relay(response):
            request.setResponseCode(response.code)
            for name in (b"Content-Type", b"Content-Length",
                         b"Last-Modified"):
                values = response.headers.getRawHeaders(name)
                if values:
                    request.setHeader(name, values[0])
            if request.method != b"HEAD":
                yield treq.collect(response, request.write)
            request.finish()

        def failed(reason):
            request.setResponseCode(502)
            request.finish()
        d.addCallback(relay).addErrback(failed)
        return server.NOT_DONE_YET
