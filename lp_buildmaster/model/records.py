"""Immutable snapshots of database rows.

A scan or a dispatch works on these, never on live rows: the store reads
them in one query and the logic decides on them. Changing a record means
asking the store to change the row; C{dataclasses.replace} gives the
snapshot after the change.
"""

import dataclasses
import datetime
from typing import Optional

from zope.interface import implementer

from lp_buildmaster.enums import (
    ArchivePurpose,
    BuildStatus,
    DistroReleaseStatus,
    PackagePublishingPocket,
    PackagePublishingStatus,
    SourcePackageUrgency,
)
from lp_buildmaster.interfaces import IBuild, IBuilder, IBuildQueue

record = dataclasses.dataclass(frozen=True)

#: The job type of a build unless said otherwise (the seed's job): a source
#: package built into binary packages.
DEFAULT_JOB_TYPE = "binarypackage"


def fromRow(cls, row, **extra):
    """Build a record of C{cls} from a mapping holding at least its fields.

    Enumeration fields are converted from their database integers.
    """
    values = {}
    for field in dataclasses.fields(cls):
        if field.name in extra:
            values[field.name] = extra[field.name]
            continue
        if (field.name not in row
                and field.default is not dataclasses.MISSING):
            continue
        value = row[field.name]
        convert = _CONVERTERS.get(field.name)
        if convert is not None and value is not None:
            value = convert(value)
        values[field.name] = value
    return cls(**values)


_CONVERTERS = {
    "buildstate": BuildStatus,
    "pocket": PackagePublishingPocket,
    "releasestatus": DistroReleaseStatus,
    "status": PackagePublishingStatus,
    "purpose": ArchivePurpose,
    "archive_purpose": ArchivePurpose,
    "urgency": SourcePackageUrgency,
}


@record
class Processor:
    id: int
    name: str
    title: str


@record
class Distribution:
    id: int
    name: str
    title: str
    displayname: str


@record
class DistroRelease:
    id: int
    distribution: int
    name: str
    title: str
    version: str
    releasestatus: DistroReleaseStatus


@record
class DistroArchRelease:
    id: int
    distrorelease: int
    architecturetag: str
    processor: int
    distribution_name: str
    distrorelease_name: str
    distrorelease_title: str
    releasestatus: DistroReleaseStatus
    processor_name: str

    @property
    def title(self):
        """The seed's title, e.g. 'The Hoary Hedgehog Release for i386
        (x86)'."""
        return "%s for %s (%s)" % (
            self.distrorelease_title, self.architecturetag,
            self.processor_name)


@record
class Archive:
    id: int
    distribution: int
    name: str
    purpose: ArchivePurpose
    owner: str
    private: bool
    require_virtualized: bool
    enabled: bool
    relative_build_score: int


@record
class LibraryFileAlias:
    id: int
    content: int
    filename: str
    mimetype: str
    restricted: bool
    expires: Optional[datetime.datetime]
    sha1: str
    sha256: str
    filesize: int


@implementer(IBuilder)
@record
class Builder:
    id: int
    name: str
    title: str
    url: str
    processor: int
    virtualized: bool
    manual: bool
    active: bool
    builderok: bool
    failnotes: Optional[str]
    failure_count: int
    vm_host: Optional[str]
    clean: bool


@record
class SourcePackageRelease:
    id: int
    name: str
    version: str
    component: str
    section: str
    urgency: SourcePackageUrgency
    maintainer: str
    architecturehintlist: str
    changed_by: str = ""


@implementer(IBuild)
@record
class Build:
    """A build with the context every part of the master asks about."""

    id: int
    buildstate: BuildStatus
    builder: Optional[int]
    datecreated: datetime.datetime
    date_started: Optional[datetime.datetime]
    datebuilt: Optional[datetime.datetime]
    buildduration: Optional[datetime.timedelta]
    buildlog: Optional[int]
    upload_log: Optional[int]
    dependencies: Optional[str]
    pocket: PackagePublishingPocket
    failure_count: int
    failnotes: Optional[str]
    archive: int
    archive_name: str
    archive_purpose: ArchivePurpose
    archive_private: bool
    archive_require_virtualized: bool
    archive_enabled: bool
    distroarchrelease: int
    architecturetag: str
    processor: int
    processor_name: str
    distrorelease: int
    distrorelease_name: str
    releasestatus: DistroReleaseStatus
    distribution: int
    distribution_name: str
    sourcepackagerelease: int
    source_name: str
    source_version: str
    component: str
    urgency: SourcePackageUrgency
    maintainer: str
    architecturehintlist: str
    #: The name of its L{IBuildFarmJobBehaviour} (launchpad-buildd's build
    #: type): what the job is, e.g. C{binarypackage}.
    job_type: str = DEFAULT_JOB_TYPE
    #: The source's Changed-By ('' when unknown).
    changed_by: str = ""

    @property
    def title(self):
        kind = self.architecturetag
        if self.job_type != DEFAULT_JOB_TYPE:
            kind = "%s %s" % (kind, self.job_type)
        return "%s build of %s %s in %s %s %s" % (
            kind, self.source_name, self.source_version,
            self.distribution_name, self.distrorelease_name,
            self.pocket.name)

    @property
    def suite(self):
        """The archive suite, e.g. 'hoary' or 'hoary-security'."""
        if self.pocket == PackagePublishingPocket.RELEASE:
            return self.distrorelease_name
        return "%s-%s" % (self.distrorelease_name, self.pocket.name.lower())


@implementer(IBuildQueue)
@record
class BuildQueue:
    id: int
    build: int
    builder: Optional[int]
    buildstart: Optional[datetime.datetime]
    lastscore: int
    manual: bool
    logtail: Optional[str]
    processor: int
    virtualized: bool


@record
class PocketChroot:
    id: int
    distroarchrelease: int
    pocket: PackagePublishingPocket
    chroot: Optional[int]


def makeCookie(build_id, buildqueue_id):
    """The build cookie the seed uses: C{"<Build.id>-<BuildQueue.id>"}."""
    return "%d-%d" % (build_id, buildqueue_id)


def parseCookie(cookie):
    """C{(build_id, buildqueue_id)} from a cookie, or None if malformed."""
    if not isinstance(cookie, str):
        return None
    parts = cookie.split("-")
    if len(parts) != 2 or not all(p.isdigit() and len(p) < 10 for p in parts):
        return None
    return int(parts[0]), int(parts[1])
