"""STAC: a catalog, a collection per field, an item per footprint version, every asset
href served by the API, each document valid against the STAC 1.1 schemas, offline."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pystac
import pytest
import rasterio
from pystac.validation import validate_dict
from rasterio.io import MemoryFile

pytestmark = pytest.mark.usefixtures("footprint")


@pytest.fixture
def offline(monkeypatch):
    """Any connection that is not to loopback fails (schemas must resolve locally)."""
    real_connect = socket.socket.connect

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("::1", "localhost")
                                          or host.startswith("/")):
            raise OSError(f"network blocked in this test: {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def _path(href: str) -> str:
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _rels(document: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for entry in document["links"]:
        found.setdefault(entry["rel"], []).append(entry["href"])
    return found


def test_catalog_collection_and_item_validate_offline(client, footprint, offline):
    catalog = client.get("/stac").json()
    validate_dict(catalog)
    assert {"self", "root", "child"} <= set(_rels(catalog))
    child = next(h for h in _rels(catalog)["child"] if h.endswith("/stac/gh-birim"))

    collection = client.get(_path(child)).json()
    validate_dict(collection)
    rels = _rels(collection)
    assert {"self", "root", "parent"} <= set(rels)
    assert len(rels["item"]) == 1 and rels["item"][0].endswith(f"/stac/gh-birim/{footprint.version}")

    response = client.get(_path(rels["item"][0]))
    assert response.status_code == 200
    item = response.json()
    validate_dict(item)
    assert item["collection"] == "gh-birim" and item["properties"]["footprint:version"] == 1
    assert {"self", "root", "parent", "collection"} <= set(_rels(item))
    assert {"hand_m", "dem", "hillshade", "draws", "deposits"} <= set(item["assets"])
    # pystac reads it back as an item of the collection
    assert pystac.Item.from_dict(item).collection_id == "gh-birim"


def test_every_asset_href_is_served(client, footprint):
    item = client.get(f"/stac/gh-birim/{footprint.version}").json()
    for name, asset in item["assets"].items():
        response = client.get(_path(asset["href"]))
        assert response.status_code == 200, (name, response.text[:200])
        assert response.headers["content-type"].split(";")[0] == asset["type"].split(";")[0]
        if "geotiff" in asset["type"]:
            with MemoryFile(response.content) as memory, memory.open() as raster:
                assert raster.count == 1 and raster.crs is not None
        if name == "deposits":
            assert response.json()["numberMatched"] == footprint.n_deposits


def test_hillshade_is_shade_of_the_dem(client):
    dem = client.get("/fields/gh-birim/rasters/dem")
    shade = client.get("/fields/gh-birim/rasters/hillshade")
    with MemoryFile(dem.content) as a, a.open() as dem_raster, \
            MemoryFile(shade.content) as b, b.open() as shade_raster:
        assert dem_raster.shape == shade_raster.shape
        assert dem_raster.transform == shade_raster.transform
        values = shade_raster.read(1)
        assert shade_raster.nodata == 0 and values.max() > values.min() + 50
        elevation = dem_raster.read(1, masked=True)
        assert 0 < float(elevation.mean()) < 1000  # SRTM metres in southern Ghana
    assert rasterio.dtypes.uint8 == shade_raster.dtypes[0]


def test_a_broken_item_fails_validation(client, footprint, offline):
    item = client.get(f"/stac/gh-birim/{footprint.version}").json()
    del item["properties"]["datetime"]
    with pytest.raises(pystac.errors.STACValidationError):
        validate_dict(item)


def test_missing_version_and_unknown_parameter(client, footprint):
    assert client.get("/stac/gh-birim/99").status_code == 404
    assert client.get("/stac/no-such-field").status_code == 404
    refused = client.get("/stac", params={"foo": "bar"})
    assert refused.status_code == 400 and "foo" in refused.text
    assert client.get("/fields/gh-birim/rasters/hand").status_code in (400, 404)
