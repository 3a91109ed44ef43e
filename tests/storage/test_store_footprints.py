"""Footprint versions: per-field counters, old versions readable, deposits in lon/lat."""

from __future__ import annotations

import threading

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box, shape

from footprint.errors import InvalidLayerError, NotFoundError, UnknownFieldError

# Squares in UTM zone 30N (EPSG:32630) near Akwatia: 1000 m x 500 m and 200 m x 200 m.
SQUARES_UTM = [box(740_000, 665_000, 741_000, 665_500), box(750_000, 670_000, 750_200, 670_200)]


def deposits(with_area: bool = True) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame({"deposit_class": ["floodplain", "low_terrace"],
                              "mode": "terrain", "thickness_m": [0.6, np.nan]},
                             geometry=SQUARES_UTM, crs=32630)
    if with_area:
        frame["area_m2"] = frame.area
        frame["mined_area_m2"] = [1.0e5, 0.0]
    return frame


def add(store, field="gh-birim", frame=None, seed=1, **kwargs):
    return store.add_footprint(
        field, deposits=deposits() if frame is None else frame, seed=seed, n_draws=1000,
        code_version="0.1.0+test", sheet_sha256="ab" * 32,
        parameters={"grade_ct_m3": {"dist": "triangular", "min": 0.5, "mode": 2.0, "max": 2.5}},
        summaries={"resource_ct": {"p5": 1.0e6, "p50": np.float64(2.0e6), "p95": float("nan")}},
        provenance={"inputs": ["N05W001"], "seed": seed}, draws_path="footprints/x/draws.parquet",
        rasters={"hand_m": "footprints/x/hand_m.tif"}, **kwargs)


def test_versions_count_per_field_and_old_versions_stay_readable(store):
    first = add(store, seed=1)
    second = add(store, seed=2, frame=deposits().iloc[:1])
    other = add(store, field="tg-plateaux", seed=3)
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert store.latest_footprint("gh-birim") == second
    assert store.get_footprint("gh-birim", 1) == first and first.seed == 1
    assert [r.version for r in store.list_footprints("gh-birim")] == [1, 2]
    assert len(store.list_footprints()) == 3
    old, matched_old = store.deposit_features("gh-birim", version=1)
    new, matched_new = store.deposit_features("gh-birim")  # latest
    assert (matched_old, matched_new) == (2, 1)
    assert all(f["properties"]["version"] == 1 for f in old)
    assert new[0]["properties"]["version"] == 2
    assert store.latest_footprint("ci-seguela") is None
    with pytest.raises(NotFoundError):
        store.get_footprint("gh-birim", 3)
    with pytest.raises(NotFoundError):
        store.deposit_features("ci-seguela")
    with pytest.raises(UnknownFieldError):
        add(store, field="xx-nowhere")


def test_footprint_record_keeps_its_provenance_as_json(store):
    record = add(store)
    assert record.n_draws == 1000 and record.code_version == "0.1.0+test"
    assert record.summaries["resource_ct"] == {"p5": 1.0e6, "p50": 2.0e6, "p95": None}
    assert record.parameters["grade_ct_m3"]["mode"] == 2.0
    assert record.rasters == {"hand_m": "footprints/x/hand_m.tif"}
    assert record.n_deposits == 2 and record.status == "complete"
    assert store.get_footprint("gh-birim", record.version) == record


def test_deposits_are_stored_in_lon_lat_with_their_areas(store):
    add(store, frame=deposits(with_area=False))  # areas computed in the field's UTM zone
    features, matched = store.deposit_features("gh-birim")
    assert matched == 2
    expected_4326 = gpd.GeoSeries(SQUARES_UTM, crs=32630).to_crs(4326)
    for feature, square_utm, square_4326 in zip(features, SQUARES_UTM, expected_4326,
                                                strict=True):
        geometry = shape(feature["geometry"])
        assert -1.2 < geometry.centroid.x < -0.5 and 5.8 < geometry.centroid.y < 6.3  # Birim
        # published with 7 decimals (store.GEOJSON_DECIMALS): at most a 1e-7 degree band
        assert geometry.symmetric_difference(square_4326).area < square_4326.length * 1e-7
        assert feature["properties"]["area_m2"] == pytest.approx(square_utm.area, rel=1e-9)
        assert feature["properties"]["mode"] == "terrain"
    assert features[0]["properties"]["deposit_class"] == "floodplain"
    assert features[0]["properties"]["thickness_m"] == 0.6
    assert features[1]["properties"]["thickness_m"] is None
    west = tuple(expected_4326.iloc[0].bounds)
    only_first, matched = store.deposit_features("gh-birim", bbox_4326=west)
    assert matched == 1 and only_first[0]["properties"]["deposit_class"] == "floodplain"


def test_failed_footprint_leaves_no_version_behind(store, monkeypatch):
    import footprint.storage.footprints as footprints_module

    wrong_crs = deposits().set_crs(4326, allow_override=True)  # metres declared as degrees
    with pytest.raises(InvalidLayerError, match="longitude/latitude"):
        add(store, frame=wrong_crs)

    def fail_after_the_footprint_row(session, model, rows):
        list(rows)
        raise RuntimeError("connection lost")

    monkeypatch.setattr(footprints_module, "_insert_chunks", fail_after_the_footprint_row)
    with pytest.raises(RuntimeError):
        add(store)
    monkeypatch.undo()
    assert store.list_footprints() == []
    assert add(store).version == 1


def test_concurrent_writers_get_distinct_versions(store):
    results, errors = [], []

    def build(seed):
        try:
            results.append(add(store, seed=seed).version)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=build, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [1, 2, 3, 4, 5, 6]
    assert [r.version for r in store.list_footprints("gh-birim")] == [1, 2, 3, 4, 5, 6]
