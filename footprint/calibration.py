"""Calibration of the protocols by simulation: size under honest data, power under fraud.

DOMAIN.md section 8: a verdict is worth its false-alarm rate and its power. From a
participant's own footprint, :func:`calibrate` simulates

* **honest** declarations: each year's production at a utilisation drawn from the
  protocols' prior (:class:`footprint.protocols.UtilisationModel`) times one capacity
  draw, with the autocorrelation and trend of real KP series
  (:class:`footprint.protocols.SeriesModel`); US$/ct at the field's value times the market
  index with an AR(1) annual scatter; certificates scattered around the field's value
  (``parcel_sd_ln``); stone counts Dirichlet-multinomial from the size footprint;
* named **dishonest** alternatives at stated magnitudes (:data:`ALTERNATIVES`).

It runs :func:`footprint.protocols.run_protocols` (what a report runs) on every honest
replicate, then the Benjamini-Hochberg step, and the alternatives' target tests on the
same replicates altered. It returns, per test, the size at ``alpha`` with its Monte Carlo
error and the power per alternative, and the share of honest whole reports with any
``anomalous`` verdict. Pure: numpy in, tables out; seeded (``SeedSequence`` children per
replicate, so the answer does not depend on how the replicates are split).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import special

from footprint import protocols as P
from footprint.errors import InvalidParameterError
from footprint.reports.inputs import size_inputs
from footprint.serialise import json_safe


class HonestModel(BaseModel):
    """How honest declarations are simulated (beyond the protocols' own null models)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parcel_sd_ln: float = Field(0.35, gt=0, description="sd of a parcel's ln US$/ct around "
                                "the field's value in its year (the value footprint's parcel "
                                "scatter).")
    n_certificates: int = Field(20, ge=0, le=10_000, description="Certificates per period.")
    stones_per_certificate: int = Field(2_000, ge=1, description="Stones in a certificate.")


class Alternatives(BaseModel):
    """Named dishonest alternatives and their magnitudes (what the power is against)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    foreign_goods: float = Field(2.0, gt=0, description="Foreign carats added in one year, "
                                 "as a multiple of that year's capacity P99 (at least "
                                 "the verdict thresholds' real_capacity_ct).")
    production_hidden: float = Field(0.99, gt=0, lt=1, description="Share of one year's "
                                     "honest production left undeclared.")
    other_field_value: float = Field(3.0, gt=0, description="US$/ct of every year and parcel "
                                     "shifted by this many predictive sd in ln (sd of the "
                                     "value footprint and the annual scatter together): "
                                     "goods priced like another field's.")
    other_field_size: float = Field(1.0, description="Size tilt theta: stone shares times "
                                    "(w_k / w_ref)^theta (another field's coarser stones).")
    volume_break: float = Field(8.0, gt=1, description="From the break year on (the "
                                "mid-period year where capacity does not change, "
                                ":func:`break_index`), declared carats raised by (this - 1) "
                                "x that year's expected honest production (mean utilisation x "
                                "mean capacity): the level times this, capacity unchanged.")
    value_break: float = Field(4.0, gt=0, description="US$/ct shifted from the break year "
                               "on by this many sd of the annual scatter (in ln).")

    def value_factor(self, setup: CalibrationSetup) -> float:
        """The US$/ct multiplier of ``other_field_value`` for this footprint."""
        logs = np.log(np.asarray(setup.value_draws_usd_per_ct, dtype="float64"))
        sd = math.sqrt(float(logs.var()) + setup.market.annual_sd_ln ** 2)
        return float(math.exp(self.other_field_value * sd))

    def value_break_factor(self, setup: CalibrationSetup) -> float:
        """The US$/ct multiplier of ``value_break`` for this market."""
        return float(math.exp(self.value_break * setup.market.annual_sd_ln))

    def describe(self, setup: CalibrationSetup | None = None) -> dict[str, str]:
        """Each alternative and its magnitude in words (multipliers for ``setup``)."""
        vf = f" = x {self.value_factor(setup):.2f}" if setup is not None else ""
        bf = f" = x {self.value_break_factor(setup):.2f}" if setup is not None else ""
        yr = ("the break year" if setup is None
              else str(setup.years[break_index(setup.capacity_by_year)]))
        return {
            "foreign_goods": f"{self.foreign_goods:g} x capacity P99 (>= 1,000 ct) added in "
                             "one year",
            "production_hidden": f"{self.production_hidden:.0%} of one year's production hidden",
            "other_field_value": f"US$/ct shifted {self.other_field_value:g} predictive sd{vf} "
                                 "(another field's value)",
            "other_field_size": f"stone sizes tilted by theta = {self.other_field_size:g} "
                                "(another field's size distribution)",
            "volume_break": f"carats raised to {self.volume_break:g} x the expected honest "
                            f"level from {yr}, where capacity does not change",
            "value_break": f"US$/ct shifted {self.value_break:g} annual sd{bf} from {yr}",
        }


#: Alternative -> the test it is aimed at.
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "foreign_goods": ("volume_vs_capacity",),
    "production_hidden": ("volume_vs_capacity",),
    "other_field_value": ("value_band", "shipment_values"),
    "other_field_size": ("size_distribution",),
    "volume_break": ("break_volume",),
    "value_break": ("break_value",),
}


@dataclass(frozen=True)
class CalibrationSetup:
    """A participant's footprint as the harness simulates from it (see :func:`calibrate`)."""

    years: Sequence[int]
    capacity_by_year: Sequence[np.ndarray]
    value_draws_usd_per_ct: np.ndarray
    market: P.MarketModel
    size_classes: Sequence[str] | None = None
    stone_share: np.ndarray | None = None
    size_concentration: float | None = None
    utilisation: P.UtilisationModel = P.DEFAULT_UTILISATION
    volume_series: P.SeriesModel = P.DEFAULT_VOLUME_SERIES
    size_null: P.SizeNullModel = P.DEFAULT_SIZE_NULL
    predictive: P.VolumePredictive | None = None


@dataclass
class CalibrationResult:
    """Size and power per test (the table) and the honest whole-report rate."""

    table: pd.DataFrame
    report_any_anomalous: float
    report_any_anomalous_se: float
    report_any_watch: float
    reps: int
    seed: int
    alpha: float
    alternatives: dict[str, str]
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the table, the whole-report rate, seed, alternatives, parameters."""
        return json_safe({
            "reps": self.reps, "seed": self.seed, "alpha": self.alpha,
            "alternatives": self.alternatives,
            "report_any_anomalous": self.report_any_anomalous,
            "report_any_anomalous_se": self.report_any_anomalous_se,
            "report_any_watch": self.report_any_watch,
            "tests": self.table.to_dict(orient="records"),
            "parameters": self.parameters}, strict=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CalibrationResult:
        """The inverse of :meth:`to_dict` (a stored calibration; None read back as NaN)."""
        table = pd.DataFrame(data["tests"]).fillna(value=math.nan)
        return cls(table=table, report_any_anomalous=float(data["report_any_anomalous"]),
                   report_any_anomalous_se=float(data["report_any_anomalous_se"]),
                   report_any_watch=float(data["report_any_watch"]), reps=int(data["reps"]),
                   seed=int(data["seed"]), alpha=float(data["alpha"]),
                   alternatives=dict(data["alternatives"]),
                   parameters=dict(data.get("parameters") or {}))

    def format(self) -> str:
        """The table as text: one row per test, size ± MC error, power per alternative."""
        lines = [f"alpha = {self.alpha:g}, {self.reps} replicates, seed {self.seed}"]
        header = f"{'test':<20} {'size':>7} {'± MC se':>8}  power (alternative: magnitude)"
        lines.append(header)
        for row in self.table.to_dict(orient="records"):
            power = "; ".join(f"{a}: {row['power_' + a]:.3f}" for a in ALTERNATIVES
                              if row.get("power_" + a) is not None
                              and not _nan(row.get("power_" + a)))
            lines.append(f"{row['test']:<20} {row['size']:>7.3f} {row['size_se']:>8.3f}  "
                         f"{power or '–'}")
        lines.append("alternatives: " + "; ".join(f"{k} = {v}"
                                                  for k, v in self.alternatives.items()))
        lines.append(f"honest whole reports with any 'anomalous': "
                     f"{self.report_any_anomalous:.3f} ± {self.report_any_anomalous_se:.3f}; "
                     f"any 'watch' or worse: {self.report_any_watch:.3f}")
        return "\n".join(lines)


def _nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _tilt(stone_share: np.ndarray, classes: Sequence[str], theta: float) -> np.ndarray:
    w = np.array([P.representative_stone_ct()[c] for c in classes])
    ref = float(np.exp(np.sum(stone_share * np.log(w))))
    tilted = stone_share * (w / ref) ** theta
    return tilted / tilted.sum()


@dataclass
class _Replicate:
    declared_ct: np.ndarray
    declared_usd: np.ndarray
    cert_usd: np.ndarray
    cert_year: np.ndarray
    stones: np.ndarray | None
    draw: int
    field_p: np.ndarray | None


def _simulate_honest(setup: CalibrationSetup, honest: HonestModel, rng: np.random.Generator,
                     size_share: np.ndarray | None = None) -> _Replicate:
    years = list(setup.years)
    n_years = len(years)
    values = np.asarray(setup.value_draws_usd_per_ct, dtype="float64")
    i = int(rng.integers(values.size))
    cap = np.array([float(c[i]) for c in setup.capacity_by_year])
    z = setup.volume_series.simulate(n_years, 1, rng)[0]
    u = setup.utilisation.ppf(special.ndtr(z))
    declared = np.maximum(cap, 0.0) * u
    eta_model = P.SeriesModel(ar1=min(setup.market.annual_ar1, 0.95), trend_sd=0.0)
    eta = eta_model.simulate(n_years, 1, rng)[0] * setup.market.annual_sd_ln
    index = np.array([setup.market.at(y) for y in years])
    price = values[i] * index * np.exp(eta)
    usd = declared * price
    producing = np.flatnonzero(declared > 0)
    n_cert = honest.n_certificates if producing.size else 0
    cert_t = rng.choice(producing, size=n_cert) if n_cert else np.zeros(0, dtype=int)
    cert_usd = price[cert_t] * np.exp(rng.normal(0.0, honest.parcel_sd_ln, n_cert))
    stones = field_p = None
    if setup.stone_share is not None and n_cert:
        base = setup.stone_share if size_share is None else size_share
        kappa = setup.size_concentration or setup.size_null.footprint_concentration
        field_p = rng.dirichlet(kappa * np.maximum(base, 1e-12))
        q = rng.dirichlet(setup.size_null.parcel_concentration * np.maximum(field_p, 1e-12),
                          size=n_cert)
        stones = rng.multinomial(honest.stones_per_certificate, q)
    return _Replicate(declared, usd, cert_usd, np.array([years[t] for t in cert_t]),
                      stones, i, field_p)


def _data(setup: CalibrationSetup, rep: _Replicate) -> P.ProtocolData:
    certs = None
    if rep.cert_usd.size:
        certs = P.Certificates(usd_per_ct=rep.cert_usd, year=rep.cert_year, stones=rep.stones)
    return P.ProtocolData(
        years=setup.years, declared_ct=rep.declared_ct, declared_usd=rep.declared_usd,
        status=["declared" if c > 0 else "no_production" for c in rep.declared_ct],
        capacity_by_year=setup.capacity_by_year,
        value_draws_usd_per_ct=setup.value_draws_usd_per_ct, market=setup.market,
        certificates=certs, size_classes=setup.size_classes, stone_share=setup.stone_share,
        size_concentration=setup.size_concentration, utilisation=setup.utilisation,
        volume_series=setup.volume_series, size_null=setup.size_null,
        predictive=setup.predictive)


def _rejections(tests: Sequence[P.TestResult], alpha: float) -> dict[str, list[bool]]:
    out: dict[str, list[bool]] = {}
    for t in tests:
        if t.p_value is not None:
            out.setdefault(t.name, []).append(t.p_value <= alpha)
    return out


def _volume_alternative(name: str, setup: CalibrationSetup, rep: _Replicate,
                        alts: Alternatives, rng: np.random.Generator,
                        thresholds: P.VerdictThresholds) -> list[P.TestResult]:
    years = list(setup.years)
    caps = setup.capacity_by_year
    active = list(range(len(years)))  # foreign goods can be added in any year
    if name == "production_hidden":  # hiding needs production and a testable lower tail
        active = [t for t in active if rep.declared_ct[t] > 0
                  and np.median(caps[t]) >= thresholds.real_capacity_ct]
    if not active:
        return []
    t = int(rng.choice(active))
    x = float(rep.declared_ct[t])
    added = alts.foreign_goods * max(float(np.quantile(caps[t], 0.99)),
                                     thresholds.real_capacity_ct)
    x = x + added if name == "foreign_goods" else x * (1.0 - alts.production_hidden)
    return [P.compare_volume(x, caps[t], period=str(years[t]),
                             utilisation=setup.utilisation, thresholds=thresholds)]


def _value_alternative(setup: CalibrationSetup, rep: _Replicate, alts: Alternatives,
                       thresholds: P.VerdictThresholds) -> list[P.TestResult]:
    f = alts.value_factor(setup)
    data = _data(setup, replace(rep, declared_usd=rep.declared_usd * f,
                                cert_usd=rep.cert_usd * f))
    out = []
    for t, year in enumerate(setup.years):
        if data.declared_ct[t] > 0:
            out.append(P.compare_value_band(
                float(data.declared_usd[t] / data.declared_ct[t]),
                setup.value_draws_usd_per_ct, index=setup.market.at(year),
                annual_sd_ln=setup.market.annual_sd_ln, thresholds=thresholds))
    certs = data.certificates
    if certs is not None and certs.usd_per_ct.size >= P.MIN_SHIPMENTS:
        out.append(P.compare_shipment_values(
            certs.usd_per_ct, setup.value_draws_usd_per_ct,
            index=np.array([setup.market.at(y) for y in certs.year]),
            shipment_years=certs.year, annual_sd_ln=setup.market.annual_sd_ln,
            annual_ar1=setup.market.annual_ar1, thresholds=thresholds))
    return out


def _size_alternative(setup: CalibrationSetup, rep: _Replicate, alts: Alternatives,
                      rng: np.random.Generator, n_sim: int, thresholds: P.VerdictThresholds,
                      seed: int) -> list[P.TestResult]:
    if setup.stone_share is None or rep.stones is None:
        return []
    tilted = _tilt(setup.stone_share, setup.size_classes or [], alts.other_field_size)
    honest = HonestModel(n_certificates=rep.stones.shape[0],
                         stones_per_certificate=int(rep.stones.sum(axis=1).max()))
    alt = _simulate_honest(setup, honest, rng, size_share=tilted)
    if alt.stones is None:
        return []
    return [P.compare_size_distribution(alt.stones, setup.stone_share,
                                        classes=setup.size_classes or [],
                                        concentration=setup.size_concentration,
                                        null=setup.size_null, n_boot=n_sim, seed=seed,
                                        thresholds=thresholds)]


def break_index(capacity_by_year: Sequence[np.ndarray], min_size: int = 2) -> int:
    """Where the harness puts a break alternative: the year nearest mid-period (earlier on
    a tie) whose mean capacity equals, within 1 %, that of the year before and of the
    year after, so the break is one capacity does not explain; mid-period when none."""
    n = len(capacity_by_year)
    mean = np.array([float(np.mean(np.maximum(c, 0.0))) for c in capacity_by_year])
    changed = np.abs(np.diff(np.log1p(mean))) > 0.01  # changed[k - 1]: year k vs k - 1

    def moves(k: int) -> bool:
        return bool(changed[k - 1]) or (k < n - 1 and bool(changed[k]))

    candidates = range(min_size, max(n - min_size + 1, min_size + 1))
    return min(candidates, key=lambda k: (k > n - 1 or moves(k), abs(k - n // 2)))


def _break_alternative(name: str, setup: CalibrationSetup, rep: _Replicate,
                       alts: Alternatives, n_sim: int, thresholds: P.VerdictThresholds,
                       seed: int) -> list[P.TestResult]:
    """The break alternatives at :func:`break_index`, tested with the report's seeds."""
    after = np.arange(len(setup.years)) >= break_index(setup.capacity_by_year)
    seeds = P.protocol_seeds(seed)
    if name == "volume_break":
        mean_ct = np.array([float(np.mean(np.maximum(c, 0.0))) for c in setup.capacity_by_year])
        added = after * (alts.volume_break - 1.0) * setup.utilisation.mean * mean_ct
        price = np.divide(rep.declared_usd, rep.declared_ct, out=np.zeros_like(added),
                          where=rep.declared_ct > 0)
        price = np.where(price > 0, price, float(np.median(setup.value_draws_usd_per_ct)))
        altered = replace(rep, declared_ct=rep.declared_ct + added,
                          declared_usd=rep.declared_usd + added * price)
        return [P.break_volume_test(_data(setup, altered), seed=seeds[0], n_sim=n_sim,
                                    thresholds=thresholds)]
    factor = np.where(after, alts.value_break_factor(setup), 1.0)
    altered = replace(rep, declared_usd=rep.declared_usd * factor)
    result = P.break_value_test(_data(setup, altered), seed=seeds[1], n_sim=n_sim,
                                thresholds=thresholds)
    return [] if result is None else [result]


def _alternative_tests(name: str, setup: CalibrationSetup, rep: _Replicate,
                       alts: Alternatives, rng: np.random.Generator, n_sim: int,
                       thresholds: P.VerdictThresholds, seed: int) -> list[P.TestResult]:
    """The alternative's target tests on a dishonest version of an honest replicate."""
    if name in ("foreign_goods", "production_hidden"):
        return _volume_alternative(name, setup, rep, alts, rng, thresholds)
    if name == "other_field_value":
        return _value_alternative(setup, rep, alts, thresholds)
    if name == "other_field_size":
        return _size_alternative(setup, rep, alts, rng, n_sim, thresholds, seed)
    if name in ("volume_break", "value_break"):
        return _break_alternative(name, setup, rep, alts, n_sim, thresholds, seed)
    raise InvalidParameterError(f"unknown alternative {name!r}")


@dataclass
class _Tally:
    """What the replicates add up: per-test rejections, power hits, whole-report flags."""

    per_rep: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    power: dict[tuple[str, str], list[bool]] = field(default_factory=dict)
    any_anomalous: list[bool] = field(default_factory=list)
    any_watch: list[bool] = field(default_factory=list)

    def add_honest(self, tests: Sequence[P.TestResult], thresholds: P.VerdictThresholds) -> None:
        for name, rejected in _rejections(tests, thresholds.alpha).items():
            self.per_rep.setdefault(name, []).append(float(np.mean(rejected)))
            self.counts[name] = self.counts.get(name, 0) + len(rejected)
        adjusted, _ = P.adjust_benjamini_hochberg(tests, thresholds=thresholds)
        self.any_anomalous.append(any(t.verdict == "anomalous" for t in adjusted))
        self.any_watch.append(any(t.verdict != "consistent" for t in adjusted))

    def add_alternative(self, alt_name: str, tests: Sequence[P.TestResult],
                        alpha: float) -> None:
        for t in tests:
            if t.name in ALTERNATIVES[alt_name] and t.p_value is not None:
                self.power.setdefault((t.name, alt_name), []).append(t.p_value <= alpha)

    def table(self) -> pd.DataFrame:
        rows = []
        for name in dict.fromkeys([*self.per_rep, *(k[0] for k in self.power)]):
            shares = np.array(self.per_rep.get(name, []))
            row: dict[str, Any] = {
                "test": name,
                "size": float(shares.mean()) if shares.size else math.nan,
                "size_se": float(shares.std(ddof=1) / math.sqrt(shares.size))
                if shares.size > 1 else math.nan,
                "n": int(self.counts.get(name, 0))}
            for alt_name in ALTERNATIVES:
                hits = self.power.get((name, alt_name))
                row["power_" + alt_name] = float(np.mean(hits)) if hits else math.nan
            rows.append(row)
        return pd.DataFrame(rows)


def _parameters(setup: CalibrationSetup, honest: HonestModel, alts: Alternatives,
                n_sim: int) -> dict[str, Any]:
    return {"honest": honest.model_dump(), "alternatives": alts.model_dump(),
            "utilisation": setup.utilisation.model_dump(),
            "volume_series": setup.volume_series.model_dump(),
            "size_null": setup.size_null.model_dump(),
            "market": {"annual_sd_ln": setup.market.annual_sd_ln,
                       "annual_ar1": setup.market.annual_ar1},
            "n_sim": n_sim, "years": [int(y) for y in setup.years],
            "break_year": int(setup.years[break_index(setup.capacity_by_year)])}


def calibrate(setup: CalibrationSetup, *, reps: int = 1000, seed: int = 0,
              n_sim: int = 199, honest: HonestModel | None = None,
              alternatives: Alternatives | None = None,
              thresholds: P.VerdictThresholds = P.DEFAULT_THRESHOLDS,
              on_replicate: Callable[[int, int], None] | None = None) -> CalibrationResult:
    """Size and power of every p-valued protocol on a participant's footprint.

    Parameters
    ----------
    setup
        the participant's footprint (:func:`setup_from_footprints`).
    reps
        honest replicates (each also altered once per alternative).
    seed
        base seed; replicate ``r`` uses the ``r``-th ``SeedSequence`` child.
    n_sim
        size of each simulated null distribution (break tests, size bootstrap). Monte
        Carlo p-values ``(k+1)/(n_sim+1)`` are exact for any ``n_sim``, so the size does
        not depend on it; reports use 999.
    on_replicate
        ``on_replicate(done, reps)`` after each replicate (progress; raising stops the
        calibration, as a dismissed job does).

    Returns
    -------
    CalibrationResult
        per test: ``size`` (share of honest tests with raw p <= alpha; per-year tests
        pooled over years), ``size_se`` (Monte Carlo error: sd of the per-replicate shares
        / sqrt(reps)), ``n`` tests, and ``power_<alternative>`` for its target tests.
    """
    if reps < 1:
        raise InvalidParameterError("reps must be >= 1")
    honest = honest or HonestModel()
    alts = alternatives or Alternatives()
    if setup.predictive is None:
        setup = replace(setup, predictive=P.VolumePredictive.build(setup.capacity_by_year,
                                                                   setup.utilisation))
    tally = _Tally()
    for done, child in enumerate(np.random.SeedSequence(seed).spawn(reps), start=1):
        rng = np.random.default_rng(child)
        test_seed = int(child.generate_state(1)[0])
        rep = _simulate_honest(setup, honest, rng)
        tests, _ = P.run_protocols(_data(setup, rep), seed=test_seed, n_sim=n_sim,
                                   thresholds=thresholds)
        tally.add_honest(tests, thresholds)
        for alt_name in ALTERNATIVES:
            tally.add_alternative(alt_name, _alternative_tests(
                alt_name, setup, rep, alts, rng, n_sim, thresholds, test_seed),
                thresholds.alpha)
        if on_replicate is not None:
            on_replicate(done, reps)
    any_anom = np.array(tally.any_anomalous)
    return CalibrationResult(
        table=tally.table(), report_any_anomalous=float(any_anom.mean()),
        report_any_anomalous_se=float(math.sqrt(any_anom.mean() * (1 - any_anom.mean())
                                                / reps)),
        report_any_watch=float(np.mean(tally.any_watch)), reps=reps, seed=seed,
        alpha=thresholds.alpha, alternatives=alts.describe(setup),
        parameters=_parameters(setup, honest, alts, n_sim))


def setup_from_footprints(fields: Sequence[Any], years: Sequence[int], market: P.MarketModel,
                          *, volume_series: P.SeriesModel = P.DEFAULT_VOLUME_SERIES,
                          utilisation: P.UtilisationModel = P.DEFAULT_UTILISATION,
                          size_null: P.SizeNullModel = P.DEFAULT_SIZE_NULL,
                          max_draws: int | None = 2000) -> CalibrationSetup:
    """A :class:`CalibrationSetup` from a participant's field footprints.

    ``fields``: :class:`footprint.reports.inputs.FieldFootprint` objects (capacity read
    with ``capacity_for_year``); capacity summed draw by draw, value carat-weighted draw
    by draw, size shares weighted by capacity P50 (as a report does). ``max_draws``
    thins the draws evenly (the same draw indices in every year and field) for speed:
    honest data are simulated from and tested against the same thinned draws, so the
    size stays exact; the p-value floor becomes ``1 / (max_draws + 1)``.
    """
    years = [int(y) for y in years]
    caps = [P.sum_capacity_draws([f.capacity_for_year(y) for f in fields]) for y in years]
    value = P.combine_value_draws([f.capacity_ct_per_year for f in fields],
                                  [f.value_usd_per_ct for f in fields])
    n = caps[0].size if caps else 0
    if max_draws and n > max_draws:
        keep = np.linspace(0, n - 1, max_draws).astype(int)
        caps = [c[keep] for c in caps]
        value = value[keep]
    classes, share, kappa = size_inputs(fields, size_null)
    return CalibrationSetup(years=years, capacity_by_year=caps, value_draws_usd_per_ct=value,
                            market=market, size_classes=classes, stone_share=share,
                            size_concentration=kappa, utilisation=utilisation,
                            volume_series=volume_series, size_null=size_null)


def size_check(result: CalibrationResult, *, low: float = 0.5, high: float = 1.5
               ) -> dict[str, bool]:
    """``test -> size within [low alpha, high alpha]`` (the unit test's criterion)."""
    return {row["test"]: bool(low * result.alpha <= row["size"] <= high * result.alpha)
            for row in result.table.to_dict(orient="records")}


__all__ = ["ALTERNATIVES", "Alternatives", "CalibrationResult", "CalibrationSetup",
           "HonestModel", "break_index", "calibrate", "setup_from_footprints", "size_check"]
