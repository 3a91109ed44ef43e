"""Monte Carlo throughput and memory: 10^6 and 10^7 capacity draws of the Birim sheet.

Run: ``.venv/bin/python benchmarks/montecarlo.py [--draws 1000000 10000000] [--block-size N]``

Each size runs in a fresh subprocess so ``ru_maxrss`` (peak resident memory of the
process) is not inherited from the previous size. The long table is streamed to a
temporary Parquet file (the bounded-memory path): memory should depend on the block size,
not on the number of draws. Prints draws per second, the tracemalloc peak (Python and numpy
allocations) and ru_maxrss.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Placeholder Birim areas by class (m²) and drainage length (km) so the benchmark does
#: not depend on the terrain pipeline; the engine's cost does not depend on their values.
AREAS_M2 = {"active_channel": 3.7e8, "floodplain": 4.2e8, "low_terrace": 4.2e8, "high_terrace": 5.7e8}
STREAM_LENGTH_KM = 1650.0


def _one(draws: int, block_size: int) -> dict:
    from footprint.footprints import FieldModel
    from footprint.params import load_sheet
    from footprint.simulation import simulate

    sheet = load_sheet("gh-birim")
    model = FieldModel(sheet, AREAS_M2, (), STREAM_LENGTH_KM)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracemalloc.start()
        start = time.perf_counter()
        result = simulate(sheet, model, draws=draws, seed=1, block_size=block_size,
                          draws_path=Path(tmp) / "draws.parquet")
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size_mb = (Path(tmp) / "draws.parquet").stat().st_size / 2 ** 20
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"draws": draws, "block_size": block_size, "seconds": round(elapsed, 2),
            "draws_per_s": round(draws / elapsed), "tracemalloc_peak_mb": round(peak / 2 ** 20, 1),
            "ru_maxrss_mb": round(maxrss_kb / 1024, 1), "parquet_mb": round(size_mb, 1),
            "columns": len(result.summaries),
            "capacity_p50_ct_per_year": round(result.summaries["capacity_ct_per_year"].p50)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--block-size", type=int, default=262_144)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_one(args.draws[0], args.block_size)))
        return
    print(f"{'draws':>12} {'block':>9} {'s':>8} {'draws/s':>12} {'tracemalloc MB':>15} "
          f"{'ru_maxrss MB':>13} {'parquet MB':>11}")
    for draws in args.draws:
        out = subprocess.run([sys.executable, __file__, "--child", "--draws", str(draws),
                              "--block-size", str(args.block_size)],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{row['draws']:>12,} {row['block_size']:>9,} {row['seconds']:>8} "
              f"{row['draws_per_s']:>12,} {row['tracemalloc_peak_mb']:>15} "
              f"{row['ru_maxrss_mb']:>13} {row['parquet_mb']:>11}")


if __name__ == "__main__":
    main()
