"""Operations: liveness, readiness and the audit log."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.deps import Principal, SettingsDep, StoreDep, require_role
from api.errors import ERROR_RESPONSES
from api.responses import AuditLog, Health, Readiness
from footprint.serialise import iso_timestamp

router = APIRouter(tags=["Operations"])
logger = logging.getLogger("api.ops")


@router.get("/healthz", operation_id="getHealth", response_model=Health,
            responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}})
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


def _database_reachable(store: Any) -> tuple[bool, str | None]:
    from sqlalchemy import text

    try:
        with store.engine.connect() as connection:
            connection.execute(text("SELECT 1")).scalar_one()
    except Exception as exc:  # any driver error means "not ready"
        logger.warning("readiness: database unreachable: %r", exc)
        return False, "database unreachable"
    return True, None


def _storage_check(settings: Any) -> str:
    from footprint.errors import StorageFullError
    from footprint.sweeps import check_free_space

    try:
        check_free_space(settings)
    except StorageFullError:
        return "storage full"
    return "ok"


@router.get("/readyz", operation_id="getReadiness", response_model=Readiness, responses={
    200: {"content": {"application/json": {"example": {
        "status": "ready", "checks": {"database": "ok", "data_dir": "ok", "storage": "ok"}}}}},
    503: {"description": "A dependency is not ready.", "model": Readiness,
          "content": {"application/json": {
        "example": {"status": "not ready", "checks": {"database": "database unreachable",
                                                      "data_dir": "ok",
                                                      "storage": "ok"}}}}}})
def readyz(request: Request, settings: SettingsDep) -> JSONResponse:
    """Readiness: the database answers ``SELECT 1``, the data directory is present and
    the state directory has ``FOOTPRINT_MIN_FREE_MB`` free."""
    store = getattr(request.app.state, "store", None)
    checks: dict[str, str] = {}
    if store is None:
        checks["database"] = "store not opened"
    else:
        ok, problem = _database_reachable(store)
        checks["database"] = "ok" if ok else problem or "error"
    checks["data_dir"] = "ok" if settings.data_dir.is_dir() else "data directory missing"
    checks["storage"] = _storage_check(settings)
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)


def _audit_json(record: Any) -> dict[str, Any]:
    is_instance = dataclasses.is_dataclass(record) and not isinstance(record, type)
    entry = dataclasses.asdict(record) if is_instance else dict(record)
    return {k: iso_timestamp(v) if isinstance(v, dt.datetime) else v for k, v in entry.items()}


@router.get("/audit", operation_id="getAuditLog", response_model=AuditLog,
            response_model_exclude_unset=True,
            responses={**ERROR_RESPONSES, 200: {"content": {"application/json": {
    "example": {"entries": [{"id": 1, "at": "2026-01-01T00:00:00Z", "actor": "usgs-team",
                             "action": "upload-layer", "target": "gh-birim/deposits/1",
                             "sha256": "9f86d081884c7d65...", "detail": {}}]}}}}})
def list_audit(
    _: Annotated[Principal, Depends(require_role("admin"))],
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Entries per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Entries to skip.")] = 0,
) -> dict[str, Any]:
    """The audit log of writes (who, what, when, checksum), newest first; admins only."""
    entries = store.list_audit(limit=limit, offset=offset)
    return {"entries": [_audit_json(e) for e in entries], "limit": limit, "offset": offset}
