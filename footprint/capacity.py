"""Production capacity: how many carats a year can come out of a field.

Formulas of DOMAIN.md section 3.3 (USGS capacity assessments, e.g. SIR 2012-5256 for
Guinea and SIR 2013-5185 for Côte d'Ivoire):

* artisanal ``P = N_miners × D_days/yr × v (m³/miner-day) × G × r``;
* mechanised ``P = Q (m³/h) × H (h/yr) × availability × G × r``;
* imagery-based ``P_t = ΔA_mined,t (m²) × T (m) × G × r``;
* depletion: capacity cannot exceed what remains; years to exhaustion ``C / P``.

All functions are pure and vectorised over Monte Carlo draws; units are in the names.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from footprint.errors import InvalidParameterError
from footprint.resources import ArrayLike, _check_fraction, _check_non_negative


def artisanal_capacity_ct_per_year(miners: ArrayLike, days_per_year: ArrayLike,
                                   m3_per_miner_day: ArrayLike, grade_ct_m3: ArrayLike,
                                   recovery: ArrayLike) -> np.ndarray:
    """Artisanal capacity (ct/yr): workforce × days worked × gravel per miner-day × grade
    × recovery."""
    days = _check_non_negative("days_per_year", days_per_year)
    if np.any(days > 366):
        raise InvalidParameterError("days_per_year cannot exceed 366")
    return (_check_non_negative("miners", miners) * days
            * _check_non_negative("m3_per_miner_day", m3_per_miner_day)
            * _check_non_negative("grade_ct_m3", grade_ct_m3)
            * _check_fraction("recovery", recovery))


def mechanised_capacity_ct_per_year(plant_m3_per_h: ArrayLike, hours_per_year: ArrayLike,
                                    availability: ArrayLike, grade_ct_m3: ArrayLike,
                                    recovery: ArrayLike) -> np.ndarray:
    """Plant capacity (ct/yr): throughput × scheduled hours × availability × grade × recovery.

    GCD's plant at Akwatia was available about 38% of the time (Ghana industry summary).
    """
    hours = _check_non_negative("hours_per_year", hours_per_year)
    if np.any(hours > 8784):
        raise InvalidParameterError("hours_per_year cannot exceed 8,784 (a leap year)")
    return (_check_non_negative("plant_m3_per_h", plant_m3_per_h) * hours
            * _check_fraction("availability", availability)
            * _check_non_negative("grade_ct_m3", grade_ct_m3)
            * _check_fraction("recovery", recovery))


def imagery_capacity_ct_per_year(mined_area_m2_per_year: ArrayLike, thickness_m: ArrayLike,
                                 grade_ct_m3: ArrayLike, recovery: ArrayLike) -> np.ndarray:
    """Production implied by newly excavated area (m²/yr) from repeat imagery:
    ``ΔA × T × G × r``."""
    return (_check_non_negative("mined_area_m2_per_year", mined_area_m2_per_year)
            * _check_non_negative("thickness_m", thickness_m)
            * _check_non_negative("grade_ct_m3", grade_ct_m3)
            * _check_fraction("recovery", recovery))


def deplete(capacity_ct_per_year: ArrayLike,
            resource_ct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Cap capacity by what remains; return ``(capacity_ct_per_year, years_to_exhaustion)``.

    Years to exhaustion are ``C / P`` on the uncapped capacity (``inf`` where capacity is
    zero, ``0`` where nothing remains).
    """
    capacity = _check_non_negative("capacity_ct_per_year", capacity_ct_per_year)
    resource = _check_non_negative("resource_ct", resource_ct)
    capped = np.minimum(capacity, resource)
    with np.errstate(divide="ignore", invalid="ignore"):
        years = np.where(resource == 0, 0.0, np.where(capacity > 0, resource / capacity, np.inf))
    return capped, years


def capacity_series(mined_area_m2_by_year: Mapping[int, ArrayLike], thickness_m: ArrayLike,
                    grade_ct_m3: ArrayLike, recovery: ArrayLike,
                    resource_ct: ArrayLike) -> dict[int, np.ndarray]:
    """Imagery-based production per year, depleting the resource year after year.

    Parameters
    ----------
    mined_area_m2_by_year
        ``year -> newly excavated area (m²)`` from repeat imagery (scalars or draws).
    thickness_m, grade_ct_m3, recovery
        Draws (or scalars) shared by every year.
    resource_ct
        What remains at the start of the first year (ct).

    Returns
    -------
    dict
        ``year -> ct`` in year order; each year takes at most what the previous years left.
    """
    remaining = np.array(_check_non_negative("resource_ct", resource_ct), dtype=np.float64)
    series = {}
    for year in sorted(mined_area_m2_by_year):
        wanted = imagery_capacity_ct_per_year(mined_area_m2_by_year[year], thickness_m, grade_ct_m3,
                                              recovery)
        taken = np.minimum(wanted, remaining)
        remaining = remaining - taken
        series[int(year)] = taken
    return series


#: Mined areas above ``-MINED_AREA_ROUNDOFF_M2`` but below 0 are float round-off (m²).
MINED_AREA_ROUNDOFF_M2 = 1e-3


def clean_mined_area_by_year(mined_area_m2_by_year: Mapping[int, float]) -> dict[int, float]:
    """``year -> m²`` with float round-off below zero set to 0 (issue 11 row 2).

    Raises
    ------
    InvalidParameterError
        For a real negative area (below ``-MINED_AREA_ROUNDOFF_M2``) or a non-finite one.
    """
    clean = {}
    for year, area in sorted(mined_area_m2_by_year.items()):
        area = float(area)
        if not np.isfinite(area) or area < -MINED_AREA_ROUNDOFF_M2:
            raise InvalidParameterError(f"newly mined area of {year} is {area} m²: it must be a "
                                        "finite, non-negative number")
        clean[int(year)] = max(area, 0.0)
    return clean


def deplete_by_year(wanted_ct_by_year: Mapping[int, ArrayLike], resource_ct: ArrayLike,
                    resource_year: int, *,
                    produced_ct_by_year: Mapping[int, ArrayLike] | None = None
                    ) -> dict[int, np.ndarray]:
    """Capacity per year capped by what remains that year (depletion through time).

    Parameters
    ----------
    wanted_ct_by_year
        ``year -> uncapped capacity draws (ct/yr)`` over consecutive years.
    resource_ct
        What remains at the start of ``resource_year`` (ct): the mapped resource.
    resource_year
        The year the resource stands for.
    produced_ct_by_year
        Known production per year (ct, e.g. the imagery series): a year before
        ``resource_year`` had the resource plus what was produced from it until then.

    Returns
    -------
    dict
        ``year -> min(wanted, remaining at the start of that year)``. Before
        ``resource_year`` the remaining is ``C + Σ produced`` (years from that year up to
        ``resource_year``); from it on, each year's capped capacity is taken from what
        remains (capacity is a maximum, so this is the fastest depletion the field allows).
    """
    resource = _check_non_negative("resource_ct", resource_ct)
    produced = produced_ct_by_year or {}
    years = sorted(wanted_ct_by_year)
    out: dict[int, np.ndarray] = {}
    later = np.zeros_like(resource)  # known production from `year` up to resource_year
    for year in sorted((y for y in years if y < resource_year), reverse=True):
        later = later + np.asarray(produced.get(year, 0.0), dtype=np.float64)
        wanted = _check_non_negative(f"capacity of {year}", wanted_ct_by_year[year])
        out[year] = np.minimum(wanted, resource + later)
    remaining = np.array(resource, dtype=np.float64)
    for year in (y for y in years if y >= resource_year):
        wanted = _check_non_negative(f"capacity of {year}", wanted_ct_by_year[year])
        out[year] = np.minimum(wanted, remaining)
        remaining = remaining - out[year]
    return {year: out[year] for year in years}
