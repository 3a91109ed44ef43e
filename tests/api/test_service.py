"""Roles, request ids, the error model, health and readiness, through HTTP."""

from __future__ import annotations

import json
import logging
import re
from typing import Annotated

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import Principal, require_role
from footprint.storage.store import Store

ROLES = ("reader", "surveyor", "monitor", "admin")


def _with_probe_routes(app):
    """Writes guarded like the upload and declared-data routes, to test the role rules."""

    @app.post("/probe/survey-upload")
    def survey_upload(who: Annotated[Principal, Depends(require_role("surveyor"))]) -> dict:
        return {"actor": who.name, "role": who.role}

    @app.post("/probe/declaration-upload")
    def declaration_upload(who: Annotated[Principal, Depends(require_role("monitor"))]) -> dict:
        return {"actor": who.name, "role": who.role}

    @app.get("/probe/boom")
    def boom() -> dict:
        raise RuntimeError("database password is hunter2")

    return app


@pytest.fixture
def private_client(settings, store):
    app = _with_probe_routes(create_app(settings.model_copy(update={"public_reads": False})))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def public_client(settings, store):
    app = _with_probe_routes(create_app(settings.model_copy(update={"public_reads": True})))
    with TestClient(app) as client:
        yield client


# expected status per caller for: a read, a survey upload, a declaration upload, the audit log
MATRIX = {
    None: (401, 401, 401, 401),
    "reader": (200, 403, 403, 403),
    "surveyor": (200, 200, 403, 403),
    "monitor": (200, 403, 200, 403),
    "admin": (200, 200, 200, 200),
}


def test_role_matrix_with_private_reads(private_client, api_keys):
    for role, expected in MATRIX.items():
        headers = {} if role is None else {"X-API-Key": api_keys[role]}
        got = (private_client.get("/collections", headers=headers).status_code,
               private_client.post("/probe/survey-upload", headers=headers).status_code,
               private_client.post("/probe/declaration-upload", headers=headers).status_code,
               private_client.get("/audit", headers=headers).status_code)
        assert got == expected, role


def test_bearer_token_works_like_the_header(private_client, api_keys):
    response = private_client.post("/probe/survey-upload",
                                   headers={"Authorization": f"Bearer {api_keys['surveyor']}"})
    assert response.status_code == 200
    assert response.json() == {"actor": "test-surveyor", "role": "surveyor"}


def test_unknown_and_revoked_keys_are_401(private_client, store, api_keys):
    assert private_client.get("/collections", headers={"X-API-Key": "fpk_nope"}).status_code == 401
    record, token = store.create_api_key("leaver", "admin")
    assert private_client.get("/audit", headers={"X-API-Key": token}).status_code == 200
    store.revoke_api_key(record.id)
    response = private_client.get("/audit", headers={"X-API-Key": token})
    assert response.status_code == 401
    assert response.json()["type"] == "Unauthorized" and "www-authenticate" in response.headers


def test_public_reads_open_reads_only(public_client, api_keys):
    assert public_client.get("/collections").status_code == 200
    assert public_client.get("/fields/gh-birim").status_code == 200
    assert public_client.post("/probe/survey-upload").status_code == 401
    assert public_client.get("/audit").status_code == 401
    # a key that is sent must be valid, even on a public read
    assert public_client.get("/collections", headers={"X-API-Key": "fpk_typo"}).status_code == 401
    forbidden = public_client.get("/audit", headers={"X-API-Key": api_keys["monitor"]})
    assert forbidden.status_code == 403 and forbidden.json()["type"] == "Forbidden"


def test_audit_lists_writes_newest_first(public_client, store, api_keys):
    store.record_audit("key:1", "layer.upload", "gh-birim/deposits/1", sha256="a" * 64)
    store.record_audit("key:2", "declarations.upload", "exports", sha256="b" * 64)
    entries = public_client.get("/audit", headers={"X-API-Key": api_keys["admin"]}).json()["entries"]
    assert [e["action"] for e in entries] == ["declarations.upload", "layer.upload"]
    assert entries[1]["sha256"] == "a" * 64


def test_request_id_is_echoed_or_made(public_client):
    echoed = public_client.get("/healthz", headers={"X-Request-ID": "trace-42.a"})
    assert echoed.headers["x-request-id"] == "trace-42.a"
    made = public_client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    hostile = public_client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert hostile.headers["x-request-id"] != "x" * 500
    error = public_client.get("/collections/nope", headers={"X-Request-ID": "trace-43"})
    assert error.json()["request_id"] == "trace-43" == error.headers["x-request-id"]


def test_unexpected_error_is_500_without_detail(public_client, caplog):
    with caplog.at_level(logging.ERROR, logger="api"):
        response = public_client.get("/probe/boom", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    body = response.json()
    assert body["type"] == "NoApplicableCode" and body["request_id"] == "boom-1"
    assert "hunter2" not in response.text
    assert any("hunter2" in (r.exc_text or "") or "hunter2" in str(r.exc_info) for r in caplog.records)


def test_access_log_is_one_json_line_per_request(public_client, api_keys, capsys):
    public_client.get("/collections/fields", headers={"X-Request-ID": "log-1",
                                                      "X-API-Key": api_keys["reader"]})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{") and '"log-1"' in line]
    access = [line for line in lines if line["logger"] == "api.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["method"] == "GET" and entry["path"] == "/collections/fields"
    assert entry["status"] == 200 and entry["actor"] == "test-reader"
    assert entry["duration_ms"] >= 0


def test_gzip_for_clients_that_accept_it(public_client):
    response = public_client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert response.headers.get("content-encoding") == "gzip"
    assert response.json()["openapi"].startswith("3.")


def test_cors_only_for_configured_origins(settings, store):
    app = create_app(settings.model_copy(update={"cors_origins": ["https://maps.example.org"]}))
    with TestClient(app) as client:
        allowed = client.get("/healthz", headers={"Origin": "https://maps.example.org"})
        other = client.get("/healthz", headers={"Origin": "https://evil.example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://maps.example.org"
    assert "access-control-allow-origin" not in other.headers


def test_healthz_and_readyz(public_client):
    assert public_client.get("/healthz").json() == {"status": "ok"}
    ready = public_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "data_dir": "ok",
                                                                  "storage": "ok"}


def test_readyz_fails_without_data_dir_or_database(settings, store, tmp_path):
    app = create_app(settings.model_copy(update={"data_dir": tmp_path / "absent"}))
    with TestClient(app) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["data_dir"] != "ok"
        opened = app.state.store
        # nothing listens on port 1: the database is unreachable
        app.state.store = Store("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
        try:
            assert client.get("/readyz").json()["checks"]["database"] != "ok"
            assert client.get("/healthz").status_code == 200
        finally:
            opened.dispose()


def test_openapi_documents_the_error_model(public_client):
    spec = public_client.get("/openapi.json").json()
    assert "Problem" in spec["components"]["schemas"]
    items = spec["paths"]["/collections/{collectionId}/items"]["get"]
    assert items["summary"].startswith("A page of features")
    for status in ("400", "401", "403", "404", "500"):
        schema = items["responses"][status]["content"]["application/problem+json"]["schema"]
        assert schema["$ref"] == "#/components/schemas/Problem"
    assert "422" not in items["responses"]
    assert "example" in items["responses"]["200"]["content"]["application/geo+json"]


def test_collections_are_listed_without_the_usgs_data(settings, tmp_path, monkeypatch):
    """A data directory without the USGS points drops that collection, nothing else."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from footprint.settings import get_settings

    monkeypatch.setenv("FOOTPRINT_DATA_DIR", str(tmp_path / "empty-data"))
    (tmp_path / "empty-data").mkdir()
    get_settings.cache_clear()
    with TestClient(create_app(get_settings())) as client:
        response = client.get("/collections")
        assert response.status_code == 200, response.text
        ids = {c["id"] for c in response.json()["collections"]}
        assert "fields" in ids and "deposits-gh-birim" in ids and "usgs-mines" not in ids
        assert client.get("/collections/usgs-mines/items").status_code == 404
