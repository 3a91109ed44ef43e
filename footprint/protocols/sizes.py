"""Protocol 3: certificates' stone counts against the footprint's size distribution."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from footprint.errors import InvalidParameterError
from footprint.protocols.verdicts import (
    DEFAULT_THRESHOLDS,
    TestResult,
    VerdictThresholds,
    verdict_from_p,
)
from footprint.value import COMMON_CLASSES, map_sieve_shares


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
