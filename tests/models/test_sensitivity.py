"""Sensitivity: Sobol indices against an additive model with known indices."""

import pytest

from footprint.errors import InvalidParameterError
from footprint.params import parse_sheet
from footprint.sensitivity import (
    sensitivity_summary,
    sobol_indices,
    total_indices,
)


def _p(**kw):
    return {"unit": "1", "assumption": "test", **kw}


SHEET = parse_sheet({"field": "t", "parameters": {
    "x1": _p(dist="uniform", low=0, high=1), "x2": _p(dist="uniform", low=0, high=1),
    "x3": _p(dist="uniform", low=0, high=1), "k": _p(dist="fixed", value=3.0)}})


def _additive(p):
    # Var = (1 + 4 + 0) / 12: S1(x1) = 0.2, S1(x2) = 0.8, S1(x3) = 0
    return {"y": p["x1"] + 2.0 * p["x2"] + 0.0 * p["x3"] + p["k"]}


def test_sobol_indices_of_an_additive_model():
    table = sobol_indices(SHEET, _additive, ["y"], n_base=4096, seed=1).set_index("parameter")
    assert set(table.index) == {"x1", "x2", "x3"}  # fixed parameters carry no variance
    assert table.loc["x1", "S1"] == pytest.approx(0.2, abs=0.03)
    assert table.loc["x2", "S1"] == pytest.approx(0.8, abs=0.03)
    assert abs(table.loc["x3", "ST"]) < 0.01
    assert table.index[0] == "x2"  # sorted by total index


def test_sobol_needs_a_power_of_two():
    with pytest.raises(InvalidParameterError):
        sobol_indices(SHEET, _additive, ["y"], n_base=1000)


def test_sensitivity_summary_is_the_stored_block_sorted_by_total_index():
    def model(p):
        return {"resource_ct": _additive(p)["y"], "other": p["x1"]}

    block = sensitivity_summary(SHEET, model, ["resource_ct", "capacity_ct_per_year"],
                                n_base=1024, seed=3)
    assert list(block["outputs"]) == ["resource_ct"]  # the model has no capacity output
    rows = block["outputs"]["resource_ct"]
    assert [r["parameter"] for r in rows][:2] == ["x2", "x1"]
    assert rows[0]["ST"] == pytest.approx(0.8, abs=0.06)
    assert block["model_runs"] == 1024 * (3 + 2) and block["seed"] == 3
    assert total_indices(block, "resource_ct")["x1"] == pytest.approx(0.2, abs=0.06)
    assert total_indices(block, "capacity_ct_per_year") == {} and total_indices(None, "x") == {}
    again = sensitivity_summary(SHEET, model, ["resource_ct"], n_base=1024, seed=3)
    assert again == block  # seeded: the same block every build
