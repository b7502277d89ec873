"""What state a builder is in: one answer for the dashboard, the API, the
metrics and C{buildmaster-admin}."""

from lp_buildmaster.enums import BuilderStatus, BuildStatus

#: Every state L{builderState} returns, in the dashboard's order.
BUILDER_STATES = ("idle", "building", "waiting", "failed", "disabled",
                  "manual")

#: Build states in which a job is still on its builder's hands.
_RUNNING = frozenset([BuildStatus.NEEDSBUILD, BuildStatus.BUILDING,
                      BuildStatus.CANCELLING])


def builderState(active, builderok, manual, has_job, buildstate=None,
                 live=None):
    """The state of one builder, from its database row and its job.

    @param has_job: whether a queue entry is assigned to it.
    @param buildstate: the L{BuildStatus} of that entry's build.
    @param live: a L{BuilderStatus} the master saw on its last scan, if
        it offers one; it refines what the database says.
    @return: one of L{BUILDER_STATES}.
    """
    if not active:
        return "disabled"
    if not builderok:
        return "failed"
    if live in (BuilderStatus.WAITING, BuilderStatus.ABORTED):
        return "waiting"
    if live in (BuilderStatus.BUILDING, BuilderStatus.ABORTING):
        return "building"
    if has_job:
        # A job whose build left the running states is waiting to be
        # collected (uploading, or finished but not yet cleaned).
        return "building" if buildstate in _RUNNING or buildstate is None \
            else "waiting"
    return "manual" if manual else "idle"


def builderStatus(builder, has_job=False, buildstate=None):
    """L{builderState} of a builder record, with the failnotes of a
    failed one: C{"failed: disk full"}, as the command line shows it."""
    state = builderState(builder.active, builder.builderok, builder.manual,
                         has_job, buildstate)
    if state == "failed":
        return "failed: %s" % (builder.failnotes or "no notes")
    return state
