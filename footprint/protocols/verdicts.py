"""Verdicts, thresholds and the result of one protocol test; Monte Carlo p-value helpers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from footprint.errors import InvalidParameterError
from footprint.serialise import json_safe

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
        """JSON-able copy (non-finite numbers become None)."""
        return json_safe(asdict(self), strict=False)


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
    known = [v for v in VERDICTS if v in set(verdicts)]
    return known[-1] if known else "consistent"


def _as_draws(draws: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(draws, dtype="float64").ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise InvalidParameterError(f"{what}: draws must be a non-empty array of finite numbers")
    return arr


def quantiles(draws: np.ndarray, probs: Sequence[float] = (0.05, 0.10, 0.50, 0.90, 0.95)
              ) -> dict[str, float]:
    """``{"p5": ..., "p10": ..., ...}`` of the draws (linear interpolation, numpy default)."""
    values = np.quantile(np.asarray(draws, dtype="float64"), probs)
    return {f"p{round(p * 100):d}": float(v) for p, v in zip(probs, values, strict=False)}


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


def _mc_floor(p: float, n: int) -> float:
    """A tail probability estimated from ``n`` draws, never below ``1 / (n + 1)``."""
    return float((p * n + 1.0) / (n + 1.0))


def _two_sided(p_upper: float, p_lower: float) -> float:
    return float(min(1.0, 2.0 * min(p_upper, p_lower)))


def _finite(values: np.ndarray) -> tuple[np.ndarray, int]:
    arr = np.asarray(values, dtype="float64").ravel()
    ok = np.isfinite(arr)
    return arr[ok], int((~ok).sum())


def _span(years: Sequence[int]) -> str | None:
    return f"{min(years)}-{max(years)}" if years else None
