"""A builder and a job as a scan sees them, and the line a build's end logs.

Imports: the model's cookie; nothing above.
"""

import dataclasses
import datetime

from twisted.logger import Logger

from lp_buildmaster.model.records import makeCookie

#: One line for every build that ends on a builder, with its final state
#: (apart from the seed's lines, which name the builder).
endings = Logger(namespace="lp_buildmaster.builds")


def logEnded(build, state, builder_name, detail=None):
    """Log that C{build} ended in C{state} on C{builder_name}."""
    endings.info(
        "Build {build_id} ended {state} on builder '{builder}': "
        "{title}{detail}", build_id=build.id, state=state.name,
        builder=builder_name, title=build.title,
        detail=" (%s)" % detail if detail else "")


BUILDERFAIL_NOTES = "Builder returned BUILDERFAIL when asked for its status"
ABORTING_LOGTAIL = "Waiting for slave process to be terminated"


@dataclasses.dataclass
class BuilderHandle:
    """A builder as the scanner drives it: its snapshot and its slave."""

    record: object
    slave: object

    @property
    def name(self):
        return self.record.name

    @property
    def id(self):
        return self.record.id


@dataclasses.dataclass(frozen=True)
class Job:
    """A running job: its queue entry, its build and its builder."""

    queue: object
    build: object
    builder: BuilderHandle

    @property
    def cookie(self):
        return makeCookie(self.build.id, self.queue.id)


def utcnow(clock):
    return datetime.datetime.fromtimestamp(clock.seconds(),
                                           datetime.timezone.utc)
