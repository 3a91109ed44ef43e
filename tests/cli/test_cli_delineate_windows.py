"""``footprint delineate --aoi FILE --window-cells N [--executor local|dask]``: by windows
on the configured executor, the same outputs as the whole grid.

How identical: MRVBF, HAND, the streams and the classes (read back from the written
COGs and ``summary.json``) are compared cell for cell without tolerance: 0 cells differ,
at the seams of the windows as everywhere (the halos make each window's MRVBF exact and
the sieve runs once on the stitched grid, :mod:`footprint.terrain.tiles`). The deposit
polygons are compared by area per class (polygon area rounding only, < 1 m²).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from scipy import ndimage

from footprint.terrain import tiles

AOI = [[-0.85, 5.95], [-0.75, 5.95], [-0.75, 6.05], [-0.85, 6.05], [-0.85, 5.95]]
WINDOW_CELLS = 60


def run(*args, env=None):
    return subprocess.run([sys.executable, "-c", "from footprint.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A synthetic SRTM-like DEM (3", whole metres) over the AOI and its 5 km margin, and
    an empty data directory (no catalogue tiles, no known sources: every drainage is
    permissive)."""
    root = tmp_path_factory.mktemp("windows")
    step, n = 1 / 1200, 360
    rng = np.random.default_rng(7)
    z = np.zeros((n, n))
    for sigma, amplitude in ((30, 120.0), (8, 25.0), (2, 4.0)):
        noise = ndimage.gaussian_filter(rng.standard_normal((n, n)), sigma)
        z += amplitude * noise / noise.std()
    z += np.linspace(200, 120, n)[:, None]
    dem = root / "dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs="EPSG:4326", nodata=-9999.0,
                       transform=from_origin(-0.95, 6.15, step, step)) as dst:
        dst.write(np.round(z).astype("float32"), 1)
    aoi = root / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",
                                                           "coordinates": [AOI]}}]}))
    (root / "data").mkdir()
    return {"dem": dem, "aoi": aoi, "env": {"FOOTPRINT_DATA_DIR": str(root / "data")},
            "root": root}


def delineate(inputs, name, *options, env=None):
    out = inputs["root"] / name
    result = run("delineate", "--aoi", str(inputs["aoi"]), "--dem", str(inputs["dem"]),
                 "--out", str(out), *options, env={**inputs["env"], **(env or {})})
    assert result.returncode == 0, result.stderr
    return out


def outputs(out):
    rasters = {}
    for name in ("mrvbf", "hand", "streams"):
        with rasterio.open(out / f"{name}.tif") as src:
            rasters[name] = src.read(1)
    summary = json.loads((out / "summary.json").read_text())
    return rasters, summary


@pytest.fixture(scope="module")
def whole(inputs):
    return outputs(delineate(inputs, "whole"))


def assert_same(tiled, whole):
    (rasters_t, summary_t), (rasters_w, summary_w) = tiled, whole
    for name, array in rasters_w.items():
        assert np.array_equal(rasters_t[name], array, equal_nan=True), name
    assert summary_t["areas_by_class"].keys() == summary_w["areas_by_class"].keys()
    for name, row in summary_w["areas_by_class"].items():
        assert abs(summary_t["areas_by_class"][name]["area_m2"] - row["area_m2"]) < 1.0
    assert summary_w["total_area_m2"] > 0  # there are deposits to compare


def test_windows_on_the_local_executor_equal_the_whole_grid(inputs, whole):
    out = delineate(inputs, "local", "--window-cells", str(WINDOW_CELLS), "--executor", "local")
    tiled = outputs(out)
    grid = tiled[1]["grid"]
    assert grid["window_cells"] == WINDOW_CELLS
    assert len(tiles.plan_windows((grid["rows"], grid["cols"]), WINDOW_CELLS, 0)) >= 9
    assert_same(tiled, whole)


def test_windows_on_dask_distributed_equal_the_whole_grid(inputs, whole):
    distributed = pytest.importorskip("distributed")
    # workers are threads of this process; tcp, so the CLI's process can reach the scheduler
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp://", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        out = delineate(inputs, "dask", "--window-cells", str(WINDOW_CELLS),
                        env={"FOOTPRINT_EXECUTOR": "dask",
                             "FOOTPRINT_DASK_SCHEDULER": cluster.scheduler_address})
        ran = sum(client.run(lambda dask_worker: len(dask_worker.data)
                             + dask_worker.state.executed_count).values())
    assert ran >= 9  # the windows ran on the cluster's workers
    assert_same(outputs(out), whole)


@pytest.mark.parametrize(("options", "message"), [
    (("--executor", "dask"), "--window-cells"),
    (("--window-cells", "60", "--executor", "spark"), "local or dask"),
    (("--window-cells", "-1"), "0-100000"),
    (("--mode", "rivers", "--window-cells", "60"), "not with --mode rivers"),
])
def test_bad_window_options_are_refused_in_one_line(inputs, options, message):
    result = run("delineate", "--aoi", str(inputs["aoi"]), "--out", str(inputs["root"] / "bad"),
                 *options, env=inputs["env"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1 and message in lines[0], result.stderr


@pytest.fixture(scope="module")
def deposits(inputs):
    """Expert deposit polygons in the AOI: enough for the polygons mode, no DEM needed."""
    path = inputs["root"] / "deposits.geojson"
    square = [[-0.82, 5.98], [-0.78, 5.98], [-0.78, 6.02], [-0.82, 6.02], [-0.82, 5.98]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",
                                                           "coordinates": [square]}}]}))
    return path


@pytest.mark.parametrize(("options", "message"), [
    (("--mode", "polygons"), "not with --mode polygons"),
    (("--mode", "polygons", "--executor", "dask"), "not with --mode polygons"),  # no connection
    ((), "mode 'terrain' needs DEM"),  # the polygons mode the data allow has no windows
])
def test_windows_are_refused_outside_the_terrain_mode(inputs, deposits, options, message):
    out = inputs["root"] / "polygons"
    result = run("delineate", "--aoi", str(inputs["aoi"]), "--deposits", str(deposits),
                 "--out", str(out), "--window-cells", "60", *options,
                 env={**inputs["env"], "FOOTPRINT_DASK_SCHEDULER": "tcp://127.0.0.1:9"})
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1 and message in lines[0], result.stderr
    assert not out.exists()


@pytest.mark.parametrize("name", ["dask", "Dask", "DASK"])
def test_dask_without_a_scheduler_is_refused(inputs, name):
    result = run("delineate", "--aoi", str(inputs["aoi"]), "--dem", str(inputs["dem"]),
                 "--out", str(inputs["root"] / "noscheduler"), "--window-cells", "60",
                 "--executor", name, env={**inputs["env"], "FOOTPRINT_DASK_SCHEDULER": ""})
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and "FOOTPRINT_DASK_SCHEDULER" in lines[-1], result.stderr
