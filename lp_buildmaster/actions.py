"""The actions that change the farm, one code path for the CLI, the JSON
API and the pages: the same checks, the same messages, and an audit entry
for each (who, what, when and from where), written in the same
transaction as the action (L{lp_buildmaster.store.bound}): an action is
never done without its entry, nor recorded without being done.

Each action needs a role: C{operator} steers builds and builders,
C{admin} also adds and removes builders; a C{viewer} may only read. The
checks themselves are L{lp_buildmaster.operations}'; the commands of
L{lp_buildmaster.admin} call these actions too.
"""

import functools
import types

from twisted.internet import defer

from lp_buildmaster import operations
from lp_buildmaster.model.names import builderNameProblem
from lp_buildmaster.model.records import DEFAULT_JOB_TYPE, record
from lp_buildmaster.store.accounts import ROLES, AccountStore
from lp_buildmaster.store.bound import inOneTransaction

#: An action refused for what was asked (a bad value, a wrong state): the
#: message says why. The CLI prints it; the API answers 400 (404 when the
#: message starts with "unknown").
Refused = operations.Refused


class Forbidden(Refused):
    """The actor's role does not allow the action (HTTP 403)."""


@record
class Actor:
    """Who acts: an account (or the shell user of the CLI), its role, and
    where the request came from (an address, or C{cli})."""
    name: str
    role: str
    origin: str


def allows(role, needed):
    return ROLES.index(role) >= ROLES.index(needed)


def _builderArgs(**values):
    defaults = dict(title=None, virtualized=False, manual=False,
                    vm_host=None)
    defaults.update(values)
    return types.SimpleNamespace(**defaults)


def _oneTransaction(method):
    """The action and its audit entry in one transaction."""
    @functools.wraps(method)
    def inTransaction(self, *args, **kwargs):
        return inOneTransaction(self.store, lambda bound: method(
            self if bound is self.store else Actions(bound, self.actor),
            *args, **kwargs))
    return inTransaction


class Actions:
    """The actions, done by C{actor} on C{store}."""

    def __init__(self, store, actor):
        self.store = store
        self.actor = actor
        self.accounts = getattr(store, "accounts", None) or \
            AccountStore(store)

    def _need(self, role, what):
        if not allows(self.actor.role, role):
            raise Forbidden("%s (%s) may not %s: it needs the %s role"
                            % (self.actor.name, self.actor.role, what, role))

    def _audit(self, action, build=None, builder=None, detail=""):
        return self.accounts.record(self.actor.name, self.actor.origin,
                                    action, build=build, builder=builder,
                                    detail=detail)

    # -- builds --

    @_oneTransaction
    @defer.inlineCallbacks
    def requestBuild(self, distribution, series, arch, source, version,
                     pocket="release", archive="primary", job_type=None,
                     **options):
        """Fires with the new build's id. C{job_type} defaults to a binary
        package build; C{options} are those of the job types
        (L{operations.requestOptionNames}: e.g. the C{branch} a
        translation-templates build needs), None when not given."""
        self._need("operator", "request builds")
        build_id = yield operations.requestBuild(
            self.store, types.SimpleNamespace(
                distribution=distribution, series=series, arch=arch,
                source=source, version=version, pocket=pocket,
                archive=archive, job_type=job_type, **options))
        detail = "%s %s %s %s %s (%s, %s)" % (
            source, version, distribution, series, arch, pocket, archive)
        if job_type not in (None, DEFAULT_JOB_TYPE):
            detail = "%s of %s" % (job_type, detail)
            given = [str(value) for _, value in sorted(options.items())
                     if value is not None]
            if given:
                detail = "%s from %s" % (detail, ", ".join(given))
        yield self._audit("build request", build=build_id, detail=detail)
        return build_id

    @_oneTransaction
    @defer.inlineCallbacks
    def retryBuild(self, build_id):
        self._need("operator", "retry builds")
        yield operations.retryBuild(self.store, build_id)
        yield self._audit("build retry", build=build_id)

    @_oneTransaction
    @defer.inlineCallbacks
    def cancelBuild(self, build_id):
        """Fires with the new L{BuildStatus}."""
        self._need("operator", "cancel builds")
        state = yield operations.cancelBuild(self.store, build_id)
        yield self._audit("build cancel", build=build_id, detail=state.name)
        return state

    @_oneTransaction
    @defer.inlineCallbacks
    def rescoreBuild(self, build_id, score):
        """C{score} an integer (kept by automatic rescoring) or None (back
        to automatic scoring). Fires with the score now set."""
        self._need("operator", "rescore builds")
        if score is None:
            build = yield operations.getBuild(self.store, build_id)
            queue = yield self.store.queue.getByBuild(build_id)
            score = None
            if queue is not None and queue.builder is None:
                score = yield self.store.queue.automatic(queue.id)
            if score is None:
                raise Refused("build %d is not waiting in the queue (it is "
                              "%s)" % (build_id, build.buildstate.name))
            yield self._audit("build rescore", build=build_id,
                              detail="automatic: %d" % score)
            return score
        if not operations.INT4_MIN <= score <= operations.INT4_MAX:
            raise Refused("score must be from %d to %d"
                          % (operations.INT4_MIN, operations.INT4_MAX))
        yield operations.rescoreBuild(self.store, build_id, score)
        yield self._audit("build rescore", build=build_id,
                          detail="manual: %d" % score)
        return score

    # -- builders --

    @_oneTransaction
    @defer.inlineCallbacks
    def addBuilder(self, name, url, processor, title=None, virtualized=False,
                   manual=False, vm_host=None):
        """Fires with the new builder's id."""
        self._need("admin", "add builders")
        problem = builderNameProblem(name)
        if problem:
            raise Refused(problem)
        operations.checkBuilderURL(url)
        builder_id = yield operations.addBuilder(self.store, _builderArgs(
            name=name, url=url, processor=processor, title=title,
            virtualized=virtualized, manual=manual, vm_host=vm_host))
        yield self._audit("builder add", builder=builder_id,
                          detail="%s %s" % (url, processor))
        return builder_id

    @_oneTransaction
    @defer.inlineCallbacks
    def setBuilder(self, name, enable=False, disable=None, manual=None):
        """C{enable}, or C{disable} with a reason; C{manual} True, False
        (automatic) or None. Fires with the builder's row (as C{builder
        list --json} gives it)."""
        self._need("operator", "change builders")
        if not (enable or disable is not None or manual is not None):
            raise Refused("say what to change: enable, disable (with a "
                          "reason), manual or automatic")
        if enable and disable is not None:
            raise Refused("a builder cannot be enabled and disabled at once")
        row = yield operations.setBuilder(self.store, types.SimpleNamespace(
            name=name, enable=enable, disable=disable, manual=manual is True,
            auto=manual is False))
        changes = []
        if enable:
            changes.append("enabled")
        if disable is not None:
            changes.append("disabled: %s" % disable.strip())
        if manual is not None:
            changes.append("manual" if manual else "automatic")
        builder = yield self.store.builders.getByName(name)
        yield self._audit("builder set", builder=builder.id,
                          detail=", ".join(changes))
        return row

    @_oneTransaction
    @defer.inlineCallbacks
    def removeBuilder(self, name):
        """Retire a builder: it takes no job and is no longer scanned, its
        builds keep naming it. Refused while it runs a job."""
        self._need("admin", "remove builders")
        builder = yield operations.getBuilder(self.store, name)
        if not builder.active:
            raise Refused("builder %s is retired already" % (name,))
        job = yield self.store.queue.getByBuilder(builder.id)
        if job is not None:
            build = yield self.store.builds.get(job.build)
            raise Refused(
                "builder %s is running build %d (%s); cancel it or wait "
                "before removing the builder"
                % (name, job.build, build.buildstate.name))
        yield self.store.builders.update(builder.id, active=False,
                                         manual=True)
        yield self._audit("builder remove", builder=builder.id)


def isNotFound(error):
    """Whether a L{Refused} says that something does not exist."""
    return str(error).startswith("unknown ")

