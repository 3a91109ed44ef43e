"""OGC API - Features through HTTP: landing, conformance, collections, items, paging."""

from __future__ import annotations

import pytest
from shapely.geometry import box, shape
from synthetic_footprint import GAP, GRID, ORIGIN, SIDE, square

from api.ogc import GEOJSON_MEDIA_TYPE
from footprint.catalogue import load_catalogue
from footprint.errors import NotFoundError
from footprint.settings import get_settings

CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
GEOJSON = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"


def rels(body):
    return {link["rel"]: link["href"] for link in body["links"]}


def test_landing_page_links_to_api_conformance_and_data(client):
    body = client.get("/").json()
    links = rels(body)
    for rel in ("self", "service-desc", "conformance", "data"):
        assert rel in links
    # the links resolve
    assert client.get(links["conformance"]).status_code == 200
    assert client.get(links["data"]).status_code == 200
    assert client.get(links["service-desc"]).json()["info"]["title"] == body["title"]


def test_conformance_declares_core_and_geojson(client):
    conforms = client.get("/conformance").json()["conformsTo"]
    assert CORE in conforms and GEOJSON in conforms


def test_collections_cover_every_field(client):
    body = client.get("/collections").json()
    ids = {c["id"] for c in body["collections"]}
    assert "fields" in ids
    for field_id in load_catalogue():
        for prefix in ("deposits", "mined-areas", "layers"):
            assert f"{prefix}-{field_id}" in ids
    described = client.get("/collections/deposits-gh-birim").json()
    assert described["itemType"] == "feature"
    west, south, east, north = described["extent"]["spatial"]["bbox"][0]
    aoi = load_catalogue()["gh-birim"].aoi_4326
    assert box(west, south, east, north).contains(aoi.buffer(-1e-9))
    assert rels(described)["items"].endswith("/collections/deposits-gh-birim/items")


def test_unknown_collection_is_404_ogc_exception(client):
    response = client.get("/collections/deposits-atlantis/items")
    assert response.status_code == 404
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert body["status"] == 404 and body["type"] == "NotFound" and "atlantis" in body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]


def test_fields_items_are_geojson_aois(client):
    response = client.get("/collections/fields/items", params={"limit": 100})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GEOJSON_MEDIA_TYPE)
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == body["numberReturned"] == len(load_catalogue())
    for feature in body["features"]:
        geometry = shape(feature["geometry"])
        assert geometry.is_valid
        assert geometry.equals_exact(load_catalogue()[feature["id"]].aoi_4326, 1e-9)
    one = client.get("/collections/fields/items/zw-marange").json()
    assert one["id"] == "zw-marange" and shape(one["geometry"]).bounds[1] < -19


def test_deposits_page_through_next_links(client, footprint):
    url = "/collections/deposits-gh-birim/items?limit=10"
    seen, pages = [], 0
    while url:
        body = client.get(url).json()
        pages += 1
        assert body["numberMatched"] == GRID * GRID
        assert body["numberReturned"] == len(body["features"]) <= 10
        seen += [f["id"] for f in body["features"]]
        links = rels(body)
        assert "collection" in links and "self" in links
        if pages > 1:
            assert "prev" in links
        url = links.get("next")
    assert pages == 3
    assert len(seen) == len(set(seen)) == GRID * GRID


def test_prev_link_returns_previous_page(client, footprint):
    first = client.get("/collections/deposits-gh-birim/items", params={"limit": 4}).json()
    second = client.get(rels(first)["next"]).json()
    back = client.get(rels(second)["prev"]).json()
    assert [f["id"] for f in back["features"]] == [f["id"] for f in first["features"]]
    assert not {f["id"] for f in first["features"]} & {f["id"] for f in second["features"]}


def test_bbox_keeps_only_intersecting_deposits(client, footprint):
    # a box strictly inside columns 0-1 and rows 0-1 of the lattice: 4 squares
    west, south = ORIGIN[0] + SIDE / 2, ORIGIN[1] + SIDE / 2
    east, north = ORIGIN[0] + SIDE + GAP + SIDE / 2, ORIGIN[1] + SIDE + GAP + SIDE / 2
    body = client.get("/collections/deposits-gh-birim/items",
                      params={"bbox": f"{west},{south},{east},{north}", "limit": 100}).json()
    assert body["numberMatched"] == 4
    assert {f["properties"]["cell"] for f in body["features"]} == {"0,0", "0,1", "1,0", "1,1"}
    window = box(west, south, east, north)
    assert all(shape(f["geometry"]).intersects(window) for f in body["features"])
    # a box in the gap between squares matches nothing
    gap_west = ORIGIN[0] + SIDE + GAP / 4
    empty = client.get("/collections/deposits-gh-birim/items",
                       params={"bbox": f"{gap_west},{ORIGIN[1]},{gap_west + GAP / 2},{ORIGIN[1] + 0.2}"}).json()
    assert empty["numberMatched"] == 0 and empty["features"] == []


def test_bbox_paging_links_keep_the_bbox(client, footprint):
    bbox = f"{ORIGIN[0]},{ORIGIN[1]},{ORIGIN[0] + 1},{ORIGIN[1] + 1}"
    body = client.get("/collections/deposits-gh-birim/items", params={"bbox": bbox, "limit": 3}).json()
    assert "bbox=" in rels(body)["next"]


BAD_BBOXES = ["1,2,3", "a,b,c,d", "0,0,1", "10,0,5,1", "0,10,1,5", "-200,0,0,1", "0,-95,1,0",
              "nan,0,1,1", "1,2,3,4,5"]


def test_bad_bbox_is_400_ogc_exception(client):
    for bbox in BAD_BBOXES:
        response = client.get("/collections/fields/items", params={"bbox": bbox})
        assert response.status_code == 400, bbox
        body = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert body["type"] == "InvalidParameterValue" and body["status"] == 400
        assert body["detail"] and body["request_id"]
    # empty means no filter; the 6-number form (with heights) is accepted
    assert client.get("/collections/fields/items", params={"bbox": ""}).status_code == 200
    assert client.get("/collections/fields/items",
                      params={"bbox": "-1.2,5.8,0,-0.5,6.3,100"}).json()["numberMatched"] == 1


def test_limit_above_server_maximum_is_clamped(app, store, footprint):
    from fastapi.testclient import TestClient

    app.state.settings = app.state.settings.model_copy(update={"max_items_limit": 7})
    with TestClient(app) as client:
        body = client.get("/collections/deposits-gh-birim/items", params={"limit": 1000}).json()
    assert body["numberReturned"] == 7 and body["numberMatched"] == GRID * GRID
    assert "limit=7" in rels(body)["next"]


BAD_PARAMS = [{"limit": 0}, {"limit": -3}, {"offset": -1}, {"limit": "ten"},
              {"datetime": "yesterday"}, {"datetime": "2010-01-01/2009-01-01"},
              {"datetime": ".."}, {"datetime": "2010-01-01/2011-01-01/2012-01-01"}]


def test_bad_paging_and_datetime_are_400(client):
    for params in BAD_PARAMS:
        response = client.get("/collections/mined-areas-gh-birim/items", params=params)
        assert response.status_code == 400, params
        assert response.json()["status"] == 400


def test_deposit_item_and_versions(client, store, footprint):
    body = client.get("/collections/deposits-gh-birim/items", params={"limit": 1}).json()
    feature_id = body["features"][0]["id"]
    one = client.get(f"/collections/deposits-gh-birim/items/{feature_id}")
    assert one.status_code == 200 and one.json()["id"] == feature_id
    assert one.headers["content-type"].startswith(GEOJSON_MEDIA_TYPE)
    assert client.get("/collections/deposits-gh-birim/items/no-such-id").status_code == 404
    # version 1 stays addressable after a second version with fewer deposits
    import geopandas as gpd

    store.add_footprint("gh-birim", deposits=gpd.GeoDataFrame(geometry=[square(0, 0)], crs=4326),
                        seed=1, n_draws=100, code_version="test", sheet_sha256=None,
                        parameters={}, summaries={}, provenance={}, draws_path=None, rasters={})
    latest = client.get("/collections/deposits-gh-birim/items").json()
    assert latest["numberMatched"] == 1
    first = client.get("/collections/deposits-gh-birim/items", params={"version": 1}).json()
    assert first["numberMatched"] == GRID * GRID
    assert client.get("/collections/deposits-gh-birim/items", params={"version": 9}).status_code == 404


def test_deposits_of_field_without_footprint_are_empty(client):
    body = client.get("/collections/deposits-zw-marange/items").json()
    assert body["numberMatched"] == 0 and body["features"] == []


def _add_mined(store, year, cell, sha):
    import geopandas as gpd

    record, _ = store.add_layer("gh-birim", "mined_areas", f"pits {year}", sha * 64, crs="EPSG:4326",
                                bounds_4326=None, year=year,
                                features=gpd.GeoDataFrame({"pit": [cell]}, geometry=[square(*cell)],
                                                          crs=4326))
    return record


def test_mined_areas_filter_by_datetime(client, store):
    _add_mined(store, 2008, (0, 0), "a")
    _add_mined(store, 2010, (1, 1), "b")
    _add_mined(store, 2012, (2, 2), "c")
    url = "/collections/mined-areas-gh-birim/items"
    everything = client.get(url).json()
    assert everything["numberMatched"] == 3
    years = lambda body: sorted(f["properties"]["year"] for f in body["features"])  # noqa: E731
    assert years(everything) == [2008, 2010, 2012]
    assert years(client.get(url, params={"datetime": "2009-01-01T00:00:00Z/2011-06-30T00:00:00Z"}).json()) == [2010]
    assert years(client.get(url, params={"datetime": "2010-06-15T12:00:00Z"}).json()) == [2010]
    assert years(client.get(url, params={"datetime": "../2010-12-31"}).json()) == [2008, 2010]
    assert years(client.get(url, params={"datetime": "2010-01-01/.."}).json()) == [2010, 2012]
    page = client.get(url, params={"datetime": "2008-01-01/..", "limit": 2, "offset": 2}).json()
    assert page["numberMatched"] == 3 and years(page) == [2012]
    assert client.get(url, params={"datetime": "1990-01-01/1991-01-01"}).json()["numberMatched"] == 0
    layers = client.get("/collections/layers-gh-birim/items").json()
    assert layers["numberMatched"] == 3
    assert {f["properties"]["layer_kind"] for f in layers["features"]} == {"mined_areas"}


@pytest.mark.slow
@pytest.mark.skipif(not (get_settings().data_dir / "mining").is_dir(), reason="no shared data")
def test_usgs_mines_bbox_around_akwatia(client):
    field = load_catalogue()["gh-birim"]
    body = client.get("/collections/usgs-mines/items",
                      params={"bbox": ",".join(map(str, field.bbox_4326)), "limit": 100}).json()
    assert body["numberMatched"] >= 2
    window = box(*field.bbox_4326)
    assert all(window.intersects(shape(f["geometry"])) for f in body["features"])
    assert any(f["properties"]["is_diamond"] for f in body["features"])
    everything = client.get("/collections/usgs-mines/items", params={"limit": 1}).json()
    assert everything["numberMatched"] > body["numberMatched"]


def test_a_field_collection_is_found_without_reading_the_usgs_points(settings):
    """The first items request of a process does not wait for the USGS points (about
    0.3 s): only `usgs-mines` and the list of collections read them."""
    from api import feature_collections

    feature_collections.usgs_mine_points.cache_clear()
    feature_collections._collections_of.cache_clear()
    found = feature_collections.get_collection("deposits-gh-birim", settings)
    assert found.versioned_field == "gh-birim"
    assert feature_collections.usgs_mine_points.cache_info().currsize == 0
    assert feature_collections.get_collection("usgs-mines", settings) is \
        feature_collections.collections(settings)["usgs-mines"]
    assert feature_collections.usgs_mine_points.cache_info().currsize == 1
    with pytest.raises(NotFoundError):
        feature_collections.get_collection("nope", settings)
