"""Uploads: survey layers of a field, declared statistics, and anomaly reports.

An upload is streamed to a private temporary directory under ``state_dir/uploads`` while
its size is counted (413 past ``settings.max_upload_mb``) and its sha256 computed; it is
then validated (:mod:`footprint.io.layers`, :mod:`footprint.declarations`) and only then
stored. Every step that fails removes what the upload created, so a rejected upload
leaves no database row and no file. An identical re-upload (same field, kind and sha256)
answers 200 with the layer already stored instead of 201.

``DELETE /fields/{id}/layers/{layer_id}`` **retires** a layer: it stays stored (features,
file, checksum) for the provenance of the versions built with it, with an audit entry,
but the next build no longer reads it. Uploading the same file again brings it back.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from api.deps import (
    Principal,
    ReadAccess,
    SettingsDep,
    StoreDep,
    request_audit,
    require_role,
    require_role_or_session,
)
from api.errors import ERROR_RESPONSES, QUOTA_RESPONSES
from api.jobs import status_info, submit_job
from api.negotiation import negotiate
from api.processes import check_quota, get_process
from api.responses import (
    AnomalyReport,
    DeclarationsUpload,
    LayerDocument,
    LayerList,
    RetiredLayer,
    UploadedLayer,
)
from footprint.catalogue import get_field
from footprint.errors import (
    InvalidLayerError,
    InvalidParameterError,
    NotFoundError,
    PayloadTooLargeError,
)
from footprint.serialise import iso_timestamp, to_jsonable
from footprint.services import reports as report_service
from footprint.services.declarations import ingest_declarations
from footprint.services.layers import UPLOAD_KINDS as LAYER_KINDS
from footprint.services.layers import ingest_layer
from footprint.services.uploads import Upload
from footprint.settings import Settings

router = APIRouter(tags=["Layers"], responses=ERROR_RESPONSES)
MonitorAccess = Annotated[Principal, Depends(require_role("monitor"))]

#: Room for multipart headers and the small form fields beyond the file itself.
_FORM_OVERHEAD_BYTES = 64 * 1024
_CHUNK = 1 << 20
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _multipart_body(fields: dict[str, dict], required: tuple[str, ...] = ()) -> dict:
    """OpenAPI request body of a multipart upload (the route parses the stream itself)."""
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file", *required], "properties": {
            "file": {"type": "string", "format": "binary"}, **fields}}}}}}


# --------------------------------------------------------------------------------------
# streaming the upload to disk
# --------------------------------------------------------------------------------------
def safe_filename(name: str) -> str:
    """A file name for the scratch copy: safe characters, at most 100 of them, the
    extension kept (GDAL recognises ``N05W001.hgt`` by its name)."""
    cleaned = _SAFE_NAME.sub("_", name).strip(".") or "upload"
    suffix = Path(cleaned).suffix[:12]
    stem = cleaned[: len(cleaned) - len(suffix)] if suffix else cleaned
    return f"{stem[:100 - len(suffix)] or 'upload'}{suffix}"


async def _limited(stream: AsyncIterator[bytes], max_bytes: int,
                   limit_mb: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > max_bytes:
            raise PayloadTooLargeError.for_limit(limit_mb)
        yield chunk


async def receive_upload(request: Request, settings: Settings, workdir: Path) -> Upload:
    """Stream the multipart body's ``file`` part into ``workdir``, counting and hashing.

    The body is refused with 413 as soon as more than ``settings.max_upload_mb`` (plus a
    little for the form) has arrived, and before reading when ``Content-Length`` says so.
    """
    limit_bytes = settings.max_upload_mb * 1024 * 1024
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit_bytes + _FORM_OVERHEAD_BYTES:
        raise PayloadTooLargeError.for_limit(settings.max_upload_mb)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise HTTPException(415, "send the upload as multipart/form-data with a 'file' part")
    parser = MultiPartParser(request.headers, _limited(request.stream(),
                                                        limit_bytes + _FORM_OVERHEAD_BYTES,
                                                        settings.max_upload_mb),
                             max_files=1, max_fields=16)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidParameterError(f"malformed multipart body: {exc.message}") from None
    try:
        part = form.get("file")
        if part is None or isinstance(part, str):
            raise InvalidParameterError("the upload needs a 'file' part")
        filename = Path(part.filename or "upload").name
        target = workdir / safe_filename(filename)
        digest, size = hashlib.sha256(), 0
        with open(target, "wb") as out:
            while chunk := await part.read(_CHUNK):
                size += len(chunk)
                if size > limit_bytes:
                    raise PayloadTooLargeError.for_limit(settings.max_upload_mb)
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise InvalidLayerError("the uploaded file is empty")
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        return Upload(target, filename, size, digest.hexdigest(), fields)
    finally:
        await form.close()


@contextlib.contextmanager
def upload_workdir(settings: Settings) -> Iterator[Path]:
    """A private temporary directory under ``state_dir/uploads``, removed afterwards."""
    from footprint.sweeps import UPLOAD_PREFIX, owned_workdir

    path = owned_workdir(settings.state.uploads, UPLOAD_PREFIX)  # swept if we die
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------------------
# representations
# --------------------------------------------------------------------------------------
def _get(record: Any, name: str, default: Any = None) -> Any:
    if isinstance(record, dict):
        return record.get(name, default)
    return getattr(record, name, default)


def layer_document(layer: Any, request: Request) -> dict[str, Any]:
    """A layer as JSON (no features; they are served by the Features collections)."""
    field_id, layer_id = _get(layer, "field_id"), _get(layer, "id")
    bounds = _get(layer, "bounds_4326")
    doc = {
        "id": layer_id, "field_id": field_id, "kind": _get(layer, "kind"),
        "name": _get(layer, "name"), "source": _get(layer, "source"),
        "version": _get(layer, "version"), "year": _get(layer, "year"),
        "sha256": _get(layer, "sha256"), "crs": _get(layer, "crs"),
        "bbox_4326": list(bounds) if bounds is not None else None,
        "n_features": _get(layer, "n_features"),
        "created_at": iso_timestamp(_get(layer, "created_at")),
        # who uploaded it is in the audit log (admins): key names are not a public read
        "meta": _get(layer, "meta") or {},
        "active": _get(layer, "retired_at") is None,
        "retired_at": iso_timestamp(_get(layer, "retired_at")),
        "retired_by": _get(layer, "retired_by"),
        "links": [{"href": str(request.url_for("get_layer", field_id=field_id, layer_id=layer_id)),
                   "rel": "self", "type": "application/json"}],
    }
    if _get(layer, "stac"):
        doc["stac"] = _get(layer, "stac")
    return doc


def _layers_of(store: Any, field_id: str) -> list[Any]:
    return list(store.list_layers(field_id, include_retired=True))


# --------------------------------------------------------------------------------------
# the form of a layer upload
# --------------------------------------------------------------------------------------
def _parse_form(upload: Upload) -> tuple[str, str, int | None, bool]:
    kind = (upload.fields.get("kind") or "").strip()
    if kind not in LAYER_KINDS:
        raise InvalidParameterError(f"'kind' must be one of {', '.join(LAYER_KINDS)}",
                                    hint=f"got {kind!r}")
    name = (upload.fields.get("name") or "").strip() or upload.filename
    year_text = (upload.fields.get("year") or "").strip()
    year = None
    if year_text:
        if not re.fullmatch(r"\d{4}", year_text) or not 1900 <= int(year_text) <= 2100:
            raise InvalidParameterError(
                f"'year' must be a year between 1900 and 2100, got {year_text!r}")
        year = int(year_text)
    rebuild_text = (upload.fields.get("rebuild") or "false").strip().lower()
    if rebuild_text not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise InvalidParameterError(f"'rebuild' must be true or false, got {rebuild_text!r}")
    return kind, name[:200], year, rebuild_text in ("true", "1", "yes", "on")


# --------------------------------------------------------------------------------------
# routes: layers
# --------------------------------------------------------------------------------------
@router.post("/fields/{field_id}/layers", status_code=201, operation_id="uploadLayer",
             response_model=UploadedLayer, openapi_extra=_multipart_body({
    "kind": {"type": "string", "enum": list(LAYER_KINDS)},
    "name": {"type": "string", "maxLength": 200},
    "year": {"type": "integer", "minimum": 1900, "maximum": 2100},
    "rebuild": {"type": "boolean", "default": False,
                "description": "Start a build-footprint job with the new layer."}},
    required=("kind",)),
    responses={200: {"model": UploadedLayer,
                     "description": "The same file was already uploaded: the stored layer."},
               201: {"description": "Layer stored."},
               413: {"description": "Upload larger than FOOTPRINT_MAX_UPLOAD_MB."},
               **QUOTA_RESPONSES})
async def upload_layer(
    field_id: str, request: Request, store: StoreDep, settings: SettingsDep,
    principal: Annotated[Principal, Depends(require_role("surveyor"))],
) -> JSONResponse:
    """Upload a survey layer (DEM GeoTIFF/.hgt, or GeoJSON/GeoPackage/zipped shapefile
    of deposits, mined_areas, bulk_samples, pit_logs or workforce)."""
    get_field(field_id)  # 404 before reading the body
    with upload_workdir(settings) as workdir:
        upload = await receive_upload(request, settings, workdir)
        kind, name, year, rebuild = _parse_form(upload)
        ingested = await run_in_threadpool(
            ingest_layer, store, upload, field_id=field_id, kind=kind, name=name, year=year,
            audit=request_audit(request, principal), state=settings.state,
            max_upload_mb=settings.max_upload_mb,
            workdir=workdir)
    layer, created = ingested.layer, ingested.created
    body = layer_document(layer, request)
    if rebuild:
        process = get_process("build-footprint", settings)
        inputs = process.validate_inputs({"field": field_id})
        admit = check_quota(store, settings, principal, process, inputs)
        job, _ = submit_job(request, store, settings, process, inputs,
                            request_audit(request, principal, trigger=f"layer {body['id']}"),
                            admit=admit)
        body["job"] = status_info(store.get_job(_get(job, "id")), request)
    headers = {"Location": body["links"][0]["href"]}
    return JSONResponse(body, status_code=201 if created else 200, headers=headers)


@router.get("/fields/{field_id}/layers", operation_id="getLayers", response_model=LayerList,
            response_model_exclude_unset=True)
def list_layers(field_id: str, request: Request, store: StoreDep, _: ReadAccess,
                kind: Annotated[str | None,
                                Query(description="Only layers of this kind.")] = None) -> dict:
    """The layers of a field (uploaded and bundled), newest version last."""
    get_field(field_id)
    layers = [layer_document(layer, request) for layer in _layers_of(store, field_id)
              if kind is None or _get(layer, "kind") == kind]
    return {"layers": layers, "numberReturned": len(layers),
            "links": [{"href": str(request.url), "rel": "self", "type": "application/json"}]}


@router.get("/fields/{field_id}/layers/{layer_id}", name="get_layer", operation_id="getLayer",
            response_model=LayerDocument, response_model_exclude_unset=True)
def get_layer(field_id: str, layer_id: int, request: Request, store: StoreDep,
              _: ReadAccess) -> dict:
    """One layer: kind, version, checksum, extent, STAC item for rasters."""
    for layer in _layers_of(store, field_id):
        if _get(layer, "id") == layer_id:
            return layer_document(layer, request)
    raise NotFoundError(f"field {field_id!r} has no layer {layer_id}")


@router.delete("/fields/{field_id}/layers/{layer_id}", operation_id="retireLayer",
               response_model=RetiredLayer, response_model_exclude_unset=True,
               responses={200: {"description": "The layer, retired (or already retired)."}})
def retire_layer(
    field_id: str, layer_id: int, request: Request, store: StoreDep,
    principal: Annotated[Principal, Depends(require_role("surveyor"))],
    reason: Annotated[str | None, Query(max_length=500,
                                        description="Why the layer is retired (audited).")] = None,
) -> dict:
    """Retire a layer: kept for the provenance of old versions, left out of new builds."""
    get_field(field_id)
    layer, retired = store.retire_layer(
        layer_id, audit=request_audit(request, principal), field_id=field_id, reason=reason)
    body = layer_document(layer, request)
    body["retired_now"] = retired
    return body


# --------------------------------------------------------------------------------------
# routes: declared statistics
# --------------------------------------------------------------------------------------
async def _declarations_upload(kind: str, request: Request, store: Any, settings: Settings,
                               principal: Principal) -> JSONResponse:
    with upload_workdir(settings) as workdir:
        upload = await receive_upload(request, settings, workdir)
        body = await run_in_threadpool(ingest_declarations, store, upload, kind=kind,
                                       audit=request_audit(request, principal))
    return JSONResponse(body, status_code=200 if body["duplicate_upload"] else 201)


@router.post("/declarations/exports", status_code=201, operation_id="uploadExports",
             response_model=DeclarationsUpload, openapi_extra=_multipart_body({}),
             responses={200: {"model": DeclarationsUpload,
                              "description": "The same file was already uploaded."}})
async def upload_exports(request: Request, store: StoreDep, settings: SettingsDep,
                         principal: MonitorAccess) -> JSONResponse:
    """Upload export statistics (CSV: participant, period, flow, partner, carats,
    value_usd, source); all-or-nothing validation."""
    return await _declarations_upload("exports", request, store, settings, principal)


@router.post("/declarations/certificates", status_code=201, operation_id="uploadCertificates",
             response_model=DeclarationsUpload, openapi_extra=_multipart_body({}),
             responses={200: {"model": DeclarationsUpload,
                              "description": "The same file was already uploaded."}})
async def upload_certificates(request: Request, store: StoreDep, settings: SettingsDep,
                              principal: MonitorAccess) -> JSONResponse:
    """Upload KP certificate records (CSV: certificate_id, date, exporter, importer,
    carats, value_usd, declared_origin, optional sieve_<class> columns)."""
    return await _declarations_upload("certificates", request, store, settings, principal)


# --------------------------------------------------------------------------------------
# routes: reports
# --------------------------------------------------------------------------------------
_FORMATS = report_service.REPORT_FORMATS


@router.get("/participants/{iso3}/report", operation_id="getParticipantReport",
            response_model=AnomalyReport,
            responses={200: {"content": {"application/json": {},
                                         "text/html": {"schema": {"type": "string"}},
                                         "application/pdf": {"schema": {
                                             "type": "string", "format": "binary"}}},
                             "description": "The anomaly report."}})
def participant_report(
    iso3: Annotated[str, PathParam(pattern="^[A-Za-z]{3}$",
                                   description="ISO3 code of the KP participant.",
                                   examples=["GHA"])],
    request: Request, store: StoreDep, settings: SettingsDep,
    # a monitor's browser session (signed cookie) opens the report too: a GET only
    _: Annotated[Principal, Depends(require_role_or_session("monitor"))],
    year_from: Annotated[int, Query(alias="from", ge=2003, le=2100)],
    year_to: Annotated[int, Query(alias="to", ge=2003, le=2100)],
    f: Annotated[str | None, Query(description="json, html or pdf (else from Accept).")] = None,
    version: Annotated[str | None, Query(
        max_length=500, description="Pin footprint versions: N (a participant with one "
                                    "field) or FIELD:N[,FIELD:N]; default the latest.")] = None,
) -> Response:
    """The anomaly report of a participant over a period: JSON, HTML or PDF (`f` or `Accept`)."""
    if not re.fullmatch(r"[A-Za-z]{3}", iso3):
        raise InvalidParameterError(f"participant must be an ISO3 code, got {iso3!r}")
    if year_from > year_to:
        raise InvalidParameterError("'from' must not be after 'to'")
    fmt = negotiate(f, request.headers.get("accept"), _FORMATS)
    report = report_service.make_report(store, settings, iso3, year_from, year_to,
                                        version=version)
    vary = {"Vary": "Accept"}
    if fmt == "html":
        return HTMLResponse(report_service.render_report(report, "html", ""), headers=vary)
    if fmt == "pdf":
        filename = f"report-{iso3.upper()}-{year_from}-{year_to}.pdf"
        return Response(report_service.render_report(report, "pdf", filename),
                        media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{filename}"', **vary})
    return JSONResponse(to_jsonable(report), headers=vary)


__all__ = ["router", "receive_upload", "ingest_layer", "LAYER_KINDS", "Upload"]
