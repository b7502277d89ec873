"""A real OpenStack Swift on 127.0.0.1 for the librarian's tests.

One node, one replica: memcached (tempauth keeps its tokens there) and
the account, container, object and proxy servers, each one process
(C{workers = 0}: no fork, no change of user), on free loopback ports,
under a directory of the test's own. The rings are built in one Python
process. Swift comes from Debian's packages (C{make swift} installs them,
as C{make test} does) or from any interpreter named by C{$SWIFT_PYTHON}
that can import it.

Debian's Swift (2.30) reads C{/etc/swift/swift.conf} whatever
C{swift_dir} says, so each server runs through a small launcher that
points Swift at the test's own C{swift.conf} first.
"""

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import treq
from twisted.internet import defer, reactor, task

PYTHON = os.environ.get("SWIFT_PYTHON", "/usr/bin/python3")
ACCOUNT, USER, KEY = "test", "tester", "testing"
#: Seconds Swift may take to come up on a busy machine.
START_TIMEOUT = 90


def available():
    """Why Swift cannot run here, or None when it can."""
    try:
        subprocess.run([PYTHON, "-c", "import swift"], check=True,
                       capture_output=True, env=_environ())
    except (OSError, subprocess.CalledProcessError):
        return "%s cannot import swift: run make swift" % PYTHON
    if shutil.which("memcached") is None:
        return "no memcached: run make swift"
    return None


def _environ():
    """The environment for Swift's interpreter: none of ours (trial's
    workers set PYTHONPATH to this Python's library, which Debian's
    Python cannot load)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PYTHON")}
    env["EVENTLET_NO_GREENDNS"] = "yes"
    return env


def _freePorts(count):
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


_BACKEND = """[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
workers = 0
devices = {root}/srv
mount_check = false
swift_dir = {root}/etc
recon_cache_path = {root}/cache
log_name = {kind}-server

[pipeline:main]
pipeline = {kind}-server

[app:{kind}-server]
use = egg:swift#{kind}
"""

_PROXY = """[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
workers = 0
swift_dir = {root}/etc
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck cache listing_formats tempauth proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
# Generous on a loaded 2-core test machine: Swift's defaults (0.5 s to
# connect to a storage node, 10 s for its answer) answer 503 there.
conn_timeout = 5
node_timeout = 60

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{memcached}

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:tempauth]
use = egg:swift#tempauth
user_{account}_{user} = {key} .admin
"""

_SWIFT_CONF = """[swift-hash]
swift_hash_path_suffix = lpbm-test-suffix
swift_hash_path_prefix = lpbm-test-prefix

[storage-policy:0]
name = Policy-0
default = yes
"""

_RINGS = """
import sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for kind, port in zip(("account", "container", "object"),
                      map(int, sys.argv[2:5])):
    builder = RingBuilder(6, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1",
                     "port": port, "replication_ip": "127.0.0.1",
                     "replication_port": port, "device": "d1",
                     "weight": 1.0, "meta": ""})
    builder.rebalance()
    builder.get_ring().save("%s/%s.ring.gz" % (etc, kind))
"""

_LAUNCH = """
import os
import sys
kind, conf = sys.argv[1], os.path.abspath(sys.argv[2])
import swift.common.utils
swift.common.utils.SWIFT_CONF_FILE = os.path.join(
    os.path.dirname(conf), "swift.conf")
from swift.common.wsgi import run_wsgi
options = {}
if kind == "object-server":
    from swift.obj.server import global_conf_callback
    options["global_conf_callback"] = global_conf_callback
sys.exit(run_wsgi(conf, kind, **options))
"""


class SwiftAIO:
    """Swift under C{root}; L{start}, then L{stop} (the test's cleanup)."""

    def __init__(self, root):
        self.root = Path(root).resolve()
        self.processes = []
        self.auth_url = None

    def _write(self):
        root = self.root
        for sub in ("etc", "srv/d1", "log", "cache"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        proxy, account, container, obj, memcached = _freePorts(5)
        (root / "etc" / "swift.conf").write_text(_SWIFT_CONF)
        for kind, port in (("account", account), ("container", container),
                           ("object", obj)):
            (root / "etc" / ("%s-server.conf" % kind)).write_text(
                _BACKEND.format(port=port, root=root, kind=kind))
        (root / "etc" / "proxy-server.conf").write_text(_PROXY.format(
            port=proxy, root=root, memcached=memcached, account=ACCOUNT,
            user=USER, key=KEY))
        (root / "etc" / "launch.py").write_text(_LAUNCH)
        rings = subprocess.run([PYTHON, "-c", _RINGS, str(root / "etc"),
                                str(account), str(container), str(obj)],
                               capture_output=True, text=True,
                               env=_environ())
        if rings.returncode:
            raise RuntimeError("building Swift's rings failed:\n"
                               + rings.stderr[-2000:])
        self.auth_url = "http://127.0.0.1:%d/auth/v1.0" % proxy
        return memcached

    def _spawn(self, name, argv):
        log = open(self.root / "log" / ("%s.log" % name), "ab")
        env = _environ()
        self.processes.append((name, subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, start_new_session=True)))
        log.close()

    @defer.inlineCallbacks
    def start(self, pool):
        """Fires once the proxy hands out a token for the test user."""
        memcached = yield task.deferLater(reactor, 0, self._write)
        argv = [shutil.which("memcached"), "-l", "127.0.0.1",
                "-p", str(memcached), "-U", "0", "-m", "16"]
        if os.getuid() == 0:
            argv += ["-u", "root"]
        self._spawn("memcached", argv)
        for kind in ("account", "container", "object", "proxy"):
            self._spawn(kind, [PYTHON, str(self.root / "etc" / "launch.py"),
                               "%s-server" % kind,
                               str(self.root / "etc" /
                                   ("%s-server.conf" % kind))])
        deadline = reactor.seconds() + START_TIMEOUT
        last = None
        while reactor.seconds() < deadline:
            dead = [name for name, p in self.processes
                    if p.poll() is not None]
            if dead:
                raise RuntimeError("Swift's %s exited at start; logs in %s"
                                   % (", ".join(dead), self.root / "log"))
            try:
                response = yield treq.get(
                    self.auth_url, pool=pool, timeout=5,
                    headers={"X-Storage-User": "%s:%s" % (ACCOUNT, USER),
                             "X-Storage-Pass": KEY})
                yield treq.content(response)
                last = "auth: HTTP %d" % response.code
                if response.code == 200:
                    # Ready once a container can be made: the account,
                    # container and object servers all answer then.
                    probe = yield treq.put(
                        response.headers.getRawHeaders("x-storage-url")[0]
                        + "/ready", pool=pool, timeout=5,
                        headers={"X-Auth-Token": response.headers
                                 .getRawHeaders("x-auth-token")[0]})
                    yield treq.content(probe)
                    last = "container: HTTP %d" % probe.code
                    if probe.code in (201, 202):
                        return
            except Exception as e:
                last = repr(e)
            yield task.deferLater(reactor, 0.2, lambda: None)
        raise RuntimeError("Swift not ready after %d s: %s"
                           % (START_TIMEOUT, last))

    @defer.inlineCallbacks
    def stop(self):
        """Fires once every server has exited (SIGKILL after 10 s)."""
        for name, process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = reactor.seconds() + 10
        while any(p.poll() is None for _, p in self.processes):
            if reactor.seconds() > deadline:
                for name, process in self.processes:
                    if process.poll() is None:
                        os.killpg(process.pid, signal.SIGKILL)
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.processes = []
