"""Accounts, API tokens, browser sessions and the audit log.

Secrets are never stored: tokens and session cookies by their SHA-256,
passwords by scrypt (L{hashPassword}). Hashing a password is slow on
purpose, so callers run L{hashPassword} and L{checkPassword} in a thread.
"""

import base64
import datetime
import hashlib
import hmac
import secrets

from twisted.internet import defer
from zope.interface import implementer

from lp_buildmaster.interfaces import IAccountStore
from lp_buildmaster.model.records import record
from lp_buildmaster.store import Component

ROLES = ("viewer", "operator", "admin")

#: scrypt's cost: about 50 ms and 16 MiB per check.
_SCRYPT = dict(n=2 ** 14, r=8, p=1)


def hashPassword(password):
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32,
                            **_SCRYPT)
    return "scrypt$%d$%d$%d$%s$%s" % (
        _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"],
        base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


def checkPassword(password, stored):
    """Whether C{password} matches a L{hashPassword} text."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"), salt=base64.b64decode(salt),
            n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def secretHash(secret):
    """The SHA-256 (hex) under which a token or a session is kept."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@record
class Account:
    id: int
    name: str
    role: str


@record
class AuditEntry:
    id: int
    datecreated: datetime.datetime
    actor: str
    origin: str
    action: str
    build: object
    builder_name: object
    detail: str


class DuplicateAccount(Exception):
    """An account with that name exists already."""


@implementer(IAccountStore)
class AccountStore(Component):

    @defer.inlineCallbacks
    def add(self, name, role, password_hash=None):
        try:
            row = yield self._one(
                "INSERT INTO account (name, role, password_hash)"
                " VALUES (%s, %s, %s) RETURNING id",
                (name, role, password_hash))
        except Exception as e:
            if getattr(e, "pgcode", None) == "23505":
                raise DuplicateAccount(name) from None
            raise
        return row["id"]

    @defer.inlineCallbacks
    def getByName(self, name):
        row = yield self._one(
            "SELECT id, name, role FROM account WHERE name = %s", (name,))
        return None if row is None else Account(**row)

    @defer.inlineCallbacks
    def passwordHash(self, name):
        row = yield self._one(
            "SELECT password_hash FROM account WHERE name = %s", (name,))
        return None if row is None else row["password_hash"]

    def update(self, account_id, role=None, password_hash=None):
        return self.store.runOperation(
            "UPDATE account SET role = coalesce(%s, role),"
            " password_hash = coalesce(%s, password_hash) WHERE id = %s",
            (role, password_hash, account_id))

    @defer.inlineCallbacks
    def all(self):
        rows = yield self._all(
            "SELECT a.id, a.name, a.role, a.password_hash IS NOT NULL"
            "       AS has_password,"
            "       (SELECT count(*) FROM apitoken t WHERE t.account = a.id"
            "           AND t.date_revoked IS NULL) AS tokens"
            "  FROM account a ORDER BY a.name")
        return [dict(row) for row in rows]

    # -- tokens --

    @defer.inlineCallbacks
    def createToken(self, account_id, description=""):
        """A new token: fires with C{(id, secret)}; the secret is shown
        once and only its hash is kept."""
        secret = "bm_" + secrets.token_urlsafe(32)
        row = yield self._one(
            "INSERT INTO apitoken (account, token_hash, description)"
            " VALUES (%s, %s, %s) RETURNING id",
            (account_id, secretHash(secret), description))
        return row["id"], secret

    @defer.inlineCallbacks
    def revokeToken(self, token_id):
        """Fires with whether a live token was revoked."""
        rows = yield self._all(
            "UPDATE apitoken SET date_revoked = now()"
            " WHERE id = %s AND date_revoked IS NULL RETURNING id",
            (token_id,))
        return bool(rows)

    @defer.inlineCallbacks
    def tokens(self):
        rows = yield self._all(
            "SELECT t.id, a.name AS account, t.description, t.datecreated,"
            "       t.date_revoked"
            "  FROM apitoken t JOIN account a ON a.id = t.account"
            " ORDER BY t.id")
        return [dict(row) for row in rows]

    @defer.inlineCallbacks
    def byToken(self, secret):
        """The account of a live token, or None."""
        row = yield self._one(
            "SELECT a.id, a.name, a.role FROM apitoken t"
            "  JOIN account a ON a.id = t.account"
            " WHERE t.token_hash = %s AND t.date_revoked IS NULL",
            (secretHash(secret),))
        return None if row is None else Account(**row)

    # -- sessions --

    @defer.inlineCallbacks
    def createSession(self, account_id, lifetime):
        """A new session: fires with C{(cookie secret, csrf token)}."""
        secret = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        yield self.store.runOperation(
            "DELETE FROM websession WHERE expires < now()")
        yield self.store.runOperation(
            "INSERT INTO websession (account, session_hash, csrf, expires)"
            " VALUES (%s, %s, %s, now() + %s * interval '1 second')",
            (account_id, secretHash(secret), csrf, lifetime))
        return secret, csrf

    @defer.inlineCallbacks
    def bySession(self, secret):
        """C{(account, csrf)} of a live session, or None."""
        row = yield self._one(
            "SELECT a.id, a.name, a.role, s.csrf FROM websession s"
            "  JOIN account a ON a.id = s.account"
            " WHERE s.session_hash = %s AND s.expires > now()",
            (secretHash(secret),))
        if row is None:
            return None
        row = dict(row)
        csrf = row.pop("csrf")
        return Account(**row), csrf

    def endSession(self, secret):
        return self.store.runOperation(
            "DELETE FROM websession WHERE session_hash = %s",
            (secretHash(secret),))

    # -- audit --

    def record(self, actor, origin, action, build=None, builder=None,
               detail=""):
        return self.store.runOperation(
            "INSERT INTO auditlog (actor, origin, action, build, builder,"
            " detail) VALUES (%s, %s, %s, %s, %s, %s)",
            (actor, origin, action, build, builder, detail))

    @defer.inlineCallbacks
    def audit(self, build=None, builder=None, limit=50, before=None):
        """Newest first, of one build or one builder (id) if given."""
        where, args = [], []
        if build is not None:
            where.append("l.build = %s")
            args.append(build)
        if builder is not None:
            where.append("l.builder = %s")
            args.append(builder)
        if before is not None:
            where.append("l.id < %s")
            args.append(before)
        rows = yield self._all(
            "SELECT l.id, l.datecreated, l.actor, l.origin, l.action,"
            "       l.build, b.name AS builder_name, l.detail"
            "  FROM auditlog l LEFT JOIN builder b ON b.id = l.builder"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY l.id DESC LIMIT %s", tuple(args) + (limit,))
        return [AuditEntry(**row) for row in rows]
