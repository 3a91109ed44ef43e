"""OGC API - Processes through HTTP: descriptions, roles, sync and async build-footprint.

The builds run the real pipeline (deposit-polygon mode on uploaded polygons, the field's
parameter sheet, the Monte Carlo engine) with a data directory that is empty, so no
shared data is read; the slow test at the end runs terrain mode on the real gh-birim tiles.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from _support import deposit_polygons, mined_areas, wait_for_job, write_vector
from fastapi.testclient import TestClient

from api.app import create_app
from footprint.params import ParameterSheet
from footprint.simulation import field_seed

DRAWS = 2000


@pytest.fixture
def offline_settings(settings, tmp_path):
    """The test settings with an empty data directory (no tiles, no rivers)."""
    return settings.model_copy(update={"data_dir": tmp_path / "no-data"})


@pytest.fixture
def offline_client(offline_settings, store):
    with TestClient(create_app(offline_settings)) as client:
        yield client


def _key(api_keys, role):
    return {"X-API-Key": api_keys[role]}


def _upload(client, headers, path: Path, kind: str, **fields):
    with open(path, "rb") as handle:
        return client.post("/fields/gh-birim/layers", headers=headers,
                           files={"file": (path.name, handle)},
                           data={"kind": kind, **{k: str(v) for k, v in fields.items()}})


def test_process_list_names_the_three_processes_with_links(client):
    response = client.get("/processes")
    assert response.status_code == 200
    processes = {p["id"]: p for p in response.json()["processes"]}
    assert set(processes) == {"delineate", "build-footprint", "anomaly-report"}
    for process in processes.values():
        assert "async-execute" in process["jobControlOptions"]
        assert any(link["rel"] == "self" and link["href"].endswith(f"/processes/{process['id']}")
                   for link in process["links"])


def test_build_footprint_description_derives_parameters_from_the_sheet_schema(client):
    response = client.get("/processes/build-footprint")
    assert response.status_code == 200
    inputs = response.json()["inputs"]
    assert inputs["field"]["minOccurs"] == 1
    assert "gh-birim" in inputs["field"]["schema"]["enum"]
    assert inputs["draws"]["schema"]["minimum"] >= 1
    sheet_schema = inputs["parameters"]["schema"]
    assert set(ParameterSheet.model_json_schema()["properties"]) == set(sheet_schema["properties"])
    assert "parameters" in sheet_schema["required"]
    assert "report" in client.get("/processes/anomaly-report").json()["outputs"]


def test_unknown_process_is_404_with_ogc_exception(client):
    response = client.get("/processes/no-such-process")
    assert response.status_code == 404
    assert response.json()["type"] == "NotFound"
    assert "no-such-process" in response.json()["detail"]


ROLE_CASES = [  # (role, process, expected status)
    (None, "build-footprint", 401),
    ("reader", "build-footprint", 403),
    ("monitor", "build-footprint", 403),
    ("surveyor", "anomaly-report", 403),
    ("reader", "delineate", 403),
]
INVALID_INPUTS = [
    {"field": "xx-nowhere"},
    {"field": "gh-birim", "draws": 5},
    {"field": "gh-birim", "seed": "seven"},
    {"field": "gh-birim", "draws": 2000.5},
    {"field": "gh-birim", "colour": "blue"},
    {},
]


def test_execution_needs_the_process_role(client, api_keys, store):
    for role, process, status in ROLE_CASES:
        headers = _key(api_keys, role) if role else {}
        body = {"inputs": {"field": "gh-birim"}} if process != "anomaly-report" else \
            {"inputs": {"participant": "GHA", "from": 2005, "to": 2010}}
        response = client.post(f"/processes/{process}/execution", json=body, headers=headers)
        assert response.status_code == status, (role, process, response.text)
        assert response.json()["detail"]
    assert store.list_jobs() == []


def test_invalid_inputs_are_400_and_create_no_job(client, api_keys, store):
    for inputs in INVALID_INPUTS:
        response = client.post("/processes/build-footprint/execution", json={"inputs": inputs},
                               headers=_key(api_keys, "surveyor"))
        assert response.status_code == 400, (inputs, response.text)
        assert response.json()["type"] == "InvalidParameterValue"
    not_json_object = client.post("/processes/build-footprint/execution", json=[1, 2],
                                  headers=_key(api_keys, "surveyor"))
    assert not_json_object.status_code == 400
    assert store.list_jobs() == []


def test_sync_then_async_build_footprint_store_versions_with_provenance(
        offline_client, offline_settings, api_keys, store, tmp_path):
    surveyor = _key(api_keys, "surveyor")
    deposits_file = write_vector(tmp_path / "deposits.geojson", deposit_polygons())
    deposits_sha = hashlib.sha256(deposits_file.read_bytes()).hexdigest()
    assert _upload(offline_client, surveyor, deposits_file, "deposits").status_code == 201

    body = {"inputs": {"field": "gh-birim", "seed": 11, "draws": DRAWS}}
    sync = offline_client.post("/processes/build-footprint/execution", json=body, headers=surveyor)
    assert sync.status_code == 200, sync.text
    first = sync.json()["footprint"]
    assert first["version"] == 1 and first["draws"] == DRAWS
    assert first["seed"] == field_seed(11, "gh-birim")  # 11 is the base seed
    assert deposits_sha in first["input_checksums"].values()
    resource = first["summaries"]["resource"]["resource_ct"]
    assert 0 < resource["p5"] <= resource["p50"] <= resource["p95"]

    asynchronous = offline_client.post("/processes/build-footprint/execution", json=body,
                                       headers={**surveyor, "Prefer": "respond-async"})
    assert asynchronous.status_code == 201
    assert asynchronous.headers["Preference-Applied"] == "respond-async"
    info = asynchronous.json()
    assert asynchronous.headers["Location"].endswith(f"/jobs/{info['jobID']}")
    assert info["status"] in ("accepted", "running", "successful")
    assert 0 <= info["progress"] <= 100
    done = wait_for_job(offline_client, asynchronous.headers["Location"])
    assert done["status"] == "successful", done
    assert done["progress"] == 100 and done["finished"] >= done["created"]
    results_link = next(link["href"] for link in done["links"] if link["rel"].endswith("/results"))
    results = offline_client.get(results_link).json()
    second = results["footprint"]
    # same seed, same inputs: no new version, the job says so and returns version 1
    assert second["version"] == 1 and results["created"] is False
    assert second["inputs_sha256"] == first["inputs_sha256"]
    assert "no new version" in results["message"] and "no new version" in done["message"]
    assert sync.json()["created"] is True

    versions = store.list_footprints("gh-birim")
    assert [v.version for v in versions] == [1]
    for version in versions:
        draws_file = offline_settings.state_dir / version.draws_path
        assert pq.read_metadata(draws_file).num_rows == DRAWS
        assert version.provenance["seed"] == field_seed(11, "gh-birim")
        assert version.provenance["base_seed"] == 11
        assert version.provenance["code_version"]
        assert version.sheet_sha256 and len(version.sheet_sha256) == 64
    assert not list((offline_settings.state_dir / "footprints" / "gh-birim").glob(".partial-*"))
    audit = [entry for entry in store.list_audit() if entry.action == "execute"]
    assert len(audit) == 2 and all(entry.actor == "test-surveyor" for entry in audit)


def test_mined_areas_are_subtracted_and_give_a_yearly_series(
        offline_client, api_keys, store, tmp_path):
    surveyor = _key(api_keys, "surveyor")
    _upload(offline_client, surveyor, write_vector(tmp_path / "d.geojson", deposit_polygons()),
            "deposits")
    _upload(offline_client, surveyor, write_vector(tmp_path / "m.geojson", mined_areas()),
            "mined_areas")
    response = offline_client.post(
        "/processes/build-footprint/execution",
        json={"inputs": {"field": "gh-birim", "draws": DRAWS}}, headers=surveyor)
    assert response.status_code == 200, response.text
    record = store.latest_footprint("gh-birim")
    by_year = record.provenance["mined_area_m2_by_year"]
    # 2006 is the baseline (mined up to then); the series is the ground new in 2007
    assert set(by_year) == {"2007"}
    pits_utm = mined_areas().to_crs(32630).geometry
    square_m2 = float(pits_utm.iloc[0].area)
    # 2007: two 0.002-degree squares overlapping by a quarter: 1.75 squares, not 2
    assert by_year["2007"] == pytest.approx(1.75 * square_m2, rel=0.02)
    classes = record.summaries["deposits"]["classes"]
    mined_total = sum(c["mined_area_m2"] for c in classes.values())
    assert mined_total == pytest.approx(2.75 * square_m2, rel=0.02)


def test_sync_execution_error_is_reported_and_job_failed(offline_client, api_keys, store):
    # ci-seguela has no DEM, no rivers (empty data dir) and no uploaded polygons
    response = offline_client.post(
        "/processes/build-footprint/execution",
        json={"inputs": {"field": "ci-seguela", "draws": DRAWS}}, headers=_key(api_keys, "surveyor"))
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]
    (job,) = store.list_jobs()
    assert job.status == "failed" and job.message


def test_delineate_process_writes_its_outputs_atomically(
        offline_client, offline_settings, api_keys, tmp_path):
    surveyor = _key(api_keys, "surveyor")
    _upload(offline_client, surveyor, write_vector(tmp_path / "d.geojson", deposit_polygons()),
            "deposits")
    response = offline_client.post("/processes/delineate/execution",
                                   json={"inputs": {"field": "gh-birim"}}, headers=surveyor)
    assert response.status_code == 200, response.text
    summary = response.json()["summary"]
    assert summary["mode"] == "polygons"
    directory = offline_settings.state_dir / summary["directory"]
    assert (directory / "deposits.gpkg").is_file() and "summary.json" in summary["files"]
    assert not list(directory.parent.glob(".partial-*"))


@pytest.mark.slow
def test_build_footprint_end_to_end_on_the_birim_tiles(client, api_keys, store, settings):
    if not (settings.data_dir / "dem" / "srtm3").is_dir():
        pytest.skip("shared data directory absent")
    response = client.post("/processes/build-footprint/execution",
                           json={"inputs": {"field": "gh-birim", "draws": DRAWS, "seed": 3}},
                           headers=_key(api_keys, "surveyor"))
    assert response.status_code == 200, response.text
    footprint = response.json()["footprint"]
    record = store.get_footprint("gh-birim", footprint["version"])
    assert record.n_deposits > 0
    classes = record.summaries["deposits"]["classes"]
    assert {"active_channel", "floodplain"} & set(classes)
    assert record.rasters and all((settings.state_dir / p).is_file() for p in record.rasters.values())
    assert footprint["summaries"]["resource"]["resource_ct"]["p50"] > 0
