"""Evidence updates the parameters: survey uploads turn priors into posteriors (Bayesian).

Pure and deterministic (no random numbers at all): every posterior is computed on a
grid, so the same evidence and sheet give the same posterior, and the Monte Carlo that
follows (seeded) gives the same draws. A posterior enters the sheet as an
:class:`~footprint.params.Empirical` distribution of ``POSTERIOR_POINTS`` posterior
quantiles, which replaces the prior in that version's Monte Carlo.

Models (DOMAIN.md sections 3 and 8)
-----------------------------------
Bulk samples (``volume_m3``, ``carats``, optional ``stones``) -> grade ``G`` (ct/m³)
    *With stone counts* (Cox process, the classical nugget-effect model; e.g. Ferreira
    2013, Mines ParisTech): the stones of sample ``i`` are Poisson with a gamma-distributed
    density, i.e. ``n_i ~ NegBin(mean = G V_i / m, shape k)``, with ``m`` the mean stone
    weight (ct), estimated as ``Σ carats / Σ stones``. ``k`` (the dispersion: small k =
    strong clustering) is unknown, log-uniform on [0.05, 200], and marginalised.
    *Without stone counts*: hierarchical lognormal grades,
    ``ln(c_i / V_i) ~ Normal(ln G − τ²/2, τ²)`` (so ``G`` is the mean grade), ``τ``
    log-uniform on [0.02, 3] and marginalised; a sample with no carats counts at half the
    smallest positive grade (a detection limit).
    Samples update the grade of the deposit class they fall in (``grade_ct_m3.<class>``);
    all samples together update the generic ``grade_ct_m3`` (which the capacity modes use
    unless the sheet gives a mode its own grade).
Pit logs (``thickness_m``, ``overburden_m``) -> mean gravel thickness and overburden
    Hierarchical lognormal as above (``thickness_m.<class>`` and ``thickness_m``;
    ``overburden_m`` likewise: recorded, and used by any model that reads it).
Workforce counts (``count``, ``year``) -> ``miners.<year>``
    The counts of one year are summed (one feature per site); the census is the true
    workforce with a lognormal error ``ln(count) ~ Normal(ln miners, σ_c²)``,
    ``σ_c = CENSUS_SIGMA`` (assumption: censuses of informal miners miss or double-count
    about a quarter). The year's ``miners.<year>`` enters the sheet's timeline, so that
    year's artisanal capacity uses it.
Mined areas
    Feed the imagery series and depletion (:func:`footprint.pipeline.build.mined_area_by_year`
    and :func:`footprint.capacity.deplete_by_year`); nothing to do here.

Grids: the prior's mass is carried exactly by placing grid points at prior quantiles
(``x_j = ppf(u_j)``, equal prior mass per point), refined twice around the posterior
mass, so any distribution of the sheet schema serves as a prior.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from footprint.errors import InvalidLayerError
from footprint.params import Empirical, ParameterSheet, WorkforcePeriod, parse_sheet

#: Posterior quantiles kept in the Empirical distribution that replaces a prior.
POSTERIOR_POINTS = 1000
#: Grid points per refinement pass, and refinement passes.
GRID_POINTS = 1500
REFINEMENTS = 2
#: Lognormal error of a workforce census (log-space sd). Assumption, see module docstring.
CENSUS_SIGMA = 0.25
_K_GRID = np.exp(np.linspace(np.log(0.05), np.log(200.0), 48))       # NegBin shape k
_TAU_GRID = np.exp(np.linspace(np.log(0.02), np.log(3.0), 48))       # lognormal sd


@dataclass(frozen=True)
class BulkSamples:
    """Bulk samples of one deposit class (or all classes: ``deposit_class=None``)."""

    volume_m3: np.ndarray
    carats: np.ndarray
    stones: np.ndarray | None = None


@dataclass(frozen=True)
class Evidence:
    """The evidence of one footprint version, already split by deposit class.

    Attributes
    ----------
    bulk_samples
        ``deposit class -> (volume_m3, carats, stones)`` arrays; the key ``None`` (or
        ``"*"``) holds samples outside every mapped class.
    pit_logs
        ``deposit class -> {"thickness_m": array, "overburden_m": array}``.
    workforce
        ``year -> [counts]`` (persons).
    layers
        ``[{kind, id, sha256, n_features}]`` of the layers it came from (provenance).
    """

    bulk_samples: Mapping[str, BulkSamples] = field(default_factory=dict)
    pit_logs: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    workforce: Mapping[int, Sequence[float]] = field(default_factory=dict)
    layers: Sequence[Mapping[str, Any]] = ()

    @property
    def empty(self) -> bool:
        return not (self.bulk_samples or self.pit_logs or self.workforce)


# --------------------------------------------------------------------------- grids

def _grid_posterior(ppf, log_likelihood) -> tuple[np.ndarray, np.ndarray]:
    """Posterior on a prior-quantile grid refined around the posterior mass.

    ``ppf(u)`` is the prior's inverse CDF; ``log_likelihood(x)`` the log-likelihood of
    the data at parameter values ``x`` (1-D array). Returns ``(x, weights)`` sorted by x,
    weights summing to 1 (prior mass per point × likelihood).
    """
    lo, hi = 0.0, 1.0
    for _ in range(REFINEMENTS + 1):
        u = lo + (hi - lo) * (np.arange(GRID_POINTS) + 0.5) / GRID_POINTS
        x = ppf(u)
        logw = log_likelihood(x)
        logw = np.where(np.isfinite(logw), logw, -np.inf)
        if not np.isfinite(logw).any():
            raise InvalidLayerError("the evidence has zero likelihood under every value the "
                                    "prior allows: check its units and attributes")
        w = np.exp(logw - logw.max())
        w /= w.sum()
        cdf = np.cumsum(w)
        # refine to the u-range holding all but 1e-6 of the posterior mass
        i_lo = int(np.searchsorted(cdf, 1e-6))
        i_hi = int(np.searchsorted(cdf, 1.0 - 1e-6))
        new_lo = lo + (hi - lo) * max(i_lo - 1, 0) / GRID_POINTS
        new_hi = lo + (hi - lo) * min(i_hi + 2, GRID_POINTS) / GRID_POINTS
        if new_hi - new_lo >= (hi - lo) * 0.999:
            break
        lo, hi = new_lo, new_hi
    order = np.argsort(x, kind="stable")
    return x[order], w[order]


def posterior_quantiles(x: np.ndarray, w: np.ndarray, n: int = POSTERIOR_POINTS) -> np.ndarray:
    """``n`` quantiles of the weighted grid at ``u = (i + 0.5) / n`` (linear in the CDF)."""
    cdf = np.cumsum(w) - w / 2.0
    u = (np.arange(n) + 0.5) / n
    return np.interp(u, cdf, x)


def _logsumexp_over_nuisance(loglik: np.ndarray) -> np.ndarray:
    """Marginalise a log-uniform nuisance grid (last axis, equal prior weights)."""
    return special.logsumexp(loglik, axis=-1) - np.log(loglik.shape[-1])


# --------------------------------------------------------------------------- likelihoods

def negbin_grade_loglik(grade_ct_m3: np.ndarray, volume_m3: np.ndarray, stones: np.ndarray,
                        mean_stone_ct: float) -> np.ndarray:
    """Log-likelihood of stone counts under grade ``G`` (k marginalised), shape of G.

    ``n_i ~ NegBin(mean = G V_i / m, shape k)``: Poisson counts with a gamma density.
    """
    g = np.asarray(grade_ct_m3, dtype=np.float64)[:, None, None]
    k = _K_GRID[None, :, None]
    mean = np.maximum(g * volume_m3[None, None, :] / mean_stone_ct, 1e-300)
    n = stones[None, None, :]
    ll = (special.gammaln(n + k) - special.gammaln(k) - special.gammaln(n + 1)
          + k * np.log(k / (k + mean)) + n * np.log(mean / (k + mean)))
    return _logsumexp_over_nuisance(ll.sum(axis=-1))


def lognormal_mean_loglik(mean: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Log-likelihood of positive ``values`` with lognormal spread around arithmetic ``mean``.

    ``ln x_i ~ Normal(ln mean − τ²/2, τ²)`` with ``τ`` marginalised (log-uniform grid).
    """
    logs = np.log(values)[None, None, :]
    tau = _TAU_GRID[None, :, None]
    mu = np.log(np.maximum(np.asarray(mean, dtype=np.float64), 1e-300))[:, None, None] - tau**2 / 2
    ll = -0.5 * ((logs - mu) / tau) ** 2 - np.log(tau) - 0.5 * np.log(2 * np.pi)
    return _logsumexp_over_nuisance(ll.sum(axis=-1))


def census_loglik(miners: np.ndarray, count: float, sigma: float = CENSUS_SIGMA) -> np.ndarray:
    """Log-likelihood of a census ``count`` under a true workforce ``miners``."""
    m = np.maximum(np.asarray(miners, dtype=np.float64), 1e-9)
    return -0.5 * ((np.log(max(count, 0.5)) - np.log(m)) / sigma) ** 2


# --------------------------------------------------------------------------- updates

@dataclass(frozen=True)
class Update:
    """One parameter's prior and posterior (what provenance lists)."""

    parameter: str
    prior_from: str
    model: str
    n: int
    prior: dict[str, float]
    posterior: dict[str, float]
    samples: tuple[float, ...]
    layers: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"parameter": self.parameter, "prior_from": self.prior_from, "model": self.model,
                "n": self.n, "prior": self.prior, "posterior": self.posterior,
                "layers": list(self.layers)}


def _p5_50_95(values: np.ndarray) -> dict[str, float]:
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    return {"p5": float(p5), "p50": float(p50), "p95": float(p95)}


def _prior_summary(ppf) -> dict[str, float]:
    return {k: float(v) for k, v in zip(("p5", "p50", "p95"), ppf(np.array([0.05, 0.5, 0.95])))}


def update_grade(prior, samples: BulkSamples) -> tuple[np.ndarray, str, int]:
    """Posterior quantiles of grade (ct/m³) from bulk samples; ``(quantiles, model, n)``."""
    volume = np.asarray(samples.volume_m3, dtype=np.float64)
    carats = np.asarray(samples.carats, dtype=np.float64)
    if volume.size == 0 or np.any(volume <= 0) or np.any(carats < 0):
        raise InvalidLayerError("bulk samples need volume_m3 > 0 and carats >= 0")
    stones = None if samples.stones is None else np.asarray(samples.stones, dtype=np.float64)
    if stones is not None and not np.all(np.isfinite(stones)):
        stones = None
    if stones is not None and stones.sum() > 0:
        mean_stone_ct = float(carats.sum() / stones.sum())
        x, w = _grid_posterior(prior.ppf, lambda g: negbin_grade_loglik(g, volume, stones,
                                                                        mean_stone_ct))
        model = (f"negative binomial stone counts (Poisson x gamma density), mean stone "
                 f"{mean_stone_ct:.4g} ct, dispersion k marginalised")
    else:
        grades = carats / volume
        positive = grades[grades > 0]
        if positive.size == 0:
            raise InvalidLayerError("no bulk sample recovered a carat and none has a stone "
                                    "count: nothing to learn the grade from")
        grades = np.where(grades > 0, grades, positive.min() / 2.0)
        x, w = _grid_posterior(prior.ppf, lambda g: lognormal_mean_loglik(g, grades))
        model = "hierarchical lognormal sample grades, dispersion marginalised"
    return posterior_quantiles(x, w), model, int(volume.size)


def update_mean_lognormal(prior, values: np.ndarray) -> tuple[np.ndarray, str, int]:
    """Posterior quantiles of a class mean (e.g. gravel thickness, m) from positive logs."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    positive = values[values > 0]
    if positive.size == 0:
        raise InvalidLayerError("pit logs need positive thicknesses")
    values = np.where(values > 0, values, positive.min() / 2.0)
    x, w = _grid_posterior(prior.ppf, lambda m: lognormal_mean_loglik(m, values))
    return posterior_quantiles(x, w), "hierarchical lognormal, dispersion marginalised", int(values.size)


def update_workforce(prior, counts: Sequence[float]) -> tuple[np.ndarray, str, int]:
    """Posterior quantiles of a year's workforce (persons) from its census counts."""
    total = float(np.sum(np.asarray(counts, dtype=np.float64)))
    x, w = _grid_posterior(prior.ppf, lambda m: census_loglik(m, total))
    model = f"census total {total:g} with lognormal error sd {CENSUS_SIGMA} (assumption)"
    return posterior_quantiles(x, w), model, len(counts)


def _class_key(cls: str | None) -> str | None:
    return None if cls in (None, "*", "") else str(cls)


def apply_evidence(sheet: ParameterSheet, evidence: Evidence) -> tuple[ParameterSheet, dict]:
    """The sheet with each parameter the evidence informs replaced by its posterior.

    Returns
    -------
    (ParameterSheet, dict)
        The updated sheet (validated by the same schema) and the evidence block for
        provenance: ``{"layers": [...], "updates": [prior/posterior P5/P50/P95 per
        parameter], "skipped": [evidence that could not inform a parameter, and why]}``.
        Without evidence the sheet is returned unchanged.
    """
    if evidence.empty:
        return sheet, {"layers": list(evidence.layers), "updates": [], "skipped": []}
    layer_ids = tuple(f"{entry.get('kind')}:{entry.get('id')}" for entry in evidence.layers)
    updates: list[Update] = []

    skipped: list[dict[str, str]] = []

    def record(name: str, prior_name: str, update, *args) -> None:
        # evidence that cannot inform a parameter is set aside and said so, never a reason
        # for every later build of the field to fail
        try:
            quantiles, model, n = update(sheet.parameters[prior_name], *args)
        except InvalidLayerError as error:
            skipped.append({"parameter": name, "reason": str(error)})
            return
        prior = sheet.parameters[prior_name]
        updates.append(Update(name, prior_name, model, n, _prior_summary(prior.ppf),
                              _p5_50_95(quantiles), tuple(float(v) for v in quantiles),
                              layer_ids))

    # grade: per class, and pooled for the generic parameter
    pooled = [s for s in evidence.bulk_samples.values()]
    for cls, samples in sorted(evidence.bulk_samples.items(), key=lambda kv: str(kv[0])):
        key = _class_key(cls)
        if key is None:
            continue
        prior_name = sheet.resolve("grade_ct_m3", key)
        if prior_name is not None:
            record(f"grade_ct_m3.{key}", prior_name, update_grade, samples)
    if pooled and "grade_ct_m3" in sheet.parameters:
        has_stones = all(s.stones is not None for s in pooled)
        together = BulkSamples(np.concatenate([s.volume_m3 for s in pooled]),
                               np.concatenate([s.carats for s in pooled]),
                               np.concatenate([s.stones for s in pooled]) if has_stones else None)
        record("grade_ct_m3", "grade_ct_m3", update_grade, together)

    # thickness and overburden: per class and pooled
    for attribute in ("thickness_m", "overburden_m"):
        logs = {cls: np.asarray(v[attribute], dtype=np.float64)
                for cls, v in evidence.pit_logs.items() if attribute in v and len(v[attribute])}
        if not logs or sheet.resolve(attribute) is None:
            continue
        for cls, values in sorted(logs.items(), key=lambda kv: str(kv[0])):
            key = _class_key(cls)
            if key is not None:
                prior_name = sheet.resolve(attribute, key) or attribute
                record(f"{attribute}.{key}", prior_name, update_mean_lognormal, values)
        record(attribute, attribute, update_mean_lognormal, np.concatenate(list(logs.values())))

    # workforce by year
    workforce_periods = []
    if "miners" in sheet.parameters:
        for year, counts in sorted(evidence.workforce.items()):
            prior_name = sheet.timeline.miners_parameter(int(year))
            name = f"miners.{int(year)}"
            record(name, prior_name, update_workforce, counts)
            if name not in {u.parameter for u in updates}:
                continue
            workforce_periods.append(WorkforcePeriod(
                start_year=int(year), end_year=int(year), parameter=name,
                source=f"workforce census {int(year)} (evidence layers {', '.join(layer_ids)})"))

    data = sheet.model_dump(mode="json", exclude_none=True)
    for u in updates:
        prior = sheet.parameters[u.prior_from]
        data["parameters"][u.parameter] = Empirical(
            dist="empirical", samples=list(u.samples), unit=prior.unit, assumption=None,
            source=(f"posterior from {u.n} evidence record(s) ({', '.join(u.layers)}): "
                    f"{u.model}; prior {u.prior_from}: "
                    f"{prior.source or 'assumption: ' + str(prior.assumption)}"),
        ).model_dump(mode="json", exclude_none=True)
    if workforce_periods:
        timeline = data.setdefault("timeline", {})
        timeline["workforce"] = ([w.model_dump(mode="json", exclude_none=True)
                                  for w in workforce_periods] + timeline.get("workforce", []))
    updated = parse_sheet(data)
    return updated, {"layers": list(evidence.layers), "updates": [u.as_dict() for u in updates],
                     "skipped": skipped}


__all__ = [
    "CENSUS_SIGMA",
    "POSTERIOR_POINTS",
    "BulkSamples",
    "Evidence",
    "SurveyTruth",
    "apply_evidence",
    "census_loglik",
    "lognormal_mean_loglik",
    "negbin_grade_loglik",
    "posterior_quantiles",
    "synthetic_survey",
    "update_grade",
    "update_mean_lognormal",
    "update_workforce",
]


# --------------------------------------------------------------------------- synthetic surveys

@dataclass(frozen=True)
class SurveyTruth:
    """The known truth of a synthetic field (for truth-recovery checks)."""

    grade_ct_m3: float
    thickness_m: float
    miners: float
    mean_stone_ct: float = 0.05
    dispersion_k: float = 2.0
    stone_size_sigma: float = 0.8
    thickness_sigma: float = 0.4


def synthetic_survey(truth: SurveyTruth, n: int, seed: int, *, deposit_class: str = "floodplain",
                     year: int = 2010) -> Evidence:
    """``n`` bulk samples and pit logs and one census drawn from ``truth`` (seeded).

    Bulk samples of 20-100 m³ hold ``NegBin(G V / m, k)`` stones (gamma-distributed density:
    the nugget effect), each stone lognormal in weight with mean ``m``; pit logs are
    lognormal around the mean thickness with log-sd ``thickness_sigma``; the census is the
    workforce with the lognormal error :data:`CENSUS_SIGMA`.
    """
    rng = np.random.default_rng(seed)
    volume = rng.uniform(20.0, 100.0, n)
    density = rng.gamma(truth.dispersion_k, truth.grade_ct_m3 / truth.mean_stone_ct
                        / truth.dispersion_k, n)
    stones = rng.poisson(density * volume)
    s = truth.stone_size_sigma
    carats = np.array([rng.lognormal(np.log(truth.mean_stone_ct) - s * s / 2, s, c).sum()
                       for c in stones])
    t = truth.thickness_sigma
    thickness = rng.lognormal(np.log(truth.thickness_m) - t * t / 2, t, n)
    overburden = rng.lognormal(np.log(2.0), 0.5, n)
    count = float(np.exp(np.log(truth.miners) + CENSUS_SIGMA * rng.standard_normal()))
    return Evidence(
        bulk_samples={deposit_class: BulkSamples(volume, carats, stones.astype(np.float64))},
        pit_logs={deposit_class: {"thickness_m": thickness, "overburden_m": overburden}},
        workforce={year: [count]},
        layers=[{"kind": "synthetic", "id": seed, "sha256": "", "n_features": 3 * n}])
