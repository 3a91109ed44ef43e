"""The error model of the service: one table from error class to HTTP status.

Every error leaves the service as an OGC API exception body in the RFC 7807
(``application/problem+json``) style that OGC API - Processes uses::

    {"type": "InvalidParameterValue", "title": "Bad Request", "status": 400,
     "detail": "bbox needs 4 numbers", "instance": "/collections/fields/items",
     "request_id": "3f0c..."}

``type`` is the OGC exception code carried by the :class:`footprint.errors.FootprintError`
subclass; ``detail`` is the error's user-safe message. Unexpected exceptions become a 500
with a generic message; their traceback goes to the log only, under the same request id.

Status choices:

- Invalid layers, parameters and declarations are **400** (not 422): OGC API - Features
  and Processes answer ``InvalidParameterValue`` with 400, and FastAPI's own request
  validation errors are rendered the same way so a client sees one code for "your request
  is malformed".
- :class:`~footprint.errors.DataMissingError` is **409**: the request is well formed and
  names existing things, but the input data it needs (a DEM tile, a vector layer) is not
  in the data directory yet; uploading it resolves the conflict. A stored file that should
  exist but does not is a 404 raised as :class:`~footprint.errors.NotFoundError`.
- :class:`~footprint.errors.StorageError` is **503** with ``Retry-After``: the database
  is down or restarting (the service recovers by itself when it is back);
  :class:`~footprint.errors.StorageFullError` is **507** (no space left). Their bodies
  never carry the database URL or a path: that detail goes to the log.
- :class:`~footprint.errors.QuotaExceededError` is **429** with ``Retry-After``: the
  caller's unfinished jobs already use its quota (``FOOTPRINT_MAX_JOBS_PER_KEY``,
  ``FOOTPRINT_MAX_DRAW_FIELDS_PER_KEY``); the message names the limit.
- A full disk met anywhere (GDAL, Parquet, a temporary file) is named by
  :func:`footprint.errors.as_footprint_error`, so it is a 507 and never a bare 500.
"""

from __future__ import annotations

import http
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from footprint.errors import (
    AuthenticationError,
    ConflictError,
    DataMissingError,
    FootprintError,
    InvalidDeclarationError,
    InvalidLayerError,
    InvalidParameterError,
    NotAcceptableError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    QuotaExceededError,
    StorageError,
    StorageFullError,
    as_footprint_error,
    public_text,
)

logger = logging.getLogger("api.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"

#: HTTP status per error class; the nearest class in the MRO wins, else 500.
STATUS_CODES: dict[type[FootprintError], int] = {
    NotFoundError: 404,
    InvalidLayerError: 400,
    InvalidParameterError: 400,
    InvalidDeclarationError: 400,
    ConflictError: 409,
    DataMissingError: 409,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    PayloadTooLargeError: 413,
    NotAcceptableError: 406,
    QuotaExceededError: 429,
    StorageError: 503,
    StorageFullError: 507,
}

#: OGC exception code per status for errors that carry none of their own.
_CODES_BY_STATUS = {
    400: "InvalidParameterValue",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
    503: "StorageUnavailable",
    507: "InsufficientStorage",
}


class Problem(BaseModel):
    """An OGC API exception (RFC 7807 problem details)."""

    type: str = Field(description="OGC exception code, e.g. InvalidParameterValue or NotFound.",
                      examples=["InvalidParameterValue"])
    title: str = Field(description="Short summary of the HTTP status.", examples=["Bad Request"])
    status: int = Field(description="HTTP status code.", examples=[400])
    detail: str = Field(description="User-safe explanation of what went wrong.",
                        examples=["bbox needs 4 or 6 comma-separated numbers"])
    instance: str | None = Field(default=None, description="Path of the request.",
                                 examples=["/collections/fields/items"])
    request_id: str | None = Field(default=None, description="Id of the request in the logs.",
                                   examples=["7f1c2a9e4b8d4c0e9a1b2c3d4e5f6a7b"])


def _problem_example(status: int, detail: str) -> dict[str, Any]:
    return {"type": _CODES_BY_STATUS.get(status, "NoApplicableCode"),
            "title": http.HTTPStatus(status).phrase, "status": status, "detail": detail,
            "instance": "/collections/fields/items",
            "request_id": "7f1c2a9e4b8d4c0e9a1b2c3d4e5f6a7b"}


def _problem_response(status: int, detail: str) -> dict[str, Any]:
    return {"description": http.HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"},
                                             "example": _problem_example(status, detail)}}}


#: Error responses every route documents (FastAPI ``responses=``).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem_response(400, "bbox needs 4 or 6 comma-separated numbers"),
    401: _problem_response(401, "an API key is required"),
    403: _problem_response(403, "the key's role 'reader' may not do this"),
    404: _problem_response(404, "collection 'deposits-xx' not found"),
    409: _problem_response(409, "the input data this needs is not in the data directory "
                                "yet, or the request conflicts with stored data"),
    500: _problem_response(500, "internal server error"),
    503: {**_problem_response(503, "cannot reach the database (check FOOTPRINT_DATABASE_URL "
                                   "and that the server is running)"),
          "headers": {"Retry-After": {"description": "Seconds to wait before trying again.",
                                      "schema": {"type": "integer"}}}},
    507: {**_problem_response(507, "storage full: the server has no space left to store this"),
          "headers": {"Retry-After": {"description": "Seconds to wait before trying again.",
                                      "schema": {"type": "integer"}}}},
}


#: The answer of a write that starts a job when the caller's quota is used up.
QUOTA_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {**_problem_response(429, "quota exceeded: 4 unfinished jobs already (the limit, "
                                   "FOOTPRINT_MAX_JOBS_PER_KEY); try again when one ends"),
          "headers": {"Retry-After": {"description": "Seconds to wait before trying again.",
                                      "schema": {"type": "integer"}}}},
}


def status_for(error: BaseException) -> int:
    """HTTP status of ``error``: its nearest class's entry in :data:`STATUS_CODES`, else 500."""
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


def request_id_of(request: Request) -> str | None:
    """The request id the middleware stored on ``request.state``, or None if there is none."""
    return getattr(request.state, "request_id", None)


def problem_json(status: int, detail: str, *, code: str | None = None,
                 instance: str | None = None, request_id: str | None = None,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    """An OGC exception response with ``status`` and the user-safe ``detail``."""
    body = Problem(type=code or _CODES_BY_STATUS.get(status, "NoApplicableCode"),
                   title=http.HTTPStatus(status).phrase, status=status, detail=detail,
                   instance=instance, request_id=request_id)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status,
                        media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def footprint_error_response(exc: FootprintError, path: str | None,
                             request_id: str | None, settings: Any = None) -> JSONResponse:
    """The OGC exception for ``exc``: status from the table, its user-safe message (server
    directories hidden when ``settings`` are given), and ``Retry-After`` for transient
    errors. ``exc.detail`` goes to the log only."""
    status = status_for(exc)
    if status >= 500:
        logger.error("footprint error on %s: %s", path, exc,
                     exc_info=exc if status == 500 else None,
                     extra={"request_id": request_id, "detail": exc.detail,
                            "error": type(exc).__name__})
    elif exc.detail:
        logger.info("%s on %s: %s", type(exc).__name__, path, exc.detail,
                    extra={"request_id": request_id})
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer, ApiKey header="X-API-Key"'
    if exc.retry_after_s is not None and (status >= 500 or status == 429):
        headers["Retry-After"] = str(int(exc.retry_after_s))
    code = exc.code if exc.code != "NoApplicableCode" else None
    text = settings.public_text(str(exc)) if settings is not None else public_text(str(exc), {})
    return problem_json(status, text, code=code, instance=path,
                        request_id=request_id, headers=headers or None)


async def _footprint_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FootprintError)
    named = as_footprint_error(exc) or exc
    return footprint_error_response(named, request.url.path, request_id_of(request),
                                    getattr(request.app.state, "settings", None))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else http.HTTPStatus(exc.status_code).phrase
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:  # every method of every route on the path, not the first's
        from api.guards import allowed_methods

        methods = allowed_methods(request.scope)
        if methods:
            headers["Allow"] = ", ".join(sorted(methods))
    return problem_json(exc.status_code, detail, instance=request.url.path,
                        request_id=request_id_of(request), headers=headers or None)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", ""))
    return "; ".join(parts) or "invalid request"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_json(400, _describe_validation(exc), instance=request.url.path,
                        request_id=request_id_of(request))


def internal_error_response(request_id: str | None, path: str | None,
                            error: BaseException | None = None) -> JSONResponse:
    """The response for an exception no handler claimed: a named one (a full disk is a
    507) when :func:`footprint.errors.as_footprint_error` knows it, else a 500 with no
    detail beyond the request id."""
    named = as_footprint_error(error) if error is not None else None
    if named is not None:
        return footprint_error_response(named, path, request_id)
    return problem_json(500, "internal server error; quote the request id when reporting it",
                        instance=path, request_id=request_id)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as an OGC exception (unexpected ones are caught by the middleware)."""
    app.add_exception_handler(FootprintError, _footprint_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
