"""A participant's footprint from its fields': capacity, value and size shares combined
draw by draw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from footprint.errors import InvalidParameterError
from footprint.protocols.verdicts import _as_draws


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
    mix = {c: float(sum(wi * s.get(c, 0.0) for wi, s in zip(w, shares, strict=False)) / w.sum())
           for c in classes}
    total = sum(mix.values())
    return {c: v / total for c, v in mix.items()} if normalise and total > 0 else mix
