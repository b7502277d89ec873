"""C{/metrics}: the registry, with the farm's gauges read at scrape time.

The gauges that describe the farm (builders by state and processor,
queue depth, the master holding each builder, the masters' heartbeats)
are set from the database by L{FarmGauges} when a scrape comes, in three
queries, so a scrape never shows older data than the API does. The histograms and counters are observed by the master as it
works.
"""

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server

from lp_buildmaster import failures, metrics
from lp_buildmaster.store.views import ViewStore
from lp_buildmaster.model.builderstate import BUILDER_STATES, builderState

log = Logger(namespace="lp_buildmaster.web.metrics")


def builderCounts(summaries, live=None):
    """C{{(state, processor): count}} with every state of every processor
    present (zero when no builder is in it).

    @param summaries: L{lp_buildmaster.store.views.BuilderSummary}s.
    @param live: C{name -> BuilderStatus or None}, the master's live view.
    """
    counts = {}
    for processor in {s.processor_name for s in summaries}:
        for state in BUILDER_STATES:
            counts[(state, processor)] = 0
    for s in summaries:
        state = builderState(s.active, s.builderok, s.manual, s.has_job,
                             s.buildstate,
                             live=live(s.name) if live else None)
        counts[(state, s.processor_name)] += 1
    return counts


class FarmGauges:
    """Sets C{buildmaster_builders} and C{buildmaster_queue_depth} from
    the database.

    @param master: optional; its C{liveBuilderStatus(name)}, if any,
        refines the builders' states as on the dashboard.
    """

    def __init__(self, store, master=None):
        self.views = getattr(store, "views", None) or ViewStore(store)
        self.master = master

    @defer.inlineCallbacks
    def refresh(self):
        """Read the farm and set the gauges; fails if the database does."""
        summaries = yield self.views.builderSummaries()
        depths = yield self.views.queueDepths()
        live = getattr(self.master, "liveBuilderStatus", None)
        counts = builderCounts(summaries, live)
        # Replace every series, so a builder that changed processor or a
        # processor that went away leaves no stale one behind.
        metrics.BUILDERS.clear()
        for (state, processor), count in counts.items():
            metrics.BUILDERS.labels(state=state,
                                    processor=processor).set(count)
        metrics.QUEUE_DEPTH.clear()
        for processor, depth in depths.items():
            metrics.QUEUE_DEPTH.labels(processor=processor).set(depth)
        metrics.BUILDER_MASTER.clear()
        for s in summaries:
            metrics.BUILDER_MASTER.labels(builder=s.name,
                                          master=s.master or "").set(1)
        reader = getattr(self.views, "masters", None)
        if reader is None:
            return
        masters = yield reader()
        for gauge in (metrics.MASTER_LIVE, metrics.MASTER_HEARTBEAT_AGE,
                      metrics.MASTER_BUILDERS):
            gauge.clear()
        for m in masters:
            metrics.MASTER_LIVE.labels(master=m.name).set(int(m.live))
            metrics.MASTER_HEARTBEAT_AGE.labels(master=m.name).set(m.age)
            metrics.MASTER_BUILDERS.labels(master=m.name).set(m.builders)


class MetricsResource(resource.Resource):
    """The registry in Prometheus' text format, the farm's gauges fresh.

    When the database cannot be read the scrape is a 503, so Prometheus
    records the target as down instead of storing stale gauges.
    """

    isLeaf = True

    def __init__(self, gauges=None, registry=metrics.REGISTRY):
        resource.Resource.__init__(self)
        self.gauges = gauges
        self.registry = registry
        self._errors = failures.OncePerChange()

    def render_GET(self, request):
        gone = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        d = defer.maybeDeferred(
            self.gauges.refresh if self.gauges is not None else lambda: None)

        def refreshed(_):
            self._errors.clear("gauges")
            request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode())
            return generate_latest(self.registry)

        def failed(failure):
            # Once while it repeats: scrapers ask every few seconds.
            if self._errors.first("gauges", failures.signature(failure)):
                log.warn("reading the farm for /metrics failed: {error}",
                         error=failures.describe(failure))
            request.setResponseCode(503)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"the database cannot be read; see the master's log\n"

        def finish(body):
            if not gone:
                request.write(body)
                request.finish()
        request.setHeader(b"cache-control", b"no-store")
        d.addCallbacks(refreshed, failed)
        d.addCallback(finish)
        return server.NOT_DONE_YET
