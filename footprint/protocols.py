"""Statistical protocols: declared statistics against production footprints.

The six comparisons of DOMAIN.md section 4 (KPCS 2008 plenary: "statistical protocols ...
to allow comparison of the export footprints with the established production footprint
of the participants"). Every test is a pure function on numpy arrays / pandas tables and
returns a :class:`TestResult`: the statistic, a p-value or probability, a verdict
(``consistent``, ``watch``, ``anomalous``), the thresholds used and the evidence.

Conventions
-----------
* Carats (ct), US dollars (US$), US$/ct, carats per year (ct/yr).
* Every p-valued test states its statistic, its null and what it detects. Nulls are
  honest-data models, not "declared = footprint mean": production is utilisation x
  capacity (:class:`UtilisationModel`), US$/ct is the field's value x a market index of
  the other participants with an annual scatter (:class:`MarketModel`), parcels scatter
  around the field's value, stones are over-dispersed (:class:`SizeNullModel`), series
  have KP-like autocorrelation and trend (:class:`SeriesModel`).
* Monte Carlo p-values never go below ``1 / (n + 1)`` for ``n`` draws (Davison and
  Hinkley 1997, eq. 4.11). Band tests are two-sided.
* One alpha: :func:`adjust_benjamini_hochberg` decides every p-valued verdict
  (anomalous at ``alpha``, watch at ``watch_alpha``). Mass balance and mirror statistics
  have no p-value and keep relative thresholds.
* :func:`run_protocols` runs the p-valued tests; the report and the calibration harness
  (:mod:`footprint.calibration`) both call it. Non-finite inputs (a certificate with
  ``inf`` US$/ct) are left out and counted, never allowed to poison a report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import special

from footprint.errors import InvalidParameterError
from footprint.value import COMMON_CLASSES, map_sieve_shares

Verdict = Literal["consistent", "watch", "anomalous"]
VERDICTS: tuple[Verdict, ...] = ("consistent", "watch", "anomalous")
_EDGE_RTOL = 1e-12


class VerdictThresholds(BaseModel):
    """Verdict levels of every protocol, with their documented defaults.

    One alpha: every p-valued test enters one Benjamini-Hochberg procedure per report;
    a test rejected at ``alpha`` is ``anomalous``, one rejected only at ``watch_alpha`` is
    ``watch`` (:func:`adjust_benjamini_hochberg`). Relative thresholds (mass balance,
    mirror, no p-value) apply to ``|discrepancy| / reference`` (dimensionless).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    alpha: float = Field(0.05, gt=0, lt=1, description="False discovery rate at which a "
                         "p-valued test is anomalous (Benjamini-Hochberg decisions).")
    watch_alpha: float = Field(0.10, gt=0, lt=1, description="Second, weaker FDR level: "
                               "rejected here but not at alpha -> watch.")
    real_capacity_ct: float = Field(
        1_000.0, ge=0, description="Capacity P50 (ct/yr) below which the lower tail of the "
        "volume test is not tested: 'far below what even low utilisation gives' needs a "
        "real capacity.")
    mass_balance_watch: float = Field(
        0.05, ge=0, description="|production + imports - exports - stock change| / "
        "(production + imports) at or above which the balance is to watch.")
    mass_balance_anomalous: float = Field(0.20, ge=0, description="... is anomalous.")
    mirror_watch: float = Field(
        0.10, ge=0, le=1, description="|A's exports to B - B's imports from A| / the larger "
        "of the two, at or above which the pair is to watch.")
    mirror_anomalous: float = Field(0.25, ge=0, le=1, description="... is anomalous.")

    @model_validator(mode="after")
    def _ordered(self) -> VerdictThresholds:
        if self.alpha > self.watch_alpha:
            raise ValueError("alpha must be <= watch_alpha")
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


# --------------------------------------------------------------------------- null models


class UtilisationModel(BaseModel):
    """What share of its capacity an honest field produces in a year (DOMAIN.md 4.1).

    Capacity is a maximum; honest production is ``U x capacity`` with ``U ~ Beta(a, b)``.
    The default Beta(3, 2) has mean 0.60 and P5-P95 0.25-0.90: artisanal fields seldom
    work at their full capacity (weather, miners' other work, prices), and rarely at less
    than a quarter of it while the field is active. This is an explicit assumption of the
    protocols (no published utilisation series exists for these fields); the calibration
    harness simulates honest declarations from the same prior.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    a: float = Field(3.0, gt=0, description="Beta shape a of the utilisation (1).")
    b: float = Field(2.0, gt=0, description="Beta shape b of the utilisation (1).")

    def cdf(self, share: np.ndarray) -> np.ndarray:
        return special.betainc(self.a, self.b, np.clip(share, 0.0, 1.0))

    def ppf(self, q: np.ndarray) -> np.ndarray:
        return special.betaincinv(self.a, self.b, np.clip(q, 0.0, 1.0))


class SeriesModel(BaseModel):
    """The honest shape of a yearly series on the latent normal scale (break tests).

    ``z_t = c_t (a_t + g s_t)``: ``a_t`` a stationary AR(1) with unit variance and lag-1
    correlation ``ar1``, ``g ~ N(0, trend_sd^2)`` one trend per series over the scaled
    time ``s_t`` in [-1, 1], and ``c_t = 1 / sqrt(1 + trend_sd^2 s_t^2)`` so every
    ``z_t`` stays N(0, 1) (each year's own test keeps its size). Defaults: the AR(1) and
    trend spread of detrended ln carats of KP participants 2003-2024
    (:func:`kp_series_dynamics` gives them for any exclusion set).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ar1: float = Field(0.5, ge=0, lt=1, description="Lag-1 autocorrelation (1).")
    trend_sd: float = Field(0.5, ge=0, le=3, description="sd of the trend over the "
                            "series, in latent sd units.")

    def simulate(self, n_years: int, n_series: int, rng: np.random.Generator) -> np.ndarray:
        """``(n_series, n_years)`` latent series, N(0, 1) marginally."""
        e = rng.standard_normal((n_series, n_years))
        a = np.empty_like(e)
        a[:, 0] = e[:, 0]
        innov = math.sqrt(1.0 - self.ar1 ** 2)
        for t in range(1, n_years):
            a[:, t] = self.ar1 * a[:, t - 1] + innov * e[:, t]
        s = np.linspace(-1.0, 1.0, n_years) if n_years > 1 else np.zeros(1)
        g = rng.standard_normal((n_series, 1)) * self.trend_sd
        return (a + g * s) / np.sqrt(1.0 + self.trend_sd ** 2 * s ** 2)


DEFAULT_UTILISATION = UtilisationModel()
DEFAULT_VOLUME_SERIES = SeriesModel()


def kp_series_dynamics(kp_annual: pd.DataFrame, *, exclude: Sequence[str] = (),
                       min_years: int = 8, min_carats: float = 1_000.0) -> SeriesModel:
    """AR(1) and trend spread of real KP volume series (ln carats), as a :class:`SeriesModel`.

    Per participant with at least ``min_years`` producing years: ln carats, a linear
    trend fitted; ``ar1`` is the pooled lag-1 correlation of the detrended residuals and
    ``trend_sd`` the sd of (slope x half-span) relative to the residual sd. Clipped to
    [0, 0.9] and [0, 1.5].
    """
    frame = kp_annual[~kp_annual["participant"].isin(list(exclude))
                      & (kp_annual["carats"] >= min_carats)]
    pairs, trends, sds = [], [], []
    for _, g in frame.groupby("participant"):
        g = g.sort_values("year")
        if len(g) < min_years:
            continue
        t = g["year"].to_numpy(float)
        y = np.log(g["carats"].to_numpy(float))
        slope, icept = np.polyfit(t, y, 1)
        r = y - (slope * t + icept)
        sd = float(r.std(ddof=2))
        if sd <= 0:
            continue
        ok = np.diff(t) == 1
        pairs.extend(zip(r[:-1][ok] / sd, r[1:][ok] / sd))
        trends.append(slope * (t.max() - t.min()) / 2.0 / sd)
        sds.append(sd)
    if len(pairs) < 10:
        return DEFAULT_VOLUME_SERIES
    arr = np.array(pairs)
    ar1 = float(np.clip(np.corrcoef(arr[:, 0], arr[:, 1])[0, 1], 0.0, 0.9))
    trend = float(np.clip(1.4826 * np.median(np.abs(np.array(trends))), 0.0, 1.5))
    return SeriesModel(ar1=ar1, trend_sd=trend)


def _mc_floor(p: float, n: int) -> float:
    """A tail probability estimated from ``n`` draws, never below ``1 / (n + 1)``."""
    return float((p * n + 1.0) / (n + 1.0))


def _two_sided(p_upper: float, p_lower: float) -> float:
    return float(min(1.0, 2.0 * min(p_upper, p_lower)))


def _finite(values: np.ndarray) -> tuple[np.ndarray, int]:
    arr = np.asarray(values, dtype="float64").ravel()
    ok = np.isfinite(arr)
    return arr[ok], int((~ok).sum())


# --------------------------------------------------------------------------- 1 volume

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
    ``real_capacity_ct``; elsewhere the p-value is the doubled upper tail.
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
    p = _two_sided(p_upper, p_lower) if real else float(min(1.0, 2.0 * p_upper))
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


# --------------------------------------------------------------------------- 2 value

def compare_value_band(declared_usd_per_ct: float, value_draws_usd_per_ct: np.ndarray, *,
                       index: float = 1.0, annual_sd_ln: float = 0.3,
                       period: str | None = None,
                       thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """A year's declared US$/ct against the field's value, read against the market.

    Statistic: ``z = (ln x - ln I_t - mean ln V) / sqrt(var ln V + s^2)``.
    Null: ``ln x = ln V + ln I_t + eta_t`` with ``V`` the field's value at index 1 (the
    footprint's draws), ``I_t`` the year's rough-diamond price index and
    ``eta_t ~ N(0, s^2)`` the year's scatter around the market (``annual_sd_ln``).
    ``I_t`` and ``s`` come from the KP statistics of the *other* participants
    (:func:`footprint.value.rough_price_index` with the participant excluded), so the band
    is never fitted on the years it tests. p-value: two-sided,
    ``P(X <= x) = mean_i Phi((ln x - ln I_t - ln V_i) / s)``, floored at ``1/(n+1)``.
    Detects: goods priced unlike the field's in that market year (another field's goods,
    mis-valuation), not the market's own swings (2009 slump, 2011-15 prices).
    """
    values, dropped = _finite(value_draws_usd_per_ct)
    x = float(declared_usd_per_ct)
    if not (math.isfinite(x) and x > 0) or values.size == 0 or np.any(values <= 0):
        raise InvalidParameterError("US$/ct must be finite and > 0 (declared and draws)")
    if not (index > 0 and math.isfinite(index)) or not annual_sd_ln > 0:
        raise InvalidParameterError("value band: the index must be > 0 and the scatter > 0")
    logs = np.log(values)
    real = math.log(x) - math.log(index)
    cdf = float(special.ndtr((real - logs) / annual_sd_ln).mean())
    n = values.size
    p = _two_sided(_mc_floor(1.0 - cdf, n), _mc_floor(cdf, n))
    z = (real - float(logs.mean())) / math.sqrt(float(logs.var()) + annual_sd_ln ** 2)
    return TestResult(
        name="value_band", period=period, statistic=z,
        statistic_name="deflated log-scale z-score", p_value=p, probability=None,
        verdict=verdict_from_p(p, thresholds.alpha, thresholds.watch_alpha),
        thresholds={"alpha": thresholds.alpha, "watch_alpha": thresholds.watch_alpha},
        evidence={"declared_usd_per_ct": x, "index": float(index),
                  "declared_real_usd_per_ct": math.exp(real),
                  "value_usd_per_ct": quantiles(values * index),
                  "annual_sd_ln": float(annual_sd_ln), "predictive_cdf": cdf,
                  "percentile": 100.0 * cdf, "n_draws": int(n), "n_draws_not_finite": dropped,
                  "direction": "above" if cdf >= 0.5 else "below"},
        method="declared US$/ct deflated by a rough-diamond price index of the other KP "
               "participants; predictive: field value draws x N(0, annual scatter) in ln")


def compare_shipment_values(shipment_usd_per_ct: np.ndarray, value_draws_usd_per_ct: np.ndarray,
                            *, index: np.ndarray | float = 1.0,
                            shipment_years: np.ndarray | None = None,
                            annual_sd_ln: float = 0.3, annual_ar1: float = 0.5,
                            period: str | None = None,
                            thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """A period's certificates against the field-level value (random-effects test).

    Statistic: ``t = (xbar - mean ln V) / sqrt(var_eta + s^2 / n)``, ``xbar`` and ``s`` the
    mean and sd of the parcels' deflated ln US$/ct.
    Null: each parcel ``ln x_j = ln V + ln I_t + eta_t + eps_j``: the field's value ``V``
    (footprint draws), the year's index and scatter ``eta_t`` (AR(1), sd ``annual_sd_ln``,
    lag-1 ``annual_ar1``, as in :func:`compare_value_band`) and the parcel scatter
    ``eps_j ~ N(0, tau^2)``, ``tau`` estimated from the parcels themselves by ``s``, the
    pooled sd of the parcels within their years (``n - n_years`` degrees of freedom,
    carried to the t reference by Satterthwaite's approximation).
    Parcels scatter; the question is whether their *field-level* value is the field's:
    ``P(xbar <= observed) = mean_i T_{n-1}((xbar - ln V_i) / sqrt(var_eta + s^2/n))``.
    Detects: a period's goods priced like another field's, not one odd parcel.
    Non-finite or non-positive US$/ct are left out (counted in the evidence).
    """
    raw = np.asarray(shipment_usd_per_ct, dtype="float64").ravel()
    idx = np.broadcast_to(np.asarray(index, dtype="float64"), raw.shape)
    ok = np.isfinite(raw) & (raw > 0) & np.isfinite(idx) & (idx > 0)
    ships, idx = raw[ok], idx[ok]
    values, dropped = _finite(value_draws_usd_per_ct)
    if ships.size < 2:
        raise InvalidParameterError("shipment values: at least two certificates with a "
                                    "finite, positive US$/ct are needed")
    if values.size == 0 or np.any(values <= 0):
        raise InvalidParameterError("value draws must be finite and > 0")
    x = np.log(ships) - np.log(idx)
    n = x.size
    xbar = float(x.mean())
    df = n - 1
    if shipment_years is None:
        w_var = 1.0
        n_years = 1
        s = float(x.std(ddof=1))
    else:
        yrs = np.asarray(shipment_years)[ok].astype(int)
        uniq, inverse, counts = np.unique(yrs, return_inverse=True, return_counts=True)
        w = counts / counts.sum()
        lag = np.abs(uniq[:, None] - uniq[None, :])
        w_var = float(w @ (annual_ar1 ** lag) @ w)
        n_years = int(uniq.size)
        # parcel scatter within years: the year's own scatter is in w_var already
        means = np.bincount(inverse, weights=x) / counts
        within = float(np.sum((x - means[inverse]) ** 2))
        df = n - n_years
        s = math.sqrt(within / df) if df >= 1 else float(x.std(ddof=1))
        df = max(df, 1)
    known, estimated = annual_sd_ln ** 2 * w_var, s ** 2 / n
    scale = math.sqrt(known + estimated)
    # Satterthwaite: only the parcel part is estimated, with df degrees of freedom
    df = float(min(1e6, (known + estimated) ** 2 / max(estimated ** 2 / df, 1e-300)))
    logs = np.log(values)
    cdf = float(special.stdtr(df, (xbar - logs) / scale).mean())
    m = values.size
    p = _two_sided(_mc_floor(1.0 - cdf, m), _mc_floor(cdf, m))
    t_stat = (xbar - float(logs.mean())) / math.sqrt(scale ** 2 + float(logs.var()))
    return TestResult(
        name="shipment_values", period=period, statistic=t_stat,
        statistic_name="standardised mean deflated ln US$/ct of the parcels",
        p_value=p, probability=None,
        verdict=verdict_from_p(p, thresholds.alpha, thresholds.watch_alpha),
        thresholds={"alpha": thresholds.alpha, "watch_alpha": thresholds.watch_alpha},
        evidence={"n_shipments": int(n), "n_left_out": int((~ok).sum()), "n_years": n_years,
                  "shipment_usd_per_ct": quantiles(ships),
                  "field_level_real_usd_per_ct": math.exp(xbar),
                  "parcel_sd_ln": s, "annual_sd_ln": float(annual_sd_ln),
                  "value_usd_per_ct": quantiles(values), "n_draws": int(m),
                  "n_draws_not_finite": dropped, "predictive_cdf": cdf},
        method="random-effects test of the parcels' mean deflated ln US$/ct against the "
               "field's value draws (between-parcel variance from the parcels, year "
               "scatter AR(1)); Student t with n-1 df")


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


def expected_stone_share(carat_share: Mapping[str, float],
                         stone_weight_ct: Mapping[str, float] | None = None) -> dict[str, float]:
    """Carat shares per common class -> stone shares (``share_k / w_k``, renormalised)."""
    weights = stone_weight_ct or representative_stone_ct()
    unknown = sorted(set(carat_share) - set(weights))
    if unknown:
        raise InvalidParameterError(f"size classes {unknown} have no stone weight",
                                    hint="map both sides to the common classes first")
    raw = {c: max(float(carat_share.get(c, 0.0)), 0.0) / weights[c] for c in weights}
    total = sum(raw.values())
    if total <= 0:
        raise InvalidParameterError("size distribution: the footprint expects no carats")
    return {c: v / total for c, v in raw.items()}


def stone_counts(ct_by_class: np.ndarray, classes: Sequence[str],
                 stone_weight_ct: Mapping[str, float] | None = None) -> np.ndarray:
    """Carats per certificate and class ``(n_cert, K)`` -> whole stones (rounded, >= 0).

    Certificates give carats per sieve class; stones are ``carats / w_k`` with ``w_k`` the
    representative stone weight of the class (:func:`representative_stone_ct`).
    """
    weights = stone_weight_ct or representative_stone_ct()
    w = np.array([weights[c] for c in classes], dtype="float64")
    ct = np.nan_to_num(np.asarray(ct_by_class, dtype="float64"), nan=0.0, posinf=0.0,
                       neginf=0.0)
    return np.rint(np.maximum(ct, 0.0) / w).astype("int64")


def _pool_groups(expected: np.ndarray, min_expected: float) -> list[list[int]]:
    groups: list[list[int]] = []
    current: list[int] = []
    acc = 0.0
    for k, e in enumerate(expected):
        current.append(k)
        acc += e
        if acc >= min_expected:
            groups.append(current)
            current, acc = [], 0.0
    if current:
        if groups:
            groups[-1].extend(current)
        else:
            groups.append(current)
    return groups


def _pooled_chi2(counts: np.ndarray, share: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """Pearson X^2 of pooled totals ``counts[..., K]`` against ``share`` (vectorised)."""
    total = counts.sum(axis=-1, keepdims=True)
    obs = np.stack([counts[..., g].sum(axis=-1) for g in groups], axis=-1)
    exp = np.stack([share[g].sum() for g in groups]) * total
    return np.sum((obs - exp) ** 2 / np.maximum(exp, 1e-12), axis=-1)


class SizeNullModel(BaseModel):
    """How honest stone counts vary (DOMAIN.md section 8: the nugget effect).

    Each certificate's stones are Dirichlet-multinomial around the field's class shares
    (``parcel_concentration``: a parcel's share of class k has variance
    ``p(1-p)/(concentration+1)``); the field's shares are themselves uncertain around the
    footprint's (``footprint_concentration``, from the footprint's share sd when known).
    A class share is floored at ``tail_floor`` (a heavier tail than the footprint's
    lognormal: one large stone is possible), and classes with fewer than
    ``min_expected`` expected stones are pooled with their neighbours.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    parcel_concentration: float = Field(50.0, gt=0, description="Dirichlet concentration of "
                                        "a parcel's class shares (1).")
    footprint_concentration: float = Field(200.0, gt=0, description="Dirichlet concentration "
                                           "of the field's shares when the footprint gives "
                                           "no share sd (1).")
    tail_floor: float = Field(1e-4, ge=0, lt=0.1, description="Smallest stone share of a "
                              "class (1).")
    min_expected: float = Field(5.0, gt=0, description="Pool classes until each group "
                                "expects this many stones.")


DEFAULT_SIZE_NULL = SizeNullModel()


def footprint_concentration(stone_share: np.ndarray, stone_share_sd: np.ndarray | None,
                            default: float) -> float:
    """Dirichlet concentration matching the footprint's share sd: ``p(1-p)/sd^2 - 1``."""
    if stone_share_sd is None:
        return float(default)
    ok = (stone_share_sd > 0) & (stone_share > 0)
    if not ok.any():
        return float(default)
    kappa = stone_share[ok] * (1 - stone_share[ok]) / stone_share_sd[ok] ** 2 - 1.0
    return float(np.clip(np.median(kappa), 2.0, 1e6))


def compare_size_distribution(counts: np.ndarray, stone_share: np.ndarray, *,
                              classes: Sequence[str], concentration: float | None = None,
                              null: SizeNullModel = DEFAULT_SIZE_NULL, n_boot: int = 999,
                              seed: int = 0, period: str | None = None,
                              thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """Certificates' stone counts against the footprint's size distribution.

    Statistic: Pearson X^2 of the period's total stones per (pooled) common class against
    the footprint's stone shares.
    Null: :class:`SizeNullModel`, the field's shares ``p ~ Dirichlet(kappa p0)``
    (``kappa``: ``concentration``, from the footprint's share uncertainty) and each
    certificate ``counts_j ~ DirMult(n_j, parcel_concentration p)`` (over-dispersed
    stones, not independent ones).
    p-value: parametric bootstrap, ``n_boot`` data sets drawn from the null with the same
    stones per certificate, ``(k + 1) / (n_boot + 1)`` (seeded).
    Detects: goods of another size distribution (another field's), not one large stone:
    sparse classes are pooled and the tail floored.
    """
    obs = np.asarray(counts, dtype="int64")
    if obs.ndim != 2 or obs.shape[1] != len(classes):
        raise InvalidParameterError("size test: counts must be (certificates, classes)")
    obs = obs[obs.sum(axis=1) > 0]
    if obs.shape[0] == 0:
        raise InvalidParameterError("size distribution: no stones observed")
    p0 = np.maximum(np.asarray(stone_share, dtype="float64"), null.tail_floor)
    p0 = p0 / p0.sum()
    kappa = float(concentration or null.footprint_concentration)
    n_j = obs.sum(axis=1)
    groups = _pool_groups(p0 * n_j.sum(), null.min_expected)
    x2 = float(_pooled_chi2(obs.sum(axis=0), p0, groups))
    rng = np.random.default_rng(seed)
    field_p = rng.dirichlet(kappa * p0, size=n_boot)                       # (B, K)
    parcel = rng.gamma(null.parcel_concentration * field_p[:, None, :]
                       + 1e-12, size=(n_boot, n_j.size, p0.size))
    parcel /= parcel.sum(axis=-1, keepdims=True)
    sim = rng.multinomial(np.broadcast_to(n_j, (n_boot, n_j.size)), parcel)
    x2_null = _pooled_chi2(sim.sum(axis=1), p0, groups)
    p = float((np.count_nonzero(x2_null >= x2) + 1) / (n_boot + 1))
    total = obs.sum(axis=0)
    return TestResult(
        name="size_distribution", period=period, statistic=x2,
        statistic_name=f"Pearson X^2 of stones in {len(groups)} pooled classes",
        p_value=p, probability=None,
        verdict=verdict_from_p(p, thresholds.alpha, thresholds.watch_alpha),
        thresholds={"alpha": thresholds.alpha, "watch_alpha": thresholds.watch_alpha},
        evidence={"classes": list(classes), "observed_stones": total.tolist(),
                  "observed_share": (total / total.sum()).tolist(),
                  "expected_share": p0.tolist(),
                  "pooled": [[classes[k] for k in g] for g in groups],
                  "n_certificates": int(obs.shape[0]), "n_stones": int(total.sum()),
                  "footprint_concentration": kappa,
                  "parcel_concentration": null.parcel_concentration,
                  "null_x2_p95": float(np.quantile(x2_null, 0.95)),
                  "n_boot": int(n_boot), "seed": int(seed)},
        method="Pearson X^2 on stone counts, sparse classes pooled; parametric bootstrap "
               "from a Dirichlet-multinomial null (parcels over-dispersed around the "
               "footprint's uncertain shares)")


# --------------------------------------------------------------------------- 4 mass balance

def check_mass_balance(balance: pd.DataFrame, *, period: str | None = None,
                       thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """production + imports - exports - stock change, per period (DOMAIN.md 4.4).

    Parameters
    ----------
    balance
        one row per period: ``period``, ``production_ct``, ``imports_ct``, ``exports_ct``
        and optionally ``stock_change_ct`` (carats, + = stock built up; NaN or absent:
        stock unknown).

    Returns
    -------
    TestResult
        statistic: the largest ``|residual| / (production + imports)`` over the periods.
        No p-value (not part of the FDR procedure). A period whose stock change is
        unknown is computed with 0 and labelled ``stock unknown``; its verdict is at most
        ``watch``: a stockpile can explain any residual.
    """
    need = ["period", "production_ct", "imports_ct", "exports_ct"]
    missing = [c for c in need if c not in balance.columns]
    if missing or balance.empty:
        raise InvalidParameterError(f"mass balance needs columns {need} and at least one row")
    frame = balance[need].copy()
    stock = balance["stock_change_ct"] if "stock_change_ct" in balance.columns \
        else pd.Series(np.nan, index=balance.index)
    frame["stock_known"] = np.isfinite(stock.to_numpy(dtype=float))
    frame["stock_change_ct"] = stock.where(frame["stock_known"], 0.0).astype(float)
    frame["residual_ct"] = (frame["production_ct"] + frame["imports_ct"]
                            - frame["exports_ct"] - frame["stock_change_ct"])
    supply = frame["production_ct"] + frame["imports_ct"]
    rel = np.where(supply > 0, frame["residual_ct"].abs() / supply.where(supply > 0, 1.0),
                   np.where(frame["residual_ct"].abs() > 0, np.inf, 0.0))
    frame["relative"] = rel
    verdicts = []
    for r, known in zip(rel, frame["stock_known"]):
        v = verdict_from_relative(r, thresholds.mass_balance_watch,
                                  thresholds.mass_balance_anomalous)
        verdicts.append(v if known or v == "consistent" else "watch")
    frame["verdict"] = verdicts
    frame["stock"] = np.where(frame["stock_known"], "declared", "stock unknown")
    return TestResult(
        name="mass_balance", period=period, statistic=float(np.max(rel)),
        statistic_name="max |residual| / (production + imports)", p_value=None,
        probability=None, verdict=worst_verdict(verdicts),
        thresholds={"watch": thresholds.mass_balance_watch,
                    "anomalous": thresholds.mass_balance_anomalous},
        evidence={"periods": frame.to_dict(orient="records"),
                  "stock_unknown": [str(p) for p, k in zip(frame["period"],
                                                            frame["stock_known"]) if not k]},
        method="residual = production + imports - exports - stock change (carats), "
               "relative to production + imports; stock unknown caps the verdict at watch")


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

def latent_scores(predictive_cdf: Sequence[float], n_draws: int) -> np.ndarray:
    """Probability-integral transforms -> latent N(0, 1) scores ``Phi^-1(F)``.

    ``F`` is clipped to ``[1/(2(n+1)), 1 - 1/(2(n+1))]`` (what ``n`` draws can resolve).
    """
    eps = 0.5 / (n_draws + 1)
    return special.ndtri(np.clip(np.asarray(predictive_cdf, dtype="float64"), eps, 1 - eps))


_GRID = 256


@dataclass(frozen=True)
class VolumePredictive:
    """Each year's honest predictive CDF of declared carats on a log grid (for speed).

    ``F_t(x) = mean_j P(U <= x / C_tj)`` over the capacity draws ``C_tj``; ``zero_t`` the
    share of draws with zero capacity (honest production exactly 0). Built once per
    footprint (:meth:`build`); :meth:`cdf` interpolates in ln x.
    """

    log_grid: np.ndarray          # (years, G)
    cdf_grid: np.ndarray          # (years, G)
    zero: np.ndarray              # (years,)
    capacity_p50: np.ndarray      # (years,) ct/yr

    @classmethod
    def build(cls, capacity_by_year: Sequence[np.ndarray],
              utilisation: UtilisationModel) -> VolumePredictive:
        grids, cdfs, zeros = [], [], []
        p50 = np.array([float(np.median(c)) for c in capacity_by_year])
        for cap in capacity_by_year:
            c = np.maximum(np.asarray(cap, dtype="float64"), 0.0)
            pos = c[c > 0]
            zeros.append(float(np.mean(c <= 0)))
            if pos.size == 0:
                grids.append(np.linspace(0.0, 1.0, _GRID))
                cdfs.append(np.ones(_GRID))
                continue
            lo, hi = math.log(pos.min() * 1e-3), math.log(pos.max())
            g = np.linspace(lo, hi, _GRID)
            sub = pos if pos.size <= 2000 else np.quantile(pos, np.linspace(0, 1, 2000))
            f = utilisation.cdf(np.exp(g)[:, None] / sub[None, :]).mean(axis=1)
            grids.append(g)
            cdfs.append(zeros[-1] + (1 - zeros[-1]) * f)
        return cls(np.array(grids), np.array(cdfs), np.array(zeros), p50)

    def cdf(self, declared_ct: np.ndarray) -> np.ndarray:
        """Mid-point predictive CDF of ``declared_ct`` ``(..., years)``."""
        x = np.asarray(declared_ct, dtype="float64")
        out = np.empty_like(x)
        for t in range(self.zero.size):
            xt = x[..., t]
            with np.errstate(divide="ignore"):
                lx = np.log(np.where(xt > 0, xt, 1.0))
            val = np.interp(lx, self.log_grid[t], self.cdf_grid[t], left=self.zero[t],
                            right=1.0)
            out[..., t] = np.where(xt > 0, val, 0.5 * self.zero[t])
        return out


def volume_null_latents(capacity_by_year: Sequence[np.ndarray], predictive: VolumePredictive,
                        utilisation: UtilisationModel, series: SeriesModel, n_sim: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Scores of ``n_sim`` honest volume series: one capacity draw per series, utilisation
    from the series model, through the same predictive transform as the observed one."""
    caps = np.vstack([np.asarray(c, dtype="float64") for c in capacity_by_year])  # (T, n)
    i = rng.integers(caps.shape[1], size=n_sim)
    u = utilisation.ppf(special.ndtr(series.simulate(caps.shape[0], n_sim, rng)))
    declared = np.maximum(caps[:, i].T, 0.0) * u
    return latent_scores(predictive.cdf(declared), caps.shape[1])


@dataclass(frozen=True)
class ValuePredictive:
    """The value band's predictive CDF of deflated US$/ct on a ln grid (built once).

    ``G(r) = mean_j Phi((ln r - ln V_j) / s)`` over the value draws ``V_j``.
    """

    log_grid: np.ndarray
    cdf_grid: np.ndarray

    @classmethod
    def build(cls, value_draws: np.ndarray, annual_sd_ln: float) -> ValuePredictive:
        logs = np.log(np.asarray(value_draws, dtype="float64"))
        sub = logs if logs.size <= 2000 else np.quantile(logs, np.linspace(0, 1, 2000))
        g = np.linspace(sub.min() - 6 * annual_sd_ln, sub.max() + 6 * annual_sd_ln, _GRID * 2)
        f = special.ndtr((g[:, None] - sub[None, :]) / annual_sd_ln).mean(axis=1)
        return cls(g, f)

    def cdf(self, real_usd_per_ct: np.ndarray) -> np.ndarray:
        return np.interp(np.log(real_usd_per_ct), self.log_grid, self.cdf_grid,
                         left=0.0, right=1.0)


def value_null_latents(value_draws: np.ndarray, predictive: ValuePredictive, n_years: int,
                       annual_sd_ln: float, annual_ar1: float, n_sim: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Scores of ``n_sim`` honest deflated US$/ct series: one value draw per series and
    an AR(1) annual scatter, through the value band's predictive transform."""
    values = np.asarray(value_draws, dtype="float64")
    v = values[rng.integers(values.size, size=n_sim)][:, None]
    eta = SeriesModel(ar1=min(annual_ar1, 0.95), trend_sd=0.0).simulate(n_years, n_sim, rng)
    real = v * np.exp(eta * annual_sd_ln)
    return latent_scores(predictive.cdf(real), values.size)


def max_shift_statistic(y: np.ndarray, weights: np.ndarray, min_size: int = 2
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Largest standardised weighted mean shift over the splits of each row of ``y``.

    ``T = max_k |m_R - m_L| / (s sqrt(1/W_L + 1/W_R))`` with weighted segment means
    ``m``, weight sums ``W`` (weights scaled to mean 1) and pooled within-segment sd
    ``s``. Returns ``(T, argmax k)`` per row (``k``: first index of the right segment).
    """
    y = np.atleast_2d(np.asarray(y, dtype="float64"))
    w = np.asarray(weights, dtype="float64")
    w = w / w.mean()
    n = y.shape[1]
    ks = np.arange(min_size, n - min_size + 1)
    cw = np.cumsum(w)
    cwy = np.cumsum(w * y, axis=1)
    cwy2 = np.cumsum(w * y ** 2, axis=1)
    wl, wr = cw[ks - 1], cw[-1] - cw[ks - 1]
    sl, sr = cwy[:, ks - 1], cwy[:, -1:] - cwy[:, ks - 1]
    ml, mr = sl / wl, sr / wr
    ss = cwy2[:, -1:] - wl * ml ** 2 - wr * mr ** 2
    s2 = np.maximum(ss / max(n - 2, 1), 1e-12)
    t = np.abs(mr - ml) / np.sqrt(s2 * (1.0 / wl + 1.0 / wr))
    best = np.argmax(t, axis=1)
    return t[np.arange(t.shape[0]), best], ks[best]


def detect_break(years: Sequence[int], latent: np.ndarray, *,
                 quantity: Literal["volume", "value"] = "volume",
                 weights: np.ndarray | None = None,
                 series: SeriesModel = DEFAULT_VOLUME_SERIES, n_sim: int = 999,
                 null_latent: np.ndarray | None = None,
                 seed: int = 0, min_size: int = 2, declared: np.ndarray | None = None,
                 reference: np.ndarray | None = None,
                 thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """A break in a declared series that the footprint does not explain (DOMAIN.md 4.6).

    Statistic: :func:`max_shift_statistic` on the latent scores ``z_t`` of the series,
    ``z_t = Phi^-1(F_t(x_t))`` with ``F_t`` the honest predictive CDF of year ``t``
    (volume: utilisation x that year's capacity; value: the deflated value band). A field
    opening or a plant closing moves ``F_t`` with the capacity, so a jump that capacity
    explains leaves ``z`` flat: the jump is judged against the change in capacity.
    ``weights``: years weighted by carats for US$/ct (small years give noisy prices).
    Null: ``z`` are the scores of an honest series: ``null_latent`` (``(n_sim, years)``)
    simulated through the same footprint and transform (:func:`volume_null_latents`,
    :func:`value_null_latents`), or else the honest series model itself
    (:class:`SeriesModel`: AR(1) and trend of real KP series, ``n_sim`` series, seeded).
    p-value: the statistic's null distribution for this series length and these
    weights, ``(k + 1) / (n_sim + 1)``: a penalty calibrated for the length, not a BIC
    constant.
    Detects: a step in volume or US$/ct beyond what capacity and market allow.
    """
    z = np.asarray(latent, dtype="float64")
    yrs = [int(y) for y in years]
    if z.size != len(yrs) or not np.all(np.isfinite(z)):
        raise InvalidParameterError("break test: one finite score per year is needed")
    w = np.ones(z.size) if weights is None else np.asarray(weights, dtype="float64")
    if w.size != z.size or np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InvalidParameterError("break test: weights must be finite, >= 0, not all 0")
    w = np.maximum(w, 1e-3 * w.max())
    name = f"break_{quantity}"
    if z.size < 2 * min_size:
        raise InvalidParameterError(f"break test: at least {2 * min_size} years needed")
    stat, k = max_shift_statistic(z[None, :], w, min_size)
    if null_latent is None:
        null_latent = series.simulate(z.size, n_sim, np.random.default_rng(seed))
    null = np.asarray(null_latent, dtype="float64")
    if null.ndim != 2 or null.shape[1] != z.size:
        raise InvalidParameterError("break test: null series must be (n_sim, years)")
    n_sim = null.shape[0]
    stat_null, _ = max_shift_statistic(null, w, min_size)
    p = float((np.count_nonzero(stat_null >= stat[0]) + 1) / (n_sim + 1))
    k0 = int(k[0])
    evidence: dict[str, Any] = {
        "years": yrs, "latent": z.tolist(), "weights": (w / w.mean()).tolist(),
        "break_year": yrs[k0], "latent_jump": float(z[k0:].mean() - z[:k0].mean()),
        "series_model": series.model_dump(), "n_sim": int(n_sim), "seed": int(seed),
        "null_statistic_p95": float(np.quantile(stat_null, 0.95))}
    if declared is not None:
        x = np.asarray(declared, dtype="float64")
        evidence["declared_before"] = float(np.mean(x[:k0]))
        evidence["declared_after"] = float(np.mean(x[k0:]))
    if reference is not None:
        r = np.asarray(reference, dtype="float64")
        evidence["reference_before"] = float(np.mean(r[:k0]))
        evidence["reference_after"] = float(np.mean(r[k0:]))
    return TestResult(
        name=name, period=_span(yrs), statistic=float(stat[0]),
        statistic_name="max standardised mean shift of latent scores",
        p_value=p, probability=None,
        verdict=verdict_from_p(p, thresholds.alpha, thresholds.watch_alpha),
        thresholds={"alpha": thresholds.alpha, "watch_alpha": thresholds.watch_alpha},
        evidence=evidence,
        method="CUSUM-type max mean shift of the series' scores against each year's "
               "footprint band; null distribution simulated from the KP-like AR(1)+trend "
               "model for this length")


def _span(years: Sequence[int]) -> str | None:
    return f"{min(years)}-{max(years)}" if years else None


# --------------------------------------------------------------------------- FDR

def adjust_benjamini_hochberg(results: Sequence[TestResult], *,
                              thresholds: VerdictThresholds = DEFAULT_THRESHOLDS
                              ) -> tuple[list[TestResult], dict[str, Any]]:
    """One Benjamini-Hochberg procedure over every test of a report that has a p-value.

    ``statsmodels.stats.multitest.multipletests(p, method="fdr_bh")`` at ``alpha`` and at
    ``watch_alpha``: rejected at ``alpha`` -> ``anomalous``; rejected only at
    ``watch_alpha`` -> ``watch``; else ``consistent``. ``p_adjusted`` is the BH-adjusted
    p-value (a test is anomalous exactly when ``p_adjusted <= alpha``). Tests without a
    p-value (mass balance, mirror) keep their own verdicts and are not counted.

    Returns
    -------
    (results, summary)
        the results in the same order, and ``{"method", "alpha", "watch_alpha",
        "n_tests", "n_rejected", "n_watch"}``; ``n_rejected`` equals the number of
        p-valued tests whose verdict is ``anomalous``.
    """
    from statsmodels.stats.multitest import multipletests

    idx = [i for i, r in enumerate(results) if r.p_value is not None]
    out = list(results)
    summary: dict[str, Any] = {"method": "Benjamini-Hochberg (statsmodels fdr_bh)",
                               "alpha": thresholds.alpha, "watch_alpha": thresholds.watch_alpha,
                               "n_tests": len(idx), "n_rejected": 0, "n_watch": 0}
    if not idx:
        return out, summary
    pvals = np.array([results[i].p_value for i in idx], dtype="float64")
    reject, adjusted, _, _ = multipletests(pvals, alpha=thresholds.alpha, method="fdr_bh")
    watch, _, _, _ = multipletests(pvals, alpha=thresholds.watch_alpha, method="fdr_bh")
    for j, i in enumerate(idx):
        verdict: Verdict = "anomalous" if reject[j] else "watch" if watch[j] else "consistent"
        out[i] = replace(results[i], p_adjusted=float(adjusted[j]), verdict=verdict)
    summary["n_rejected"] = int(reject.sum())
    summary["n_watch"] = int((watch & ~reject).sum())
    return out, summary


# --------------------------------------------------------------------------- all tests

@dataclass(frozen=True)
class MarketModel:
    """The market a participant's US$/ct is read against (out of sample).

    ``index`` per tested year (dimensionless, :class:`footprint.value.PriceIndex` of the
    other participants, rebased on the value footprint's reference years), the annual
    scatter ``annual_sd_ln`` and its lag-1 correlation ``annual_ar1``.
    """

    index: Mapping[int, float]
    annual_sd_ln: float = 0.3
    annual_ar1: float = 0.5

    def at(self, year: int) -> float:
        return float(self.index.get(int(year), 1.0))


@dataclass(frozen=True)
class Certificates:
    """A period's certificates as the protocols read them.

    ``usd_per_ct`` and ``year`` per certificate; ``stones`` ``(n_cert, K)`` whole stones
    per common class (:func:`stone_counts`) for the certificates with a sieve breakdown
    (or None).
    """

    usd_per_ct: np.ndarray
    year: np.ndarray
    stones: np.ndarray | None = None


@dataclass(frozen=True)
class ProtocolData:
    """Everything the p-valued protocols read for one participant and period.

    Attributes
    ----------
    years
        tested years.
    declared_ct, declared_usd
        per year (ct, US$); ``status`` per year (:data:`DECLARED_STATUS`).
    capacity_by_year
        per year, the participant's capacity draws (ct/yr, fields summed draw by draw).
    value_draws_usd_per_ct
        the participant's field value at index 1 (US$/ct draws).
    market
        :class:`MarketModel`.
    certificates
        :class:`Certificates` or None.
    size_classes, stone_share, size_concentration
        the footprint's expected stone share per common class and the Dirichlet
        concentration of its uncertainty (None: no size footprint).
    """

    years: Sequence[int]
    declared_ct: np.ndarray
    declared_usd: np.ndarray
    status: Sequence[str]
    capacity_by_year: Sequence[np.ndarray]
    value_draws_usd_per_ct: np.ndarray
    market: MarketModel
    certificates: Certificates | None = None
    size_classes: Sequence[str] | None = None
    stone_share: np.ndarray | None = None
    size_concentration: float | None = None
    utilisation: UtilisationModel = DEFAULT_UTILISATION
    volume_series: SeriesModel = DEFAULT_VOLUME_SERIES
    size_null: SizeNullModel = DEFAULT_SIZE_NULL
    predictive: VolumePredictive | None = None
    value_predictive: ValuePredictive | None = None

    def with_predictive(self) -> ProtocolData:
        """This data with its predictive grids built (reuse them across replicates)."""
        if self.predictive is not None and self.value_predictive is not None:
            return self
        return replace(
            self, predictive=self.predictive or VolumePredictive.build(
                self.capacity_by_year, self.utilisation),
            value_predictive=self.value_predictive or ValuePredictive.build(
                self.value_draws_usd_per_ct, self.market.annual_sd_ln))


_NULL_CACHE: dict[tuple, tuple[Any, np.ndarray]] = {}


def _cached_null(kind: str, owner: Any, seed: int, n_sim: int, n_years: int, make: Any
                 ) -> np.ndarray:
    """Null latents depend on the footprint, seed, size and length only, not on the data:
    reuse them (the calibration harness tests many data sets with one seed)."""
    key = (kind, id(owner), seed, n_sim, n_years)
    hit = _NULL_CACHE.get(key)
    if hit is not None and hit[0] is owner:
        return hit[1]
    if len(_NULL_CACHE) > 16:
        _NULL_CACHE.clear()
    null = make()
    _NULL_CACHE[key] = (owner, null)
    return null


def break_volume_test(data: ProtocolData, *, seed: int, n_sim: int = 999,
                      thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """:func:`detect_break` on the volume series, against each year's capacity."""
    data = data.with_predictive()
    assert data.predictive is not None
    years = [int(y) for y in data.years]
    declared = np.asarray(data.declared_ct, dtype="float64")
    n_draws = int(np.asarray(data.capacity_by_year[0]).size)
    z = latent_scores(data.predictive.cdf(declared[None, :])[0], n_draws)
    null = _cached_null("volume", data.predictive, seed, n_sim, len(years), lambda: (
        volume_null_latents(data.capacity_by_year, data.predictive, data.utilisation,
                            data.volume_series, n_sim, np.random.default_rng(seed))))
    return detect_break(years, z, quantity="volume", null_latent=null, seed=seed,
                        series=data.volume_series, declared=declared,
                        reference=data.predictive.capacity_p50,
                        thresholds=thresholds)


def break_value_test(data: ProtocolData, *, seed: int, n_sim: int = 999,
                     thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult | None:
    """:func:`detect_break` on the deflated US$/ct series, years weighted by carats
    (None when fewer than :data:`MIN_BREAK_YEARS` years are priced)."""
    data = data.with_predictive()
    assert data.value_predictive is not None
    declared = np.asarray(data.declared_ct, dtype="float64")
    usd = np.asarray(data.declared_usd, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        price = np.where(declared > 0, usd / np.where(declared > 0, declared, 1.0), np.nan)
    keep = np.isfinite(price) & (price > 0)
    if keep.sum() < MIN_BREAK_YEARS:
        return None
    years = [int(y) for y, k in zip(data.years, keep) if k]
    index = np.array([data.market.at(y) for y in years])
    values = np.asarray(data.value_draws_usd_per_ct, dtype="float64")
    real = price[keep] / index
    z = latent_scores(data.value_predictive.cdf(real), values.size)
    null = _cached_null("value", data.value_predictive, seed, n_sim, len(years), lambda: (
        value_null_latents(values, data.value_predictive, len(years),
                           data.market.annual_sd_ln, data.market.annual_ar1, n_sim,
                           np.random.default_rng(seed))))
    return detect_break(years, z, quantity="value", weights=declared[keep], null_latent=null,
                        seed=seed, declared=price[keep], reference=index,
                        thresholds=thresholds)


#: Fewest certificates for the shipment test; fewest years for a break test.
MIN_SHIPMENTS = 3
MIN_BREAK_YEARS = 5


def run_protocols(data: ProtocolData, *, seed: int = 0, n_sim: int = 999,
                  thresholds: VerdictThresholds = DEFAULT_THRESHOLDS
                  ) -> tuple[list[TestResult], list[dict[str, str]]]:
    """The p-valued protocols on one participant and period, before the FDR step.

    Volume per year, value band per priced year, breaks in volume and US$/ct, the
    shipment test and the size test where certificates allow. The report
    (:func:`footprint.reports.build_report`) and the calibration harness
    (:mod:`footprint.calibration`) both call this, so what is calibrated is what is
    reported. ``seed`` seeds the simulated null distributions (breaks, size bootstrap).
    Returns ``(results, not_run)``; ``not_run`` names each test that could not run.
    """
    data = data.with_predictive()
    years = [int(y) for y in data.years]
    declared = np.asarray(data.declared_ct, dtype="float64")
    usd = np.asarray(data.declared_usd, dtype="float64")
    values = np.asarray(data.value_draws_usd_per_ct, dtype="float64")
    tests: list[TestResult] = []
    not_run: list[dict[str, str]] = []
    priced = 0
    for t, year in enumerate(years):
        cap = data.capacity_by_year[t]
        tests.append(compare_volume(float(declared[t]), cap, period=str(year),
                                    status=data.status[t], utilisation=data.utilisation,
                                    thresholds=thresholds))
        price = usd[t] / declared[t] if declared[t] > 0 else math.nan
        if math.isfinite(price) and price > 0:
            tests.append(compare_value_band(price, values, index=data.market.at(year),
                                            annual_sd_ln=data.market.annual_sd_ln,
                                            period=str(year), thresholds=thresholds))
            priced += 1
    ss = np.random.SeedSequence(seed).spawn(3)
    seeds = [int(x.generate_state(1)[0]) for x in ss]
    if len(years) >= MIN_BREAK_YEARS:
        tests.append(break_volume_test(data, seed=seeds[0], n_sim=n_sim, thresholds=thresholds))
    else:
        not_run.append({"name": "break_volume",
                        "reason": f"{len(years)} year(s); at least {MIN_BREAK_YEARS} needed"})
    value_break = break_value_test(data, seed=seeds[1], n_sim=n_sim, thresholds=thresholds)
    if value_break is not None:
        tests.append(value_break)
    else:
        not_run.append({"name": "break_value", "reason": f"US$/ct declared in {priced} "
                        f"year(s); at least {MIN_BREAK_YEARS} needed"})
    certs = data.certificates
    span = _span(years)
    if certs is None or len(certs.usd_per_ct) == 0:
        for name in ("shipment_values", "size_distribution"):
            not_run.append({"name": name, "reason": "no certificate records of this "
                                                    "participant in the period"})
        return tests, not_run
    prices = np.asarray(certs.usd_per_ct, dtype="float64")
    ok = np.isfinite(prices) & (prices > 0)
    if ok.sum() >= MIN_SHIPMENTS:
        idx = np.array([data.market.at(y) for y in certs.year])
        tests.append(compare_shipment_values(
            prices, values, index=idx, shipment_years=np.asarray(certs.year),
            annual_sd_ln=data.market.annual_sd_ln, annual_ar1=data.market.annual_ar1,
            period=span, thresholds=thresholds))
    else:
        not_run.append({"name": "shipment_values", "reason": f"{int(ok.sum())} certificate(s) "
                        f"with a finite US$/ct; at least {MIN_SHIPMENTS}"})
    if certs.stones is None or np.asarray(certs.stones).sum() == 0:
        not_run.append({"name": "size_distribution",
                        "reason": "no certificate has a sieve-class breakdown"})
    elif data.stone_share is None or data.size_classes is None:
        not_run.append({"name": "size_distribution",
                        "reason": "the footprints have no size distribution"})
    else:
        tests.append(compare_size_distribution(
            certs.stones, data.stone_share, classes=data.size_classes,
            concentration=data.size_concentration, null=data.size_null, seed=seeds[2],
            n_boot=n_sim, period=span, thresholds=thresholds))
    return tests, not_run
