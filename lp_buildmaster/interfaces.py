"""What the parts of the master are, as zope interfaces.

The scanner and the dispatcher only talk to these, so tests swap in mock
slaves and an in-memory store (L{lp_buildmaster.testing.fakestore})
without patching.

The second half is the store's contract: L{IStore} and one interface per
connector component, as Buildbot's database connector components are
typed. Every method returns a Deferred of plain data: frozen records of
L{lp_buildmaster.model.records} (or the component's own dataclasses),
ids, booleans, lists and dicts of them, never a live row or cursor. The
real components (L{lp_buildmaster.store}) and the fake declare and
implement them, and tests/test_store_contract*.py hold both to them.
This module is longer than about 400 lines because the contracts are
read together: splitting them would scatter one API across files.
"""

from zope.interface import Attribute, Interface


class ISlave(Interface):
    """A builder daemon (launchpad-buildd) as the master drives it.

    Every method returns a Deferred. Errors are subclasses of
    L{lp_buildmaster.slave.SlaveError} naming the builder; their
    C{transient} says whether a retry may succeed (timeouts, lost
    connections) or the builder itself is at fault.
    """

    name = Attribute("The builder's name, for messages.")
    url = Attribute("The builder's base URL, e.g. http://host:8221/.")

    def echo(*args):
        """The args back."""

    def info():
        """C{[protocol_version, arch_tag, [build types]]}."""

    def status():
        """A L{lp_buildmaster.slave.SlaveStatus} record, whichever reply
        shape the builder used; C{SlaveProtocolError} for an invalid one
        (C{UnsafeFilename} when its filemap names an unsafe file)."""

    def ensurepresent(sha1, url, username=None, password=None):
        """Ask the builder to fetch a file into its cache: C{(ok, info)}."""

    def build(cookie, build_type, chroot_sha1, filemap, args):
        """Start a build on an IDLE builder: C{(status, info)}, e.g.
        C{('BuilderStatus.BUILDING', cookie)}. A request the daemon would
        refuse or wedge on fails with C{InvalidBuildRequest}, unsent."""

    def abort():
        """Abort the running build."""

    def clean():
        """Clean a WAITING or ABORTED builder back to IDLE."""

    def getFile(name, sink):
        """Stream C{/filecache/<name>} (a sha1, or C{'buildlog'}) into
        C{sink.write}; fires with the number of bytes written.
        Implementations also take C{max_size=None}."""

    def fetchFile(sha1, destdir, filename):
        """Stream a file into C{destdir/filename} via a temporary file,
        verify its sha1 and rename it into place; fires with the path.
        On failure (C{UnsafeFilename}, C{SlaveChecksumMismatch},
        C{SlaveFileTooLarge}, ...) nothing is left in C{destdir}.
        Implementations also take C{max_size=None}."""


class IVirtualizedSlave(ISlave):
    """The client of a virtualized builder, whose VM is reset before it
    takes another job."""

    def resume(vm_host):
        """Reset the builder's VM (the configured reset command, with
        C{{vm_host}} (the builder's as the database says now) and C{{name}}
        substituted, killed after its timeout; none configured: nothing is
        run), then check it answers C{echo}. Fires once it does; fails with
        L{lp_buildmaster.vmreset.ResetFailed} or a C{SlaveError}."""


class ISlaveFactory(Interface):
    """Makes the client of a builder: what C{ISlave(builder)} asks."""

    def __call__(builder):
        """A new L{ISlave} for the L{IBuilder} C{builder}."""


class IBuilder(Interface):
    """A builder machine as the database knows it."""

    id = Attribute("Database id.")
    name = Attribute("Unique name.")
    url = Attribute("Base URL of its launchpad-buildd.")
    processor = Attribute("Id of its processor.")
    virtualized = Attribute("Whether it is a virtual machine reset per build.")
    manual = Attribute("Whether it takes jobs only by hand.")
    builderok = Attribute("False once it has been failed.")
    failnotes = Attribute("Why it was failed.")
    failure_count = Attribute("Consecutive failures.")
    vm_host = Attribute("Host whose reset command restores it, or None.")
    active = Attribute("False when disabled by an operator.")


class IBuild(Interface):
    """One source package built on one distroarchrelease in one pocket."""

    id = Attribute("Database id.")
    title = Attribute("Human title.")
    buildstate = Attribute("A L{lp_buildmaster.enums.BuildStatus}.")
    builder = Attribute("Id of the builder that built it, or None.")
    datebuilt = Attribute("When it finished.")
    buildduration = Attribute("How long it took, a timedelta.")
    buildlog = Attribute("Library file alias id of its gzipped log.")
    dependencies = Attribute("What a MANUALDEPWAIT build waits for.")
    pocket = Attribute("A L{lp_buildmaster.enums.PackagePublishingPocket}.")
    archive = Attribute("Id of its archive.")
    failure_count = Attribute("How many times it broke a builder.")


class IBuildQueue(Interface):
    """A build's place in the queue, and its builder while it runs."""

    id = Attribute("Database id.")
    build = Attribute("Id of its build.")
    builder = Attribute("Id of the builder running it, or None.")
    buildstart = Attribute("When it was dispatched, or None.")
    lastscore = Attribute("Its priority: higher goes first.")
    manual = Attribute("True when the score was set by hand.")
    logtail = Attribute("The last log text the builder sent.")


class ILibrarianClient(Interface):
    """The content-addressed file store.

    A file that fails or is abandoned midway never appears in it.
    """

    def addFile(name, size, file, contentType, restricted=False,
                expires=None):
        """Copy C{size} bytes from the file-like C{file}, without blocking
        the reactor for long; fires with the new alias id, or fails (and
        stores nothing) when C{file} does not hold exactly C{size} bytes."""

    def newFile():
        """A writer for content of unknown size: C{write(bytes)}
        (synchronous), then C{finish(name, contentType, restricted=False,
        expires=None)} firing with the new alias id, or C{abort()}."""

    def getFileByAlias(aliasid):
        """Fires with an open, readable binary file of the alias's content;
        fails with C{AliasNotFound} for an unknown alias."""

    def getURLForAlias(aliasid, token=False):
        """Fires with the http_url C{<base_url>/<id>/<filename>}; with
        C{token}, plus an expiring token that opens a restricted file."""

    def urlsFor(aliases):
        """Fires with C{{alias id: http_url}} for the
        L{lp_buildmaster.model.records.LibraryFileAlias} records
        C{aliases}, a restricted one's with a token (what a builder is
        sent to fetch)."""


class IBuildFarmJobBehaviour(Interface):
    """What a job type does on the farm, adapted from an L{IBuild}:
    C{IBuildFarmJobBehaviour(build)}.

    The dispatcher and the collector only talk to this, so that adding a
    job type is registering one adapter (L{lp_buildmaster.components}),
    never a test of a build's type. Each job type launchpad-buildd knows
    (C{binarypackage}, C{translation-templates}, ...) has one.
    """

    build = Attribute("The L{IBuild} it was adapted from.")
    build_type = Attribute(
        "launchpad-buildd's name of the job type: the build_type argument "
        "of build(), one of the names info() lists.")
    request_options = Attribute(
        "C{{name: required}}: the options a request of the type takes "
        "(its class answers C{checkRequest(options)}, raising a one-line "
        "L{lp_buildmaster.refusals.Refused}, and C{request(store, dar, "
        "spr, archive, pocket, options)}, firing with the new build's id: "
        "requesting a build asks the class, as no build exists yet).")

    def composeBuildRequest(job, dispatcher):
        """Fires with the build() request of C{job} (an
        L{lp_buildmaster.behaviours.BuildRequest}: cookie, build type,
        chroot sha1, filemap, args, and the files to ensurepresent first).

        @param dispatcher: gives C{store}, C{librarian} (an
            L{ILibrarianClient}), C{archive_url} and C{build_url}.
        @raise lp_buildmaster.slave.InvalidBuildRequest: (in the Deferred)
            the job cannot be sent as it is (no chroot, no .dsc, ...).
        """

    def verifySuccessfulBuild(filemap, builder_name):
        """The files of an OK build to fetch into the upload area:
        C{{filename: sha1}}, taken from the C{filemap} the builder reported
        (the files of its type; others are not fetched).

        @raise lp_buildmaster.slave.SlaveProtocolError: the builder
            reported what no build of the type sends.
        """

    def getUploadDirLeaf(cookie, now):
        """The name of the upload's leaf in the upload area for the build
        cookie C{cookie}, grabbed at C{now} (POSIX seconds)."""

    def readUpload(leafdir):
        """Check the files of a grabbed upload (blocking: run in a thread).

        @return: an L{lp_buildmaster.behaviours.VerifiedUpload}: the files
            to store in the librarian and the records to make.
        @raise lp_buildmaster.upload.UploadRejected: naming the first
            problem (the build becomes FAILEDTOUPLOAD).
        """


# -- The store ------------------------------------------------------------


class IStore(Interface):
    """The database: one connector component per table group.

    The real store also runs SQL (C{runQuery}, C{runOperation},
    C{runInteraction}) for its components and a few read-only pages; that
    is not part of the contract, and code that uses it runs on
    PostgreSQL only.
    """

    builders = Attribute("An L{IBuilderStore}.")
    builds = Attribute("An L{IBuildStore}.")
    queue = Attribute("An L{IBuildQueueStore}.")
    library = Attribute("An L{ILibraryStore}.")
    distro = Attribute("An L{IDistroStore}.")
    sources = Attribute("An L{ISourceStore}.")
    jobs = Attribute("An L{IJobStore}.")
    binaries = Attribute("An L{IBinaryStore}.")
    dispatch = Attribute("An L{IDispatchStore}.")
    world = Attribute("An L{IWorldStore}.")
    masters = Attribute("An L{IMasterStore}.")
    jobtypes = Attribute("An L{IJobTypeStore}.")
    scans = Attribute("An L{IScanTimeStore}.")
    statements = Attribute("Statements sent so far (benchmarks, metrics).")

    def ping():
        """Fires True when the database answers, False when not; never
        fails."""

    def close():
        """Release the connections."""


class IBuilderStore(Interface):
    """Builder rows."""

    def get(builder_id):
        """Fires with the L{Builder} of that id, or None."""

    def getByName(name):
        """Fires with the L{Builder} called C{name}, or None."""

    def all(processor=None):
        """Fires with every L{Builder} (of processor id C{processor}), by
        name."""

    def add(name, url, processor, title="", virtualized=False, manual=False,
            vm_host=None):
        """Create a builder (active, ok, clean, no failures); fires with
        its id, or fails with C{DuplicateName}."""

    def update(builder_id, **values):
        """Set columns (url, title, virtualized, manual, active, builderok,
        failnotes, failure_count, vm_host, clean, processor); any other
        raises ValueError at once. Failnotes are bounded text."""

    def failBuilder(builder_id, reason):
        """Not ok any more, with C{reason} as its failnotes."""


class IBuildStore(Interface):
    """Build rows, read with their archive, series and source."""

    def get(build_id):
        """Fires with the L{Build} of that id, or None."""

    def getMany(build_ids):
        """Fires with C{{id: Build}} of those that exist."""

    def list(state=None, limit=100):
        """Fires with L{Build}s newest first (only those in C{state})."""

    def update(build_id, **values):
        """Set columns (buildstate, builder, date_started, datebuilt,
        buildduration, buildlog, upload_log, dependencies, failure_count,
        pocket); any other raises ValueError at once."""

    def create(distroarchrelease, sourcepackagerelease, archive, pocket,
               buildstate=None):
        """A new build (NEEDSBUILD by default), not queued; fires with its
        id."""

    def request(distroarchrelease, sourcepackagerelease, archive, pocket,
                job_type="binarypackage"):
        """A new NEEDSBUILD build of C{job_type} (one with no fields of
        its own) queued with its automatic score; fires with its id, or
        fails with C{DuplicateBuild} when one of that type, source,
        architecture, archive and pocket is pending or building."""

    def retry(build_id, from_states):
        """Make a build in one of C{from_states} NEEDSBUILD as if new and
        queue it with its automatic score; fires with the new queue
        entry's id, or None when it was in no such state."""

    def transition(build_id, from_state, to_state, dequeue=False):
        """Move a build from C{from_state} to C{to_state} (dropping its
        queue entry with C{dequeue}); fires with whether it was in
        C{from_state}."""

    def dispatchContext(build_id):
        """Fires with None for an unknown build, else the dict
        C{buildmaster-admin why} explains: build, queue, builders, busy,
        chroot, published, pending, mean_duration, now."""


class IBuildQueueStore(Interface):
    """BuildQueue rows: the jobs waiting or running, and their scores."""

    def get(buildqueue_id):
        """Fires with the L{BuildQueue} of that id, or None."""

    def getByBuild(build_id):
        """Fires with the L{BuildQueue} of a build, or None."""

    def getByBuilder(builder_id):
        """Fires with the L{BuildQueue} a builder holds, or None."""

    def enqueue(build_id, score=0):
        """Queue a build with C{score}; fires with the entry's id (KeyError
        for an unknown build)."""

    def enqueueBuild(build_id):
        """Queue a build with its automatic score; fires with the entry's
        id."""

    def pending(processor=None):
        """Fires with the L{BuildQueue}s waiting for a builder (of
        processor id C{processor}) in dispatch order: score descending,
        then id."""

    def all():
        """Fires with every L{BuildQueue}: the running ones by builder,
        then the waiting ones in dispatch order."""

    def rescore(buildqueue_id, score):
        """Set a score by hand (kept by automatic rescoring); fires with
        whether the entry exists."""

    def automatic(buildqueue_id):
        """Back to automatic scoring; fires with the new score, or None
        when the entry is gone or running."""

    def rescoreAll():
        """Recompute the waiting entries not scored by hand; fires with
        C{{build_id: score}} of those that changed."""

    def rescoreBuild(build_id):
        """L{rescoreAll} for one build's entry."""


class ILibraryStore(Interface):
    """libraryfilecontent and libraryfilealias rows."""

    def getAlias(alias_id):
        """Fires with the L{LibraryFileAlias}, or None."""

    def getAliases(alias_ids):
        """Fires with C{{id: LibraryFileAlias}} of those that exist."""

    def addAlias(sha1, sha256, size, filename, mimetype, restricted=False,
                 expires=None):
        """Record content (once per sha1) and a new alias of it; fires
        with the alias id."""


class IDistroStore(Interface):
    """Distributions, releases, arch releases, processors and chroots."""

    def getProcessor(name_or_id):
        """Fires with the L{Processor} of that id (int) or name, or None."""

    def processors():
        """Fires with every L{Processor}, by name."""

    def getDistribution(name):
        """Fires with the L{Distribution}, or None."""

    def getDistroRelease(distribution, name):
        """Fires with the L{DistroRelease} of those names, or None."""

    def getDistroArchRelease(distribution, series=None, arch=None):
        """Fires with the L{DistroArchRelease} of id C{distribution}, or of
        the distribution, series and architecture tag named, or None."""

    def distroArchReleases():
        """Fires with every L{DistroArchRelease}, by names."""

    def getChroot(distroarchrelease, pocket):
        """Fires with the L{PocketChroot}, or None."""

    def chroots(distroarchrelease):
        """Fires with the L{PocketChroot}s of an architecture, by pocket."""

    def setChroot(distroarchrelease, pocket, alias):
        """Point that chroot at library alias C{alias}."""

    def getArchive(distribution, name):
        """Fires with the L{Archive} of those names, or None."""


class ISourceStore(Interface):
    """Source package releases, their files and publications."""

    def get(spr_id):
        """Fires with the L{SourcePackageRelease}, or None."""

    def files(spr_id):
        """Fires with C{[(alias_id, filetype)]}, the .dsc first."""

    def isPublished(spr_id, distrorelease, archive):
        """Fires with whether the source is live (pending or published) in
        that series and archive."""

    def isPublishedInPocket(spr_id, distrorelease, archive, pocket):
        """L{isPublished} in one pocket."""

    def getByNameVersion(name, version):
        """Fires with the L{SourcePackageRelease}, or None."""

    def add(name, version, files, distrorelease, archive, pocket,
            component="main", section="misc", urgency=None, maintainer="",
            architecturehintlist="any", dsc="", changed_by=""):
        """A new source with its files, published in one pocket; fires with
        its id, or fails with C{DuplicateSource}."""


class IJobStore(Interface):
    """What a scan reads and writes: builders with their jobs, and jobs
    changing state. Each method is one transaction; transitions are
    guarded by the state they expect and say False when it was gone."""

    def allVitals(previous=None):
        """Fires with C{{name: BuilderVitals}} of every builder, reusing
        those of C{previous} whose row did not change."""

    def leasedVitals(owner, wanted, previous=None, now=None):
        """Take the builders of C{wanted} that are free or held by a dead
        master, for C{owner}; fires with a L{LeasedVitals}."""

    def vitals(name):
        """Fires with the L{BuilderVitals} of one builder, or None."""

    def setLogtails(logtails):
        """Store C{{queue_id: text}}."""

    def finishJob(queue_id, build_id, builder_id, state, datebuilt,
                  buildlog=None, dependencies=None, success=False):
        """Record a collected build and free its builder; fires False when
        the build was no longer active on that builder."""

    def releaseJob(queue_id, builder_id, state=None, givenback=False,
                   job_failed=False, builder_failed=False, failnotes=None,
                   buildlog=None, build_failnotes=None):
        """Take a job off its builder (NEEDSBUILD requeues, a terminal
        state dequeues), counting failures; fires False when the job was
        not on that builder any more."""

    def countAndAct(builder_id, judge, queue_id=None):
        """Count one failure of a builder and its job, judge the counts
        with C{judge(builder_count, job_count)} (a L{FailureAction}) and
        act on it; fires with C{(builder_count, job_count, action)}, or
        None when the job was no longer on that builder."""

    def countFailures(builder_id, build_id=None):
        """One more failure of a builder (and build); fires with
        C{(builder_count, build_count)}."""

    def recordUpload(build_id, stored, binaries=(), changes=None):
        """An accepted upload's files and binaries recorded and the build
        FULLYBUILT; fails with C{NotAwaitingUpload} unless UPLOADING."""

    def markFailedToUpload(build_id, failnotes=None):
        """FAILEDTOUPLOAD if still awaiting its upload; fires with whether
        it was."""

    def release(owner, names):
        """Give up the builders C{names} that C{owner} holds."""


class IDispatchStore(Interface):
    """Candidate selection and the two transactions of a dispatch."""

    def reserve(builder_id, processor, virtualized, queue_id=None):
        """Reserve the best runnable candidate (or entry C{queue_id}) for a
        builder: score descending then id, archive enabled, pocket allowed
        by the series' status, chroot present; an unpublished candidate
        becomes SUPERSEDED on the way. Fires with a L{Reservation}, or
        None when nothing can go."""

    def start(queue_id, builder_id, when):
        """The builder took the job: BUILDING from C{when}; fires False
        when the reservation is gone."""

    def release(queue_id, builder_id):
        """Undo a reservation that did not start."""

    def refuse(queue_id, builder_id, failnotes):
        """A job that can never be sent: FAILEDTOBUILD and dequeued; fires
        with whether the reservation was there."""

    def context(build_id, sourcepackagerelease):
        """Fires with the L{DispatchContext} of a build: chroot alias,
        arch-indep flag and source file aliases."""


class IBinaryStore(Interface):
    """Binary packages produced by uploads, and builds waiting for some."""

    def add(build_id, binaries):
        """Record L{BinaryPackage}s of a build; fires with their number."""

    def getByBuild(build_id):
        """Fires with the L{PublishedBinary}s of a build."""

    def depWaiting():
        """Fires with every MANUALDEPWAIT build as L{DepWaitingBuild}s, by
        id."""

    def available(series_archives, names):
        """Fires with the L{PublishedBinary}s called one of C{names} in one
        of the C{(distrorelease, archive)} pairs."""


class IWorldStore(Interface):
    """The world's definitions as the admin commands edit them, and a
    build's archive context."""

    def addProcessor(name, title, description=""):
        """Fires with the new id (C{WorldError} for a duplicate)."""

    def processorRows():
        """Fires with a dict per processor."""

    def updateProcessor(processor_id, **values):
        """Set columns of one processor."""

    def addDistribution(name, title, displayname):
        """Fires with the new id."""

    def distributionRows():
        """Fires with a dict per distribution."""

    def updateDistribution(distribution_id, **values):
        """Set columns of one distribution."""

    def addSeries(distribution, name, title, version, status, parent=None):
        """Fires with the new id."""

    def seriesRows(distribution=None, series_id=None):
        """Fires with a dict per series."""

    def updateSeries(series_id, **values):
        """Set columns of one series."""

    def addArch(series_id, tag, processor_id, official=True):
        """Fires with the new id."""

    def archRows(distribution=None, series=None, arch_id=None):
        """Fires with a dict per architecture."""

    def updateArch(arch_id, **values):
        """Set columns of one architecture."""

    def addArchive(distribution, name, purpose, **values):
        """Fires with the new id."""

    def archiveRows(distribution=None, archive_id=None):
        """Fires with a dict per archive."""

    def updateArchive(archive_id, **values):
        """Set columns of one archive."""

    def primaryArchive(distribution_id):
        """Fires with the id of the distribution's primary archive, or
        None."""

    def setDependency(archive_id, dependency_id, pocket, component):
        """Add or replace an archive dependency."""

    def removeDependency(archive_id, dependency_id):
        """Fires with whether there was one."""

    def dependencyRows(archive_id=None):
        """Fires with a dict per archive dependency."""

    def sourcesContext(build, default_url):
        """Fires with C{(archive, primary, dependencies,
        primary_component)} for a build's sources.list."""


class IJobTypeStore(Interface):
    """The fields of job types other than a binary package build."""

    def translationTemplates(build_id):
        """Fires with the branch URL of a translation-templates build, or
        None."""

    def requestTranslationTemplates(distroarchrelease, sourcepackagerelease,
                                    archive, pocket, branch_url):
        """A new NEEDSBUILD translation-templates build of C{branch_url},
        queued with its automatic score; fires with its id, or fails with
        C{DuplicateBuild} when one of that source, architecture, archive
        and pocket is pending or building."""


class IScanTimeStore(Interface):
    """When masters last scanned their builders."""

    def markScanned(times):
        """Record C{{builder id: datetime}} in one statement; a time older
        than the one recorded (another master's, later) is left alone."""


class IMasterStore(Interface):
    """The masters sharing the database, and their heartbeats."""

    def heartbeat(name, lifetime, now=None, web_url=None,
                  librarian_url=None):
        """C{name} is alive C{lifetime} more seconds; fires with every
        master's L{MasterInfo}, by name."""

    def all():
        """Fires with every master's L{MasterInfo} with its builder
        count."""

    def leave(name):
        """A master stopping: its builders released, its row gone."""


class IAccountStore(Interface):
    """Accounts, API tokens, sessions and the audit log."""

    def add(name, role, password_hash=None):
        """Fires with the new id (C{DuplicateAccount} for a taken name)."""

    def getByName(name):
        """Fires with the L{Account}, or None."""

    def passwordHash(name):
        """Fires with the stored hash, or None."""

    def update(account_id, role=None, password_hash=None):
        """Change the role and/or the password hash."""

    def all():
        """Fires with a dict per account, by name."""

    def createToken(account_id, description=""):
        """Fires with C{(id, secret)}; only the secret's hash is kept."""

    def revokeToken(token_id):
        """Fires with whether a live token was revoked."""

    def tokens():
        """Fires with a dict per token."""

    def byToken(secret):
        """Fires with the L{Account} of a live token, or None."""

    def createSession(account_id, lifetime):
        """Fires with C{(cookie secret, csrf token)}."""

    def bySession(secret):
        """Fires with the live session's account and CSRF token, or None."""

    def endSession(secret):
        """End a session."""

    def record(actor, origin, action, build=None, builder=None, detail=""):
        """Append an audit log entry."""

    def audit(build=None, builder=None, limit=50, before=None):
        """Fires with L{AuditEntry}s newest first."""


class IViewStore(Interface):
    """Read-only joins for the dashboard, the API and the metrics."""

    def build(build_id):
        """Fires with the L{BuildView} of a build, or None."""

    def builds(state=None, limit=50, finished=False, offset=0,
               processor=None, distribution=None, series=None,
               archive=None, source=None, builder=None):
        """Fires with L{BuildView}s, newest first."""

    def queue():
        """Fires with the waiting L{BuildView}s in dispatch order."""

    def builders(name=None):
        """Fires with L{BuilderView}s by name."""

    def averageDurations(sample=20):
        """Fires with C{{processor id: timedelta}}."""

    def builderSummaries():
        """Fires with L{BuilderSummary}s of every builder."""

    def masters():
        """Fires with the L{MasterInfo}s."""

    def queueDepths():
        """Fires with C{{processor name: waiting jobs}}."""

    def binaries(build_id):
        """Fires with the L{LogFile}s (library files) a build uploaded, by
        name."""


#: Each component of the store and the interface it provides.
STORE_COMPONENTS = {
    "builders": IBuilderStore,
    "builds": IBuildStore,
    "queue": IBuildQueueStore,
    "library": ILibraryStore,
    "distro": IDistroStore,
    "sources": ISourceStore,
    "jobs": IJobStore,
    "binaries": IBinaryStore,
    "dispatch": IDispatchStore,
    "world": IWorldStore,
    "masters": IMasterStore,
    "jobtypes": IJobTypeStore,
    "scans": IScanTimeStore,
}
