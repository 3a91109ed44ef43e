"""``footprint delineate --aoi FILE --window-cells N [--executor local|dask]``: flow routed
by tiles and MRVBF and the classes by windows, on the configured executor.

How identical:

- **At the seams: 0 cells differ.** By tiles of 60 cells (at least 9 of them), locally
  and on dask, MRVBF, HAND, the streams and the classes (read back from the written COGs
  and ``summary.json``) equal those of the same run in one tile, cell for cell without
  tolerance: the tiled fill is exact, the flat directions are least-cost paths that no
  tiling changes, the counts are exact (:mod:`footprint.terrain.tiled_routing`), the halos
  make each window's MRVBF exact and the sieve runs once on the stitched grid
  (:mod:`footprint.terrain.tiles`). Deposit polygons are compared by area per class
  (polygon area rounding only, < 1 m²).
- **Against the whole-grid routing** (flood order on flats, not the same for every tiling):
  MRVBF is identical; directions differ only on flats, so the streams agree within one
  cell (as the benchmark measures against GRASS) for at least 90 % both ways and the
  deposit area is within 5 %.
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


@pytest.fixture(scope="module")
def one_tile(inputs):
    """Routed by tiles, in a single tile (and one MRVBF window) covering the grid."""
    return outputs(delineate(inputs, "one-tile", "--window-cells", "100000"))


def assert_same(tiled, whole):
    (rasters_t, summary_t), (rasters_w, summary_w) = tiled, whole
    for name, array in rasters_w.items():
        assert np.array_equal(rasters_t[name], array, equal_nan=True), name
    assert summary_t["areas_by_class"].keys() == summary_w["areas_by_class"].keys()
    for name, row in summary_w["areas_by_class"].items():
        assert abs(summary_t["areas_by_class"][name]["area_m2"] - row["area_m2"]) < 1.0
    assert summary_w["total_area_m2"] > 0  # there are deposits to compare


def test_tiles_on_the_local_executor_equal_one_tile(inputs, one_tile):
    out = delineate(inputs, "local", "--window-cells", str(WINDOW_CELLS), "--executor", "local")
    tiled = outputs(out)
    grid = tiled[1]["grid"]
    assert grid["window_cells"] == WINDOW_CELLS and tiled[1]["routing"] == "tiles"
    assert len(tiles.plan_windows((grid["rows"], grid["cols"]), WINDOW_CELLS, 0)) >= 9
    assert_same(tiled, one_tile)


def near(a: np.ndarray, b: np.ndarray) -> float:
    """Share of a's cells within one cell (3x3) of one of b's."""
    return float((a & ndimage.binary_dilation(b, np.ones((3, 3), bool))).sum() / a.sum())


def test_tiles_agree_with_the_whole_grid_within_one_cell(one_tile, whole):
    (rasters_t, summary_t), (rasters_w, summary_w) = one_tile, whole
    assert summary_w["routing"] == "whole"
    assert np.array_equal(rasters_t["mrvbf"], rasters_w["mrvbf"], equal_nan=True)
    streams_t, streams_w = rasters_t["streams"] == 1, rasters_w["streams"] == 1
    assert not np.array_equal(streams_t, streams_w)  # the flat rules do differ here
    assert near(streams_t, streams_w) >= 0.9 and near(streams_w, streams_t) >= 0.9
    assert abs(summary_t["total_area_m2"] / summary_w["total_area_m2"] - 1) < 0.05


def test_tiles_on_dask_distributed_equal_one_tile(inputs, one_tile):
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
    assert ran >= 9  # the tiles and windows ran on the cluster's workers
    assert_same(outputs(out), one_tile)


@pytest.mark.parametrize(("options", "message"), [
    (("--executor", "dask"), "--window-cells"),
    (("--window-cells", "60", "--executor", "spark"), "local or dask"),
    (("--window-cells", "-1"), "16-100000"),
    (("--window-cells", "8"), "16-100000"),
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
