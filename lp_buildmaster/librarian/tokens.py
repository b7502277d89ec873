"""Expiring download tokens for restricted library files.

A token is an HMAC-SHA256, keyed with the librarian's secret, of the alias
id and the expiry time (whole seconds since the epoch). The client makes
them for URLs it hands out; the server checks them. Nothing is stored.
"""

import hashlib
import hmac


def _key(secret):
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def makeToken(secret, aliasid, expires):
    """The token allowing C{aliasid} until C{expires} (an int)."""
    message = b"%d:%d" % (aliasid, expires)
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def checkToken(secret, aliasid, token, expires, now):
    """Whether C{token} (a str) allows C{aliasid} at time C{now}.

    @param expires: the expiry as the request gave it (a str, untrusted).
    """
    if not (expires and expires.isascii() and expires.isdigit()
            and len(expires) <= 12):
        return False
    if int(expires) <= now or not token or not token.isascii():
        return False
    return hmac.compare_digest(
        makeToken(secret, aliasid, int(expires)), token)
