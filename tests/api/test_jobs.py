"""The job life cycle through HTTP: progress, success, failure, dismissal, dead workers.

The Monte Carlo build is replaced by a function held at a gate (monkeypatched
``footprint.pipeline.build.build_footprint``), so a test decides when a job finishes;
everything else (job rows, executor, progress callback, heartbeat, routes) is real.
"""

from __future__ import annotations

import datetime as dt
import threading

import geopandas as gpd
import pytest
from _support import wait_for_job
from fastapi.testclient import TestClient
from shapely.geometry import box

from api.app import create_app
from footprint.errors import InvalidLayerError
from footprint.pipeline import build as build_module

BODY = {"inputs": {"field": "gh-birim", "draws": 500}}


class Gate:
    """A build that reports progress until released, then stores a tiny footprint."""

    def __init__(self, *, error: BaseException | None = None) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.error = error

    def __call__(self, field_id, *, store, settings, seed=None, draws=None, sheet=None,
                 progress=None, **_):
        try:
            progress(10, "gate: started")
            self.started.set()
            while not self.release.wait(0.02):
                progress(20, "gate: waiting")  # raises once the job is dismissed
            if self.error is not None:
                raise self.error
            deposits = gpd.GeoDataFrame({"deposit_class": ["floodplain"], "mode": ["polygons"]},
                                        geometry=[box(-0.83, 6.01, -0.82, 6.02)], crs=4326)
            record = store.add_footprint(
                field_id, deposits=deposits, seed=seed or 0, n_draws=draws or 0,
                code_version="gate", sheet_sha256=None, parameters={}, summaries={"gate": True},
                provenance={}, draws_path=None, rasters={})
            return build_module.BuildOutcome(record, True, "0" * 64)
        finally:
            self.finished.set()


@pytest.fixture
def gate(monkeypatch):
    gate = Gate()
    monkeypatch.setattr(build_module, "build_footprint_version", gate)
    yield gate
    gate.release.set()  # never leave a job thread waiting: the interpreter would not exit


@pytest.fixture
def surveyor(api_keys):
    return {"X-API-Key": api_keys["surveyor"]}


def _start(client, headers) -> tuple[str, dict]:
    response = client.post("/processes/build-footprint/execution", json=BODY,
                           headers={**headers, "Prefer": "respond-async"})
    assert response.status_code == 201, response.text
    return response.headers["Location"], response.json()


def test_async_job_reports_progress_then_succeeds(client, gate, surveyor, store):
    location, info = _start(client, surveyor)
    assert gate.started.wait(10)
    running = wait_for_job(client, location, until=("running",))
    assert running["progress"] == 20 or running["progress"] == 10
    assert running["started"] is not None and running["finished"] is None
    assert running["message"].startswith("gate:")
    assert info["jobID"] in [job["jobID"] for job in client.get("/jobs").json()["jobs"]]
    not_ready = client.get(f"{location}/results", headers=surveyor)
    assert not_ready.status_code == 404 and "not ready" in not_ready.json()["detail"]

    gate.release.set()
    done = wait_for_job(client, location)
    assert done["status"] == "successful" and done["progress"] == 100
    assert done["created"] <= done["started"] <= done["finished"]
    results = client.get(f"{location}/results", headers=surveyor).json()
    assert results["footprint"]["version"] == 1
    assert results["footprint"]["summaries"] == {"gate": True}
    assert store.get_job(info["jobID"]).results == results  # kept in the database


def test_dismissing_a_running_job_stops_it_before_it_stores_anything(client, gate, surveyor,
                                                                      api_keys, store):
    location, info = _start(client, surveyor)
    assert gate.started.wait(10)
    assert client.delete(location, headers={"X-API-Key": api_keys["reader"]}).status_code == 403

    response = client.delete(location, headers=surveyor)
    assert response.status_code == 200 and response.json()["status"] == "dismissed"
    assert gate.finished.wait(10)  # its next progress report stopped it
    gate.release.set()
    assert store.get_job(info["jobID"]).status == "dismissed"
    assert store.list_footprints("gh-birim") == []
    assert client.get(f"{location}/results", headers=surveyor).status_code == 404
    assert client.delete(location, headers=surveyor).status_code == 404
    assert info["jobID"] not in [job["jobID"] for job in client.get("/jobs").json()["jobs"]]
    assert any(e.action == "dismiss" for e in store.list_audit())


@pytest.mark.parametrize(("error", "expected"), [
    (InvalidLayerError("the deposit polygons overlap the river"), "overlap the river"),
    (ZeroDivisionError("division by zero"), "internal error: ZeroDivisionError"),
])
def test_a_failing_job_ends_failed_with_the_reason(client, monkeypatch, surveyor, error,
                                                   expected):
    gate = Gate(error=error)
    monkeypatch.setattr(build_module, "build_footprint_version", gate)
    location, _ = _start(client, surveyor)
    gate.release.set()
    done = wait_for_job(client, location)
    assert done["status"] == "failed"
    assert expected in done["message"]
    results = client.get(f"{location}/results", headers=surveyor)
    assert results.status_code == 409 and expected in results.json()["detail"]


def test_restart_fails_the_jobs_of_the_previous_server(settings, store):
    running = store.create_job("build-footprint", {"field": "gh-birim"}, owner="someone")
    store.update_job(running.id, status="running", progress=40, message="simulating")
    queued = store.create_job("delineate", {"field": "gh-birim"})
    finished = store.create_job("delineate", {"field": "gh-birim"})
    store.update_job(finished.id, status="successful", results={"summary": {}})

    with TestClient(create_app(settings)) as client:  # the restart
        for job in (running, queued):
            info = client.get(f"/jobs/{job.id}").json()
            assert info["status"] == "failed"
            assert "restart" in info["message"]
        assert client.get(f"/jobs/{finished.id}").json()["status"] == "successful"
        assert client.get(f"/jobs/{finished.id}/results").status_code == 200


def test_a_running_job_without_heartbeat_is_failed_on_read(client, store):
    dead = store.create_job("build-footprint", {"field": "gh-birim"})
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    store.update_job(dead.id, status="running", heartbeat_at=long_ago)
    alive = store.create_job("build-footprint", {"field": "gh-birim"})
    store.update_job(alive.id, status="running")
    queued = store.create_job("build-footprint", {"field": "gh-birim"})

    info = client.get(f"/jobs/{dead.id}").json()
    assert info["status"] == "failed" and "heartbeat" in info["message"]
    assert client.get(f"/jobs/{alive.id}").json()["status"] == "running"
    assert client.get(f"/jobs/{queued.id}").json()["status"] == "accepted"
    assert store.get_job(dead.id).status == "failed"


def test_unknown_job_is_404(client):
    response = client.get("/jobs/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and response.json()["type"] == "NotFound"
