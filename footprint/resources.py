"""Resource potential: how many carats remain in a field.

Two USGS methods (DOMAIN.md section 3.2):

* **volume and grade** (USGS SIR 2010-5045 for Ghana, SIR 2013-5185 for Côte d'Ivoire):
  ``C = Σ_d (A_d − A_mined,d) × T_d × G_d × r`` with area ``A`` (m²), gravel thickness
  ``T`` (m), grade ``G`` (ct/m³) and recovery ``r`` (fraction);
* **content per kilometre of drainage** (USGS reports on the Central African Republic and
  Mali): ``C = Σ_s L_s × c_s`` with stream length ``L`` (km) and content ``c`` (ct/km).

Functions are pure and vectorised: scalars or arrays of Monte Carlo draws broadcast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from footprint.errors import InvalidLayerError, InvalidParameterError

ArrayLike = float | np.ndarray


@dataclass(frozen=True)
class ClassArea:
    """Areas of one deposit class in m² (projected CRS): delineated, mined, remaining."""

    area_m2: float
    mined_area_m2: float
    remaining_area_m2: float
    n_deposits: int


def _check_non_negative(name: str, value: ArrayLike) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if np.any(array < 0) or np.any(np.isnan(array)):
        raise InvalidParameterError(f"{name} must be non-negative numbers")
    return array


def _check_fraction(name: str, value: ArrayLike) -> np.ndarray:
    array = _check_non_negative(name, value)
    if np.any(array > 1):
        raise InvalidParameterError(f"{name} is a fraction and must lie in [0, 1]")
    return array


def class_areas(
        deposits: pd.DataFrame | Mapping[str, float | tuple[float, float]],
) -> dict[str, ClassArea]:
    """Delineated, mined and remaining area per deposit class.

    Parameters
    ----------
    deposits
        Either a (Geo)DataFrame with columns ``deposit_class``, ``area_m2`` and optionally
        ``mined_area_m2`` (one row per deposit, areas in m² of a projected CRS; the
        geometry is not used), or a mapping ``class -> area_m2`` or
        ``class -> (area_m2, mined_area_m2)``.

    Returns
    -------
    dict
        ``class -> ClassArea``. Remaining area is ``Σ_d max(A_d − A_mined,d, 0)``: mined
        ground never counts twice and never makes an area negative.
    """
    if isinstance(deposits, pd.DataFrame):
        missing = {"deposit_class", "area_m2"} - set(deposits.columns)
        if missing:
            raise InvalidLayerError(f"deposits lack column(s) {', '.join(sorted(missing))}")
        area = deposits["area_m2"].to_numpy(dtype=np.float64)
        mined = (deposits["mined_area_m2"].fillna(0.0).to_numpy(dtype=np.float64)
                 if "mined_area_m2" in deposits.columns else np.zeros_like(area))
        classes = deposits["deposit_class"].astype(str).to_numpy()
    else:
        names, areas, mineds = [], [], []
        for name, value in deposits.items():
            a, m = (value if isinstance(value, tuple) else (value, 0.0))
            names.append(str(name))
            areas.append(float(a))
            mineds.append(float(m))
        classes, area, mined = np.asarray(names), np.asarray(areas), np.asarray(mineds)
    if np.any(~np.isfinite(area)) or np.any(area < 0) or np.any(mined < 0):
        raise InvalidLayerError("deposit areas must be finite and non-negative")
    remaining = np.clip(area - mined, 0.0, None)
    result = {}
    for name in sorted(set(classes.tolist())):
        sel = classes == name
        result[name] = ClassArea(float(area[sel].sum()),
                                 float(np.minimum(mined[sel], area[sel]).sum()),
                                 float(remaining[sel].sum()), int(sel.sum()))
    return result


def resource_volume_grade_ct(remaining_area_m2: ArrayLike, thickness_m: ArrayLike,
                             grade_ct_m3: ArrayLike, recovery: ArrayLike) -> np.ndarray:
    """Carats of one deposit class: ``A_remaining × T × G × r``.

    Parameters
    ----------
    remaining_area_m2
        Unmined area (m²): ``A − A_mined``, see :func:`class_areas`.
    thickness_m, grade_ct_m3, recovery
        Gravel thickness (m), in-situ grade (ct/m³) and recovery (fraction in [0, 1]).
    """
    return (_check_non_negative("remaining_area_m2", remaining_area_m2)
            * _check_non_negative("thickness_m", thickness_m)
            * _check_non_negative("grade_ct_m3", grade_ct_m3)
            * _check_fraction("recovery", recovery))


def resource_per_km_ct(stream_length_km: ArrayLike, content_ct_per_km: ArrayLike) -> np.ndarray:
    """Carats of a drainage: ``Σ_s L_s × c_s`` (pass arrays per segment and sum, or a total)."""
    return (_check_non_negative("stream_length_km", stream_length_km)
            * _check_non_negative("content_ct_per_km", content_ct_per_km))


def placer_content_ct_per_km(placer_width_m: ArrayLike, thickness_m: ArrayLike,
                             grade_ct_m3: ArrayLike, recovery: ArrayLike) -> np.ndarray:
    """Content (ct/km) of a placer ribbon along a drainage: ``1000 m × width × T × G × r``.

    Turns published placer widths (e.g. 10-120 m on the Birim) into the ``c_s`` of the
    content-per-kilometre method.
    """
    return 1000.0 * resource_volume_grade_ct(placer_width_m, thickness_m, grade_ct_m3, recovery)
