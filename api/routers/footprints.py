"""Fields and their footprint versions: summaries, parameters, provenance, draws, rasters.

Stored paths (draws table, COG rasters) are relative to ``settings.state_dir``; a path
that resolves outside it (``..``, an absolute path elsewhere, a symlink out) is refused
as if it did not exist, so a corrupted row can never serve an arbitrary file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, StreamingResponse

from api.deps import ReadAccess, SettingsDep, StoreDep
from api.errors import ERROR_RESPONSES
from api.ogc import link
from api.responses import (
    FieldDocument,
    FieldList,
    FootprintComparison,
    FootprintDocument,
    FootprintList,
    RasterValue,
)
from footprint.catalogue import FieldDefinition, get_field, load_catalogue
from footprint.errors import InvalidParameterError, NotFoundError
from footprint.serialise import iso_timestamp
from footprint.settings import Settings

router = APIRouter(tags=["Footprints"], responses=ERROR_RESPONSES)

COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
#: OpenAPI content of a file download (raw bytes)
BINARY = {"schema": {"type": "string", "format": "binary"}}

FieldId = Annotated[str, PathParam(description="Field id of the catalogue.", examples=["gh-birim"])]
VersionQuery = Annotated[int | None, Query(ge=1, le=2**31 - 1,
                                           description="Footprint version; default the latest.")]


def _raster_names(rasters: Any) -> list[str]:
    return sorted(rasters or {})


def footprint_summary(record: Any, base: str) -> dict[str, Any]:
    """The short description of a footprint version (for lists)."""
    url = f"{base}/fields/{record.field_id}/footprint?version={record.version}"
    return {
        "field_id": record.field_id,
        "version": record.version,
        "created_at": iso_timestamp(record.created_at),
        "status": getattr(record, "status", None),
        "seed": record.seed,
        "n_draws": record.n_draws,
        "n_deposits": getattr(record, "n_deposits", None),
        "code_version": record.code_version,
        "links": [link(url, "self", "application/json", f"footprint version {record.version}")],
    }


def footprint_document(record: Any, base: str) -> dict[str, Any]:
    """A footprint version in full: summaries, parameters, provenance and download links."""
    field_url = f"{base}/fields/{record.field_id}"
    doc = footprint_summary(record, base)
    doc.update({
        "sheet_sha256": getattr(record, "sheet_sha256", None),
        "summaries": record.summaries,
        "parameters": record.parameters,
        "provenance": record.provenance,
        "rasters": _raster_names(record.rasters),
        # the Sobol table of the version (also in summaries), for readers looking for it
        "sensitivity": (record.summaries or {}).get("sensitivity"),
        "inputs_sha256": getattr(record, "inputs_sha256", None),
    })
    version = f"?version={record.version}"
    links = doc["links"]
    links.append(link(f"{base}/collections/deposits-{record.field_id}/items{version}", "items",
                      "application/geo+json", "deposits of this version"))
    if record.draws_path:
        links.append(link(f"{field_url}/footprint/draws{version}&format=parquet", "enclosure",
                          PARQUET_MEDIA_TYPE, "Monte Carlo draws (Parquet)"))
        links.append(link(f"{field_url}/footprint/draws{version}&format=csv", "enclosure",
                          "text/csv", "Monte Carlo draws (CSV)"))
    for name in _raster_names(record.rasters):
        links.append(link(f"{field_url}/footprint/rasters/{name}{version}", "enclosure",
                          COG_MEDIA_TYPE, f"raster {name} (COG)"))
    return doc


def _field_document(field: FieldDefinition, latest: Any, base: str) -> dict[str, Any]:
    url = f"{base}/fields/{field.id}"
    links: list[dict[str, Any]] = [
        link(url, "self", "application/json", field.name),
        link(f"{url}/footprints", "version-history", "application/json", "footprint versions"),
        link(f"{base}/collections/fields/items/{field.id}", "alternate",
             "application/geo+json", "area of interest"),
    ]
    if latest is not None:
        links.append(link(f"{url}/footprint", "latest-version", "application/json",
                          "latest footprint"))
    return {
        "id": field.id,
        "name": field.name,
        "country": field.country,
        "participant_iso3": field.participant_iso3,
        "crs_epsg": field.crs_epsg,
        "bbox_4326": list(field.bbox_4326),
        "aoi_area_km2": round(field.aoi_area_km2, 1),
        "aoi_method": field.aoi_method,
        "delineation_modes": list(field.delineation_modes),
        "sources": list(field.sources),
        "latest_footprint_version": latest.version if latest is not None else None,
        "links": links,
    }


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def get_footprint_record(store: Any, field_id: str, version: int | None) -> Any:
    """The stored footprint ``version`` of a field (the latest when ``None``), else 404."""
    get_field(field_id)
    record = (store.latest_footprint(field_id) if version is None
              else store.get_footprint(field_id, version))
    if record is None:
        which = "no footprint" if version is None else f"no footprint version {version}"
        raise NotFoundError(f"{which} for field {field_id!r}",
                            hint="run the build-footprint process first")
    return record


def resolve_state_path(settings: Settings, stored: str | None, what: str) -> Path:
    """The file a stored relative path names, refusing any that leaves ``state_dir``."""
    if not stored:
        raise NotFoundError(f"{what} is not stored")
    root = settings.state_dir.resolve()
    path = (root / stored).resolve()
    if not path.is_relative_to(root):
        raise NotFoundError(f"{what} is not available")
    if not path.is_file():
        raise NotFoundError(f"{what} is missing from the state directory")
    return path


FIELD_EXAMPLE = {"id": "gh-birim", "name": "Akwatia / Birim valley", "country": "Ghana",
                 "participant_iso3": "GHA", "crs_epsg": 32630,
                 "bbox_4326": [-1.2, 5.8, -0.5, 6.3], "latest_footprint_version": 1}


@router.get("/fields", operation_id="getFields", response_model=FieldList,
            response_model_exclude_unset=True, responses={200: {"content": {"application/json": {
    "example": {"fields": [FIELD_EXAMPLE]}}}}})
def list_fields(request: Request, _: ReadAccess, store: StoreDep) -> dict[str, Any]:
    """The diamond fields of the catalogue with their latest footprint version."""
    base = _base(request)
    return {"fields": [_field_document(f, store.latest_footprint(f.id), base)
                       for f in load_catalogue().values()],
            "links": [link(f"{base}/fields", "self")]}


@router.get("/fields/{field_id}", operation_id="getField", response_model=FieldDocument,
            response_model_exclude_unset=True, responses={200: {"content": {"application/json": {
    "example": FIELD_EXAMPLE}}}})
def describe_field(field_id: FieldId, request: Request, _: ReadAccess,
                   store: StoreDep) -> dict[str, Any]:
    """One field: area of interest, projection, delineation modes, sources."""
    field = get_field(field_id)
    return _field_document(field, store.latest_footprint(field_id), _base(request))


@router.get("/fields/{field_id}/footprints", operation_id="getFieldFootprints",
            response_model=FootprintList, response_model_exclude_unset=True,
            responses={200: {"content": {"application/json": {
    "example": {"field_id": "gh-birim", "footprints": [
        {"version": 1, "created_at": "2026-01-01T00:00:00Z", "seed": 20081106,
         "n_draws": 20000}]}}}}})
def list_field_footprints(field_id: FieldId, request: Request, _: ReadAccess,
                          store: StoreDep) -> dict[str, Any]:
    """The footprint versions of a field, newest first."""
    get_field(field_id)
    base = _base(request)
    records = sorted(store.list_footprints(field_id), key=lambda r: r.version, reverse=True)
    return {"field_id": field_id, "footprints": [footprint_summary(r, base) for r in records],
            "links": [link(f"{base}/fields/{field_id}/footprints", "self")]}


@router.get("/fields/{field_id}/footprints/compare", operation_id="compareFieldFootprints",
            response_model=FootprintComparison, response_model_exclude_unset=True,
            responses={200: {"content": {
    "application/json": {"example": {
        "field_id": "gh-birim", "from": {"version": 1}, "to": {"version": 2},
        "same_inputs": False,
        "evidence": {"layers_added": [{"id": 3, "kind": "bulk_samples", "name": "pits 2009"}]},
        "outputs": [{"output": "capacity_ct_per_year", "unit": "ct/yr",
                     "from": {"p5": 1.1e5, "p50": 3.0e5, "p95": 8.2e5, "band_width": 7.1e5},
                     "to": {"p5": 1.6e5, "p50": 2.9e5, "p95": 5.0e5, "band_width": 3.4e5},
                     "band_width_change_pct": -52.1}],
        "deposits": {"added": 0, "removed": 0},
        "sensitivity": {"capacity_ct_per_year": [
            {"parameter": "grade_ct_m3", "ST_from": 0.86, "ST_to": 0.41}]}}}}}})
def compare_field_footprints(
    field_id: FieldId, _: ReadAccess, store: StoreDep,
    version_from: Annotated[int, Query(alias="from", ge=1, le=2**31 - 1,
                                       description="The earlier version (before).")],
    version_to: Annotated[int | None, Query(alias="to", ge=1, le=2**31 - 1,
                                            description="The later version (after); "
                                                        "default the latest.")] = None,
) -> dict[str, Any]:
    """Compare two footprint versions: evidence, parameter shifts, bands, deposits, Sobol."""
    from footprint.pipeline.compare import compare_versions

    return compare_versions(store, field_id, version_from, version_to)


@router.get("/fields/{field_id}/footprint", operation_id="getFieldFootprint",
            response_model=FootprintDocument, response_model_exclude_unset=True,
            responses={200: {"content": {"application/json": {
    "example": {"field_id": "gh-birim", "version": 1, "seed": 20081106, "n_draws": 20000,
                "summaries": {"resource_ct": {"p5": 1.2e7, "p50": 4.1e7, "p95": 9.8e7,
                                              "mean": 4.6e7}},
                "parameters": {"grade_ct_m3": {"dist": "triangular"}},
                "provenance": {"code_version": "0.1.0"}, "rasters": ["hand_m"]}}}}})
def get_field_footprint(field_id: FieldId, request: Request, _: ReadAccess, store: StoreDep,
                        version: VersionQuery = None) -> dict[str, Any]:
    """A footprint version (latest by default): summaries, parameters, provenance, links."""
    return footprint_document(get_footprint_record(store, field_id, version), _base(request))


def _csv_chunks(parquet_path: Path, batch_rows: int = 65_536) -> Iterator[bytes]:
    """The Parquet table as CSV, one chunk per record batch (memory: one batch)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    def encode(table_or_batch: Any, header: bool) -> bytes:
        stream = pa.BufferOutputStream()
        pacsv.write_csv(table_or_batch, stream,
                        write_options=pacsv.WriteOptions(include_header=header))
        return stream.getvalue().to_pybytes()

    parquet = pq.ParquetFile(parquet_path)
    first = True
    for batch in parquet.iter_batches(batch_size=batch_rows):
        yield encode(batch, first)
        first = False
    if first:  # an empty table still has its header
        yield encode(parquet.schema_arrow.empty_table(), True)


@router.get("/fields/{field_id}/footprint/draws", response_class=FileResponse,
            operation_id="getFootprintDraws",
            responses={200: {"content": {PARQUET_MEDIA_TYPE: BINARY, "text/csv": {
                                 "schema": {"type": "string"}}},
                             "description": "The table of Monte Carlo draws, one row per draw."}})
def download_draws(field_id: FieldId, _: ReadAccess, store: StoreDep, settings: SettingsDep,
                   format: Annotated[Literal["parquet", "csv"], Query(
                       description="parquet (as stored) or csv (converted while streaming)."
                   )] = "parquet",
                   version: VersionQuery = None):
    """Download the draws table of a footprint version (Parquet or CSV)."""
    record = get_footprint_record(store, field_id, version)
    path = resolve_state_path(settings, record.draws_path, "the draws table")
    stem = f"{field_id}-footprint-v{record.version}-draws"
    if format == "parquet":
        return FileResponse(path, media_type=PARQUET_MEDIA_TYPE, filename=f"{stem}.parquet")
    return StreamingResponse(_csv_chunks(path), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})


RasterName = Annotated[str, PathParam(description="Raster name, as listed by the footprint.",
                                      pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


def _raster_path(record: Any, name: str, settings: Settings) -> Path:
    rasters = record.rasters or {}
    if name not in rasters:
        raise NotFoundError(f"footprint version {record.version} has no raster {name!r}",
                            hint=f"available: {', '.join(_raster_names(rasters)) or 'none'}")
    entry = rasters[name]
    stored = entry.get("path") if isinstance(entry, dict) else entry
    return resolve_state_path(settings, stored, f"raster {name!r}")


@router.get("/fields/{field_id}/footprint/rasters/{name}", response_class=FileResponse,
            operation_id="getFootprintRaster",
            responses={200: {"content": {COG_MEDIA_TYPE: BINARY},
                             "description": "The raster as a Cloud-Optimized GeoTIFF."}})
def download_raster(field_id: FieldId, name: RasterName, _: ReadAccess, store: StoreDep,
                    settings: SettingsDep, version: VersionQuery = None):
    """Download a raster of a footprint version (Cloud-Optimized GeoTIFF)."""
    record = get_footprint_record(store, field_id, version)
    path = _raster_path(record, name, settings)
    return FileResponse(path, media_type=COG_MEDIA_TYPE,
                        filename=f"{field_id}-footprint-v{record.version}-{name}.tif")


def _contains_lonlat(path: Path, lon: float, lat: float) -> bool:
    import rasterio
    from rasterio.warp import transform as warp_transform

    with rasterio.open(path) as src:
        xs, ys = warp_transform("EPSG:4326", src.crs, [lon], [lat])
        if not (math.isfinite(xs[0]) and math.isfinite(ys[0])):
            return False
        row, col = src.index(xs[0], ys[0])
        return 0 <= row < src.height and 0 <= col < src.width


@router.get("/fields/{field_id}/footprint/rasters/{name}/point",
            operation_id="getFootprintRasterValue", response_model=RasterValue,
            response_model_exclude_unset=True,
            responses={200: {"content": {"application/json": {"example": {
                "field_id": "gh-birim", "version": 1, "raster": "hand_m", "lon": -0.82,
                "lat": 6.02, "value": 3.5}}}}})
def raster_value_at_point(
    field_id: FieldId, name: RasterName, _: ReadAccess, store: StoreDep, settings: SettingsDep,
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude (EPSG:4326, degrees).")],
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude (EPSG:4326, degrees).")],
    version: VersionQuery = None,
) -> dict[str, Any]:
    """The raster's value at a lon/lat point (``null`` on nodata; 400 outside the raster)."""
    from footprint.io.raster import sample_lonlat

    record = get_footprint_record(store, field_id, version)
    path = _raster_path(record, name, settings)
    value = sample_lonlat(path, lon, lat)
    if value is None and not _contains_lonlat(path, lon, lat):
        raise InvalidParameterError(f"point ({lon}, {lat}) is outside raster {name!r}")
    return {"field_id": field_id, "version": record.version, "raster": name,
            "lon": lon, "lat": lat, "value": value}
