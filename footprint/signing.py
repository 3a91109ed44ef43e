"""Signed, expiring tokens from the service's secret (``FOOTPRINT_SECRET_KEY``).

A token carries a small JSON payload, the time it expires and the purpose it was made
for, followed by an HMAC-SHA256 over those bytes::

    <base64url(json)>.<base64url(hmac)>

It is what the monitors' browser session cookie and expiring report links hold: anyone
can read the payload (it is not encrypted, so put no secret in it), nobody without the
secret can make or alter one, and it stops verifying after ``ttl_s`` seconds.

Each purpose (``"session"``, ``"report-link"``, ...) signs with its own key derived from
the secret, so a token made for one purpose is refused for another. Changing the secret
invalidates every token. :meth:`footprint.settings.Settings.check_serve_safe` refuses to
serve in production with the default or a short secret, so these tokens protect
something only where that check passes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from footprint.errors import InvalidTokenError
from footprint.settings import get_settings

#: Longest token :func:`verify` reads (a cookie is at most 4 kB anyway).
MAX_TOKEN_CHARS = 4096
#: Longest lifetime a token may be given: 30 days.
MAX_TTL_S = 30 * 24 * 3600
DEFAULT_PURPOSE = "session"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: str | SecretStr | None, purpose: str) -> bytes:
    """The HMAC key for ``purpose``: derived from the secret, one per purpose."""
    if secret is None:
        secret = get_settings().secret_key
    raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if not raw:
        raise InvalidTokenError("tokens cannot be signed or checked without a secret",
                                hint="set FOOTPRINT_SECRET_KEY")
    return hmac.new(raw.encode("utf-8"), b"footprint-signing:" + purpose.encode("utf-8"),
                    hashlib.sha256).digest()


def _mac(key: bytes, body: str) -> str:
    return _b64encode(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest())


def sign(payload: Mapping[str, Any], ttl_s: float, *, purpose: str = DEFAULT_PURPOSE,
         secret: str | SecretStr | None = None, now_s: float | None = None) -> str:
    """A token holding ``payload`` that :func:`verify` accepts for ``ttl_s`` seconds.

    Parameters
    ----------
    payload
        JSON-serialisable mapping (for example ``{"key_id": "k1", "role": "reader"}``).
        It is signed, not encrypted: readable by whoever holds the token.
    ttl_s
        Lifetime in seconds, ``0 < ttl_s <= MAX_TTL_S``.
    purpose
        What the token is for; :func:`verify` must be called with the same purpose.
    secret
        Signing secret; default ``Settings.secret_key``.
    now_s
        Current Unix time in seconds (tests); default ``time.time()``.

    Returns
    -------
    str
        URL- and cookie-safe token (``[A-Za-z0-9_-]`` and one ``.``).
    """
    if not 0 < ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl_s must be in (0, {MAX_TTL_S}] seconds, got {ttl_s}")
    issued_s = time.time() if now_s is None else now_s
    envelope = {"p": dict(payload), "exp": int(issued_s + ttl_s), "pur": purpose}
    body = _b64encode(json.dumps(envelope, separators=(",", ":"), sort_keys=True,
                                 allow_nan=False).encode("utf-8"))
    token = f"{body}.{_mac(_key(secret, purpose), body)}"
    if len(token) > MAX_TOKEN_CHARS:
        raise ValueError(f"payload too large for a token of at most {MAX_TOKEN_CHARS} chars")
    return token


def verify(token: str, *, purpose: str = DEFAULT_PURPOSE,
           secret: str | SecretStr | None = None, now_s: float | None = None) -> dict[str, Any]:
    """The payload of ``token`` if it was signed with this secret for ``purpose`` and has
    not expired.

    Raises
    ------
    footprint.errors.InvalidTokenError
        Malformed, altered, signed with another secret or for another purpose, or
        expired (an :class:`~footprint.errors.AuthenticationError`: 401 in the API).
    """
    if (not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii()
            or token.count(".") != 1):
        raise InvalidTokenError("malformed token")
    body, mac = token.split(".")
    if not hmac.compare_digest(mac, _mac(_key(secret, purpose), body)):
        raise InvalidTokenError("invalid token signature")
    try:
        envelope = json.loads(_b64decode(body))
    except (binascii.Error, ValueError) as error:  # signed by us, so never in practice
        raise InvalidTokenError("malformed token") from error
    if envelope.get("pur") != purpose:
        raise InvalidTokenError("token made for another purpose")
    current_s = time.time() if now_s is None else now_s
    if current_s >= envelope["exp"]:
        raise InvalidTokenError("token expired", hint="sign in again")
    return dict(envelope["p"])
