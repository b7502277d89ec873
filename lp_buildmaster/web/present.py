"""What the dashboard and the JSON API show, as plain Python values.

L{Farm} reads the store's views (and the master's live view, when it has
one) and returns dicts of strings, numbers, datetimes and timedeltas; the
HTML pages format them, the API turns them into JSON. Everything works
from the database alone: the master may be None.
"""

import datetime
from pathlib import Path
from urllib.parse import quote

from twisted.internet import defer

from lp_buildmaster.clock import orReactor
from lp_buildmaster.enums import TERMINAL_BUILD_STATES
from lp_buildmaster.interfaces import ILibrarianClient
from lp_buildmaster.librarian.client import LibrarianClient
from lp_buildmaster.librarian.storage import ContentStore
from lp_buildmaster.model.builderstate import builderState
from lp_buildmaster.registry import queryUtility
from lp_buildmaster.store.accounts import AccountStore
from lp_buildmaster.store.views import ViewStore
from lp_buildmaster.web.estimate import DEFAULT_DURATION, estimateQueue
from lp_buildmaster.web.logtail import StoredLogTails


def librarianBaseURL(config):
    """The librarian's public URL, without a trailing slash: the shared
    librarian's when the master uses one."""
    url = (config.get("librarian", "url")
           or config.get("librarian", "public_url"))
    if not url:
        host = config.get("librarian", "interface")
        if ":" in host:
            host = "[%s]" % host
        url = "http://%s:%d" % (host, config.get("librarian", "port"))
    return url.rstrip("/")


def _utc(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


class Farm:
    """The farm as the pages see it.

    @param master: the running master or None. If it has a
        C{liveBuilderStatus(name)} method (a L{BuilderStatus} or None), the
        builders' states use what its last scan saw.
    @param librarian: the master's L{ILibrarianClient}; by default the
        one it provides (C{getUtility(ILibrarianClient)}), else one of the
        embedded librarian in C{STATE_DIR/librarian}.
    @ivar shared_librarian: whether the librarian is a shared one
        (C{[librarian] url}): logs are read from it, not from here.
    """

    def __init__(self, store, config, master=None, clock=None,
                 librarian=None):
        clock = orReactor(clock)
        self.views = getattr(store, "views", None) or ViewStore(store)
        self.store = store
        self.accounts = getattr(store, "accounts", None) or \
            AccountStore(store)
        self.master = master
        self.clock = clock
        self.librarian_url = librarianBaseURL(config)
        self.shared_librarian = bool(config.get("librarian", "url"))
        if librarian is None:
            librarian = queryUtility(ILibrarianClient)
        if librarian is None:
            librarian = LibrarianClient(
                store, ContentStore(Path(config.master_state_dir)
                                    / "librarian"),
                self.librarian_url, b"", clock=clock)
        self.librarian = librarian
        #: The ends of finished builds' stored logs.
        self.log_tails = StoredLogTails(librarian)

    def now(self):
        return _utc(self.clock.seconds())

    def logURL(self, log):
        return "%s/%d/%s" % (self.librarian_url, log.id,
                             quote(log.filename, safe=""))

    def _live(self, name):
        live = getattr(self.master, "liveBuilderStatus", None)
        return live(name) if live is not None else None

    def _lastScanned(self, view):
        """The later of the recorded last scan and, when this master holds
        the builder, the exact one it remembers."""
        recorded = view.last_scanned
        remembered = getattr(self.master, "lastScan", None)
        at = remembered(view.builder.name) if remembered else None
        if at is not None:
            at = _utc(at)
            if recorded is None or at > recorded:
                return at
        return recorded

    def _build(self, view, now, estimate=None):
        build, job = view.build, view.job
        elapsed = None
        if job is not None and job.buildstart is not None and \
                job.builder is not None:
            elapsed = max(now - job.buildstart, datetime.timedelta(0))
        position, estimated = estimate or (None, None)
        return {
            "id": build.id,
            "title": build.title,
            "job_type": build.job_type,
            "state": build.buildstate.name,
            "state_title": build.buildstate.title,
            "active": build.buildstate not in TERMINAL_BUILD_STATES,
            "builder": view.builder_name,
            "processor": build.processor_name,
            "arch": build.architecturetag,
            "source": build.source_name,
            "version": build.source_version,
            "distribution": build.distribution_name,
            "series": build.distrorelease_name,
            "pocket": build.pocket.name,
            "archive": build.archive_name,
            "datecreated": build.datecreated,
            "date_started": build.date_started or (
                job.buildstart if job is not None else None),
            "datebuilt": build.datebuilt,
            "duration": build.buildduration,
            "elapsed": elapsed,
            "dependencies": build.dependencies,
            "failnotes": build.failnotes,
            "log": None if view.log is None else {
                "id": view.log.id, "filename": view.log.filename,
                "restricted": view.log.restricted,
                "url": self.logURL(view.log)},
            "logtail": job.logtail if job is not None else None,
            "score": job.lastscore if job is not None else None,
            "score_manual": job.manual if job is not None else None,
            "virtualized": (job.virtualized if job is not None
                            else build.archive_require_virtualized),
            "upload_log": None if view.upload_log is None else {
                "id": view.upload_log.id,
                "filename": view.upload_log.filename,
                "url": self.logURL(view.upload_log)},
            "queued": job is not None and job.builder is None,
            "position": position,
            "estimated_start": estimated,
        }

    def _builder(self, view, now):
        builder, job = view.builder, view.job
        state = builderState(
            builder.active, builder.builderok, builder.manual,
            job is not None,
            view.build.build.buildstate if view.build is not None else None,
            live=self._live(builder.name))
        return {
            "name": builder.name,
            "title": builder.title,
            "processor": view.processor_name,
            "master": view.master,
            "state": state,
            "virtualized": builder.virtualized,
            "manual": builder.manual,
            "active": builder.active,
            "builderok": builder.builderok,
            "failnotes": builder.failnotes,
            "failure_count": builder.failure_count,
            "state_since": view.state_since,
            "time_in_state": (None if view.state_since is None
                              else max(now - view.state_since,
                                       datetime.timedelta(0))),
            "last_scanned": self._lastScanned(view),
            "build": (None if view.build is None
                      else self._build(view.build, now)),
            "logtail": job.logtail if job is not None else None,
            "buildstart": job.buildstart if job is not None else None,
        }

    @defer.inlineCallbacks
    def builders(self, name=None):
        """Dicts of every builder (or only C{name}'s), by name."""
        views = yield self.views.builders(name)
        now = self.now()
        return [self._builder(view, now) for view in views]

    def _estimates(self, queue, builder_views, averages, now):
        # A job waits for builders of its processor that match its
        # virtualization, as the dispatcher matches them.
        usable, busy = {}, {}
        for view in builder_views:
            builder = view.builder
            if not (builder.active and builder.builderok) or builder.manual:
                continue
            pool = (builder.processor, builder.virtualized)
            usable[pool] = usable.get(pool, 0) + 1
            if view.job is not None:
                busy.setdefault(pool, []).append(view.job.buildstart or now)
        jobs = [(view.build.id, (view.build.processor, view.job.virtualized))
                for view in queue]
        pool_averages = {pool: averages[pool[0]] for _, pool in jobs
                         if pool[0] in averages}
        return estimateQueue(jobs, usable, pool_averages, busy, now,
                             default=DEFAULT_DURATION)

    @defer.inlineCallbacks
    def _queueWith(self, builder_views):
        queue = yield self.views.queue()
        averages = yield self.views.averageDurations()
        now = self.now()
        estimates = self._estimates(queue, builder_views, averages, now)
        return [self._build(view, now, estimates[view.build.id])
                for view in queue]

    @defer.inlineCallbacks
    def queue(self):
        """Dicts of the waiting jobs in dispatch order per processor, with
        their C{position} among the jobs waiting for the same builders
        (processor and virtualization) and C{estimated_start}."""
        builder_views = yield self.views.builders()
        result = yield self._queueWith(builder_views)
        return result

    @defer.inlineCallbacks
    def builds(self, state=None, limit=50, finished=False, **filters):
        """Dicts of builds, newest first; C{filters} as
        L{lp_buildmaster.store.views.ViewStore.builds} takes them."""
        views = yield self.views.builds(state=state, limit=limit,
                                        finished=finished, **filters)
        now = self.now()
        return [self._build(view, now) for view in views]

    @defer.inlineCallbacks
    def build(self, build_id):
        """The dict of one build, or None; a queued one has its estimate."""
        view = yield self.views.build(build_id)
        if view is None:
            return None
        if view.job is not None and view.job.builder is None:
            queue = yield self.queue()
            for entry in queue:
                if entry["id"] == build_id:
                    return entry
        return self._build(view, self.now())

    @defer.inlineCallbacks
    def masters(self):
        """Dicts of the masters registered in the database: whether each
        is alive, its heartbeat's age in seconds, the builders it holds
        and where its services are."""
        reader = getattr(self.views, "masters", None)
        if reader is None:
            return []
        masters = yield reader()
        return [{"name": m.name, "live": m.live,
                 "heartbeat_age": round(m.age, 3), "builders": m.builders,
                 "web_url": m.web_url, "librarian_url": m.librarian_url}
                for m in masters]

    @defer.inlineCallbacks
    def binaries(self, build_id):
        """C{[{"filename", "url"}]} of the files a build uploaded."""
        files = yield self.views.binaries(build_id)
        return [{"filename": f.filename, "url": self.logURL(f)}
                for f in files]

    @defer.inlineCallbacks
    def logAlias(self, build_id):
        """The L{LibraryFileAlias} of a build's stored log, or None."""
        build = yield self.store.builds.get(build_id)
        if build is None or build.buildlog is None:
            return None
        alias = yield self.store.library.getAlias(build.buildlog)
        return alias

    @defer.inlineCallbacks
    def dashboard(self, recent=25):
        """C{{"builders", "masters", "queue", "recent", "now"}} for the
        front page."""
        builder_views = yield self.views.builders()
        queue = yield self._queueWith(builder_views)
        finished = yield self.builds(limit=recent, finished=True)
        masters = yield self.masters()
        now = self.now()
        return {"builders": [self._builder(v, now) for v in builder_views],
                "masters": masters, "queue": queue, "recent": finished,
                "now": now}
