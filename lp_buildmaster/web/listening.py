"""A service that listens on a TCP address and says where."""

from twisted.application import service
from twisted.internet import endpoints
from twisted.logger import Logger

log = Logger(namespace="lp_buildmaster.web")


def tcpEndpoint(reactor, port, interface):
    """A TCP server endpoint on C{interface} (IPv4 or IPv6) and C{port}."""
    if ":" in interface:
        return endpoints.TCP6ServerEndpoint(reactor, port,
                                            interface=interface)
    return endpoints.TCP4ServerEndpoint(reactor, port, interface=interface)


class ListeningService(service.Service):
    """Listens with C{factory} on C{endpoint} while running.

    C{port} is the listening port once started (C{port.getHost().port}
    tells the number when 0 was asked for). Failing to listen raises from
    L{startService} when the endpoint fails at once, as TCP ones do.
    """

    def __init__(self, endpoint, factory, description):
        self.endpoint = endpoint
        self.factory = factory
        self.description = description
        self.port = None
        self._listening = None

    def startService(self):
        super().startService()
        failures = []
        starting = [True]

        def failed(failure):
            self._listening = None
            if starting:
                failures.append(failure)
            else:
                log.failure("{what} cannot listen", failure,
                            what=self.description)
        d = self._listening = self.endpoint.listen(self.factory)
        d.addCallbacks(self._listened, failed)
        starting.pop()
        if failures:
            self.running = 0
            failures[0].raiseException()

    def _listened(self, port):
        self.port = port
        self._listening = None
        address = port.getHost()
        log.info("{what} listening on {host}:{port}", what=self.description,
                 host=address.host, port=address.port)
        return port

    def stopService(self):
        super().stopService()
        if self._listening is not None:
            self._listening.cancel()
            self._listening = None
        port, self.port = self.port, None
        if port is not None:
            return port.stopListening()
