"""Statistical protocols: declared statistics against production footprints.

The six comparisons of DOMAIN.md section 4 (KPCS 2008 plenary: "statistical protocols ...
to allow comparison of the export footprints with the established production footprint
of the participants"). Every test is a pure function on numpy arrays / pandas tables and
returns a :class:`TestResult`: the statistic, a p-value or probability, a verdict
(``consistent``, ``watch``, ``anomalous``), the thresholds used and the evidence.

Conventions
-----------
* Carats (ct), US dollars (US$), US$/ct, carats per year (ct/yr).
* Monte Carlo p-values use the ``(k + 1) / (n + 1)`` estimator (Davison and Hinkley 1997,
  eq. 4.11; North, Curtis and Sham 2002), so ``n`` draws never give a p-value of 0.
* Band tests (volume, value) are two-sided: ``p = min(1, 2 min(P(X >= x), P(X <= x)))``.
  A p-value at or below ``band_anomalous_p = 0.10`` means the declared figure lies outside
  the footprint's P5-P95 band (above P95: "more than the fields can give"); at or below
  ``band_watch_p = 0.20``, outside P10-P90.
* A threshold is inclusive: a value exactly at the edge gets the stronger verdict (a
  relative tolerance of 1e-12 absorbs floating-point representation).
* After Benjamini-Hochberg (:func:`adjust_benjamini_hochberg`) the verdicts of the tests
  that have p-values are re-read from the adjusted p-values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import stats

from footprint.errors import InvalidParameterError
from footprint.value import COMMON_CLASSES, map_sieve_shares

Verdict = Literal["consistent", "watch", "anomalous"]
VERDICTS: tuple[Verdict, ...] = ("consistent", "watch", "anomalous")
_EDGE_RTOL = 1e-12


class VerdictThresholds(BaseModel):
    """Verdict thresholds of every protocol, with their documented defaults.

    p-value thresholds are applied to Benjamini-Hochberg adjusted p-values where a report
    adjusts them; relative thresholds to ``|discrepancy| / reference`` (dimensionless).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    band_anomalous_p: float = Field(
        0.10, gt=0, lt=1, description="Two-sided Monte Carlo p at or below which a declared "
        "figure is anomalous against a footprint band (0.10 = outside P5-P95).")
    band_watch_p: float = Field(
        0.20, gt=0, lt=1, description="... is to watch (0.20 = outside P10-P90).")
    test_anomalous_p: float = Field(
        0.01, gt=0, lt=1, description="p at or below which a classical test (two-sample, "
        "chi-square) is anomalous.")
    test_watch_p: float = Field(0.05, gt=0, lt=1, description="... is to watch.")
    real_capacity_ct: float = Field(
        1_000.0, ge=0, description="Capacity P50 (ct/yr) below which the lower tail is "
        "not tested: 'far below capacity' (the embargo pattern) needs real capacity.")
    mass_balance_watch: float = Field(
        0.05, ge=0, description="|production + imports - exports - stock change| / "
        "(production + imports) at or above which the balance is to watch.")
    mass_balance_anomalous: float = Field(0.20, ge=0, description="... is anomalous.")
    mirror_watch: float = Field(
        0.10, ge=0, le=1, description="|A's exports to B - B's imports from A| / the larger "
        "of the two, at or above which the pair is to watch.")
    mirror_anomalous: float = Field(0.25, ge=0, le=1, description="... is anomalous.")
    fdr_alpha: float = Field(0.05, gt=0, lt=1, description="FDR level reported with the "
                             "Benjamini-Hochberg adjustment (rejections at this level).")

    @model_validator(mode="after")
    def _ordered(self) -> VerdictThresholds:
        pairs = [("band_anomalous_p", "band_watch_p"), ("test_anomalous_p", "test_watch_p")]
        for strong, weak in pairs:
            if getattr(self, strong) > getattr(self, weak):
                raise ValueError(f"{strong} must be <= {weak}")
        for weak, strong in [("mass_balance_watch", "mass_balance_anomalous"),
                             ("mirror_watch", "mirror_anomalous")]:
            if getattr(self, weak) > getattr(self, strong):
                raise ValueError(f"{weak} must be <= {strong}")
        return self


DEFAULT_THRESHOLDS = VerdictThresholds()


@dataclass(frozen=True)
class TestResult:
    """The outcome of one protocol test.

    Attributes
    ----------
    name
        protocol name (``volume_vs_capacity``, ``value_band``, ``shipment_values``,
        ``size_distribution``, ``mass_balance``, ``mirror``, ``break_volume``,
        ``break_value``).
    period
        the period tested (``"2010"``, ``"2003-2015"``) or None.
    statistic, statistic_name
        the test statistic and what it is (units in the name).
    p_value
        raw p-value, or None for tests without one (mass balance, mirror, breaks).
    probability
        a probability that is not a p-value, when the test has one (``P(capacity >=
        declared)`` for the volume test), else None.
    verdict
        ``consistent``, ``watch`` or ``anomalous``.
    thresholds
        the thresholds the verdict used (``anomalous_p``/``watch_p`` or
        ``anomalous``/``watch`` for relative tests).
    evidence
        JSON-able numbers behind the verdict.
    method
        what was computed, in words (the reference behind it).
    p_adjusted
        Benjamini-Hochberg adjusted p-value, once adjusted.
    """

    __test__ = False  # not a pytest class

    name: str
    period: str | None
    statistic: float
    statistic_name: str
    p_value: float | None
    probability: float | None
    verdict: Verdict
    thresholds: dict[str, float]
    evidence: dict[str, Any] = field(default_factory=dict)
    method: str = ""
    p_adjusted: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def verdict_from_p(p: float, anomalous_p: float, watch_p: float) -> Verdict:
    """``anomalous`` if ``p <= anomalous_p``, ``watch`` if ``p <= watch_p``, else consistent."""
    if p <= anomalous_p * (1 + _EDGE_RTOL):
        return "anomalous"
    if p <= watch_p * (1 + _EDGE_RTOL):
        return "watch"
    return "consistent"


def verdict_from_relative(discrepancy: float, watch: float, anomalous: float) -> Verdict:
    """``anomalous`` if ``|d| >= anomalous``, ``watch`` if ``|d| >= watch``, else consistent."""
    d = abs(discrepancy)
    if d >= anomalous * (1 - _EDGE_RTOL):
        return "anomalous"
    if d >= watch * (1 - _EDGE_RTOL):
        return "watch"
    return "consistent"


def worst_verdict(verdicts: Sequence[str]) -> Verdict:
    """The strongest of several verdicts (``consistent`` for none)."""
    return max(verdicts, key=VERDICTS.index, default="consistent")  # type: ignore[return-value]


def _as_draws(draws: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(draws, dtype="float64").ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise InvalidParameterError(f"{what}: draws must be a non-empty array of finite numbers")
    return arr


def quantiles(draws: np.ndarray, probs: Sequence[float] = (0.05, 0.10, 0.50, 0.90, 0.95)
              ) -> dict[str, float]:
    """``{"p5": ..., "p10": ..., ...}`` of the draws (linear interpolation, numpy default)."""
    values = np.quantile(np.asarray(draws, dtype="float64"), probs)
    return {f"p{round(p * 100):d}": float(v) for p, v in zip(probs, values)}


def mc_tail_probabilities(draws: np.ndarray, x: float) -> tuple[float, float]:
    """``(P(X >= x), P(X <= x))`` estimated from draws as plain fractions."""
    arr = np.asarray(draws, dtype="float64")
    return float(np.mean(arr >= x)), float(np.mean(arr <= x))


def mc_p_value(draws: np.ndarray, x: float, *, upper: bool = True, lower: bool = True) -> float:
    """Two-sided Monte Carlo p-value ``min(1, 2 min((k_ge+1)/(n+1), (k_le+1)/(n+1)))``.

    With ``lower=False`` (or ``upper=False``) only one tail is tested, still doubled so the
    band thresholds keep their meaning (P95 edge at p = 0.10).
    """
    arr = np.asarray(draws, dtype="float64")
    n = arr.size
    tails = []
    if upper:
        tails.append((np.count_nonzero(arr >= x) + 1) / (n + 1))
    if lower:
        tails.append((np.count_nonzero(arr <= x) + 1) / (n + 1))
    if not tails:
        raise InvalidParameterError("mc_p_value: test at least one tail")
    return float(min(1.0, 2.0 * min(tails)))


# --------------------------------------------------------------------------- combining fields

def sum_capacity_draws(draws_per_field: Sequence[np.ndarray]) -> np.ndarray:
    """A participant's capacity: its fields' capacity draws summed draw by draw (ct/yr).

    Draw ``i`` of the sum is the sum of draw ``i`` of every field (never percentiles
    added: the P95 of a sum is not the sum of the P95s). Every field must have the same
    number of draws.
    """
    arrays = [_as_draws(d, "capacity") for d in draws_per_field]
    if not arrays:
        raise InvalidParameterError("no capacity draws to sum: the participant has no field")
    sizes = {a.size for a in arrays}
    if len(sizes) != 1:
        raise InvalidParameterError(
            f"fields have different numbers of capacity draws {sorted(sizes)}",
            hint="compute every field's footprint with the same number of draws")
    return np.sum(np.vstack(arrays), axis=0)


def combine_value_draws(capacity_draws: Sequence[np.ndarray],
                        value_draws: Sequence[np.ndarray]) -> np.ndarray:
    """A participant's US$/ct: the carat-weighted mean of its fields' US$/ct, draw by draw.

    ``v_i = sum_f c_fi v_fi / sum_f c_fi`` (declared value is total US$ over total carats);
    a draw where every field's capacity is 0 takes the unweighted mean.
    """
    caps = np.vstack([_as_draws(c, "capacity") for c in capacity_draws])
    vals = np.vstack([_as_draws(v, "value") for v in value_draws])
    if caps.shape != vals.shape:
        raise InvalidParameterError("capacity and value draws must have the same shape per field")
    if caps.shape[0] == 1:
        return vals[0]
    total = caps.sum(axis=0)
    weighted = np.divide((caps * vals).sum(axis=0), total, out=vals.mean(axis=0),
                         where=total > 0)
    return weighted


def combine_size_shares(shares: Sequence[Mapping[str, float]],
                        weights: Sequence[float], *, normalise: bool = True) -> dict[str, float]:
    """Carat shares per class of several fields, weighted by their carats (e.g. P50 capacity).

    With ``normalise=False`` the weighted mean is returned as is (for per-class spreads)."""
    classes = list(dict.fromkeys(c for s in shares for c in s))  # first-seen order
    w = np.asarray(weights, dtype="float64")
    if w.sum() <= 0:
        w = np.ones_like(w)
    mix = {c: float(sum(wi * s.get(c, 0.0) for wi, s in zip(w, shares)) / w.sum())
           for c in classes}
    total = sum(mix.values())
    return {c: v / total for c, v in mix.items()} if normalise and total > 0 else mix


# --------------------------------------------------------------------------- 1 volume

#: What a flagged volume test means, by tail (DOMAIN.md section 4.1).
VOLUME_PATTERNS = {
    "above": "above capacity: more carats than the fields can give (foreign goods?)",
    "below": "below capacity: the embargo pattern (goods leaving undeclared?)",
}


def compare_volume(declared_ct: float, capacity_draws_ct: np.ndarray, *,
                   period: str | None = None,
                   thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """Declared production against capacity draws (DOMAIN.md section 4.1).

    Parameters
    ----------
    declared_ct
        declared carats for the period (a year: ct; compare with capacity in ct/yr).
    capacity_draws_ct
        capacity draws for the same period (ct), already summed over the participant's
        fields (:func:`sum_capacity_draws`).

    Returns
    -------
    TestResult
        ``probability = P(capacity >= declared)``; ``p_value`` two-sided
        (:func:`mc_p_value`); ``evidence["tail"]``: the nearer tail (``above``/``below``),
        which names the pattern when the verdict is not consistent
        (:data:`VOLUME_PATTERNS`). Declared above P95 -> anomalous ("more than the fields
        can give": foreign goods). Declared below P5 while capacity P50 >= ``real_capacity_ct``
        -> anomalous (the embargo pattern: goods leaving undeclared); with no real
        capacity the lower tail is not tested.
    """
    cap = _as_draws(capacity_draws_ct, "capacity")
    declared = float(declared_ct)
    if not math.isfinite(declared) or declared < 0:
        raise InvalidParameterError(f"declared carats must be finite and >= 0, got {declared_ct}")
    q = quantiles(cap)
    real = q["p50"] >= thresholds.real_capacity_ct
    p_ge, p_le = mc_tail_probabilities(cap, declared)
    p = mc_p_value(cap, declared, upper=True, lower=real)
    verdict = verdict_from_p(p, thresholds.band_anomalous_p, thresholds.band_watch_p)
    tail = "above" if (p_ge <= p_le or not real) else "below"
    return TestResult(
        name="volume_vs_capacity", period=period,
        statistic=declared / q["p50"] if q["p50"] > 0 else math.inf,
        statistic_name="declared / capacity P50",
        p_value=p, probability=p_ge, verdict=verdict,
        thresholds={"anomalous_p": thresholds.band_anomalous_p,
                    "watch_p": thresholds.band_watch_p,
                    "real_capacity_ct": thresholds.real_capacity_ct},
        evidence={"declared_ct": declared, "capacity_ct": q, "capacity_mean_ct": float(cap.mean()),
                  "n_draws": int(cap.size), "p_capacity_ge_declared": p_ge,
                  "p_capacity_le_declared": p_le, "lower_tail_tested": bool(real),
                  "tail": tail},
        method="P(capacity >= declared) from the capacity draws; two-sided Monte Carlo "
               "p-value (k+1)/(n+1), lower tail only where capacity is real")


# --------------------------------------------------------------------------- 2 value

def compare_value_band(declared_usd_per_ct: float, value_draws_usd_per_ct: np.ndarray, *,
                       period: str | None = None,
                       thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """Declared US$/ct against the value footprint (DOMAIN.md section 4.2).

    The statistic is the log-scale z-score ``(ln x - mean(ln V)) / sd(ln V)`` (value per
    carat is close to lognormal); the percentile of ``x`` among the draws and the two-sided
    Monte Carlo p-value (:func:`mc_p_value`) give the verdict.
    """
    values = _as_draws(value_draws_usd_per_ct, "value")
    x = float(declared_usd_per_ct)
    if not (math.isfinite(x) and x > 0) or np.any(values <= 0):
        raise InvalidParameterError("US$/ct must be > 0 (declared and draws)")
    logs = np.log(values)
    sd = float(logs.std(ddof=1)) if values.size > 1 else 0.0
    diff = math.log(x) - float(logs.mean())
    if sd > 0:
        z = diff / sd
    else:
        z = 0.0 if diff == 0 else math.copysign(math.inf, diff)
    p = mc_p_value(values, x)
    percentile = float(np.mean(values <= x) * 100)
    return TestResult(
        name="value_band", period=period, statistic=z, statistic_name="log-scale z-score",
        p_value=p, probability=None,
        verdict=verdict_from_p(p, thresholds.band_anomalous_p, thresholds.band_watch_p),
        thresholds={"anomalous_p": thresholds.band_anomalous_p,
                    "watch_p": thresholds.band_watch_p},
        evidence={"declared_usd_per_ct": x, "value_usd_per_ct": quantiles(values),
                  "percentile": percentile, "n_draws": int(values.size),
                  "direction": "above" if percentile >= 50 else "below"},
        method="log-scale z-score and percentile of the declared US$/ct among the value "
               "draws; two-sided Monte Carlo p-value (k+1)/(n+1)")


def compare_shipment_values(shipment_usd_per_ct: np.ndarray, value_draws_usd_per_ct: np.ndarray,
                            *, period: str | None = None,
                            thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """Certificates' US$/ct against the value footprint: Mann-Whitney U on log US$/ct.

    Two-sided Mann-Whitney U (scipy.stats.mannwhitneyu, asymptotic) of the shipments'
    log US$/ct against the footprint's value draws; the two-sample Kolmogorov-Smirnov
    statistic and p-value (scipy.stats.ks_2samp) are given as evidence. The statistic is
    the common-language effect size ``U / (n_shipments n_draws)`` (0.5: no shift; above:
    shipments priced higher than the footprint).
    """
    ships = _as_draws(shipment_usd_per_ct, "shipments")
    values = _as_draws(value_draws_usd_per_ct, "value")
    if np.any(ships <= 0) or np.any(values <= 0):
        raise InvalidParameterError("US$/ct must be > 0 (shipments and draws)")
    a, b = np.log(ships), np.log(values)
    mw = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic")
    ks = stats.ks_2samp(a, b)
    effect = float(mw.statistic) / (a.size * b.size)
    return TestResult(
        name="shipment_values", period=period, statistic=effect,
        statistic_name="Mann-Whitney U / (n1 n2)", p_value=float(mw.pvalue), probability=None,
        verdict=verdict_from_p(float(mw.pvalue), thresholds.test_anomalous_p,
                               thresholds.test_watch_p),
        thresholds={"anomalous_p": thresholds.test_anomalous_p,
                    "watch_p": thresholds.test_watch_p},
        evidence={"n_shipments": int(a.size), "n_draws": int(b.size),
                  "shipment_usd_per_ct": quantiles(ships), "value_usd_per_ct": quantiles(values),
                  "mann_whitney_u": float(mw.statistic), "ks_statistic": float(ks.statistic),
                  "ks_p_value": float(ks.pvalue)},
        method="two-sided Mann-Whitney U on log US$/ct (shipments vs value draws); "
               "KS two-sample as evidence")


# --------------------------------------------------------------------------- 3 size

def representative_stone_ct(classes: Sequence[tuple[str, float, float]] = COMMON_CLASSES
                            ) -> dict[str, float]:
    """A representative stone weight (ct) per size class: the geometric midpoint.

    Open classes: ``[0, b)`` -> ``b / 2``; ``[a, inf)`` -> ``2 a``.
    """
    out = {}
    for name, low, high in classes:
        if low <= 0:
            out[name] = high / 2.0
        elif not math.isfinite(high):
            out[name] = 2.0 * low
        else:
            out[name] = math.sqrt(low * high)
    return out


def observed_common_class_ct(ct_by_sieve: Mapping[str, float]) -> dict[str, float]:
    """Carats per sieve class of any scheme -> carats per common class.

    Uses :func:`footprint.value.map_sieve_shares` (the one sieve mapping of the project).
    """
    total = float(sum(ct_by_sieve.values()))
    mapped = map_sieve_shares(ct_by_sieve).shares
    return {str(k): float(v) * total for k, v in mapped.items()}


def compare_size_distribution(observed_ct: Mapping[str, float], expected_share: Mapping[str, float],
                              *, stone_weight_ct: Mapping[str, float] | None = None,
                              expected_share_sd: Mapping[str, float] | None = None,
                              period: str | None = None,
                              thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """Shipments' size distribution against the footprint's: Pearson chi-square.

    The footprint's shares are themselves uncertain. With ``expected_share_sd`` (the sd of
    each carat share, e.g. from its P5-P95 band) each class's variance is the sampling
    variance plus that uncertainty, ``n p + (n sd)^2`` in stones (an overdispersed Pearson
    statistic, still referred to chi-square with k-1 df). Without it, thousands of stones
    make any parcel "anomalous" against mean shares that are only known to a few percent.

    Both sides in the same (common) classes. Chi-square needs counts of independent
    units, which are stones, not carats: carats per class are turned into stones with a
    representative stone weight per class (``stone_weight_ct``, default
    :func:`representative_stone_ct` of :data:`footprint.value.COMMON_CLASSES`), and the
    footprint's carat shares into
    stone shares the same way. Then ``scipy.stats.chisquare(f_obs, f_exp)`` with
    ``f_exp`` scaled to the observed stone total. A class the footprint does not expect
    (share 0 or absent) is left out of the chi-square; stones observed there make the
    p-value 0 (impossible under the footprint) and are listed in the evidence.
    """
    weights = stone_weight_ct or representative_stone_ct()
    used = set(expected_share) | {c for c, ct in observed_ct.items() if ct > 0}
    unknown = sorted(used - set(weights))
    if unknown:
        raise InvalidParameterError(f"size classes {unknown} have no stone weight",
                                    hint="map both sides to the common classes first")
    classes = [c for c in weights if c in used]
    obs_ct = np.array([float(observed_ct.get(c, 0.0)) for c in classes])
    exp_share = np.array([float(expected_share.get(c, 0.0)) for c in classes])
    w = np.array([float(weights[c]) for c in classes])
    if obs_ct.sum() <= 0 or exp_share.sum() <= 0:
        raise InvalidParameterError("size distribution: no carats observed or expected")
    obs_stones = obs_ct / w
    exp_stone_share = (exp_share / w) / (exp_share / w).sum()
    impossible = (exp_stone_share == 0) & (obs_stones > 0)
    keep = exp_stone_share > 0
    f_obs = obs_stones[keep]
    f_exp = exp_stone_share[keep] * f_obs.sum()
    dof = int(keep.sum()) - 1
    if expected_share_sd is None:
        chi = stats.chisquare(f_obs, f_exp)
        statistic, p_chi = float(chi.statistic), float(chi.pvalue)
        name = f"Pearson chi-square ({dof} df, stones)"
    else:
        sd = np.array([float(expected_share_sd.get(c, 0.0)) for c in classes])
        scale = 1.0 / (exp_share / w).sum()  # carat shares -> stone shares
        sd_stones = (sd / w * scale)[keep] * f_obs.sum()
        statistic = float(np.sum((f_obs - f_exp) ** 2 / (f_exp + sd_stones ** 2)))
        p_chi = float(stats.chi2.sf(statistic, dof))
        name = f"Pearson chi-square with footprint share uncertainty ({dof} df, stones)"
    p = 0.0 if impossible.any() else p_chi
    return TestResult(
        name="size_distribution", period=period, statistic=statistic,
        statistic_name=name,
        p_value=p, probability=None,
        verdict=verdict_from_p(p, thresholds.test_anomalous_p, thresholds.test_watch_p),
        thresholds={"anomalous_p": thresholds.test_anomalous_p,
                    "watch_p": thresholds.test_watch_p},
        evidence={"classes": classes,
                  "observed_ct": obs_ct.tolist(),
                  "observed_share": (obs_ct / obs_ct.sum()).tolist(),
                  "expected_share": (exp_share / exp_share.sum()).tolist(),
                  "stone_weight_ct": w.tolist(), "observed_stones": obs_stones.tolist(),
                  "classes_impossible": [c for c, bad in zip(classes, impossible) if bad]},
        method="Pearson chi-square on estimated stone counts per common size class against "
               "the footprint's shares"
               + (", the footprint's share uncertainty added to each class's variance"
                  if expected_share_sd is not None else " (scipy.stats.chisquare)"))


# --------------------------------------------------------------------------- 4 mass balance

def check_mass_balance(balance: pd.DataFrame, *, period: str | None = None,
                       thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """production + imports - exports - stock change, per period (DOMAIN.md 4.4).

    Parameters
    ----------
    balance
        one row per period: ``period``, ``production_ct``, ``imports_ct``, ``exports_ct``,
        ``stock_change_ct`` (0 when not declared; say so in ``stock_note`` if present).

    Returns
    -------
    TestResult
        statistic: the largest ``|residual| / (production + imports)`` over the periods
        (``inf`` when goods left with neither production nor imports); verdict from
        the mass-balance thresholds; per-period table in the evidence.
    """
    need = ["period", "production_ct", "imports_ct", "exports_ct", "stock_change_ct"]
    missing = [c for c in need if c not in balance.columns]
    if missing or balance.empty:
        raise InvalidParameterError(f"mass balance needs columns {need} and at least one row")
    frame = balance[need].copy()
    frame["residual_ct"] = (frame["production_ct"] + frame["imports_ct"]
                            - frame["exports_ct"] - frame["stock_change_ct"])
    supply = frame["production_ct"] + frame["imports_ct"]
    rel = np.where(supply > 0, frame["residual_ct"].abs() / supply.where(supply > 0, 1.0),
                   np.where(frame["residual_ct"].abs() > 0, np.inf, 0.0))
    frame["relative"] = rel
    worst = float(np.max(rel))
    verdicts = [verdict_from_relative(r, thresholds.mass_balance_watch,
                                      thresholds.mass_balance_anomalous) for r in rel]
    frame["verdict"] = verdicts
    return TestResult(
        name="mass_balance", period=period, statistic=worst,
        statistic_name="max |residual| / (production + imports)", p_value=None,
        probability=None, verdict=worst_verdict(verdicts),
        thresholds={"watch": thresholds.mass_balance_watch,
                    "anomalous": thresholds.mass_balance_anomalous},
        evidence={"periods": frame.to_dict(orient="records")},
        method="residual = production + imports - exports - stock change (carats), "
               "relative to production + imports")


# --------------------------------------------------------------------------- 5 mirror

def mirror_pairs(exports: pd.DataFrame, participant: str) -> pd.DataFrame:
    """Pair a participant's partner flows with the partners' mirror declarations.

    From a parsed export-statistics table (:func:`footprint.declarations.parse_exports`):
    for every row of ``participant`` with a partner B, the row of B with partner
    ``participant``, the opposite flow and the same period. Columns: ``period``,
    ``partner``, ``flow`` (as declared by the participant), ``declared_ct``,
    ``mirror_ct``, ``declared_usd``, ``mirror_usd``. Rows without a mirror are dropped.
    """
    own = exports[(exports["participant"] == participant) & (exports["partner"] != "")]
    other = exports[exports["partner"] == participant]
    agg = {"carats": "sum", "value_usd": "sum"}
    own = own.groupby(["period", "partner", "flow"], as_index=False).agg(agg)
    other = other.groupby(["period", "participant", "flow"], as_index=False).agg(agg)
    other = other.assign(flow=other["flow"].map({"export": "import", "import": "export"}))
    merged = own.merge(other.rename(columns={"participant": "partner"}),
                       on=["period", "partner", "flow"], suffixes=("_declared", "_mirror"))
    return merged.rename(columns={"carats_declared": "declared_ct", "carats_mirror": "mirror_ct",
                                  "value_usd_declared": "declared_usd",
                                  "value_usd_mirror": "mirror_usd"})


def compare_mirror(pairs: pd.DataFrame, *, period: str | None = None,
                   thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """Mirror statistics: A's exports to B against B's imports from A (DOMAIN.md 4.5).

    Compared in carats (US$ differ legitimately: FOB against CIF). Discrepancy of a pair:
    ``(declared - mirror) / max(declared, mirror)`` in [-1, 1]; the statistic is the
    largest absolute one; per-pair table in the evidence.
    """
    if pairs.empty:
        raise InvalidParameterError("mirror statistics: no pair of mirror declarations")
    frame = pairs.copy()
    larger = np.maximum(frame["declared_ct"], frame["mirror_ct"])
    frame["discrepancy"] = np.where(larger > 0, (frame["declared_ct"] - frame["mirror_ct"])
                                    / larger.where(larger > 0, 1.0), 0.0)
    frame["verdict"] = [verdict_from_relative(d, thresholds.mirror_watch,
                                              thresholds.mirror_anomalous)
                        for d in frame["discrepancy"]]
    worst = float(frame["discrepancy"].abs().max())
    return TestResult(
        name="mirror", period=period, statistic=worst,
        statistic_name="max |declared - mirror| / max(declared, mirror) (carats)",
        p_value=None, probability=None, verdict=worst_verdict(list(frame["verdict"])),
        thresholds={"watch": thresholds.mirror_watch, "anomalous": thresholds.mirror_anomalous},
        evidence={"pairs": frame.to_dict(orient="records")},
        method="relative discrepancy of carats between mirror declarations")


# --------------------------------------------------------------------------- 6 break

def break_penalty(y: np.ndarray) -> float:
    """Schwarz penalty ``2 sigma^2 ln n`` for PELT with an L2 cost.

    ``sigma`` is estimated robustly from first differences (MAD / sqrt 2, Fryzlewicz 2014
    WBS practice), so a level shift does not inflate it; floored at 0.05 (5 % on a log
    scale) so a nearly constant series does not break on noise.
    """
    diffs = np.diff(y)
    sigma = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / math.sqrt(2) \
        if diffs.size else 0.0
    sigma = max(sigma, 0.05)
    return 2.0 * sigma**2 * math.log(max(y.size, 2))


def detect_break(years: Sequence[int], values: np.ndarray, band_low: np.ndarray,
                 band_high: np.ndarray, *, quantity: Literal["volume", "value"] = "volume",
                 min_size: int = 2, penalty: float | None = None,
                 thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """Change points in a declared series, judged against the footprint band (DOMAIN 4.6).

    Method: PELT (Killick, Fearnhead and Eckley 2012; ``ruptures.Pelt``, cost ``l2``,
    ``min_size`` points per segment) on ``ln(1 + carats)`` (volume) or ``ln(US$/ct)``
    (value), penalty :func:`break_penalty` unless given. Each segment's level is the back-
    transformed mean. Verdict: a segment whose level lies above the band's upper edge
    (capacity or value P95 over its years) -> ``anomalous`` (the series jumped beyond
    what the footprint allows); a break with every level inside or below the band ->
    ``watch``; no break -> ``consistent``. PELT gives no p-value: none is reported and the
    test is not part of the FDR adjustment.

    Parameters
    ----------
    years, values
        the declared series (ct/yr or US$/ct); value years with no carats are left out by
        the caller.
    band_low, band_high
        the footprint's P5 and P95 for each year (same units).
    """
    import ruptures

    x = np.asarray(values, dtype="float64")
    lo = np.asarray(band_low, dtype="float64")
    hi = np.asarray(band_high, dtype="float64")
    yrs = [int(y) for y in years]
    if not (x.size == lo.size == hi.size == len(yrs)):
        raise InvalidParameterError("break test: years, values and band must align")
    name = f"break_{quantity}"
    base = {"years": yrs, "values": x.tolist()}
    if x.size < 2 * min_size:
        return TestResult(name=name, period=_span(yrs), statistic=0.0,
                          statistic_name="max |jump| between segments (ln units)",
                          p_value=None, probability=None, verdict="consistent",
                          thresholds={"min_size": min_size},
                          evidence={**base, "breaks": [], "segments": [],
                                    "note": "series too short for a change-point test"},
                          method="PELT l2 (ruptures)")
    y = np.log1p(x) if quantity == "volume" else np.log(x)
    pen = break_penalty(y) if penalty is None else float(penalty)
    ends = ruptures.Pelt(model="l2", min_size=min_size, jump=1).fit(y).predict(pen=pen)
    starts = [0, *ends[:-1]]
    segments = []
    for s, e in zip(starts, ends):
        level = float(np.expm1(y[s:e].mean()) if quantity == "volume" else np.exp(y[s:e].mean()))
        seg_lo, seg_hi = float(np.median(lo[s:e])), float(np.median(hi[s:e]))
        position = "above" if level > seg_hi else "below" if level < seg_lo else "inside"
        segments.append({"from": yrs[s], "to": yrs[e - 1], "level": level, "band_p5": seg_lo,
                         "band_p95": seg_hi, "position": position})
    jumps = np.abs(np.diff([y[s:e].mean() for s, e in zip(starts, ends)]))
    breaks = [yrs[e] for e in ends[:-1]]
    if not breaks:
        verdict: Verdict = "consistent"
    elif any(seg["position"] == "above" for seg in segments):
        verdict = "anomalous"
    else:
        verdict = "watch"
    return TestResult(
        name=name, period=_span(yrs), statistic=float(jumps.max()) if jumps.size else 0.0,
        statistic_name="max |jump| between segments (ln units)", p_value=None,
        probability=None, verdict=verdict,
        thresholds={"penalty": pen, "min_size": min_size},
        evidence={**base, "breaks": breaks, "segments": segments,
                  "band_p5": lo.tolist(), "band_p95": hi.tolist()},
        method="PELT (Killick et al. 2012, ruptures) with l2 cost on the "
               f"{'ln(1+ct)' if quantity == 'volume' else 'ln(US$/ct)'} series, Schwarz "
               "penalty 2 sigma^2 ln n (sigma: MAD of first differences); segments "
               "judged against the footprint's P5-P95 band")


def _span(years: Sequence[int]) -> str | None:
    return f"{min(years)}-{max(years)}" if years else None


# --------------------------------------------------------------------------- FDR

def adjust_benjamini_hochberg(results: Sequence[TestResult], *,
                              thresholds: VerdictThresholds = DEFAULT_THRESHOLDS
                              ) -> tuple[list[TestResult], dict[str, Any]]:
    """Benjamini-Hochberg over every test of a report that has a p-value.

    ``statsmodels.stats.multitest.multipletests(p, alpha=fdr_alpha, method="fdr_bh")``;
    each such result gets ``p_adjusted`` and its verdict re-read from the adjusted p-value
    with its own thresholds. Tests without a p-value are returned unchanged.

    Returns
    -------
    (results, summary)
        the results in the same order, and ``{"method", "alpha", "n_tests",
        "n_rejected"}``.
    """
    from statsmodels.stats.multitest import multipletests

    idx = [i for i, r in enumerate(results) if r.p_value is not None]
    out = list(results)
    summary: dict[str, Any] = {"method": "Benjamini-Hochberg (statsmodels fdr_bh)",
                               "alpha": thresholds.fdr_alpha, "n_tests": len(idx),
                               "n_rejected": 0}
    if not idx:
        return out, summary
    pvals = np.array([results[i].p_value for i in idx], dtype="float64")
    reject, adjusted, _, _ = multipletests(pvals, alpha=thresholds.fdr_alpha, method="fdr_bh")
    for i, p_adj in zip(idx, adjusted):
        r = results[i]
        out[i] = replace(r, p_adjusted=float(p_adj),
                         verdict=verdict_from_p(float(p_adj), r.thresholds["anomalous_p"],
                                                r.thresholds["watch_p"]))
    summary["n_rejected"] = int(reject.sum())
    return out, summary
