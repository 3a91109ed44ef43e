"""One test per row of issue 11 (faults, hostile callers, several servers).

Each test asserts the status, the message a caller sees, and that nothing stored
changed (database rows and state-directory files, see ``conftest.stored_state``). Rows
that touch storage run on both backends (the ``settings``/``store`` fixtures are
parametrized over SQLite and PostGIS). Rows 2, 4, 4b, 5 and 10 are tested by the scopes
that own them; the two-server kill is ``test_two_servers.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from typing import Self

import geopandas as gpd
import pytest
from _support import deposit_polygons, write_vector
from fastapi.testclient import TestClient
from shapely.geometry import Polygon
from sqlalchemy import event

from api.app import create_app
from footprint import executors
from footprint.errors import ConfigurationError, InvalidParameterError, StorageUnavailableError


def _upload(client, headers, path, kind="deposits"):
    with open(path, "rb") as handle:
        return client.post("/fields/gh-birim/layers", headers=headers,
                           files={"file": (path.name, handle, "application/octet-stream")},
                           data={"kind": kind})


def _problem(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    for word in words:
        assert word in body["detail"], body
    return body


# ---------------------------------------------------------------- row 1: limits first
def test_row1_an_oversized_json_body_is_refused_before_it_is_parsed(make_client, api_keys,
                                                                    snapshot):
    client = make_client(max_json_kb=64)
    before = snapshot()
    big = b'{"inputs": {"field": "' + b"x" * (200 * 1024) + b'"}}'
    for headers in ({}, {"X-API-Key": api_keys["surveyor"]}):
        response = client.post("/processes/build-footprint/execution", content=big,
                               headers={**headers, "Content-Type": "application/json"})
        _problem(response, 413, "64 kB", "FOOTPRINT_MAX_JSON_KB")
    assert snapshot() == before


def test_row1_a_body_without_a_key_is_refused_before_it_is_read(client, snapshot):
    before = snapshot()
    # not JSON at all: a 401 (not a 400) shows the body was never parsed
    response = client.post("/processes/build-footprint/execution", content=b"{not json",
                           headers={"Content-Type": "application/json"})
    body = _problem(response, 401, "API key")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert body["type"] == "Unauthorized"
    assert snapshot() == before


def test_row1_a_chunked_upload_is_stopped_at_the_limit(make_client, api_keys, snapshot,
                                                       settings):
    client = make_client(max_upload_mb=1)
    before = snapshot()
    sent = []

    def body():  # multipart without a Content-Length: only counting can stop it
        yield (b"--b\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ndeposits\r\n"
               b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.geojson\""
               b"\r\n\r\n")
        for _ in range(8):
            sent.append(1)
            yield b" " * (1 << 20)
        yield b"\r\n--b--\r\n"

    response = client.post("/fields/gh-birim/layers", content=body(),
                           headers={"X-API-Key": api_keys["surveyor"],
                                    "Content-Type": "multipart/form-data; boundary=b"})
    _problem(response, 413, "1 MB", "FOOTPRINT_MAX_UPLOAD_MB")
    assert snapshot() == before
    assert not any((settings.state_dir / "uploads").iterdir())


# ---------------------------------------------------------------- row 3: job ownership
def test_row3_a_starting_server_leaves_the_jobs_and_builds_of_a_live_server_alone(
        settings, store, live_owner, dead_owner, snapshot):
    from footprint.sweeps import PARTIAL_PREFIX

    live = store.create_job("build-footprint", {"field": "gh-birim"},
                            worker=f"{live_owner.tag}/footprint-job_0")
    store.update_job(live.id, status="running", progress=40, message="simulating")
    dead = store.create_job("build-footprint", {"field": "gh-birim"},
                            worker=f"{dead_owner.tag}/footprint-job_0")
    store.update_job(dead.id, status="running", progress=40, message="simulating")
    root = settings.state_dir / "footprints" / "gh-birim"
    live_dir = root / f"{PARTIAL_PREFIX}{live_owner.tag}-abc"
    dead_dir = root / f"{PARTIAL_PREFIX}{dead_owner.tag}-def"
    for directory in (live_dir, dead_dir):
        (directory / "delineation").mkdir(parents=True)

    with TestClient(create_app(settings)) as client:  # a second server starts
        live_info = client.get(f"/jobs/{live.id}").json()
        dead_info = client.get(f"/jobs/{dead.id}").json()
    assert live_info["status"] == "running" and live_info["message"] == "simulating"
    assert live_dir.is_dir()
    assert dead_info["status"] == "failed"
    assert f"({dead_owner})" in dead_info["message"] and "stopped" in dead_info["message"]
    assert not dead_dir.exists()


def test_row3_an_owner_on_another_host_is_failed_only_on_a_stale_heartbeat(settings, store):
    other = "elsewhere~4242~abcdef01~77/footprint-job_0"
    fresh = store.create_job("build-footprint", {"field": "gh-birim"}, worker=other)
    store.update_job(fresh.id, status="running")
    stale = store.create_job("build-footprint", {"field": "gh-birim"}, worker=other)
    store.update_job(stale.id, status="running",
                     heartbeat_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    assert executors.recover_jobs(store, settings) == 1
    assert store.get_job(fresh.id).status == "running"
    failed = store.get_job(stale.id)
    assert failed.status == "failed" and "no heartbeat" in failed.message


# ---------------------------------------------------------------- row 6: bounded paging
@pytest.mark.parametrize("offset", ["9223372036854775808", "-1", "1e3"])
def test_row6_an_absurd_offset_is_a_400(client, snapshot, offset):
    before = snapshot()
    _problem(client.get("/jobs", params={"offset": offset}), 400, "offset")
    assert snapshot() == before


# ---------------------------------------------------------------- row 7: database outage
class Outage:
    """Refuses every new database connection while on (and drops the pooled ones)."""

    def __init__(self, store) -> None:
        self.store, self.on = store, False
        if store.is_postgres:
            import psycopg
            self.error = psycopg.OperationalError("connection to server at \"127.0.0.1\", "
                                                  "port 5432 failed: Connection refused")
        else:
            import sqlite3
            self.error = sqlite3.OperationalError("unable to open database file")
        event.listen(store.engine, "do_connect", self._connect)

    def _connect(self, *args, **kwargs):
        if self.on:
            raise self.error

    def __enter__(self) -> Self:
        self.on = True
        self.store.engine.dispose()
        return self

    def __exit__(self, *exc) -> None:
        self.on = False


def test_row7_a_database_outage_is_a_503_with_retry_after_and_no_url(client, store, snapshot,
                                                                     api_keys):
    store.engine.dispose()
    client.app.state.store = store  # the app's own store: the outage hits it
    before = snapshot()
    with Outage(store):
        for path in ("/collections/fields/items", "/jobs"):
            response = client.get(path, headers={"X-API-Key": api_keys["reader"]})
            body = _problem(response, 503, "cannot reach the database")
            assert int(response.headers["Retry-After"]) > 0
            text = response.text
            for secret in (store.url, "127.0.0.1", "5432", "sqlite", "postgresql", "password",
                           str(os.sep + "tmp")):
                assert secret not in text, text
            assert body["type"] == "StorageUnavailable"
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] != "ok"
    # back by itself: no restart of the service
    assert client.get("/collections/fields/items").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert snapshot() == before


# ---------------------------------------------------------------- row 8: version sweep
def test_row8_a_version_directory_without_its_row_is_swept(settings, store, snapshot):
    from api.app import housekeeping

    root = settings.state_dir / "footprints" / "gh-birim"
    orphan = root / uuid.uuid4().hex
    (orphan / "draws.parquet").parent.mkdir(parents=True)
    (orphan / "draws.parquet").write_bytes(b"x" * 1024)
    fresh = root / uuid.uuid4().hex  # a build between its rename and its commit
    fresh.mkdir()
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    rows_before = snapshot()[:-1]
    housekeeping(store, settings)
    assert not orphan.exists() and fresh.is_dir()
    assert snapshot()[:-1] == rows_before


def test_row8_a_referenced_version_is_never_swept(settings, store):
    from footprint.sweeps import sweep_state_dir

    directory = settings.state_dir / "footprints" / "gh-birim" / "kept"
    directory.mkdir(parents=True)
    (directory / "draws.parquet").write_bytes(b"x")
    store.add_footprint("gh-birim", deposits=deposit_polygons(), seed=1, n_draws=100,
                        code_version="test", sheet_sha256=None, parameters={}, summaries={},
                        provenance={}, draws_path="footprints/gh-birim/kept/draws.parquet",
                        rasters={})
    assert sweep_state_dir(settings, store, version_grace_s=0) == []
    assert directory.is_dir()


# ---------------------------------------------------------------- row 9: crash leftovers
def test_row9_uploads_and_delineations_left_by_a_dead_process_are_swept(
        settings, store, dead_owner, live_owner, snapshot):
    from footprint.sweeps import PARTIAL_PREFIX, UPLOAD_PREFIX

    state = settings.state_dir
    doomed = [state / "uploads" / f"{UPLOAD_PREFIX}{dead_owner.tag}-x1",
              state / "delineations" / f"{PARTIAL_PREFIX}{dead_owner.tag}-job-x2"]
    kept = [state / "uploads" / f"{UPLOAD_PREFIX}{live_owner.tag}-y1",
            state / "delineations" / f"{PARTIAL_PREFIX}{live_owner.tag}-job-y2"]
    for directory in doomed + kept:
        directory.mkdir(parents=True)
        (directory / "half.tif").write_bytes(b"II*\0")
    rows_before = snapshot()[:-1]
    with TestClient(create_app(settings)):
        pass
    assert not any(p.exists() for p in doomed)
    assert all(p.is_dir() for p in kept)
    assert snapshot()[:-1] == rows_before


# ---------------------------------------------------------------- row 11: full disk
def test_row11_a_full_disk_is_a_507_and_not_ready(make_client, api_keys, snapshot, tmp_path):
    client = make_client(min_free_mb=10**9)  # more than any disk: "full"
    before = snapshot()
    path = write_vector(tmp_path / "deposits.geojson", deposit_polygons())
    response = _upload(client, {"X-API-Key": api_keys["surveyor"]}, path)
    body = _problem(response, 507, "storage full")
    assert body["type"] == "InsufficientStorage" and "Retry-After" in response.headers
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["storage"] == "storage full"
    assert snapshot() == before


def test_row11_no_space_left_anywhere_is_a_507(client, api_keys, snapshot, tmp_path,
                                               monkeypatch):
    import footprint.io.layers as layer_io

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", "/srv/state/uploads/x.gpkg")

    monkeypatch.setattr(layer_io, "validate_vector_layer", disk_full)
    before = snapshot()
    path = write_vector(tmp_path / "deposits.geojson", deposit_polygons())
    response = _upload(client, {"X-API-Key": api_keys["surveyor"]}, path)
    _problem(response, 507, "storage full")
    assert "/srv" not in response.text
    assert snapshot() == before


# ---------------------------------------------------------------- row 12: outage in a job
def test_row12_a_job_ending_during_an_outage_keeps_its_cause(settings, store, monkeypatch):
    job = store.create_job("build-footprint", {"field": "gh-birim"})
    real_update = store.update_job
    refused = []

    def flaky_update(job_id, **changes):
        if changes.get("status") == "failed" and len(refused) < 2:  # the outage
            refused.append(changes)
            raise StorageUnavailableError("cannot reach the database")
        return real_update(job_id, **changes)

    monkeypatch.setattr(store, "update_job", flaky_update)

    def fails(inputs, **_):
        raise InvalidParameterError("grade_ct_m3 must be positive")

    executors.run_job(fails, job.id, {}, settings, store=store)
    record = store.get_job(job.id)
    assert len(refused) == 2
    assert record.status == "failed" and record.message == "grade_ct_m3 must be positive"


# ---------------------------------------------------------------- row 13: sizes
def test_row13_a_layer_with_too_many_vertices_is_refused(client, api_keys, snapshot, tmp_path):
    import numpy as np
    from _support import AKWATIA

    angles = np.linspace(0, 2 * np.pi, 30_000, endpoint=False)
    ring = [(AKWATIA[0] + 0.004 * np.cos(a), AKWATIA[1] + 0.004 * np.sin(a)) for a in angles]
    frame = gpd.GeoDataFrame({"deposit_class": ["floodplain"]}, geometry=[Polygon(ring)],
                             crs=4326)
    path = write_vector(tmp_path / "many.geojson", frame)
    before = snapshot()
    response = _upload(client, {"X-API-Key": api_keys["surveyor"]}, path)
    _problem(response, 400, "30,001 vertices", "at most 20,000")
    assert snapshot() == before


def test_row13_a_csv_too_wide_is_refused(client, api_keys, snapshot, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(20_000)) + "\n"
                    + ",".join("1" for _ in range(20_000)) + "\n")
    before = snapshot()
    with open(path, "rb") as handle:
        response = client.post("/declarations/certificates",
                               headers={"X-API-Key": api_keys["monitor"]},
                               files={"file": ("wide.csv", handle, "text/csv")})
    _problem(response, 400, "more than 200 columns")
    assert snapshot() == before


# ---------------------------------------------------------------- row 14: draws
def test_row14_draws_are_bounded(client, api_keys, snapshot, settings):
    before = snapshot()
    response = client.post("/processes/build-footprint/execution",
                           headers={"X-API-Key": api_keys["surveyor"]},
                           json={"inputs": {"field": "gh-birim", "draws": 10_000_000}})
    _problem(response, 400, f"must be <= {settings.max_draws}")
    described = client.get("/processes/build-footprint").json()
    assert described["inputs"]["draws"]["schema"]["maximum"] == settings.max_draws
    assert snapshot() == before


# ---------------------------------------------------------------- row 15: defaults
def test_row15_security_headers_on_every_answer(client):
    for response in (client.get("/collections"), client.get("/nope"),
                     client.post("/processes/delineate/execution", json={})):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_row15_an_empty_key_is_not_anonymous(client, snapshot):
    before = snapshot()
    _problem(client.get("/collections", headers={"X-API-Key": ""}), 401, "empty")
    _problem(client.get("/collections", headers={"X-API-Key": "   "}), 401, "empty")
    assert snapshot() == before


def test_row15_an_unknown_host_is_refused_not_reflected(client):
    response = client.get("/collections", headers={"Host": "evil.example"})
    assert response.status_code == 400 and "evil.example" not in response.text
    links = client.get("/collections").json()["links"]
    assert all(link["href"].startswith("http://testserver/") for link in links)


@pytest.mark.parametrize("secret", ["", "   ", "change-me-in-production", "short"])
def test_row15_production_refuses_a_weak_secret(settings, secret):
    from pydantic import SecretStr

    production = settings.model_copy(update={"environment": "production",
                                             "secret_key": SecretStr(secret),
                                             "allowed_hosts": ["footprint.example"]})
    with pytest.raises(ConfigurationError, match="secret"):
        production.check_serve_safe()


def test_row15_production_refuses_any_host(settings):
    from pydantic import SecretStr

    production = settings.model_copy(update={"environment": "production",
                                             "secret_key": SecretStr("s" * 40),
                                             "allowed_hosts": ["*"]})
    with pytest.raises(ConfigurationError, match="Host"):
        production.check_serve_safe()


# ---------------------------------------------------------------- row 16: no internals
def test_row16_public_reads_show_no_key_names_or_paths(client, api_keys, store, settings,
                                                       tmp_path, monkeypatch):
    path = write_vector(tmp_path / "deposits.geojson", deposit_polygons())
    created = _upload(client, {"X-API-Key": api_keys["surveyor"]}, path)
    assert created.status_code == 201, created.text
    layer = client.get(created.headers["Location"])
    assert "test-surveyor" not in layer.text and str(settings.state_dir) not in layer.text

    job = store.create_job("delineate", {"field": "gh-birim"})

    def crashes(inputs, **_):
        raise RuntimeError(f"cannot open {settings.state_dir}/rasters/secret.tif")

    executors.run_job(crashes, job.id, {}, settings, store=store)
    info = client.get(f"/jobs/{job.id}").json()
    assert info["status"] == "failed" and "RuntimeError" in info["message"]
    assert str(settings.state_dir) not in json.dumps(info)


def test_row16_provenance_names_input_files_not_paths(tmp_path):
    from footprint.provenance import input_name

    assert input_name(tmp_path / "dem" / "N05W002.hgt") == "N05W002.hgt"


# ---------------------------------------------------------------- row 17: dismissal
def test_row17_a_dismissed_finished_job_is_gone(client, store, api_keys):
    job = store.create_job("build-footprint", {"field": "gh-birim"}, owner="test-surveyor")
    store.update_job(job.id, status="successful", results={"footprint": {"version": 1}})
    headers = {"X-API-Key": api_keys["surveyor"]}
    response = client.delete(f"/jobs/{job.id}", headers=headers)
    assert response.status_code == 200 and response.json()["status"] == "dismissed"
    _problem(client.get(f"/jobs/{job.id}"), 404, "no job")
    assert client.get(f"/jobs/{job.id}/results").status_code == 404
    assert client.delete(f"/jobs/{job.id}", headers=headers).status_code == 404
    assert job.id not in {j["jobID"] for j in client.get("/jobs").json()["jobs"]}
    assert any(e.action == "dismiss" for e in store.list_audit())


# ---------------------------------------------------------------- row 19: OpenAPI
def test_row19_openapi_says_what_the_server_does(client):
    schema = client.get("/openapi.json").json()
    read = schema["paths"]["/collections"]["get"]
    assert {} in read["security"]  # public read: the key is optional
    assert {} not in schema["paths"]["/audit"]["get"]["security"]
    assert {} not in schema["paths"]["/jobs/{job_id}"]["delete"]["security"]
    response = client.put("/jobs/abc")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "DELETE"}
