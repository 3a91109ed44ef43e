"""``footprint delineate --aoi FILE.geojson``: any area of interest, the catalogue's rules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from footprint.errors import InvalidLayerError
from footprint.pipeline.delineate import field_from_aoi
from footprint.settings import get_settings


def run(*args):
    return subprocess.run([sys.executable, "-c", "from footprint.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def _aoi(path, ring, kind="Polygon"):
    geometry = {"type": kind, "coordinates": [ring] if kind == "Polygon" else ring}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": geometry}]}))
    return path


SQUARE = [[-0.9, 5.9], [-0.7, 5.9], [-0.7, 6.1], [-0.9, 6.1], [-0.9, 5.9]]


def test_an_aoi_becomes_a_field_in_its_utm_zone(tmp_path):
    field = field_from_aoi(_aoi(tmp_path / "a.geojson", SQUARE))
    assert field.crs_epsg == 32630 and field.id.startswith("aoi-")
    assert field.id == field_from_aoi(_aoi(tmp_path / "b.geojson", SQUARE)).id  # same file, same id
    assert set(field.dem_tiles) == {"N05W001", "N06W001"}
    assert 480 < field.aoi_area_km2 < 500
    south = [[32.0, -19.9], [32.5, -19.9], [32.5, -19.5], [32.0, -19.5], [32.0, -19.9]]
    assert field_from_aoi(_aoi(tmp_path / "z.geojson", south)).crs_epsg == 32736


def test_bad_aois_are_refused(tmp_path):
    with pytest.raises(InvalidLayerError, match="Polygon"):
        field_from_aoi(_aoi(tmp_path / "p.geojson", [-0.8, 6.0], kind="Point"))
    huge = [[-10, -10], [10, -10], [10, 10], [-10, 10], [-10, -10]]
    with pytest.raises(InvalidLayerError, match="at most"):
        field_from_aoi(_aoi(tmp_path / "h.geojson", huge))
    (tmp_path / "junk.geojson").write_text("not json")
    with pytest.raises(InvalidLayerError):
        field_from_aoi(tmp_path / "junk.geojson")


def test_cli_needs_a_field_or_an_aoi(tmp_path):
    result = run("delineate", "--out", str(tmp_path / "out"))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1 and "--aoi" in lines[0]


@pytest.mark.slow
@pytest.mark.skipif(not (get_settings().data_dir / "dem/srtm3/N06W001.hgt").is_file(),
                    reason="SRTM tiles not in the data directory")
def test_cli_delineates_an_aoi_with_the_data_directory_sources(tmp_path):
    out = tmp_path / "out"
    result = run("delineate", "--aoi", str(_aoi(tmp_path / "a.geojson", SQUARE)), "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "terrain" and summary["field_id"].startswith("aoi-")
    names = {s["name"] for s in summary["placer_network"]["sources"]}
    assert "Akwatia" in names  # from the USGS layers, not the catalogue
    assert 0 < summary["total_area_m2"] < summary["aoi_area_m2"]
