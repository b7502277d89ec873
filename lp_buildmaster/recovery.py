"""Acting on a builder's failures, once judged (Launchpad's recover_failure
beside the pure L{lp_buildmaster.model.failure.judgeFailure}).

L{FailureRecovery} is the part of L{BuilderGroup} that counts a failure
against a builder and its job in one transaction
(L{lp_buildmaster.store.jobs.JobStore.countAndAct}) and acts on the
judgement: the job back to the queue or failed, the builder failed at
its threshold; and what follows a cancelled build its builder did not
abort. A mixin: it works on the group's C{store}, C{logger},
C{thresholds} and C{logtails}.

Imports: the model's judgement, the store's L{FailureAction}, metrics and
L{lp_buildmaster.handles}; nothing above.
"""

import dataclasses

from twisted.internet import defer

from lp_buildmaster import metrics
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.handles import logEnded
from lp_buildmaster.model import failure
from lp_buildmaster.slave import SlaveError
from lp_buildmaster.store.jobs import FailureAction


class FailureRecovery:
    """What a L{BuilderGroup} does with a failure of a builder or a job."""

    @defer.inlineCallbacks
    def handleLostJob(self, builder, what, queue_id=None, build_id=None):
        """A builder lost its job (C{queue_id}, C{build_id}) or, with or
        without one, reports a cookie that is not its own: one failure of
        the builder and of the job. The job goes back to the queue, or
        fails once lost too often; the builder fails at its threshold
        (L{failure.judgeLostJob}).

        @param what: what the builder did, for the log and failnotes.
        @return: the L{failure.Judgement}.
        """
        judged = []

        def judge(builder_count, job_count):
            judgement = failure.judgeLostJob(builder_count, job_count,
                                             self.thresholds)
            judged.append(judgement)
            action = FailureAction()
            if judgement.builder == failure.FAIL:
                action = FailureAction(failnotes="%s, %d failures in a row"
                                       % (what, builder_count))
            if queue_id is not None:
                if judgement.job == failure.FAIL_JOB:
                    action = dataclasses.replace(
                        action, job_state=BuildStatus.FAILEDTOBUILD,
                        build_failnotes="lost by its builder %d times: %s"
                        % (job_count, what))
                else:
                    action = dataclasses.replace(
                        action, job_state=BuildStatus.NEEDSBUILD)
            return action
        result = yield self.store.jobs.countAndAct(builder.id, judge,
                                                   queue_id)
        if result is None:
            # The job left that builder meanwhile (another master, the
            # admin tool): nothing was lost, nothing is counted or said.
            return None
        builder_count, job_count, action = result
        judgement = judged[-1]
        metrics.FAILURES.labels("builder", "LostJob").inc()
        # A rescue has said so already; a lost job has not.
        log = self.logger.info if queue_id is None else self.logger.warning
        log("Builder '%s' %s (builder failure %s, job failures %s):"
            " builder %s, job %s", builder.name, what, builder_count,
            job_count, judgement.builder, judgement.job)
        if queue_id is not None:
            self.logtails.pop(queue_id, None)
        self._failedInMemory(builder, action)
        return judgement

    def _failedInMemory(self, builder, action):
        """What L{failbuilder} does besides the database, after
        L{JobStore.countAndAct} failed the builder."""
        if action.failnotes is not None:
            builder.record = dataclasses.replace(
                builder.record, builderok=False, failnotes=action.failnotes)
            metrics.FAILURES.labels("builder", "failed").inc()

    @defer.inlineCallbacks
    def handleJobFault(self, job, error):
        """The job is at fault (L{lp_buildmaster.failures.JOB}): it fails
        with the error as its failnotes, counted against it alone; the
        builder is freed and cleaned, its failure count untouched."""
        released = yield self.store.jobs.releaseJob(
            job.queue.id, job.builder.id, BuildStatus.FAILEDTOBUILD,
            job_failed=True, build_failnotes=str(error))
        self.logtails.pop(job.queue.id, None)
        if not released:
            return
        metrics.BUILDS_FINISHED.labels("FAILEDTOBUILD").inc()
        try:
            yield job.builder.slave.clean()
        except SlaveError as e:
            # Not WAITING after all: the next scan rescues it (its cookie
            # names a job it no longer has).
            self.logger.info("Builder '%s' not cleaned (%s); rescued at the "
                             "next scan", job.builder.name, e)

    @defer.inlineCallbacks
    def handleFailure(self, builder, job, error, retryable=None):
        """Count a failure of C{builder} (and C{job}) and act on the
        judgement (L{lp_buildmaster.model.failure.judgeFailure}).

        @param error: the exception.
        @param retryable: False when the builder itself is broken; by
            default, the error's C{transient}.
        @return: the L{failure.Judgement}.
        """
        if retryable is None:
            retryable = getattr(error, "transient", True)
        judged = []

        def judge(builder_count, job_count):
            judgement = failure.judgeFailure(builder_count, job_count,
                                             retryable, self.thresholds)
            judged.append(judgement)
            failnotes = None
            if judgement.builder == failure.FAIL:
                failnotes = str(error)
            state = None
            if job_count is not None and judgement.job != failure.KEEP:
                state = (BuildStatus.FAILEDTOBUILD
                         if judgement.job == failure.FAIL_JOB
                         else BuildStatus.NEEDSBUILD)
            # A job judged guilty clears the builder (as Launchpad does).
            reset = (judgement.job == failure.FAIL_JOB
                     and judgement.builder != failure.FAIL)
            return FailureAction(state, failnotes,
                                 reset_builder_count=reset)
        result = None
        if job is not None:
            result = yield self.store.jobs.countAndAct(
                builder.id, judge, job.queue.id)
        if result is None:
            # No job, or it left the builder meanwhile: the builder alone.
            job = None
            result = yield self.store.jobs.countAndAct(builder.id, judge)
        builder_count, job_count, action = result
        judgement = judged[-1]
        metrics.FAILURES.labels("builder", type(error).__name__).inc()
        self.logger.info(
            "Builder '%s' failure %s%s: %s -> builder %s%s", builder.name,
            builder_count, "" if job_count is None
            else " (job failures %s)" % job_count,
            getattr(error, "reason", error), judgement.builder,
            "" if job is None else ", job %s" % judgement.job)
        if job is not None and action.job_state is not None:
            self.logtails.pop(job.queue.id, None)
            if action.job_state == BuildStatus.FAILEDTOBUILD:
                logEnded(job.build, action.job_state, builder.name,
                         "failed %d times" % job_count)
        self._failedInMemory(builder, action)
        return judgement

    @defer.inlineCallbacks
    def handleNotAborted(self, builder, queue_id, failnotes, counted=False):
        """A CANCELLING build its builder did not abort: the build is
        CANCELLED and the builder failed with C{failnotes}, at once (it
        reported BUILDERFAIL, which fails any builder in the seed) or,
        with C{counted}, by one failure counted against it (it did not
        abort in time).

        @return: whether the build was cancelled now (not by someone else
            meanwhile).
        """
        released = yield self.store.jobs.releaseJob(
            queue_id, builder.id, BuildStatus.CANCELLED,
            builder_failed=counted, failnotes=failnotes)
        self.logtails.pop(queue_id, None)
        if released:
            metrics.BUILDS_FINISHED.labels("CANCELLED").inc()
        return released
