"""`footprint layers add` uploads from a shell as the service does; stored layers reach
the models at full precision."""

from __future__ import annotations

import getpass
import hashlib
import os
import subprocess
import sys

import geopandas as gpd
import pytest
from shapely.geometry import box

#: Akwatia (USGS point), lon/lat
LON, LAT = -0.821098, 6.019422


def _deposits(path):
    frame = gpd.GeoDataFrame(
        {"deposit_class": ["floodplain", "low_terrace"], "thickness_m": [0.6, 0.8]},
        geometry=[box(LON - 0.005, LAT - 0.005, LON + 0.005, LAT + 0.005),
                  box(LON + 0.01, LAT, LON + 0.015, LAT + 0.01)], crs=4326)
    frame.to_file(path, driver="GeoJSON")
    return path


def _cli(*args):
    return subprocess.run([sys.executable, "-c", "from footprint.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))


def test_layers_add_stores_the_upload_once_with_its_checksum(settings, store, tmp_path):
    path = _deposits(tmp_path / "deposits.geojson")
    first = _cli("layers", "add", "gh-birim", str(path), "--kind", "deposits", "--year", "2008")
    assert first.returncode == 0, first.stderr
    assert "stored" in first.stdout and "already" not in first.stdout
    layers = store.list_layers("gh-birim", "deposits")
    assert len(layers) == 1
    layer = layers[0]
    assert layer.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (layer.n_features, layer.year, layer.created_by) == (2, 2008, f"cli:{getpass.getuser()}")
    assert [a.action for a in store.list_audit()] == ["upload_layer"]
    again = _cli("layers", "add", "gh-birim", str(path), "--kind", "deposits")
    assert again.returncode == 0 and "already stored" in again.stdout
    assert len(store.list_layers("gh-birim", "deposits")) == 1


@pytest.mark.parametrize("args, words", [
    (("layers", "add", "gh-birim", "{path}", "--kind", "rivers"), "'kind' must be one of"),
    (("layers", "add", "nowhere", "{path}", "--kind", "deposits"), "unknown field"),
])
def test_layers_add_refusals_are_one_line_and_store_nothing(settings, store, tmp_path, args,
                                                            words):
    path = _deposits(tmp_path / "deposits.geojson")
    result = _cli(*(a.format(path=path) for a in args))
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert store.list_layers("gh-birim") == []


def test_layer_frame_keeps_full_precision_where_geojson_rounds(store):
    offset = 3.3e-9  # below the 7 decimals (~1 cm) of the published GeoJSON
    frame = gpd.GeoDataFrame({"thickness_m": [0.6]}, crs=4326,
                             geometry=[box(LON + offset, LAT, LON + 0.01, LAT + 0.01)])
    layer, _ = store.add_layer("gh-birim", "deposits", "d", "a" * 64, crs="EPSG:4326",
                               bounds_4326=None, features=frame)
    decoded = store.layer_frame(layer.id)
    assert decoded.crs.to_epsg() == 4326 and list(decoded["thickness_m"]) == [0.6]
    assert decoded.geometry.iloc[0].bounds[0] == pytest.approx(LON + offset, abs=1e-12)
    features, _ = store.layer_features(layer.id)
    published_minx = min(x for x, _ in features[0]["geometry"]["coordinates"][0])
    assert published_minx == round(LON + offset, 7) != decoded.geometry.iloc[0].bounds[0]
