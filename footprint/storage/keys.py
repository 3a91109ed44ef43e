"""API keys: created once, stored as a digest, revoked."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import select

from footprint.errors import (
    InvalidParameterError,
    NotFoundError,
)
from footprint.storage.audit import Audit, add_audit_entry
from footprint.storage.base import (
    StoreBase,
    _copy,
)
from footprint.storage.models import (
    API_KEY_ROLES,
    ApiKey,
)
from footprint.storage.records import (
    ApiKeyRecord,
)
from footprint.storage.types import utcnow

if TYPE_CHECKING:

    pass


log = logging.getLogger(__name__)

API_KEY_PREFIX = "fpk_"
_API_KEY_LOOKUP_CHARS = 12


class ApiKeyRepository(StoreBase):
    """API keys: created once, stored as a digest, revoked."""

    def create_api_key(self, name: str, role: str, *,
                       audit: Audit | None = None) -> tuple[ApiKeyRecord, str]:
        """A new API key; the plaintext token is returned once and never stored.

        The token is ``fpk_`` + 43 URL-safe characters from :func:`secrets.token_urlsafe`
        (256 random bits). Only its sha256 and its first 12 characters (for lookup and
        display) are stored. A fast hash is enough: slow KDFs (bcrypt, scrypt, argon2)
        protect *low-entropy* human passwords from dictionary search after a database
        leak; a 256-bit random token cannot be searched, and verifying it on every
        request stays cheap. ``audit``: an ``api_key.create`` entry written with the key.
        """
        if role not in API_KEY_ROLES:
            raise InvalidParameterError(f"role must be one of {API_KEY_ROLES}, not {role!r}")
        token = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(name=name, role=role, key_sha256=_token_sha256(token),
                     prefix=token[:_API_KEY_LOOKUP_CHARS], created_at=utcnow())
        with self._session(write=True) as session:
            session.add(key)
            session.flush()
            add_audit_entry(session, audit, "api_key.create", f"api_key:{key.id}",
                            detail={"name": name, "role": role})
            return _api_key_record(key), token

    def verify_api_key(self, token: str) -> ApiKeyRecord | None:
        """The active key matching ``token``, else None (constant-time digest compare)."""
        if not isinstance(token, str) or not token.startswith(API_KEY_PREFIX):
            return None
        digest = _token_sha256(token)
        with self._session() as session:
            candidates = session.scalars(select(ApiKey).where(
                ApiKey.prefix == token[:_API_KEY_LOOKUP_CHARS]))
            match = None
            for key in candidates:
                if hmac.compare_digest(key.key_sha256, digest) and key.revoked_at is None:
                    match = key
            return None if match is None else _api_key_record(match)

    def revoke_api_key(self, key_id: int, *, audit: Audit | None = None) -> ApiKeyRecord:
        """Revoke a key (idempotent); :class:`NotFoundError` if there is no such key.
        ``audit``: an ``api_key.revoke`` entry written with the change (none when it was
        already revoked)."""
        with self._session(write=True) as session:
            key = session.get(ApiKey, key_id)
            if key is None:
                raise NotFoundError(f"no API key with id {key_id}")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
                add_audit_entry(session, audit, "api_key.revoke", f"api_key:{key.id}",
                                detail={"name": key.name, "role": key.role})
                session.flush()
            return _api_key_record(key)

    def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every API key (revoked ones too), by id; never the tokens."""
        with self._session() as session:
            return [_api_key_record(k) for k in session.scalars(select(ApiKey).order_by(ApiKey.id))]



def _token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _api_key_record(row: ApiKey) -> ApiKeyRecord:
    return _copy(ApiKeyRecord, row)
