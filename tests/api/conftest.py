"""Fixtures for the service tests: the app, clients, keys per role, a stored footprint,
and a live uvicorn server for real OGC clients.

They build on the root fixtures ``settings`` and ``store`` (one per database backend).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import uvicorn
from _servers import free_port
from fastapi.testclient import TestClient
from rasterio.transform import from_origin
from synthetic_footprint import (
    GRID,
    N_DRAWS,
    RASTER_ORIGIN,
    RASTER_RES_M,
    raster_values,
    square,
)

from api.app import create_app


@pytest.fixture
def app(settings, store):
    return create_app(settings)


@pytest.fixture
def client(app):
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def api_keys(store) -> dict[str, str]:
    """One plaintext key per role."""
    return {role: store.create_api_key(f"test-{role}", role)[1]
            for role in ("reader", "surveyor", "monitor", "admin")}


@pytest.fixture
def footprint(store, settings):
    """A footprint version of gh-birim with GRID² deposits, a draws table and a COG."""
    from footprint.io.raster import write_cog

    deposits = gpd.GeoDataFrame(
        {"deposit_class": ["floodplain" if (i + j) % 2 else "active_channel"
                           for i in range(GRID) for j in range(GRID)],
         "mode": "terrain",
         "cell": [f"{i},{j}" for i in range(GRID) for j in range(GRID)]},
        geometry=[square(i, j) for i in range(GRID) for j in range(GRID)], crs=4326)
    directory = Path("footprints") / "gh-birim" / "test"
    (settings.state_dir / directory).mkdir(parents=True, exist_ok=True)
    draws = pd.DataFrame({"draw": np.arange(N_DRAWS),
                          "resource_ct": np.random.default_rng(7).lognormal(17, 0.5, N_DRAWS)})
    draws.to_parquet(settings.state_dir / directory / "draws.parquet", index=False)
    write_cog(settings.state_dir / directory / "hand_m.tif", raster_values(),
              from_origin(*RASTER_ORIGIN, RASTER_RES_M, RASTER_RES_M), 32630, nodata=np.nan)
    summaries = {"resource_ct": {"p5": float(np.percentile(draws.resource_ct, 5)),
                                 "p50": float(draws.resource_ct.median()),
                                 "p95": float(np.percentile(draws.resource_ct, 95))}}
    return store.add_footprint(
        "gh-birim", deposits=deposits, seed=42, n_draws=N_DRAWS, code_version="test",
        sheet_sha256=None, parameters={"grade_ct_m3": {"dist": "fixed", "value": 2.0}},
        summaries=summaries, provenance={"inputs": {"test": "synthetic"}},
        draws_path=str(directory / "draws.parquet"),
        rasters={"hand_m": str(directory / "hand_m.tif")})


@pytest.fixture
def live_server(app):
    """The app served by uvicorn in a thread on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
