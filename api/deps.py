"""Dependencies shared by the routers: settings, the store, and who is calling.

Roles
-----
``reader``
    reads (also open to anonymous callers when ``settings.public_reads``).
``surveyor``
    reads and uploads survey layers.
``monitor``
    reads, uploads declared data (export statistics, certificates) and requests reports.
``admin``
    everything, including the audit log.

A key is sent as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. A missing or
unknown key where one is needed is a 401; a known key whose role lacks the right is a 403.
A key that is sent must be valid even on public reads: a typo (or an empty
``X-API-Key:`` header) should not silently turn a caller anonymous.

In a browser, :func:`require_role_or_session` also accepts the monitor's signed session
cookie (``api/session.py``), on GET and HEAD only: the cookie never authorises a write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.session import SESSION_COOKIE, SessionClaims, verify_session
from footprint.concepts import ROLES
from footprint.errors import AuthenticationError, PermissionDeniedError
from footprint.settings import Settings
from footprint.storage.audit import Audit

if TYPE_CHECKING:
    from footprint.storage.store import Store

ANONYMOUS = "anonymous"

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                               description="API key (roles: reader, surveyor, monitor, admin).")
_bearer = HTTPBearer(auto_error=False, description="The API key as a bearer token.")


@dataclass(frozen=True)
class Principal:
    """The caller: the key's name and role, or ``anonymous`` on a public read."""

    name: str
    role: str

    @property
    def is_anonymous(self) -> bool:
        """No API key was sent (a public read)."""
        return self.role == ANONYMOUS


def request_audit(request: Request, principal: Principal, **detail: Any) -> Audit:
    """The :class:`~footprint.storage.audit.Audit` of a write asked for by ``principal``:
    actor the key's name, with its role and the request id (and ``detail``)."""
    return Audit(principal.name, {"role": principal.role,
                                  "request_id": getattr(request.state, "request_id", None),
                                  **detail})


async def get_settings_dep(request: Request) -> Settings:
    """The settings the application was created with."""
    return request.app.state.settings


async def get_store(request: Request) -> Store:
    """The application's :class:`~footprint.storage.store.Store` (opened by the lifespan)."""
    return request.app.state.store


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StoreDep = Annotated[Any, Depends(get_store)]


def _presented_key(api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    if api_key:
        return api_key.strip() or None
    if bearer is not None and bearer.credentials:
        return bearer.credentials.strip() or None
    return None


def role_allows(role: str, roles: tuple[str, ...]) -> bool:
    """Whether a key with ``role`` may do what needs one of ``roles`` (empty: a read)."""
    if role == "admin":
        return True
    if not roles or "reader" in roles:
        return role in ROLES
    return role in roles


def require_role(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting callers whose key has one of ``roles`` (admin always passes).

    ``require_role()`` or ``require_role("reader")`` guards a read: open to anonymous
    callers when ``settings.public_reads`` is true, else any valid key. The dependency
    returns the :class:`Principal` and records its name for the request log.
    """
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; known: {ROLES}")
    is_read = not roles or "reader" in roles

    def dependency(
        request: Request,
        api_key: Annotated[str | None, Depends(_api_key_header)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    ) -> Principal:
        settings: Settings = request.app.state.settings
        token = _presented_key(api_key, bearer)
        if token is None and "x-api-key" in request.headers:
            # an empty or blank key is a credential sent wrong, never an anonymous call
            raise AuthenticationError("the X-API-Key header is empty",
                                      hint="send the key as X-API-Key: KEY, or no header")
        if token is None and request.headers.get("authorization"):
            # a credential was sent but is not a usable bearer token: never fall back to
            # anonymous, the caller meant to authenticate
            raise AuthenticationError("the Authorization header holds no bearer token",
                                      hint="send the key as X-API-Key or Authorization: Bearer KEY")
        if token is None:
            if is_read and settings.public_reads:
                principal = Principal(ANONYMOUS, ANONYMOUS)
                request.state.actor = principal.name
                return principal
            raise AuthenticationError("an API key is required",
                                      hint="send it as X-API-Key or Authorization: Bearer")
        record = request.app.state.store.verify_api_key(token)
        if record is None:
            raise AuthenticationError("unknown or revoked API key")
        principal = Principal(name=record.name, role=record.role)
        request.state.actor = principal.name
        if not role_allows(principal.role, roles):
            needed = " or ".join(roles) if roles else "reader"
            raise PermissionDeniedError(f"the key's role {principal.role!r} may not do this",
                                        hint=f"needs {needed}")
        return principal

    dependency.__name__ = f"require_role_{'_'.join(roles) or 'read'}"
    return dependency


SAFE_METHODS = frozenset({"GET", "HEAD"})


def _session_principal(request: Request, cookie: str, roles: tuple[str, ...]) -> Principal:
    """The principal of a session cookie; 401 when it is forged, expired or its key
    was revoked since, 403 when its role may not do this."""
    settings: Settings = request.app.state.settings
    claims = verify_session(cookie, settings.secret_key.get_secret_value())
    if claims is None or not _key_still_active(request, claims):
        raise AuthenticationError("the session is not valid or has expired",
                                  hint="sign in again on the map page")
    principal = Principal(name=claims.name, role=claims.role)
    request.state.actor = principal.name
    if not role_allows(principal.role, roles):
        raise PermissionDeniedError(f"the session's role {principal.role!r} may not do this",
                                    hint=f"needs {' or '.join(roles) or 'reader'}")
    return principal


def _key_still_active(request: Request, claims: SessionClaims) -> bool:
    keys = request.app.state.store.list_api_keys()
    return any(k.id == claims.key_id and k.active and k.role == claims.role for k in keys)


def require_role_or_session(*roles: str) -> Callable[..., Principal]:
    """:func:`require_role`, or, on a GET/HEAD with no key sent, the session cookie."""
    check = require_role(*roles)

    def dependency(
        request: Request,
        api_key: Annotated[str | None, Depends(_api_key_header)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    ) -> Principal:
        cookie = request.cookies.get(SESSION_COOKIE)
        sends_key = "x-api-key" in request.headers or "authorization" in request.headers
        if cookie and not sends_key and request.method in SAFE_METHODS:
            return _session_principal(request, cookie, roles)
        return check(request, api_key, bearer)

    dependency.__name__ = f"{check.__name__}_or_session"
    return dependency


def _on_the_loop_without_a_key(check: Callable[..., Principal]) -> Callable[..., Any]:
    """``check`` run on the event loop when no key is presented (it then touches no
    database), in the thread pool otherwise: an anonymous read skips a thread hop."""

    async def dependency(
        request: Request,
        api_key: Annotated[str | None, Depends(_api_key_header)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    ) -> Principal:
        if _presented_key(api_key, bearer) is None:
            return check(request, api_key, bearer)
        return await run_in_threadpool(check, request, api_key, bearer)

    dependency.__name__ = check.__name__
    return dependency


#: A read: public when ``settings.public_reads``, else any valid key.
ReadAccess = Annotated[Principal, Depends(_on_the_loop_without_a_key(require_role()))]
