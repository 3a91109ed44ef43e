"""The map page: fields, deposits, mined areas and USGS mine points on a Leaflet map.

The page is static (``api/static/map``) and reads the service's own OGC API - Features
collections and footprint summaries from the browser. Every asset it loads, Leaflet
included (``api/static/vendor/leaflet``, BSD-2-Clause), is served by the service itself,
so the map works without network access; the OpenStreetMap basemap is an overlay that
is off by default.

Wire it with :func:`install_map` (the ``/map`` route and the ``/static`` mount):
``include_router`` alone cannot carry a static mount.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

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


def install_map(app: FastAPI) -> None:
    """Add the map page (``GET /map``) and the static assets (``/static``) to ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
