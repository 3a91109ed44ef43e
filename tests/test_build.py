"""The footprint build orchestration: stored layers in, atomic files and a version out."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Polygon, box
from typer.testing import CliRunner

from footprint.errors import StorageError
from footprint.simulation import field_seed
from footprint.pipeline import build as build_module
from footprint.pipeline.build import (
    build_footprint,
    mined_area_by_year,
    remove_partial_builds,
)

UTM30 = "EPSG:32630"


@pytest.fixture
def offline(settings, tmp_path, monkeypatch):
    """Settings with an empty data directory (deposit-polygon mode, no shared data)."""
    monkeypatch.setenv("FOOTPRINT_DATA_DIR", str(tmp_path / "no-data"))
    return settings.model_copy(update={"data_dir": tmp_path / "no-data"})


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


def test_build_stores_a_version_with_files_and_provenance(offline, store, with_deposits):
    record = build_footprint("gh-birim", store=store, settings=offline, seed=4, draws=2000)
    assert record.version == 1 and record.n_draws == 2000
    assert record.seed == field_seed(4, "gh-birim") and record.provenance["base_seed"] == 4
    assert record.provenance["input_checksums"][f"layer:deposits:{with_deposits.id}"] == "c" * 64
    directory = offline.state_dir / record.provenance["directory"]
    assert (directory / "draws.parquet").is_file() and (directory / "deposits.geojson").is_file()
    assert (offline.state_dir / record.draws_path) == directory / "draws.parquet"
    assert record.n_deposits == 1
    second = build_footprint("gh-birim", store=store, settings=offline, seed=4, draws=2000)
    assert second.version == 2 and second.summaries["resource"] == record.summaries["resource"]


@pytest.mark.parametrize("where", ["compute", "store"])
def test_a_failed_build_leaves_no_files_and_no_version(offline, store, with_deposits,
                                                       monkeypatch, where):
    def explode(*args, **kwargs):
        raise StorageError("disk full")

    if where == "compute":
        import footprint.footprints as footprints
        monkeypatch.setattr(footprints, "compute_footprint", explode)
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
