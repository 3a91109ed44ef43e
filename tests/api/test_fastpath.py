"""The fast path answers a published URL without the route, and only where the route
would have answered the same: anonymous public reads, JSON, the current latest version."""

from __future__ import annotations

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.cache import ResponseCache
from api.feature_collections import collections
from tests.api.synthetic_footprint import square

ITEMS = "/collections/deposits-gh-birim/items"


@pytest.fixture
def reads(settings):
    """Counts the store reads of the deposits collection."""
    calls = []
    collection = collections(settings)["deposits-gh-birim"]
    original = collection.read

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    object.__setattr__(collection, "read", counted)
    yield calls
    object.__setattr__(collection, "read", original)


def test_a_published_page_is_answered_without_the_store(client, footprint, reads):
    first = client.get(ITEMS, params={"limit": 5})
    client.app.state.response_cache = ResponseCache()  # the route would have to rebuild
    again = client.get(ITEMS, params={"limit": 5})
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert again.headers["content-crs"] and again.headers["x-content-type-options"] == "nosniff"
    assert "x-request-id" in again.headers
    assert len(reads) == 1
    # a conditional request is a 304 from the fast path too
    cached = client.get(ITEMS, params={"limit": 5},
                        headers={"If-None-Match": first.headers["etag"]})
    assert cached.status_code == 304 and len(reads) == 1


def test_html_and_credentials_go_to_the_route(client, footprint, reads):
    client.get(ITEMS, params={"limit": 5})
    html = client.get(ITEMS, params={"limit": 5}, headers={"Accept": "text/html"})
    assert html.headers["content-type"].startswith("text/html")
    bad_key = client.get(ITEMS, params={"limit": 5}, headers={"X-API-Key": "not-a-key"})
    assert bad_key.status_code == 401


def test_latest_urls_follow_a_new_version(client, store, footprint):
    before = client.get(ITEMS).json()
    assert before["numberMatched"] == footprint.n_deposits
    store.add_footprint("gh-birim", deposits=gpd.GeoDataFrame(geometry=[square(0, 0)], crs=4326),
                        seed=1, n_draws=10, code_version="test", sheet_sha256=None,
                        parameters={}, summaries={}, provenance={}, draws_path=None, rasters={})
    after = client.get(ITEMS).json()
    assert after["numberMatched"] == 1
    pinned = client.get(ITEMS, params={"version": footprint.version})
    assert pinned.json()["numberMatched"] == footprint.n_deposits
    assert "immutable" in pinned.headers["cache-control"]


def test_private_reads_are_never_answered_from_the_index(settings, store, footprint,
                                                          api_keys):
    private = settings.model_copy(update={"public_reads": False})
    with TestClient(create_app(private)) as client:
        key = {"X-API-Key": api_keys["reader"]}
        assert client.get(ITEMS, headers=key).status_code == 200  # published
        assert client.get(ITEMS).status_code == 401
        assert client.get(ITEMS, headers=key).status_code == 200
