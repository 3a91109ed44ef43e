"""Data inventory per field: present, missing, and where to get the missing layers."""

from __future__ import annotations

import pytest

from footprint.catalogue import get_field, load_catalogue
from footprint.io.checks import data_inventory
from footprint.io.vectors import VECTOR_FILES
from footprint.settings import get_settings


def test_empty_data_dir_reports_everything_missing_with_a_hint(tmp_path):
    fields = list(load_catalogue().values())
    inventory = data_inventory(tmp_path, fields, cache_dir=tmp_path / "cache")
    assert [e["field"] for e in inventory] == [f.id for f in fields]
    for entry, field in zip(inventory, fields):
        assert entry["present"] == []
        assert {f"dem:{t}" for t in field.dem_tiles} <= set(entry["missing"])
        assert {"rivers_wdbii", "usgs_facilities", "kp_statistics"} <= set(entry["missing"])
        for layer in entry["layers"]:
            assert not layer["present"] and layer["where"], layer
    marange = inventory[[f.id for f in fields].index("zw-marange")]
    rivers = next(layer for layer in marange["layers"] if layer["layer"] == "rivers_wdbii")
    assert rivers["name"] == "zimbabwe" and "gshhg" in rivers["where"].lower()
    dem = next(layer for layer in marange["layers"] if layer["layer"] == "dem")
    assert "Copernicus_DSM_COG_30_S20_00_E032_00_DEM" in dem["where"]


def test_files_present_are_found_and_counted(tmp_path):
    field = get_field("gh-birim")
    srtm = tmp_path / "dem" / "srtm3"
    srtm.mkdir(parents=True)
    (srtm / f"{field.dem_tiles[0]}.hgt").write_bytes(b"\0" * 8)
    rivers = tmp_path / VECTOR_FILES["rivers_wdbii"].format(region="west_africa")
    rivers.parent.mkdir(parents=True)
    west, south, east, north = field.aoi_4326.bounds
    inside = [[west + 0.1, south + 0.1], [east - 0.1, north - 0.1]]
    outside = [[10.0, 40.0], [11.0, 41.0]]
    rivers.write_text('{"type": "FeatureCollection", "features": [' + ",".join(
        '{"type": "Feature", "properties": {"gmt_level": 4}, "geometry": '
        f'{{"type": "LineString", "coordinates": {c}}}}}' for c in (inside, outside)) + "]}")
    [entry] = data_inventory(tmp_path, [field], cache_dir=tmp_path / "cache")
    assert f"dem:{field.dem_tiles[0]}" in entry["present"]
    assert set(entry["missing"]) >= {f"dem:{t}" for t in field.dem_tiles[1:]}
    layer = next(layer for layer in entry["layers"] if layer["layer"] == "rivers_wdbii")
    assert layer["present"] and layer["detail"].startswith("1 feature")


@pytest.mark.slow
def test_shared_data_covers_birim_and_togo_but_no_dem_for_marange():
    data_dir = get_settings().data_dir
    if not (data_dir / "dem" / "srtm3").is_dir():
        pytest.skip(f"shared data not present in {data_dir}")
    fields = [get_field(i) for i in ("gh-birim", "tg-plateaux", "zw-marange")]
    birim, togo, marange = data_inventory(data_dir, fields, cache_dir=data_dir / "no-cache")
    assert birim["missing"] == [] and togo["missing"] == []
    assert marange["missing"] == [f"dem:{t}" for t in get_field("zw-marange").dem_tiles]
    usgs = next(layer for layer in marange["layers"] if layer["layer"] == "usgs_facilities")
    assert "1 naming diamond" in usgs["detail"]  # the USGS Marange point
    kp = next(layer for layer in birim["layers"] if layer["layer"] == "kp_statistics")
    assert kp["detail"].startswith("44 half-year row(s) for GHA")
