"""The failure judgement, as a table."""

from twisted.trial import unittest

from lp_buildmaster.model.failure import (
    FAIL, FAIL_JOB, KEEP, REQUEUE, RESET, RETRY, Judgement, Thresholds,
    judgeFailure, judgeLostJob)

# (builder failures, job failures or None, retryable) -> (builder, job)
TABLE = [
    # A builder without a job: retried until it reaches its threshold.
    ((1, None, True), (RETRY, KEEP)),
    ((4, None, True), (RETRY, KEEP)),
    ((5, None, True), (FAIL, KEEP)),
    ((1, None, False), (FAIL, KEEP)),
    # Equal counts: cannot tell; try the same pair again.
    ((1, 1, True), (RETRY, KEEP)),
    ((2, 2, True), (RETRY, KEEP)),
    # The job has failed as often as the builder, three times: the job.
    ((3, 3, True), (RESET, FAIL_JOB)),
    ((1, 3, True), (RESET, FAIL_JOB)),
    ((2, 7, True), (RESET, FAIL_JOB)),
    # The builder fails more than its job: move the job elsewhere.
    ((2, 1, True), (RESET, REQUEUE)),
    ((4, 2, True), (RESET, REQUEUE)),
    # The builder reached its threshold: fail it, requeue the job.
    ((5, 1, True), (FAIL, REQUEUE)),
    ((9, 2, True), (FAIL, REQUEUE)),
    ((5, 4, True), (FAIL, REQUEUE)),
    # A job failing more than a failed builder is still the job's fault.
    ((5, 5, True), (RESET, FAIL_JOB)),
    # A non-retryable error fails the builder at once.
    ((1, 1, False), (FAIL, REQUEUE)),
    ((1, 3, False), (FAIL, FAIL_JOB)),
    # A job that failed less than the threshold on a job-less builder.
    ((1, 2, True), (RETRY, KEEP)),
]


class JudgeFailureTestCase(unittest.TestCase):

    def test_table(self):
        for (builder_count, job_count, retryable), expected in TABLE:
            self.assertEqual(
                judgeFailure(builder_count, job_count, retryable),
                Judgement(*expected),
                "judgeFailure(%r, %r, %r)" % (builder_count, job_count,
                                              retryable))

    def test_thresholdsConfigurable(self):
        lenient = Thresholds(job=10, builder=20)
        self.assertEqual(judgeFailure(5, 5, True, lenient),
                         Judgement(RETRY, KEEP))
        self.assertEqual(judgeFailure(20, 1, True, lenient),
                         Judgement(FAIL, REQUEUE))
        self.assertEqual(judgeFailure(3, 10, True, lenient),
                         Judgement(RESET, FAIL_JOB))


class JudgeLostJobTests(unittest.TestCase):
    """A lost job or a foreign cookie: the job never stays; the builder is
    failed at its threshold and the job at its own."""

    def test_table(self):
        t = Thresholds(job=3, builder=5)
        table = [
            # builder count, job count -> builder, job
            (1, None, RESET, KEEP),
            (4, None, RESET, KEEP),
            (5, None, FAIL, KEEP),
            (1, 1, RESET, REQUEUE),
            (4, 2, RESET, REQUEUE),
            (2, 3, RESET, FAIL_JOB),
            (5, 1, FAIL, REQUEUE),
            (6, 3, FAIL, FAIL_JOB),
        ]
        for builder_count, job_count, builder, job in table:
            self.assertEqual(
                judgeLostJob(builder_count, job_count, t),
                Judgement(builder, job), (builder_count, job_count))
