"""C{/metrics} and the periodic refresh of the farm's gauges.

A scrape only formats the registry: the gauges that describe the farm
(builders by state and processor, queue depth) are set by
L{MetricsRefresher} from two queries per interval, so scrapes never touch
the database however often they come.
"""

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource

from lp_buildmaster import metrics
from lp_buildmaster.periodic import PeriodicService
from lp_buildmaster.store.views import ViewStore
from lp_buildmaster.web.state import BUILDER_STATES, builderState

log = Logger(namespace="lp_buildmaster.web.metrics")


class MetricsResource(resource.Resource):
    """The registry in Prometheus' text format."""

    isLeaf = True

    def __init__(self, registry=metrics.REGISTRY):
        resource.Resource.__init__(self)
        self.registry = registry

    def render_GET(self, request):
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode())
        request.setHeader(b"cache-control", b"no-store")
        return generate_latest(self.registry)


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


class MetricsRefresher(PeriodicService):
    """Sets C{buildmaster_builders} and C{buildmaster_queue_depth} from
    the database every C{interval} seconds (and once at start).

    One refresh runs at a time; a failed one is logged and the next
    interval tries again.

    @param master: optional; its C{liveBuilderStatus(name)}, if any,
        refines the builders' states as on the dashboard.
    """

    name = "metrics-refresher"

    def __init__(self, store, clock=None, interval=15, master=None):
        PeriodicService.__init__(self, clock, interval)
        self.views = getattr(store, "views", None) or ViewStore(store)
        self.master = master

    def run(self):
        return self.refresh()

    @defer.inlineCallbacks
    def refresh(self):
        """Read the farm and set the gauges; never fails."""
        try:
            summaries = yield self.views.builderSummaries()
            depths = yield self.views.queueDepths()
        except Exception:
            log.failure("refreshing the farm metrics failed")
            return
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
