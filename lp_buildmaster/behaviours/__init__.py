"""What each job type does on the farm: one L{IBuildFarmJobBehaviour}
adapter per job type.

- C{base.py}: the request and upload records, and what every job type
  shares (the upload leaf's name, the chroot and the archives a builder
  is sent).
- C{binarypackage.py}: C{binarypackage}, a source package built into
  .debs (the seed's job).
- C{translationtemplates.py}: C{translation-templates}, the translation
  templates of a branch, as one tarball.

The dispatcher and the collector get a build's behaviour with
C{IBuildFarmJobBehaviour(build)}; the adapters are registered in
L{lp_buildmaster.components}, by job type; requesting a build asks the
class of its type (C{request_options}, C{checkRequest}, C{request}),
through L{lp_buildmaster.operations}. A behaviour may import the model,
the store's records, the slave's errors, the upload checks and
L{lp_buildmaster.refusals} (a request's checks);
nothing here imports the dispatcher, the scanner or the service.
"""

from lp_buildmaster.behaviours.base import (
    BuildFarmJobBehaviourBase, BuildRequest, StoredFile, VerifiedUpload)

__all__ = ["BuildFarmJobBehaviourBase", "BuildRequest", "StoredFile",
           "VerifiedUpload"]
