"""Strict OGC API - Features: unknown parameters, CQL2, sortby, properties, queryables,
CRS, HTML, per-feature dates, and the immutable, pre-serialised reads of a version."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from shapely.geometry import shape
from synthetic_footprint import GRID, square

DEPOSITS = "/collections/deposits-gh-birim/items"
N = GRID * GRID


@pytest.mark.parametrize("url", ["/", "/collections", "/collections/deposits-gh-birim",
                                 DEPOSITS, "/conformance"])
def test_unknown_parameter_is_400_naming_it(client, footprint, url):
    response = client.get(url, params={"foo": "bar"})
    assert response.status_code == 400
    assert "foo" in response.json()["detail"]


def test_unknown_parameter_on_an_item_is_400(client, footprint):
    response = client.get(f"{DEPOSITS}/{footprint.version}-0", params={"limit": "3"})
    assert response.status_code == 400 and "limit" in response.json()["detail"]


def test_cql2_text_and_json_filter_deposits(client, footprint):
    floodplain = sum(1 for i in range(GRID) for j in range(GRID) if (i + j) % 2)
    text = client.get(DEPOSITS, params={"filter": "deposit_class = 'floodplain'", "limit": 100})
    assert text.status_code == 200, text.text
    body = text.json()
    assert body["numberMatched"] == floodplain == len(body["features"])
    assert {f["properties"]["deposit_class"] for f in body["features"]} == {"floodplain"}
    as_json = {"op": "and", "args": [{"op": "=", "args": [{"property": "deposit_class"},
                                                           "floodplain"]},
                                     {"op": "like", "args": [{"property": "cell"}, "0,%"]}]}
    both = client.get(DEPOSITS, params={"filter": json.dumps(as_json),
                                        "filter-lang": "cql2-json", "limit": 100}).json()
    assert {f["properties"]["cell"] for f in both["features"]} == {
        f"0,{j}" for j in range(GRID) if j % 2}
    # numbers compare as numbers, on a column and on a JSON property alike
    big = client.get(DEPOSITS, params={"filter": "area_m2 > 0 AND cell IN ('1,1','2,3')"}).json()
    assert sorted(f["properties"]["cell"] for f in big["features"]) == ["1,1", "2,3"]


@pytest.mark.parametrize("bad", ["depth_m > 2", "deposit_class = ", "INTERSECTS(geometry, POINT(0 0))"])
def test_bad_or_unsupported_filter_is_400(client, footprint, bad):
    response = client.get(DEPOSITS, params={"filter": bad})
    assert response.status_code == 400
    if bad.startswith("depth_m"):
        assert "depth_m" in response.json()["detail"]


def test_filter_lang_unknown_is_400(client, footprint):
    response = client.get(DEPOSITS, params={"filter": "mode = 'terrain'", "filter-lang": "fes"})
    assert response.status_code == 400 and "fes" in response.json()["detail"]


def test_sortby_and_properties(client, footprint):
    down = client.get(DEPOSITS, params={"sortby": "-cell", "limit": 3,
                                        "properties": "cell"}).json()
    cells = [f["properties"]["cell"] for f in down["features"]]
    assert cells == sorted((f"{i},{j}" for i in range(GRID) for j in range(GRID)),
                           reverse=True)[:3]
    assert all(set(f["properties"]) == {"cell"} for f in down["features"])
    assert client.get(DEPOSITS, params={"sortby": "nope"}).status_code == 400


def test_queryables_and_schema_type_numbers_as_numbers(client, footprint):
    queryables = client.get("/collections/deposits-gh-birim/queryables")
    assert queryables.headers["content-type"].startswith("application/schema+json")
    props = queryables.json()["properties"]
    assert props["area_m2"]["type"] == "number" and props["deposit_class"]["type"] == "string"
    assert props["cell"]["type"] == "string"
    schema = client.get("/collections/deposits-gh-birim/schema").json()
    assert schema["properties"]["area_m2"]["type"] == ["number", "null"]
    described = client.get("/collections/deposits-gh-birim").json()
    assert any(link["rel"] == "describedby" for link in described["links"])


def test_gdal_finds_cql_text_and_the_queryables_it_can_read(client, footprint):
    """What GDAL's OAPIF driver (3.6 to 3.12) needs before it sends a filter: the items
    operation at /collections/{collectionId}/items with ``cql-text`` among the
    ``filter-lang`` values, a ``queryables`` link, and the draft's list of names in a
    document typed as the JSON it asked for."""
    spec = client.get("/openapi.json").json()
    items = spec["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    lang = next(p for p in items if p["name"] == "filter-lang")
    assert "cql-text" in lang["schema"]["enum"] and "cql2-text" in lang["schema"]["enum"]
    described = client.get("/collections/deposits-gh-birim").json()
    queryables_url = next(link["href"] for link in described["links"]
                          if link["rel"] == "queryables")
    as_gdal = client.get(queryables_url,
                         headers={"Accept": "application/geo+json, application/json"})
    assert as_gdal.headers["content-type"].startswith("application/json")
    listed = {q["id"]: q["type"] for q in as_gdal.json()["queryables"]}
    assert listed["deposit_class"] == "string" and listed["area_m2"] == "number"
    assert set(listed) == set(as_gdal.json()["properties"])
    assert client.get(queryables_url).headers["content-type"].startswith(
        "application/schema+json")


@pytest.mark.parametrize("where", ["deposit_class = 'floodplain'",
                                   "(deposit_class ILIKE 'FLOOD%') AND (area_m2 > 0)",
                                   "NOT (deposit_class <> 'floodplain')"])
def test_cql_text_as_gdal_writes_it(client, footprint, where):
    floodplain = sum(1 for i in range(GRID) for j in range(GRID) if (i + j) % 2)
    body = client.get(DEPOSITS, params={"filter": where, "filter-lang": "cql-text",
                                        "limit": 100}).json()
    assert body["numberMatched"] == floodplain
    assert {f["properties"]["deposit_class"] for f in body["features"]} == {"floodplain"}


def test_crs_and_bbox_crs(client, footprint):
    plain = client.get(f"{DEPOSITS}/{footprint.version}-0").json()
    lon, lat = shape(plain["geometry"]).centroid.coords[0]
    mercator = client.get(f"{DEPOSITS}/{footprint.version}-0",
                          params={"crs": "http://www.opengis.net/def/crs/EPSG/0/3857"})
    assert mercator.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/3857>"
    x, y = shape(mercator.json()["geometry"]).centroid.coords[0]
    assert abs(x - lon * 20037508.34 / 180) < 50 and y < 2e6 and y > 0
    latlon = client.get(f"{DEPOSITS}/{footprint.version}-0", params={"crs": "EPSG:4326"}).json()
    first = latlon["geometry"]["coordinates"][0][0]
    assert first == plain["geometry"]["coordinates"][0][0][::-1]
    assert client.get(DEPOSITS, params={"crs": "EPSG:27700"}).status_code == 400
    everything = client.get(DEPOSITS, params={"limit": 100}).json()
    one = shape(everything["features"][0]["geometry"]).centroid
    # the same box in UTM 30N (the field's zone) selects the same deposit
    from pyproj import Transformer
    to_utm = Transformer.from_crs("OGC:CRS84", "EPSG:32630", always_xy=True)
    x0, y0 = to_utm.transform(one.x, one.y)
    box_utm = f"{x0 - 5},{y0 - 5},{x0 + 5},{y0 + 5}"
    picked = client.get(DEPOSITS, params={"bbox": box_utm, "bbox-crs":
                                          "http://www.opengis.net/def/crs/EPSG/0/32630"}).json()
    assert [f["id"] for f in picked["features"]] == [everything["features"][0]["id"]]


def test_html_pages(client, footprint):
    for url in ("/", "/collections", "/collections/deposits-gh-birim", DEPOSITS,
                f"{DEPOSITS}/{footprint.version}-0"):
        response = client.get(url, params={"f": "html"})
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert "<iframe" in response.text
    assert "floodplain" in client.get(DEPOSITS, params={"f": "html"}).text


def test_item_by_id_any_version_and_unknown_id_is_404(client, footprint):
    one = client.get(f"{DEPOSITS}/{footprint.version}-3")
    assert one.status_code == 200 and one.json()["id"] == f"{footprint.version}-3"
    for missing in (f"{footprint.version}-{N}", "999-0", "x-1", "1-2-3", "-1"):
        assert client.get(f"{DEPOSITS}/{missing}").status_code == 404
    assert client.get(f"{DEPOSITS}/{footprint.version}-3",
                      params={"version": footprint.version + 1}).status_code == 404


def test_version_pages_are_immutable_with_etag_and_gzip(client, footprint):
    url = f"{DEPOSITS}?limit=20&version={footprint.version}"
    first = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert first.status_code == 200 and first.headers["content-encoding"] == "gzip"
    assert "immutable" in first.headers["cache-control"]
    assert first.json()["numberReturned"] == 20
    again = client.get(url, headers={"If-None-Match": first.headers["etag"],
                                     "Accept-Encoding": "gzip"})
    assert again.status_code == 304 and again.content == b""
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.headers["etag"] != first.headers["etag"]
    assert plain.json() == first.json()
    latest = client.get(f"{DEPOSITS}?limit=20")
    assert "immutable" not in latest.headers["cache-control"] and latest.headers["etag"]
    item = client.get(f"{DEPOSITS}/{footprint.version}-1")
    assert "immutable" in item.headers["cache-control"]


def test_stored_text_is_what_the_store_serialises(store, footprint):
    page = store.deposit_page("gh-birim", limit=N)
    features, matched = store.deposit_features("gh-birim", limit=N)
    assert matched == page.number_matched == N
    assert [json.loads(t) for t in page.features] == features
    bbox = store.deposit_page("gh-birim", bbox_4326=shape(features[7]["geometry"]).bounds)
    assert "-7" in json.loads(bbox.features[0])["id"] or bbox.number_matched >= 1


def _add_pits(store, name, sha, years, layer_year=None):
    frame = gpd.GeoDataFrame({"year": years}, geometry=[square(i, i) for i in range(len(years))],
                             crs=4326)
    record, _ = store.add_layer("gh-birim", "mined_areas", name, sha * 64, crs="EPSG:4326",
                                bounds_4326=None, year=layer_year, features=frame)
    return record


def test_datetime_uses_each_pits_own_year(client, store):
    _add_pits(store, "pits", "d", [2005, 2010, 2015])
    _add_pits(store, "more pits", "e", [2011, 2020])
    url = "/collections/mined-areas-gh-birim/items"
    body = client.get(url, params={"datetime": "2009-01-01/2012-12-31"}).json()
    assert sorted(f["properties"]["year"] for f in body["features"]) == [2010, 2011]
    assert body["numberMatched"] == 2
    open_ended = client.get(url, params={"datetime": "../..", "limit": 2}).json()
    assert open_ended["numberMatched"] == 5 and open_ended["numberReturned"] == 2
    filtered = client.get(url, params={"filter": "year >= 2015", "sortby": "year"}).json()
    assert [f["properties"]["year"] for f in filtered["features"]] == [2015, 2020]


def test_layer_feature_by_id_is_a_lookup(client, store):
    record = _add_pits(store, "pits", "f", [2001, 2002])
    got = client.get(f"/collections/mined-areas-gh-birim/items/{record.id}-1").json()
    assert got["properties"]["year"] == 2002 and got["properties"]["layer_id"] == record.id
    assert client.get(f"/collections/mined-areas-gh-birim/items/{record.id}-9").status_code == 404
    assert client.get(f"/collections/deposits-gh-birim/items/{record.id}-1").status_code == 404
