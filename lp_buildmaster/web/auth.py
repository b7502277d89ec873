"""Who is asking: API tokens, browser sessions and CSRF.

A request is identified by C{Authorization: Bearer <token>} (a token made
by C{buildmaster-admin token create}) or by the session cookie a login
sets. A request that changes something and rides on the cookie must
carry the session's CSRF token (form field C{csrf} or header
C{X-CSRF-Token}); a token-authenticated request needs none, since no
browser sends it on its own. The login form itself carries a
double-submit token (a cookie and a field that must match).
"""

import hmac
import secrets

from twisted.internet import defer, threads

from lp_buildmaster.actions import Actor
from lp_buildmaster.store.accounts import AccountStore, checkPassword

SESSION_COOKIE = b"bm_session"
LOGIN_COOKIE = b"bm_login"


class Unauthorized(Exception):
    """No valid credentials (HTTP 401)."""


class CSRFRefused(Exception):
    """A cookie-authenticated change without its CSRF token (HTTP 403)."""


class Identity:
    """An identified requester: its L{Actor}, and the CSRF token of its
    session (None for a bearer token)."""

    def __init__(self, actor, csrf=None, session=None):
        self.actor = actor
        self.csrf = csrf
        self.session = session


def clientAddress(request):
    address = request.getClientAddress()
    return getattr(address, "host", None) or "unknown"


def field(request, name):
    """A form or query field as text, or None."""
    values = request.args.get(name.encode("ascii"))
    if not values:
        return None
    return values[-1].decode("utf-8", "replace")


class Authenticator:

    def __init__(self, store, config):
        self.accounts = getattr(store, "accounts", None) or \
            AccountStore(store)
        self.anonymous_read = config.get("web", "anonymous_read")
        self.session_lifetime = config.get("web", "session_lifetime")
        self.secure = config.get("web", "secure_cookies")

    @defer.inlineCallbacks
    def identify(self, request):
        """Fires with an L{Identity} or None (anonymous).

        @raise Unauthorized: a bearer token was given and is not valid.
        """
        origin = clientAddress(request)
        header = request.getHeader(b"authorization")
        if header:
            kind, _, secret = header.decode("latin-1").partition(" ")
            if kind.lower() != "bearer" or not secret.strip():
                raise Unauthorized("use Authorization: Bearer <token>")
            account = yield self.accounts.byToken(secret.strip())
            if account is None:
                raise Unauthorized("this token is not valid (unknown or "
                                   "revoked)")
            return Identity(Actor(account.name, account.role, origin))
        cookie = request.getCookie(SESSION_COOKIE)
        if cookie:
            found = yield self.accounts.bySession(cookie.decode("latin-1"))
            if found is not None:
                account, csrf = found
                return Identity(Actor(account.name, account.role, origin),
                                csrf=csrf, session=cookie)
        return None

    @defer.inlineCallbacks
    def reader(self, request):
        """The identity of a reading request (None: anonymous, allowed).

        @raise Unauthorized: anonymous reading is switched off.
        """
        identity = yield self.identify(request)
        if identity is None and not self.anonymous_read:
            raise Unauthorized("log in or send an API token to read")
        return identity

    @defer.inlineCallbacks
    def writer(self, request):
        """The identity of a request that changes something.

        @raise Unauthorized: nobody is identified.
        @raise CSRFRefused: a session without the session's CSRF token.
        """
        identity = yield self.identify(request)
        if identity is None:
            raise Unauthorized("actions need an account: log in, or send "
                               "Authorization: Bearer <token>")
        if identity.csrf is not None:
            given = field(request, "csrf") or (
                request.getHeader(b"x-csrf-token") or b"").decode(
                    "latin-1")
            if not given or not hmac.compare_digest(given, identity.csrf):
                raise CSRFRefused("this form has no valid CSRF token; "
                                  "reload the page and try again")
        return identity

    # -- login --

    def loginFormToken(self, request):
        """A fresh double-submit token for the login form (set as a
        cookie too)."""
        token = secrets.token_urlsafe(24)
        self._cookie(request, LOGIN_COOKIE, token.encode("ascii"),
                     max_age=3600)
        return token

    @defer.inlineCallbacks
    def login(self, request, name, password):
        """Check a login form; on success set the session cookie and fire
        with the account, else fire with None.

        @raise CSRFRefused: the form's token does not match its cookie.
        """
        cookie = (request.getCookie(LOGIN_COOKIE) or b"").decode("latin-1")
        given = field(request, "csrf") or ""
        if not cookie or not hmac.compare_digest(cookie, given):
            raise CSRFRefused("the login form has no valid CSRF token; "
                              "reload the page and try again")
        stored = yield self.accounts.passwordHash(name or "")
        # Check a dummy hash for unknown names: the answer takes as long.
        ok = yield threads.deferToThread(
            checkPassword, password or "", stored or _DUMMY)
        if not ok or stored is None:
            return None
        account = yield self.accounts.getByName(name)
        secret, _ = yield self.accounts.createSession(
            account.id, self.session_lifetime)
        self._cookie(request, SESSION_COOKIE, secret.encode("ascii"),
                     max_age=int(self.session_lifetime))
        self._cookie(request, LOGIN_COOKIE, b"", max_age=0)
        return account

    @defer.inlineCallbacks
    def logout(self, request, identity):
        if identity is not None and identity.session:
            yield self.accounts.endSession(identity.session.decode("latin-1"))
        self._cookie(request, SESSION_COOKIE, b"", max_age=0)

    def _cookie(self, request, name, value, max_age):
        request.addCookie(name, value, path=b"/", httpOnly=True,
                          secure=self.secure, max_age=str(max_age).encode(),
                          sameSite=b"strict")


_DUMMY = ("scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$"
          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
