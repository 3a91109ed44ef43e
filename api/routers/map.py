"""The map page: fields, deposits, mined areas and USGS mine points on a Leaflet map.

The page is static (``api/static/map``) and reads the service's own OGC API - Features
collections and footprint summaries from the browser. Every asset it loads, Leaflet
included (``api/static/vendor/leaflet``, BSD-2-Clause), is served by the service itself,
so the map works without network access. Its basemap is drawn from the data directory
(``GET /map/basemap/{layer}``: Natural Earth countries, GSHHG and Natural Earth rivers,
lakes and places, with the fields' towns of ``datasets/towns.yaml``); OpenStreetMap is an
option that is off by default.

Wire it with :func:`install_map` (the ``/map`` route, the basemap, the monitor sign-in
of ``api/routers/session.py`` and the ``/static`` mount): ``include_router`` alone
cannot carry a static mount.
"""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

import geopandas as gpd
import pandas as pd
import yaml
from fastapi import APIRouter, FastAPI
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.deps import ReadAccess, SettingsDep
from api.errors import ERROR_RESPONSES
from api.routers.session import router as session_router
from footprint.errors import DataMissingError
from footprint.io.vectors import REGION_BOUNDS_4326, read_vector, vector_path

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MAP_PAGE = STATIC_DIR / "map" / "index.html"

router = APIRouter(tags=["Map"])


@router.get("/map", response_class=FileResponse, operation_id="getMapPage",
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                             "description": "The map page (HTML)."}})
def map_page() -> FileResponse:
    """The map page: fields, deposits by class, mined areas and mine points."""
    # no-cache: the page is tiny and a stale copy would call routes that moved
    return FileResponse(MAP_PAGE, media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


@router.get("/map/", include_in_schema=False, operation_id="redirectMapPage")
def map_page_slash() -> RedirectResponse:
    """``/map/`` redirects to ``/map``."""
    # the page's relative URLs (static/…, collections/…) assume it is served at /map
    return RedirectResponse("../map", status_code=308)


BasemapLayer = Literal["countries", "rivers", "lakes", "places"]
#: Douglas-Peucker tolerance of each basemap layer (degrees): ~1 km lines, ~2 km borders
SIMPLIFY_DEG = {"countries": 0.02, "rivers": 0.005, "lakes": 0.005, "places": 0.0}


def _frame(layer: str, data_dir: Path, region: str | None = None) -> gpd.GeoDataFrame:
    try:
        return read_vector(vector_path(layer, data_dir, region))
    except DataMissingError:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326))


def _regional(layer: str, data_dir: Path) -> list[gpd.GeoDataFrame]:
    return [_frame(layer, data_dir, region) for region in REGION_BOUNDS_4326]


def _towns() -> list[dict[str, Any]]:
    return yaml.safe_load(files("datasets").joinpath("towns.yaml").read_text("utf-8"))["towns"]


def _places(data_dir: Path) -> gpd.GeoDataFrame:
    """Natural Earth places plus the fields' towns (``town: true``, always labelled)."""
    towns = _towns()
    names = {t["name"] for t in towns}
    ne = _frame("places", data_dir)
    ne = ne[~ne.get("NAME", pd.Series(dtype=str)).isin(names)] if len(ne) else ne
    rows = [{"name": r.get("NAME"), "population": r.get("POP_MAX"), "town": False}
            for _, r in ne.iterrows()]
    rows += [{"name": t["name"], "population": None, "town": True, "field": t["field"]}
             for t in towns]
    geometry = list(ne.geometry) + gpd.points_from_xy([t["lon"] for t in towns],
                                                      [t["lat"] for t in towns]).tolist()
    return gpd.GeoDataFrame(rows, geometry=geometry, crs=4326)


def _layer_frames(layer: str, data_dir: Path) -> list[gpd.GeoDataFrame]:
    if layer == "countries":
        frame = _frame("boundaries_naturalearth", data_dir)
        keep = [c for c in ("NAME", "ADM0_A3") if c in frame.columns]
        return [frame[[*keep, "geometry"]].rename(columns={"NAME": "name", "ADM0_A3": "iso3"})]
    if layer == "rivers":
        wdbii = [f.assign(source="GSHHG WDBII") for f in _regional("rivers_wdbii", data_dir)]
        ne = [f.assign(source="Natural Earth") for f in
              _regional("rivers_naturalearth", data_dir)]
        return [f[[c for c in ("name", "source", "geometry") if c in f.columns]]
                for f in wdbii + ne]
    if layer == "lakes":
        return [f[[c for c in ("name", "geometry") if c in f.columns]]
                for f in _regional("lakes", data_dir)]
    return [_places(data_dir)]


@functools.lru_cache(maxsize=8)
def basemap_geojson(layer: str, data_dir: Path) -> bytes:
    """GeoJSON of a basemap layer, simplified for display (read once per data directory)."""
    frames = [f for f in _layer_frames(layer, data_dir) if len(f)]
    if not frames:
        return json.dumps({"type": "FeatureCollection", "features": []}).encode()
    frame = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)
    if SIMPLIFY_DEG[layer]:
        frame["geometry"] = frame.geometry.simplify(SIMPLIFY_DEG[layer], preserve_topology=True)
    frame = frame[~frame.geometry.is_empty]
    return frame.to_json(drop_id=True, na="null", to_wgs84=False).encode("utf-8")


@router.get("/map/basemap/{layer}", response_class=Response, operation_id="getBasemapLayer",
            responses={**ERROR_RESPONSES, 200: {"content": {"application/geo+json": {"schema": {
                "type": "object", "description": "A GeoJSON FeatureCollection."}}},
                             "description": "A basemap layer (GeoJSON)."}})
def basemap_layer(layer: Annotated[BasemapLayer, PathParam(description=(
                      "countries, rivers, lakes or places (towns flagged ``town``)."))],
                  _: ReadAccess, settings: SettingsDep) -> Response:
    """A layer of the offline basemap, from the data directory (lon/lat, simplified)."""
    return Response(basemap_geojson(layer, settings.data_dir),
                    media_type="application/geo+json",
                    headers={"Cache-Control": "public, max-age=3600"})


def install_map(app: FastAPI) -> None:
    """Add the map page (``GET /map``), its basemap, the monitor sign-in and the static
    assets (``/static``) to ``app``."""
    app.include_router(router)
    app.include_router(session_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
