"""Versions through HTTP, as a surveyor: upload -> new version -> compare; the same file
again -> no new version; retire the layer -> the next build reproduces the prior version."""

from __future__ import annotations

import geopandas as gpd
import pytest
from _support import AKWATIA, deposit_polygons, write_vector
from fastapi.testclient import TestClient
from shapely.geometry import Point

from api.app import create_app

DRAWS = 2000
BUILD = {"inputs": {"field": "gh-birim", "seed": 3, "draws": DRAWS}}


@pytest.fixture
def offline_client(settings, store, tmp_path):
    with TestClient(create_app(settings.model_copy(
            update={"data_dir": tmp_path / "no-data"}))) as client:
        yield client


def _upload(client, headers, path, kind):
    with open(path, "rb") as handle:
        return client.post("/fields/gh-birim/layers", headers=headers,
                           files={"file": (path.name, handle)}, data={"kind": kind})


def _build(client, headers) -> dict:
    response = client.post("/processes/build-footprint/execution", json=BUILD, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _bulk_samples(path):
    lon, lat = AKWATIA
    frame = gpd.GeoDataFrame({"volume_m3": [40.0, 55.0, 61.0], "carats": [7.0, 12.5, 9.0]},
                             geometry=[Point(lon, lat), Point(lon + 0.002, lat + 0.001),
                                       Point(lon + 0.012, lat + 0.004)], crs=4326)
    return write_vector(path, frame)


def test_upload_compare_reupload_and_retire_through_the_service(offline_client, api_keys,
                                                                 store, tmp_path):
    surveyor, reader = {"X-API-Key": api_keys["surveyor"]}, {"X-API-Key": api_keys["reader"]}
    assert _upload(offline_client, surveyor, write_vector(tmp_path / "d.geojson",
                                                          deposit_polygons()),
                   "deposits").status_code == 201
    before = _build(offline_client, surveyor)
    assert before["created"] and before["footprint"]["version"] == 1
    assert "sensitivity" in before["footprint"]["summaries"]
    read = offline_client.get("/fields/gh-birim/footprint", headers=reader).json()
    table = read["sensitivity"]["outputs"]["capacity_ct_per_year"]
    assert table and all(0 <= row["ST"] <= 1.5 for row in table)
    assert [r["ST"] for r in table] == sorted((r["ST"] for r in table), reverse=True)

    samples = _bulk_samples(tmp_path / "bulk.geojson")
    uploaded = _upload(offline_client, surveyor, samples, "bulk_samples")
    assert uploaded.status_code == 201
    layer_id = uploaded.json()["id"]
    with_samples = _build(offline_client, surveyor)
    assert with_samples["created"] and with_samples["footprint"]["version"] == 2

    compared = offline_client.get("/fields/gh-birim/footprints/compare",
                                  params={"from": 1, "to": 2}, headers=reader)
    assert compared.status_code == 200, compared.text
    body = compared.json()
    assert [e["id"] for e in body["evidence"]["layers_added"]] == [layer_id]
    assert {row["output"] for row in body["outputs"]} >= {"resource_ct", "capacity_ct_per_year"}
    assert set(body["sensitivity"]) == {"resource_ct", "capacity_ct_per_year"}
    assert body["deposits"]["added"] == body["deposits"]["removed"] == 0
    assert body["deposits"]["changed_class"] == 0
    # every layer of either version, with its checksum in each: the samples are new
    layers = {row["id"]: row for row in body["evidence"]["layers"]}
    assert layers[layer_id]["status"] == "added" and layers[layer_id]["sha256_from"] is None
    assert layers[layer_id]["name"] and all(
        row["status"] == "same" for i, row in layers.items() if i != layer_id)
    resource = next(row for row in body["outputs"] if row["output"] == "resource_ct")
    assert resource["difference"]["p50"] == pytest.approx(
        resource["to"]["p50"] - resource["from"]["p50"])

    again = _upload(offline_client, surveyor, samples, "bulk_samples")
    assert again.status_code == 200 and again.json()["id"] == layer_id
    same = _build(offline_client, surveyor)
    assert not same["created"] and same["footprint"]["version"] == 2

    # a reader may not retire; a surveyor may; the layer stays listed, as retired
    assert offline_client.delete(f"/fields/gh-birim/layers/{layer_id}",
                                 headers=reader).status_code == 403
    assert offline_client.delete(f"/fields/zw-marange/layers/{layer_id}",
                                 headers=surveyor).status_code == 404
    retired = offline_client.delete(f"/fields/gh-birim/layers/{layer_id}",
                                    params={"reason": "test samples"}, headers=surveyor)
    assert retired.status_code == 200, retired.text
    assert retired.json()["retired_now"] and not retired.json()["active"]
    assert not offline_client.delete(f"/fields/gh-birim/layers/{layer_id}",
                                     headers=surveyor).json()["retired_now"]
    listed = offline_client.get("/fields/gh-birim/layers").json()["layers"]
    assert next(x for x in listed if x["id"] == layer_id)["retired_by"] == "test-surveyor"
    (entry,) = [e for e in store.list_audit() if e.action == "retire_layer"]
    assert entry.actor == "test-surveyor" and entry.detail["role"] == "surveyor"
    assert entry.detail["reason"] == "test samples"

    after = _build(offline_client, surveyor)
    assert after["created"] and after["footprint"]["version"] == 3
    assert after["same_inputs_as"] == [1]
    v1, v3 = store.get_footprint("gh-birim", 1), store.get_footprint("gh-birim", 3)
    assert v3.provenance["draws_sha256"] == v1.provenance["draws_sha256"]
    assert offline_client.get("/fields/gh-birim/footprints/compare", params={"from": 1},
                              headers=reader).json()["same_inputs"] is True
    assert offline_client.get("/fields/gh-birim/footprints/compare",
                              params={"from": 1, "to": 7}).status_code == 404
    assert offline_client.get("/fields/gh-birim/footprints/compare",
                              params={"from": 0}).status_code == 400
