"""Build scores: which queued build a free builder takes first.

The dispatcher takes the pending job with the highest C{lastscore} (the
oldest first among equals). A score is computed when a build is queued
and again on an automatic rescore; a score an operator set by hand
(C{buildqueue.manual}) is kept by automatic rescoring.

The weights are steps far enough apart that each factor only reorders
builds the larger factors consider equal:

  - the pocket, in steps of 1000: a security fix first, then updates,
    the release pocket, proposed and backports;
  - the component, in steps of 200: main, restricted, universe,
    multiverse (and anything else, e.g. partner, as multiverse);
  - the source's urgency, in steps of 25 (low 25 ... emergency 100);
  - a private archive gets 1000, one pocket step: its owners pay for
    prompt builds, but a private archive's release build does not
    overtake the primary archive's security fixes;
  - a copy archive (a mass rebuild) gets -3000, below everything a
    person waits for;
  - the archive's own C{relative_build_score} is added as it is (the
    sample PPA has -10).
"""

from lp_buildmaster.enums import (
    ArchivePurpose, PackagePublishingPocket, SourcePackageUrgency)

POCKET_SCORES = {
    PackagePublishingPocket.SECURITY: 4000,
    PackagePublishingPocket.UPDATES: 3000,
    PackagePublishingPocket.RELEASE: 2000,
    PackagePublishingPocket.PROPOSED: 1000,
    PackagePublishingPocket.BACKPORTS: 0,
}

COMPONENT_SCORES = {
    "main": 600,
    "restricted": 400,
    "universe": 200,
    "multiverse": 0,
}

URGENCY_SCORES = {
    SourcePackageUrgency.LOW: 25,
    SourcePackageUrgency.MEDIUM: 50,
    SourcePackageUrgency.HIGH: 75,
    SourcePackageUrgency.EMERGENCY: 100,
}

PRIVATE_ARCHIVE_BONUS = 1000

PURPOSE_SCORES = {
    ArchivePurpose.COPY: -3000,
}


def scoreBuild(pocket, component, urgency, archive_purpose=None,
               archive_private=False, relative_build_score=0):
    """The automatic score of a build.

    @param pocket: a L{PackagePublishingPocket}.
    @param component: the source's component name, e.g. C{"universe"}.
    @param urgency: a L{SourcePackageUrgency} (or None, taken as low).
    @param archive_purpose: an L{ArchivePurpose}.
    @param relative_build_score: the archive's own adjustment.
    @return: an int; higher builds sooner.
    """
    score = POCKET_SCORES.get(pocket, 0)
    score += COMPONENT_SCORES.get(component, 0)
    score += URGENCY_SCORES.get(urgency, URGENCY_SCORES[
        SourcePackageUrgency.LOW])
    score += PURPOSE_SCORES.get(archive_purpose, 0)
    if archive_private:
        score += PRIVATE_ARCHIVE_BONUS
    return score + (relative_build_score or 0)


def rescored(current, manual, automatic):
    """The score a queue entry keeps after an automatic rescore: its own
    when set by hand, else the newly computed one."""
    return current if manual else automatic
