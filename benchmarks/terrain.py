"""Benchmark: whole terrain delineation of gh-birim against GRASS GIS ``r.watershed``.

Run::

    .venv/bin/python benchmarks/terrain.py [--field gh-birim | --aoi FILE.geojson]
        [--threshold-km2 5] [--keep DIR] [--repeat N] [--tiles N]

``--aoi`` with the box lon -2..0, lat 5..7 delineates the whole four-tile Birim mosaic
(6.66 M cells at 90 m with the margin) side by side with GRASS.

What it does

1. Runs :func:`footprint.pipeline.delineate.delineate_field` for the field (all steps:
   DEM mosaic and reprojection, void filling, conditioning, D8, streams, HAND, MRVBF,
   classes, polygons, COGs, summary), once to warm the compiled kernels' disk cache and
   then timed; then once more under ``tracemalloc`` for the peak of Python/numpy memory
   (arrays that numba kernels allocate are not traced). For a figure like GRASS's
   resident peak, a fresh child process imports everything, delineates a 0.06° box
   (every kernel and driver loaded), reads its resident memory (the baseline) and then
   runs the full delineation: its peak resident memory (``VmHWM``) above that baseline
   is what the delineation itself needs. Twice: with glibc's malloc and GDAL's cache
   bounded as the service bounds them (:mod:`footprint.native_memory`, settings
   ``malloc_arena_max``, ``mmap_threshold_kb``, ``gdal_cache_mb``), and with their
   defaults (freed grids then stay in glibc's heap).
2. Exports the very DEM our routing used (void-filled, in the field's UTM zone with the
   hydrological margin) as a GeoTIFF and runs, in a temporary GRASS location,
   ``r.watershed -s`` (single flow direction, D8) for accumulation and streams at the
   same threshold in cells (``ceil(threshold_km2 / cell area)``). Only the
   ``r.watershed`` call is timed; its peak resident memory comes from ``getrusage`` of
   the child.
3. Compares the two stream networks inside the AOI: the share of our stream cells
   within one cell (3x3) of a GRASS stream cell, and the reverse.
4. With ``--tiles N``: routes the same DEM by tiles of N cells
   (:func:`footprint.terrain.route_flow_by_tiles`, in process) and compares its streams
   with GRASS's and with the whole-grid routing's the same way.

Needs Debian ``grass-core`` (installed by the script with apt-get when it is missing and
it runs as root) and the SRTM3 tiles in the data directory. Prints figures; asserts nothing (timings belong here, not in tests).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import rasterio
from scipy import ndimage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from footprint import terrain  # noqa: E402
from footprint.catalogue import get_field  # noqa: E402
from footprint.io.dem import DemSource  # noqa: E402
from footprint.pipeline.delineate import (  # noqa: E402
    DelineationParameters,
    TerrainParameters,
    delineate_field,
    prepare_dem,
)
from footprint.pipeline.delineate_sources import dem_paths_of  # noqa: E402
from footprint.settings import get_settings  # noqa: E402

GRASS_SCRIPT = r'''
import json, os, resource, subprocess, sys, time
dem, out_dir, threshold = sys.argv[1], sys.argv[2], sys.argv[3]
def run(*args):
    subprocess.run(list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
run("r.in.gdal", "-o", f"input={dem}", "output=dem", "--quiet")
run("g.region", "raster=dem")
start = time.perf_counter()
cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
run("r.watershed", "-s", "elevation=dem", "accumulation=acc", "stream=str",
    f"threshold={threshold}", "memory=4000", "--quiet")
wall = time.perf_counter() - start
cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
run("r.out.gdal", "input=str", f"output={out_dir}/grass_streams.tif", "format=GTiff",
    "type=Int32", "nodata=-1", "-c", "--overwrite", "--quiet")
run("r.out.gdal", "input=acc", f"output={out_dir}/grass_acc.tif", "format=GTiff",
    "type=Float64", "-c", "--overwrite", "--quiet")
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak_kb / 1024}))
'''


def _mb(n_bytes: float) -> float:
    return n_bytes / 2 ** 20


def run_ours(field_id, params: DelineationParameters, out_dir: Path) -> dict:
    delineate_field(field_id, None, parameters=params)  # warm the numba disk cache
    start, cpu_start = time.perf_counter(), time.process_time()
    result = delineate_field(field_id, out_dir, parameters=params)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    tracemalloc.start()
    delineate_field(field_id, out_dir / "traced", parameters=params)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cells = result.summary["grid"]["cells"]
    return {"wall_s": wall, "cpu_s": cpu, "traced_peak_mb": _mb(peak), "cells": cells,
            "timings_s": result.summary["timings_s"], "areas": result.summary["areas_by_class"],
            "stream_length_km": result.stream_length_km,
            "code_version": result.summary["code_version"],
            "dem_sha256": [i["sha256"][:12] for i in result.summary["inputs"] if i["role"] == "dem"]}


RSS_CHILD = r'''
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
if sys.argv[6] == "service":  # glibc and GDAL bounded as api.app.create_app does
    from footprint.native_memory import bound_native_memory
    from footprint.settings import get_settings
    settings = get_settings()
    bound_native_memory(settings.malloc_arena_max, settings.mmap_threshold_kb,
                        settings.gdal_cache_mb)
from footprint.pipeline.delineate import delineate_field, field_from_aoi, DelineationParameters

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
target, warm, params = sys.argv[2], sys.argv[3], DelineationParameters.model_validate_json(sys.argv[5])
field = field_from_aoi(target) if target.endswith(".geojson") else target
delineate_field(field_from_aoi(warm), Path(sys.argv[4]) / "warm", parameters=params)
baseline = status("VmRSS")
delineate_field(field, Path(sys.argv[4]) / "rss", parameters=params)
print(json.dumps({"baseline_mb": baseline, "peak_mb": status("VmHWM")}))
'''


def run_ours_rss(target: str, centre: tuple[float, float], params: DelineationParameters,
                 work: Path, memory: str) -> dict:
    """Peak resident memory of a fresh process delineating ``target`` (field id or AOI
    file), and its resident memory before, after a warm-up on a 0.06° box at ``centre``;
    ``memory``: ``service`` bounds glibc's arenas and mmap threshold and GDAL's cache as
    the service does (:mod:`footprint.native_memory`), ``default`` leaves them."""
    lon, lat = centre
    warm = work / "warm_aoi.geojson"
    ring = [[lon - 0.03, lat - 0.03], [lon + 0.03, lat - 0.03], [lon + 0.03, lat + 0.03],
            [lon - 0.03, lat + 0.03], [lon - 0.03, lat - 0.03]]
    warm.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    done = subprocess.run([sys.executable, "-c", RSS_CHILD, str(REPO), target, str(warm),
                           str(work / "rss"), params.model_dump_json(), memory],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def routing_input(field_id, params: TerrainParameters):
    """The void-filled DEM our routing sees, with its AOI mask (same calls as the pipeline)."""
    settings = get_settings()
    field = field_id if not isinstance(field_id, str) else get_field(field_id)
    paths = dem_paths_of(field, None, settings, params.margin_m)
    prepared = prepare_dem(field, [DemSource(tuple(paths))], params)
    grid, elevation, in_aoi = prepared.grid, prepared.elevation_m, prepared.in_aoi
    return grid, elevation, in_aoi


def install_debian(package: str) -> None:
    """Install a Debian package the comparison needs (root only), else say how."""
    import os

    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(f"{package} not installed: apt-get update && apt-get install -y {package}")
    print(f"installing Debian {package} for the comparison ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def run_grass(dem_path: Path, work: Path, threshold_cells: int) -> dict:
    if shutil.which("grass") is None:
        install_debian("grass-core")
    script = work / "grass_watershed.py"
    script.write_text(GRASS_SCRIPT)
    done = subprocess.run(["grass", "--tmp-location", "EPSG:32630", "--exec", "python3", str(script),
                           str(dem_path), str(work), str(threshold_cells)],
                          capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    with rasterio.open(work / "grass_streams.tif") as src:
        figures["streams"] = src.read(1) > 0
    with rasterio.open(work / "grass_acc.tif") as src:
        figures["accumulation_cells"] = np.abs(src.read(1))
    return figures


def agreement(ours: np.ndarray, theirs: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(share of our cells within one cell of theirs, share of theirs within one of ours)."""
    near = np.ones((3, 3), bool)
    ours, theirs = ours & mask, theirs & mask
    ours_near_theirs = (ours & ndimage.binary_dilation(theirs, near)).sum() / max(ours.sum(), 1)
    theirs_near_ours = (theirs & ndimage.binary_dilation(ours, near)).sum() / max(theirs.sum(), 1)
    return float(ours_near_theirs), float(theirs_near_ours)


def _compare_tiles(args, elevation, grid, in_aoi, streams, grass_streams) -> None:
    """Route by tiles; print its time and its streams' agreement with GRASS and ours."""
    start, cpu_start = time.perf_counter(), time.process_time()
    tiled = terrain.route_flow_by_tiles(elevation, grid.res_m, tile_cells=args.tiles,
                                        transform=grid.transform)
    tiled_streams = terrain.extract_streams(tiled.upstream_area_km2, args.threshold_km2)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    near_grass, grass_near = agreement(tiled_streams, grass_streams, in_aoi)
    near_whole, whole_near = agreement(tiled_streams, streams, in_aoi)
    print(f"ours  routing + streams by tiles of {args.tiles} cells (in process) wall {wall:6.2f} s"
          f"   cpu {cpu:6.2f} s")
    print(f"      its streams near GRASS {near_grass:6.1%}   GRASS near them {grass_near:6.1%};"
          f"   near the whole grid's {near_whole:6.1%}, the whole grid's near them "
          f"{whole_near:6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--field", default="gh-birim")
    parser.add_argument("--aoi", type=Path, default=None,
                        help="GeoJSON AOI instead of --field (e.g. the four Birim tiles, "
                             "lon -2..0, lat 5..7: the 6.1 M-cell mosaic of issue 12)")
    parser.add_argument("--threshold-km2", type=float, default=5.0)
    parser.add_argument("--keep", type=Path, default=None, help="keep outputs in this directory")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time ours and r.watershed this many times, alternately (the "
                             "machine is shared: minima and medians of pairs run together)")
    parser.add_argument("--tiles", type=int, default=0,
                        help="also route by tiles of this many cells and compare the streams")
    args = parser.parse_args()
    params = DelineationParameters(terrain=TerrainParameters(stream_threshold_km2=args.threshold_km2))

    work = args.keep or Path(tempfile.mkdtemp(prefix="footprint-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    target = args.field
    if args.aoi is not None:
        from footprint.pipeline.delineate import field_from_aoi

        target = field_from_aoi(args.aoi)
        args.field = target.id
    ours = run_ours(target, params, work / "ours")
    field = target if not isinstance(target, str) else get_field(target)
    centre = field.aoi_4326.centroid
    rss_target = str(args.aoi.resolve()) if args.aoi else args.field
    rss = run_ours_rss(rss_target, (centre.x, centre.y), params, work, "service")
    rss_default = run_ours_rss(rss_target, (centre.x, centre.y), params, work, "default")

    grid, elevation, in_aoi = routing_input(target, params.terrain)
    dem_path = work / "dem_filled.tif"
    with rasterio.open(dem_path, "w", driver="GTiff", height=grid.shape[0], width=grid.shape[1],
                       count=1, dtype="float32", crs=grid.crs, transform=grid.transform,
                       nodata=float("nan")) as dst:
        dst.write(elevation, 1)
    cell_km2 = grid.res_m ** 2 / 1e6
    threshold_cells = math.ceil(args.threshold_km2 / cell_km2 * (1 - 1e-9))
    start, cpu_start = time.perf_counter(), time.process_time()
    routing = terrain.route_flow(elevation, grid.res_m, transform=grid.transform)
    streams = terrain.extract_streams(routing.upstream_area_km2, args.threshold_km2)
    routing_wall, routing_cpu = time.perf_counter() - start, time.process_time() - cpu_start

    grass = run_grass(dem_path, work, threshold_cells)
    walls = [(ours["wall_s"], grass["wall_s"])]
    for _ in range(args.repeat - 1):
        start = time.perf_counter()
        delineate_field(target, work / "ours", parameters=params)
        walls.append((time.perf_counter() - start, run_grass(dem_path, work, threshold_cells)["wall_s"]))
    ours_in_grass, grass_in_ours = agreement(streams, grass["streams"], in_aoi)
    exact = (streams & grass["streams"] & in_aoi).sum() / max((streams & in_aoi).sum(), 1)
    ours_acc = routing.upstream_area_km2 / cell_km2
    both = in_aoi & np.isfinite(ours_acc) & (grass["accumulation_cells"] > 0)
    big = both & (ours_acc >= threshold_cells)
    rel_err = np.abs(grass["accumulation_cells"][big] - ours_acc[big]) / ours_acc[big]

    cells_m = ours["cells"] / 1e6
    print(f"field {args.field}: DEM {grid.shape[0]} x {grid.shape[1]} = {ours['cells']:,} cells "
          f"at {grid.res_m:.0f} m (AOI {in_aoi.sum():,} cells); stream threshold "
          f"{args.threshold_km2} km2 = {threshold_cells} cells")
    print(f"code {ours['code_version']}; DEM tiles sha256 {', '.join(ours['dem_sha256'])}")
    print(f"ours  full delineation      wall {ours['wall_s']:6.2f} s   cpu {ours['cpu_s']:6.2f} s   "
          f"traced peak {ours['traced_peak_mb']:6.1f} MB ({ours['traced_peak_mb'] / cells_m:5.1f} MB per M cells)")
    above = rss["peak_mb"] - rss["baseline_mb"]
    print(f"ours  fresh process, memory bounded as the service runs (footprint.native_memory): "
          f"peak RSS {rss['peak_mb']:6.1f} MB, of which {above:6.1f} MB above the "
          f"{rss['baseline_mb']:.1f} MB of the interpreter with imports and warm kernels "
          f"({above / cells_m:5.1f} MB per M cells)")
    above_default = rss_default["peak_mb"] - rss_default["baseline_mb"]
    print(f"      the same with glibc's and GDAL's defaults: peak RSS "
          f"{rss_default['peak_mb']:6.1f} MB, {above_default:6.1f} MB above the baseline of "
          f"{rss_default['baseline_mb']:.1f} MB")
    print("      steps: " + ", ".join(f"{k} {v:.2f}s" for k, v in ours["timings_s"].items()))
    print(f"ours  routing + streams only wall {routing_wall:6.2f} s   cpu {routing_cpu:6.2f} s "
          "(conditioning, D8, accumulation, stream threshold: what r.watershed does)")
    print(f"GRASS r.watershed -s         wall {grass['wall_s']:6.2f} s   cpu {grass['cpu_s']:6.2f} s   "
          f"peak RSS {grass['peak_rss_mb']:6.1f} MB ({grass['peak_rss_mb'] / cells_m:5.1f} MB per M cells)")
    print(f"full delineation / r.watershed: wall-time ratio {ours['wall_s'] / grass['wall_s']:.2f}, "
          f"cpu-time ratio {ours['cpu_s'] / grass['cpu_s']:.2f} (machine load average now "
          f"{__import__('os').getloadavg()[0]:.1f})")
    if len(walls) > 1:
        ours_walls, grass_walls = np.array(walls).T
        print(f"timed {len(walls)} times alternately: ours wall min {ours_walls.min():.2f} s, median "
              f"{np.median(ours_walls):.2f} s; r.watershed min {grass_walls.min():.2f} s, median "
              f"{np.median(grass_walls):.2f} s; ratio of minima {ours_walls.min() / grass_walls.min():.2f}, "
              f"of medians {np.median(ours_walls) / np.median(grass_walls):.2f}, per pair "
              + ", ".join(f"{o / g:.2f}" for o, g in walls))
    print(f"memory / r.watershed's peak RSS: traced peak {ours['traced_peak_mb'] / grass['peak_rss_mb']:.2f}, "
          f"RSS above baseline {above / grass['peak_rss_mb']:.2f} "
          f"({above_default / grass['peak_rss_mb']:.2f} with glibc's defaults), whole-process RSS "
          f"{rss['peak_mb'] / grass['peak_rss_mb']:.2f}")
    print(f"stream agreement (AOI, within one cell): ours near GRASS {ours_in_grass:6.1%}   "
          f"GRASS near ours {grass_in_ours:6.1%}   (same cell: {exact:.1%})")
    print(f"stream cells in AOI: ours {(streams & in_aoi).sum():,}   GRASS {(grass['streams'] & in_aoi).sum():,}")
    print(f"accumulation on our stream cells: median relative difference {np.median(rel_err):.2%}, "
          f"{(rel_err < 0.05).mean():.1%} within 5%")
    if args.tiles:
        _compare_tiles(args, elevation, grid, in_aoi, streams, grass["streams"])
    print("areas per class (km2): " + ", ".join(f"{k} {v['area_m2'] / 1e6:.1f}" for k, v in ours["areas"].items()))
    print(f"placer (source-connected) stream length in AOI: {ours['stream_length_km']:.1f} km")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
