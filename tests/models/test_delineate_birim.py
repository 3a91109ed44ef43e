"""Terrain-mode delineation of gh-birim on the real SRTM3 tiles (slow)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from rio_cogeo.cogeo import cog_validate

from footprint.provenance import sha256_file
from footprint.settings import get_settings

pytestmark = pytest.mark.slow

TILES = ("N05W001", "N05W002", "N06W001", "N06W002")
# USGS Africa GIS facilities (doi:10.5066/P97EQWXP), lon/lat
AKWATIA = (-0.8211, 6.0194)
BIRIM_VALLEY = (-0.7966, 6.1211)


@pytest.fixture(scope="module")
def birim(tmp_path_factory):
    data_dir = get_settings().data_dir
    if not all((data_dir / "dem" / "srtm3" / f"{tile}.hgt").is_file() for tile in TILES):
        pytest.skip(f"SRTM3 tiles for gh-birim not in {data_dir}")
    from footprint.pipeline.delineate import delineate_field

    out = tmp_path_factory.mktemp("birim")
    return delineate_field("gh-birim", out), out


def _utm(lon: float, lat: float) -> shapely.Point:
    x, y = pyproj.Transformer.from_crs(4326, 32630, always_xy=True).transform(lon, lat)
    return shapely.Point(x, y)


@pytest.mark.parametrize("name, lonlat", [("Akwatia", AKWATIA), ("Birim Valley", BIRIM_VALLEY)])
def test_usgs_diamond_points_lie_on_or_next_to_delineated_valley_bottom(birim, name, lonlat):
    result, _ = birim
    point = _utm(*lonlat)
    distance_m = shapely.distance(point, result.deposits.geometry.values).min()
    assert distance_m < 400.0, f"{name} is {distance_m:.0f} m from the nearest valley bottom"


def test_network_follows_the_birim_past_birim_valley(birim):
    result, _ = birim
    streams = result.rasters["streams"]
    rows, cols = np.nonzero(streams.data == 1)
    xs, ys = rasterio.transform.xy(streams.transform, rows, cols)
    point = _utm(*BIRIM_VALLEY)
    distance_m = np.hypot(np.asarray(xs) - point.x, np.asarray(ys) - point.y)
    assert distance_m.min() < 400.0
    # within 1 km of the point runs a main river (the Birim), not a rill
    near = distance_m < 1_000.0
    area_km2 = result.rasters["upstream_area_km2"].data[rows[near], cols[near]]
    assert np.nanmax(area_km2) > 500.0


def test_outputs_are_valid_and_consistent(birim):
    result, out = birim
    for name in ("streams.tif", "mrvbf.tif", "hand.tif"):
        valid, errors, _ = cog_validate(out / name, quiet=True)
        assert valid, (name, errors)
    with rasterio.open(out / "streams.tif") as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255
        values = set(np.unique(src.read(1)).tolist())
        assert values == {0, 1, 255}
        assert src.crs.to_epsg() == 32630
    with rasterio.open(out / "hand.tif") as src:
        hand = src.read(1, masked=True)
        assert hand.min() >= 0
    layer = gpd.read_file(out / "deposits.gpkg", layer="deposits")
    assert {"deposit_class", "area_m2", "mined_area_m2", "mode"} <= set(layer.columns)
    # no mapped terrace gravel or sample: the high terrace is off (issue 12)
    assert set(layer["deposit_class"]) == {"active_channel", "floodplain", "low_terrace"}
    assert np.allclose(layer["area_m2"], layer.geometry.area, rtol=1e-6)
    summary = json.loads((out / "summary.json").read_text())
    total = sum(row["area_m2"] for row in summary["areas_by_class"].values())
    assert total == pytest.approx(summary["total_area_m2"], rel=1e-6)
    assert 0 < summary["total_area_m2"] < summary["aoi_area_m2"]
    data_dir = get_settings().data_dir
    for entry in (i for i in summary["inputs"] if i["role"] == "dem"):
        # published inputs name the file, never a server path (issue 11 row 16)
        assert "/" not in entry["path"]
        (tile,) = data_dir.rglob(entry["path"])
        assert entry["sha256"] == sha256_file(tile)
    assert result.stream_length_km > 100  # a real network over ~4,300 km²


def test_an_uploaded_tile_merges_with_the_bundled_tiles(birim, tmp_path):
    """Issue 13 item 4: one SRTM tile uploaded as a GeoTIFF no longer replaces the four
    bundled tiles; it wins where it covers, coverage is reported per source, and the
    envelope stays that of the bundled delineation (it was -67 % of the deposits)."""
    from footprint.pipeline.delineate import delineate_field

    result, _ = birim
    tile = get_settings().data_dir / "dem" / "srtm3" / "N06W001.hgt"
    upload = tmp_path / "upload.tif"
    with rasterio.open(tile) as src:
        profile = src.profile | {"driver": "GTiff", "tiled": True, "blockxsize": 256,
                                 "blockysize": 256, "compress": "deflate"}
        with rasterio.open(upload, "w", **profile) as dst:
            dst.write(src.read(1), 1)
    merged = delineate_field("gh-birim", None, dem_uploads=[("upload:7", upload)])
    coverage = merged.summary["dem_coverage"]["share_of_aoi_by_source"]
    assert 0.3 < coverage["upload:7"] < 0.6  # N06W001 holds the AOI's north-east part
    assert coverage["upload:7"] + coverage["bundled"] == pytest.approx(1.0, abs=0.01)
    assert merged.summary["dem_coverage"]["share_of_aoi_without_data"] < 0.001
    before, after = result.summary["total_area_m2"], merged.summary["total_area_m2"]
    assert after == pytest.approx(before, rel=0.02)
    assert any(i.get("source") == "upload:7" for i in merged.summary["inputs"])


def test_envelope_is_source_connected_and_sized_like_the_placers(birim):
    """Issue 12 "must show": with default parameters the gh-birim envelope is 150-700 km²
    (it was 1,752.7 km²), every USGS diamond point of the field is within 1 km of a
    deposit, and the placer network is a small part of the whole drainage."""
    result, _ = birim
    summary = result.summary
    assert 150e6 <= summary["total_area_m2"] <= 700e6
    for point in summary["usgs_points"]:
        assert point["distance_to_deposit_m"] < 1_000.0, point
    network = summary["placer_network"]
    assert network["source_connected"] and len(network["sources"]) >= 3
    assert network["placer_stream_length_km"] < 0.5 * network["all_stream_length_km"]
    assert result.stream_length_km == pytest.approx(network["placer_stream_length_km"], rel=1e-3)
    widths = network["channel_width_m"]
    assert 10.0 <= widths["min"] <= widths["median"] <= widths["max"] <= 120.0
    channel = summary["areas_by_class"]["active_channel"]["area_m2"]
    # the channel belt is the published placer width along the placer network
    assert 10.0 * network["placer_stream_length_km"] * 1e3 * 0.8 < channel \
        < 120.0 * network["placer_stream_length_km"] * 1e3


def test_resource_on_the_envelope_rests_on_the_sheet_and_has_its_cross_check(birim):
    """Volume-grade on the source-connected envelope, with content-per-km beside it as
    an independent cross-check; the P50 lies between GCD's proven 14 Mct and USGS's
    91.6 Mct remaining in the Birim and Bonsa fields (comparators, not inputs)."""
    from footprint.footprints import compute_footprint
    from footprint.params import load_sheet

    result, _ = birim
    footprint = compute_footprint("gh-birim", load_sheet("gh-birim"), result.deposits,
                                  result.stream_length_km, seed=3, draws=20_000)
    volume = footprint.resource["resource_volume_grade_ct"]
    per_km = footprint.resource["resource_per_km_ct"]
    assert 14e6 < volume.p50 < 91.6e6
    assert volume.p5 < volume.p50 < volume.p95 < 3 * 91.6e6
    # the channel alone and the per-km ribbon are the same placer seen two ways
    channel = footprint.resource["resource_ct.active_channel"]
    assert per_km.p5 < channel.p50 < per_km.p95
