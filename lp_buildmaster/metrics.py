"""Prometheus metrics of the master, in one registry of its own.

The scanner, the dispatcher and the collection chain observe these;
``/metrics`` on the web port serves them. Gauges that describe the farm
(builders by state, queue depth) are set from the database at each
scrape (L{lp_buildmaster.web.metrics.FarmGauges}).
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

BUILDERS = Gauge(
    "buildmaster_builders", "Builders by state and processor.",
    ["state", "processor"], registry=REGISTRY)
QUEUE_DEPTH = Gauge(
    "buildmaster_queue_depth", "Jobs waiting for a builder, by processor.",
    ["processor"], registry=REGISTRY)
SCAN_DURATION = Histogram(
    "buildmaster_scan_duration_seconds", "Time one scan of a builder took.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
             60), registry=REGISTRY)
DISPATCH_LATENCY = Histogram(
    "buildmaster_dispatch_latency_seconds",
    "Time from finding an idle builder to its build() call returning.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY)
QUEUE_WAIT = Histogram(
    "buildmaster_queue_wait_seconds",
    "Time a job waited in the queue before it was dispatched.",
    buckets=(1, 5, 15, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600),
    registry=REGISTRY)
BUILDS_FINISHED = Counter(
    "buildmaster_builds_finished", "Builds collected, by final state.",
    ["state"], registry=REGISTRY)
FAILURES = Counter(
    "buildmaster_failures", "Failures counted, by what failed and why.",
    ["kind", "reason"], registry=REGISTRY)
HANDOVERS = Counter(
    "buildmaster_builder_handovers",
    "Builders this master took (taken) or handed over between scans "
    "(released).", ["direction"], registry=REGISTRY)
for _direction in ("taken", "released"):
    HANDOVERS.labels(_direction)
FAILOVERS = Counter(
    "buildmaster_failovers",
    "Builders this master took from a master judged dead.",
    registry=REGISTRY)
MASTER_LIVE = Gauge(
    "buildmaster_master_live",
    "1 for each registered master whose heartbeat is current, else 0.",
    ["master"], registry=REGISTRY)
MASTER_HEARTBEAT_AGE = Gauge(
    "buildmaster_master_heartbeat_age_seconds",
    "Seconds since each registered master's last heartbeat.",
    ["master"], registry=REGISTRY)
MASTER_BUILDERS = Gauge(
    "buildmaster_master_builders", "Builders each master holds.",
    ["master"], registry=REGISTRY)
BUILDER_MASTER = Gauge(
    "buildmaster_builder_master",
    "1 for each builder, labelled with the master holding it (none: '').",
    ["builder", "master"], registry=REGISTRY)
