"""The fast path answers a published URL without the route, and only where the route
would have answered the same: anonymous public reads, JSON, the current latest version."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient

import api.cache as cache_module
from api.app import create_app
from api.cache import LatestVersions, ResponseCache
from api.feature_collections import collections
from tests.api.synthetic_footprint import square

ITEMS = "/collections/deposits-gh-birim/items"
REPO = Path(__file__).resolve().parents[2]


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


# --------------------------------------------------------------------------------------
# The latest version: read behind the requests, never waited for while it is usable


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class _SlowStore:
    """A store whose latest-version query blocks until released, counting the queries."""

    footprint_generation = 0

    def __init__(self, version: int | None) -> None:
        self.version = version
        self.queries = 0
        self.release = threading.Event()
        self.fail = False

    def latest_footprint_version(self, field_id: str) -> int | None:
        self.queries += 1
        assert self.release.wait(10), "the test never released the query"
        if self.fail:
            raise OSError("database down")
        return self.version


@pytest.fixture
def clock(monkeypatch):
    found = _Clock()
    monkeypatch.setattr(cache_module, "time", found)
    return found


def test_a_stale_latest_version_is_answered_while_one_query_rereads_it(clock):
    async def scenario() -> None:
        latest, store = LatestVersions(fresh_s=1.0, ttl_s=2.0), _SlowStore(3)
        store.release.set()
        assert await latest.current("f", store) == 3 and store.queries == 1
        clock.now += 0.5  # fresh: no query
        assert await latest.current("f", store) == 3 and store.queries == 1
        store.version, store.release = 4, threading.Event()
        clock.now += 1.0  # stale but usable: answered at once, re-read behind
        answers = await asyncio.gather(*(latest.current("f", store) for _ in range(20)))
        assert answers == [3] * 20
        store.release.set()
        for _ in range(100):  # the background query finishes
            await asyncio.sleep(0.01)
            if await latest.current("f", store) == 4:
                break
        assert await latest.current("f", store) == 4 and store.queries == 2
    asyncio.run(scenario())


def test_past_its_ttl_or_after_a_new_version_the_latest_is_waited_for(clock):
    async def scenario() -> None:
        latest, store = LatestVersions(fresh_s=1.0, ttl_s=2.0), _SlowStore(3)
        store.release.set()
        await latest.current("f", store)
        store.version = 4
        clock.now += 2.5  # too old to use: every caller waits for the one query
        answers = await asyncio.gather(*(latest.current("f", store) for _ in range(20)))
        assert answers == [4] * 20 and store.queries == 2
        store.version, store.footprint_generation = 5, 1  # this process recorded a version
        assert await latest.current("f", store) == 5 and store.queries == 3
    asyncio.run(scenario())


def test_a_failed_background_reread_surfaces_only_once_the_version_is_too_old(clock):
    async def scenario() -> None:
        latest, store = LatestVersions(fresh_s=1.0, ttl_s=2.0), _SlowStore(3)
        store.release.set()
        await latest.current("f", store)
        store.fail = True
        clock.now += 1.5
        assert await latest.current("f", store) == 3  # the re-read fails behind it
        await asyncio.sleep(0.05)
        clock.now += 1.0
        with pytest.raises(OSError, match="database down"):
            await latest.current("f", store)
    asyncio.run(scenario())


_OTHER_PROCESS_BUILD = """
import sys
import geopandas as gpd
from shapely.geometry import box
from footprint.storage.store import Store

with Store(sys.argv[1], state_dir=sys.argv[2]) as store:
    store.add_footprint("gh-birim", deposits=gpd.GeoDataFrame(
        geometry=[box(-1.0, 5.9, -0.99, 5.91)], crs=4326), seed=1, n_draws=10,
        code_version="test", sheet_sha256=None, parameters={}, summaries={}, provenance={},
        draws_path=None, rasters={})
"""


def test_a_version_built_by_another_process_is_served_within_the_ttl(settings, store,
                                                                     footprint):
    app = create_app(settings)
    app.state.latest_versions = LatestVersions(fresh_s=0.2, ttl_s=0.6)
    with TestClient(app) as client:
        assert client.get(ITEMS).json()["numberMatched"] == footprint.n_deposits
        subprocess.run([sys.executable, "-c", _OTHER_PROCESS_BUILD,
                        settings.effective_database_url, str(settings.state_dir)],
                       check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        time.sleep(0.7)  # past the TTL (this process has not recorded the version)
        assert client.get(ITEMS).json()["numberMatched"] == 1
