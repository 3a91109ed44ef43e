"""``footprint capacity`` with a stand-in delineation (the CLI, not the terrain model, is under test)."""

import json
import sys
import types
from dataclasses import dataclass

import pandas as pd
import pytest
from typer.testing import CliRunner

from footprint.cli import app
from footprint.simulation import field_seed


@dataclass
class _Delineation:
    deposits: pd.DataFrame
    stream_length_km: float


@pytest.fixture
def fake_delineation(monkeypatch):
    module = types.ModuleType("footprint.pipeline.delineate")
    calls = []

    def delineate_field(field_id):
        calls.append(field_id)
        return _Delineation(pd.DataFrame({"deposit_class": ["floodplain"], "area_m2": [5.0e7],
                                          "mined_area_m2": [1.0e7]}), 300.0)

    module.delineate_field = delineate_field
    monkeypatch.setitem(sys.modules, "footprint.pipeline.delineate", module)
    return calls


def test_capacity_json_has_the_documented_keys(fake_delineation):
    result = CliRunner().invoke(app, ["capacity", "ci-seguela", "--draws", "3000", "--seed", "5", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    for key in ("resource_ct", "capacity_ct_per_year"):
        assert {"p5", "p50", "p95", "mean"} <= set(payload[key])
        assert payload[key]["p5"] <= payload[key]["p50"] <= payload[key]["p95"]
    # 5 is the base seed; the field draws with its own seed derived from it
    assert payload["seed"] == field_seed(5, "ci-seguela") and payload["draws"] == 3000
    assert payload["area_source"] == "delineation"
    assert fake_delineation == ["ci-seguela"]
    again = CliRunner().invoke(app, ["capacity", "ci-seguela", "--draws", "3000", "--seed", "5", "--json"])
    assert json.loads(again.stdout)["draws_sha256"] == payload["draws_sha256"]


def test_capacity_table_and_custom_sheet(fake_delineation, tmp_path):
    from footprint.params import PARAMETERS_DIR

    sheet = tmp_path / "sheet.yaml"
    sheet.write_text((PARAMETERS_DIR / "ci-tortiya.yaml").read_text().replace(
        "field: ci-tortiya", "field: ci-seguela"))
    result = CliRunner().invoke(app, ["capacity", "ci-seguela", "--params", str(sheet), "--draws", "2000"])
    assert result.exit_code == 0, result.output
    assert "resource (ct)" in result.stdout and "capacity (ct/yr)" in result.stdout
