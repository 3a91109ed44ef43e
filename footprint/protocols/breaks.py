"""Protocol 6: a break in a declared series that capacity and the market do not explain.

Both break tests give a Monte Carlo p-value from the null distribution of their statistic
for this series length (a penalty calibrated for the length, not a BIC constant):

* volume (:func:`break_volume_test`): the declared carats are read as a utilisation
  series against each whole capacity trajectory of the footprint (a field opening or a
  plant closing moves the capacity, and with it the utilisation a jump implies); the
  statistic is the step that *the best-explaining* trajectory still leaves
  (:func:`capacity_profile_statistic`);
* value (:func:`break_value_test`): the deflated ln US$/ct series, years weighted by
  their carats' precision (:func:`precision_weights`).
"""


from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy import special

from footprint.errors import InvalidParameterError
from footprint.protocols.data import MIN_BREAK_YEARS, ProtocolData
from footprint.protocols.nulls import (
    DEFAULT_VOLUME_SERIES,
    SeriesModel,
    UtilisationModel,
)
from footprint.protocols.verdicts import (
    DEFAULT_THRESHOLDS,
    TestResult,
    VerdictThresholds,
    _span,
    verdict_from_p,
)


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


_NULL_CACHE: dict[tuple, tuple[Any, np.ndarray]] = {}


def _cached_null(kind: str, owner: Any, seed: int, n_sim: int, n_years: int, make: Any
                 ) -> np.ndarray:
    """Null series (or their statistics) depend on the footprint, seed, size and length
    only, not on the data: reuse them (a report's and the harness's alternatives test
    several data sets with one seed)."""
    key = (kind, id(owner), seed, n_sim, n_years)
    hit = _NULL_CACHE.get(key)
    if hit is not None and hit[0] is owner:
        return hit[1]
    if len(_NULL_CACHE) > 16:
        _NULL_CACHE.clear()
    null = make()
    _NULL_CACHE[key] = (owner, null)
    return null




def break_result(name: str, years: Sequence[int], scores: np.ndarray, stat: float, k: int,
                 stat_null: np.ndarray, *, weights: np.ndarray, statistic_name: str,
                 method: str, evidence: dict[str, Any],
                 thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """A break test's :class:`TestResult`: ``p = (#{null >= stat} + 1) / (n_sim + 1)``,
    the break year ``years[k]`` and the shift of the scores there in the evidence."""
    yrs = [int(y) for y in years]
    null = np.asarray(stat_null, dtype="float64")
    p = float((np.count_nonzero(null >= stat) + 1) / (null.size + 1))
    z = np.asarray(scores, dtype="float64")
    base: dict[str, Any] = {
        "years": yrs, "latent": z.tolist(), "weights": (weights / weights.mean()).tolist(),
        "break_year": yrs[k], "latent_jump": float(z[k:].mean() - z[:k].mean()),
        "n_sim": int(null.size), "null_statistic_p95": float(np.quantile(null, 0.95))}
    return TestResult(
        name=name, period=_span(yrs), statistic=float(stat), statistic_name=statistic_name,
        p_value=p, probability=None,
        verdict=verdict_from_p(p, thresholds.alpha, thresholds.watch_alpha),
        thresholds={"alpha": thresholds.alpha, "watch_alpha": thresholds.watch_alpha},
        evidence={**base, **evidence}, method=method)


def _before_after(key: str, x: np.ndarray, k: int) -> dict[str, float]:
    return {f"{key}_before": float(np.mean(x[:k])), f"{key}_after": float(np.mean(x[k:]))}


def detect_break(years: Sequence[int], latent: np.ndarray, *,
                 quantity: Literal["volume", "value"] = "volume",
                 weights: np.ndarray | None = None,
                 series: SeriesModel = DEFAULT_VOLUME_SERIES, n_sim: int = 999,
                 null_latent: np.ndarray | None = None,
                 seed: int = 0, min_size: int = 2, declared: np.ndarray | None = None,
                 reference: np.ndarray | None = None,
                 thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """A step in a series of scores whose honest shape is known (DOMAIN.md 4.6).

    Statistic: :func:`max_shift_statistic` of ``latent`` (one score per year; location and
    scale free, so a score series is tested whatever its level and spread).
    Null: ``null_latent`` (``(n_sim, years)``) honest score series, or else the honest
    series model itself (:class:`SeriesModel`: AR(1) and trend of real KP series,
    ``n_sim`` series, seeded). ``weights``: per-year weights of the means (e.g.
    :func:`precision_weights`), the same in the observed and the null series.
    p-value: ``(k + 1) / (n_sim + 1)`` over the null statistics for this length and
    these weights. Detects: a step in the scores beyond what the null series give.
    """
    z = np.asarray(latent, dtype="float64")
    yrs = [int(y) for y in years]
    if z.size != len(yrs) or not np.all(np.isfinite(z)):
        raise InvalidParameterError("break test: one finite score per year is needed")
    w = np.ones(z.size) if weights is None else np.asarray(weights, dtype="float64")
    if w.size != z.size or np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InvalidParameterError("break test: weights must be finite, >= 0, not all 0")
    w = np.maximum(w, 1e-3 * w.max())
    if z.size < 2 * min_size:
        raise InvalidParameterError(f"break test: at least {2 * min_size} years needed")
    stat, k = max_shift_statistic(z[None, :], w, min_size)
    if null_latent is None:
        null_latent = series.simulate(z.size, n_sim, np.random.default_rng(seed))
    null = np.asarray(null_latent, dtype="float64")
    if null.ndim != 2 or null.shape[1] != z.size:
        raise InvalidParameterError("break test: null series must be (n_sim, years)")
    k0 = int(k[0])
    evidence: dict[str, Any] = {"series_model": series.model_dump(), "seed": int(seed)}
    if declared is not None:
        evidence.update(_before_after("declared", np.asarray(declared, dtype="float64"), k0))
    if reference is not None:
        evidence.update(_before_after("reference", np.asarray(reference, dtype="float64"), k0))
    return break_result(
        f"break_{quantity}", yrs, z, float(stat[0]), k0, max_shift_statistic(null, w, min_size)[0],
        weights=w, statistic_name="max standardised mean shift of the scores",
        method="CUSUM-type max mean shift of the series' scores; null distribution "
               "simulated for this length", evidence=evidence, thresholds=thresholds)


#: Statistic of a series no capacity trajectory explains, before its excess is added.
UNEXPLAINED_STATISTIC = 1e6
_NO_CAPACITY_EXCESS = 50.0


def capacity_profile_statistic(declared_ct: np.ndarray, profile_ct: np.ndarray,
                               utilisation: UtilisationModel, *, min_size: int = 2
                               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The step in utilisation that no capacity trajectory of the footprint explains.

    For each capacity trajectory ``C_.m`` (``profile_ct`` ``(years, M)``, one draw of the
    footprint across years) the declared series ``x_t`` (``declared_ct`` ``(S, years)``)
    is read as a utilisation series ``u_t = x_t / C_tm`` on its latent scale
    (:meth:`UtilisationModel.latent`, N(0, 1) under the honest model for the true
    trajectory); :func:`max_shift_statistic` gives its step ``T_m``. A trajectory
    *explains* the series when every year's utilisation lies inside the prior's
    ``PROFILE_TAIL`` quantiles (a year without capacity: only a zero; its score is 0).
    Statistic: ``min_m T_m`` over the trajectories that explain the series. A plant
    opening in year ``t`` raises ``C_tm`` in every trajectory, so a jump it explains
    leaves some ``u`` flat; a jump with capacity unchanged stays a step in every
    trajectory. A series no trajectory explains ranks above every explained one, by its
    step on the nearest trajectory (the one whose utilisation leaves the range least, in
    ln), utilisation clipped to the range: ``UNEXPLAINED_STATISTIC + T_nearest`` (still
    a step, and continuous, so the p-value has no ties at the top).

    Returns
    -------
    (statistic, k, m)
        per series: the statistic, the break index of the best trajectory (first year of
        the right segment) and that trajectory's column in ``profile_ct`` (-1 if none).
    """
    x = np.atleast_2d(np.asarray(declared_ct, dtype="float64"))
    caps = np.asarray(profile_ct, dtype="float64").T[None, :, :]  # (1, M, T)
    low, high = utilisation.plausible_range()
    n_series, n_years = x.shape
    pos = caps > 0
    share = np.divide(x[:, None, :], caps, out=np.zeros((n_series, caps.shape[1], n_years)),
                      where=pos)
    inside = np.where(pos, (share >= low) & (share <= high), x[:, None, :] == 0).all(axis=-1)
    none = ~(x > 0).any(axis=1)  # nothing declared: explained by a trajectory without capacity,
    inside[none] = False         # whose scores are all 0 (no step)
    stat = np.full(n_series, np.inf)
    ks = np.full(n_series, n_years // 2)
    ms = np.full(n_series, -1)
    si, mi = np.nonzero(inside)
    if si.size:
        z = np.where(pos[0, mi], utilisation.latent(share[si, mi]), 0.0)
        t, k = max_shift_statistic(z, np.ones(n_years), min_size)
        order = np.lexsort((t, si))  # by series, then smallest step first
        first = order[np.r_[True, si[order][1:] != si[order][:-1]]]
        stat[si[first]], ks[si[first]], ms[si[first]] = t[first], k[first], mi[first]
    idle = ~pos[0].any(axis=1)
    if none.any() and idle.any():
        stat[none], ms[none] = 0.0, int(np.argmax(idle))
    lost = np.flatnonzero(~np.isfinite(stat))
    if lost.size:
        nearest = _nearest(share[lost], pos[0], x[lost], low, high)
        # the step on the nearest trajectory's utilisation, clipped to the range
        z = np.where(pos[0, nearest], utilisation.latent(
            np.clip(share[lost, nearest], low, high)), 0.0)
        step, ks[lost] = max_shift_statistic(z, np.ones(n_years), min_size)
        stat[lost] = UNEXPLAINED_STATISTIC + step
    return stat, ks, ms


def _nearest(share: np.ndarray, pos: np.ndarray, x: np.ndarray, low: float, high: float
             ) -> np.ndarray:
    """Per series, the trajectory whose utilisation leaves ``[low, high]`` least (the sum
    over years of the distance in ln; a year declared without capacity counts 50)."""
    ln = np.log(np.maximum(share, 1e-300))
    out = np.maximum(np.maximum(math.log(low) - ln, ln - math.log(high)), 0.0)
    out = np.where(pos, out, np.where(x[:, None, :] > 0, _NO_CAPACITY_EXCESS, 0.0))
    return np.argmin(out.sum(axis=-1), axis=1)


def volume_null_series(capacity_by_year: Sequence[np.ndarray], utilisation: UtilisationModel,
                       series: SeriesModel, n_sim: int, rng: np.random.Generator) -> np.ndarray:
    """``n_sim`` honest declared series ``(n_sim, years)`` (ct): one capacity draw per
    series, utilisation from the series model (what the harness simulates too)."""
    caps = np.vstack([np.asarray(c, dtype="float64") for c in capacity_by_year])  # (T, n)
    i = rng.integers(caps.shape[1], size=n_sim)
    u = utilisation.ppf(special.ndtr(series.simulate(caps.shape[0], n_sim, rng)))
    return np.maximum(caps[:, i].T, 0.0) * u


def break_volume_test(data: ProtocolData, *, seed: int, n_sim: int = 999,
                      thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """A break in declared carats that capacity does not explain.

    Statistic: :func:`capacity_profile_statistic` of the declared series against the
    footprint's capacity trajectories (``data.predictive.profile_ct``).
    Null: honest series, utilisation x one capacity draw, utilisation with the KP-like
    AR(1) and trend of ``data.volume_series`` (:func:`volume_null_series`), ``n_sim``
    series, seeded. p-value: ``(k + 1) / (n_sim + 1)``.
    Detects: a step in volume that no capacity trajectory turns into an honest
    utilisation series (not a field opening, nor a plant closing).
    """
    data = data.with_predictive()
    assert data.predictive is not None
    pred = data.predictive
    years = [int(y) for y in data.years]
    if len(years) < 4:
        raise InvalidParameterError("break test: at least 4 years needed")
    declared = np.asarray(data.declared_ct, dtype="float64")
    stat, k, m = capacity_profile_statistic(declared[None, :], pred.profile_ct,
                                            data.utilisation)
    null = _cached_null("volume", pred, seed, n_sim, len(years), lambda: (
        capacity_profile_statistic(volume_null_series(
            data.capacity_by_year, data.utilisation, data.volume_series, n_sim,
            np.random.default_rng(seed)), pred.profile_ct, data.utilisation)[0]))
    k0 = int(k[0])
    cap = pred.profile_ct[:, m[0]] if m[0] >= 0 else pred.capacity_p50
    share = np.divide(declared, cap, out=np.zeros_like(declared), where=cap > 0)
    scores = np.where(cap > 0, data.utilisation.latent(share), 0.0)
    evidence = {"series_model": data.volume_series.model_dump(), "seed": int(seed),
                "explained": bool(m[0] >= 0), "n_trajectories": int(pred.profile_ct.shape[1]),
                **_before_after("declared", declared, k0),
                **_before_after("reference", cap, k0)}
    return break_result(
        "break_volume", years, scores, float(stat[0]), k0, null,
        weights=np.ones(len(years)), evidence=evidence, thresholds=thresholds,
        statistic_name="smallest max utilisation step over the capacity trajectories",
        method="each capacity trajectory of the footprint turns the declared carats into a "
               "utilisation series; the step the best-explaining one leaves, against honest "
               "series (utilisation prior, KP-like AR(1) + trend) for this length")


#: Carats at which a year's US$/ct gets half the weight of a large year's.
VALUE_HALF_WEIGHT_CT = 1_000.0


def precision_weights(declared_ct: np.ndarray, half_weight_ct: float = VALUE_HALF_WEIGHT_CT
                      ) -> np.ndarray:
    """Years weighted by carats as precisions: ``w_t = x_t / (x_t + half_weight_ct)``.

    A year's mean price scatters around the market by the annual scatter plus a
    small-sample term that shrinks with its carats, ``var_t = s^2 (1 + x_half / x_t)``;
    ``w_t`` is its inverse, scaled. Small years count less; large years count alike
    (carats themselves would let one big year swamp the others).
    """
    x = np.maximum(np.asarray(declared_ct, dtype="float64"), 0.0)
    return x / (x + float(half_weight_ct))


def break_value_test(data: ProtocolData, *, seed: int, n_sim: int = 999,
                     thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult | None:
    """A break in US$/ct that the market does not explain (None when fewer than
    :data:`MIN_BREAK_YEARS` years are priced).

    Statistic: :func:`max_shift_statistic` of ``y_t = ln(x_t / I_t)``, the declared
    US$/ct deflated by the market index, years weighted by :func:`precision_weights`.
    Null: ``y_t = ln V + eta_t``, the field's value ``V`` (one draw for the whole series,
    which the location-free statistic does not see) and the market's annual scatter
    ``eta_t`` (AR(1), lag-1 ``annual_ar1``; the scale does not matter either): ``n_sim``
    series, seeded. Detects: a step in US$/ct that the market index does not make.
    """
    declared = np.asarray(data.declared_ct, dtype="float64")
    usd = np.asarray(data.declared_usd, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        price = np.where(declared > 0, usd / np.where(declared > 0, declared, 1.0), np.nan)
    keep = np.isfinite(price) & (price > 0)
    if keep.sum() < MIN_BREAK_YEARS:
        return None
    years = [int(y) for y, k in zip(data.years, keep, strict=False) if k]
    index = np.array([data.market.at(y) for y in years])
    market = SeriesModel(ar1=min(data.market.annual_ar1, 0.95), trend_sd=0.0)
    null = _cached_null("value", market, seed, n_sim, len(years), lambda: (
        market.simulate(len(years), n_sim, np.random.default_rng(seed))))
    return detect_break(years, np.log(price[keep] / index), quantity="value",
                        weights=precision_weights(declared[keep]), null_latent=null,
                        series=market, seed=seed, declared=price[keep], reference=index,
                        thresholds=thresholds)
