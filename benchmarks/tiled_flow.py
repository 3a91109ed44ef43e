"""Benchmark: upstream cell counts by tiles against the whole-grid accumulation.

Run::

    nice .venv/bin/python benchmarks/tiled_flow.py [--cells 2000] [--tile-cells 500]

The DEM: ``--cells`` x ``--cells`` cells of the SRTM3 mosaic of the four Birim tiles
(N05W002, N05W001, N06W002, N06W001 of ``shared/data/dem/srtm3``; voids are nodata),
routed once by :func:`footprint.terrain.flood.flood_network`; its downstream indices and
flood order are saved to a scratch directory. Each case then runs in a fresh child
process, which loads them, warms the compiled kernels on a small grid, resets its peak
resident memory (``/proc/self/clear_refs``) and runs the case ``--repeats`` times:

- ``flood.upstream_cells`` (the whole-grid pass along the flood order);
- ``tiled_flow.upstream_counts`` with one tile, and with ``--tile-cells`` a side;
- ``tiled_flow.first_downstream`` of the streams (100 cells upstream) carrying the
  filled DEM (HAND's inputs), with one tile and with ``--tile-cells`` a side; compared
  with a walk down the network from the streams' downstream ends (``equal``).

Prints, per case, the fastest wall time, the peak resident memory above the child's RSS
before the runs (MB and bytes a cell) and whether the counts equal the whole-grid ones.
Asserts nothing. Wall times on the shared 2-core machine vary with its load.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tiled_fill import mosaic  # noqa: E402  (the same 2000-cell window of the mosaic)


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def child(work: Path, case: str, tile_cells: int, repeats: int) -> None:
    from footprint.terrain import flood, tiled_flow

    idxs_ds, seq = np.load(work / "idxs_ds.npy"), np.load(work / "seq.npy")
    expected = np.load(work / "counts.npy")
    side = int(np.sqrt(idxs_ds.size))
    grid = idxs_ds.reshape(side, side)
    streams = (expected >= 100).reshape(side, side)
    filled = np.load(work / "filled.npy")
    _, small_ds, small_seq = flood.flood_network(np.random.default_rng(0).random((50, 50)))
    flood.upstream_cells(small_ds, small_seq)  # compile (or load) every kernel first
    tiled_flow.upstream_counts(small_ds.reshape(50, 50), tile_cells=20)
    Path("/proc/self/clear_refs").write_text("5")
    before_kb = status_kb("VmRSS")
    best, result = float("inf"), None
    for _ in range(repeats):
        del result  # one result held at a time
        start = time.perf_counter()
        if case == "flood.upstream_cells":
            result = flood.upstream_cells(idxs_ds, seq)
        elif case.startswith("first_downstream"):
            result = tiled_flow.first_downstream(grid, streams, carry=filled,
                                                 tile_cells=tile_cells or None)[0]
        else:
            result = tiled_flow.upstream_counts(grid, tile_cells=tile_cells or None)
        best = min(best, time.perf_counter() - start)
    peak_kb = status_kb("VmHWM") - before_kb  # before the check, which takes memory of its own
    if case.startswith("first_downstream"):
        same = np.array_equal(result, _walk(idxs_ds, streams.ravel()).reshape(side, side))
    else:
        same = np.array_equal(np.asarray(result).ravel(), expected)
    print(json.dumps({"case": case, "tile_cells": tile_cells, "seconds": round(best, 3),
                      "peak_mb": round(peak_kb / 1024, 1),
                      "bytes_per_cell": round(peak_kb * 1024 / idxs_ds.size, 1),
                      "equal": bool(same)}))


def _walk(idxs_ds: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """First seed down every cell's path, by stepping all cells at once."""
    down = idxs_ds.astype(np.int64)
    cell, first = np.arange(down.size), np.full(down.size, -1)
    active = np.flatnonzero(down >= 0)
    while active.size:
        here = cell[active]
        met = seeds[here]
        first[active[met]] = here[met]
        going = ~met & (down[here] != here)
        active = active[going]
        cell[active] = down[here[going]]
    return first


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--tile-cells", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], int(args.child[2]), args.repeats)
        return
    from footprint.terrain import flood

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        z = mosaic(args.cells)
        filled, idxs_ds, seq = flood.flood_network(z)
        np.save(work / "filled.npy", filled)
        np.save(work / "idxs_ds.npy", idxs_ds)
        np.save(work / "seq.npy", seq)
        np.save(work / "counts.npy", flood.upstream_cells(idxs_ds, seq))
        print(f"{z.shape[0]} x {z.shape[1]} cells, {np.isnan(z).sum()} nodata")
        for case, tile_cells in (("flood.upstream_cells", 0), ("tiled, one tile", 0),
                                 ("tiled", args.tile_cells), ("first_downstream, one tile", 0),
                                 ("first_downstream", args.tile_cells)):
            subprocess.run([sys.executable, __file__, "--repeats", str(args.repeats),
                            "--child", scratch, case, str(tile_cells)], check=True)


if __name__ == "__main__":
    main()
