"""Enumerations stored in the database, with the seed's titles.

Each item has an integer ``value`` (what the database holds), a ``name``
and a human ``title``; the seed prints ``buildstate.title`` and
``buildstate.name``.
"""

import enum


class DBEnum(enum.Enum):
    """An enumeration whose items carry a database value and a title."""

    def __new__(cls, value, title):
        item = object.__new__(cls)
        item._value_ = value
        item.title = title
        return item

    def __repr__(self):
        return "<Item %s (%d) %s>" % (self.name, self.value, self.title)

    @classmethod
    def byName(cls, name):
        """Look an item up by name, case-insensitively.

        @raise KeyError: naming the valid names.
        """
        try:
            return cls[name.upper()]
        except KeyError:
            raise KeyError(
                "%r is not a %s; choose one of %s"
                % (name, cls.__name__, ", ".join(cls.__members__))) from None


class BuildStatus(DBEnum):
    NEEDSBUILD = (0, "Needs building")
    FULLYBUILT = (1, "Successfully built")
    FAILEDTOBUILD = (2, "Failed to build")
    MANUALDEPWAIT = (3, "Dependency wait")
    CHROOTWAIT = (4, "Chroot problem")
    SUPERSEDED = (5, "Build for superseded Source")
    BUILDING = (6, "Currently building")
    FAILEDTOUPLOAD = (7, "Failed to upload")
    UPLOADING = (8, "Uploading build")
    CANCELLING = (9, "Cancelling build")
    CANCELLED = (10, "Cancelled build")


#: States in which a build is finished and will not run again by itself.
TERMINAL_BUILD_STATES = frozenset([
    BuildStatus.FULLYBUILT, BuildStatus.FAILEDTOBUILD,
    BuildStatus.MANUALDEPWAIT, BuildStatus.CHROOTWAIT,
    BuildStatus.SUPERSEDED, BuildStatus.FAILEDTOUPLOAD,
    BuildStatus.CANCELLED,
])


class PackagePublishingPocket(DBEnum):
    RELEASE = (0, "Release")
    SECURITY = (10, "Security")
    UPDATES = (20, "Updates")
    PROPOSED = (30, "Proposed")
    BACKPORTS = (40, "Backports")


class DistroReleaseStatus(DBEnum):
    EXPERIMENTAL = (1, "Experimental")
    DEVELOPMENT = (2, "Active Development")
    FROZEN = (3, "Pre-release Freeze")
    CURRENT = (4, "Current Stable Release")
    SUPPORTED = (5, "Supported")
    OBSOLETE = (6, "Obsolete")


#: A released series takes only post-release pockets.
RELEASED_STATUSES = frozenset([
    DistroReleaseStatus.CURRENT, DistroReleaseStatus.SUPPORTED,
    DistroReleaseStatus.OBSOLETE,
])


class PackagePublishingStatus(DBEnum):
    PENDING = (1, "Pending")
    PUBLISHED = (2, "Published")
    SUPERSEDED = (3, "Superseded")
    DELETED = (4, "Deleted")
    OBSOLETE = (5, "Obsolete")


#: Publications that keep a source buildable.
LIVE_PUBLISHING_STATUSES = frozenset([
    PackagePublishingStatus.PENDING, PackagePublishingStatus.PUBLISHED,
])


class ArchivePurpose(DBEnum):
    PRIMARY = (1, "Primary Archive")
    PPA = (2, "PPA Archive")
    PARTNER = (4, "Partner Archive")
    COPY = (6, "Copy Archive")


class SourcePackageUrgency(DBEnum):
    LOW = (1, "Low")
    MEDIUM = (2, "Medium")
    HIGH = (3, "High")
    EMERGENCY = (4, "Emergency")


class BuilderStatus(DBEnum):
    """What a builder reports through ``status()``."""

    IDLE = (0, "Idle")
    BUILDING = (1, "Building")
    WAITING = (2, "Waiting")
    ABORTING = (3, "Aborting")
    ABORTED = (4, "Aborted")
