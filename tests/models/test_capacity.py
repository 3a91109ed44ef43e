"""Resource and capacity formulas: closed forms, mined ground, depletion."""

import numpy as np
import pandas as pd
import pytest

from footprint.capacity import (
    artisanal_capacity_ct_per_year,
    capacity_series,
    deplete,
    imagery_capacity_ct_per_year,
    mechanised_capacity_ct_per_year,
)
from footprint.errors import InvalidLayerError, InvalidParameterError
from footprint.resources import (
    class_areas,
    placer_content_ct_per_km,
    resource_per_km_ct,
    resource_volume_grade_ct,
)


def test_class_areas_remove_mined_ground_per_deposit():
    deposits = pd.DataFrame({"deposit_class": ["floodplain", "floodplain", "terrace"],
                             "area_m2": [1000.0, 500.0, 200.0],
                             "mined_area_m2": [300.0, 800.0, np.nan]})
    areas = class_areas(deposits)
    # the over-mined deposit counts zero, it does not eat into its neighbour
    assert areas["floodplain"].remaining_area_m2 == 700.0
    assert areas["floodplain"].mined_area_m2 == 800.0
    assert areas["terrace"].remaining_area_m2 == 200.0
    assert areas["floodplain"].n_deposits == 2
    assert class_areas({"a": (10.0, 4.0), "b": 5.0})["a"].remaining_area_m2 == 6.0
    with pytest.raises(InvalidLayerError):
        class_areas(pd.DataFrame({"deposit_class": ["x"]}))


def test_resource_formulas_are_the_usgs_products():
    assert resource_volume_grade_ct(1e6, 0.5, 2.0, 0.8) == pytest.approx(8e5)
    assert resource_per_km_ct(np.array([10.0, 5.0]), np.array([100.0, 40.0])).sum() == 1200.0
    # a 50 m wide, 1 m thick, 1 ct/m3 ribbon holds 50,000 ct per km at full recovery
    assert placer_content_ct_per_km(50.0, 1.0, 1.0, 1.0) == 50_000.0
    with pytest.raises(InvalidParameterError, match="recovery"):
        resource_volume_grade_ct(1.0, 1.0, 1.0, 1.2)
    with pytest.raises(InvalidParameterError, match="thickness_m"):
        resource_volume_grade_ct(1.0, -1.0, 1.0, 0.5)


def test_capacity_formulas():
    assert artisanal_capacity_ct_per_year(1000, 200, 0.25, 2.0, 0.5) == pytest.approx(50_000)
    assert mechanised_capacity_ct_per_year(60, 8760, 0.38, 2.0, 0.9) == pytest.approx(
        60 * 8760 * 0.38 * 2.0 * 0.9)
    assert imagery_capacity_ct_per_year(1e5, 0.5, 1.5, 0.8) == pytest.approx(60_000)
    with pytest.raises(InvalidParameterError):
        artisanal_capacity_ct_per_year(10, 400, 1, 1, 1)
    with pytest.raises(InvalidParameterError):
        mechanised_capacity_ct_per_year(10, 100, 1.5, 1, 1)


def test_depletion_never_exceeds_what_remains():
    rng = np.random.default_rng(0)
    capacity = rng.lognormal(10, 2, 10_000)
    resource = rng.lognormal(11, 2, 10_000)
    resource[:10] = 0.0
    capacity[10:20] = 0.0
    capped, years = deplete(capacity, resource)
    assert np.all(capped <= resource) and np.all(capped <= capacity)
    assert np.all(years[:10] == 0.0)
    assert np.all(np.isinf(years[10:20]))
    np.testing.assert_allclose(years[20:], resource[20:] / capacity[20:])


def test_capacity_series_depletes_year_after_year():
    series = capacity_series({2008: 100.0, 2006: 100.0, 2007: 100.0}, 1.0, 1.0, 1.0,
                             resource_ct=250.0)
    assert list(series) == [2006, 2007, 2008]
    assert [float(v) for v in series.values()] == [100.0, 100.0, 50.0]
    draws = capacity_series({2010: np.array([10.0, 300.0])}, 1.0, 1.0, 1.0,
                            resource_ct=np.array([100.0, 100.0]))
    np.testing.assert_array_equal(draws[2010], [10.0, 100.0])
