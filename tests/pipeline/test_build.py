"""The footprint build orchestration: stored layers in, atomic files and a version out."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from footprint.errors import StorageError
from footprint.pipeline import build as build_module
from footprint.pipeline.build import (
    build_footprint,
    mined_area_by_year,
    remove_partial_builds,
)
from footprint.simulation import field_seed

UTM30 = "EPSG:32630"


@pytest.fixture
def with_deposits(store):
    deposits = gpd.GeoDataFrame({"deposit_class": ["floodplain"], "thickness_m": [0.5]},
                                geometry=[box(-0.83, 6.01, -0.81, 6.03)], crs=4326)
    layer, _ = store.add_layer("gh-birim", "deposits", "mapped", "c" * 64, crs="EPSG:4326",
                               bounds_4326=None, features=deposits)
    return layer


def test_mined_area_by_year_counts_overlapping_ground_once():
    x0, y0 = 620_000.0, 665_000.0
    mined = gpd.GeoDataFrame(
        {"year": [2006, 2007, 2007, None, 2008]},
        geometry=[box(x0, y0, x0 + 100, y0 + 100),             # 2006: the baseline
                  box(x0 + 200, y0, x0 + 300, y0 + 100),       # 2007: two squares
                  box(x0 + 250, y0, x0 + 350, y0 + 100),       # overlapping by half
                  box(x0 + 500, y0, x0 + 600, y0 + 100),       # undated: baseline too
                  box(x0 + 500, y0, x0 + 700, y0 + 100)],      # 2008: half of it old ground
        crs=UTM30)
    series = mined_area_by_year(mined, UTM30)
    # the first dated year holds everything mined up to then: it is no year's production
    assert series == pytest.approx({2007: 15_000.0, 2008: 10_000.0})
    again = mined.assign(year=[2006, 2007, 2007, 2006, 2008])
    # ground of the baseline mapped again later is not new
    assert mined_area_by_year(again, UTM30)[2008] == pytest.approx(10_000.0)
    assert mined_area_by_year(mined.iloc[[0, 3]], UTM30) == {}


def test_the_same_pit_mapped_for_two_years_adds_no_negative_area():
    """Issue 11 row 2: the same polygon for 2010 and 2011 gave -1.2e-10 m2 and bricked builds."""
    from shapely.geometry import Polygon as P
    ring = [(-0.8213, 6.0194), (-0.8201, 6.0197), (-0.8198, 6.0211), (-0.8215, 6.0209)]
    mined = gpd.GeoDataFrame({"year": [2009, 2010, 2011, 2011]},
                             geometry=[box(-0.83, 6.00, -0.829, 6.001), P(ring), P(ring),
                                       P(ring).buffer(1e-12)], crs=4326)
    series = mined_area_by_year(mined, UTM30)
    assert series[2011] == 0.0 and series[2010] > 10_000.0
    assert all(v >= 0.0 for v in series.values())


def test_build_stores_a_version_with_files_and_provenance(offline, store, with_deposits):
    record = build_footprint("gh-birim", store=store, settings=offline, seed=4, draws=2000)
    assert record.version == 1 and record.n_draws == 2000
    assert record.seed == field_seed(4, "gh-birim") and record.provenance["base_seed"] == 4
    assert record.provenance["input_checksums"][f"layer:deposits:{with_deposits.id}"] == "c" * 64
    directory = offline.state_dir / record.provenance["directory"]
    assert (directory / "draws.parquet").is_file() and (directory / "deposits.geojson").is_file()
    assert (offline.state_dir / record.draws_path) == directory / "draws.parquet"
    assert record.n_deposits == 1
    same = build_footprint("gh-birim", store=store, settings=offline, seed=4, draws=2000)
    assert same == record  # same inputs: the stored version, not a new one
    other = build_footprint("gh-birim", store=store, settings=offline, seed=5, draws=2000)
    assert other.version == 2 and other.inputs_sha256 != record.inputs_sha256


@pytest.mark.parametrize("where", ["compute", "store"])
def test_a_failed_build_leaves_no_files_and_no_version(offline, store, with_deposits,
                                                       monkeypatch, where):
    def explode(*args, **kwargs):
        raise StorageError("disk full")

    if where == "compute":
        monkeypatch.setattr(build_module, "compute_footprint", explode)
    else:
        monkeypatch.setattr(store, "add_footprint", explode)
    with pytest.raises(StorageError, match="disk full"):
        build_footprint("gh-birim", store=store, settings=offline, seed=1, draws=2000)
    assert store.list_footprints("gh-birim") == []
    root = offline.state_dir / "footprints" / "gh-birim"
    assert not any(root.iterdir())


def test_remove_partial_builds_removes_only_partials_of_gone_processes(settings):
    import dataclasses
    import subprocess

    from footprint.ownership import current_owner

    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = dataclasses.replace(current_owner(), pid=gone.pid, start=1)
    root = settings.state_dir / "footprints" / "gh-birim"
    (root / f"{build_module.PARTIAL_PREFIX}{dead.tag}-abc" / "delineation").mkdir(parents=True)
    (root / f"{build_module.PARTIAL_PREFIX}{current_owner().tag}-live").mkdir()
    (root / "0123abcd").mkdir()
    removed = remove_partial_builds(settings)
    assert [p.name for p in removed] == [f"{build_module.PARTIAL_PREFIX}{dead.tag}-abc"]
    assert sorted(p.name for p in root.iterdir()) == sorted(
        ["0123abcd", f"{build_module.PARTIAL_PREFIX}{current_owner().tag}-live"])


def test_cli_build_prints_the_new_version(offline, store, with_deposits):
    from footprint.cli import app

    result = CliRunner().invoke(app, ["build", "gh-birim", "--draws", "2000", "--seed", "9"])
    assert result.exit_code == 0, result.output
    record = store.latest_footprint("gh-birim")
    assert f"gh-birim v{record.version} (id {record.id})" in result.output
    assert record.seed == field_seed(9, "gh-birim") and record.n_draws == 2000


def test_cli_build_on_a_fresh_state_directory_syncs_the_catalogue(offline, tmp_path, monkeypatch):
    from footprint.cli import app
    from footprint.settings import get_settings

    fresh = tmp_path / "fresh-state"
    monkeypatch.setenv("FOOTPRINT_STATE_DIR", str(fresh))
    monkeypatch.setenv("FOOTPRINT_DATABASE_URL", f"sqlite:///{fresh / 'footprint.sqlite'}")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["build", "zw-marange", "--draws", "2000"])
    assert result.exit_code == 0, result.output
    assert "zw-marange v1" in result.output
    unknown = CliRunner().invoke(app, ["build", "zw-nowhere"])
    assert unknown.exit_code != 0 and not (fresh / "footprints" / "zw-nowhere").exists()


def test_stored_footprint_gives_reports_a_capacity_for_every_year(offline, store, with_deposits):
    import datetime as dt

    from footprint.pipeline.report import as_field_footprint, stored_footprint_provider

    build_footprint("gh-birim", store=store, settings=offline, seed=4, draws=2000)
    record = store.latest_footprint("gh-birim")
    this_year = dt.datetime.now(dt.UTC).year
    assert sorted(int(y) for y in record.summaries["capacity_by_year"]) == list(
        range(2003, this_year + 1))
    footprint = as_field_footprint(stored_footprint_provider(store, offline)("gh-birim"))
    assert sorted(footprint.capacity_by_year) == list(range(2003, this_year + 1))
    # the GCD plant stopped in September 2007: later years have the artisanal mode only
    assert np.all(footprint.capacity_for_year(2010) <= footprint.capacity_for_year(2005))
    assert np.median(footprint.capacity_for_year(2010)) < np.median(footprint.capacity_for_year(2005))


def test_survey_evidence_updates_the_parameters_and_is_in_provenance(offline, store, with_deposits):
    from footprint.evidence import SurveyTruth, synthetic_survey

    before = build_footprint("gh-birim", store=store, settings=offline, seed=4, draws=2000)
    ev = synthetic_survey(SurveyTruth(grade_ct_m3=1.8, thickness_m=0.6, miners=12_000), 40, 3)
    samples = ev.bulk_samples["floodplain"]
    inside = [box(-0.825 + i * 1e-5, 6.02, -0.825 + i * 1e-5 + 5e-6, 6.02001) for i in range(40)]
    frame = gpd.GeoDataFrame({"volume_m3": samples.volume_m3, "carats": samples.carats,
                              "stones": samples.stones.astype(int)}, geometry=inside, crs=4326)
    store.add_layer("gh-birim", "bulk_samples", "pits", "e" * 64, crs="EPSG:4326",
                    bounds_4326=None, features=frame)
    census = gpd.GeoDataFrame({"count": [11_000], "year": [2012]},
                              geometry=[box(-0.83, 6.01, -0.82, 6.02)], crs=4326)
    store.add_layer("gh-birim", "workforce", "census", "f" * 64, crs="EPSG:4326",
                    bounds_4326=None, features=census)
    after = build_footprint("gh-birim", store=store, settings=offline, seed=4, draws=2000)
    evidence = after.provenance["evidence"]
    assert {(entry["kind"], entry["sha256"]) for entry in evidence["layers"]} == {
        ("bulk_samples", "e" * 64), ("workforce", "f" * 64)}
    updates = {u["parameter"]: u for u in evidence["updates"]}
    assert {"grade_ct_m3", "grade_ct_m3.floodplain", "miners.2012"} <= set(updates)
    assert after.provenance["draws_sha256"] != before.provenance["draws_sha256"]
    assert after.summaries["evidence"]["updates"]
    # the census year's capacity band narrows (workforce and grade both learnt)
    def band(record, year):
        q = record.summaries["capacity_by_year"][str(year)]
        return q["p95"] / q["p5"]
    assert band(after, 2012) < band(before, 2012)
    # reports show an evidence posterior by its size and quantiles, not 1,000 numbers
    from footprint.pipeline.report import as_field_footprint, stored_footprint_provider

    shown = as_field_footprint(stored_footprint_provider(store, offline)("gh-birim"))
    assert shown.parameters["grade_ct_m3"]["samples"]["n"] == 1000
