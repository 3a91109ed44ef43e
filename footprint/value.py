"""Value and size footprints: what a field's diamonds are worth and how big they are.

Value (DOMAIN.md section 3.4): the field's US$/ct follows a lognormal, fitted to
valuation samples or to the field's own clean-period KP statistics (annual value / carats,
weighted by carats), with the fit's uncertainty from a seeded bootstrap.

Size: carat share per sieve class. Exporters sieve with different schemes (the 2006-07
WDC inspection of 22 Ghanaian exports could not build a size footprint for that reason),
so every scheme is mapped onto one common set of classes by stone weight
(:data:`COMMON_CLASSES`, ct per stone) with :func:`map_sieve_shares`:

* carat classes (``"-0.25 ct"``, ``"1-2 ct"``, ``"+10.8 ct"``) map directly;
* grainer classes (``"-1 gr"``, ``"1-2 gr"``, ``"+4 gr"``; 1 grainer = 0.25 ct) map by
  ×0.25;
* DTC sieve classes (``"+9 -11"``, ``"-11 +9"``, ``"+23"``, ``"-1"``, ``"sieve 7"``;
  numbers +1..+23) map through :data:`DTC_SIEVE_CT`, the approximate weight of a stone
  that just stays on each sieve. That table is the trade's round-stone sieve chart
  (sieves 1-16) extended beyond 16 with weight ∝ hole diameter³ (≈0.2 mm per sieve
  number, matching the chart's 0.20 ct at 3.8 mm and 0.40 ct at 4.8 mm). Rough stones are
  not round, so the mapping is approximate; pass your own table when a sorter's
  calibration is known.

A source class that straddles common-class boundaries is split in proportion to its
overlap in log(carat) (open ends capped at 0.001 ct and 1,000 ct) and reported in
``SieveMapping.split`` so a reader knows the shares there are interpolated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from footprint.errors import InvalidParameterError
from footprint.params import Lognormal

GRAINER_CT = 0.25

#: Common size classes by stone weight (ct/stone): (name, low, high), high exclusive.
COMMON_CLASSES: tuple[tuple[str, float, float], ...] = (
    ("-0.01ct", 0.0, 0.01),
    ("0.01-0.03ct", 0.01, 0.03),
    ("0.03-0.07ct", 0.03, 0.07),
    ("0.07-0.15ct", 0.07, 0.15),
    ("0.15-0.25ct", 0.15, 0.25),
    ("0.25-0.5ct", 0.25, 0.5),
    ("0.5-1ct", 0.5, 1.0),
    ("1-2ct", 1.0, 2.0),
    ("2-4ct", 2.0, 4.0),
    ("4-10.8ct", 4.0, 10.8),
    ("+10.8ct", 10.8, math.inf),
)

#: Approximate weight (ct per stone) at which a stone stays on DTC sieve N (see module doc).
DTC_SIEVE_CT: dict[int, float] = {
    1: 0.007, 2: 0.009, 3: 0.011, 4: 0.013, 5: 0.016, 6: 0.021, 7: 0.029, 8: 0.039,
    9: 0.052, 10: 0.069, 11: 0.078, 12: 0.095, 13: 0.116, 14: 0.135, 15: 0.159, 16: 0.175,
    17: 0.200, 18: 0.233, 19: 0.270, 20: 0.310, 21: 0.355, 22: 0.403, 23: 0.456,
}

_LOG_FLOOR_CT, _LOG_CEIL_CT = 1e-3, 1e3


# --------------------------------------------------------------------------- value


@dataclass(frozen=True)
class LognormalFit:
    """Lognormal fit of US$/ct with its uncertainty.

    ``mu``/``sigma`` are log-space mean and sd (weighted MLE); ``mu_se``/``sigma_se`` and
    ``median_ci95`` come from a seeded bootstrap of the samples (``n_boot`` resamples).
    """

    mu: float
    sigma: float
    mu_se: float
    sigma_se: float
    median_ci95: tuple[float, float]
    n: int
    n_boot: int
    seed: int

    @property
    def median_usd_per_ct(self) -> float:
        """The fitted median price (US$/ct)."""
        return math.exp(self.mu)

    def to_parameter(self, source: str, *, predictive: bool = True) -> Lognormal:
        """A sheet parameter; ``predictive`` widens sigma by the uncertainty of mu."""
        sigma = math.hypot(self.sigma, self.mu_se) if predictive else self.sigma
        return Lognormal(dist="lognormal", median=self.median_usd_per_ct, sigma=sigma,
                         unit="USD/ct", source=source)


def _weighted_log_moments(logs: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = weights / weights.sum(axis=-1, keepdims=True)
    mu = (w * logs).sum(axis=-1)
    var = (w * (logs - mu[..., None]) ** 2).sum(axis=-1)
    return mu, np.sqrt(var)


def fit_lognormal_usd_per_ct(usd_per_ct: Sequence[float], weights: Sequence[float] | None = None,
                             *, n_boot: int = 2_000, seed: int = 0) -> LognormalFit:
    """Fit a lognormal to US$/ct values (valuation samples or annual KP averages).

    Parameters
    ----------
    usd_per_ct
        Positive values, US$ per carat.
    weights
        Optional weights (e.g. carats of each parcel or year); default equal.
    n_boot, seed
        Bootstrap resamples (with replacement, weights carried along) and their seed.
    """
    x = np.asarray(usd_per_ct, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    if x.ndim != 1 or x.size < 2 or w.shape != x.shape:
        raise InvalidParameterError("need at least two US$/ct values (and one weight per value)")
    if np.any(~np.isfinite(x)) or np.any(x <= 0) or np.any(w < 0) or w.sum() <= 0:
        raise InvalidParameterError("US$/ct values must be positive and weights non-negative")
    logs = np.log(x)
    mu, sigma = _weighted_log_moments(logs, w)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, x.size, size=(n_boot, x.size))
    boot_w = w[index]
    keep = boot_w.sum(axis=1) > 0
    boot_mu, boot_sigma = _weighted_log_moments(logs[index][keep], boot_w[keep])
    low, high = np.exp(np.percentile(boot_mu, [2.5, 97.5]))
    return LognormalFit(float(mu), float(sigma), float(boot_mu.std(ddof=1)),
                        float(boot_sigma.std(ddof=1)), (float(low), float(high)), int(x.size),
                        int(n_boot), int(seed))


def kp_usd_per_ct(kp_annual: pd.DataFrame, country: str, years: Sequence[int]) -> pd.DataFrame:
    """Annual US$/ct and carats of ``country`` for ``years`` from KP production statistics.

    ``kp_annual`` has columns ``country``, ``year``, ``carats``, ``value_usd`` (the derived
    annual table in ``../shared/data/kp_stats``). Years without production are dropped.
    """
    missing = {"country", "year", "carats", "value_usd"} - set(kp_annual.columns)
    if missing:
        raise InvalidParameterError(f"KP table lacks column(s) {', '.join(sorted(missing))}")
    rows = kp_annual[(kp_annual["country"] == country) & kp_annual["year"].isin(list(years))
                     & (kp_annual["carats"] > 0) & (kp_annual["value_usd"] > 0)]
    out = rows[["year", "carats", "value_usd"]].copy()
    out["usd_per_ct"] = out["value_usd"] / out["carats"]
    return out.sort_values("year").reset_index(drop=True)


# --------------------------------------------------------------------------- size


@dataclass(frozen=True)
class SieveMapping:
    """Carat shares on the common classes, and which source classes had to be split."""

    shares: pd.Series
    intervals_ct: dict[str, tuple[float, float]]
    split: list[str] = field(default_factory=list)


_NUM = r"(\d+(?:\.\d+)?)"


def _label_unit(text: str) -> tuple[str, bool, float]:
    """A lower-case class label without its unit; whether it is a weight; carats a unit."""
    match = re.search(r"(ct|cts|carats?|gr|grainers?)\s*$", text)
    if match is None:
        return text, False, 1.0
    unit = GRAINER_CT if match.group(1).startswith("gr") else 1.0
    return text[:match.start()].strip(), True, unit


def parse_sieve_class(label: str,
                      sieve_ct: Mapping[int, float] = DTC_SIEVE_CT) -> tuple[float, float]:
    """Stone-weight interval ``(low_ct, high_ct)`` of one sieve or weight class label.

    ``+`` means "stays on" (lower bound), ``-`` "passes" (upper bound); a bare range
    ``a-b`` with a unit means ``[a, b)``. Units ``ct``/``cts``/``carat`` and
    ``gr``/``grainer``; no unit (or ``sieve``/``DTC``) means DTC sieve numbers.
    """
    text, is_weight, unit = _label_unit(label.strip().lower().replace("–", "-").replace("−", "-"))
    text = re.sub(r"^(dtc\s*)?(sieves?|sv)\s*", "", text).strip()

    def weight(number: str) -> float:
        if is_weight:
            return float(number) * unit
        value = float(number)
        if value != int(value) or int(value) not in sieve_ct:
            raise InvalidParameterError(
                f"sieve class '{label}': no weight known for sieve {number}",
                hint="pass sieve_ct with the sorter's calibration")
        return sieve_ct[int(value)]

    range_match = re.fullmatch(rf"{_NUM}\s*-\s*{_NUM}", text)
    if range_match:
        low, high = weight(range_match.group(1)), weight(range_match.group(2))
    else:
        bounds = re.findall(rf"([+-])\s*{_NUM}", text)
        rest = re.sub(rf"[+-]\s*{_NUM}", "", text).strip()
        if rest and re.fullmatch(_NUM, rest) and not bounds:
            value = weight(rest)
            # a bare sieve number is the class between it and the next sieve
            nxt = [v for k, v in sorted(sieve_ct.items()) if v > value]
            return (value, nxt[0] if (nxt and not is_weight) else math.inf)
        if not bounds or rest:
            raise InvalidParameterError(f"cannot read sieve class '{label}'")
        low, high = 0.0, math.inf
        for sign, number in bounds:
            if sign == "+":
                low = max(low, weight(number))
            else:
                high = min(high, weight(number))
    if not high > low:
        raise InvalidParameterError(f"sieve class '{label}' is empty ({low} to {high} ct)")
    return low, high


def _log_overlap(a: float, b: float, c: float, d: float) -> float:
    lo, hi = max(a, c, _LOG_FLOOR_CT), min(b, d, _LOG_CEIL_CT)
    return max(math.log(hi) - math.log(lo), 0.0) if hi > lo else 0.0


def map_sieve_shares(shares: Mapping[str, float], *, sieve_ct: Mapping[int, float] = DTC_SIEVE_CT,
                     classes: Sequence[tuple[str, float, float]] = COMMON_CLASSES) -> SieveMapping:
    """Map carat shares (or carats) per source class onto the common classes.

    Returns shares summing to 1 over ``classes`` (a pandas Series indexed by class name).
    """
    names = [c[0] for c in classes]
    out = pd.Series(0.0, index=names)
    intervals, split = {}, []
    total = float(sum(shares.values()))
    if total <= 0 or any(v < 0 for v in shares.values()):
        raise InvalidParameterError("sieve shares must be non-negative with a positive total")
    for label, share in shares.items():
        low, high = parse_sieve_class(label, sieve_ct)
        intervals[label] = (low, high)
        inside = [name for name, c, d in classes if c <= low and high <= d]
        if inside:
            out[inside[0]] += share / total
            continue
        overlaps = np.array([_log_overlap(low, high, c, d) for _, c, d in classes])
        if overlaps.sum() <= 0:
            raise InvalidParameterError(f"sieve class '{label}' lies outside the common classes")
        split.append(label)
        out += overlaps / overlaps.sum() * share / total
    return SieveMapping(out, intervals, split)


def size_class_shares(stone_ct_mean: np.ndarray | float, stone_size_sigma: np.ndarray | float,
                      classes: Sequence[tuple[str, float, float]] = COMMON_CLASSES) -> np.ndarray:
    """Carat share per class for lognormal stone weights (by number) of given mean and log-sd.

    If stone weight by number is LN(mu, s) with mean ``m`` (mu = ln m − s²/2), the
    carat-weighted distribution is LN(mu + s², s); the share of class [c, d) is
    ``Φ((ln d − mu − s²)/s) − Φ((ln c − mu − s²)/s)``. Returns an array (draws × classes).
    """
    m = np.atleast_1d(np.asarray(stone_ct_mean, dtype=np.float64))
    s = np.atleast_1d(np.asarray(stone_size_sigma, dtype=np.float64))
    if np.any(m <= 0) or np.any(s <= 0):
        raise InvalidParameterError("stone size mean and sigma must be positive")
    centre = np.log(m) + s ** 2 / 2.0
    edges = np.array([c[1] for c in classes] + [classes[-1][2]])
    with np.errstate(divide="ignore"):
        z = (np.log(edges)[None, :] - centre[:, None]) / s[:, None]
    cdf = special.ndtr(z)
    return np.diff(cdf, axis=1)


# --------------------------------------------------------------------------- price index

@dataclass(frozen=True)
class PriceIndex:
    """A rough-diamond price index from the KP production statistics of many participants.

    Attributes
    ----------
    index_by_year
        ``year -> index`` (dimensionless), geometric mean 1 over the index's years unless
        rebased (:meth:`rebased`). Multiply a real (index = 1) US$/ct by it to get the
        year's nominal US$/ct.
    annual_sd_ln
        between-year scatter of a participant's deflated ln US$/ct around its own level
        (robust: 1.4826 x MAD of the carat-weighted fit's residuals), ln units.
    annual_ar1
        lag-1 autocorrelation of those residuals (pooled over participants).
    excluded
        participants left out of the fit (the participant under test: out of sample).
    n_participants
        participants the index was fitted on.
    """

    index_by_year: Mapping[int, float]
    annual_sd_ln: float
    annual_ar1: float
    excluded: tuple[str, ...] = ()
    n_participants: int = 0

    def at(self, year: int) -> float:
        """Index of ``year``; the nearest year's outside the fitted span."""
        years = sorted(self.index_by_year)
        y = min(max(int(year), years[0]), years[-1])
        return float(self.index_by_year.get(y, 1.0))

    def rebased(self, years: Sequence[int] | None) -> PriceIndex:
        """The index divided by its geometric mean over ``years`` (its reference period).

        A field's value footprint fitted on years ``years`` is then read as US$/ct at
        index 1. ``None`` or no overlap leaves the index as it is.
        """
        logs = [math.log(self.at(y)) for y in (years or [])]
        if not logs:
            return self
        base = math.exp(float(np.mean(logs)))
        return PriceIndex({y: v / base for y, v in self.index_by_year.items()},
                          self.annual_sd_ln, self.annual_ar1, self.excluded,
                          self.n_participants)

    def to_dict(self) -> dict:
        """The index as JSON-able data (years as ints)."""
        return {"index_by_year": {int(k): float(v) for k, v in self.index_by_year.items()},
                "annual_sd_ln": self.annual_sd_ln, "annual_ar1": self.annual_ar1,
                "excluded": list(self.excluded), "n_participants": self.n_participants}


def rough_price_index(kp_annual: pd.DataFrame, *, exclude: Sequence[str] = (),
                      min_carats: float = 1_000.0) -> PriceIndex:
    """Time-dummy (fixed-effects) price index of rough diamonds from KP statistics.

    Fits ``ln(US$/ct)_{c,t} = a_c + b_t + e_{c,t}`` by least squares weighted by
    ``sqrt(carats)`` over every participant except ``exclude`` (so the index is out of
    sample for the participant under test), years with at least ``min_carats``. The
    participant effect ``a_c`` absorbs each producer's assortment, so the index follows
    the market, not the mix of producers (the hedonic time-dummy method, e.g. Diewert
    2003, "Hedonic regressions: a review of some unresolved issues").

    Parameters
    ----------
    kp_annual
        columns ``participant``, ``year``, ``carats``, ``value_usd`` (e.g.
        :meth:`footprint.io.kpstats.KPProduction.annual`), carats and nominal US$.
    exclude
        ISO3 codes left out.

    Returns
    -------
    PriceIndex
        index per year (geometric mean 1), the residuals' robust sd and AR(1).
    """
    need = {"participant", "year", "carats", "value_usd"}
    if need - set(kp_annual.columns):
        raise InvalidParameterError(f"KP table lacks {sorted(need - set(kp_annual.columns))}")
    frame = kp_annual[~kp_annual["participant"].isin(list(exclude))
                      & (kp_annual["carats"] >= min_carats) & (kp_annual["value_usd"] > 0)]
    frame = frame[np.isfinite(frame["value_usd"] / frame["carats"])]
    if frame["participant"].nunique() < 2 or frame["year"].nunique() < 2:
        raise InvalidParameterError("price index: fewer than two participants or years")
    parts = sorted(frame["participant"].unique())
    years = sorted(int(y) for y in frame["year"].unique())
    pi = frame["participant"].map({p: i for i, p in enumerate(parts)}).to_numpy()
    yi = frame["year"].map({y: i for i, y in enumerate(years)}).to_numpy()
    y = np.log(frame["value_usd"].to_numpy(float) / frame["carats"].to_numpy(float))
    w = np.sqrt(np.sqrt(frame["carats"].to_numpy(float)))  # sqrt of sqrt(carats) weights
    design = np.zeros((len(y), len(parts) + len(years) - 1))
    design[np.arange(len(y)), pi] = 1.0
    later = yi > 0
    design[np.flatnonzero(later), len(parts) + yi[later] - 1] = 1.0
    coef, *_ = np.linalg.lstsq(design * w[:, None], y * w, rcond=None)
    b = np.concatenate([[0.0], coef[len(parts):]])
    b -= b.mean()
    resid = y - design @ coef
    mad = float(np.median(np.abs(resid - np.median(resid))))
    sd = 1.4826 * mad
    frame = frame.assign(_r=resid).sort_values(["participant", "year"])
    lag_pairs: list[tuple[float, float]] = []
    for _, g in frame.groupby("participant"):
        r = g["_r"].to_numpy()
        yrs = g["year"].to_numpy()
        ok = np.diff(yrs) == 1
        lag_pairs.extend(zip(r[:-1][ok], r[1:][ok], strict=True))
    arr = np.array(lag_pairs) if lag_pairs else np.zeros((0, 2))
    ar1 = float(np.corrcoef(arr[:, 0], arr[:, 1])[0, 1]) if len(arr) > 3 else 0.0
    return PriceIndex({yr: float(math.exp(v)) for yr, v in zip(years, b, strict=True)}, sd,
                      max(0.0, min(ar1, 0.95)), tuple(sorted(exclude)), len(parts))
