"""A builder and its job as a scan sees them (L{BuilderVitals}), read
for every builder in one statement: the queries and their parsing.
L{lp_buildmaster.store.jobs.JobStore} runs them.
"""

import dataclasses
import datetime
from typing import Optional

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.model.records import Builder
from lp_buildmaster.store.builders import BUILDER_COLUMNS
from lp_buildmaster.store.masters import NOW


@dataclasses.dataclass(frozen=True)
class BuilderVitals:
    """A builder and its current job, as one scan sees them."""

    builder: Builder
    queue_id: Optional[int]
    build_id: Optional[int]
    build_state: Optional[BuildStatus]
    buildstart: Optional[datetime.datetime]
    job_failures: Optional[int]
    #: The row as the database sent it, to tell whether it changed.
    raw: tuple = dataclasses.field(default=(), compare=False, repr=False)

    @property
    def name(self):
        return self.builder.name


_BUILDER_FIELDS = [c.strip() for c in BUILDER_COLUMNS.split(",")]

#: One JSON array per builder: its columns, then its job's.
_VITALS_ARRAY = "json_build_array(%s, bq.id, bq.build, bd.buildstate, " \
    "bq.buildstart, bd.failure_count)" % ", ".join(
        "b." + c for c in _BUILDER_FIELDS)
_VITALS_FROM = """
      FROM builder b
      LEFT JOIN buildqueue bq ON bq.builder = b.id
      LEFT JOIN build bd ON bd.id = bq.build"""
# Every builder in one row of JSON text: with 10,000 builders, parsing it
# (in C) and comparing each builder's array with the last refresh's is
# far cheaper than making a row object and a record per builder.
ALL_VITALS = ("SELECT coalesce(json_object_agg(b.name, %s), '{}')::text"
              " AS vitals" % _VITALS_ARRAY) + _VITALS_FROM
ONE_VITALS = ("SELECT %s::text AS vitals" % _VITALS_ARRAY) + _VITALS_FROM \
    + " WHERE b.name = %s"
# With several masters on one database, each scans the builders it holds
# (owner), and holds them for as long as its master row is live. The
# refresh takes the builders it wants (the assignment it computed) that
# nobody holds or whose master is dead, and reads in the same statement
# the vitals of the builders it holds and wants, every builder's owner
# (for the next assignment), and whom it took builders from. The SELECT
# sees the rows as they were before the UPDATE, hence "OR b.id IN
# claimed". Builders it holds already are not written again.
LEASED_VITALS = """
    WITH t AS (SELECT """ + NOW + """ AS now),
    live AS (SELECT m.name FROM master m, t WHERE m.expires > t.now),
    claimed AS (
        UPDATE builder b SET owner = %(owner)s
          FROM builder old
         WHERE old.id = b.id AND b.name = ANY(%(wanted)s)
           AND b.active AND b.builderok
           AND (b.owner IS NULL OR b.owner NOT IN (SELECT name FROM live))
        RETURNING b.id, b.name, old.owner AS previous)
    SELECT
      (SELECT coalesce(json_object_agg(b.name, """ + _VITALS_ARRAY + """),
                       '{}')""" + _VITALS_FROM + """
        WHERE (b.owner = %(owner)s AND b.name = ANY(%(wanted)s)
               AND b.active AND b.builderok)
           OR b.id IN (SELECT id FROM claimed))::text AS vitals,
      (SELECT coalesce(json_object_agg(
                  name, json_build_array(owner, active AND builderok)), '{}')
         FROM builder)::text AS owners,
      (SELECT coalesce(json_object_agg(name, previous), '{}')
         FROM claimed)::text AS taken"""


@dataclasses.dataclass(frozen=True)
class LeasedVitals:
    """What one refresh of a master sharing the database learns."""

    #: C{{name: BuilderVitals}} of the builders it holds and wants
    vitals: dict
    #: C{{name: (owner or None, usable)}} of every builder
    owners: dict
    #: C{{name: previous owner or None}} of the builders it took now
    taken: dict


def _reuse(rows, previous):
    """C{{name: BuilderVitals}} from C{{name: JSON array}}, keeping the
    C{previous} vitals of builders whose row did not change."""
    previous = previous or {}
    result = {}
    for name, values in rows.items():
        old = previous.get(name)
        if old is not None and old.raw == tuple(values):
            result[name] = old
        else:
            result[name] = _vitals(values)
    return result


def _vitals(values):
    """L{BuilderVitals} from a builder's JSON array."""
    count = len(_BUILDER_FIELDS)
    builder = Builder(**dict(zip(_BUILDER_FIELDS, values[:count])))
    queue_id, build_id, state, buildstart, job_failures = values[count:]
    return BuilderVitals(
        builder=builder, queue_id=queue_id, build_id=build_id,
        build_state=None if state is None else BuildStatus(state),
        buildstart=(None if buildstart is None
                    else datetime.datetime.fromisoformat(buildstart)),
        job_failures=job_failures, raw=tuple(values))
