"""master rows: the masters sharing this database, and their heartbeats.

Time is the database's (C{now()}), so masters on machines whose clocks
disagree still agree on who is alive. Tests may pass C{now} (seconds
since the epoch) to drive it from a C{task.Clock} instead.
"""

import dataclasses
from typing import Optional

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.interfaces import IMasterStore
from lp_buildmaster.store import Component

#: The statement's own time: the caller's, or the database's.
NOW = "coalesce(to_timestamp(%(now)s::double precision), now())"

HEARTBEAT = """
    WITH t AS (SELECT """ + NOW + """ AS now),
    beat AS (
        INSERT INTO master (name, heartbeat, expires, started, web_url,
                            librarian_url)
        SELECT %(name)s, t.now, t.now + %(lifetime)s * interval '1 second',
               t.now, %(web_url)s, %(librarian_url)s FROM t
        ON CONFLICT (name) DO UPDATE
           SET heartbeat = EXCLUDED.heartbeat, expires = EXCLUDED.expires,
               web_url = EXCLUDED.web_url,
               librarian_url = EXCLUDED.librarian_url,
               started = CASE WHEN master.expires < EXCLUDED.heartbeat
                              THEN EXCLUDED.started
                              ELSE master.started END
        RETURNING name)
    SELECT m.name, m.expires > t.now AS live,
           extract(epoch FROM t.now - m.heartbeat)::double precision AS age,
           m.web_url, m.librarian_url
      FROM master m, t, (SELECT count(*) FROM beat) done
     ORDER BY m.name"""

MASTERS = """
    SELECT m.name, m.expires > now() AS live,
           extract(epoch FROM now() - m.heartbeat)::double precision AS age,
           m.web_url, m.librarian_url,
           (SELECT count(*) FROM builder b WHERE b.owner = m.name) AS builders
      FROM master m
     ORDER BY m.name"""


@dataclasses.dataclass(frozen=True)
class MasterInfo:
    """A registered master as a heartbeat (or a page) sees it."""

    name: str
    live: bool
    #: seconds since its last heartbeat
    age: float
    web_url: Optional[str] = None
    librarian_url: Optional[str] = None
    #: builders it holds (only from L{MasterStore.all})
    builders: Optional[int] = None


@implementer(IMasterStore)
class MasterStore(Component):

    @defer.inlineCallbacks
    def heartbeat(self, name, lifetime, now=None, web_url=None,
                  librarian_url=None):
        """Say that C{name} is alive for C{lifetime} more seconds, in one
        statement; fires with every registered master's L{MasterInfo}.

        The rows are read as they were before this heartbeat: C{name}'s
        own is made live, with age 0.
        """
        rows = yield self._all(HEARTBEAT, dict(
            name=name, lifetime=lifetime, now=now, web_url=web_url,
            librarian_url=librarian_url))
        masters = {row["name"]: MasterInfo(
            name=row["name"], live=row["live"], age=row["age"],
            web_url=row["web_url"], librarian_url=row["librarian_url"])
            for row in rows}
        masters[name] = MasterInfo(name=name, live=True, age=0.0,
                                   web_url=web_url,
                                   librarian_url=librarian_url)
        return [masters[key] for key in sorted(masters)]

    @defer.inlineCallbacks
    def all(self):
        """Every registered master, with the number of builders it holds,
        as the database's clock sees it."""
        rows = yield self._all(MASTERS)
        return [MasterInfo(**row) for row in rows]

    def leave(self, name):
        """A master stopping: its builders are released and its row goes,
        in one statement, and the others are told at once."""
        return self.store.runOperation(
            "WITH released AS ("
            "    UPDATE builder SET owner = NULL WHERE owner = %(name)s"
            "    RETURNING id),"
            " gone AS (DELETE FROM master WHERE name = %(name)s"
            "    RETURNING name)"
            " SELECT (SELECT count(*) FROM released),"
            "        (SELECT count(*) FROM gone),"
            "        pg_notify('builders', 'master left')",
            dict(name=name))
