"""ASGI guards that run before any route: body limits, credentials on writes, headers.

They sit outside FastAPI's routing so that nothing is read, parsed or authenticated
before they have said yes:

:class:`RequestLimitsMiddleware`
    refuses a body larger than its limit (413) from ``Content-Length`` before reading a
    byte, and stops a chunked body the moment it passes the limit; refuses a write (POST,
    PUT, PATCH, DELETE) that carries no credential at all (401) before reading its body.
    The limit is ``settings.max_upload_mb`` for ``multipart/form-data`` (uploads) and
    ``settings.max_json_kb`` for every other body. A write is refused with 507 when
    the state directory has less than ``settings.min_free_mb`` free. A key that is sent
    is checked by the route's dependency as before (:mod:`api.deps`).
:class:`SecurityHeadersMiddleware`
    ``X-Content-Type-Options``, ``X-Frame-Options``, ``Referrer-Policy`` and a
    ``Content-Security-Policy`` forbidding framing on every response.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import footprint_error_response, problem_json
from footprint.errors import StorageFullError
from footprint.settings import Settings
from footprint.sweeps import check_free_space

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
#: writes that carry no credential header by design: the monitor's sign-in form (the key
#: is in its body) and sign-out (api/routers/session.py); the body limit still applies
_NO_HEADER_CREDENTIAL_PATHS = frozenset({"/session", "/session/sign-out"})
#: multipart framing and the small form fields beside the file
_MULTIPART_OVERHEAD_BYTES = 1 << 20


class _BodyTooLarge(Exception):
    pass


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def has_credential(scope: Scope) -> bool:
    """Whether the request carries any credential header (even an empty or bad one:
    :mod:`api.deps` answers those with a precise 401)."""
    return any(key in (b"x-api-key", b"authorization") for key, _ in scope.get("headers", ()))


def allowed_methods(scope: Scope) -> set[str]:
    """The methods the application's routes accept on this request's path."""
    from starlette.routing import Match

    routes = getattr(getattr(scope.get("app"), "router", None), "routes", ())
    return {method for method in _METHODS
            if any(route.matches({**scope, "method": method})[0] == Match.FULL
                   for route in routes)}


class RequestLimitsMiddleware:
    """Body size and credentials checked before the body is read (see the module)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.upload_limit = settings.max_upload_mb * (1 << 20) + _MULTIPART_OVERHEAD_BYTES
        self.upload_limit_mb = settings.max_upload_mb
        self.body_limit = settings.max_json_kb * 1024
        self.body_limit_kb = settings.max_json_kb

    def _limit(self, scope: Scope) -> tuple[int, str]:
        content_type = (_header(scope, b"content-type") or "").lower()
        if content_type.startswith("multipart/form-data"):
            return self.upload_limit, (f"upload larger than the limit of {self.upload_limit_mb} "
                                       "MB (FOOTPRINT_MAX_UPLOAD_MB sets the limit)")
        return self.body_limit, (f"request body larger than the limit of {self.body_limit_kb} "
                                 "kB (FOOTPRINT_MAX_JSON_KB sets the limit)")

    def _refusal(self, scope: Scope, limit: int, message: str) -> Response | None:
        """The answer to a write refused before its body is read, or None to go on."""
        path = scope.get("path")
        request_id = scope.get("state", {}).get("request_id")
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                return problem_json(400, "Content-Length is not a number", instance=path,
                                    request_id=request_id)
            if int(declared) > limit:
                return _too_large(message, scope)
        try:
            check_free_space(self.settings)
        except StorageFullError as exc:
            return footprint_error_response(exc, path, request_id)
        if (not has_credential(scope) and path not in _NO_HEADER_CREDENTIAL_PATHS
                and scope.get("method") in allowed_methods(scope)):
            return problem_json(401, "an API key is required", code="Unauthorized",
                                instance=path, request_id=request_id,
                                headers={"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"',
                                         "Connection": "close"})
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse, or run the app with a receive that stops at the limit."""
        if scope["type"] != "http" or scope.get("method") not in _WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        limit, message = self._limit(scope)
        refusal = self._refusal(scope, limit, message)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        counter = _BodyCounter(receive, send, limit)
        try:
            await self.app(scope, counter.receive, counter.send)
        except _BodyTooLarge:
            pass
        except Exception:
            if not counter.exceeded:
                raise
        if counter.exceeded and not counter.started:
            await _too_large(message, scope)(scope, receive, send)


class _BodyCounter:
    """``receive`` that raises once ``limit`` bytes have come in, and ``send`` that drops
    the app's own answer to the body it could not finish reading."""

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive, self._send, self.limit = receive, send, limit
        self.received, self.exceeded, self.started = 0, False, False

    async def receive(self) -> Message:
        if self.exceeded:
            raise _BodyTooLarge
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.exceeded = True
                raise _BodyTooLarge
        return message

    async def send(self, message: Message) -> None:
        if self.exceeded:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


def _too_large(message: str, scope: Scope) -> Response:
    return problem_json(413, message, code="PayloadTooLarge", instance=scope.get("path"),
                        request_id=scope.get("state", {}).get("request_id"),
                        headers={"Connection": "close"})


#: Sent on every response (the map page sets its own script policy in a meta tag).
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
