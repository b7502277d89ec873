"""Why a build is not running: the answer of ``buildmaster-admin why``.

Pure functions over what L{BuildStore.dispatchContext} reads in one
transaction, so every rule is tested without a database. They follow the
dispatcher's rules: a job goes to an idle builder of its processor whose
virtualization is the job's, that is active, ok and not manual; the
series' release status must allow the pocket (L{policy.pocketAllowed}),
the archive must be enabled, the chroot of the pocket must exist and the
source must still be published (else the build is superseded).
"""

import dataclasses
import datetime
from typing import Optional

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.model.policy import pocketAllowed
from lp_buildmaster.web.estimate import DEFAULT_DURATION, estimateStart


@dataclasses.dataclass(frozen=True)
class Reason:
    """One thing keeping a build from running.

    @ivar code: a stable name, for scripts reading --json.
    """

    code: str
    message: str


@dataclasses.dataclass(frozen=True)
class Explanation:
    build_id: int
    state: BuildStatus
    reasons: tuple
    position: Optional[int] = None
    waiting: Optional[int] = None
    estimated_start: Optional[datetime.datetime] = None

    def asDict(self):
        return {
            "build": self.build_id,
            "state": self.state.name,
            "reasons": [dataclasses.asdict(r) for r in self.reasons],
            "queue_position": self.position,
            "queue_length": self.waiting,
            "estimated_start": (None if self.estimated_start is None
                                else self.estimated_start.isoformat()),
        }


def builderProblem(builder):
    """Why C{builder} takes no job, or None if it would."""
    if not builder.active:
        return "%s is disabled" % (builder.name,)
    if not builder.builderok:
        return "%s has failed (%s)" % (
            builder.name, builder.failnotes or "no notes")
    if builder.manual:
        return "%s is in manual mode" % (builder.name,)
    return None


def freeAt(now, buildstart, duration):
    """When a builder running a job started at C{buildstart} (None if
    not known) is expected to be free."""
    return (buildstart or now) + duration


def _names(builders):
    return ", ".join(b.name for b in builders)


def _kind(virtualized):
    return "virtualized" if virtualized else "non-virtualized"


def explain(build, queue, builders, busy, chroot, published, pending,
            mean_duration, now):
    """Every reason why C{build} is not running.

    The parameters are those of L{BuildStore.dispatchContext}.

    @return: an L{Explanation}; its C{position} and C{estimated_start}
        are set when the build waits in the queue.
    """
    if build.buildstate != BuildStatus.NEEDSBUILD:
        return Explanation(build.id, build.buildstate, (Reason(
            "state", "build %d is %s (%s), not waiting to be built"
            % (build.id, build.buildstate.name, build.buildstate.title)),))
    reasons = []
    where = "%s %s %s" % (build.distribution_name, build.distrorelease_name,
                          build.architecturetag)
    if queue is None:
        reasons.append(Reason(
            "not-queued", "build %d has no queue entry, so no builder is "
            "ever offered it; retry or request it again" % (build.id,)))
    virtualized = (queue.virtualized if queue is not None
                   else build.archive_require_virtualized)
    matching = [b for b in builders if b.virtualized == virtualized]
    usable = [b for b in matching if builderProblem(b) is None]
    if not builders:
        reasons.append(Reason(
            "no-builder", "there is no builder for processor %s"
            % (build.processor_name,)))
    elif not matching:
        reasons.append(Reason(
            "virtualization", "archive %s needs %s builders, but the %s "
            "builders (%s) are all %s"
            % (build.archive_name, _kind(virtualized), build.processor_name,
               _names(builders), _kind(not virtualized))))
    elif not usable:
        reasons.append(Reason(
            "builders-unavailable", "no %s %s builder takes jobs: %s"
            % (_kind(virtualized), build.processor_name,
               "; ".join(builderProblem(b) for b in matching))))
    if chroot is None or chroot.chroot is None:
        reasons.append(Reason(
            "no-chroot", "there is no chroot for %s in pocket %s"
            % (where, build.pocket.name)))
    if not pocketAllowed(build.releasestatus, build.pocket):
        reasons.append(Reason(
            "pocket", "%s %s is %s and takes no builds for pocket %s"
            % (build.distribution_name, build.distrorelease_name,
               build.releasestatus.name, build.pocket.name)))
    if not build.archive_enabled:
        reasons.append(Reason(
            "archive-disabled", "archive %s is disabled"
            % (build.archive_name,)))
    if not published:
        reasons.append(Reason(
            "superseded", "source %s %s is no longer published in %s %s "
            "(archive %s): the build will be marked SUPERSEDED instead of "
            "dispatched" % (build.source_name, build.source_version,
                            build.distribution_name,
                            build.distrorelease_name, build.archive_name)))
    position = waiting = estimate = None
    if queue is not None and queue.id in pending:
        position = pending.index(queue.id) + 1
        waiting = len(pending)
    blocked = bool(reasons)
    if position is not None and usable:
        duration = mean_duration or DEFAULT_DURATION
        idle = [b for b in usable if b.id not in busy]
        line = "number %d of %d waiting for a %s %s builder" % (
            position, waiting, _kind(virtualized), build.processor_name)
        if blocked:
            # Something above keeps it from starting at all: no estimate,
            # which would say it starts soon.
            if position > len(idle):
                reasons.append(Reason(
                    "busy", "%s; %d of %d usable builders busy (%s); no "
                    "estimate until the above is resolved"
                    % (line, len(usable) - len(idle), len(usable),
                       _names(u for u in usable if u.id in busy))))
            return Explanation(build.id, build.buildstate, tuple(reasons),
                               position, waiting, None)
        estimate = estimateStart(
            position - 1, len(usable), duration, now,
            [freeAt(now, busy[b.id], duration)
             for b in usable if b.id in busy])
        if position > len(idle):
            reasons.append(Reason(
                "busy", "%s; %d of %d usable builders busy (%s); estimated "
                "start %s (%s)"
                % (line, len(usable) - len(idle), len(usable),
                   _names(u for u in usable if u.id in busy),
                   estimate.strftime("%Y-%m-%d %H:%M %Z").strip(),
                   describeDelay(estimate - now))))
        else:
            reasons.append(Reason(
                "idle", "%s; %s idle: it should start at the next scan"
                % (line, _names(idle))))
    return Explanation(build.id, build.buildstate, tuple(reasons), position,
                       waiting, estimate)


def describeDelay(delta):
    """C{"in about 2h 05m"}, C{"in about 7m"}, C{"any moment now"}."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "any moment now"
    if minutes < 60:
        return "in about %dm" % minutes
    return "in about %dh %02dm" % divmod(minutes, 60)


def formatText(explanation):
    """The text ``buildmaster-admin why`` prints."""
    lines = ["build %d: %s" % (explanation.build_id,
                               explanation.state.name)]
    if not explanation.reasons:
        lines.append("  nothing known keeps it from running")
    for reason in explanation.reasons:
        lines.append("  - %s" % (reason.message,))
    return "\n".join(lines)
