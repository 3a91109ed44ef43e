"""Footprint assembly: areas in, summaries + provenance out, reproducible bit for bit."""

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from footprint.errors import InvalidParameterError
from footprint.footprints import compute_footprint
from footprint.params import load_sheet, parse_sheet
from footprint.provenance import sha256_json


def _p(**kw):
    return {"unit": "1", "assumption": "test", **kw}


FIXED = parse_sheet({"field": "t", "capacity_modes": ["artisanal", "mechanised"], "parameters": {
    "thickness_m": _p(dist="fixed", value=0.5), "grade_ct_m3": _p(dist="fixed", value=2.0),
    "grade_ct_m3.terrace": _p(dist="fixed", value=1.0), "recovery": _p(dist="fixed", value=0.8),
    "miners": _p(dist="fixed", value=1000), "days_per_year": _p(dist="fixed", value=200),
    "m3_per_miner_day": _p(dist="fixed", value=0.25), "plant_m3_per_h": _p(dist="fixed", value=50),
    "hours_per_year": _p(dist="fixed", value=8760), "availability": _p(dist="fixed", value=0.38),
    "usd_per_ct": _p(dist="fixed", value=30.0), "gravel_fraction": _p(dist="fixed", value=0.5)}})


def _deposits():
    return gpd.GeoDataFrame({"deposit_class": ["floodplain", "terrace", "floodplain"],
                             "area_m2": [1.0e6, 2.0e6, 0.5e6], "mined_area_m2": [0.2e6, 0.0, 0.5e6]},
                            geometry=[box(0, 0, 1, 1)] * 3, crs=32630)


def test_fixed_sheet_gives_the_exact_chain():
    fp = compute_footprint("t", FIXED, _deposits(), seed=1, draws=2_000)
    resource = 0.8e6 * 0.5 * 0.5 * 2.0 * 0.8 + 2.0e6 * 0.5 * 0.5 * 1.0 * 0.8
    artisanal = 1000 * 200 * 0.25 * 2.0 * 0.8
    mechanised = 50 * 8760 * 0.38 * 2.0 * 0.8
    assert fp.resource["resource_ct"].p50 == pytest.approx(resource)
    assert fp.resource["resource_ct.terrace"].mean == pytest.approx(2.0e6 * 0.25 * 0.8)
    assert fp.capacity["capacity_ct_per_year"].p5 == pytest.approx(artisanal + mechanised)
    assert fp.capacity["years_to_exhaustion"].p50 == pytest.approx(resource / (artisanal + mechanised))
    assert fp.value["capacity_value_usd_per_year"].mean == pytest.approx(30 * (artisanal + mechanised))
    assert fp.deposits["area_source"] == "delineation"
    assert fp.deposits["classes"]["floodplain"]["remaining_area_m2"] == 0.8e6


def test_capacity_is_capped_by_the_resource():
    tiny = {"floodplain": 10.0}
    fp = compute_footprint("t", FIXED, tiny, seed=1, draws=2_000)
    assert fp.capacity["capacity_ct_per_year"].p95 == pytest.approx(fp.resource["resource_ct"].p95)
    assert fp.capacity["capacity_potential_ct_per_year"].p50 > fp.capacity["capacity_ct_per_year"].p50


def test_recomputing_gives_bit_identical_draws_and_full_provenance(tmp_path):
    sheet = load_sheet("gh-birim")
    kw = dict(seed=20081106, draws=5_000, input_checksums={"dem": "abc"})
    first = compute_footprint("gh-birim", sheet, _deposits(), 1200.0, block_size=65_536,
                              draws_path=tmp_path / "a.parquet", **kw)
    again = compute_footprint("gh-birim", sheet, _deposits(), 1200.0, **kw)
    assert first.provenance["draws_sha256"] == again.provenance["draws_sha256"]
    assert first.simulation.read_draws().equals(again.simulation.read_draws())
    prov = first.provenance
    for key in ("input_checksums", "sheet", "sheet_sha256", "seed", "draws", "code_version",
                "computed_at_utc"):
        assert key in prov
    assert prov["sheet_sha256"] == sha256_json(sheet.to_yaml_dict())
    assert prov["input_checksums"] == {"dem": "abc"}
    other = compute_footprint("gh-birim", sheet, _deposits(), 1200.0, seed=1, draws=5_000)
    assert other.provenance["draws_sha256"] != prov["draws_sha256"]


def test_size_footprint_and_per_km_estimate_come_with_the_birim_sheet():
    fp = compute_footprint("gh-birim", load_sheet("gh-birim"), _deposits(), 100.0, seed=3, draws=3_000)
    assert fp.size is not None
    assert fp.size["mean"].sum() == pytest.approx(1.0)
    assert np.all(fp.size["p5"] <= fp.size["p95"])
    assert "resource_per_km_ct" in fp.resource
    payload = fp.to_dict()
    assert payload["size"][0]["size_class"] == "-0.01ct"


def test_sheet_areas_are_used_without_a_delineation():
    fp = compute_footprint("zw-marange", load_sheet("zw-marange"), None, seed=2, draws=2_000)
    assert fp.deposits["area_source"] == "sheet"
    assert fp.resource["resource_ct"].p50 > 0


def test_togo_screen_can_honestly_be_empty():
    fp = compute_footprint("tg-plateaux", load_sheet("tg-plateaux"), {"floodplain": 1e8}, seed=4,
                           draws=4_000)
    assert fp.capacity["capacity_ct_per_year"].p50 == 0.0
    assert fp.capacity["capacity_ct_per_year"].p95 > 0.0


def test_mismatched_sheet_or_missing_areas_are_clear_errors():
    with pytest.raises(InvalidParameterError, match="not 'gh-birim'"):
        compute_footprint("gh-birim", FIXED, _deposits(), seed=1, draws=100)
    with pytest.raises(InvalidParameterError, match="no deposit areas"):
        compute_footprint("t", FIXED, None, seed=1, draws=100)


def test_imagery_time_series_per_year():
    fp = compute_footprint("t", FIXED, {"floodplain": 1e6}, seed=1, draws=2_000,
                           mined_area_m2_by_year={2006: 1e5, 2007: 2e5})
    per_year = 1e5 * 0.5 * 2.0 * 0.8
    assert fp.capacity_series[2006].mean == pytest.approx(per_year)
    assert fp.capacity_series[2007].mean == pytest.approx(2 * per_year)
