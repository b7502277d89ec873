"""Builder rows."""

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.interfaces import IBuilderStore
from lp_buildmaster.model.records import Builder, fromRow
from lp_buildmaster.store import Component
from lp_buildmaster.text import notes

BUILDER_COLUMNS = """
    id, name, title, url, processor, virtualized, manual, active, builderok,
    failnotes, failure_count, vm_host, clean"""


class DuplicateName(Exception):
    """A builder with that name exists already."""


#: The builder columns L{BuilderStore.update} may set.
UPDATABLE = frozenset([
    "url", "title", "virtualized", "manual", "active", "builderok",
    "failnotes", "failure_count", "vm_host", "clean", "processor"])


def checkedValues(values):
    """C{values} for a builder update, fail notes normalised.

    @raise ValueError: a column not in L{UPDATABLE}.
    """
    unknown = set(values) - UPDATABLE
    if unknown:
        raise ValueError("cannot set %s" % ", ".join(sorted(unknown)))
    if values.get("failnotes") is not None:
        values = dict(values, failnotes=notes(values["failnotes"]))
    return values


@implementer(IBuilderStore)
class BuilderStore(Component):

    @defer.inlineCallbacks
    def get(self, builder_id):
        row = yield self._one(
            "SELECT %s FROM builder WHERE id = %%s" % BUILDER_COLUMNS,
            (builder_id,))
        return None if row is None else fromRow(Builder, row)

    @defer.inlineCallbacks
    def getByName(self, name):
        row = yield self._one(
            "SELECT %s FROM builder WHERE name = %%s" % BUILDER_COLUMNS,
            (name,))
        return None if row is None else fromRow(Builder, row)

    @defer.inlineCallbacks
    def all(self, processor=None):
        """Every builder (of C{processor}), by name."""
        if processor is None:
            rows = yield self._all(
                "SELECT %s FROM builder ORDER BY name" % BUILDER_COLUMNS)
        else:
            rows = yield self._all(
                "SELECT %s FROM builder WHERE processor = %%s ORDER BY name"
                % BUILDER_COLUMNS, (processor,))
        return [fromRow(Builder, row) for row in rows]

    @defer.inlineCallbacks
    def add(self, name, url, processor, title="", virtualized=False,
            manual=False, vm_host=None):
        """Create a builder; fires with its id.

        @raise DuplicateName: a builder has that name already.
        """
        existing = yield self.getByName(name)
        if existing is not None:
            raise DuplicateName("a builder named %r exists already" % name)
        row = yield self._one(
            "INSERT INTO builder (name, title, url, processor, virtualized,"
            " manual, vm_host) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " RETURNING id",
            (name, title or name, url, processor, virtualized, manual,
             vm_host))
        return row["id"]

    def update(self, builder_id, **values):
        """Set columns of one builder."""
        values = checkedValues(values)
        columns = sorted(values)
        sql = "UPDATE builder SET %s WHERE id = %%s" % ", ".join(
            "%s = %%s" % c for c in columns)
        return self.store.runOperation(
            sql, tuple(values[c] for c in columns) + (builder_id,))

    def failBuilder(self, builder_id, reason):
        """The seed's C{failbuilder}: not ok any more, with notes."""
        return self.update(builder_id, builderok=False, failnotes=reason)
