"""What the parts of the master are, as zope interfaces.

The scanner and the dispatcher only talk to these, so tests swap in mock
slaves and recording stores without patching.
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


class IStore(Interface):
    """The database: one connector component per table group."""

    builders = Attribute("An L{IBuilderStore}.")
    builds = Attribute("An L{IBuildStore}.")
    queue = Attribute("An L{IBuildQueueStore}.")
    library = Attribute("An L{ILibraryStore}.")
    distro = Attribute("An L{IDistroStore}.")
    sources = Attribute("An L{ISourceStore}.")

    def runInteraction(fn, *args, **kwargs):
        """Run C{fn(cursor, ...)} in one transaction."""


class IBuilderStore(Interface):
    """Builder rows."""


class IBuildStore(Interface):
    """Build rows."""


class IBuildQueueStore(Interface):
    """BuildQueue rows and candidate selection."""


class ILibraryStore(Interface):
    """libraryfilecontent and libraryfilealias rows."""


class IDistroStore(Interface):
    """Distributions, releases, arch releases, processors and chroots."""


class ISourceStore(Interface):
    """Source package releases, their files and publications."""
