"""Uploads: a finished build's files, from its builder to the librarian.

- L{area}: the upload area's directories (grabbing, incoming, accepted,
  rejected, failed), grabbing a leaf from a builder, leaf locks and the
  retention of finished leaves;
- L{changes}: reading a leaf's C{.changes} and checking every file it
  lists (blocking: run in a thread), the binary packages of its .debs;
- L{processor}: L{UploadProcessor}, which turns incoming leaves into
  FULLYBUILT or FAILEDTOUPLOAD builds, postpones them while our own side
  fails and reconciles UPLOADING builds with the leaves;
- L{running}: L{BuildUploads}, the scanner's hand-over, and
  L{runProcessUpload}, C{buildmaster-admin process-upload};
- L{sweeper}: L{UploadSweeper}, the master's periodic processing.

Imports point down: sweeper, running -> processor -> changes -> area;
the package uses the store, the model, the slave's errors, L{failures}
and L{lp_buildmaster.periodic}, and nothing above it (scanner, master,
web, admin).
"""

from lp_buildmaster.upload.area import (
    ACCEPTED, AREA_DIRS, FAILED, MAX_BYTES, MAX_FILES, OUTCOME_STATES,
    RECORDING, REJECTED, RETENTION, STORED, UPLOADER_LOG, LeafLock,
    UnsafeUploadName, UploadArea, checkFilename, leafBuildId)
from lp_buildmaster.upload.changes import (
    BINARY_TYPES, HASHES, MAX_CHANGES_SIZE, Upload, UploadFile,
    UploadRejected, binaryPackages, readUpload)
from lp_buildmaster.upload.processor import (
    RETRY_FIRST, RETRY_MAX, UploaderLog, UploadFailed, UploadPostponed,
    UploadProcessor)
from lp_buildmaster.upload.running import BuildUploads, runProcessUpload
from lp_buildmaster.upload.sweeper import UploadSweeper

__all__ = [
    "ACCEPTED", "AREA_DIRS", "BINARY_TYPES", "BuildUploads", "FAILED",
    "HASHES", "LeafLock", "MAX_BYTES", "MAX_CHANGES_SIZE", "MAX_FILES",
    "OUTCOME_STATES", "RECORDING", "REJECTED", "RETENTION", "RETRY_FIRST",
    "RETRY_MAX", "STORED", "UPLOADER_LOG", "UnsafeUploadName", "Upload",
    "UploadArea", "UploadFailed", "UploadFile", "UploadPostponed",
    "UploadProcessor", "UploadRejected", "UploadSweeper", "UploaderLog", "binaryPackages",
    "checkFilename", "leafBuildId", "readUpload", "runProcessUpload",
]
