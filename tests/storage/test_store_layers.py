"""Layers and their features: round trip in lon/lat, bbox filter, re-uploads, atomicity."""

from __future__ import annotations

import hashlib

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box, shape

import footprint.storage.layers as layers_module
from footprint.errors import InvalidLayerError, UnknownFieldError
from footprint.storage.audit import Audit

FIELD = "gh-birim"  # synchronised by the store fixture; AOI about 1.2-0.5 W, 5.8-6.3 N


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def pits_4326() -> gpd.GeoDataFrame:
    """Points, a polygon with a hole, a diagonal line and a feature without geometry."""
    holed = Polygon([(-0.9, 5.9), (-0.8, 5.9), (-0.8, 6.0), (-0.9, 6.0)],
                    holes=[[(-0.87, 5.93), (-0.83, 5.93), (-0.83, 5.97), (-0.87, 5.97)]])
    return gpd.GeoDataFrame(
        {"name": ["a", "b", "c", "d", "e"],
         "depth_m": [1.5, np.nan, 3.0, 4.25, 0.5],
         "count": [1, 2, 3, 4, 5]},
        geometry=[Point(-0.85, 5.95), Point(-0.6, 6.2), holed,
                  LineString([(-1.1, 5.8), (-0.7, 6.2)]), None],
        crs=4326)


def add(store, gdf=None, *, kind="pit_logs", digest=None, field=FIELD, **kwargs):
    gdf = pits_4326() if gdf is None else gdf
    return store.add_layer(field, kind, f"{kind} test", digest or sha(f"{kind}{len(gdf)}"),
                           crs=str(gdf.crs), bounds_4326=None, features=gdf, **kwargs)


def test_features_round_trip_in_lon_lat_from_a_projected_crs(store):
    original = pits_4326()
    record, created = add(store, original.to_crs(32630))
    assert created and record.version == 1 and record.n_features == 5
    assert record.crs == "EPSG:32630"
    features, matched = store.layer_features(record.id)
    assert matched == 5 and [f["properties"]["name"] for f in features] == list("abcde")
    for feature, expected in zip(features, original.geometry, strict=True):
        assert feature["type"] == "Feature" and feature["id"].startswith(f"{record.id}-")
        if expected is None:
            assert feature["geometry"] is None
            continue
        back = shape(feature["geometry"])
        assert back.geom_type == expected.geom_type
        assert shapely.hausdorff_distance(back, expected) < 1e-7  # degrees, ~1 cm
    assert features[1]["properties"]["depth_m"] is None  # NaN is not JSON
    assert features[3]["properties"] == {"name": "d", "depth_m": 4.25, "count": 4}
    minx, miny, maxx, maxy = record.bounds_4326
    assert minx == pytest.approx(-1.1) and maxx == pytest.approx(-0.6)
    assert miny == pytest.approx(5.8) and maxy == pytest.approx(6.2)
    assert store.get_layer(record.id) == record


def test_polygons_come_out_counter_clockwise_as_rfc7946_requires(store):
    clockwise = Polygon([(-0.9, 5.9), (-0.9, 6.0), (-0.8, 6.0), (-0.8, 5.9)])
    assert not clockwise.exterior.is_ccw
    record, _ = add(store, gpd.GeoDataFrame(geometry=[clockwise], crs=4326), kind="deposits")
    (feature,), _ = store.layer_features(record.id)
    assert shapely.LinearRing(feature["geometry"]["coordinates"][0]).is_ccw


def test_bbox_filter_is_exact_not_only_by_bounding_box(store):
    record, _ = add(store)
    # The diagonal line's bounding box covers this corner box, the line itself does not.
    corner = (-1.1, 6.1, -1.0, 6.2)
    assert box(*corner).intersects(box(*LineString([(-1.1, 5.8), (-0.7, 6.2)]).bounds))
    assert store.layer_features(record.id, bbox_4326=corner) == ([], 0)
    # The hole of the polygon: the polygon does not intersect it, the point inside does.
    hole = (-0.86, 5.94, -0.84, 5.96)
    features, matched = store.layer_features(record.id, bbox_4326=hole)
    assert matched == 1 and features[0]["properties"]["name"] == "a"
    # A box around the line's middle and the polygon's east edge.
    features, matched = store.layer_features(field_id=FIELD, kind="pit_logs",
                                             bbox_4326=(-0.81, 5.9, -0.79, 6.2))
    assert matched == 2 and {f["properties"]["name"] for f in features} == {"c", "d"}


def test_pages_cover_all_matches_once(store):
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(-1.2, -0.5, 57), rng.uniform(5.8, 6.3, 57)
    points = gpd.GeoDataFrame({"i": range(57)}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    record, _ = add(store, points, kind="usgs_points")
    bbox = (-1.0, 5.9, -0.7, 6.2)
    inside = {i for i in range(57) if bbox[0] <= lon[i] <= bbox[2] and bbox[1] <= lat[i] <= bbox[3]}
    assert 0 < len(inside) < 57
    seen = []
    for offset in range(0, 60, 10):
        page, matched = store.layer_features(record.id, bbox_4326=bbox, limit=10, offset=offset)
        assert matched == len(inside) and len(page) <= 10
        seen += [f["properties"]["i"] for f in page]
    assert sorted(seen) == sorted(inside)
    everything, matched = store.layer_features(record.id, limit=100)
    assert matched == 57 and [f["properties"]["i"] for f in everything] == list(range(57))


def test_identical_reupload_is_recognised(store):
    first, created = add(store, digest=sha("file-1"))
    again, created_again = add(store, digest=sha("file-1"))
    assert created and not created_again and again == first
    assert store.layer_features(field_id=FIELD)[1] == 5  # no second copy of the features
    second, created = add(store, digest=sha("file-2"))
    assert created and second.version == 2 and second.id != first.id
    other_kind, _ = add(store, digest=sha("file-1"), kind="workforce")
    assert other_kind.version == 1
    other_field, _ = add(store, digest=sha("file-1"), field="tg-plateaux")
    assert other_field.version == 1 and other_field.field_id == "tg-plateaux"
    assert [r.version for r in store.list_layers(FIELD, "pit_logs")] == [1, 2]


def test_invalid_geometry_is_repaired_and_collapsed_one_refused(store):
    bowtie = Polygon([(-0.9, 5.9), (-0.8, 6.0), (-0.8, 5.9), (-0.9, 6.0)])
    assert not bowtie.is_valid
    record, _ = add(store, gpd.GeoDataFrame(geometry=[bowtie], crs=4326), kind="deposits")
    (feature,), _ = store.layer_features(record.id)
    repaired = shape(feature["geometry"])
    assert repaired.is_valid and repaired.geom_type == "MultiPolygon"
    assert repaired.area == pytest.approx(0.005)  # the two triangles of the bow-tie
    # a polygon with no area cannot be repaired into a polygon: refused, nothing stored
    flat = Polygon([(-0.9, 5.9), (-0.8, 5.9), (-0.7, 5.9), (-0.9, 5.9)])
    gdf = gpd.GeoDataFrame(geometry=[Point(-0.85, 5.95), flat], crs=4326)
    with pytest.raises(InvalidLayerError, match="feature 1"):
        add(store, gdf, kind="mined_areas")
    assert [layer.kind for layer in store.list_layers()] == ["deposits"]


def test_failure_midway_leaves_nothing_behind(store, monkeypatch):
    real_insert = layers_module._insert_chunks

    def insert_two_then_fail(session, model, rows):
        rows = list(rows)
        real_insert(session, model, rows[:2])  # the layer row and two features are written
        raise RuntimeError("disk full")

    monkeypatch.setattr(layers_module, "_insert_chunks", insert_two_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        add(store, digest=sha("upload"))
    monkeypatch.undo()
    assert store.list_layers() == []
    assert store.layer_features(field_id=FIELD) == ([], 0)
    record, created = add(store, digest=sha("upload"))  # the retry starts from scratch
    assert created and record.version == 1 and store.layer_features(record.id)[1] == 5


def test_unknown_field_missing_crs_and_wrong_crs_are_refused(store):
    with pytest.raises(UnknownFieldError):
        add(store, field="xx-nowhere")
    with pytest.raises(InvalidLayerError, match="CRS"):
        add(store, gpd.GeoDataFrame(geometry=[Point(-0.8, 6.0)]))
    # UTM metres declared as lon/lat
    utm_as_degrees = pits_4326().to_crs(32630).set_crs(4326, allow_override=True)
    with pytest.raises(InvalidLayerError, match="longitude/latitude"):
        add(store, utm_as_degrees)
    assert store.list_layers() == []


def test_raster_layer_path_and_year_filter(store, settings):
    cog = settings.state_dir / "rasters" / FIELD / "dem.tif"
    dem, _ = store.add_layer(FIELD, "dem", "SRTM", sha("dem"), crs="EPSG:32630",
                             bounds_4326=(-1.2, 5.8, -0.5, 6.3), path=str(cog),
                             stac={"type": "Feature", "stac_version": "1.0.0"},
                             meta={"res_m": np.float64(90.0)}, source="bundled", audit=Audit("key:1"))
    assert dem.path == f"rasters/{FIELD}/dem.tif"  # relative to the state directory
    assert dem.meta == {"res_m": 90.0} and dem.stac["stac_version"] == "1.0.0"
    assert dem.n_features == 0 and dem.created_by == "key:1" and dem.source == "bundled"
    mined = {year: add(store, pits_4326(), kind="mined_areas", digest=sha(str(year)),
                       year=year)[0] for year in (2008, 2009)}
    features, matched = store.layer_features(field_id=FIELD, kind="mined_areas", year=2009)
    assert matched == 5 and all(f["id"].startswith(f"{mined[2009].id}-") for f in features)


def test_fields_are_upserted(store):
    from footprint.catalogue import load_catalogue

    before = store.get_field(FIELD)
    assert before.participant_iso3 == "GHA" and before.crs_epsg == 32630
    assert before.aoi_4326.contains(Point(-0.821, 6.019))  # USGS Akwatia point
    renamed = load_catalogue()[FIELD].model_copy(update={"name": "Birim (renamed)"})
    store.sync_fields([renamed])
    assert store.get_field(FIELD).name == "Birim (renamed)"
    assert len(store.list_fields()) == len(load_catalogue())
    with pytest.raises(UnknownFieldError):
        store.get_field("xx-nowhere")


def test_concurrent_field_synchronisation_does_not_conflict(store):
    """Several server processes start at once and each synchronises the catalogue."""
    import threading

    from footprint.catalogue import load_catalogue

    definitions = list(load_catalogue().values())
    store.downgrade("base")
    store.upgrade()
    errors = []

    def sync():
        try:
            store.sync_fields(definitions)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=sync) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [f.id for f in store.list_fields()] == sorted(d.id for d in definitions)


def test_features_are_published_with_seven_decimals(store):
    import geopandas as gpd
    from shapely.geometry import Polygon

    ring = [(-0.81234567891, 6.01234567891), (-0.81, 6.01234567891), (-0.81, 6.02),
            (-0.81234567891, 6.01234567891)]
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[Polygon(ring)], crs=4326)
    store.add_layer("gh-birim", "deposits", "precise", "d" * 64, crs="EPSG:4326",
                    bounds_4326=frame.total_bounds.tolist(), features=frame)
    features, matched = store.layer_features(field_id="gh-birim", kind="deposits")
    assert matched == 1
    coords = [xy for ring in features[0]["geometry"]["coordinates"] for xy in ring]
    assert all(round(v, 7) == v for xy in coords for v in xy)
    assert [-0.8123457, 6.0123457] in [list(xy) for xy in coords]
