"""Footprint endpoints through HTTP: fields, versions, documents, draws, rasters."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
from synthetic_footprint import (
    GRID,
    N_DRAWS,
    RASTER_ORIGIN,
    RASTER_RES_M,
    RASTER_SHAPE,
    raster_values,
)

from footprint.catalogue import load_catalogue

TO_LONLAT = pyproj.Transformer.from_crs(32630, 4326, always_xy=True)


def pixel_centre_lonlat(row: int, col: int) -> tuple[float, float]:
    x = RASTER_ORIGIN[0] + (col + 0.5) * RASTER_RES_M
    y = RASTER_ORIGIN[1] - (row + 0.5) * RASTER_RES_M
    return TO_LONLAT.transform(x, y)


def test_fields_list_every_field_with_latest_version(client, footprint):
    fields = {f["id"]: f for f in client.get("/fields").json()["fields"]}
    assert set(fields) == set(load_catalogue())
    assert fields["gh-birim"]["latest_footprint_version"] == footprint.version
    assert fields["zw-marange"]["latest_footprint_version"] is None
    one = client.get("/fields/ci-seguela").json()
    assert one["crs_epsg"] == 32629 and one["participant_iso3"] == "CIV"
    assert client.get("/fields/atlantis").status_code == 404


def test_latest_footprint_document(client, footprint):
    body = client.get("/fields/gh-birim/footprint").json()
    assert body["version"] == footprint.version and body["seed"] == 42
    assert body["n_draws"] == N_DRAWS and body["n_deposits"] == GRID * GRID
    assert body["summaries"] == footprint.summaries
    assert body["parameters"]["grade_ct_m3"]["value"] == 2.0
    assert body["provenance"]["inputs"]["test"] == "synthetic"
    assert body["rasters"] == ["hand_m"]
    rels = {link["rel"] for link in body["links"]}
    assert {"self", "items", "enclosure"} <= rels


def test_versions_and_missing_version(client, store, footprint):
    import geopandas as gpd

    store.add_footprint("gh-birim", deposits=gpd.GeoDataFrame(geometry=[], crs=4326), seed=2,
                        n_draws=100, code_version="test", sheet_sha256=None, parameters={},
                        summaries={}, provenance={}, draws_path=None, rasters={})
    versions = client.get("/fields/gh-birim/footprints").json()["footprints"]
    assert [v["version"] for v in versions] == [2, 1]
    assert client.get("/fields/gh-birim/footprint").json()["version"] == 2
    assert client.get("/fields/gh-birim/footprint", params={"version": 1}).json()["seed"] == 42
    missing = client.get("/fields/gh-birim/footprint", params={"version": 7})
    assert missing.status_code == 404 and missing.json()["type"] == "NotFound"
    assert client.get("/fields/zw-marange/footprint").status_code == 404
    # version 2 has no draws table
    assert client.get("/fields/gh-birim/footprint/draws").status_code == 404


def test_draws_download_parquet_and_csv_agree(client, settings, footprint):
    parquet = client.get("/fields/gh-birim/footprint/draws", params={"format": "parquet"})
    assert parquet.status_code == 200
    assert "attachment" in parquet.headers["content-disposition"]
    from_parquet = pd.read_parquet(io.BytesIO(parquet.content))
    stored = pd.read_parquet(settings.state_dir / footprint.draws_path)
    pd.testing.assert_frame_equal(from_parquet, stored)
    csv = client.get("/fields/gh-birim/footprint/draws", params={"format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    from_csv = pd.read_csv(io.StringIO(csv.text))
    assert len(from_csv) == N_DRAWS
    np.testing.assert_allclose(from_csv["resource_ct"], stored["resource_ct"], rtol=1e-12)
    assert client.get("/fields/gh-birim/footprint/draws", params={"format": "xlsx"}).status_code == 400


def test_raster_download_is_the_cog(client, footprint):
    response = client.get("/fields/gh-birim/footprint/rasters/hand_m")
    assert response.status_code == 200
    with rasterio.MemoryFile(response.content) as memfile, memfile.open() as src:
        assert src.crs.to_epsg() == 32630 and (src.height, src.width) == RASTER_SHAPE
        np.testing.assert_array_equal(src.read(1)[:-1], raster_values()[:-1])
    assert client.get("/fields/gh-birim/footprint/rasters/slope").status_code == 404


def test_raster_point_value(client, footprint):
    for row, col in [(0, 0), (3, 17), (18, 29)]:
        lon, lat = pixel_centre_lonlat(row, col)
        body = client.get("/fields/gh-birim/footprint/rasters/hand_m/point",
                          params={"lon": lon, "lat": lat}).json()
        assert body["value"] == pytest.approx(row * 100 + col)


def test_raster_point_nodata_and_outside(client, footprint):
    lon, lat = pixel_centre_lonlat(RASTER_SHAPE[0] - 1, 4)  # the nodata row
    nodata = client.get("/fields/gh-birim/footprint/rasters/hand_m/point",
                        params={"lon": lon, "lat": lat})
    assert nodata.status_code == 200 and nodata.json()["value"] is None
    outside = client.get("/fields/gh-birim/footprint/rasters/hand_m/point",
                         params={"lon": 10.0, "lat": 10.0})
    assert outside.status_code == 400 and "outside" in outside.json()["detail"]
    assert client.get("/fields/gh-birim/footprint/rasters/hand_m/point",
                      params={"lon": 200, "lat": 0}).status_code == 400


def test_paths_outside_the_state_dir_are_never_served(client, store, settings, tmp_path):
    """A row pointing outside state_dir (through a symlink) is refused as not found."""
    import geopandas as gpd

    secret = tmp_path / "secret.parquet"
    pd.DataFrame({"x": [1]}).to_parquet(secret)
    link = settings.state_dir / "escape"
    link.symlink_to(tmp_path, target_is_directory=True)
    store.add_footprint("gh-birim", deposits=gpd.GeoDataFrame(geometry=[], crs=4326), seed=3,
                        n_draws=100, code_version="test", sheet_sha256=None, parameters={},
                        summaries={}, provenance={}, draws_path="escape/secret.parquet",
                        rasters={"leak": "escape/secret.parquet"})
    assert client.get("/fields/gh-birim/footprint/draws").status_code == 404
    assert client.get("/fields/gh-birim/footprint/rasters/leak").status_code == 404
    assert client.get("/fields/gh-birim/footprint/rasters/..%2F..%2Fetc/point",
                      params={"lon": 0, "lat": 0}).status_code in (400, 404)
