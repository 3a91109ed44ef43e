"""Truth recovery of the evidence update (issue 13, "Must show").

A synthetic field with known grade, thickness and workforce (each drawn from the prior of
the synthetic sheet, trial by trial, so a calibrated posterior covers the truth at its
nominal rate); N bulk samples (negative binomial stone counts: the nugget effect) and N
pit logs (lognormal) drawn around it, and one workforce census. For each N the table shows
the share of trials whose posterior P5-P95 contains the truth (target 85-95 %) for grade,
thickness and artisanal capacity (miners × days × m³/miner-day × grade × recovery, from
the seeded Monte Carlo of the updated sheet), and the median log band width ln(P95/P5) with
its ratio to the N=5 width beside 1/sqrt(N/5) (the peer: the classical rate).

Run: ``PYTHONPATH=. python benchmarks/evidence.py [--trials 100] [--draws 4000]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from footprint.evidence import SurveyTruth, apply_evidence, synthetic_survey
from footprint.footprints import compute_footprint
from footprint.params import parse_sheet


def _p(**kw):
    return {"unit": "1", "assumption": "synthetic truth-recovery sheet", **kw}


SHEET = parse_sheet({"field": "synthetic", "capacity_modes": ["artisanal"], "parameters": {
    "area_m2": _p(dist="fixed", value=1.0e7),
    "grade_ct_m3": _p(dist="lognormal", median=1.0, sigma=0.8, high=20.0),
    "thickness_m": _p(dist="triangular", low=0.2, mode=0.6, high=2.0),
    "overburden_m": _p(dist="uniform", low=0.5, high=6.0),
    "recovery": _p(dist="fixed", value=0.7),
    "miners": _p(dist="pert", low=500, mode=4000, high=20000),
    "days_per_year": _p(dist="fixed", value=200),
    "m3_per_miner_day": _p(dist="fixed", value=0.25)},
    "timeline": {"first_year": 2010, "last_year": 2010}})


def trial(seed: int, n: int, draws: int) -> dict[str, tuple[float, float, float]]:
    """One trial: ``name -> (truth, posterior P5, posterior P95)``."""
    rng = np.random.default_rng([seed, 7])
    u = rng.uniform(size=3)
    truth = SurveyTruth(grade_ct_m3=float(SHEET.parameters["grade_ct_m3"].ppf(u[0])),
                        thickness_m=float(SHEET.parameters["thickness_m"].ppf(u[1])),
                        miners=float(SHEET.parameters["miners"].ppf(u[2])),
                        dispersion_k=float(np.exp(rng.uniform(np.log(0.5), np.log(5.0)))))
    evidence = synthetic_survey(truth, n, seed)
    sheet, block = apply_evidence(SHEET, evidence)
    post = {b["parameter"]: b["posterior"] for b in block["updates"]}
    fp = compute_footprint("synthetic", sheet, None, seed=seed, draws=draws)
    capacity_truth = truth.miners * 200 * 0.25 * truth.grade_ct_m3 * 0.7
    cap = fp.capacity_by_year[2010]
    return {"grade": (truth.grade_ct_m3, post["grade_ct_m3"]["p5"], post["grade_ct_m3"]["p95"]),
            "thickness": (truth.thickness_m, post["thickness_m"]["p5"], post["thickness_m"]["p95"]),
            "capacity": (capacity_truth, cap.p5, cap.p95)}


def run(trials: int = 100, draws: int = 4000, sizes=(5, 20, 80)) -> dict[int, dict[str, dict]]:
    table: dict[int, dict[str, dict]] = {}
    for n in sizes:
        rows = [trial(seed, n, draws) for seed in range(trials)]
        table[n] = {}
        for name in ("grade", "thickness", "capacity"):
            truth, lo, hi = (np.array(v) for v in zip(*[r[name] for r in rows]))
            table[n][name] = {"coverage": float(np.mean((lo <= truth) & (truth <= hi))),
                              "width": float(np.median(np.log(hi / lo)))}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--draws", type=int, default=4000)
    args = parser.parse_args()
    start = time.perf_counter()
    table = run(args.trials, args.draws)
    first = min(table)
    print(f"truth recovery: {args.trials} seeded trials per N, {args.draws} Monte Carlo draws, "
          f"{time.perf_counter() - start:.0f} s")
    print(f"{'N':>4} {'parameter':>10} {'P5-P95 coverage':>16} {'width ln(P95/P5)':>17} "
          f"{'width / width(N=5)':>19} {'1/sqrt(N/5)':>12}")
    for n, rows in table.items():
        for name, row in rows.items():
            ratio = row["width"] / table[first][name]["width"]
            print(f"{n:>4} {name:>10} {row['coverage']:>16.0%} {row['width']:>17.3f} "
                  f"{ratio:>19.2f} {np.sqrt(first / n):>12.2f}")


if __name__ == "__main__":
    main()
