"""libraryfilecontent and libraryfilealias rows.

The bytes live on disk in L{lp_buildmaster.librarian.storage}; these rows
say what they are and what they are called.
"""

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.interfaces import ILibraryStore
from lp_buildmaster.model.records import LibraryFileAlias, fromRow
from lp_buildmaster.store import Component

ALIAS_SELECT = """
    SELECT a.id, a.content, a.filename, a.mimetype, a.restricted, a.expires,
           c.sha1, c.sha256, c.filesize
      FROM libraryfilealias a JOIN libraryfilecontent c ON c.id = a.content"""

ADD_CONTENT = """
    INSERT INTO libraryfilecontent (sha1, sha256, filesize)
    VALUES (%s, %s, %s)
    ON CONFLICT (sha1) DO UPDATE SET sha1 = EXCLUDED.sha1
    RETURNING id"""

ADD_ALIAS = """
    INSERT INTO libraryfilealias (content, filename, mimetype, restricted,
                                  expires)
    VALUES (%s, %s, %s, %s, %s) RETURNING id"""


@implementer(ILibraryStore)
class LibraryStore(Component):

    @defer.inlineCallbacks
    def getAlias(self, alias_id):
        row = yield self._one(ALIAS_SELECT + " WHERE a.id = %s", (alias_id,))
        return None if row is None else fromRow(LibraryFileAlias, row)

    @defer.inlineCallbacks
    def getAliases(self, alias_ids):
        rows = yield self._all(ALIAS_SELECT + " WHERE a.id = ANY(%s)",
                               (list(alias_ids),))
        return {row["id"]: fromRow(LibraryFileAlias, row) for row in rows}

    def addAlias(self, sha1, sha256, size, filename, mimetype,
                 restricted=False, expires=None):
        """Record content (once per sha1) and a new alias for it, in one
        transaction; fires with the alias id."""
        @defer.inlineCallbacks
        def add(txn):
            content = yield txn.fetchone(ADD_CONTENT, (sha1, sha256, size))
            alias = yield txn.fetchone(
                ADD_ALIAS, (content["id"], filename, mimetype, restricted,
                            expires))
            return alias["id"]
        return self.store.runInteraction(add)
