"""Error bodies name no server directory: paths read <data_dir>/... or a file name."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from footprint.errors import DataMissingError, public_text


def test_an_error_naming_server_paths_answers_without_them(settings, store, tmp_path):
    app = create_app(settings)

    def boom() -> None:
        raise DataMissingError(f"DEM file not found: {settings.data_dir}/dem/N05W001.hgt; "
                               f"also {tmp_path}/elsewhere/rivers.gpkg")

    app.add_api_route("/boom", boom)
    with TestClient(app) as client:
        response = client.get("/boom")
    assert response.status_code == 409, response.text  # DataMissing: the status table
    detail = response.json()["detail"]
    assert "<data_dir>/dem/N05W001.hgt" in detail and "rivers.gpkg" in detail
    assert str(settings.data_dir) not in detail and str(tmp_path) not in detail


def test_urls_keep_their_paths():
    text = "see https://example.org/a/b/c.tif"
    assert public_text(text, {}) == text
