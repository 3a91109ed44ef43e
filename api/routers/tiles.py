"""OGC API - Tiles: vector tiles of the feature collections, raster tiles of the footprints.

Vector tiles (Mapbox Vector Tiles, ``WebMercatorQuad``)
    ``/collections/{deposits|mined-areas|layers}-<field>/tiles/WebMercatorQuad/{z}/{x}/{y}``.
    Deposits carry ``deposit_class`` (the map draws the ``active_channel`` class as the
    stream network), ``area_m2``, ``mined_area_m2``, ``mode``, ``feature_index``; mined areas
    and survey layers carry ``layer_id``, ``feature_index`` and each feature's ``year``.
Raster tiles (PNG, through rio-tiler)
    ``/fields/<field>/footprint/rasters/<name>/tiles/WebMercatorQuad/{z}/{x}/{y}.png`` for
    the version's COGs (``hand``, ``mrvbf``, ``streams``) and for ``dem`` and ``hillshade``
    (drawn from the bundled SRTM tiles), with TileJSON and a legend;
    ``/fields/<field>/footprint/raster-layers[?version=]`` lists a field's raster layers
    (the version's, and the DEM ones where SRTM covers the field) with both, for the map.

Tiles of a footprint version never change: they carry a strong ETag, and with
``?version=`` ``Cache-Control: immutable``; "latest" URLs are revalidated.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Annotated, Any

import morecantile
import numpy as np
import rasterio
from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from rasterio.windows import from_bounds
from rio_tiler.colormap import cmap
from rio_tiler.errors import EmptyMosaicError, TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.mosaic import mosaic_reader
from scipy.ndimage import gaussian_filter
from starlette.concurrency import run_in_threadpool

from api.cache import cache_of, cached_response, latest_version
from api.deps import ReadAccess, SettingsDep, StoreDep
from api.errors import ERROR_RESPONSES
from api.ogc import link
from api.routers.features import check_parameters, get_collection
from footprint.catalogue import get_field, load_catalogue
from footprint.errors import InvalidParameterError, NotFoundError
from footprint.io.dem import find_tiles
from footprint.settings import Settings
from footprint.shading import Z_FACTOR, fill_voids_nearest, hillshade
from footprint.storage.tiles import EXTENT, check_tile, tile_bounds_3857, tile_bounds_4326

router = APIRouter(tags=["OGC API - Tiles"], responses=ERROR_RESPONSES)

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
TMS = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
MIN_ZOOM, MAX_ZOOM = 6, 18
#: zooms of the raster tiles (the TileJSON's range; outside it a tile is 404)
RASTER_MIN_ZOOM, RASTER_MAX_ZOOM = MIN_ZOOM, 16

#: colour map, value range and unit of each raster, for the tiles and the legend
RASTER_STYLES: dict[str, dict[str, Any]] = {
    "hand": {"colormap": "viridis_r", "range": (0.0, 30.0), "unit": "m",
             "title": "Height above nearest drainage"},
    "mrvbf": {"colormap": "ylorbr", "range": (0.0, 6.0), "unit": "index",
              "title": "Multi-resolution valley bottom flatness"},
    "streams": {"colormap": "blues", "range": (0.0, 1.0), "unit": "mask",
                "title": "Stream network"},
    "dem": {"colormap": "terrain", "range": None, "unit": "m",
            "title": "Elevation (SRTM 3 arc-second)"},
    "hillshade": {"colormap": "greys_r", "range": (0.0, 255.0), "unit": "shade",
                  "title": "Hillshade (sun at 315°, 45°)"},
}
BUNDLED = ("dem", "hillshade")

Z = Annotated[int, PathParam(ge=0, le=24, description="Zoom level (tile matrix).")]
XY = Annotated[int, PathParam(ge=0, le=2**24, description="Tile column or row.")]
VersionQuery = Annotated[int | None, Query(ge=1, le=2**31 - 1, description=(
    "Footprint version (default: the latest); a versioned URL is immutable."))]
CollectionId = Annotated[str, PathParam(description="Collection id, e.g. deposits-gh-birim.")]
TileMatrixSetId = Annotated[str, PathParam(description="Only WebMercatorQuad.",
                                           examples=[TMS])]


def _check_tms(tms: str) -> None:
    if tms != TMS:
        raise NotFoundError(f"tile matrix set {tms!r} is not offered", hint=TMS)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/tileMatrixSets", operation_id="getTileMatrixSets")
def tile_matrix_sets(request: Request, _: ReadAccess) -> JSONResponse:
    """The tile matrix sets of the tiles: WebMercatorQuad."""
    check_parameters(request, frozenset({"f"}))
    base = _base(request)
    return JSONResponse({"tileMatrixSets": [{"id": TMS, "title": "Google Maps compatible",
                                             "uri": TMS_URI, "links": [link(
                                                 f"{base}/tileMatrixSets/{TMS}", "self")]}]})


@router.get("/tileMatrixSets/{tile_matrix_set_id}", operation_id="getTileMatrixSet")
def tile_matrix_set(tile_matrix_set_id: TileMatrixSetId, request: Request,
                    _: ReadAccess) -> JSONResponse:
    """The definition of a tile matrix set (OGC 2D Tile Matrix Set, JSON)."""
    check_parameters(request, frozenset({"f"}))
    _check_tms(tile_matrix_set_id)
    return JSONResponse(morecantile.tms.get(TMS).model_dump(mode="json", exclude_none=True))


# --------------------------------------------------------------------------------------
# Vector tiles


def _tiled(collection_id: str, settings: Settings) -> tuple[str, str]:
    """(kind, field id) of a collection with vector tiles; 404 for the others."""
    get_collection(collection_id, settings)
    for kind in ("deposits", "mined-areas", "layers"):
        field_id = collection_id.removeprefix(f"{kind}-")
        if field_id != collection_id and field_id in load_catalogue():
            return kind, field_id
    raise NotFoundError(f"collection {collection_id!r} has no tiles",
                        hint="deposits-*, mined-areas-* and layers-* have them")


def _tileset(request: Request, collection_id: str, kind: str, field_id: str) -> dict[str, Any]:
    url = f"{_base(request)}/collections/{collection_id}/tiles/{TMS}"
    layer = {"deposits": "deposits", "mined-areas": "mined_areas", "layers": "features"}[kind]
    west, south, east, north = get_field(field_id).bbox_4326
    return {
        "title": f"{collection_id} vector tiles", "dataType": "vector", "crs":
            "http://www.opengis.net/def/crs/EPSG/0/3857", "tileMatrixSetURI": TMS_URI,
        "boundingBox": {"lowerLeft": [west, south], "upperRight": [east, north],
                        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
        "layers": [{"id": layer, "dataType": "vector"}],
        "links": [
            link(url, "self", "application/json", "this tileset"),
            link(f"{_base(request)}/tileMatrixSets/{TMS}",
                 "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"),
            {"href": f"{url}/{{tileMatrix}}/{{tileCol}}/{{tileRow}}", "templated": True,
             "rel": "item", "type": MVT_MEDIA_TYPE, "title": "tiles"},
            link(f"{url}/tilejson.json", "describedby", "application/json", "TileJSON"),
        ],
    }


@router.get("/collections/{collection_id}/tiles", operation_id="getCollectionTileSets")
def collection_tilesets(collection_id: CollectionId, request: Request, _: ReadAccess,
                        settings: SettingsDep) -> JSONResponse:
    """The vector tilesets of a collection (one, in WebMercatorQuad)."""
    check_parameters(request, frozenset({"f"}))
    kind, field_id = _tiled(collection_id, settings)
    return JSONResponse({"tilesets": [_tileset(request, collection_id, kind, field_id)]})


@router.get("/collections/{collection_id}/tiles/{tile_matrix_set_id}",
            operation_id="getCollectionTileSet")
def collection_tileset(collection_id: CollectionId, tile_matrix_set_id: TileMatrixSetId,
                       request: Request, _: ReadAccess, settings: SettingsDep) -> JSONResponse:
    """A vector tileset: its layers, bounds and tile URL template."""
    check_parameters(request, frozenset({"f"}))
    _check_tms(tile_matrix_set_id)
    kind, field_id = _tiled(collection_id, settings)
    return JSONResponse(_tileset(request, collection_id, kind, field_id))


@router.get("/collections/{collection_id}/tiles/{tile_matrix_set_id}/tilejson.json",
            operation_id="getCollectionTileJson")
def collection_tilejson(collection_id: CollectionId, tile_matrix_set_id: TileMatrixSetId,
                        request: Request, _: ReadAccess, settings: SettingsDep,
                        version: VersionQuery = None) -> JSONResponse:
    """TileJSON 3.0 of a collection's vector tiles (for MapLibre, QGIS, Leaflet plugins)."""
    check_parameters(request, frozenset({"f", "version"}))
    _check_tms(tile_matrix_set_id)
    kind, field_id = _tiled(collection_id, settings)
    tileset = _tileset(request, collection_id, kind, field_id)
    suffix = "" if version is None else f"?version={version}"
    west, south, east, north = get_field(field_id).bbox_4326
    return JSONResponse({
        "tilejson": "3.0.0", "name": collection_id, "scheme": "xyz",
        "tiles": [f"{_base(request)}/collections/{collection_id}/tiles/{TMS}/{{z}}/{{x}}/{{y}}"
                  f"{suffix}"],
        "minzoom": MIN_ZOOM, "maxzoom": MAX_ZOOM, "bounds": [west, south, east, north],
        "vector_layers": [{"id": layer["id"], "fields": {}} for layer in tileset["layers"]],
    })


def _layer_ids(store: Any, field_id: str, kind: str) -> list[int]:
    wanted = "mined_areas" if kind == "mined-areas" else None
    return [layer.id for layer in store.list_layers(field_id, wanted) if layer.kind != "dem"]


@router.get("/collections/{collection_id}/tiles/{tile_matrix_set_id}/{z}/{x}/{y}",
            operation_id="getCollectionTile",
            response_class=Response,
            responses={200: {"content": {MVT_MEDIA_TYPE: {}}, "description": "A vector tile."},
                       204: {"description": "No feature in this tile."},
                       304: {"description": "Not modified (the ETag matched)."}})
async def collection_tile(collection_id: CollectionId, tile_matrix_set_id: TileMatrixSetId,
                          z: Z, x: XY, y: XY, request: Request, _: ReadAccess,
                          settings: SettingsDep, store: StoreDep,
                          version: VersionQuery = None) -> Response:
    """One Mapbox Vector Tile of a collection."""
    check_parameters(request, frozenset({"version"}))
    _check_tms(tile_matrix_set_id)
    kind, field_id = _tiled(collection_id, settings)
    if kind != "deposits":
        if version is not None:
            raise InvalidParameterError("version applies to deposits collections only")
        ids = await run_in_threadpool(_layer_ids, store, field_id, kind)
        name = "mined_areas" if kind == "mined-areas" else "features"
        data = await run_in_threadpool(store.layer_tile, ids, z, x, y, name)
        return Response(data, status_code=200 if data else 204, media_type=MVT_MEDIA_TYPE,
                        headers={"Cache-Control": "public, no-cache"})
    resolved = version if version is not None else await latest_version(request, field_id)
    if resolved is None:
        return Response(status_code=204)
    cache, key = cache_of(request), ("mvt", field_id, resolved, z, x, y)
    body = cache.peek(key)
    if body is None:
        def build() -> bytes:
            return store.deposit_tile(field_id, z, x, y, version=resolved)[1]
        body = await run_in_threadpool(cache.get_or_build, key, build)
    if not body.raw:
        return Response(status_code=204, headers={"ETag": body.etag})
    return cached_response(request, body, MVT_MEDIA_TYPE, immutable=version is not None,
                           latest=None if version is not None else (field_id, resolved))


# --------------------------------------------------------------------------------------
# Raster tiles


FieldId = Annotated[str, PathParam(description="Field id of the catalogue.", examples=["gh-birim"])]
RasterName = Annotated[str, PathParam(description="hand, mrvbf, streams, dem or hillshade.",
                                      pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


def _raster_source(store: Any, settings: Settings, field_id: str, name: str,
                   version: int | None) -> tuple[int | None, Path | None]:
    """(version, COG path) of a version raster; (None, None) for the bundled DEM ones."""
    from api.routers.footprints import _raster_path, get_footprint_record

    if name in BUNDLED:
        get_field(field_id)
        return None, None
    record = get_footprint_record(store, field_id, version)
    return record.version, _raster_path(record, name, settings)


def _srtm_paths(settings: Settings, bounds: tuple[float, float, float, float]) -> list[Path]:
    west, south, east, north = bounds
    names = [f"{'N' if lat >= 0 else 'S'}{abs(lat):02d}{'E' if lon >= 0 else 'W'}{abs(lon):03d}"
             for lat in range(math.floor(south), math.floor(north) + 1)
             for lon in range(math.floor(west), math.floor(east) + 1)]
    return [p for p in find_tiles(names, settings.data_dir).values() if p is not None]


def _read_tile(paths: list[Path], z: int, x: int, y: int, size: int = 256,
               halo_px: int = 0):
    """The mosaic of ``paths`` in tile z/x/y, ``halo_px`` wider on each side (None if empty)."""
    def read(path: Path, x: int, y: int, z: int):
        with Reader(str(path)) as src:
            return src.tile(x, y, z, tilesize=size, resampling_method="bilinear",
                            buffer=halo_px or None)
    try:
        image, _ = mosaic_reader([str(p) for p in paths], read, x, y, z)
    except (EmptyMosaicError, TileOutsideBounds):
        return None
    return image


#: SRTM's metre-scale speckle reads as texture at fine zooms: smoothed over this (m)
HILLSHADE_SMOOTHING_M = 90.0


def _hillshade_tile(settings: Settings, z: int, x: int, y: int, size: int = 256):
    """Hillshade (0-255) of tile z/x/y from the bundled SRTM, seamless across tiles.

    The shade is :func:`footprint.shading.hillshade` with the project's light and z-factor,
    as the field's hillshade COG. Every number it depends on is fixed per zoom (light,
    z-factor, smoothing in pixels), the DEM is read with a halo wide enough for the
    smoothing and the gradient, and the halo is cropped: a pixel's shade is the same
    whichever tile draws it.
    """
    west, _, east, north = tile_bounds_3857(z, x, y)
    pixel_m = (east - west) / size  # Web Mercator metres: the same for every tile of z
    sigma_px = max(1.0, HILLSHADE_SMOOTHING_M / pixel_m)
    halo = math.ceil(4 * sigma_px) + 2  # gaussian_filter truncates at 4 sigma
    bounds = tile_bounds_4326(z, x, y, math.ceil(halo * EXTENT / size))
    image = _read_tile(_srtm_paths(settings, bounds), z, x, y, size, halo)
    if image is None:
        return None
    band = image.array[0]
    elevation = band.astype("float64").filled(np.nan)
    if not np.isfinite(elevation).any():
        return None
    elevation = gaussian_filter(fill_voids_nearest(elevation), sigma=sigma_px)
    # ground size of a pixel shrinks with cos(latitude), row by row (Mercator is conformal)
    rows_y_m = north - (np.arange(elevation.shape[0]) - halo + 0.5) * pixel_m
    lat = np.arctan(np.sinh(rows_y_m / 6378137.0))
    ground_m = (pixel_m * np.cos(lat))[:, None]
    shade = hillshade(elevation, ground_m, ground_m, z_factor=Z_FACTOR)
    crop = (slice(halo, halo + size), slice(halo, halo + size))
    image.array = np.ma.MaskedArray((shade[crop] * 255.0)[None], mask=band.mask[crop][None])
    return image


@functools.lru_cache(maxsize=16)
def _dem_range_m(data_dir: Path, field_id: str) -> tuple[float, float]:
    """The 2nd-98th percentile of elevation over the field (m), for the DEM colours."""
    bounds = get_field(field_id).bbox_4326
    values = []
    for path in _srtm_paths(Settings(data_dir=data_dir), bounds):
        with rasterio.open(path) as src:
            window = from_bounds(*bounds, transform=src.transform).intersection(
                rasterio.windows.Window(0, 0, src.width, src.height))
            band = src.read(1, window=window, masked=True)
            values.append(band.compressed())
    data = np.concatenate(values) if values else np.array([0.0, 1000.0])
    low, high = np.percentile(data, [2, 98])
    return float(low), float(max(high, low + 1))


def _render(name: str, field_id: str, settings: Settings, path: Path | None,
            z: int, x: int, y: int) -> bytes:
    """PNG of raster ``name`` in tile z/x/y (empty bytes when the tile has no data)."""
    style = RASTER_STYLES.get(name, {"colormap": "viridis", "range": None})
    if path is not None:
        image = _read_tile([path], z, x, y)
    elif name == "hillshade":
        image = _hillshade_tile(settings, z, x, y)
    else:
        image = _read_tile(_srtm_paths(settings, tile_bounds_4326(z, x, y, 0)), z, x, y)
    if image is None:
        return b""
    low, high = style["range"] or _dem_range_m(settings.data_dir, field_id)
    image.rescale(in_range=((low, high),))
    return image.render(img_format="PNG", colormap=cmap.get(style["colormap"]))


@router.get("/fields/{field_id}/footprint/rasters/{name}/tiles/WebMercatorQuad/{z}/{x}/{y}.png",
            operation_id="getRasterTile",
            response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "A raster tile."},
                       204: {"description": "No data in this tile."},
                       304: {"description": "Not modified (the ETag matched)."}})
async def raster_tile(field_id: FieldId, name: RasterName, z: Z, x: XY, y: XY,
                      request: Request, _: ReadAccess, settings: SettingsDep, store: StoreDep,
                      version: VersionQuery = None) -> Response:
    """A PNG tile of a footprint raster (HAND, MRVBF, streams) or of the DEM / hillshade."""
    check_parameters(request, frozenset({"version"}))
    check_tile(z, x, y)
    if not RASTER_MIN_ZOOM <= z <= RASTER_MAX_ZOOM:
        # the TileJSON's zoom range: a whole-continent tile would read every DEM cell
        raise NotFoundError(f"raster tiles exist at zooms {RASTER_MIN_ZOOM}-{RASTER_MAX_ZOOM}, "
                            f"not {z} (see the TileJSON's minzoom and maxzoom)")
    resolved, path = await run_in_threadpool(_raster_source, store, settings, field_id, name,
                                             version)
    cache, key = cache_of(request), ("png", field_id, name, resolved, z, x, y)
    body = cache.peek(key)
    if body is None:
        body = await run_in_threadpool(
            cache.get_or_build, key, lambda: _render(name, field_id, settings, path, z, x, y))
    if not body.raw:
        return Response(status_code=204, headers={"ETag": body.etag})
    # bundled DEM tiles do not change with the version either
    return cached_response(request, body, "image/png",
                           immutable=version is not None or name in BUNDLED)


def _tilejson(base_url: str, field_id: str, name: str, resolved: int | None,
              bounds_4326: tuple[float, float, float, float] | None = None) -> dict[str, Any]:
    """TileJSON 3.0 of raster ``name`` of a field (of version ``resolved``, None for the
    bundled DEM ones); its ``legend`` is the URL of the legend document, its bounds the
    field's unless ``bounds_4326`` is given."""
    suffix = "" if resolved is None else f"?version={resolved}"
    base = f"{base_url}/fields/{field_id}/footprint/rasters/{name}"
    west, south, east, north = bounds_4326 or get_field(field_id).bbox_4326
    return {
        "tilejson": "3.0.0", "name": f"{field_id} {name}", "scheme": "xyz",
        "description": RASTER_STYLES.get(name, {}).get("title", name),
        "tiles": [f"{base}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png{suffix}"],
        "minzoom": RASTER_MIN_ZOOM, "maxzoom": RASTER_MAX_ZOOM,
        "bounds": [west, south, east, north],
        "legend": f"{base}/legend{suffix}",
    }


def _legend(settings: Settings, field_id: str, name: str) -> dict[str, Any]:
    """The colour ramp of raster ``name``'s tiles: value range, unit, nine colour stops."""
    style = RASTER_STYLES.get(name, {"colormap": "viridis", "range": None, "unit": "",
                                     "title": name})
    low, high = style["range"] or _dem_range_m(settings.data_dir, field_id)
    ramp = cmap.get(style["colormap"])
    stops = [{"value": low + (high - low) * i / 8,
              "color": "#{:02x}{:02x}{:02x}".format(*ramp[min(255, i * 32)][:3])}
             for i in range(9)]
    return {"name": name, "title": style["title"], "unit": style["unit"],
            "colormap": style["colormap"], "min": low, "max": high, "stops": stops}


#: the order in which a field's rasters are listed (any other name follows, sorted)
RASTER_ORDER = ("hillshade", "dem", "hand", "mrvbf", "streams")


def field_raster_layers(store: Any, settings: Settings, base_url: str, field_id: str,
                        version: int | None) -> dict[str, Any]:
    """The raster layers of a field for a map: the bundled DEM and hillshade when the
    data directory has SRTM tiles over the field, and the rasters of footprint
    ``version`` (the latest when None; none when the field has no version yet), each
    with its TileJSON and legend."""
    from api.routers.footprints import get_footprint_record

    field = get_field(field_id)
    record = (get_footprint_record(store, field_id, version)
              if version is not None or store.latest_footprint(field_id) is not None else None)
    layers: list[tuple[str, int | None, Any]] = []
    if _srtm_paths(settings, field.bbox_4326):
        layers += [(name, None, None) for name in BUNDLED]
    if record is not None:
        layers += _version_rasters(record, settings, field.bbox_4326)
    layers.sort(key=lambda n: (RASTER_ORDER.index(n[0]) if n[0] in RASTER_ORDER
                               else len(RASTER_ORDER), n[0]))
    return {"field_id": field_id, "version": None if record is None else record.version,
            "rasters": [{"name": name, "version": resolved,
                         "title": RASTER_STYLES.get(name, {}).get("title", name),
                         "tilejson": _tilejson(base_url, field_id, name, resolved, bounds),
                         "legend": _legend(settings, field_id, name)}
                        for name, resolved, bounds in layers]}


def _version_rasters(record: Any, settings: Settings,
                     field_bbox_4326: tuple[float, float, float, float]
                     ) -> list[tuple[str, int | None, Any]]:
    """(name, version, lon/lat bounds) of each raster file of a version that exists."""
    from api.routers.footprints import _raster_path

    layers: list[tuple[str, int | None, Any]] = []
    for name in sorted(record.rasters or {}):
        try:
            path = _raster_path(record, name, settings)
        except NotFoundError:  # a file gone from the state directory: nothing to draw
            continue
        if name not in BUNDLED:
            layers.append((name, record.version, _bounds_4326(path, field_bbox_4326)))
    return layers


def _bounds_4326(path: Path, field_bbox_4326: tuple[float, float, float, float]
                 ) -> tuple[float, float, float, float]:
    """The lon/lat bounds of a COG, within the field's box when they meet (no tile is
    asked where the raster has nothing)."""
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    fw, fs, fe, fn = field_bbox_4326
    box = (max(west, fw), max(south, fs), min(east, fe), min(north, fn))
    return box if box[0] < box[2] and box[1] < box[3] else (west, south, east, north)


@router.get("/fields/{field_id}/footprint/raster-layers", operation_id="getRasterLayers")
def raster_layers(field_id: FieldId, request: Request, _: ReadAccess, settings: SettingsDep,
                  store: StoreDep, version: VersionQuery = None) -> JSONResponse:
    """The raster layers of a field and footprint version, each with TileJSON and legend."""
    check_parameters(request, frozenset({"version"}))
    return JSONResponse(field_raster_layers(store, settings, _base(request), field_id,
                                            version))


@router.get("/fields/{field_id}/footprint/rasters/{name}/tilejson.json",
            operation_id="getRasterTileJson")
def raster_tilejson(field_id: FieldId, name: RasterName, request: Request, _: ReadAccess,
                    settings: SettingsDep, store: StoreDep,
                    version: VersionQuery = None) -> JSONResponse:
    """TileJSON 3.0 of a raster's PNG tiles, with a link to its legend."""
    check_parameters(request, frozenset({"version"}))
    resolved, _path = _raster_source(store, settings, field_id, name, version)
    return JSONResponse(_tilejson(_base(request), field_id, name, resolved))


@router.get("/fields/{field_id}/footprint/rasters/{name}/legend", operation_id="getRasterLegend")
def raster_legend(field_id: FieldId, name: RasterName, request: Request, _: ReadAccess,
                  settings: SettingsDep, store: StoreDep,
                  version: VersionQuery = None) -> JSONResponse:
    """The colour ramp of a raster's tiles: value range, unit and colour stops."""
    check_parameters(request, frozenset({"version"}))
    _raster_source(store, settings, field_id, name, version)
    return JSONResponse(_legend(settings, field_id, name))
