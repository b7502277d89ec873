"""The world the seed assumes, loaded idempotently.

Distribution ubuntu with warty (CURRENT) and hoary (DEVELOPMENT), each with
i386 on processor x86 (hoary also has amd64); source pmount 0.1-1 with a
real .dsc and tarball in the librarian (aliases 1 and 2) and a few more
sources; builders bob (busy with Build 8 / BuildQueue 1) and frog (manual);
builds 1 to 10, of which 8 is BUILDING with BuildQueue 1 and 10 is
NEEDSBUILD with BuildQueue 2.

Synchronous, on a psycopg2 connection: it runs from the admin command, at
start-up of the demo, and to build the tests' template database.
"""

import gzip
import hashlib
import io
import tarfile
import textwrap

from lp_buildmaster.enums import (
    ArchivePurpose, BuildStatus, DistroReleaseStatus, PackagePublishingPocket,
    PackagePublishingStatus, SourcePackageUrgency)
from lp_buildmaster.librarian.storage import ContentStore

# A fixed time, so the sample files are byte-for-byte reproducible.
_MTIME = 1104566400  # 2005-01-01

SOURCES = [
    # name, version, component, urgency, maintainer
    ("pmount", "0.1-1", "main", SourcePackageUrgency.LOW,
     "Mark Shuttleworth <mark@example.com>"),
    ("alsa-utils", "1.0.9a-4", "main", SourcePackageUrgency.MEDIUM,
     "Daniel Silverstone <daniel.silverstone@example.com>"),
    ("mozilla-firefox", "0.9", "main", SourcePackageUrgency.HIGH,
     "Mark Shuttleworth <mark@example.com>"),
    ("cnews", "cr.g7-37", "universe", SourcePackageUrgency.LOW,
     "Foo Bar <foo.bar@example.com>"),
    ("libstdc++", "b8p", "main", SourcePackageUrgency.LOW,
     "Steve Alexander <steve.alexander@example.com>"),
]

# (id, source index, series, arch, pocket, state, builder, dependencies)
BUILDS = [
    (1, 0, "hoary", "i386", "RELEASE", "FULLYBUILT", "bob", None),
    (2, 1, "hoary", "i386", "RELEASE", "FULLYBUILT", "bob", None),
    (3, 2, "hoary", "i386", "RELEASE", "FAILEDTOBUILD", "bob", None),
    (4, 3, "hoary", "i386", "RELEASE", "MANUALDEPWAIT", "bob",
     "libc6 (>= 2.3.5)"),
    (5, 4, "hoary", "i386", "RELEASE", "CHROOTWAIT", "bob", None),
    (6, 0, "warty", "i386", "SECURITY", "FULLYBUILT", "bob", None),
    (7, 0, "hoary", "i386", "RELEASE", "FULLYBUILT", "bob", None),
    (8, 2, "hoary", "i386", "RELEASE", "BUILDING", "bob", None),
    (9, 1, "warty", "i386", "UPDATES", "FULLYBUILT", "bob", None),
    (10, 3, "hoary", "i386", "RELEASE", "NEEDSBUILD", None, None),
]

# (id, build, builder, lastscore)
QUEUE = [
    (1, 8, "bob", 1000),
    (2, 10, None, 10),
]


def sourceFiles(name, version, maintainer):
    """The .dsc and native tarball of a tiny Debian source package.

    @return: C{[(filename, bytes, filetype)]}, the .dsc first.
    """
    upstream = version.split("-")[0]
    tree = {
        "debian/control": textwrap.dedent("""\
            Source: %(name)s
            Section: misc
            Priority: optional
            Maintainer: %(maintainer)s
            Build-Depends: debhelper (>= 4)
            Standards-Version: 3.6.1

            Package: %(name)s
            Architecture: any
            Depends: ${shlibs:Depends}
            Description: sample package %(name)s
             A sample package for lp-buildmaster.
            """) % locals(),
        "debian/changelog": textwrap.dedent("""\
            %(name)s (%(version)s) hoary; urgency=low

              * Sample upload.

             -- %(maintainer)s  Sat, 01 Jan 2005 08:00:00 +0000
            """) % locals(),
        "debian/rules": "#!/usr/bin/make -f\n%:\n\tdh $@\n",
        "README": "%s %s\n" % (name, upstream),
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, text in sorted(tree.items()):
            data = text.encode("utf-8")
            info = tarfile.TarInfo("%s-%s/%s" % (name, upstream, path))
            info.size = len(data)
            info.mtime = _MTIME
            info.mode = 0o755 if path.endswith("rules") else 0o644
            tar.addfile(info, io.BytesIO(data))
    tarball = gzip.compress(raw.getvalue(), mtime=_MTIME)
    tarname = "%s_%s.tar.gz" % (name, version)
    dsc = textwrap.dedent("""\
        Format: 1.0
        Source: %(name)s
        Binary: %(name)s
        Architecture: any
        Version: %(version)s
        Maintainer: %(maintainer)s
        Standards-Version: 3.6.1
        Build-Depends: debhelper (>= 4)
        Checksums-Sha1:
         %(sha1)s %(size)d %(tarname)s
        Checksums-Sha256:
         %(sha256)s %(size)d %(tarname)s
        Files:
         %(md5)s %(size)d %(tarname)s
        """) % dict(
        name=name, version=version, maintainer=maintainer, tarname=tarname,
        size=len(tarball), sha1=hashlib.sha1(tarball).hexdigest(),
        sha256=hashlib.sha256(tarball).hexdigest(),
        md5=hashlib.md5(tarball).hexdigest())
    return [
        ("%s_%s.dsc" % (name, version), dsc.encode("utf-8"), "dsc"),
        (tarname, tarball, "tarball"),
    ]


def allSourceFiles():
    for index, (name, version, _, _, maintainer) in enumerate(SOURCES):
        yield index, sourceFiles(name, version, maintainer)


def ensureSampleFiles(librarian_root):
    """Put the sample sources' bytes in the librarian's content store."""
    store = ContentStore(librarian_root)
    for _, files in allSourceFiles():
        for _, data, _ in files:
            sha1 = hashlib.sha1(data).hexdigest()
            if not store.exists(sha1):
                store.putBytes(data)


def loadSampleData(conn, librarian_root):
    """Load the sample data unless it is there already.

    @param conn: a psycopg2 connection to a migrated database.
    @return: True if it loaded, False if it was there already.
    """
    ensureSampleFiles(librarian_root)
    with conn:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM distribution WHERE name = 'ubuntu'")
            if cur.fetchone() is not None:
                return False
            _load(cur)
    return True


def _insert(cur, table, **values):
    columns = sorted(values)
    cur.execute(
        "INSERT INTO %s (%s) VALUES (%s) RETURNING id" % (
            table, ", ".join(columns), ", ".join(["%s"] * len(columns))),
        [getattr(values[c], "value", values[c]) for c in columns])
    return cur.fetchone()[0]


def _load(cur):
    x86 = _insert(cur, "processor", name="x86", title="Intel 386",
                  description="Intel 386 and its many derivatives.")
    amd64 = _insert(cur, "processor", name="amd64", title="AMD 64",
                    description="64-bit x86.")
    ubuntu = _insert(cur, "distribution", name="ubuntu", title="Ubuntu",
                     displayname="Ubuntu")
    series = {
        "warty": _insert(
            cur, "distrorelease", distribution=ubuntu, name="warty",
            title="The Warty Warthog Release", version="4.10",
            releasestatus=DistroReleaseStatus.CURRENT),
        "hoary": _insert(
            cur, "distrorelease", distribution=ubuntu, name="hoary",
            title="The Hoary Hedgehog Release", version="5.04",
            releasestatus=DistroReleaseStatus.DEVELOPMENT),
    }
    dars = {
        ("warty", "i386"): _insert(
            cur, "distroarchrelease", distrorelease=series["warty"],
            architecturetag="i386", processor=x86),
        ("hoary", "i386"): _insert(
            cur, "distroarchrelease", distrorelease=series["hoary"],
            architecturetag="i386", processor=x86),
        ("hoary", "amd64"): _insert(
            cur, "distroarchrelease", distrorelease=series["hoary"],
            architecturetag="amd64", processor=amd64),
    }
    primary = _insert(cur, "archive", distribution=ubuntu, name="primary",
                      purpose=ArchivePurpose.PRIMARY, owner="ubuntu")
    _insert(cur, "archive", distribution=ubuntu, name="ppa",
            purpose=ArchivePurpose.PPA, owner="cprov",
            require_virtualized=True, relative_build_score=-10)

    builders = {
        "bob": _insert(cur, "builder", name="bob", title="Bob The Builder",
                       url="http://127.0.0.1:8221/", processor=x86),
        "frog": _insert(cur, "builder", name="frog",
                        title="The Frog Builder",
                        url="http://127.0.0.1:8222/", processor=x86,
                        manual=True),
    }

    sprs = []
    for index, files in allSourceFiles():
        name, version, component, urgency, maintainer = SOURCES[index]
        spn = _insert(cur, "sourcepackagename", name=name)
        dsc_text = files[0][1].decode("utf-8")
        spr = _insert(cur, "sourcepackagerelease", sourcepackagename=spn,
                      version=version, component=component, urgency=urgency,
                      maintainer=maintainer, dsc=dsc_text)
        sprs.append(spr)
        for filename, data, filetype in files:
            content = _insert(
                cur, "libraryfilecontent",
                sha1=hashlib.sha1(data).hexdigest(),
                sha256=hashlib.sha256(data).hexdigest(), filesize=len(data))
            mimetype = ("text/plain" if filetype == "dsc"
                        else "application/gzip")
            alias = _insert(cur, "libraryfilealias", content=content,
                            filename=filename, mimetype=mimetype)
            _insert(cur, "sourcepackagereleasefile",
                    sourcepackagerelease=spr, libraryfile=alias,
                    filetype=filetype)
        for series_name, pocket in [("warty", "RELEASE"),
                                    ("warty", "SECURITY"),
                                    ("warty", "UPDATES"),
                                    ("hoary", "RELEASE")]:
            _insert(cur, "sourcepackagepublishinghistory",
                    sourcepackagerelease=spr,
                    distrorelease=series[series_name], archive=primary,
                    pocket=PackagePublishingPocket[pocket],
                    component=component,
                    status=PackagePublishingStatus.PUBLISHED)

    for (build_id, source, series_name, arch, pocket, state, builder,
         dependencies) in BUILDS:
        values = dict(
            id=build_id, distroarchrelease=dars[(series_name, arch)],
            sourcepackagerelease=sprs[source], archive=primary,
            pocket=PackagePublishingPocket[pocket],
            buildstate=BuildStatus[state],
            builder=builders[builder] if builder else None,
            dependencies=dependencies)
        if state not in ("NEEDSBUILD", "BUILDING"):
            cur.execute("SELECT timestamptz '2005-03-01 10:00+00'"
                        " + make_interval(hours => %s)", (build_id,))
            values["datebuilt"] = cur.fetchone()[0]
        _insert(cur, "build", **values)
    for queue_id, build_id, builder, score in QUEUE:
        cur.execute(
            "INSERT INTO buildqueue (id, build, builder, buildstart,"
            " lastscore, processor, virtualized)"
            " SELECT %s, b.id, %s, %s, %s, dar.processor, false"
            "   FROM build b JOIN distroarchrelease dar"
            "     ON dar.id = b.distroarchrelease WHERE b.id = %s",
            (queue_id, builders[builder] if builder else None,
             "2005-01-01 08:00+00" if builder else None, score, build_id))
    # Explicit ids above: move the sequences past them.
    for table in ("build", "buildqueue"):
        cur.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'),"
                    " (SELECT max(id) FROM " + table + "))", (table,))
