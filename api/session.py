"""Signed, expiring session tokens for monitors who read reports in a browser.

A browser cannot send an ``X-API-Key`` header when a link is followed, and a key must
never go in a URL (it would land in history, proxies and access logs). So a monitor
signs in once with the key (a form POST, ``api/routers/session.py``) and receives this
token in an HttpOnly, SameSite=Strict cookie; :func:`api.deps.require_role_or_session`
accepts it on safe (GET/HEAD) reads only, so the cookie can never authorise a write
(no CSRF surface).

The token is made by :mod:`footprint.signing` (HMAC-SHA256 with a key derived from the
settings secret for the purpose ``"session"``, so no other kind of token passes for one)
and carries ``{"kid", "name", "role", "exp"}`` (``exp`` in Unix seconds, UTC). It holds no
key material; the key's id is checked against the store on each use, so revoking the
key ends its sessions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from footprint.errors import InvalidTokenError
from footprint.signing import sign, verify

#: Name of the session cookie.
SESSION_COOKIE = "footprint_session"
#: How long a session lasts (s): a working day.
SESSION_TTL_S = 8 * 3600
#: Roles that may sign in (the cookie only opens what a monitor may read).
SESSION_ROLES = ("monitor", "admin")
_PURPOSE = "session"


@dataclass(frozen=True)
class SessionClaims:
    """Who a session belongs to and until when (Unix seconds, UTC)."""

    key_id: int
    name: str
    role: str
    expires_s: int


def sign_session(claims: SessionClaims, secret: str) -> str:
    """The cookie value for ``claims``, signed with ``secret``; it expires at
    ``claims.expires_s``."""
    payload = {"kid": claims.key_id, "name": claims.name, "role": claims.role,
               "exp": claims.expires_s}
    return sign(payload, SESSION_TTL_S, purpose=_PURPOSE, secret=secret,
                now_s=claims.expires_s - SESSION_TTL_S)


def new_session(key_id: int, name: str, role: str, now_s: float | None = None,
                ttl_s: int = SESSION_TTL_S) -> SessionClaims:
    """Claims for a key signing in now, expiring after ``ttl_s`` seconds."""
    now = time.time() if now_s is None else now_s
    return SessionClaims(key_id=key_id, name=name, role=role, expires_s=int(now) + ttl_s)


def verify_session(token: str, secret: str, now_s: float | None = None) -> SessionClaims | None:
    """The claims of a genuine, unexpired session token; ``None`` for anything else."""
    try:
        body = verify(token, purpose=_PURPOSE, secret=secret, now_s=now_s)
        return SessionClaims(key_id=int(body["kid"]), name=str(body["name"]),
                             role=str(body["role"]), expires_s=int(body["exp"]))
    except (InvalidTokenError, KeyError, TypeError, ValueError):
        return None
