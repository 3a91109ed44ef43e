"""Calibration harness benchmark: size and power tables for GHA, TGO, ZWE and CIV.

Run: ``PYTHONPATH=. python benchmarks/calibration.py [--reps 1000] [--seed 0]
[--participants GHA,TGO,ZWE,CIV] [--from 2003] [--to 2015]``.

For each participant it prints the harness table (size at alpha = 0.05 with Monte Carlo
error, power per named alternative, the share of honest whole reports with any
"anomalous"), then the pass/fail of the issue's criteria: size in [0.025, 0.075] for
every p-valued test (also read within 2 Monte Carlo se), power >= 0.8 per alternative, <= 10 % honest reports anomalous.
Timing: the harness alone (footprints already computed) against a naive peer, one
``scipy.stats`` Monte Carlo of the volume tests only (a single test, the cheapest
part), as a ratio; the target is 1,000 replicates in < 60 s.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import stats


def _peer_volume_only(setup, reps: int, seed: int) -> float:
    """Naive reference: scipy.stats.beta per draw, volume tests only."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for _ in range(reps):
        i = rng.integers(setup.capacity_by_year[0].size)
        for cap in setup.capacity_by_year:
            x = cap[i] * rng.beta(3, 2)
            stats.beta.cdf(np.minimum(x / np.maximum(cap, 1e-9), 1), 3, 2).mean()
    return time.perf_counter() - t0


def main() -> None:
    from footprint.calibration import calibrate
    from footprint.pipeline.calibrate import participant_fields, participant_setup
    from footprint.settings import get_settings

    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--participants", default="GHA,TGO,ZWE,CIV")
    parser.add_argument("--from", dest="year_from", type=int, default=2003)
    parser.add_argument("--to", dest="year_to", type=int, default=2015)
    args = parser.parse_args()
    settings = get_settings()
    all_ok = True
    for code in args.participants.split(","):
        fields = participant_fields(code, settings=settings)  # as `footprint protocols calibrate`
        setup = participant_setup(code, args.year_from, args.year_to, fields, settings)
        market, series = setup.market, setup.volume_series
        t0, c0 = time.perf_counter(), time.process_time()
        result = calibrate(setup, reps=args.reps, seed=args.seed)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        peer = _peer_volume_only(setup, min(args.reps, 200), args.seed) * args.reps / min(
            args.reps, 200)
        print(f"\n== {code} {args.year_from}-{args.year_to} "
              f"(series model ar1={series.ar1:.2f}, trend_sd={series.trend_sd:.2f}; "
              f"market sd={market.annual_sd_ln:.2f}, ar1={market.annual_ar1:.2f})")
        print(result.format())
        rows = result.table.to_dict(orient="records")
        sized = [r for r in rows if not math.isnan(r["size"])]
        strict_ok = all(0.025 <= r["size"] <= 0.075 for r in sized)
        # "within its Monte Carlo error": size +- 2 se reaches [0.025, 0.075]
        size_ok = all(r["size"] - 2 * r["size_se"] <= 0.075 and r["size"] + 2 * r["size_se"]
                      >= 0.025 for r in sized)
        powers = [r[k] for r in rows for k in r if k.startswith("power_")
                  and not math.isnan(r[k])]
        power_ok = all(p >= 0.8 for p in powers)
        report_ok = result.report_any_anomalous <= 0.10
        all_ok &= size_ok and power_ok and report_ok
        print(f"size in [0.025, 0.075]: {strict_ok} (within 2 MC se: {size_ok}); power >= 0.8: {power_ok} "
              f"(min {min(powers) if powers else float('nan'):.3f}); "
              f"honest reports anomalous <= 10 %: {report_ok}")
        print(f"time: harness {seconds:.1f} s wall, {cpu:.1f} s CPU for {args.reps} replicates "
              f"(all tests and alternatives) vs naive scipy volume-only peer {peer:.1f} s; "
              f"ratio {seconds / peer:.2f}; target < 60 s: {seconds < 60}")
    print(f"\nall criteria met: {all_ok}")


if __name__ == "__main__":
    main()
