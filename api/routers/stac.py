"""STAC 1.1 for every field and footprint version, with every asset served.

``/stac``
    the catalog: a child link per field of the catalogue.
``/stac/{field_id}``
    the field's collection: its area, the time span of its versions, an item link each.
``/stac/{field_id}/{version}``
    a footprint version as an item: the field's area (CRS84), the build time, seed and
    draws, and as assets the version's COGs (HAND, MRVBF, streams), the field's DEM and
    hillshade COGs, the draws table (Parquet) and the deposits (GeoJSON), each an href to
    a route of this service.
``/fields/{field_id}/rasters/{name}``
    the field's DEM or hillshade COG (the version rasters are under
    ``/fields/{field_id}/footprint/rasters/{name}``).

Every document links ``self`` and ``root``; collections and items link ``parent``, items
their ``collection``. Only core STAC is used (no extension), so a validator needs no
schema beyond those of the specification.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from shapely.geometry import mapping
from starlette.concurrency import run_in_threadpool

from api.deps import ReadAccess, SettingsDep, StoreDep
from api.errors import ERROR_RESPONSES
from api.ogc import GEOJSON_MEDIA_TYPE, check_parameters, link
from api.routers.footprints import (
    COG_MEDIA_TYPE,
    PARQUET_MEDIA_TYPE,
    FieldId,
    get_footprint_record,
)
from footprint.catalogue import FieldDefinition, get_field, load_catalogue
from footprint.services.field_rasters import field_raster_path

router = APIRouter(tags=["STAC"], responses=ERROR_RESPONSES)

STAC_VERSION = "1.1.0"
STAC_MEDIA_TYPE = "application/json"
GEOJSON_TYPE = GEOJSON_MEDIA_TYPE
_NONE: frozenset[str] = frozenset()
#: titles of the version rasters a build writes (others keep their name as title)
RASTER_TITLES = {"hand": "Height above nearest drainage (m)",
                 "mrvbf": "Multi-resolution valley bottom flatness index",
                 "streams": "Stream network (cells)"}
Version = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="Footprint version.")]
FieldRasterName = Annotated[Literal["dem", "hillshade"], PathParam(
    description="`dem` (SRTM, m) or `hillshade` (0-255, 0 = nodata).")]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _iso(moment: Any) -> str:
    text = moment.isoformat()
    return text.replace("+00:00", "Z") if "+" in text else text + "Z"


def _stac_links(base: str, self_href: str, parent: str | None = None) -> list[dict[str, Any]]:
    links = [link(self_href, "self", STAC_MEDIA_TYPE), link(f"{base}/stac", "root",
                                                            STAC_MEDIA_TYPE)]
    if parent is not None:
        links.append(link(parent, "parent", STAC_MEDIA_TYPE))
    return links


def _asset(href: str, media_type: str, title: str, *roles: str) -> dict[str, Any]:
    return {"href": href, "type": media_type, "title": title, "roles": list(roles)}


def stac_item(base: str, field: FieldDefinition, record: Any) -> dict[str, Any]:
    """The STAC item of footprint version ``record`` of ``field`` (hrefs under ``base``)."""
    version = record.version
    field_url = f"{base}/fields/{field.id}"
    assets = {name: _asset(f"{field_url}/footprint/rasters/{name}?version={version}",
                           COG_MEDIA_TYPE, RASTER_TITLES.get(name, name), "data")
              for name in sorted(record.rasters or {})}
    assets["dem"] = _asset(f"{field_url}/rasters/dem", COG_MEDIA_TYPE,
                           "SRTM elevation (m), in the field's UTM zone", "data")
    assets["hillshade"] = _asset(f"{field_url}/rasters/hillshade", COG_MEDIA_TYPE,
                                 "Hillshade of the DEM", "visual")
    if record.draws_path:
        assets["draws"] = _asset(f"{field_url}/footprint/draws?version={version}",
                                 PARQUET_MEDIA_TYPE, "Monte Carlo draws, one row per draw",
                                 "data")
    assets["deposits"] = _asset(
        f"{base}/collections/deposits-{field.id}/items?version={version}&limit=1000",
        GEOJSON_TYPE, "Deposit polygons (OGC API - Features; follow `next` links)", "data")
    self_href = f"{base}/stac/{field.id}/{version}"
    return {
        "type": "Feature", "stac_version": STAC_VERSION, "stac_extensions": [],
        "id": f"{field.id}-v{version}", "collection": field.id,
        "geometry": mapping(field.aoi_4326), "bbox": list(field.bbox_4326),
        "properties": {"datetime": _iso(record.created_at),
                       "title": f"{field.name}, footprint version {version}",
                       "footprint:version": version, "footprint:seed": record.seed,
                       "footprint:n_draws": record.n_draws,
                       "footprint:n_deposits": record.n_deposits,
                       "footprint:code_version": record.code_version},
        "links": [*_stac_links(base, self_href, f"{base}/stac/{field.id}"),
                  link(f"{base}/stac/{field.id}", "collection", STAC_MEDIA_TYPE)],
        "assets": assets,
    }


def stac_collection(base: str, field: FieldDefinition, records: list[Any]) -> dict[str, Any]:
    """The STAC collection of ``field`` with an item link per version in ``records``."""
    times = sorted(_iso(r.created_at) for r in records)
    self_href = f"{base}/stac/{field.id}"
    return {
        "type": "Collection", "stac_version": STAC_VERSION, "stac_extensions": [],
        "id": field.id, "title": field.name,
        "description": f"Production footprint versions of {field.name} ({field.country}).",
        "license": "other",
        "extent": {"spatial": {"bbox": [list(field.bbox_4326)]},
                   "temporal": {"interval": [[times[0] if times else None,
                                              times[-1] if times else None]]}},
        "links": [*_stac_links(base, self_href, f"{base}/stac"),
                  *(link(f"{self_href}/{r.version}", "item", GEOJSON_TYPE,
                         f"footprint version {r.version}") for r in records)],
    }


@router.get("/stac", operation_id="getStacCatalog")
def stac_catalog(request: Request, _: ReadAccess) -> JSONResponse:
    """The STAC catalog: a collection per field."""
    check_parameters(request, _NONE)
    base = _base(request)
    body = {
        "type": "Catalog", "stac_version": STAC_VERSION, "stac_extensions": [],
        "id": "footprint", "title": "Production footprints of alluvial diamond fields",
        "description": "Footprint versions of each field, with their rasters, draws and "
                       "deposits.",
        "links": [*_stac_links(base, f"{base}/stac"),
                  *(link(f"{base}/stac/{f.id}", "child", STAC_MEDIA_TYPE, f.name)
                    for f in load_catalogue().values())],
    }
    return JSONResponse(body)


@router.get("/stac/{field_id}", operation_id="getStacCollection")
def stac_field_collection(field_id: FieldId, request: Request, _: ReadAccess,
                          store: StoreDep) -> JSONResponse:
    """The STAC collection of a field: an item per footprint version."""
    check_parameters(request, _NONE)
    field = get_field(field_id)
    records = sorted(store.list_footprints(field.id), key=lambda r: r.version)
    return JSONResponse(stac_collection(_base(request), field, records))


@router.get("/stac/{field_id}/{version}", operation_id="getStacItem",
            responses={200: {"content": {GEOJSON_MEDIA_TYPE: {}}}})
def stac_version_item(field_id: FieldId, version: Version, request: Request, _: ReadAccess,
                      store: StoreDep) -> JSONResponse:
    """The STAC item of a footprint version, its assets served by this API."""
    check_parameters(request, _NONE)
    field = get_field(field_id)
    record = get_footprint_record(store, field.id, version)
    return JSONResponse(stac_item(_base(request), field, record), media_type=GEOJSON_TYPE)


@router.get("/fields/{field_id}/rasters/{name}", operation_id="getFieldRaster",
            response_class=FileResponse,
            responses={200: {"content": {COG_MEDIA_TYPE: {}},
                             "description": "The raster as a Cloud-Optimized GeoTIFF."}})
async def download_field_raster(field_id: FieldId, name: FieldRasterName, request: Request,
                                _: ReadAccess, settings: SettingsDep) -> FileResponse:
    """Download the DEM or hillshade of a field (Cloud-Optimized GeoTIFF, UTM)."""
    check_parameters(request, _NONE)
    path = await run_in_threadpool(field_raster_path, settings, field_id, name)
    return FileResponse(path, media_type=COG_MEDIA_TYPE, filename=f"{field_id}-{name}.tif",
                        headers={"Cache-Control": "public, max-age=86400"})
