"""OGC API - Tiles: vector tiles of deposits and mined areas, raster tiles, TileJSON."""

from __future__ import annotations

import io

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import numpy as np
import pytest
from PIL import Image
from synthetic_footprint import GRID, ORIGIN, RASTER_ORIGIN, square

from footprint.settings import get_settings

TMS = morecantile.tms.get("WebMercatorQuad")
DEPOSITS = "/collections/deposits-gh-birim/tiles/WebMercatorQuad"


def _tile(lon, lat, zoom=11):
    tile = TMS.tile(lon, lat, zoom)
    return tile.z, tile.x, tile.y


def test_deposit_tile_holds_every_deposit_with_its_class(client, footprint):
    z, x, y = _tile(ORIGIN[0] + 0.03, ORIGIN[1] + 0.03)
    response = client.get(f"{DEPOSITS}/{z}/{x}/{y}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layer = mapbox_vector_tile.decode(response.content)["deposits"]
    indexes = sorted(f["properties"]["feature_index"] for f in layer["features"])
    assert indexes == list(range(GRID * GRID))
    classes = {f["properties"]["feature_index"]: f["properties"]["deposit_class"]
               for f in layer["features"]}
    assert classes[1] == "floodplain" and classes[0] == "active_channel"
    assert all(f["geometry"]["type"] == "Polygon" for f in layer["features"])


def test_deposit_tiles_are_immutable_per_version(client, footprint):
    z, x, y = _tile(ORIGIN[0] + 0.03, ORIGIN[1] + 0.03)
    pinned = client.get(f"{DEPOSITS}/{z}/{x}/{y}", params={"version": footprint.version})
    assert "immutable" in pinned.headers["cache-control"]
    again = client.get(f"{DEPOSITS}/{z}/{x}/{y}", params={"version": footprint.version},
                       headers={"If-None-Match": pinned.headers["etag"]})
    assert again.status_code == 304
    latest = client.get(f"{DEPOSITS}/{z}/{x}/{y}")
    assert "immutable" not in latest.headers["cache-control"]
    assert client.get(f"{DEPOSITS}/{z}/{x}/{y}",
                      params={"version": footprint.version + 1}).status_code == 404


def test_empty_and_invalid_tiles(client, footprint):
    z, x, y = _tile(30.0, -19.0)  # Zimbabwe: no Birim deposit there
    assert client.get(f"{DEPOSITS}/{z}/{x}/{y}").status_code == 204
    assert client.get(f"{DEPOSITS}/3/9/0").status_code == 400
    assert client.get("/collections/deposits-gh-birim/tiles/WorldCRS84Quad/3/1/1").status_code == 404
    assert client.get("/collections/fields/tiles").status_code == 404


def test_tilesets_and_tilejson(client, footprint):
    tilesets = client.get("/collections/deposits-gh-birim/tiles").json()["tilesets"]
    assert tilesets[0]["dataType"] == "vector"
    tilejson = client.get(f"{DEPOSITS}/tilejson.json").json()
    assert tilejson["tilejson"] == "3.0.0" and tilejson["tiles"][0].endswith("/{z}/{x}/{y}")
    tms = client.get("/tileMatrixSets/WebMercatorQuad").json()
    assert tms["id"] == "WebMercatorQuad"
    conforms = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in conforms


def test_mined_area_tiles_carry_each_pits_year(client, store):
    frame = gpd.GeoDataFrame({"year": [2009, 2011]}, geometry=[square(0, 0), square(1, 1)],
                             crs=4326)
    record, _ = store.add_layer("gh-birim", "mined_areas", "pits", "a" * 64, crs="EPSG:4326",
                                bounds_4326=None, year=None, features=frame)
    z, x, y = _tile(ORIGIN[0] + 0.01, ORIGIN[1] + 0.01)
    response = client.get(f"/collections/mined-areas-gh-birim/tiles/WebMercatorQuad/{z}/{x}/{y}")
    layer = mapbox_vector_tile.decode(response.content)["mined_areas"]
    assert sorted(f["properties"]["year"] for f in layer["features"]) == [2009, 2011]
    assert {f["properties"]["layer_id"] for f in layer["features"]} == {record.id}


def test_raster_tile_tilejson_and_legend(client, footprint):
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(32630, 4326, always_xy=True).transform(
        RASTER_ORIGIN[0] + 1000, RASTER_ORIGIN[1] - 800)
    z, x, y = _tile(lon, lat, 12)
    url = f"/fields/gh-birim/footprint/rasters/hand_m/tiles/WebMercatorQuad/{z}/{x}/{y}.png"
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))
    assert image.shape == (256, 256, 4) and (image[..., 3] > 0).any()
    tilejson = client.get("/fields/gh-birim/footprint/rasters/hand_m/tilejson.json").json()
    assert f"version={footprint.version}" in tilejson["tiles"][0]
    legend = client.get(tilejson["legend"].replace("http://testserver", "")).json()
    assert legend["min"] < legend["max"] and len(legend["stops"]) == 9
    assert client.get("/fields/gh-birim/footprint/rasters/nope/tilejson.json").status_code == 404



@pytest.mark.parametrize("z", [1, 5, 17])
def test_raster_tiles_outside_the_tilejson_zooms_are_404_at_once(client, footprint, z):
    """A whole-continent DEM tile would read every cell of the mosaic: only the TileJSON's
    zoom range is served, and a tile outside it is refused before any raster is opened."""
    tilejson = client.get("/fields/gh-birim/footprint/rasters/dem/tilejson.json").json()
    assert not tilejson["minzoom"] <= z <= tilejson["maxzoom"]
    response = client.get(f"/fields/gh-birim/footprint/rasters/dem/tiles/WebMercatorQuad/"
                          f"{z}/0/0.png")
    assert response.status_code == 404
    assert f"zooms {tilejson['minzoom']}-{tilejson['maxzoom']}" in response.json()["detail"]

@pytest.mark.slow
@pytest.mark.skipif(not (get_settings().data_dir / "dem" / "srtm3").is_dir(),
                    reason="no bundled DEM tiles")
@pytest.mark.parametrize("name", ["dem", "hillshade"])
def test_dem_and_hillshade_tiles_from_bundled_srtm(client, name):
    z, x, y = _tile(-0.8, 6.05, 11)
    response = client.get(f"/fields/gh-birim/footprint/rasters/{name}/tiles/WebMercatorQuad/"
                          f"{z}/{x}/{y}.png")
    assert response.status_code == 200
    image = np.asarray(Image.open(io.BytesIO(response.content)).convert("L"), dtype=float)
    assert image.std() > 5  # relief, not a flat fill


HAS_SRTM = (get_settings().data_dir / "dem" / "srtm3").is_dir()


def test_raster_layers_of_a_field_follow_its_version(client, footprint, store):
    """The map's raster list: the version's rasters (pinned to it), then the field's DEM
    and hillshade where SRTM tiles cover it, each with a TileJSON and legend that work."""
    doc = client.get("/fields/gh-birim/footprint/raster-layers").json()
    assert doc["field_id"] == "gh-birim" and doc["version"] == footprint.version
    by_name = {r["name"]: r for r in doc["rasters"]}
    hand = by_name["hand_m"]
    assert hand["version"] == footprint.version
    assert hand["tilejson"]["tiles"][0].endswith(f".png?version={footprint.version}")
    # the raster's own extent (2 x 3 km), not the whole field: no tile asked where it is not
    west, south, east, north = hand["tilejson"]["bounds"]
    assert 0.01 < east - west < 0.05 and 0.01 < north - south < 0.05
    assert hand["legend"] == client.get(
        hand["tilejson"]["legend"].replace("http://testserver", "")).json()
    if HAS_SRTM:
        assert [r["name"] for r in doc["rasters"]][:2] == ["hillshade", "dem"]
        assert by_name["hillshade"]["version"] is None
        assert "version=" not in by_name["dem"]["tilejson"]["tiles"][0]
        assert by_name["dem"]["legend"]["unit"] == "m"
    # an older version lists its own rasters; an unknown one is a 404
    pinned = client.get("/fields/gh-birim/footprint/raster-layers",
                        params={"version": footprint.version}).json()
    assert pinned == doc
    assert client.get("/fields/gh-birim/footprint/raster-layers",
                      params={"version": footprint.version + 1}).status_code == 404
    assert client.get("/fields/nowhere/footprint/raster-layers").status_code == 404
    assert client.get("/fields/gh-birim/footprint/raster-layers",
                      params={"foo": "1"}).status_code == 400


def test_raster_layers_of_fields_without_a_version(client):
    # no footprint anywhere: only the bundled DEM rasters, where SRTM covers the field
    seguela = client.get("/fields/ci-seguela/footprint/raster-layers").json()
    assert seguela == {"field_id": "ci-seguela", "version": None, "rasters": []}
    togo = client.get("/fields/tg-plateaux/footprint/raster-layers").json()
    assert togo["version"] is None
    assert [r["name"] for r in togo["rasters"]] == (["hillshade", "dem"] if HAS_SRTM else [])
