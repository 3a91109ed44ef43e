"""Benchmark: delineation by windows at growing sizes, on dask.distributed (issue 12 item 4).

Run::

    nice .venv/bin/python benchmarks/terrain_scale.py [--cells 10e6 25e6 50e6 100e6]
        [--window-cells 3000] [--workers 2] [--routing tiles|whole]

Each size runs in a fresh child process (so peak memories do not carry over) with a fresh
dask cluster whose scheduler and ``--workers`` workers (one thread each) run in their own
processes (``SubprocessCluster``: a scheduler inside the driver, as ``LocalCluster``
puts it, starves while the routing holds the GIL and restarts the workers after
``worker-ttl``; see :mod:`footprint.pipeline.windows`):

1. The DEM: the void-filled SRTM3 mosaic of the four Birim tiles at 90 m (lon -2..0,
   lat 5..7, as ``benchmarks/terrain.py --aoi``), mirrored (as ``numpy.pad`` symmetric)
   to a square of the asked number of cells: real relief, synthetic extent. Nodata
   (the sea, beyond the tiles) is set to 0 m. It is written to a file in the scratch
   directory and mapped, as a DEM larger than memory would be.
2. Routing (``--routing tiles``, the default): Priority-Flood, D8 and upstream area by
   tiles of ``--window-cells`` on the workers (:func:`footprint.terrain.route_flow_by_tiles`,
   its grids files mapped from the scratch directory,
   :func:`footprint.pipeline.windows.mapped_grids`), then streams (5 km²) and HAND by
   tiles; ``--routing whole``: the whole grid in the driver (:func:`footprint.terrain.route_flow`).
3. MRVBF and classes by windows with halos on the workers
   (:func:`footprint.terrain.classify_by_windows` with
   :func:`footprint.pipeline.windows.dask_map`); MRVBF is stitched into a file
   (:class:`footprint.pipeline.windows.DiskGrid`), the uint8 classes in the driver,
   sieved there.

Polygons, channel belts and COGs are not made here (``benchmarks/terrain.py`` times
them on the mosaic). Prints the code version and the mosaic's checksum, then per size:
cells, wall time and CPU time (driver + workers) in total and per million cells, the
driver's CPU, the routing's wall time, the driver's peak RSS (MB), its RSS at the start
(imports, the cluster's handles) and the growth from there to the peak in bytes a cell,
the driver's peak anonymous memory (``RssAnon``, sampled every 0.1 s: what the process
itself must hold; the rest of its RSS is pages of mapped files, which the system writes
back and drops under pressure; the sampling thread needs the GIL, so with ``--routing
whole`` it can miss a peak inside a kernel that holds it), each worker's peak RSS during
the run (``VmHWM``, reset after a warm-up whose RSS
is shown as ``(warm)``), a checksum of the class grid and the load average. Every figure
of a size is appended to ``--work``/results.jsonl; a child's log is kept there; a size
that fails or passes ``--timeout-s`` is reported as failed and the next size runs. A child
runs in its own session: on a timeout its whole process group (the child, the scheduler,
the workers) is killed, and after every child, however it ended, what is left of its group
is killed and its scratch directory (the MRVBF file, the workers' directories) removed.
Asserts nothing.

Measured 2026-12-01 (code d185f5d, 2 shared cores, load 1.4-3.4), routing by tiles of 3000
cells: 10 / 25 / 50 / 100 M cells in 25.8 / 50.9 / 100.4 / 203.3 s (2.58 / 2.04 / 2.01 /
2.03 s per M cells; CPU 2.87 / 3.09 / 3.33 / 3.34 s per M cells), driver anonymous peak
403 / 568 / 596 / 695 MB (3 bytes a cell from 10 to 100 M), worker peaks at most 648 /
697 / 934 / 931 MB. The same 100 M cells routed whole in the driver (``--routing whole``):
125.4 s, CPU 1.66 s per M cells, driver anonymous peak 2311 MB (a floor: see above) and
2876 MB resident.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from footprint import terrain  # noqa: E402
from footprint.io.dem import DemSource  # noqa: E402
from footprint.pipeline.delineate import TerrainParameters, field_from_aoi, prepare_dem  # noqa: E402
from footprint.pipeline.delineate_sources import dem_paths_of  # noqa: E402
from footprint.pipeline.windows import DiskGrid, dask_map, mapped_grids  # noqa: E402
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


def _mirrored(n: int, size: int) -> np.ndarray:
    """Indices 0..size-1, size-1..0, 0.. (``numpy.pad`` symmetric) of length ``n``."""
    i = np.arange(n) % (2 * size)
    return np.where(i < size, i, 2 * size - 1 - i)


def dem_of(cells: float, work: Path, scratch: Path) -> np.ndarray:
    """The mosaic mirrored to a square of ``cells``, built row block by row block into a
    mapped file in ``scratch`` (no padded intermediate, no whole grid in memory)."""
    base = mosaic_dem(work)
    side = int(round(cells ** 0.5))
    rows, cols = _mirrored(side, base.shape[0]), _mirrored(side, base.shape[1])
    z = np.lib.format.open_memmap(scratch / "dem.npy", mode="w+", dtype=np.float32,
                                  shape=(side, side))
    for r0 in range(0, side, 1024):
        z[r0:r0 + 1024] = base[rows[r0:r0 + 1024]][:, cols]
    return z


def _memory_mb(field: str) -> float:
    """VmRSS or VmHWM (peak) of this process, MB. Unlike ``ru_maxrss`` the peak is not
    inherited across ``exec`` from the parent that started the process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> float:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0); return that RSS."""
    Path("/proc/self/clear_refs").write_text("5")
    return _memory_mb("VmRSS")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _AnonPeak:
    """The highest ``RssAnon`` of this process, sampled every ``interval_s`` in a thread
    (the kernel keeps no peak of it)."""

    def __init__(self, interval_s: float = 0.1) -> None:
        import threading

        self.peak_mb, self._stop = _memory_mb("RssAnon"), threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.peak_mb = max(self.peak_mb, _memory_mb("RssAnon"))

    def __enter__(self) -> _AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _memory_mb("RssAnon"))


def _worker_usage() -> dict:
    return {"cpu_s": _cpu_s(), "peak_mb": _memory_mb("VmHWM")}


def _warm_worker() -> float:
    """Imports and compiled kernels, then the peak is reset: the run's peak is its own."""
    small = np.random.default_rng(0).random((200, 200), dtype=np.float32)
    terrain.classify_by_windows(small, small, small > 0, 90.0, window_cells=100)
    terrain.route_flow_by_tiles(small * 100, 90.0, tile_cells=70)
    return _reset_peak()


def _start_cluster(workers: int):
    """Scheduler and workers in their own processes (SubprocessCluster): the driver's
    routing holds the GIL for minutes at 100 M cells, and a scheduler living in the
    driver (LocalCluster) then misses the workers' heartbeats and restarts them after
    ``worker-ttl`` - the cause of the stopped 100 M-cell run."""
    from distributed.deploy.subprocess import SubprocessCluster

    os.environ["PYTHONPATH"] = os.pathsep.join(  # the workers import this checkout
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    return SubprocessCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None,
                             worker_kwargs={"memory_limit": 0})


def run_one(cells: float, args: argparse.Namespace) -> dict:
    """One size, in this (child) process; its files are in ``args.scratch``, which the
    parent removes however the child ends."""
    z = dem_of(cells, args.work, args.scratch)
    return _measure(z, args.window_cells, args.workers, args.scratch, args.routing)


def _route(z: np.ndarray, window_cells: int, client, scratch: Path, routing_mode: str):
    """Streams and HAND of ``z``, routed by tiles on the workers or whole here."""
    if routing_mode == "whole":
        routing = terrain.route_flow(z, 90.0)
    else:
        (scratch / "routing").mkdir()
        routing = terrain.route_flow_by_tiles(z, 90.0, tile_cells=window_cells,
                                              map_windows=dask_map(client),
                                              new_grid=mapped_grids(scratch / "routing"))
    streams = terrain.extract_streams(routing.upstream_area_km2, 5.0)
    return terrain.height_above_drainage(routing, streams)


def _measure(z: np.ndarray, window_cells: int, workers: int, scratch: Path,
             routing_mode: str) -> dict:
    import distributed

    with _start_cluster(workers) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(workers, timeout=300)
        baseline = client.run(_warm_worker)
        before = client.run(_worker_usage)
        rss_before = _reset_peak()
        start, cpu0 = time.perf_counter(), _cpu_s()
        with _AnonPeak() as anon:
            hand = _route(z, window_cells, client, scratch, routing_mode)
            routed = time.perf_counter() - start
            index_out = DiskGrid(scratch / "mrvbf.f32", z.shape)
            _, classes = terrain.classify_by_windows(z, hand, None, 90.0,
                                                     window_cells=window_cells,
                                                     map_windows=dask_map(client),
                                                     mrvbf_out=index_out)
        wall, cpu_driver = time.perf_counter() - start, _cpu_s() - cpu0
        after = client.run(_worker_usage)
    workers_cpu = sum(after[w]["cpu_s"] - before[w]["cpu_s"] for w in after)
    return {"cells": int(z.size), "shape": list(z.shape), "wall_s": wall, "routing_wall_s": routed,
            "cpu_s": cpu_driver + workers_cpu, "driver_cpu_s": cpu_driver,
            "driver_peak_mb": _memory_mb("VmHWM"), "driver_rss_before_mb": rss_before,
            "driver_anon_peak_mb": anon.peak_mb, "routing": routing_mode,
            "worker_peak_mb": sorted(round(u["peak_mb"], 1) for u in after.values()),
            "worker_baseline_mb": sorted(round(v, 1) for v in baseline.values()),
            "deposit_share": float((classes > 0).mean()),
            "classes_sha256": hashlib.sha256(classes.tobytes()).hexdigest()[:16]}


def _kill_group(pgid: int) -> None:
    """Kill what is left of a child's process group (its scheduler and workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def run_child(cells: float, args: argparse.Namespace) -> tuple[str | None, str]:
    """(the child's stdout, "") for a size, or (None, why it failed)."""
    log = args.work / f"child_{cells:.0f}.log"
    scratch = Path(tempfile.mkdtemp(prefix=f"scratch_{cells:.0f}_", dir=args.work))
    command = [sys.executable, __file__, "--child", "--cells", str(cells), "--window-cells",
               str(args.window_cells), "--workers", str(args.workers), "--work", str(args.work),
               "--scratch", str(scratch), "--routing", args.routing]
    try:
        with open(log, "w") as stderr:
            child = subprocess.Popen(  # its own group, killed as one; dask's files in scratch
                command, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True,
                env={**os.environ, "DASK_TEMPORARY_DIRECTORY": str(scratch)})
            try:
                out, _ = child.communicate(timeout=args.timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(child.pid)
                child.communicate()
                return None, f"timeout after {args.timeout_s:.0f} s"
            finally:
                _kill_group(child.pid)
        if child.returncode != 0:
            return None, f"{child.returncode}: {log.read_text().strip().splitlines()[-1:]}"
        return out, ""
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=float, nargs="+", default=[10e6, 25e6, 50e6, 100e6])
    parser.add_argument("--window-cells", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--routing", choices=["tiles", "whole"], default="tiles",
                        help="route by tiles on the workers (default) or whole in the driver")
    parser.add_argument("--work", type=Path, default=Path("/tmp/footprint-terrain-scale"))
    parser.add_argument("--timeout-s", type=float, default=7200,
                        help="a size that runs longer is reported as failed")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.child:
        print(json.dumps(run_one(args.cells[0], args)))
        return
    base = mosaic_dem(args.work)
    commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    print(f"code {commit}; mosaic {base.shape} sha256 "
          f"{hashlib.sha256(base.tobytes()).hexdigest()[:16]}; windows of {args.window_cells} "
          f"cells a side (+ halo); {args.workers} worker processes (1 thread); routing "
          f"{args.routing}")
    print(f"{'cells':>12} {'wall s':>7} {'s/M':>5} {'cpu s':>7} {'cpu/M':>5} {'drv cpu':>7} "
          f"{'route s':>7} "
          f"{'driver MB':>9} {'(start)':>7} {'B/cell':>6} {'anon MB':>7} "
          f"{'worker peak MB':>16} {'(warm)':>16} "
          f"{'classes sha':>16}  load")
    for cells in args.cells:
        out, failure = run_child(cells, args)
        if out is None:
            print(f"{cells:12,.0f} failed ({failure}) (see {args.work / f'child_{cells:.0f}.log'})",
                  flush=True)
            continue
        r = json.loads(out.strip().splitlines()[-1])
        with open(args.work / "results.jsonl", "a") as results:  # every figure, with its run
            results.write(json.dumps({"code": commit, "window_cells": args.window_cells,
                                      "workers": args.workers, **r}) + "\n")
        mcells = r["cells"] / 1e6
        print(f"{r['cells']:12,} {r['wall_s']:7.1f} {r['wall_s'] / mcells:5.2f} "
              f"{r['cpu_s']:7.1f} {r['cpu_s'] / mcells:5.2f} {r['driver_cpu_s']:7.1f} "
              f"{r['routing_wall_s']:7.1f} "
              f"{r['driver_peak_mb']:9.0f} {r['driver_rss_before_mb']:7.0f} "
              f"{(r['driver_peak_mb'] - r['driver_rss_before_mb']) * 2**20 / r['cells']:6.1f} "
              f"{r['driver_anon_peak_mb']:7.0f} "
              f"{str(r['worker_peak_mb']):>16} {str(r['worker_baseline_mb']):>16} "
              f"{r['classes_sha256']:>16}  {os.getloadavg()[0]:.1f}", flush=True)

if __name__ == "__main__":
    main()
