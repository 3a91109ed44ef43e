"""Protocol 2: a year's declared US$/ct against the field's value, read against the market."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

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
        """The index of ``year`` (1 for a year without one)."""
        return float(self.index.get(int(year), 1.0))
