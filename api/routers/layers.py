"""Uploads: survey layers of a field, declared statistics, and anomaly reports.

An upload is streamed to a private temporary directory under ``state_dir/uploads`` while
its size is counted (413 past ``settings.max_upload_mb``) and its sha256 computed; it is
then validated (:mod:`footprint.io.layers`, :mod:`footprint.declarations`) and only then
stored. Every step that fails removes what the upload created, so a rejected upload
leaves no database row and no file. An identical re-upload (same field, kind and sha256)
answers 200 with the layer already stored instead of 201.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from api.deps import Principal, ReadAccess, SettingsDep, StoreDep, require_role
from api.errors import ERROR_RESPONSES
from api.routers.processes import audit, status_info, submit_job
from footprint.errors import (
    InvalidDeclarationError,
    InvalidLayerError,
    InvalidParameterError,
    NotFoundError,
    NotAcceptableError,
    PayloadTooLargeError,
)
from footprint.settings import Settings

router = APIRouter(tags=["Layers"], responses=ERROR_RESPONSES)
MonitorAccess = Annotated[Principal, Depends(require_role("monitor"))]

LAYER_KINDS = ("dem", "deposits", "mined_areas", "bulk_samples", "pit_logs", "workforce")
#: A zipped upload may expand to at most this many times the upload size limit.
ZIP_EXPANSION_FACTOR = 8
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
@dataclass
class Upload:
    """One uploaded file on disk (in a private temporary directory) and the form fields."""

    path: Path
    filename: str
    size_bytes: int
    sha256: str
    fields: dict[str, str] = field(default_factory=dict)


def safe_filename(name: str) -> str:
    """A file name for the scratch copy: safe characters, at most 100 of them, the
    extension kept (GDAL recognises ``N05W001.hgt`` by its name)."""
    cleaned = _SAFE_NAME.sub("_", name).strip(".") or "upload"
    suffix = Path(cleaned).suffix[:12]
    stem = cleaned[: len(cleaned) - len(suffix)] if suffix else cleaned
    return f"{stem[:100 - len(suffix)] or 'upload'}{suffix}"


async def _limited(stream: AsyncIterator[bytes], max_bytes: int,
                   limit_mb: int) -> AsyncIterator[bytes]:
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

    path = owned_workdir(settings.state_dir / "uploads", UPLOAD_PREFIX)  # swept if we die
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
    created = _get(layer, "created_at")
    bounds = _get(layer, "bounds_4326")
    doc = {
        "id": layer_id, "field_id": field_id, "kind": _get(layer, "kind"),
        "name": _get(layer, "name"), "source": _get(layer, "source"),
        "version": _get(layer, "version"), "year": _get(layer, "year"),
        "sha256": _get(layer, "sha256"), "crs": _get(layer, "crs"),
        "bbox_4326": list(bounds) if bounds is not None else None,
        "n_features": _get(layer, "n_features"),
        "created_at": created.isoformat() if created is not None else None,
        # who uploaded it is in the audit log (admins): key names are not a public read
        "meta": _get(layer, "meta") or {},
        "links": [{"href": str(request.url_for("get_layer", field_id=field_id, layer_id=layer_id)),
                   "rel": "self", "type": "application/json"}],
    }
    if _get(layer, "stac"):
        doc["stac"] = _get(layer, "stac")
    return doc


def _layers_of(store: Any, field_id: str) -> list[Any]:
    return list(store.list_layers(field_id))


def _same_upload(store: Any, field_id: str, kind: str, sha256: str) -> Any | None:
    for layer in store.list_layers(field_id, kind):
        if layer.sha256 == sha256:
            return layer
    return None


# --------------------------------------------------------------------------------------
# ingesting a layer (synchronous; runs in a worker thread)
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


def ingest_layer(store: Any, settings: Settings, field_id: str, upload: Upload, *,
                 kind: str, name: str, year: int | None, actor: str,
                 workdir: Path) -> tuple[Any, bool]:
    """Validate and store one uploaded layer; returns ``(layer, created)``.

    DEM: checked (CRS, georeferencing, nodata, finite values, inside the field), converted
    to a COG at ``state_dir/rasters/<field>/<sha256>.tif`` with a STAC item. Vectors:
    validated per kind and stored as features in EPSG:4326. Nothing stays behind when a
    step fails.
    """
    from datasets.catalogue import get_field
    from footprint.io import layers as layer_io

    field_def = get_field(field_id)
    existing = _same_upload(store, field_id, kind, upload.sha256)
    if existing is not None:
        return existing, False
    if kind == "dem":
        return _ingest_dem(store, settings, field_def, upload, name=name, year=year,
                           actor=actor, workdir=workdir, layer_io=layer_io)
    _check_zip_expansion(upload, settings, workdir, layer_io)
    frame = layer_io.validate_vector_layer(upload.path, kind, field_def)
    frame_4326 = frame.to_crs(4326)
    return store.add_layer(
        field_id, kind, name, upload.sha256, crs=frame.crs.to_string(),
        bounds_4326=tuple(float(v) for v in frame_4326.total_bounds), features=frame_4326,
        year=year, source="upload",
        meta={"filename": upload.filename, "size_bytes": upload.size_bytes,
              "n_features": int(len(frame))},
        actor=actor)


def _check_zip_expansion(upload: Upload, settings: Settings, workdir: Path, layer_io: Any) -> None:
    """Refuse a zip expanding past :data:`ZIP_EXPANSION_FACTOR` x the upload limit (counted
    on the bytes written, by the same safe extraction the validation uses)."""
    with open(upload.path, "rb") as handle:
        if not handle.read(4).startswith(b"PK"):
            return
    limit = min(layer_io.MAX_EXPANDED_BYTES,
                ZIP_EXPANSION_FACTOR * settings.max_upload_mb * 1024 * 1024)
    probe = workdir / "zip-probe"
    try:
        layer_io.safe_extract_zip(upload.path, probe, max_expanded_bytes=limit)
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def _ingest_dem(store: Any, settings: Settings, field_def: Any, upload: Upload, *, name: str,
                year: int | None, actor: str, workdir: Path, layer_io: Any) -> tuple[Any, bool]:
    info = layer_io.validate_dem_upload(upload.path, field_def)
    staged = layer_io.dem_to_cog(upload.path, workdir / "cog.tif")
    rasters = settings.state_dir / "rasters" / field_def.id
    rasters.mkdir(parents=True, exist_ok=True)
    final = rasters / f"dem-{upload.sha256[:16]}.tif"
    relative = str(final.relative_to(settings.state_dir))
    placed_here = not final.exists()
    try:
        if placed_here:
            os.replace(staged, final)  # same file system: atomic
        stac = layer_io.dem_stac_item(final, f"{field_def.id}-dem-{upload.sha256[:16]}",
                                      href=relative, properties={
                                          "title": name, "footprint:field": field_def.id,
                                          "footprint:upload_sha256": upload.sha256})
        bounds, _ = _raster_extent(final)
        meta = {"filename": upload.filename, "size_bytes": upload.size_bytes,
                **{k: v for k, v in info.items() if _jsonable_scalar(v)}}
        return store.add_layer(field_def.id, "dem", name, upload.sha256, crs=info.get("crs"),
                               bounds_4326=bounds, path=relative, year=year,
                               source="upload", stac=stac, meta=meta, actor=actor)
    except BaseException:
        if placed_here:
            final.unlink(missing_ok=True)
        raise


def _jsonable_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, tuple))


def _raster_extent(path: Path) -> tuple[tuple[float, float, float, float], str]:
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as src:
        bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        return tuple(float(v) for v in bounds), src.crs.to_string()


# --------------------------------------------------------------------------------------
# routes: layers
# --------------------------------------------------------------------------------------
@router.post("/fields/{field_id}/layers", status_code=201, openapi_extra=_multipart_body({
    "kind": {"type": "string", "enum": list(LAYER_KINDS)},
    "name": {"type": "string", "maxLength": 200},
    "year": {"type": "integer", "minimum": 1900, "maximum": 2100},
    "rebuild": {"type": "boolean", "default": False,
                "description": "Start a build-footprint job with the new layer."}},
    required=("kind",)),
    responses={200: {"description": "The same file was already uploaded: the stored layer."},
               201: {"description": "Layer stored."},
               413: {"description": "Upload larger than FOOTPRINT_MAX_UPLOAD_MB."}})
async def upload_layer(
    field_id: str, request: Request, store: StoreDep, settings: SettingsDep,
    principal: Annotated[Principal, Depends(require_role("surveyor"))],
) -> JSONResponse:
    """Upload a survey layer (DEM GeoTIFF/.hgt, or GeoJSON/GeoPackage/zipped shapefile
    of deposits, mined_areas, bulk_samples, pit_logs or workforce)."""
    from datasets.catalogue import get_field

    get_field(field_id)  # 404 before reading the body
    with upload_workdir(settings) as workdir:
        upload = await receive_upload(request, settings, workdir)
        kind, name, year, rebuild = _parse_form(upload)
        layer, created = await run_in_threadpool(
            ingest_layer, store, settings, field_id, upload, kind=kind, name=name, year=year,
            actor=principal.name, workdir=workdir)
    body = layer_document(layer, request)
    if created:
        audit(store, request, principal, "upload_layer", f"fields/{field_id}/layers/{body['id']}",
              sha256=upload.sha256, detail={"kind": kind, "name": name, "year": year,
                                            "size_bytes": upload.size_bytes})
    if rebuild:
        from api.processes import get_process

        process = get_process("build-footprint", settings)
        inputs = process.validate_inputs({"field": field_id})
        job, _ = submit_job(request, store, settings, process, inputs, principal.name)
        audit(store, request, principal, "execute", f"jobs/{_get(job, 'id')}",
              detail={"process": process.id, "inputs": inputs, "trigger": f"layer {body['id']}"})
        body["job"] = status_info(store.get_job(_get(job, "id")), request)
    headers = {"Location": body["links"][0]["href"]}
    return JSONResponse(body, status_code=201 if created else 200, headers=headers)


@router.get("/fields/{field_id}/layers")
def list_layers(field_id: str, request: Request, store: StoreDep, _: ReadAccess,
                kind: Annotated[str | None,
                                Query(description="Only layers of this kind.")] = None) -> dict:
    """The layers of a field (uploaded and bundled), newest version last."""
    from datasets.catalogue import get_field

    get_field(field_id)
    layers = [layer_document(layer, request) for layer in _layers_of(store, field_id)
              if kind is None or _get(layer, "kind") == kind]
    return {"layers": layers, "numberReturned": len(layers),
            "links": [{"href": str(request.url), "rel": "self", "type": "application/json"}]}


@router.get("/fields/{field_id}/layers/{layer_id}", name="get_layer")
def get_layer(field_id: str, layer_id: int, request: Request, store: StoreDep,
              _: ReadAccess) -> dict:
    """One layer: kind, version, checksum, extent, STAC item for rasters."""
    for layer in _layers_of(store, field_id):
        if _get(layer, "id") == layer_id:
            return layer_document(layer, request)
    raise NotFoundError(f"field {field_id!r} has no layer {layer_id}")


# --------------------------------------------------------------------------------------
# routes: declared statistics
# --------------------------------------------------------------------------------------
def _ingest_declarations(store: Any, kind: str, upload: Upload, actor: str) -> dict:
    """Validate an uploaded declarations CSV (all-or-nothing) and store its rows."""
    from footprint import declarations

    parse = {"exports": declarations.parse_exports,
             "certificates": declarations.parse_certificates}[kind]
    try:
        frame = parse(upload.path)
    except InvalidDeclarationError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidDeclarationError(f"the {kind} CSV could not be read: {exc}") from None
    stored = frame
    if kind == "certificates":  # stored per exporter and issue date
        stored = frame.assign(participant_iso3=frame["exporter"],
                              period=frame["date"].dt.strftime("%Y-%m-%d"))
    rows_stored = store.add_declarations(kind, stored, source=upload.filename,
                                         sha256=upload.sha256, actor=actor)
    return {"kind": kind, "rows": int(len(frame)), "rows_stored": int(rows_stored),
            "duplicate_upload": rows_stored == 0, "sha256": upload.sha256,
            "participants": sorted(set(stored.get("participant", stored.get("participant_iso3")))),
            "years": sorted({int(y) for y in (frame["year"] if "year" in frame
                                              else frame["date"].dt.year)})}


async def _declarations_upload(kind: str, request: Request, store: Any, settings: Settings,
                               principal: Principal) -> JSONResponse:
    with upload_workdir(settings) as workdir:
        upload = await receive_upload(request, settings, workdir)
        body = await run_in_threadpool(_ingest_declarations, store, kind, upload, principal.name)
    if body["duplicate_upload"]:
        return JSONResponse(body, status_code=200)
    audit(store, request, principal, f"upload_{kind}", f"declarations/{kind}",
          sha256=upload.sha256, detail={"rows": body["rows"], "filename": upload.filename})
    return JSONResponse(body, status_code=201)


@router.post("/declarations/exports", status_code=201, openapi_extra=_multipart_body({}))
async def upload_exports(request: Request, store: StoreDep, settings: SettingsDep,
                         principal: MonitorAccess) -> JSONResponse:
    """Upload export statistics (CSV: participant, period, flow, partner, carats,
    value_usd, source); all-or-nothing validation."""
    return await _declarations_upload("exports", request, store, settings, principal)


@router.post("/declarations/certificates", status_code=201, openapi_extra=_multipart_body({}))
async def upload_certificates(request: Request, store: StoreDep, settings: SettingsDep,
                              principal: MonitorAccess) -> JSONResponse:
    """Upload KP certificate records (CSV: certificate_id, date, exporter, importer,
    carats, value_usd, declared_origin, optional sieve_<class> columns)."""
    return await _declarations_upload("certificates", request, store, settings, principal)


# --------------------------------------------------------------------------------------
# routes: reports
# --------------------------------------------------------------------------------------
_FORMATS = {"json": "application/json", "html": "text/html", "pdf": "application/pdf"}


def _report_format(f: str | None, accept: str | None) -> str:
    """The report format: ``f`` first, else the best of ``Accept`` by q-value (JSON when
    neither says; 406 when ``Accept`` names only formats we cannot give)."""
    if f:
        if f.lower() not in _FORMATS:
            raise InvalidParameterError(f"f must be one of {', '.join(_FORMATS)}, got {f!r}")
        return f.lower()
    if not accept:
        return "json"
    offers = []
    for order, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in params:
            if param.lower().startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if q > 0:
            offers.append((-q, order, media.lower()))
    for _, _, media in sorted(offers):
        if media in ("*/*", "application/*"):
            return "json"
        for name, media_type in _FORMATS.items():
            if media == media_type or (media == "text/*" and name == "html"):
                return name
    raise NotAcceptableError(f"cannot answer with any of: {accept}",
                             hint="ask for application/json, text/html or application/pdf")


@router.get("/participants/{iso3}/report",
            responses={200: {"content": {"application/json": {}, "text/html": {},
                                         "application/pdf": {}},
                             "description": "The anomaly report."}})
def participant_report(
    iso3: Annotated[str, PathParam(pattern="^[A-Za-z]{3}$",
                                   description="ISO3 code of the KP participant.",
                                   examples=["GHA"])],
    request: Request, store: StoreDep, settings: SettingsDep,
    _: Annotated[Principal, Depends(require_role("monitor"))],
    year_from: Annotated[int, Query(alias="from", ge=2003, le=2100)],
    year_to: Annotated[int, Query(alias="to", ge=2003, le=2100)],
    f: Annotated[str | None, Query(description="json, html or pdf (else from Accept).")] = None,
) -> Response:
    """The anomaly report of a participant over a period: JSON, HTML or PDF (`f` or `Accept`)."""
    from api.processes import _jsonable
    from footprint.pipeline.report import stored_report
    from footprint import reports

    if not re.fullmatch(r"[A-Za-z]{3}", iso3):
        raise InvalidParameterError(f"participant must be an ISO3 code, got {iso3!r}")
    if year_from > year_to:
        raise InvalidParameterError("'from' must not be after 'to'")
    fmt = _report_format(f, request.headers.get("accept"))
    report = stored_report(store, settings, iso3, year_from, year_to)
    vary = {"Vary": "Accept"}
    if fmt == "html":
        return HTMLResponse(reports.render_html(report), headers=vary)
    if fmt == "pdf":
        filename = f"report-{iso3.upper()}-{year_from}-{year_to}.pdf"
        with tempfile.TemporaryDirectory(prefix="footprint-pdf-") as tmp:
            pdf = reports.render_pdf(report, Path(tmp) / filename).read_bytes()
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{filename}"', **vary})
    return JSONResponse(_jsonable(report), headers=vary)


__all__ = ["router", "receive_upload", "ingest_layer", "LAYER_KINDS", "Upload"]
