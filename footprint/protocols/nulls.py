"""Honest-data models the p-valued protocols test against: utilisation, series shape and
the volume predictive."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import special


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
        """``P(U <= share)`` (shares clipped to [0, 1])."""
        return special.betainc(self.a, self.b, np.clip(share, 0.0, 1.0))

    def ppf(self, q: np.ndarray) -> np.ndarray:
        """The utilisation share at probability ``q``."""
        return special.betaincinv(self.a, self.b, np.clip(q, 0.0, 1.0))

    @property
    def mean(self) -> float:
        """Mean utilisation ``a / (a + b)`` (1)."""
        return self.a / (self.a + self.b)

    def latent(self, share: np.ndarray) -> np.ndarray:
        """Utilisation -> its latent N(0, 1) score ``Phi^-1(F_U(share))``, on
        ``[share_low, share_high]`` (:meth:`plausible_range`; interpolated on a fine grid)."""
        grid, z = _utilisation_latent_grid(self.a, self.b)
        return np.interp(share, grid, z)

    def plausible_range(self) -> tuple[float, float]:
        """Utilisation shares between the prior's :data:`PROFILE_TAIL` quantiles."""
        grid, _ = _utilisation_latent_grid(self.a, self.b)
        return float(grid[0]), float(grid[-1])


#: Prior tail beyond which a capacity draw does not explain a year's declared carats
#: (the volume break test's profile over capacity draws).
PROFILE_TAIL = 1e-3
#: Capacity trajectories the volume break test profiles over.
PROFILE_DRAWS = 128


@functools.lru_cache(maxsize=16)
def _utilisation_latent_grid(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    q = special.ndtr(np.linspace(special.ndtri(PROFILE_TAIL), special.ndtri(1 - PROFILE_TAIL),
                                 4097))
    return special.betaincinv(a, b, q), special.ndtri(q)


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
    pairs: list[tuple[float, float]] = []
    trends: list[float] = []
    sds: list[float] = []
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
        pairs.extend(zip(r[:-1][ok] / sd, r[1:][ok] / sd, strict=False))
        trends.append(slope * (t.max() - t.min()) / 2.0 / sd)
        sds.append(sd)
    if len(pairs) < 10:
        return DEFAULT_VOLUME_SERIES
    arr = np.array(pairs)
    ar1 = float(np.clip(np.corrcoef(arr[:, 0], arr[:, 1])[0, 1], 0.0, 0.9))
    trend = float(np.clip(1.4826 * np.median(np.abs(np.array(trends))), 0.0, 1.5))
    return SeriesModel(ar1=ar1, trend_sd=trend)


_GRID = 256


@dataclass(frozen=True)
class VolumePredictive:
    """Each year's honest predictive CDF of declared carats on a log grid (for speed).

    ``F_t(x) = mean_j P(U <= x / C_tj)`` over the capacity draws ``C_tj``; ``zero_t`` the
    share of draws with zero capacity (honest production exactly 0). ``profile_ct``:
    :data:`PROFILE_DRAWS` whole capacity trajectories (the same draw index in every year,
    evenly spaced) over which the volume break test profiles. Built once per footprint
    (:meth:`build`); :meth:`cdf` interpolates in ln x.
    """

    log_grid: np.ndarray          # (years, G)
    cdf_grid: np.ndarray          # (years, G)
    zero: np.ndarray              # (years,)
    capacity_p50: np.ndarray      # (years,) ct/yr
    profile_ct: np.ndarray        # (years, PROFILE_DRAWS) capacity trajectories, ct/yr

    @classmethod
    def build(cls, capacity_by_year: Sequence[np.ndarray],
              utilisation: UtilisationModel) -> VolumePredictive:
        """The grids of every year's capacity draws under ``utilisation``."""
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
        caps = np.maximum(np.vstack([np.asarray(c, dtype="float64") for c in capacity_by_year]),
                          0.0)
        keep = np.unique(np.linspace(0, caps.shape[1] - 1, PROFILE_DRAWS).astype(int))
        return cls(np.array(grids), np.array(cdfs), np.array(zeros), p50, caps[:, keep])

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
