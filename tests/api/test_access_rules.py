"""Access rules that follow from the roles: job results and dismissal, credentials that
are sent malformed, and inputs at the edges (found in review)."""

from __future__ import annotations

import pytest


def _job(store, process_id: str, owner: str, results: dict | None = None):
    job = store.create_job(process_id, {"participant": "GHA", "from": 2005, "to": 2006},
                           owner=owner)
    store.update_job(job.id, status="running")
    store.update_job(job.id, status="successful", progress=100, results=results or {"ok": 1})
    return job


def test_a_monitors_report_is_not_readable_through_its_job_by_others(client, store, api_keys):
    job = _job(store, "anomaly-report", owner="test-monitor", results={"report": {"x": 1}})
    url = f"/jobs/{job.id}/results"
    assert client.get(url).status_code == 401                                   # anonymous
    assert client.get(url, headers={"X-API-Key": api_keys["reader"]}).status_code == 403
    assert client.get(url, headers={"X-API-Key": api_keys["surveyor"]}).status_code == 403
    assert client.get(url, headers={"X-API-Key": api_keys["monitor"]}).json() == {"report": {"x": 1}}
    assert client.get(url, headers={"X-API-Key": api_keys["admin"]}).status_code == 200
    # the status (no results in it) stays a public read
    assert client.get(f"/jobs/{job.id}").status_code == 200


def test_only_the_owner_or_an_admin_dismisses_a_job(client, store, api_keys):
    job = _job(store, "build-footprint", owner="test-surveyor")
    other = client.delete(f"/jobs/{job.id}", headers={"X-API-Key": api_keys["monitor"]})
    assert other.status_code == 403
    assert store.get_job(job.id).status == "successful"
    own = client.delete(f"/jobs/{job.id}", headers={"X-API-Key": api_keys["surveyor"]})
    assert own.status_code == 200 and own.json()["status"] == "dismissed"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer ", "Token abc"])
def test_a_malformed_authorization_header_is_refused_not_ignored(client, header):
    response = client.get("/collections", headers={"Authorization": header})
    assert response.status_code == 401
    assert "bearer" in response.json()["detail"].lower()


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00/.."])
def test_datetimes_at_the_ends_of_the_calendar_are_a_400(client, value):
    response = client.get("/collections/layers-gh-birim/items", params={"datetime": value})
    assert response.status_code == 400, response.text


def test_report_negotiation(store, settings, api_keys, monkeypatch):
    """q-values count, an unservable Accept is a 406, and caches are told to vary."""
    from fastapi.testclient import TestClient

    import api.routers.layers as layers
    from api.app import create_app

    monkeypatch.setattr(layers, "stored_report", lambda *a, **k: {"participant": "GHA"},
                        raising=False)
    import footprint.pipeline.report as report_module

    monkeypatch.setattr(report_module, "stored_report", lambda *a, **k: {"participant": "GHA"})
    monitor = {"X-API-Key": api_keys["monitor"]}
    params = {"from": 2005, "to": 2006}
    with TestClient(create_app(settings)) as client:
        json_wins = client.get("/participants/GHA/report", params=params,
                               headers={**monitor, "Accept": "text/html;q=0, application/json"})
        assert json_wins.status_code == 200, json_wins.text
        assert json_wins.headers["content-type"].startswith("application/json")
        assert "Accept" in json_wins.headers.get("vary", "")
        refused = client.get("/participants/GHA/report", params=params,
                             headers={**monitor, "Accept": "image/png"})
        assert refused.status_code == 406
        upper = client.get("/participants/GHA/report", params={**params, "f": "JSON"},
                           headers=monitor)
        assert upper.status_code == 200


def test_build_results_stay_a_public_read_like_the_footprints(client, store):
    job = _job(store, "build-footprint", owner="test-surveyor", results={"footprint": {"v": 1}})
    assert client.get(f"/jobs/{job.id}/results").json() == {"footprint": {"v": 1}}


def test_a_bad_parameter_sheet_is_refused_before_any_job_exists(client, store, api_keys):
    body = {"inputs": {"field": "gh-birim", "parameters": {"bogus": 1}}}
    for prefer in ({}, {"Prefer": "respond-async"}):
        response = client.post("/processes/build-footprint/execution", json=body,
                               headers={"X-API-Key": api_keys["surveyor"], **prefer})
        assert response.status_code == 400, response.text
    assert store.list_jobs(limit=10, offset=0) == []
