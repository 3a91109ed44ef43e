"""Protocol 2b: a period's certificates against the field-level value (random effects)."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from footprint.errors import InvalidParameterError
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
