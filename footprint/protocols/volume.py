"""Protocol 1: declared production against what the fields give that year (DOMAIN.md 4.1)."""

from __future__ import annotations

import math

import numpy as np

from footprint.errors import InvalidParameterError
from footprint.protocols.nulls import DEFAULT_UTILISATION, UtilisationModel
from footprint.protocols.verdicts import (
    DEFAULT_THRESHOLDS,
    TestResult,
    VerdictThresholds,
    _finite,
    _mc_floor,
    _two_sided,
    quantiles,
    verdict_from_p,
)

#: What a flagged volume test means, by tail (DOMAIN.md section 4.1).
VOLUME_PATTERNS = {
    "above": "above what the fields can give: foreign goods?",
    "below": "below what even low utilisation gives: goods leaving undeclared "
             "(the embargo pattern)?",
}

#: Declared-status labels: a KP record with carats, a declared "No Production", no record.
DECLARED_STATUS = ("declared", "no_production", "no_record")


def compare_volume(declared_ct: float, capacity_draws_ct: np.ndarray, *,
                   period: str | None = None, status: str = "declared",
                   utilisation: UtilisationModel = DEFAULT_UTILISATION,
                   thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """Declared production against what the fields give that year (DOMAIN.md 4.1).

    Statistic: declared carats ``x`` (reported as ``x / capacity P50``).
    Null: ``x = U C`` with ``C`` that year's capacity (the footprint's draws, ct/yr)
    and ``U`` the honest utilisation (:class:`UtilisationModel`), independent.
    p-value: two-sided, ``2 min(P(UC >= x), P(UC <= x))``, each tail
    ``mean_i P(U >= x / C_i)`` (exact over the Beta, Monte Carlo over the capacity draws,
    floored at ``1/(n+1)``). The lower tail is tested only where capacity P50 reaches
    ``real_capacity_ct``; elsewhere the test is one-sided, ``p = P(UC >= x)`` (doubling
    it would make a test of size alpha / 2: Togo's near-zero capacity).
    Detects: the upper tail, more carats than the fields can give that year (foreign
    goods); the lower tail, less than even low utilisation gives (production hidden, the
    embargo pattern). A year with no KP record is tested as 0 declared but labelled
    ``no_record``, apart from a declared "No Production".

    ``probability`` is ``P(capacity >= declared)`` (the DOMAIN.md 4.1 figure); the
    evidence holds the honest predictive CDF at ``x`` (``predictive_cdf``, mid-point at
    ties) that the break test reads.
    """
    cap, dropped = _finite(capacity_draws_ct)
    if cap.size == 0:
        raise InvalidParameterError("capacity: draws must hold finite numbers")
    declared = float(declared_ct)
    if not math.isfinite(declared) or declared < 0:
        raise InvalidParameterError(f"declared carats must be finite and >= 0, got {declared_ct}")
    if status not in DECLARED_STATUS:
        raise InvalidParameterError(f"status must be one of {DECLARED_STATUS}")
    cap = np.maximum(cap, 0.0)
    n = cap.size
    q = quantiles(cap)
    real = q["p50"] >= thresholds.real_capacity_ct
    positive = cap > 0
    share = np.divide(declared, cap, out=np.zeros(n), where=positive)
    cdf = utilisation.cdf(share)  # continuous in share: P(UC < x) = P(UC <= x)
    p_le = float(np.where(positive, cdf, 1.0).mean())  # zero capacity gives 0 <= x
    p_lt = float(np.where(positive, cdf, 1.0 if declared > 0 else 0.0).mean())
    p_ge = 1.0 - p_lt
    p_upper, p_lower = _mc_floor(p_ge, n), _mc_floor(p_le, n)
    p = _two_sided(p_upper, p_lower) if real else p_upper  # one-sided test at alpha
    tail = "above" if (p_upper <= p_lower or not real) else "below"
    p_cap_ge = float(np.mean(cap >= declared))
    return TestResult(
        name="volume_vs_capacity", period=period,
        statistic=declared / q["p50"] if q["p50"] > 0 else (0.0 if declared == 0 else math.inf),
        statistic_name="declared / capacity P50",
        p_value=p, probability=p_cap_ge, verdict=verdict_from_p(p, thresholds.alpha,
                                                                thresholds.watch_alpha),
        thresholds={"alpha": thresholds.alpha, "watch_alpha": thresholds.watch_alpha,
                    "real_capacity_ct": thresholds.real_capacity_ct},
        evidence={"declared_ct": declared, "declared_status": status, "capacity_ct": q,
                  "capacity_mean_ct": float(cap.mean()), "n_draws": int(n),
                  "n_draws_not_finite": dropped,
                  "p_capacity_ge_declared": p_cap_ge, "p_upper": p_upper, "p_lower": p_lower,
                  "predictive_cdf": 0.5 * (p_lt + p_le),
                  "utilisation": utilisation.model_dump(),
                  "lower_tail_tested": bool(real), "tail": tail},
        method="honest production = utilisation x capacity, utilisation ~ Beta"
               f"({utilisation.a:g}, {utilisation.b:g}); two-sided p from the predictive "
               "distribution over the capacity draws of the year")
