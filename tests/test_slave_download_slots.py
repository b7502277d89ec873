"""Collection does not wait behind scans on the keep-alive pool: a file
download from a builder goes out on a connection of its own at once, even
while calls to that builder, and to every builder sharing its host and
port (simulated builders on one port), are in flight and hold more
connections than the pool keeps per host. On real loopback sockets,
against a scripted server; the calls time out on an injected clock.

(Issue 15's building mix once saw collection slow down after keep-alive
landed; the cause was the loaded machine, not the pool: this holds the
pool to it.)
"""

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from lp_buildmaster.slave import BuilderSlave, SlaveTimeout, makePool
from tests.test_slave_fixtures import closePoolAtEnd, listen
from tests.test_slave_keepalive import nextRequest, scripted

#: What the download serves.
CONTENT = b"the end of a build log\n" * 100


class Sink:
    def __init__(self):
        self.data = b""

    def write(self, data):
        self.data += data


class DownloadSlotTests(unittest.TestCase):

    #: A download queued behind the hanging calls would wait for ever.
    timeout = 30

    @defer.inlineCallbacks
    def test_downloadNotQueuedBehindCallsInFlight(self):
        pool = makePool(reactor, maxPersistentPerHost=2, maxDownloads=16)
        closePoolAtEnd(self, pool)
        clock = task.Clock()
        calls = 2 * pool.maxPersistentPerHost + 1
        file_reply = (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
                      % len(CONTENT) + CONTENT)
        # The calls get no answer (they hang); the download its file.
        factory = scripted(*[None] * (calls + 1), file_reply)
        url, _ = listen(self, factory)
        slaves = [BuilderSlave("b%d" % i, url, pool=pool, clock=clock,
                               timeout=30) for i in range(calls)]
        hanging = []
        for slave in slaves:
            received = nextRequest(factory)
            hanging.append(slave.status())
            yield received
        # One more call to the builder whose file is fetched: two in flight.
        received = nextRequest(factory)
        hanging.append(slaves[0].status())
        yield received
        sink = Sink()
        yield slaves[0].getFile("buildlog", sink)
        self.assertEqual(sink.data, CONTENT)
        self.assertEqual(factory.connections, calls + 2)
        self.assertEqual(factory.answers, [])
        clock.advance(30)
        for d in hanging:
            yield self.assertFailure(d, SlaveTimeout)
