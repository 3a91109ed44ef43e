"""Signed, expiring session tokens for monitors who read reports in a browser.

A browser cannot send an ``X-API-Key`` header when a link is followed, and a key must
never go in a URL (it would land in history, proxies and access logs). So a monitor
signs in once with the key (a form POST, ``api/routers/session.py``) and receives this
token in an HttpOnly, SameSite=Strict cookie; :func:`api.deps.require_role_or_session`
accepts it on safe (GET/HEAD) reads only, so the cookie can never authorise a write
(no CSRF surface).

The token is ``<payload>.<signature>``: the payload is base64url JSON ``{"kid", "name",
"role", "exp"}`` (``exp`` in Unix seconds, UTC) and the signature is HMAC-SHA256 over
the payload with the settings secret, under a purpose label so the same secret signs
nothing else interchangeably. It carries no key material; the key's id is checked
against the store on each use, so revoking the key ends its sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

#: Name of the session cookie.
SESSION_COOKIE = "footprint_session"
#: How long a session lasts (s): a working day.
SESSION_TTL_S = 8 * 3600
#: Roles that may sign in (the cookie only opens what a monitor may read).
SESSION_ROLES = ("monitor", "admin")
_PURPOSE = b"footprint.session.v1"


@dataclass(frozen=True)
class SessionClaims:
    """Who a session belongs to and until when (Unix seconds, UTC)."""

    key_id: int
    name: str
    role: str
    expires_s: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(payload: str, secret: str) -> str:
    key = hmac.new(secret.encode("utf-8"), _PURPOSE, hashlib.sha256).digest()
    return _b64(hmac.new(key, payload.encode("utf-8", "replace"), hashlib.sha256).digest())


def sign_session(claims: SessionClaims, secret: str) -> str:
    """The cookie value for ``claims``, signed with ``secret``."""
    body = {"kid": claims.key_id, "name": claims.name, "role": claims.role,
            "exp": claims.expires_s}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{payload}.{_signature(payload, secret)}"


def new_session(key_id: int, name: str, role: str, now_s: float | None = None,
                ttl_s: int = SESSION_TTL_S) -> SessionClaims:
    """Claims for a key signing in now, expiring after ``ttl_s`` seconds."""
    now = time.time() if now_s is None else now_s
    return SessionClaims(key_id=key_id, name=name, role=role, expires_s=int(now) + ttl_s)


def verify_session(token: str, secret: str, now_s: float | None = None) -> SessionClaims | None:
    """The claims of a genuine, unexpired token; ``None`` for anything else.

    The signature is compared in constant time before the payload is parsed.
    """
    payload, dot, signature = token.partition(".")
    expected = _signature(payload, secret).encode("ascii")
    if not dot or not payload or not hmac.compare_digest(signature.encode("utf-8", "replace"),
                                                         expected):
        return None
    try:
        body = json.loads(_unb64(payload))
        claims = SessionClaims(key_id=int(body["kid"]), name=str(body["name"]),
                               role=str(body["role"]), expires_s=int(body["exp"]))
    except (ValueError, KeyError, TypeError):
        return None
    now = time.time() if now_s is None else now_s
    return claims if claims.expires_s > now else None
