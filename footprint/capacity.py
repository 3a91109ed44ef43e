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
    """Artisanal capacity (ct/yr): workforce × days worked × gravel per miner-day × grade × recovery."""
    days = _check_non_negative("days_per_year", days_per_year)
    if np.any(days > 366):
        raise InvalidParameterError("days_per_year cannot exceed 366")
    return (_check_non_negative("miners", miners) * days
            * _check_non_negative("m3_per_miner_day", m3_per_miner_day)
            * _check_non_negative("grade_ct_m3", grade_ct_m3) * _check_fraction("recovery", recovery))


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
            * _check_non_negative("grade_ct_m3", grade_ct_m3) * _check_fraction("recovery", recovery))


def imagery_capacity_ct_per_year(mined_area_m2_per_year: ArrayLike, thickness_m: ArrayLike,
                                 grade_ct_m3: ArrayLike, recovery: ArrayLike) -> np.ndarray:
    """Production implied by newly excavated area (m²/yr) from repeat imagery: ``ΔA × T × G × r``."""
    return (_check_non_negative("mined_area_m2_per_year", mined_area_m2_per_year)
            * _check_non_negative("thickness_m", thickness_m)
            * _check_non_negative("grade_ct_m3", grade_ct_m3) * _check_fraction("recovery", recovery))


def deplete(capacity_ct_per_year: ArrayLike, resource_ct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
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
