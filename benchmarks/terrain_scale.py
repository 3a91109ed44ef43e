"""Benchmark: delineation by windows at growing sizes, on dask.distributed (issue 12 item 4).

Run::

    nice .venv/bin/python benchmarks/terrain_scale.py [--cells 10e6 25e6 50e6 100e6]
        [--window-cells 3000] [--workers 2]

Each size runs in a fresh child process (so peak memories do not carry over) with a fresh
``distributed.LocalCluster`` of ``--workers`` worker processes (one thread each):

1. The DEM: the void-filled SRTM3 mosaic of the four Birim tiles at 90 m (lon -2..0,
   lat 5..7, as ``benchmarks/terrain.py --aoi``), mirrored (``numpy.pad`` symmetric)
   to a square of the asked number of cells: real relief, synthetic extent. Nodata
   (the sea, beyond the tiles) is set to 0 m.
2. Global routing in the driver: Priority-Flood, D8, upstream area, streams (5 km²),
   HAND (:func:`footprint.terrain.route_flow`, ...).
3. MRVBF and classes by windows with halos on the workers
   (:func:`footprint.terrain.classify_by_windows` with
   :func:`footprint.pipeline.windows.dask_map`), stitched and sieved in the driver.

Polygons, channel belts and COGs are not made here (``benchmarks/terrain.py`` times
them on the mosaic). Prints per size: cells, wall and CPU time (driver + workers),
seconds per million cells, the driver's peak RSS and each worker's peak RSS
(``getrusage`` ``ru_maxrss``). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from footprint import terrain  # noqa: E402
from footprint.io.dem import DemSource  # noqa: E402
from footprint.pipeline.delineate import TerrainParameters, field_from_aoi, prepare_dem  # noqa: E402
from footprint.pipeline.delineate_sources import dem_paths_of  # noqa: E402
from footprint.pipeline.windows import dask_map  # noqa: E402
from footprint.settings import get_settings  # noqa: E402

MOSAIC = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
          "geometry": {"type": "Polygon", "coordinates": [[[-2, 5], [0, 5], [0, 7], [-2, 7], [-2, 5]]]}}]}


def mosaic_dem(work: Path) -> np.ndarray:
    cached = work / "mosaic_dem.npy"
    if cached.is_file():
        return np.load(cached)
    aoi = work / "mosaic.geojson"
    aoi.write_text(json.dumps(MOSAIC))
    field = field_from_aoi(aoi)
    params = TerrainParameters()
    paths = dem_paths_of(field, None, get_settings(), params.margin_m)
    z = prepare_dem(field, [DemSource(tuple(paths))], params).elevation_m
    z = np.nan_to_num(z, nan=0.0).astype(np.float32)
    np.save(cached, z)
    return z


def dem_of(cells: float, work: Path) -> np.ndarray:
    base = mosaic_dem(work)
    side = int(round(cells ** 0.5))
    reps = -(-side // min(base.shape))
    tiled = np.pad(base, ((0, base.shape[0] * reps), (0, base.shape[1] * reps)), mode="symmetric")
    return np.ascontiguousarray(tiled[:side, :side])


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker_usage() -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_mb": usage.ru_maxrss / 1024}


def _warm_worker() -> None:
    small = np.random.default_rng(0).random((200, 200), dtype=np.float32)
    terrain.classify_by_windows(small, small, small > 0, 90.0, window_cells=100)


def run_one(cells: float, window_cells: int, workers: int, work: Path) -> dict:
    import distributed

    z = dem_of(cells, work)
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, memory_limit=0) as cluster, \
            distributed.Client(cluster) as client:
        client.run(_warm_worker)  # imports and compiled kernels, so the baseline holds them
        before = client.run(_worker_usage)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start, cpu0 = time.perf_counter(), _cpu_s()
        routing = terrain.route_flow(z, 90.0)
        streams = terrain.extract_streams(routing.upstream_area_km2, 5.0)
        hand = terrain.height_above_drainage(routing, streams)
        routed = time.perf_counter() - start
        del routing
        mask = np.ones(z.shape, dtype=bool)
        _, classes = terrain.classify_by_windows(z, hand, mask, 90.0, window_cells=window_cells,
                                                 map_windows=dask_map(client))
        wall, cpu_driver = time.perf_counter() - start, _cpu_s() - cpu0
        after = client.run(_worker_usage)
    workers_cpu = sum(after[w]["cpu_s"] - before[w]["cpu_s"] for w in after)
    return {"cells": int(z.size), "shape": list(z.shape), "wall_s": wall, "routing_wall_s": routed,
            "cpu_s": cpu_driver + workers_cpu, "driver_cpu_s": cpu_driver,
            "driver_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "driver_rss_before_mb": rss_before,
            "worker_maxrss_mb": sorted(round(u["maxrss_mb"], 1) for u in after.values()),
            "worker_baseline_mb": sorted(round(u["maxrss_mb"], 1) for u in before.values()),
            "deposit_share": float((classes > 0).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=float, nargs="+", default=[10e6, 25e6, 50e6, 100e6])
    parser.add_argument("--window-cells", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/footprint-terrain-scale"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.child:
        print(json.dumps(run_one(args.cells[0], args.window_cells, args.workers, args.work)))
        return
    mosaic_dem(args.work)
    print(f"windows of {args.window_cells} cells a side (+ halo), {args.workers} worker processes")
    print(f"{'cells':>12} {'wall s':>8} {'cpu s':>8} {'cpu s/M':>8} {'routing s':>9} "
          f"{'driver RSS MB':>13} {'per-worker RSS MB':>18} {'(baseline)':>18}  load")
    for cells in args.cells:
        done = subprocess.run([sys.executable, __file__, "--child", "--cells", str(cells),
                               "--window-cells", str(args.window_cells), "--workers",
                               str(args.workers), "--work", str(args.work)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{cells:12,.0f} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{r['cells']:12,} {r['wall_s']:8.1f} {r['cpu_s']:8.1f} "
              f"{r['cpu_s'] / (r['cells'] / 1e6):8.2f} {r['routing_wall_s']:9.1f} "
              f"{r['driver_maxrss_mb']:13.0f} {str(r['worker_maxrss_mb']):>18} "
              f"{str(r['worker_baseline_mb']):>18}  "
              f"{os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
