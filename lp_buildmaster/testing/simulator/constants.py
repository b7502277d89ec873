"""What the simulated builders say about themselves, and their limits.

Imports nothing of the simulator's.
"""

PROTOCOL_VERSION = "1.0"
#: What status() says as builder_version.
BUILDER_VERSION = "206+simulated"

#: The build types info() lists: binarypackage makes Debian packages,
#: translation-templates a tarball of templates, the others one tarball.
BUILD_TYPES = ("binarypackage", "sourcepackagerecipe",
               "translation-templates", "livefs", "snap", "oci", "charm",
               "ci")

#: The outcomes a build can end in by itself (ABORTED needs an abort()).
OUTCOMES = ("OK", "PACKAGEFAIL", "DEPFAIL", "CHROOTFAIL", "GIVENBACK",
            "BUILDERFAIL")

#: The args a binarypackage build() needs; without them (or without a .dsc
#: in the filemap) the real daemon faults and stays BUILDING for ever.
BINARYPACKAGE_ARGS = ("series", "distribution", "suite", "ogrecomponent")

IDLE = "BuilderStatus.IDLE"
BUILDING = "BuilderStatus.BUILDING"
WAITING = "BuilderStatus.WAITING"
ABORTING = "BuilderStatus.ABORTING"

#: Largest logtail status() sends, as the real daemon.
LOGTAIL_SIZE = 2048
#: Bytes generated per write when streaming a log.
CHUNK_SIZE = 64 * 1024
#: Largest file ensurepresent() downloads into memory.
MAX_FETCH_SIZE = 2 * 1024 ** 3

FAULT_NOT_FOUND = 8001
FAULT_ERROR = 8002
