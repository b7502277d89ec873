"""BuilderGroup: the seed's logic for finding out what builders are doing.

It rescues builders that work on jobs the database does not know
(L{BuilderGroup.rescueBuilderIfLost}), finds an idle builder
(L{BuilderGroup.firstAvailable}) and collects what a builder reports
about its job (L{BuilderGroup.updateBuild}) following the state table of
DESIGN.md. Every method returns a Deferred; every state change is one
transaction in L{lp_buildmaster.store.jobs}.

What it does with a failure once judged is L{FailureRecovery}
(L{lp_buildmaster.recovery}); the handles of builders and jobs it works
on, L{BuilderHandle} and L{Job}, are in L{lp_buildmaster.handles} and
importable from here too.

Log lines go to a stdlib C{logging.Logger}, as in the seed; the service
forwards them to twisted.logger.

Imports: handles, recovery, the model, the store's components, the slave
client's errors; nothing above (the scanner and the master call in).
"""

import dataclasses

from twisted.internet import defer

from lp_buildmaster import metrics
from lp_buildmaster.clock import orReactor
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.handles import (
    ABORTING_LOGTAIL, BUILDERFAIL_NOTES, BuilderHandle, Job, logEnded,
    utcnow)
from lp_buildmaster.interfaces import IBuildFarmJobBehaviour, ILibrarianClient
from lp_buildmaster.model import failure
from lp_buildmaster.model.policy import checkCollectionPolicy
from lp_buildmaster.model.records import parseCookie
from lp_buildmaster.recovery import FailureRecovery
from lp_buildmaster.registry import queryUtility
from lp_buildmaster.slave import SlaveError
from lp_buildmaster.store.jobs import FailureAction

__all__ = [
    "ABORTING_LOGTAIL", "BUILDERFAIL_NOTES", "BuilderGroup",
    "BuilderHandle", "Job", "logEnded", "utcnow",
]


def _getLibrarian(self):
    if self._librarian is not None:
        return self._librarian
    return queryUtility(ILibrarianClient)


def _setLibrarian(self, librarian):
    self._librarian = librarian


#: The C{librarian} attribute of L{BuilderGroup} and the dispatcher.
librarianOrUtility = property(
    _getLibrarian, _setLibrarian,
    doc="""The L{ILibrarianClient} given, else the one the master provides
    (C{getUtility(ILibrarianClient)}), else None.""")


class BuilderGroup(FailureRecovery):
    """A group of builders and the seed's logic over them.

    In production the group is every builder the master holds, of every
    processor (C{processor} None): the L{ScannerManager} makes its
    C{builders} the handles of the builders it scans, and each scan runs
    this logic. The seed's L{BuilddMaster} also makes one group per
    processor (C{processor} set).

    @ivar builders: the L{BuilderHandle}s of the group, in order.
    @ivar logtails: C{{queue_id: text}} waiting for L{flushLogtails}.
    """

    def __init__(self, logger, store, librarian=None, uploads=None,
                 notifier=None, clock=None, thresholds=failure.Thresholds(),
                 processor=None):
        """
        @param logger: a stdlib logger (the seed passes the root logger).
        @param uploads: what takes an OK build's files: C{grab(slave,
            filemap, cookie, naming)} firing with a leaf (named
            C{naming(cookie, now)}), and C{processLeaf(leaf)}
            firing when upload processing of that leaf is done (or None
            when uploads are processed outside the master).
        @param notifier: a L{lp_buildmaster.notify.BuildNotifier} or None.
        @param processor: the processor id of the group's builders; None
            for builders of every processor.
        """
        clock = orReactor(clock)
        self.logger = logger
        self.store = store
        self.librarian = librarian
        self.uploads = uploads
        self.notifier = notifier
        self.clock = clock
        self.thresholds = thresholds
        self.processor = processor
        self.builders = []
        self.logtails = {}
        #: C{{builder id: jobs given back in a row}}
        self.givebacks = {}

    librarian = librarianOrUtility

    # -- finding builders ---------------------------------------------------

    @defer.inlineCallbacks
    def failbuilder(self, builder, reason):
        """The seed's C{failbuilder}: the builder is not ok any more.

        Seed only (L{firstAvailable}): production fails a builder in the
        transaction that counts its failure (L{FailureRecovery})."""
        yield self.store.builders.failBuilder(builder.id, reason)
        self._failedInMemory(builder, FailureAction(failnotes=reason))

    @defer.inlineCallbacks
    def firstAvailable(self, virtualized=None):
        """The first builder that is ok, not manual, and IDLE.

        A builder whose slave raises is skipped and failed, with its error
        as failnotes. Seed only (L{BuilddMaster.dispatchByProcessor}):
        production asks no group for a builder; each idle builder's own
        scan asks for a job (L{Dispatcher.builderIdle}).

        @param virtualized: only builders with that virtualization.
        """
        for builder in self.builders:
            record = builder.record
            if not record.builderok or record.manual or not record.active:
                continue
            if virtualized is not None and record.virtualized != virtualized:
                continue
            try:
                status = yield builder.slave.status()
            except Exception as e:
                yield self.failbuilder(builder, str(e))
                continue
            if status.builder_status == "BuilderStatus.IDLE":
                return builder
        return None

    # -- lost builders ------------------------------------------------------

    @defer.inlineCallbacks
    def whyLost(self, builder, cookie):
        """Why a builder's cookie names no job of its own; None if it does.

        @return: the seed's reason text, or None.
        """
        ids = parseCookie(cookie)
        if ids is None:
            return "Malformed job identifier"
        build_id, queue_id = ids
        build = yield self.store.builds.get(build_id)
        if build is None:
            return "The object Build by the ID %d does not exist" % build_id
        queue = yield self.store.queue.get(queue_id)
        if queue is None:
            return ("The object BuildQueue by the ID %d does not exist"
                    % queue_id)
        if queue.build != build.id:
            return "Job build entry mismatch"
        if queue.builder is not None and queue.builder != builder.id:
            return "Job is assigned to another builder"
        return None

    @defer.inlineCallbacks
    def rescueBuilderIfLost(self, builder, status=None):
        """Reset a builder that works on a job the database does not know.

        WAITING and ABORTED slaves are cleaned, BUILDING ones aborted.

        @return: Deferred firing True when rescued, None when sane.
        """
        if status is None:
            status = yield builder.slave.status()
        if status.builder_status == "BuilderStatus.IDLE":
            return None
        reason = yield self.whyLost(builder, status.cookie)
        if reason is None:
            return None
        self.logger.warning("Builder '%s' rescued from '%s: %s'",
                            builder.name, status.cookie, reason)
        if status.builder_status in ("BuilderStatus.WAITING",
                                     "BuilderStatus.ABORTED"):
            yield builder.slave.clean()
        elif status.builder_status == "BuilderStatus.BUILDING":
            yield builder.slave.abort()
        metrics.FAILURES.labels("builder", "rescued").inc()
        return True

    # -- collecting ---------------------------------------------------------

    def getLogFromSlave(self, slave, job, librarian=None, state=None):
        """Fetch the build log, gzip it while streaming, store it.

        @return: Deferred firing with the librarian alias id.
        """
        from lp_buildmaster.librarian.buildlog import collectBuildLog
        return collectBuildLog(slave, job.build, librarian or self.librarian,
                               state=state)

    @defer.inlineCallbacks
    def updateBuild(self, job, librarian=None, status=None):
        """Act on what the builder says about C{job} (DESIGN.md's table).

        @param status: the builder's L{SlaveStatus} when the caller has
            asked already.
        @raise PocketPolicyError: a finished build that its series should
            never have built (the seed's AssertionError).
        """
        librarian = librarian or self.librarian
        if status is None:
            status = yield job.builder.slave.status()
        builder_status = status.builder_status
        if builder_status in ("BuilderStatus.BUILDING",
                              "BuilderStatus.ABORTING"):
            self.recordLogtail(job.queue.id, status)
        elif builder_status == "BuilderStatus.ABORTED":
            yield self.handleAborted(job)
        elif builder_status == "BuilderStatus.WAITING":
            handler = self._WAITING[status.build_status]
            yield handler(self, job, status, librarian)
        else:
            raise SlaveError(job.builder.name, "is IDLE but should be "
                             "building %s" % job.cookie)

    @defer.inlineCallbacks
    def handleAborted(self, job, *ignored):
        """Back to the queue; CANCELLED if a cancel was asked."""
        cancelled = job.build.buildstate == BuildStatus.CANCELLING
        state = BuildStatus.CANCELLED if cancelled else BuildStatus.NEEDSBUILD
        done = yield self.store.jobs.releaseJob(job.queue.id, job.builder.id,
                                                state)
        self.logtails.pop(job.queue.id, None)
        if cancelled and done:
            metrics.BUILDS_FINISHED.labels(state.name).inc()
            logEnded(job.build, state, job.builder.name)
        yield job.builder.slave.clean()

    @defer.inlineCallbacks
    def _finish(self, job, state, librarian, log_state=None,
                dependencies=None, success=False):
        """Collect the log and record C{state}, in that order."""
        checkCollectionPolicy(job.build)
        log = yield self.getLogFromSlave(job.builder.slave, job, librarian,
                                         state=log_state or state)
        # The builder finished a job: its run of give-backs ends.
        self.givebacks.pop(job.builder.id, None)
        done = yield self.store.jobs.finishJob(
            job.queue.id, job.build.id, job.builder.id, state,
            utcnow(self.clock), buildlog=log, dependencies=dependencies,
            success=success)
        self.logtails.pop(job.queue.id, None)
        if done:
            metrics.BUILDS_FINISHED.labels(state.name).inc()
            if state != BuildStatus.UPLOADING:
                # An UPLOADING build ends in upload processing, which
                # says FULLYBUILT or FAILEDTOUPLOAD.
                logEnded(job.build, state, job.builder.name,
                         "waiting for %s" % dependencies if dependencies
                         else None)
        return log if done else None

    @defer.inlineCallbacks
    def _notify(self, job, state, log, dependencies=None):
        """Tell people about a failure, without waiting on the mail."""
        if self.notifier is None:
            return False
        build = yield self.store.builds.get(job.build.id)
        log_url = None
        if log is not None and self.librarian is not None:
            log_url = yield self.librarian.getURLForAlias(log)
        return self.notifier.notify(
            dataclasses.replace(build, buildstate=state,
                                dependencies=dependencies),
            log_url=log_url)

    @defer.inlineCallbacks
    def handleOk(self, job, status, librarian):
        """Fetch the results into the upload area; upload processing then
        makes the build FULLYBUILT or FAILEDTOUPLOAD."""
        checkCollectionPolicy(job.build)
        leaf = None
        if self.uploads is not None:
            # The job's type says which files to fetch and names the leaf.
            behaviour = IBuildFarmJobBehaviour(job.build)
            files = behaviour.verifySuccessfulBuild(
                dict(status.filemap or {}), job.builder.name)
            leaf = yield self.uploads.grab(
                job.builder.slave, files, job.cookie,
                behaviour.getUploadDirLeaf)
        log = yield self._finish(job, BuildStatus.UPLOADING, librarian,
                                 log_state=BuildStatus.FULLYBUILT,
                                 success=True)
        yield job.builder.slave.clean()
        if log is None or leaf is None:
            return
        state = yield self.uploads.processLeaf(leaf)
        if state == BuildStatus.FAILEDTOUPLOAD:
            yield self._notify(job, state, log)

    @defer.inlineCallbacks
    def handlePackageFail(self, job, status, librarian):
        log = yield self._finish(job, BuildStatus.FAILEDTOBUILD, librarian,
                                 success=True)
        yield job.builder.slave.clean()
        if log is not None:
            yield self._notify(job, BuildStatus.FAILEDTOBUILD, log)

    @defer.inlineCallbacks
    def handleDepFail(self, job, status, librarian):
        self.logger.critical("***** %s is MANUALDEPWAIT *****",
                             job.builder.name)
        yield self._finish(job, BuildStatus.MANUALDEPWAIT, librarian,
                           dependencies=status.dependencies, success=True)
        yield job.builder.slave.clean()

    @defer.inlineCallbacks
    def handleChrootFail(self, job, status, librarian):
        self.logger.critical("***** %s is CHROOTWAIT *****",
                             job.builder.name)
        log = yield self._finish(job, BuildStatus.CHROOTWAIT, librarian)
        yield job.builder.slave.clean()
        if log is not None:
            yield self._notify(job, BuildStatus.CHROOTWAIT, log)

    @defer.inlineCallbacks
    def _giveBack(self, job, builder_failnotes=None):
        """Requeue the job, counting a failure against it and the builder;
        a job that failed too often is given up."""
        job_failures = job.build.failure_count + 1
        state = BuildStatus.NEEDSBUILD
        if job_failures >= self.thresholds.job:
            state = BuildStatus.FAILEDTOBUILD
            self.logger.warning(
                "%s failed %d times on builders; giving up",
                job.build.title, job_failures)
        done = yield self.store.jobs.releaseJob(
            job.queue.id, job.builder.id, state,
            job_failed=True, builder_failed=True,
            failnotes=builder_failnotes)
        self.logtails.pop(job.queue.id, None)
        if state != BuildStatus.NEEDSBUILD and done:
            metrics.BUILDS_FINISHED.labels(state.name).inc()
            logEnded(job.build, state, job.builder.name,
                     "failed %d times" % job_failures)
        yield job.builder.slave.clean()

    @defer.inlineCallbacks
    def handleBuilderFail(self, job, status, librarian):
        self.logger.warning("***** %s has failed *****", job.builder.name)
        metrics.FAILURES.labels("builder", "builderfail").inc()
        yield self._giveBack(job, builder_failnotes=BUILDERFAIL_NOTES)

    @defer.inlineCallbacks
    def handleGivenBack(self, job, status, librarian):
        """GIVENBACK counts against neither the job nor the builder (as
        Launchpad does), but a builder that gives back C{thresholds.builder}
        jobs in a row, collecting none, is failed: a broken builder cannot
        churn the queue."""
        self.logger.warning("***** %s is GIVENBACK by %s *****",
                            status.cookie, job.builder.name)
        builder_id = job.builder.id
        given = self.givebacks[builder_id] = self.givebacks.get(
            builder_id, 0) + 1
        failnotes = None
        if given >= self.thresholds.builder:
            failnotes = "gave back %d jobs in a row" % given
            self.logger.warning("Builder '%s' %s; failed", job.builder.name,
                                failnotes)
            del self.givebacks[builder_id]
        metrics.FAILURES.labels("job", "givenback").inc()
        yield self.store.jobs.releaseJob(
            job.queue.id, builder_id, BuildStatus.NEEDSBUILD, givenback=True,
            failnotes=failnotes)
        self.logtails.pop(job.queue.id, None)
        if failnotes is not None:
            self._failedInMemory(job.builder, FailureAction(
                failnotes=failnotes))
        yield job.builder.slave.clean()

    _WAITING = {
        "BuildStatus.OK": handleOk,
        "BuildStatus.PACKAGEFAIL": handlePackageFail,
        "BuildStatus.DEPFAIL": handleDepFail,
        "BuildStatus.CHROOTFAIL": handleChrootFail,
        "BuildStatus.BUILDERFAIL": handleBuilderFail,
        "BuildStatus.GIVENBACK": handleGivenBack,
        "BuildStatus.ABORTED": handleAborted,
    }

    def recordLogtail(self, queue_id, status):
        """Keep a BUILDING or ABORTING builder's log tail for the next
        L{flushLogtails}."""
        if status.builder_status == "BuilderStatus.ABORTING":
            self.logtails[queue_id] = ABORTING_LOGTAIL
        else:
            self.logtails[queue_id] = status.logtail or ""

    def flushLogtails(self):
        """Write every pending log tail in one statement."""
        logtails, self.logtails = self.logtails, {}
        return self.store.jobs.setLogtails(logtails)
