"""The FastAPI application factory.

Run it with ``footprint serve`` or ``uvicorn api.app:create_app --factory``. Nothing is
created at import time: the store is opened, migrated and synchronised with the field
catalogue by the lifespan, so importing this module never touches a database.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.middleware.trustedhost import TrustedHostMiddleware

import footprint
from api.errors import Problem, install_error_handlers
from api.fastpath import PublishedAnswerMiddleware
from api.guards import RequestLimitsMiddleware, SecurityHeadersMiddleware
from api.logs import REQUEST_ID_HEADER, RequestContextMiddleware, configure_logging
from api.routers import features, footprints, layers, ops, processes, stac, tiles
from footprint.native_memory import bound_native_memory, release_free_memory
from footprint.settings import Settings, get_settings

logger = logging.getLogger("api.app")

DESCRIPTION = """\
Production footprints of alluvial diamond fields for the Kimberley Process: deposits,
mined areas and survey layers as **OGC API - Features** collections, footprint versions
with their Monte Carlo draws and rasters, and model runs as **OGC API - Processes** jobs.

Errors are OGC exceptions in the RFC 7807 style (`application/problem+json`, schema
`Problem`). Send an API key as `X-API-Key` or `Authorization: Bearer` (roles `reader`,
`surveyor`, `monitor`, `admin`); reads are public when the server allows it.
"""

TAGS = [
    {"name": "OGC API - Features",
     "description": "Fields, deposits, mined areas, layers, mine points."},
    {"name": "OGC API - Tiles",
     "description": "Vector tiles of collections, raster tiles of footprints."},
    {"name": "STAC", "description": "A catalog, a collection per field, an item per "
                                    "footprint version with its served assets."},
    {"name": "Footprints", "description": "Footprint versions, draws and rasters per field."},
    {"name": "OGC API - Processes",
     "description": "Delineation, footprint builds, anomaly reports."},
    {"name": "Layers", "description": "Survey-layer and declared-data uploads."},
    {"name": "Operations", "description": "Health, readiness and the audit log."},
    {"name": "Map", "description": "The browser map of fields, deposits and mine points."},
]

def _install_map_page(app: FastAPI) -> None:
    """The browser map (``/map`` and its ``/static`` assets)."""
    from api.routers.map import install_map

    install_map(app)


#: Seconds between two rounds of the janitor (orphaned jobs, abandoned directories).
JANITOR_INTERVAL_S = 30.0


def housekeeping(store: Any, settings: Settings) -> None:
    """Fail the jobs whose owner is gone or silent and remove what crashed processes
    left in the state directory. Safe with other live servers on the same database and
    state directory: only the dead's jobs and directories are touched."""
    from footprint.executors import recover_jobs
    from footprint.sweeps import sweep_state_dir

    orphaned = recover_jobs(store, settings)
    if orphaned:
        logger.warning("marked %s orphaned job(s) failed", orphaned)
    removed = sweep_state_dir(settings, store)
    if removed:
        logger.warning("removed %s abandoned director(ies)", len(removed))


def _janitor(store: Any, settings: Settings, stop: threading.Event) -> None:
    while not stop.wait(JANITOR_INTERVAL_S):
        try:
            housekeeping(store, settings)
        except Exception as exc:  # noqa: BLE001 - the database may be down; next round
            logger.warning("housekeeping skipped: %s", exc)
        release_free_memory()  # what requests (reports, pages) freed since the last round


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from footprint.services.store import open_store

    settings: Settings = app.state.settings
    settings.check_serve_safe()
    # routes declared with `def` and run_in_threadpool share this limiter (see the setting)
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
    store = open_store(settings)
    housekeeping(store, settings)
    app.state.store = store
    # the start-up heap (numpy, geopandas, shapely, the catalogue) lives as long as the
    # process: keep it out of the collector, so a full collection does not stall requests
    gc.collect()
    gc.freeze()
    stop = threading.Event()
    janitor = threading.Thread(target=_janitor, args=(store, settings, stop),
                               name="footprint-janitor", daemon=True)
    janitor.start()
    logger.info("footprint service ready", extra={"database": store_url_for_log(settings),
                                                   "data_dir": str(settings.data_dir)})
    try:
        yield
    finally:
        stop.set()
        executor = getattr(app.state, "executor", None)
        if executor is not None and hasattr(executor, "shutdown"):
            executor.shutdown()
        dispose = getattr(store, "dispose", None) or getattr(store, "close", None)
        if dispose is not None:
            dispose()


def store_url_for_log(settings: Settings) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


def _summaries_from_docstrings(router: APIRouter) -> APIRouter:
    """Use each route's one-line docstring (its first paragraph) as its OpenAPI summary."""
    for route in router.routes:
        if isinstance(route, APIRoute) and not route.summary and route.endpoint.__doc__:
            first_paragraph = route.endpoint.__doc__.strip().split("\n\n")[0]
            route.summary = " ".join(first_paragraph.split()).rstrip(".")
    return router


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document with the OGC exception model and without FastAPI's 422s.

    Request validation errors are answered as 400 OGC exceptions (see :mod:`api.errors`),
    so the generated 422 responses would document something that never happens.
    """
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes, tags=app.openapi_tags, license_info=app.license_info)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("422", None)
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    paths = json.dumps(schema["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and "#/components/schemas/" + unused not in paths:
            schemas.pop(unused)
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    if app.state.settings.public_reads:
        _declare_public_reads(schema)
    app.openapi_schema = schema
    return schema


def _declare_public_reads(schema: dict[str, Any]) -> None:
    """Reads are open to anonymous callers: their key is optional (``{}`` in ``security``),
    while a write keeps its required key."""
    for operations in schema.get("paths", {}).values():
        read = operations.get("get")
        if isinstance(read, dict) and read.get("security") and {} not in read["security"]:
            read["security"] = [{}, *read["security"]]
    # the audit log is admin-only even when reads are public
    audit = schema.get("paths", {}).get("/audit", {}).get("get")
    if isinstance(audit, dict) and audit.get("security"):
        audit["security"] = [s for s in audit["security"] if s]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for ``settings`` (default: :func:`footprint.settings.get_settings`)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    # before any thread or raster read: see footprint.native_memory
    bound_native_memory(settings.malloc_arena_max, settings.mmap_threshold_kb,
                        settings.gdal_cache_mb)
    app = FastAPI(
        title="footprint: production footprints of alluvial diamond fields",
        version=footprint.__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=_lifespan,
        license_info={"name": "MIT"},
        docs_url=None,  # served from the vendored scripts by api.routers.docs
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)

    for router in (features.router, tiles.router, stac.router, footprints.router,
                   processes.router, layers.router, ops.router):
        app.include_router(_summaries_from_docstrings(router))
    _install_map_page(app)
    from api.routers.docs import router as docs_router

    app.include_router(docs_router)

    app.openapi = functools.partial(_openapi, app)  # type: ignore[method-assign]

    # Added last = outermost: CORS answers preflights before anything else runs; the
    # request id and security headers wrap every answer, the Host and the body limits
    # are checked before any route reads, parses or authenticates anything; then the
    # answers already published for a URL (gzipped once) go out without routing.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(PublishedAnswerMiddleware, public_reads=settings.public_reads)
    app.add_middleware(RequestLimitsMiddleware, settings=settings)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                           allow_headers=["*"], expose_headers=[REQUEST_ID_HEADER, "Location"])
    return app
