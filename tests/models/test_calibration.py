"""The calibration harness: every p-valued test keeps its size on a small synthetic footprint."""

from __future__ import annotations

import math

import numpy as np
import pytest

from footprint import calibration as C
from footprint import protocols as P
from footprint.reports.inputs import FieldFootprint

YEARS = range(2005, 2013)
N = 1000


def _field(seed: int = 3) -> FieldFootprint:
    rng = np.random.default_rng(seed)
    base = rng.lognormal(math.log(8e4), 0.4, N)
    by_year = {y: base * (1.0 if y < 2009 else 1.8) for y in YEARS}  # a plant opens in 2009
    return FieldFootprint(
        field_id="synthetic", capacity_ct_per_year=base,
        value_usd_per_ct=rng.lognormal(math.log(35), 0.15, N),
        size_shares={"0.01-0.03ct": 0.25, "0.03-0.07ct": 0.4, "0.07-0.15ct": 0.25,
                     "0.15-0.25ct": 0.1},
        size_share_sd={"0.01-0.03ct": 0.02, "0.03-0.07ct": 0.02, "0.07-0.15ct": 0.02,
                       "0.15-0.25ct": 0.01},
        version="synthetic-v1", seed=seed, sheet_sha256="0" * 64, code_version="test",
        capacity_by_year=by_year, synthetic=True)


@pytest.fixture(scope="module")
def result() -> C.CalibrationResult:
    market = P.MarketModel(index={y: 1.0 + 0.05 * (y - 2009) for y in YEARS},
                           annual_sd_ln=0.25, annual_ar1=0.5)
    setup = C.setup_from_footprints([_field()], YEARS, market)
    return C.calibrate(setup, reps=300, seed=7, n_sim=99,
                       honest=C.HonestModel(n_certificates=10, stones_per_certificate=300))


def test_every_p_valued_test_keeps_its_size_within_half_to_one_and_a_half_alpha(result):
    names = set(result.table["test"])
    assert names == {"volume_vs_capacity", "value_band", "break_volume", "break_value",
                     "shipment_values", "size_distribution"}
    sizes = dict(zip(result.table["test"], result.table["size"]))
    assert C.size_check(result) == {name: True for name in names}, sizes


def test_named_alternatives_are_caught(result):
    row = {r["test"]: r for r in result.table.to_dict(orient="records")}
    assert row["volume_vs_capacity"]["power_foreign_goods"] >= 0.8
    assert row["volume_vs_capacity"]["power_production_hidden"] >= 0.8
    assert row["size_distribution"]["power_other_field_size"] >= 0.8
    assert row["shipment_values"]["power_other_field_value"] >= 0.8
    assert row["break_volume"]["power_volume_break"] >= 0.8  # where capacity does not change


def test_honest_whole_reports_are_rarely_anomalous(result):
    assert result.report_any_anomalous <= 0.10


def test_the_harness_is_seeded():
    market = P.MarketModel(index={}, annual_sd_ln=0.25)
    setup = C.setup_from_footprints([_field()], YEARS, market)
    honest = C.HonestModel(n_certificates=5, stones_per_certificate=100)
    a = C.calibrate(setup, reps=5, seed=1, n_sim=19, honest=honest).to_dict()
    b = C.calibrate(setup, reps=5, seed=1, n_sim=19, honest=honest).to_dict()
    assert a == b
    assert "size" in C.calibrate(setup, reps=5, seed=2, n_sim=19, honest=honest).format()


def test_case_table_is_read_from_reports_and_replaces_only_its_section():
    from footprint.pipeline.calibrate import (
        README_END,
        README_START,
        case_table,
        value_reference_years,
        write_case_table,
    )

    def report(code, years, declared, status):
        return {"tests": [{"name": "volume_vs_capacity", "period": str(y), "verdict": "anomalous",
                           "p_adjusted": 0.001,
                           "evidence": {"declared_ct": declared, "declared_status": status,
                                        "capacity_ct": {"p50": 10.0}, "tail": "above"}}
                          for y in years]}

    table = case_table({"TGO": report("TGO", [2003, 2004], 5e4, "declared"),
                        "CIV": report("CIV", range(2006, 2014), 0.0, "no_record")})
    assert table.count("\n") == 1 + 2 + 8 and "| CIV | 2010 | 0 | no record |" in table
    text = f"# x\n{README_START}\nold\n{README_END}\ntail\n"
    assert write_case_table(text, table) == f"# x\n{README_START}\n{table}\n{README_END}\ntail\n"
    assert value_reference_years("KP statistics, Ghana 2003-2008 (clean period)") == (2003, 2008)
    assert value_reference_years("no years") is None
