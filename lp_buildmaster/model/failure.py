"""Deciding what a failure means: a pure function, tested by a table.

When talking to a builder about a job fails, either may be to blame. Both
count their failures; comparing the counts says which one keeps failing.
L{judgeFailure} decides, L{lp_buildmaster.buildergroup} acts.
"""

import dataclasses

#: Builder actions.
RETRY = "retry"          # leave everything as it is; scan again later
RESET = "reset"          # keep the builder, but take its job away
FAIL = "fail"            # disable the builder (builderok = false)

#: Job actions.
KEEP = "keep"            # the job stays where it is
REQUEUE = "requeue"      # back to the queue for another builder
FAIL_JOB = "fail"        # give up on the job: FAILEDTOBUILD


@dataclasses.dataclass(frozen=True)
class Thresholds:
    #: Failures after which a job is given up.
    job: int = 3
    #: Failures after which a builder is disabled.
    builder: int = 5
    #: Consecutive transient errors tolerated before one counts.
    transient: int = 5


@dataclasses.dataclass(frozen=True)
class Judgement:
    builder: str
    job: str


def judgeFailure(builder_count, job_count, retryable=True,
                 thresholds=Thresholds()):
    """What to do after a failure, from the counts including this one.

    @param builder_count: the builder's consecutive failures.
    @param job_count: the job's failures, or None when it has no job.
    @param retryable: False when the error shows the builder itself is
        broken (it lied, sent garbage or refused a valid request): no
        point asking it again.
    @return: a L{Judgement}.
    """
    if job_count is None:
        # No job to blame: the builder alone.
        if not retryable or builder_count >= thresholds.builder:
            return Judgement(FAIL, KEEP)
        return Judgement(RETRY, KEEP)
    if job_count >= thresholds.job and job_count >= builder_count:
        # The job has failed on builder after builder: it is the job.
        builder = FAIL if not retryable else RESET
        return Judgement(builder, FAIL_JOB)
    if not retryable or builder_count >= thresholds.builder:
        return Judgement(FAIL, REQUEUE)
    if builder_count > job_count:
        # The builder fails other jobs too: move this one elsewhere.
        return Judgement(RESET, REQUEUE)
    # Equal counts: it may pass; try the same pair again.
    return Judgement(RETRY, KEEP)


def judgeLostJob(builder_count, job_count, thresholds=Thresholds()):
    """What to do when a builder lost its job or reports a cookie that is
    not its own, from the counts including this one.

    The job never stays on that builder (it is not building it); it goes
    back to the queue, or is given up once lost too often. The builder is
    kept until its failures reach the threshold.

    @param job_count: the job's failures, or None when it had no job.
    @return: a L{Judgement}.
    """
    builder = FAIL if builder_count >= thresholds.builder else RESET
    if job_count is None:
        return Judgement(builder, KEEP)
    return Judgement(
        builder, FAIL_JOB if job_count >= thresholds.job else REQUEUE)
