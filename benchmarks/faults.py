"""Benchmark: a running farm through database faults (issue 11's suite).

Setup: a whole master (L{MasterService}: scanners, instant dispatch,
collection, upload processing in the master, the librarian) on an embedded
PostgreSQL (pgserver) in a temporary state directory, and C{--builders}
simulated launchpad-buildd builders on loopback whose every build ends OK
after 1-3 s (real .changes and .deb results, fetched from the master's own
librarian first). Builds of the sample source pmount 0.1-1 (hoary, i386)
are requested all along so that some are always queued, building,
finished-but-not-collected and uploading.

Faults, one every C{--gap} seconds, the sequence C{--rounds} times:

- C{restart}: the embedded PostgreSQL restarted (C{pg_ctl restart -m
  fast}: every connection dropped, new ones refused meanwhile);
- C{terminate}: every connection of the master killed with
  C{pg_terminate_backend};
- C{refuse}: the database refuses new connections (C{ALLOW_CONNECTIONS
  false}) and existing ones are terminated, for C{--outage} seconds (15).

Then no more builds are requested and the farm drains. Figures:

- C{builds}: total requested and their final states;
- C{lost}: builds NEEDSBUILD with no queue entry, or gone;
- C{stuck}: builds still BUILDING, UPLOADING or queued after the drain;
- C{wrongly_failed}: builds in any final state but FULLYBUILT (every
  simulated outcome was OK);
- C{builders_wrongly_disabled}: simulated builders failed or disabled;
- C{faults}: each fault with the seconds from the database's return (the
  end of the fault) to the next dispatch (C{resume_s}) and the master's
  own count of the outage;
- C{tracebacks}: log events carrying a traceback;
- C{meets_target}: lost, stuck, wrongly failed and wrongly disabled all 0
  and every C{resume_s} within one scan interval.

One command, from a fresh clone (about 4 minutes)::

    .venv/bin/python benchmarks/faults.py

It prints one JSON object and exits 1 when it misses the target.
"""

import argparse
import collections
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

FAULTS = ("restart", "terminate", "refuse")
#: The sample build whose source every requested build rebuilds.
TEMPLATE_BUILD = 7


class LogWatch:
    """Every log event of the process: tracebacks counted, dispatches and
    the master's outage lines timed."""

    def __init__(self):
        self.tracebacks = 0
        self.first_tracebacks = []
        self.dispatched = []
        self.outage_lines = []
        self.levels = collections.Counter()
        self.warnings = []

    def __call__(self, event):
        from twisted.logger import formatEvent
        text = formatEvent(event) or ""
        failure = event.get("log_failure")
        level = event.get("log_level")
        if level is not None:
            self.levels[level.name] += 1
            if level.name in ("warn", "error", "critical"):
                self.warnings.append("%s: %s" % (level.name, text[:200]))
        if failure is not None or "Traceback (most recent call last)" in text:
            self.tracebacks += 1
            if len(self.first_tracebacks) < 3:
                self.first_tracebacks.append(
                    (text + (failure.getTraceback() if failure else ""))[:600])
        if text.startswith("Dispatched "):
            self.dispatched.append(time.monotonic())
        if text.startswith("database unavailable") or text.startswith(
                "database available again"):
            self.outage_lines.append(text[:160])


def adminSQL(admin_dsn, *statements):
    """Run statements on the maintenance database (blocking: in a thread)."""
    from lp_buildmaster.store import connection
    conn = connection.connectSync(admin_dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for sql, params in statements:
                cur.execute(sql, params)
    finally:
        conn.close()


def terminateSQL(dbname):
    return ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,))


def allowSQL(dbname, allowed):
    from lp_buildmaster.store import connection
    return ("ALTER DATABASE %s ALLOW_CONNECTIONS %s" % (
        connection.quoteIdent(dbname), "true" if allowed else "false"), None)


def restartServer(server):
    """pg_ctl restart of the embedded server (blocking: in a thread)."""
    from pgserver._commands import pg_ctl
    pg_ctl(["-w", "-m", "fast", "-l", str(server.log), "restart"],
           pgdata=server.pgdata, user=server.system_user, timeout=120)


async def run(reactor, args, state):
    from twisted.internet import defer, threads
    from twisted.logger import globalLogPublisher

    from lp_buildmaster import config as configmodule
    from lp_buildmaster.demo import DemoFarm
    from lp_buildmaster.enums import BuildStatus, PackagePublishingPocket
    from lp_buildmaster.service import MasterService
    from lp_buildmaster.testing.simulator import BuildProfile, SimulatedFarm
    from lp_buildmaster.store import connection, sampledata

    watch = LogWatch()
    globalLogPublisher.addObserver(watch)
    dsn = connection.embeddedDSN(state)
    server = connection._joined[-1]
    connection.prepareDatabase(dsn)
    conn = connection.connectSync(dsn)
    try:
        sampledata.loadSampleData(conn, state / "librarian")
    finally:
        conn.close()
    dbname = connection.EMBEDDED_DBNAME
    admin_dsn = connection.withDatabase(dsn, "postgres")

    config = configmodule.load(environ={}, overrides={
        ("master", "state_dir"): str(state),
        ("master", "scan_interval"): str(args.interval),
        ("web", "port"): "0", ("librarian", "port"): "0"})
    master = MasterService(config, dsn, reactor=reactor)
    await master.startService()
    store = master.store
    # Only the simulated builders: the sample ones point at nothing.
    for name in ("bob", "frog"):
        builder = await store.builders.getByName(name)
        await store.builders.update(builder.id, active=False)
    await store.runOperation(
        "DELETE FROM buildqueue WHERE builder IS NULL")

    profile = BuildProfile(duration=(1.0, 3.0), log_size=(2000, 20000),
                           outcomes={"OK": 1.0})
    farm = SimulatedFarm(reactor=reactor, profile=profile, seed=args.seed)
    names = ["sim-%03d" % i for i in range(1, args.builders + 1)]
    for name in names:
        farm.addBuilder(name, arch_tag="i386")
    await farm.listen(0)
    helper = DemoFarm(master, args.builders)
    helper.farm = farm
    await helper.register([(name, "i386") for name in names])
    await helper.setChroots()

    template = await store.builds.get(TEMPLATE_BUILD)
    hoary = await store.distro.getDistroArchRelease("ubuntu", "hoary",
                                                    "i386")
    requested = []
    unqueued = []
    feeding = {"on": True, "failures": 0}

    async def feed():
        # As an operator would: a build whose queue entry could not be
        # made (the database went away in between) is queued again later.
        while feeding["on"] or unqueued:
            try:
                while unqueued:
                    if (await store.queue.getByBuild(unqueued[0])) is None:
                        await store.queue.enqueueBuild(unqueued[0])
                    unqueued.pop(0)
                pending = await store.queue.pending()
                wanted = args.builders - len(pending) if feeding["on"] else 0
                for _ in range(max(0, wanted)):
                    build_id = await store.builds.create(
                        hoary.id, template.sourcepackagerelease,
                        template.archive, PackagePublishingPocket.RELEASE)
                    requested.append(build_id)
                    unqueued.append(build_id)
                    await store.queue.enqueueBuild(build_id)
                    unqueued.remove(build_id)
            except Exception:
                # The database is away: the operator's requests fail too.
                feeding["failures"] += 1
            await common.sleep(reactor, 1.0)
    feeder = defer.ensureDeferred(feed())

    faults = []
    started = time.monotonic()
    await common.sleep(reactor, args.warmup)
    for _ in range(args.rounds):
        for kind in FAULTS:
            at = time.monotonic()
            if kind == "restart":
                await threads.deferToThread(restartServer, server)
            elif kind == "terminate":
                await threads.deferToThread(adminSQL, admin_dsn,
                                            terminateSQL(dbname))
            else:
                await threads.deferToThread(
                    adminSQL, admin_dsn, allowSQL(dbname, False),
                    terminateSQL(dbname))
                await common.sleep(reactor, args.outage)
                await threads.deferToThread(adminSQL, admin_dsn,
                                            allowSQL(dbname, True))
            back = time.monotonic()
            faults.append({"kind": kind, "at_s": round(at - started, 1),
                           "lasted_s": round(back - at, 1), "_back": back,
                           "_at": at})
            await common.sleep(reactor, args.gap)
    feeding["on"] = False
    await feeder

    # Drain: every requested build reaches a final state (or time is up).
    final = {BuildStatus.FULLYBUILT, BuildStatus.FAILEDTOBUILD,
             BuildStatus.FAILEDTOUPLOAD, BuildStatus.CHROOTWAIT,
             BuildStatus.MANUALDEPWAIT, BuildStatus.SUPERSEDED,
             BuildStatus.CANCELLED}
    deadline = time.monotonic() + args.drain
    while True:
        builds = await store.builds.getMany(requested)
        unfinished = [b for b in builds.values()
                      if b.buildstate not in final]
        if not unfinished or time.monotonic() > deadline:
            break
        await common.sleep(reactor, 2.0)
    drained = time.monotonic()

    states = collections.Counter(b.buildstate.name for b in builds.values())
    queued = set()
    for build_id in requested:
        if (await store.queue.getByBuild(build_id)) is not None:
            queued.add(build_id)
    lost = sorted(
        build_id for build_id in requested
        if build_id not in builds or (
            builds[build_id].buildstate not in final
            and build_id not in queued))
    stuck = sorted(b.id for b in builds.values()
                   if b.buildstate not in final and b.id not in lost)
    wrongly_failed = sorted(b.id for b in builds.values()
                            if b.buildstate in final
                            and b.buildstate != BuildStatus.FULLYBUILT)
    disabled = []
    for name in names:
        builder = await store.builders.getByName(name)
        if not builder.builderok or not builder.active:
            disabled.append("%s: %s" % (name, builder.failnotes))

    for fault, following in zip(faults, faults[1:] + [None]):
        back = fault.pop("_back")
        # The first dispatch before the next fault starts (None: none).
        end = (following["_at"] if following is not None else float("inf"))
        later = [t for t in watch.dispatched if back <= t < end]
        fault["resume_s"] = round(later[0] - back, 2) if later else None
    for fault in faults:
        fault.pop("_at")
    outages = [round(end - start, 2)
               for start, end in master.database.outages]

    await master.stopService()
    await farm.stop()
    globalLogPublisher.removeObserver(watch)

    resumes = [f["resume_s"] for f in faults]
    result = {
        "benchmark": "faults",
        "builders": args.builders,
        "scan_interval_s": args.interval,
        "faults_run": collections.Counter(f["kind"] for f in faults),
        "builds": {"total": len(requested), "states": dict(states)},
        "lost": len(lost),
        "stuck": len(stuck),
        "wrongly_failed": len(wrongly_failed),
        "builders_wrongly_disabled": len(disabled),
        "dispatch_resume_s": {
            "max": max((r for r in resumes if r is not None), default=None),
            "never": sum(1 for r in resumes if r is None)},
        "faults": faults,
        "outages_seen_by_master_s": outages,
        "outage_log_lines": len(watch.outage_lines),
        "tracebacks": watch.tracebacks,
        "log_events": dict(watch.levels),
        "build_requests_refused_during_faults": feeding["failures"],
        "drain_s": round(drained - started, 1),
        "details": {"lost": lost[:20], "stuck": stuck[:20],
                    "wrongly_failed": wrongly_failed[:20],
                    "disabled": disabled[:20],
                    "first_tracebacks": watch.first_tracebacks,
                    "warnings_and_errors": watch.warnings[:30]},
    }
    result["meets_target"] = (
        result["lost"] == 0 and result["stuck"] == 0
        and result["wrongly_failed"] == 0
        and result["builders_wrongly_disabled"] == 0
        and result["dispatch_resume_s"]["never"] == 0
        and (result["dispatch_resume_s"]["max"] or 0) <= args.interval)
    return result


def main():
    parser = argparse.ArgumentParser(
        description="A master with builds in flight through database "
                    "restarts, killed connections and refused connections; "
                    "prints one JSON object.")
    parser.add_argument("--builders", type=int, default=10,
                        help="simulated builders (default 10)")
    parser.add_argument("--interval", type=float, default=15.0,
                        help="scan interval in seconds (default 15)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="times the fault sequence runs (default 2)")
    parser.add_argument("--gap", type=float, default=20.0,
                        help="seconds between faults (default 20)")
    parser.add_argument("--outage", type=float, default=15.0,
                        help="seconds the database refuses (default 15)")
    parser.add_argument("--warmup", type=float, default=20.0,
                        help="seconds before the first fault (default 20)")
    parser.add_argument("--drain", type=float, default=180.0,
                        help="longest wait for the builds to finish after "
                             "the faults (default 180)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true",
                        help="the master's log on stderr")
    args = parser.parse_args()
    if args.builders < 1 or args.rounds < 1 or args.interval <= 0:
        parser.error("--builders, --rounds and --interval must be positive")
    if args.gap <= args.interval:
        # Dispatch is measured until the next fault: the gap must leave it
        # a whole interval.
        parser.error("--gap must be longer than --interval")
    if args.verbose:
        from twisted.logger import globalLogBeginner, textFileLogObserver
        globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)])

    from twisted.internet import defer
    from lp_buildmaster.store import connection

    state = Path(tempfile.mkdtemp(prefix="faults-"))
    try:
        result = common.react(lambda reactor: defer.ensureDeferred(
            run(reactor, args, state)))
    finally:
        connection.stopEmbedded()
        shutil.rmtree(state, ignore_errors=True)
    common.emit(result)
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
