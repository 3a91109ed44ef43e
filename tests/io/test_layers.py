"""Validation of uploaded layers, with hostile and broken inputs."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Point, Polygon, mapping

from footprint.catalogue import get_field
from footprint.errors import InvalidLayerError
from footprint.io.layers import (
    dem_to_cog,
    safe_extract_zip,
    validate_dem_upload,
    validate_vector_layer,
)

AKWATIA = (-0.8211, 6.0194)


@pytest.fixture(scope="module")
def birim():
    return get_field("gh-birim")


def _square(lon: float, lat: float, half_deg: float = 0.002) -> Polygon:
    return Polygon([(lon - half_deg, lat - half_deg), (lon + half_deg, lat - half_deg),
                    (lon + half_deg, lat + half_deg), (lon - half_deg, lat + half_deg)])


def _geojson(features: list[tuple[dict, object]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": p, "geometry": mapping(g)} for p, g in features]}
    ).encode()


def _zip(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _shapefile_zip(tmp_path: Path, frame: gpd.GeoDataFrame, *, drop: str | None = None) -> bytes:
    folder = tmp_path / "shp"
    folder.mkdir()
    frame.to_file(folder / "deposits.shp")
    members = {p.name: p.read_bytes() for p in folder.iterdir()
               if drop is None or p.suffix != drop}
    return _zip(members)


# --- vector layers: accepted ----------------------------------------------------------------

def test_geojson_deposits_are_read_and_typed(birim):
    data = _geojson([({"Thickness_M": "0.6", "grade_ct_m3": 2.5, "deposit_class": "floodplain"},
                      _square(*AKWATIA)),
                     ({"Thickness_M": 1.0, "grade_ct_m3": None, "deposit_class": None},
                      _square(AKWATIA[0] + 0.01, AKWATIA[1]))])
    frame = validate_vector_layer(data, "deposits", birim)
    assert frame.crs.to_epsg() == 4326
    assert frame["thickness_m"].tolist() == [0.6, 1.0]  # renamed and converted
    assert frame["grade_ct_m3"].isna().tolist() == [False, True]


def test_zipped_shapefile_in_utm_is_accepted(tmp_path, birim):
    frame = gpd.GeoDataFrame({"year": [2005, 2012]},
                             geometry=[_square(*AKWATIA), _square(AKWATIA[0], 6.03)],
                             crs=4326).to_crs(32630)
    path = tmp_path / "mined.zip"
    path.write_bytes(_shapefile_zip(tmp_path, frame))
    layer = validate_vector_layer(path, "mined_areas", birim)
    assert layer.crs.to_epsg() == 32630
    assert layer["year"].tolist() == [2005, 2012]


def test_geopackage_pit_logs_are_accepted(tmp_path, birim):
    path = tmp_path / "pits.gpkg"
    gpd.GeoDataFrame({"thickness_m": [0.4, 0.8], "overburden_m": [2.0, 3.5]},
                     geometry=[Point(*AKWATIA), Point(-0.80, 6.05)], crs=4326).to_file(path)
    layer = validate_vector_layer(path, "pit_logs", birim)
    assert len(layer) == 2 and layer["overburden_m"].sum() == pytest.approx(5.5)


# --- vector layers: refused -------------------------------------------------------------------

def test_geojson_far_outside_the_field_is_refused(birim):
    # Lon/lat swapped: the points land in the Gulf of Guinea, ~700 km away.
    data = _geojson([({"volume_m3": 10.0, "carats": 5.0}, Point(AKWATIA[1], AKWATIA[0]))])
    with pytest.raises(InvalidLayerError) as info:
        validate_vector_layer(data, "bulk_samples", birim)
    assert "50 km" in str(info.value) and "lon/lat" in str(info.value)


def test_zip_with_parent_directory_member_is_refused(tmp_path, birim):
    data = _zip({"../../evil.shp": b"x", "ok.txt": b"y"})
    with pytest.raises(InvalidLayerError) as info:
        validate_vector_layer(data, "deposits", birim)
    assert "unsafe path" in str(info.value)
    assert not (tmp_path.parent / "evil.shp").exists()


@pytest.mark.parametrize("name", ["/etc/cron.d/evil", "C:/windows/evil.shp",
                                  "a/../../b.shp", "..\\evil.shp"])
def test_zip_with_absolute_or_escaping_paths_is_refused(tmp_path, name):
    with pytest.raises(InvalidLayerError):
        safe_extract_zip(_zip({name: b"x"}), tmp_path / "out")
    assert not any((tmp_path / "out").rglob("*")) if (tmp_path / "out").exists() else True


def test_zip_with_symlink_is_refused(tmp_path):
    with pytest.raises(InvalidLayerError) as info:
        safe_extract_zip(_zip({"a.txt": b"x"}, symlink="link.shp"), tmp_path / "out")
    assert "symbolic link" in str(info.value)


def test_zip_bomb_over_the_limit_is_refused(tmp_path, birim):
    bomb = _zip({"zeros.shp": b"\0" * (4 << 20)})
    assert len(bomb) < 50_000  # it really is a bomb: tiny compressed, large expanded
    with pytest.raises(InvalidLayerError) as info:
        safe_extract_zip(bomb, tmp_path / "out", max_expanded_bytes=1 << 20)
    assert "expands" in str(info.value)
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file()) \
        if (tmp_path / "out").exists() else 0
    assert written <= 1 << 20


def test_zip_with_lying_size_header_is_refused(tmp_path):
    payload = b"\0" * (3 << 20)
    raw = bytearray(_zip({"zeros.shp": payload}))
    size = len(payload).to_bytes(4, "little")
    tiny = (100).to_bytes(4, "little")
    # Patch the uncompressed size in both headers to claim 100 bytes.
    raw = bytes(raw).replace(size, tiny)
    with pytest.raises(InvalidLayerError):
        safe_extract_zip(raw, tmp_path / "out", max_expanded_bytes=1 << 20)


def test_too_many_members_are_refused(tmp_path):
    with pytest.raises(InvalidLayerError) as info:
        safe_extract_zip(_zip({f"f{i}.txt": b"x" for i in range(10)}), tmp_path / "out",
                         max_members=5)
    assert "members" in str(info.value)


def test_shapefile_without_prj_is_refused_for_missing_crs(tmp_path, birim):
    frame = gpd.GeoDataFrame({"year": [2005]}, geometry=[_square(*AKWATIA)], crs=4326)
    data = _shapefile_zip(tmp_path, frame, drop=".prj")
    with pytest.raises(InvalidLayerError) as info:
        validate_vector_layer(data, "mined_areas", birim)
    assert "coordinate reference system" in str(info.value)


def test_self_intersecting_polygon_is_refused(birim):
    lon, lat = AKWATIA
    bowtie = Polygon([(lon, lat), (lon + 0.01, lat + 0.01), (lon + 0.01, lat), (lon, lat + 0.01)])
    with pytest.raises(InvalidLayerError) as info:
        validate_vector_layer(_geojson([({}, bowtie)]), "deposits", birim)
    assert "invalid geometr" in str(info.value)


def test_wrong_geometry_type_and_schema_errors(birim):
    with pytest.raises(InvalidLayerError, match="Polygon"):
        validate_vector_layer(_geojson([({}, Point(*AKWATIA))]), "deposits", birim)
    with pytest.raises(InvalidLayerError, match="carats"):
        validate_vector_layer(_geojson([({"volume_m3": 3.0}, Point(*AKWATIA))]),
                              "bulk_samples", birim)
    with pytest.raises(InvalidLayerError, match="thickness_m"):
        validate_vector_layer(_geojson([({"thickness_m": -1, "overburden_m": 1},
                                         Point(*AKWATIA))]), "pit_logs", birim)
    with pytest.raises(InvalidLayerError, match="number"):
        validate_vector_layer(_geojson([({"count": "many", "year": 2008}, Point(*AKWATIA))]),
                              "workforce", birim)
    with pytest.raises(InvalidLayerError, match="unknown layer kind"):
        validate_vector_layer(_geojson([({}, Point(*AKWATIA))]), "gold", birim)


def test_garbage_and_empty_uploads_are_refused(tmp_path, birim):
    with pytest.raises(InvalidLayerError, match="unrecognised"):
        validate_vector_layer(b"\x89PNG\r\n\x1a\n....", "deposits", birim)
    with pytest.raises(InvalidLayerError):
        validate_vector_layer(b"", "deposits", birim)
    broken = tmp_path / "broken.geojson"
    broken.write_bytes(_geojson([({}, _square(*AKWATIA))])[:60])
    with pytest.raises(InvalidLayerError) as info:
        validate_vector_layer(broken, "deposits", birim)
    assert str(tmp_path) not in str(info.value)  # no server path leaks


# --- DEM uploads -----------------------------------------------------------------------------

def _dem(path: Path, *, crs="EPSG:4326", transform=None, data=None, nodata=-32768.0,
         dtype="int16") -> Path:
    if data is None:
        yy, xx = np.mgrid[0:120, 0:120]
        data = (100 + xx + yy).astype(dtype)
    if transform is None:
        transform = from_origin(-0.9, 6.1, 1 / 1200, 1 / 1200)  # 3", around Akwatia
    profile = dict(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                   dtype=dtype, nodata=nodata, tiled=True, blockxsize=64, blockysize=64)
    if crs is not None:
        profile["crs"] = crs
    if transform is not False:
        profile["transform"] = transform
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def test_valid_dem_is_described(tmp_path, birim):
    info = validate_dem_upload(_dem(tmp_path / "dem.tif"), birim)
    assert info["min_m"] == 100 and info["max_m"] == 100 + 119 + 119
    assert info["valid_fraction"] == 1.0
    assert 0 < info["aoi_overlap_fraction"] < 1
    assert info["crs"] == "EPSG:4326"


def test_dem_to_cog_writes_a_valid_cog(tmp_path, birim):
    from rio_cogeo.cogeo import cog_validate

    src = _dem(tmp_path / "dem.tif")
    out = dem_to_cog(src, tmp_path / "out" / "dem_cog.tif")
    assert cog_validate(out, quiet=True)[0]
    with rasterio.open(src) as a, rasterio.open(out) as b:
        assert np.array_equal(a.read(1), b.read(1)) and a.transform == b.transform
    assert [p.name for p in out.parent.iterdir()] == ["dem_cog.tif"]


def test_truncated_geotiff_is_refused(tmp_path, birim):
    rng = np.random.default_rng(1)
    data = rng.integers(50, 400, size=(400, 400)).astype("int16")  # incompressible-ish
    path = _dem(tmp_path / "dem.tif", data=data)
    blob = path.read_bytes()
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(InvalidLayerError) as info:
        validate_dem_upload(truncated, birim)
    assert "truncated" in str(info.value) and str(tmp_path) not in str(info.value)


def test_geotiff_without_georeferencing_is_refused(tmp_path, birim):
    path = _dem(tmp_path / "plain.tif", crs=None, transform=False)
    with pytest.raises(InvalidLayerError) as info:
        validate_dem_upload(path, birim)
    assert "coordinate reference system" in str(info.value) or \
        "georeferenced" in str(info.value)


def test_geotiff_with_crs_but_identity_transform_is_refused(tmp_path, birim):
    path = _dem(tmp_path / "identity.tif", transform=False)
    with pytest.raises(InvalidLayerError, match="not georeferenced"):
        validate_dem_upload(path, birim)


def test_dem_outside_the_field_is_refused(tmp_path, birim):
    path = _dem(tmp_path / "zimbabwe.tif", transform=from_origin(32.3, -19.5, 1 / 1200, 1 / 1200))
    with pytest.raises(InvalidLayerError, match="does not overlap"):
        validate_dem_upload(path, birim)


def test_undeclared_nodata_and_non_finite_values_are_refused(tmp_path, birim):
    data = np.full((64, 64), 150, dtype="int16")
    data[:4, :4] = -9999
    with pytest.raises(InvalidLayerError, match="nodata"):
        validate_dem_upload(_dem(tmp_path / "a.tif", data=data, nodata=None), birim)
    # declared, the same file is fine
    assert validate_dem_upload(_dem(tmp_path / "b.tif", data=data, nodata=-9999), birim)[
        "valid_fraction"] == pytest.approx(1 - 16 / 64**2)
    floats = np.full((64, 64), 150.0, dtype="float32")
    floats[0, 0] = np.inf
    with pytest.raises(InvalidLayerError, match="infinite"):
        validate_dem_upload(_dem(tmp_path / "c.tif", data=floats, nodata=None,
                                 dtype="float32"), birim)


def test_non_raster_upload_is_refused(tmp_path, birim):
    path = tmp_path / "notes.tif"
    path.write_text("this is not a raster")
    with pytest.raises(InvalidLayerError):
        validate_dem_upload(path, birim)


def test_stac_item_describes_the_cog(tmp_path):
    from footprint.io.layers import dem_stac_item

    cog = dem_to_cog(_dem(tmp_path / "dem.tif"), tmp_path / "cog.tif")
    item = dem_stac_item(cog, "gh-birim-dem-test", href="rasters/gh-birim/cog.tif",
                         properties={"footprint:field": "gh-birim"})
    assert item["id"] == "gh-birim-dem-test"
    assert item["assets"]["data"]["href"] == "rasters/gh-birim/cog.tif"
    assert item["properties"]["footprint:field"] == "gh-birim"
    assert item["properties"]["proj:epsg"] == 4326 or \
        item["properties"].get("proj:code") == "EPSG:4326"
    west, south, east, north = item["bbox"]
    assert west == pytest.approx(-0.9) and north == pytest.approx(6.1)
    assert east == pytest.approx(-0.9 + 0.1) and south == pytest.approx(6.0)


def test_dem_decoding_beyond_the_size_cap_is_refused_before_reading(tmp_path, birim,
                                                                       monkeypatch):
    """The decoded size (pixels x bytes per sample) is capped from the header, whatever
    the file size (issue 11 row 4: 622 kB decoding to 415 MB)."""
    from footprint.io import layers

    data = np.full((600, 600), 150.0, dtype="float64")  # compresses to almost nothing
    path = _dem(tmp_path / "big.tif", data=data, dtype="float64", nodata=-9999.0)
    assert validate_dem_upload(path, birim)["dtype"] == "float64"
    monkeypatch.setattr(layers, "MAX_DEM_DECODED_BYTES", 600 * 600 * 8 - 1)
    reads = []
    monkeypatch.setattr(layers, "Window", lambda *a: reads.append(a))  # the scan's windows
    with pytest.raises(InvalidLayerError, match="decodes to"):
        validate_dem_upload(path, birim)
    assert reads == []  # refused from the header, before any pixel was read


def test_dem_in_one_huge_strip_is_refused(tmp_path, birim):
    """A one-strip raster would be decoded whole to read any window of it."""
    data = np.full((2100, 2100), 150.0, dtype="float64")  # one strip of 35 MB decoded
    path = tmp_path / "strip.tif"
    with rasterio.open(path, "w", driver="GTiff", width=2100, height=2100, count=1,
                       dtype="float64", crs="EPSG:4326", nodata=-9999.0, compress="deflate",
                       blockysize=2100, transform=from_origin(-0.9, 6.1, 1 / 3600, 1 / 3600)) as dst:
        dst.write(data, 1)
    with rasterio.open(path) as src:
        assert src.block_shapes[0] == (2100, 2100)
    with pytest.raises(InvalidLayerError, match="tiled"):
        validate_dem_upload(path, birim)


def test_dem_in_utm_is_accepted_and_described(tmp_path, birim):
    """A projected DEM is accepted: builds reproject it (issue 11 row 4b)."""
    yy, xx = np.mgrid[0:100, 0:100]
    path = _dem(tmp_path / "utm.tif", crs="EPSG:32630", data=(100 + xx + yy).astype("int16"),
                transform=from_origin(700000, 670000, 90, 90))
    info = validate_dem_upload(path, birim)
    assert info["crs"] == "EPSG:32630" and info["aoi_overlap_fraction"] > 0
