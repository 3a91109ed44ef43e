"""Vector loaders: bbox reads, consistent columns, the real rivers and USGS points."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, box, mapping

from footprint.errors import DataMissingError, InvalidParameterError
from footprint.io import vectors
from footprint.settings import get_settings

# USGS "Placer mine at Akwatia" (SOURCES.md), lon/lat.
AKWATIA = (-0.821098, 6.019422)
BIRIM_BBOX = (-1.2, 5.8, -0.5, 6.3)


def _write_geojson(path: Path, features: list[tuple[dict, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    collection = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": mapping(geom)}
        for props, geom in features]}
    path.write_text(json.dumps(collection))
    return path


@pytest.fixture()
def tiny_data_dir(tmp_path: Path) -> Path:
    """A data directory with small WDBII rivers and USGS facilities files."""
    rivers = [
        ({"gmt_level": 2, "class": "permanent", "source": "t"},
         LineString([(0.0, 5.0), (0.5, 5.5)])),  # crosses the test box
        # an L around the box corner: its envelope meets the box, the line does not
        ({"gmt_level": 4, "class": "permanent", "source": "t"},
         LineString([(1.0, 5.2), (1.0, 6.2), (-0.3, 6.2), (-0.3, 5.9)])),
        ({"gmt_level": 6, "class": "intermittent", "source": "t"},
         LineString([(1.5, 11.0), (1.8, 11.5)])),  # far away
    ]
    _write_geojson(tmp_path / "rivers/gshhg_wdbii_rivers_west_africa.geojson", rivers)
    facilities = [
        ({"FeatureUID": "GHA001", "FeatureNam": "Placer A", "Country": "Ghana",
          "DsgAttr02": "Diamond", "DsgAttr03": "<null>", "DsgAttr06": 2018,
          "DsgAttr07": 360.0, "DsgAttr08": "Thousand carats", "LocOpStat": "C&M",
          "OperateNam": "Op A", "is_diamond": True}, Point(0.2, 5.2)),
        ({"FeatureUID": "GHA002", "FeatureNam": "Plant B", "Country": "Ghana",
          "DsgAttr02": "Diamond", "DsgAttr03": "Diamond", "DsgAttr06": 2018,
          "DsgAttr07": -999.0, "DsgAttr08": "NA", "LocOpStat": "Assumed Active",
          "OperateNam": "<null>", "is_diamond": True}, Point(0.3, 5.3)),
        ({"FeatureUID": "GHA003", "FeatureNam": "Gold mine", "Country": "Ghana",
          "DsgAttr02": "Gold", "DsgAttr03": "<null>", "DsgAttr06": 2018,
          "DsgAttr07": 5.0, "DsgAttr08": "Metric tons", "LocOpStat": "Active",
          "OperateNam": "Op C", "is_diamond": False}, Point(0.4, 5.4)),
    ]
    _write_geojson(tmp_path / vectors.VECTOR_FILES["usgs_facilities"], facilities)
    deposits = [({"FeatureUID": "GHd001", "FeatureNam": "Lode", "Country": "Ghana",
                  "DsgAttr01": "Gold", "DsgAttr02": "Diamond", "is_diamond": True},
                 Point(0.1, 5.1))]
    _write_geojson(tmp_path / vectors.VECTOR_FILES["usgs_deposits"], deposits)
    exploration = [({"FeatureUID": "GHx001", "FeatureNam": "Prospect", "Country": "Ghana",
                     "DsgAttr01": "Gold", "LocOpStat": "Exploration", "OwnerName": "Owner X",
                     "is_diamond": False}, Point(0.6, 5.6))]
    _write_geojson(tmp_path / vectors.VECTOR_FILES["usgs_exploration"], exploration)
    return tmp_path


# --- small fixtures ----------------------------------------------------------------------

def test_bbox_read_keeps_only_features_whose_geometry_intersects(tiny_data_dir):
    bbox = (0.0, 5.0, 0.8, 5.8)
    rivers = vectors.load_rivers(tiny_data_dir, bbox, region="west_africa")
    assert rivers["gmt_level"].tolist() == [2]
    assert rivers.intersects(box(*bbox)).all()
    everything = vectors.load_rivers(tiny_data_dir, region="west_africa")
    assert sorted(everything["gmt_level"].tolist()) == [2, 4, 6]
    assert list(rivers.columns) == ["name", "gmt_level", "scalerank", "feature_class",
                                    "source", "region", "geometry"]
    assert rivers.crs.to_epsg() == 4326


def test_max_gmt_level_filters_minor_rivers(tiny_data_dir):
    rivers = vectors.load_rivers(tiny_data_dir, region="west_africa", max_gmt_level=4)
    assert sorted(rivers["gmt_level"].tolist()) == [2, 4]


def test_usgs_points_normalise_nulls_and_capacity(tiny_data_dir):
    facilities = vectors.load_usgs_points(tiny_data_dir, layers=["facilities"])
    by_uid = facilities.set_index("feature_uid")
    assert by_uid["operator"].isna()["GHA002"]  # "<null>" in the source
    assert by_uid.loc["GHA002", "commodities"] == "Diamond"
    assert by_uid["capacity"].isna()["GHA002"]  # -999 means unknown
    assert by_uid.loc["GHA003", "capacity"] == 5.0
    assert by_uid.loc["GHA003", "capacity_unit"] == "Metric tons"


def test_diamond_points_from_all_layers_capacity_only_in_thousand_carats(tiny_data_dir):
    points = vectors.load_usgs_diamond_points(tiny_data_dir)
    assert sorted(points["name"]) == ["Lode", "Placer A", "Plant B"]
    assert dict(zip(points["name"], points["layer"]))["Lode"] == "deposits"
    inside = vectors.load_usgs_diamond_points(tiny_data_dir, (0.15, 5.15, 0.25, 5.25))
    assert inside["name"].tolist() == ["Placer A"]
    caps = dict(zip(points["name"], points["capacity_kct"]))
    assert caps["Placer A"] == 360.0
    assert caps["Plant B"] != caps["Plant B"]  # NaN
    assert list(points.columns) == ["name", "layer", "capacity_kct", "operator", "status",
                                    "country", "feature_uid", "geometry"]


def test_missing_file_raises_data_missing_with_hint(tmp_path):
    with pytest.raises(DataMissingError) as info:
        vectors.load_boundaries(tmp_path)
    message = str(info.value)
    assert "dcw_admin0_GHA_CIV_TGO_ZWE.geojson" in message
    assert "SOURCES.md" in message
    assert isinstance(info.value, FileNotFoundError)


def test_region_for_bbox_picks_the_covering_extract():
    assert vectors.region_for_bbox((32.0, -20.0, 32.6, -19.3)) == "zimbabwe"
    assert vectors.region_for_bbox(BIRIM_BBOX) == "west_africa"
    assert vectors.regions_for_bbox((-6.5, 7.3, -5.0, 9.0)) == ["west_africa"]
    with pytest.raises(DataMissingError):
        vectors.region_for_bbox((100.0, 10.0, 101.0, 11.0))


def test_bad_bbox_is_rejected():
    with pytest.raises(InvalidParameterError):
        vectors.regions_for_bbox((1.0, 5.0, 0.0, 6.0))  # west > east
    with pytest.raises(InvalidParameterError):
        vectors.regions_for_bbox((0.0, 5.0, 1.0))


# --- the real data -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def data_dir() -> Path:
    path = get_settings().data_dir
    if not (path / vectors.VECTOR_FILES["usgs_facilities"]).is_file():
        pytest.skip(f"shared data not present in {path}")
    return path


@pytest.mark.slow
def test_birim_wdbii_line_passes_near_akwatia(data_dir):
    rivers = vectors.load_rivers(data_dir, BIRIM_BBOX)
    assert len(rivers) > 0 and set(rivers["region"]) == {"west_africa"}
    utm = rivers.to_crs(32630)
    akwatia = gpd.GeoSeries([Point(*AKWATIA)], crs=4326).to_crs(32630).iloc[0]
    distance_m = utm.distance(akwatia)
    assert distance_m.min() < 2_500.0
    assert rivers.loc[distance_m.idxmin(), "gmt_level"] == 4  # a minor permanent river


@pytest.mark.slow
def test_six_diamond_facilities_are_found(data_dir):
    points = vectors.load_usgs_diamond_points(data_dir)
    facilities = points[points["layer"] == "facilities"]
    assert set(facilities["name"]) == {
        "Facility at Birim Valley", "Placer mine at Akwatia", "Marange Deposit",
        "Murowa Mine", "River Ranch Mine", "Facility at Chimanimani"}
    caps = dict(zip(facilities["name"], facilities["capacity_kct"]))
    # DOMAIN.md, USGS Africa facilities: Birim Valley ASM 900 kct/yr, Akwatia 360 kct/yr.
    assert caps["Facility at Birim Valley"] == 900.0
    assert caps["Placer mine at Akwatia"] == 360.0
    assert set(points.loc[points["layer"] == "deposits", "name"]) >= {"Seguela", "Tortiya",
                                                                      "Akwatia"}
    assert not points["country"].eq("Togo").any()  # SOURCES.md: no Togo diamond feature


@pytest.mark.slow
@pytest.mark.parametrize("loader, kwargs", [
    (vectors.load_rivers, {}), (vectors.load_rivers, {"source": "naturalearth"}),
    (vectors.load_usgs_points, {}), (vectors.load_boundaries, {"source": "naturalearth"}),
    (vectors.load_places, {}), (vectors.load_lakes, {})])
def test_bbox_reads_equal_the_filtered_full_read(data_dir, loader, kwargs):
    bbox = (-6.5, 6.5, 0.5, 9.0)
    part = loader(data_dir, bbox, **kwargs)
    full = loader(data_dir, None, **kwargs)
    expected = full[full.intersects(box(*bbox))]
    assert len(part) == len(expected) < len(full)
    assert part.geometry.to_wkb().sort_values().tolist() == \
        expected.geometry.to_wkb().sort_values().tolist()
    assert list(part.columns) == list(full.columns)
