"""Monitor sign-in for the browser: one form POST with the key, then a session cookie.

``POST /session`` takes the key in a form body (never in a URL), checks it and sets
``footprint_session``: signed, expiring (``api.session.SESSION_TTL_S``), HttpOnly,
SameSite=Strict and Secure when the service is reached over HTTPS. The cookie then opens
reports (``GET /participants/{iso3}/report``) in the browser; it authorises no write.
``GET /session`` says who is signed in; ``POST /session/sign-out`` (or
``DELETE /session``) clears the cookie.

A sign-in from another site's page (an ``Origin`` header that is not this service) is
refused, so no page can sign a visitor in under someone else's key.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import SettingsDep, StoreDep
from api.errors import ERROR_RESPONSES
from api.session import (
    SESSION_COOKIE,
    SESSION_ROLES,
    SESSION_TTL_S,
    new_session,
    sign_session,
    verify_session,
)
from footprint.errors import AuthenticationError, PermissionDeniedError

router = APIRouter(tags=["Session"], responses=ERROR_RESPONSES)


class SessionState(BaseModel):
    """Who the session cookie belongs to; only ``signed_in`` when there is none."""

    signed_in: bool
    name: str | None = None
    role: str | None = None
    expires_at: str | None = None


KeyForm = Annotated[str, Form(min_length=1, max_length=512, description="The API key.",
                              json_schema_extra={"format": "password"})]
NextForm = Annotated[str, Form(max_length=500, description=(
    "Where to go after signing in: a path of this service (default the map)."))]


def _cookie_path(request: Request) -> str:
    return (request.scope.get("root_path") or "").rstrip("/") + "/"


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:  # not sent by a browser form of another site
        return True
    parts = urlsplit(origin)
    return (parts.scheme, parts.netloc) == (request.url.scheme, request.url.netloc)


def _safe_next(target: str) -> str:
    """A relative path of this service; anything else (another host, a scheme) is the map."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "map"
    return target.lstrip("/") or "map"


def _wants_json(request: Request) -> bool:
    return "application/json" in (request.headers.get("accept") or "")


def _session_document(claims: Any) -> dict[str, Any]:
    if claims is None:
        return {"signed_in": False}
    expires = dt.datetime.fromtimestamp(claims.expires_s, tz=dt.UTC)
    return {"signed_in": True, "name": claims.name, "role": claims.role,
            "expires_at": expires.isoformat()}


@router.post("/session", status_code=303, operation_id="signIn", response_class=RedirectResponse,
             responses={303: {"description": "Signed in; back to `next` with the cookie."},
                        200: {"description": "Signed in (when JSON is accepted).",
                              "content": {"application/json": {"schema": {
                                  "$ref": "#/components/schemas/SessionState"}}}}})
async def sign_in(request: Request, store: StoreDep, settings: SettingsDep, key: KeyForm,
                  next: NextForm = "/map") -> Response:
    """Sign in with an API key (form POST): sets the monitor's session cookie."""
    if not _same_origin(request):
        raise PermissionDeniedError("sign-in from another site is refused")
    record = await run_in_threadpool(store.verify_api_key, key.strip())
    if record is None:
        raise AuthenticationError("unknown or revoked API key")
    request.state.actor = record.name
    if record.role not in SESSION_ROLES:
        raise PermissionDeniedError(f"the key's role {record.role!r} may not sign in",
                                    hint="sessions are for monitor keys")
    claims = new_session(record.id, record.name, record.role)
    response: Response = (JSONResponse(_session_document(claims)) if _wants_json(request)
                          else RedirectResponse(_safe_next(next), status_code=303))
    token = sign_session(claims, settings.secret_key.get_secret_value())
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_TTL_S,
                        path=_cookie_path(request), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.get("/session", operation_id="getSession", response_model=SessionState,
            response_model_exclude_none=True)
def who_is_signed_in(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """Who is signed in with the session cookie (``signed_in: false`` if no one)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    claims = verify_session(cookie, settings.secret_key.get_secret_value()) if cookie else None
    return _session_document(claims)


def _signed_out(request: Request, response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE, path=_cookie_path(request), httponly=True,
                           samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/session/sign-out", status_code=303, operation_id="signOut",
             response_class=RedirectResponse,
             responses={303: {"description": "Signed out; back to the map."},
                        200: {"description": "Signed out (when JSON is accepted).",
                              "content": {"application/json": {"schema": {
                                  "$ref": "#/components/schemas/SessionState"}}}}})
def sign_out(request: Request) -> Response:
    """Sign out (form POST): clears the session cookie."""
    if _wants_json(request):
        return _signed_out(request, JSONResponse({"signed_in": False}))
    return _signed_out(request, RedirectResponse("../map", status_code=303))


@router.delete("/session", status_code=204, operation_id="endSession")
def end_session(request: Request) -> Response:
    """Sign out: clears the session cookie."""
    return _signed_out(request, Response(status_code=204))
