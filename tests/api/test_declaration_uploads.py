"""Declared statistics uploads and anomaly reports through HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support import deposit_polygons, wait_for_job
from fastapi.testclient import TestClient

from api.app import create_app
from footprint.pipeline.build import build_footprint
from footprint.reports import REPORT_JSON_SCHEMA

#: Small fixture files (tests/data/).
TEST_DATA = Path(__file__).resolve().parents[1] / "data"
EXPORTS_CSV = (TEST_DATA / "exports_mirror.csv").read_text(encoding="utf-8")
BAD_EXPORTS_CSV = (TEST_DATA / "exports_bad.csv").read_text(encoding="utf-8")
CERTIFICATES_CSV = (TEST_DATA / "certificates_sieved.csv").read_text(encoding="utf-8")


def _post_csv(client, path: str, text: str, headers: dict, name: str = "upload.csv"):
    return client.post(path, headers=headers, files={"file": (name, text.encode(), "text/csv")})


@pytest.fixture
def monitor(api_keys):
    return {"X-API-Key": api_keys["monitor"]}


def test_export_statistics_upload_is_stored_and_audited(client, monitor, store):
    response = _post_csv(client, "/declarations/exports", EXPORTS_CSV, monitor)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["rows"] == body["rows_stored"] == 3 and body["participants"] == ["ARE", "GHA"]
    stored = store.declarations("exports")
    assert sorted(stored["participant_iso3"]) == ["ARE", "GHA", "GHA"]
    assert stored.loc[stored["period"] == "2006H1", "carats"].item() == 400_000
    (entry,) = [e for e in store.list_audit() if e.action == "upload_exports"]
    assert entry.sha256 == body["sha256"] and entry.actor == "test-monitor"

    again = _post_csv(client, "/declarations/exports", EXPORTS_CSV, monitor)
    assert again.status_code == 200 and again.json()["duplicate_upload"] is True
    assert len(store.declarations("exports")) == 3


def test_invalid_exports_are_refused_whole_with_every_problem_named(client, monitor, store):
    response = _post_csv(client, "/declarations/exports", BAD_EXPORTS_CSV, monitor)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "carats" in detail and "XYZ" in detail and "line 2" in detail and "line 3" in detail
    assert store.declarations("exports").empty
    assert not [e for e in store.list_audit() if e.action.startswith("upload_")]


def test_certificates_upload_is_stored_per_exporter_and_date(client, monitor, store):
    response = _post_csv(client, "/declarations/certificates", CERTIFICATES_CSV, monitor)
    assert response.status_code == 201, response.text
    stored = store.declarations("certificates", "GHA")
    assert sorted(stored["period"]) == ["2006-03-31", "2006-07-15"]
    first = stored[stored["period"] == "2006-03-31"]["row"].item()
    assert first["sieve_+11"] == pytest.approx(0.2 * 1200.5)  # shares turned into carats


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("reader", 403), ("surveyor", 403)])
def test_declarations_need_the_monitor_role(client, api_keys, store, role, status):
    headers = {"X-API-Key": api_keys[role]} if role else {}
    assert _post_csv(client, "/declarations/exports", EXPORTS_CSV, headers).status_code == status
    assert store.declarations("exports").empty


def test_oversized_declarations_are_413(settings, store, monitor):
    small = settings.model_copy(update={"max_upload_mb": 1})
    with TestClient(create_app(small)) as client:
        huge = EXPORTS_CSV + "GHA,2007,export,,1,1,padding\n" * 60_000
        response = _post_csv(client, "/declarations/exports", huge, monitor)
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    assert store.declarations("exports").empty


def test_report_needs_monitor_and_stored_footprints(client, api_keys):
    params = {"from": 2005, "to": 2007}
    assert client.get("/participants/GHA/report", params=params).status_code == 401
    reader = {"X-API-Key": api_keys["reader"]}
    assert client.get("/participants/GHA/report", params=params, headers=reader).status_code == 403
    monitor = {"X-API-Key": api_keys["monitor"]}
    bad = client.get("/participants/GHA/report", params={"from": 2008, "to": 2005}, headers=monitor)
    assert bad.status_code == 400
    bad_format = client.get("/participants/GHA/report", params={**params, "f": "docx"},
                            headers=monitor)
    assert bad_format.status_code == 400


@pytest.mark.slow
def test_report_as_json_html_and_pdf_from_stored_data(client, monitor, store, settings, tmp_path):
    if not (settings.data_dir / "kp_stats").is_dir():
        pytest.skip("shared data directory absent")
    params = {"from": 2005, "to": 2008}
    missing = client.get("/participants/GHA/report", params=params, headers=monitor)
    assert missing.status_code == 409 and "build-footprint" in missing.json()["detail"]

    store.add_layer("gh-birim", "deposits", "mapped", "d" * 64, crs="EPSG:4326",
                    bounds_4326=None, features=deposit_polygons())
    offline = settings.model_copy(update={"data_dir": tmp_path / "no-data"})
    record = build_footprint("gh-birim", store=store, settings=offline, seed=2, draws=2000)
    assert _post_csv(client, "/declarations/exports", EXPORTS_CSV, monitor).status_code == 201

    as_json = client.get("/participants/GHA/report", params=params, headers=monitor)
    assert as_json.status_code == 200, as_json.text
    report = as_json.json()
    assert set(REPORT_JSON_SCHEMA["required"]) <= set(report)
    assert report["participant"] == "GHA"
    assert f"v{record.version}" in str(report)  # the stored version is named
    html = client.get("/participants/GHA/report", params=params,
                      headers={**monitor, "Accept": "text/html"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "GHA" in html.text
    pdf = client.get("/participants/GHA/report", params={**params, "f": "pdf"}, headers=monitor)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    job = client.post("/processes/anomaly-report/execution",
                      json={"inputs": {"participant": "GHA", "from": 2005, "to": 2008}},
                      headers={**monitor, "Prefer": "respond-async"})
    assert job.status_code == 201
    done = wait_for_job(client, job.headers["Location"], timeout_s=120)
    assert done["status"] == "successful", done
    # a monitor's report is not readable through the job without a monitor key
    assert client.get(job.headers["Location"] + "/results").status_code == 401
    results = client.get(job.headers["Location"] + "/results", headers=monitor).json()
    assert results["report"]["participant"] == "GHA"
