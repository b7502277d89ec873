"""The twistd service: ``twistd -n buildmaster``.

L{lp_buildmaster.startup.makeService} runs before the reactor starts: it
reads the configuration, checks the state directory, the manhole's keys
and the ports, then starts the embedded database when none is configured
and migrates the schema. Each failure there is one clear line and a
non-zero exit. What runs afterwards is a L{MasterService}, a MultiService
whose children are the master's parts, started all or nothing:
the librarian's web server, the scanners, instant dispatch, the
dependency-wait retrier, upload processing, the dashboard with its
metrics, the manhole and, with C{--demo N}, a simulated farm.

What the parts are lives in their own modules: the logging set up here
is L{lp_buildmaster.logfile.MasterLogging}, the upload sweeper
L{lp_buildmaster.upload.sweeper}, the librarian's secret
L{lp_buildmaster.librarian.secret} (both importable from here as before).
"""

import logging
import sys
from pathlib import Path

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import server

from lp_buildmaster import components, failures
from lp_buildmaster.clock import orReactor
from lp_buildmaster.logfile import MasterLogging
from lp_buildmaster.buildergroup import BuilderGroup
from lp_buildmaster.interfaces import ILibrarianClient, ISlave, ISlaveFactory
from lp_buildmaster.librarian.api import LibrarianAPI, LibrarianRoot
from lp_buildmaster.librarian.backends import backendFromConfig
from lp_buildmaster.librarian.client import LibrarianClient
from lp_buildmaster.librarian.remote import RemoteLibrarianClient
# Importable from here as before (the admin commands use it).
from lp_buildmaster.librarian.secret import librarianSecret  # noqa: F401
from lp_buildmaster.librarian.server import LibrarianResource
from lp_buildmaster.master import Dispatcher, InstantDispatch
from lp_buildmaster.model.failure import Thresholds
from lp_buildmaster.outage import DatabaseWatch
from lp_buildmaster.scanner import ScannerManager
from lp_buildmaster.slave import makePool
# The start-up checks and options live in the light module twistd's
# plugin imports first; importable from here as before.
from lp_buildmaster.startup import (  # noqa: F401
    Options, StartupError, _exit, checkPorts, makeService, prepare)
from lp_buildmaster.store import Store, connection
from lp_buildmaster.upload import (
    BuildUploads, UploadArea, UploadProcessor, UploadSweeper)
from lp_buildmaster.web import makeWebService
from lp_buildmaster.web.listening import ListeningService, tcpEndpoint

log = Logger(namespace="lp_buildmaster.service")


class MasterService(service.MultiService):
    """The running master: the store, then its parts as children."""

    def __init__(self, config, dsn, reactor=None):
        super().__init__()
        reactor = orReactor(reactor)
        self.reactor = reactor
        self.config = config
        self.dsn = dsn
        self.store = None
        self.control = None
        self.beats = None
        self.manager = None
        self.logging = MasterLogging(config)

    @property
    def state_dir(self):
        return Path(self.config.master_state_dir)

    def startService(self):
        """Start every part, or none: if one cannot start, those started
        are stopped, one line C{buildmaster: error: ...} goes to stderr,
        the reactor stops and the process exits 1.

        @return: a Deferred firing when started (or stopped again).
        """
        self.logging.start()
        self._started = []
        d = self._start()
        d.addErrback(self._startFailed)
        return d

    @defer.inlineCallbacks
    def _start(self):
        try:
            self.store = yield Store.connect(self.dsn, size=8)
            # Heartbeats and the scanners' refresh on connections of their
            # own: behind the scans' statements they could come too late,
            # and the other masters would judge this one dead.
            self.control = yield Store.connect(self.dsn, size=2)
            # And the heartbeats on one of their own, never queued behind a
            # refresh or a batch of releases.
            if self.config.master_name:
                self.beats = yield Store.connect(self.dsn, size=1)
        except Exception as e:
            raise StartupError("cannot connect to the database %s: %s" % (
                connection.describeDSN(self.dsn),
                failures.describe(e))) from None
        self._assemble()
        service.Service.startService(self)
        for child in list(self):
            what = getattr(child, "description", None) or type(
                child).__name__
            try:
                started = child.startService()
                self._started.append(child)
                if isinstance(started, defer.Deferred):
                    yield started
            except Exception as e:
                raise StartupError("%s: %s" % (what, e)) from None
        self._portsChosen()
        log.info("buildmaster ready: database {db}, state directory "
                 "{state_dir}", db=connection.describeDSN(self.dsn),
                 state_dir=self.config.master_state_dir)

    @defer.inlineCallbacks
    def _startFailed(self, failure):
        message = failure.getErrorMessage() if failure.check(
            StartupError) else failures.describe(failure)
        print("buildmaster: error: %s" % message, file=sys.stderr,
              flush=True)
        self.running = 0
        for child in reversed(self._started):
            try:
                yield child.stopService()
            except Exception:
                pass
        self._started = []
        yield self._closeResources()
        self.logging.stop()
        _exit["status"] = 1
        if self.reactor.running:
            self.reactor.stop()
        else:
            self.reactor.callWhenRunning(self.reactor.stop)

    def _portsChosen(self):
        """With port 0 asked for, tell builders the ports we got."""
        config = self.config
        if (not config.librarian_public_url and self.librarian_service
                and self.librarian_service.port):
            self.config = config = config.replace(
                librarian_port=self.librarian_service.port.getHost().port)
            self.librarian.base_url = self.librarianURL().rstrip("/")
        if self.web.port is not None:
            self.config = config.replace(
                web_port=self.web.port.getHost().port)
            self.dispatcher.build_url = self.webURL() + "/builds/%d"
        # What the next heartbeat writes into this master's row.
        self.manager.web_url = self.webURL()
        self.manager.librarian_url = self.librarianURL()

    def lastScan(self, name):
        """When this master last scanned builder C{name} (seconds), or None
        if it does not scan it: the builder page's exact "last scan"."""
        manager = getattr(self, "manager", None)
        scanner = manager.scanners.get(name) if manager is not None else None
        return None if scanner is None else scanner.last_scan

    def librarianURL(self):
        config = self.config
        if config.librarian_url:
            return config.librarian_url
        return config.librarian_public_url or "http://%s:%d/" % (
            config.librarian_interface, config.librarian_port)

    def webURL(self):
        return "http://%s:%d" % (self.config.web_interface,
                                 self.config.web_port)

    def _assemble(self):
        """Make the master's parts and add them as children, in the order
        they start (and the reverse of the order they stop)."""
        config, store, reactor = self.config, self.store, self.reactor
        state = self.state_dir
        secret = librarianSecret(state, config.librarian_secret_file)
        self.database = DatabaseWatch(
            store, reactor, probe_interval=min(2.0, config.master_scan_interval))
        self.pool = makePool(reactor, maxDownloads=config.builders_pool_size)
        self.slaveFactory = components.SlaveFactory(
            reset_command=config.builders_reset_command or None,
            reset_timeout=config.builders_reset_timeout,
            reactor=reactor, pool=self.pool, timeout=config.slave_timeout,
            ensurepresent_timeout=config.slave_ensurepresent_timeout,
            download_min_rate=config.slave_download_min_rate,
            keepalive=config.slave_keepalive)
        self.librarian_service = None
        if config.librarian_url:
            # One librarian for all masters, over HTTP.
            self.librarian = RemoteLibrarianClient(
                config.librarian_url, secret, state / "librarian-spool",
                reactor=reactor, pool=self.pool)
        else:
            backend = backendFromConfig(config, state, reactor=reactor,
                                        pool=self.pool)
            self.librarian = LibrarianClient(
                store, backend, self.librarianURL(), secret, clock=reactor,
                token_lifetime=config.librarian_token_lifetime)
            librarian_site = _LibrarianSite(LibrarianRoot(
                LibrarianResource(store, backend, secret, reactor,
                                  database=self.database),
                LibrarianAPI(self.librarian, secret)))
            self.librarian_service = ListeningService(
                tcpEndpoint(reactor, config.librarian_port,
                            config.librarian_interface),
                librarian_site, "librarian")
            self.librarian_service.setServiceParent(self)

        area = UploadArea(state / "uploads",
                          max_files=self.config.upload_max_files,
                          max_bytes=self.config.upload_max_size)
        area.ensure()
        for name in area.cleanGrabbing():
            log.info("removed unfinished download {name}", name=name)
        processor = None
        if config.upload_process_in_master:
            processor = UploadProcessor(store, self.librarian, area,
                                        clock=reactor)
            UploadSweeper(processor, reactor, database=self.database,
                          retention=config.upload_retention
                          ).setServiceParent(self)

        self.notifier = None
        if config.smtp_enabled:
            from lp_buildmaster.notify import BuildNotifier
            self.notifier = BuildNotifier(
                smtp_host=config.smtp_host, smtp_port=config.smtp_port,
                sender=config.smtp_sender, admins=config.smtp_admins,
                reactor=reactor)
            NotifierService(self.notifier).setServiceParent(self)

        thresholds = Thresholds(job=config.failures_job_threshold,
                                builder=config.failures_builder_threshold,
                                transient=config.failures_transient_tolerance)
        # The librarian and the builders' clients are looked up where they
        # are used: getUtility(ILibrarianClient), ISlave(builder).
        self._provided = [
            (component, provided,
             components.provideUtility(component, provided))
            for component, provided in [
                (self.librarian, ILibrarianClient),
                (self.slaveFactory, ISlaveFactory)]]
        self.group = BuilderGroup(
            logging.getLogger("lp_buildmaster.buildergroup"), store,
            uploads=BuildUploads(area, processor, reactor),
            notifier=self.notifier, clock=reactor, thresholds=thresholds)
        self.dispatcher = Dispatcher(
            store, None, clock=reactor,
            logger=logging.getLogger("lp_buildmaster.dispatch"),
            archive_url=config.builders_archive_url,
            build_url=self.webURL() + "/builds/%d",
            # For a builder whose client does not reset it itself (made
            # virtualized since its client was made).
            reset_command=config.builders_reset_command or None,
            reset_timeout=config.builders_reset_timeout, reactor=reactor,
            # Idle builders ask for a job at most once an interval while
            # none is queued for them (instant dispatch says when one is).
            empty_for=config.master_scan_interval)
        self.manager = ScannerManager(
            store, self.group, ISlave, clock=reactor,
            interval=config.master_scan_interval,
            dispatcher=self.dispatcher,
            logger=logging.getLogger("lp_buildmaster.scanner"),
            cancel_timeout=config.failures_cancel_timeout,
            owner=config.master_name or None, control=self.control,
            beats=self.beats,
            web_url=self.webURL(),
            librarian_url=self.librarianURL(), database=self.database)
        self.manager.setServiceParent(self)
        InstantDispatch(self.dsn, self.manager).setServiceParent(self)
        self._addDepWait()
        from lp_buildmaster.rescore import Rescorer
        Rescorer(store, reactor, interval=config.master_rescore_interval
                 ).setServiceParent(self)

        self.web = makeWebService(store, config, master=self, clock=reactor,
                                  reactor=reactor)
        self.web.setServiceParent(self)
        if config.manhole_port:
            from lp_buildmaster.manhole import makeManholeService
            makeManholeService(
                config.manhole_port, config.manhole_authorized_keys,
                {"master": self, "store": store, "manager": self.manager,
                 "builders": self.manager.scanners,
                 "librarian": self.librarian},
                host_key_path=str(state / "manhole_host_key"),
                reactor=reactor).setServiceParent(self)
        if config.master_demo:
            from lp_buildmaster.demo import DemoFarm
            DemoFarm(self, config.master_demo).setServiceParent(self)

    def _addDepWait(self):
        from lp_buildmaster.depwait import DepWaitRetrier
        DepWaitRetrier(self.store, self.reactor,
                       interval=self.config.depwait_interval
                       ).setServiceParent(self)

    @defer.inlineCallbacks
    def _closeResources(self):
        """Withdraw the utilities, close the builders' connection pool and
        the database stores (after a stop or a failed start)."""
        self._withdraw()
        if getattr(self, "pool", None) is not None:
            yield self.pool.closeCachedConnections()
        for name in ("store", "control", "beats"):
            if getattr(self, name) is not None:
                getattr(self, name).close()
                setattr(self, name, None)

    def _withdraw(self):
        """Withdraw the utilities it provided, putting back those they
        replaced."""
        for component, provided, before in getattr(self, "_provided", ()):
            components.removeUtility(component, provided, before)
        self._provided = []

    def slaveFor(self, builder):
        """The builder's client: C{ISlave(builder)}."""
        return ISlave(builder)

    @defer.inlineCallbacks
    def stopService(self):
        if not self.running:
            # A failed start stopped what it had started.
            return
        yield super().stopService()
        yield self._closeResources()
        log.info("buildmaster stopped")
        self.logging.stop()


class _LibrarianSite(server.Site):
    """Builders fetch files all day: no access log line for each."""

    noisy = False

    def log(self, request):
        pass


class NotifierService(service.Service):
    """Stops the notifier (its retries and connections) with the master."""

    def __init__(self, notifier):
        self.notifier = notifier

    def stopService(self):
        super().stopService()
        return self.notifier.stop()
