"""Survey-layer uploads through HTTP: good files are stored, hostile ones leave nothing.

Every hostile upload must get a 4xx with a message, and afterwards the field's layer
list, the database's layer rows and the files under the state directory (rasters,
upload scratch space) must be exactly what they were before.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from _support import (
    AKWATIA,
    deposit_polygons,
    files_under,
    mined_areas,
    truncate,
    write_dem,
    write_traversal_zip,
    write_vector,
    write_zip_bomb,
    write_zipped_shapefile,
)
from fastapi.testclient import TestClient
from rio_cogeo.cogeo import cog_validate

from api.app import create_app

MAX_UPLOAD_MB = 1


@pytest.fixture
def small_limit_client(settings, store):
    """The service with a 1 MB upload limit (zip expansion limit 8 MB)."""
    with TestClient(create_app(settings.model_copy(update={"max_upload_mb": MAX_UPLOAD_MB}))) as c:
        yield c


@pytest.fixture
def surveyor(api_keys):
    return {"X-API-Key": api_keys["surveyor"]}


def upload(client, headers, path: Path, kind: str, field: str = "gh-birim", **fields):
    with open(path, "rb") as handle:
        return client.post(f"/fields/{field}/layers", headers=headers,
                           files={"file": (path.name, handle, "application/octet-stream")},
                           data={"kind": kind, **{k: str(v) for k, v in fields.items()}})


def snapshot(client, store, settings) -> tuple:
    """What a rejected upload must not change."""
    listed = client.get("/fields/gh-birim/layers").json()["layers"]
    return (listed, [(layer.id, layer.sha256) for layer in store.list_layers()],
            files_under(settings.state_dir / "rasters"), files_under(settings.state_dir / "uploads"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------- good files
def test_dem_upload_becomes_a_valid_cog_with_a_stac_item(client, surveyor, store, settings,
                                                         tmp_path):
    dem = write_dem(tmp_path / "akwatia_dem.tif")
    response = upload(client, surveyor, dem, "dem", name="Akwatia survey DEM", year=2009)
    assert response.status_code == 201, response.text
    layer = response.json()
    assert layer["kind"] == "dem" and layer["version"] == 1 and layer["year"] == 2009
    assert layer["sha256"] == sha256(dem)
    assert response.headers["Location"].endswith(f"/fields/gh-birim/layers/{layer['id']}")

    cog = settings.state_dir / store.get_layer(layer["id"]).path
    assert cog.is_file() and cog.is_relative_to(settings.state_dir / "rasters")
    valid, errors, _ = cog_validate(cog, quiet=True)
    assert valid, errors
    with rasterio.open(dem) as src, rasterio.open(cog) as out:
        assert out.crs == src.crs
        assert (out.read(1) == src.read(1)).all()  # lossless
    west, south, east, north = layer["bbox_4326"]
    assert west < AKWATIA[0] < east and south < AKWATIA[1] < north
    stac = layer["stac"]
    assert stac["type"] == "Feature" and stac["assets"]["data"]["href"].endswith(cog.name)
    assert any("projection" in ext for ext in stac["stac_extensions"])
    assert client.get(f"/fields/gh-birim/layers/{layer['id']}").json()["sha256"] == layer["sha256"]
    (entry,) = [e for e in store.list_audit() if e.action == "upload_layer"]
    assert entry.actor == "test-surveyor" and entry.sha256 == layer["sha256"]
    assert not files_under(settings.state_dir / "uploads")  # scratch space cleaned


def test_srtm_hgt_tile_upload_is_georeferenced_by_its_name(client, surveyor, store, settings,
                                                           tmp_path):
    rows, cols = np.indices((1201, 1201))
    heights = (120 + (rows % 50) + (cols % 30)).astype(">i2")  # big-endian int16, metres
    tile = tmp_path / "N06W001.hgt"  # lat 6..7 N, lon 1..0 W: holds Akwatia's north
    tile.write_bytes(heights.tobytes())
    response = upload(client, surveyor, tile, "dem")
    assert response.status_code == 201, response.text
    west, south, east, north = response.json()["bbox_4326"]
    assert (west, south, east, north) == pytest.approx((-1.0, 6.0, 0.0, 7.0), abs=0.001)
    with rasterio.open(settings.state_dir / store.get_layer(response.json()["id"]).path) as cog:
        assert cog.read(1).max() == heights.max()


def test_vector_uploads_geojson_gpkg_and_zipped_shapefile(client, surveyor, store, tmp_path):
    deposits = write_vector(tmp_path / "deposits.geojson", deposit_polygons())
    mined = write_zipped_shapefile(tmp_path / "mined.zip", mined_areas(), tmp_path)
    samples = deposit_polygons().assign(volume_m3=[120.0, 80.0], carats=[200.0, 90.0])
    samples_file = write_vector(tmp_path / "samples.gpkg", samples)

    created = {kind: upload(client, surveyor, path, kind)
               for kind, path in (("deposits", deposits), ("mined_areas", mined),
                                  ("bulk_samples", samples_file))}
    for kind, response in created.items():
        assert response.status_code == 201, (kind, response.text)
        assert response.json()["kind"] == kind
    assert created["mined_areas"].json()["n_features"] == 3
    features, matched = store.layer_features(created["mined_areas"].json()["id"], limit=10)
    assert matched == 3 and sorted(f["properties"]["year"] for f in features) == [2006, 2007, 2007]
    assert {f["geometry"]["type"] for f in features} == {"Polygon"}
    listed = client.get("/fields/gh-birim/layers").json()["layers"]
    assert sorted(layer["kind"] for layer in listed) == ["bulk_samples", "deposits", "mined_areas"]
    only = client.get("/fields/gh-birim/layers", params={"kind": "deposits"}).json()["layers"]
    assert [layer["kind"] for layer in only] == ["deposits"]


def test_identical_reupload_returns_the_stored_layer(client, surveyor, store, tmp_path):
    deposits = write_vector(tmp_path / "deposits.geojson", deposit_polygons())
    first = upload(client, surveyor, deposits, "deposits")
    again = upload(client, surveyor, deposits, "deposits", name="another name")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["version"] == 1
    assert len(store.list_layers("gh-birim")) == 1
    changed = write_vector(tmp_path / "deposits2.geojson", deposit_polygons(lat=AKWATIA[1] + 0.01))
    assert upload(client, surveyor, changed, "deposits").json()["version"] == 2


def test_upload_with_rebuild_starts_a_footprint_job(settings, store, surveyor, tmp_path):
    offline = settings.model_copy(update={"data_dir": tmp_path / "no-data", "draws": 2000})
    from _support import wait_for_job

    with TestClient(create_app(offline)) as client:
        deposits = write_vector(tmp_path / "deposits.geojson", deposit_polygons())
        response = upload(client, surveyor, deposits, "deposits", rebuild="true")
        assert response.status_code == 201, response.text
        job = response.json()["job"]
        assert job["processID"] == "build-footprint"
        done = wait_for_job(client, next(link["href"] for link in job["links"] if link["rel"] == "self"))
        assert done["status"] == "successful", done
    record = store.latest_footprint("gh-birim")
    layer_id = response.json()["id"]
    assert record.provenance["input_checksums"][f"layer:deposits:{layer_id}"] == sha256(deposits)


# ------------------------------------------------------------------------- hostile files
def _hostile_files(tmp_path: Path) -> dict[str, tuple[str, Path, str]]:
    """name -> (kind, file, words (``|``-separated) one of which the message must contain)."""
    far = deposit_polygons(lon=30.0, lat=-20.0)
    no_georef = write_dem(tmp_path / "no_georef.tif", georeferenced=False)
    wrong_schema = deposit_polygons().assign(volume=[1.0, 2.0])  # bulk_samples needs volume_m3
    big = tmp_path / "big.geojson"
    big.write_bytes(b'{"type": "FeatureCollection", "features": []' + b" " * (MAX_UPLOAD_MB << 21)
                    + b"}")
    return {
        "zip with ../ members": (
            "mined_areas", write_traversal_zip(tmp_path / "evil.zip", mined_areas(), tmp_path),
            "unsafe path"),
        "truncated GeoTIFF": ("dem", truncate(write_dem(tmp_path / "cut.tif")), "truncated"),
        "GeoTIFF without georeferencing": ("dem", no_georef, "coordinate reference system|georeferenced"),
        "GeoJSON far outside the field": (
            "deposits", write_vector(tmp_path / "far.geojson", far), "km from the field"),
        "zip expanding past the limit": (
            "mined_areas", write_zip_bomb(tmp_path / "bomb.zip", 20 << 20), "expands"),
        "wrong attribute schema": (
            "bulk_samples", write_vector(tmp_path / "samples.geojson", wrong_schema), "volume_m3"),
        "too large": ("deposits", big, "limit"),
        "not a layer at all": ("deposits", _text(tmp_path / "notes.txt"), "unrecognised"),
        "DEM far from the field": (
            "dem", write_dem(tmp_path / "far.tif", lon=30.0, lat=-20.0), "does not overlap"),
    }


def _text(path: Path) -> Path:
    path.write_text("these are field notes, not a layer\n")
    return path


HOSTILE = ["zip with ../ members", "truncated GeoTIFF", "GeoTIFF without georeferencing",
           "GeoJSON far outside the field", "zip expanding past the limit",
           "wrong attribute schema", "too large", "not a layer at all", "DEM far from the field"]


def test_hostile_uploads_are_refused_and_leave_nothing_behind(small_limit_client, surveyor,
                                                              store, settings, tmp_path):
    client = small_limit_client
    good = write_vector(tmp_path / "good.geojson", deposit_polygons())
    assert upload(client, surveyor, good, "deposits").status_code == 201
    before = snapshot(client, store, settings)
    audit_before = len(store.list_audit())
    hostile = _hostile_files(tmp_path)
    assert sorted(hostile) == sorted(HOSTILE)

    for case in HOSTILE:
        kind, path, word = hostile[case]
        response = upload(client, surveyor, path, kind)
        assert 400 <= response.status_code < 500, (case, response.text)
        detail = response.json()["detail"]
        assert any(w.lower() in detail.lower() for w in word.split("|")), (case, detail)
        assert str(tmp_path) not in detail, case  # no server paths in messages
        if case == "too large":
            assert response.status_code == 413
        assert snapshot(client, store, settings) == before, case
        assert len(store.list_audit()) == audit_before, case


def test_traversal_zip_writes_nothing_outside_the_scratch_space(small_limit_client, surveyor,
                                                                settings, tmp_path):
    evil = write_traversal_zip(tmp_path / "evil.zip", mined_areas(), tmp_path)
    names = zipfile.ZipFile(evil).namelist()
    assert all(name.startswith("../") for name in names)
    before = files_under(settings.state_dir.parent)
    assert upload(small_limit_client, surveyor, evil, "mined_areas").status_code == 400
    assert files_under(settings.state_dir.parent) == before


@pytest.mark.parametrize(("form", "word"), [
    ({"kind": "gravel"}, "kind"),
    ({"kind": "mined_areas", "year": "last year"}, "year"),
    ({"kind": "deposits", "rebuild": "perhaps"}, "rebuild"),
])
def test_bad_form_fields_are_400(client, surveyor, store, tmp_path, form, word):
    path = write_vector(tmp_path / "d.geojson", deposit_polygons())
    with open(path, "rb") as handle:
        response = client.post("/fields/gh-birim/layers", headers=surveyor,
                               files={"file": (path.name, handle)}, data=form)
    assert response.status_code == 400 and word in response.json()["detail"]
    assert store.list_layers() == []


def test_upload_roles_and_unknown_field(client, api_keys, tmp_path):
    path = write_vector(tmp_path / "d.geojson", deposit_polygons())
    assert upload(client, {}, path, "deposits").status_code == 401
    assert upload(client, {"X-API-Key": api_keys["reader"]}, path, "deposits").status_code == 403
    assert upload(client, {"X-API-Key": api_keys["monitor"]}, path, "deposits").status_code == 403
    admin = upload(client, {"X-API-Key": api_keys["admin"]}, path, "deposits")
    assert admin.status_code == 201
    missing = upload(client, {"X-API-Key": api_keys["surveyor"]}, path, "deposits", field="xx-none")
    assert missing.status_code == 404
    assert client.get("/fields/gh-birim/layers/999999").status_code == 404
