"""What a long-running server keeps: the response caches within their budget, counted in
full, and glibc's free pages handed back (the soak's RSS growth, issue 11)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from api.cache import CachedBody, Prepared, ResponseCache, ResponseIndex, cache_of, index_of
from footprint.native_memory import bound_gdal_cache

GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None


def _body(n_bytes: int, seed: int = 0) -> CachedBody:
    text = ",".join(str(seed * 7919 + i) for i in range(n_bytes // 6))
    return CachedBody.of(text.encode()[:n_bytes])


def test_an_answer_counts_both_bodies_and_its_headers():
    body = _body(20_000)
    assert body.gzipped is not None and len(body.gzipped) > 0
    prepared = Prepared.of(body, "application/geo+json", immutable=True,
                           headers={"Content-Crs": "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"})
    header_bytes = sum(len(k) + len(v) for k, v in
                       [*prepared.plain_headers, *(prepared.gzip_headers or [])])
    assert prepared.size >= len(body.raw) + len(body.gzipped) + header_bytes


@pytest.mark.parametrize("lru", [ResponseCache, ResponseIndex])
def test_an_lru_never_holds_more_than_its_budget(lru):
    budget = 200_000
    cache = lru(budget)
    held = []
    for i in range(60):
        body = _body(5_000 + 300 * i, seed=i)
        value = body if lru is ResponseCache else Prepared.of(body, "application/json",
                                                              immutable=True)
        cache.put(("k", i), value)
        held.append(value)
        sizes = [v.size for v in cache._entries.values()]
        assert cache._bytes == sum(sizes) <= budget
    assert cache.peek(("k", 59)) is held[59] and cache.peek(("k", 0)) is None


def test_the_budget_is_the_settings_one(settings, app):
    settings.response_cache_mb = 10

    class Request:  # what cache_of reads of a request
        def __init__(self, app):
            self.app = app

    assert cache_of(Request(app)).max_bytes + index_of(app).max_bytes == 10 * 2**20


def test_zero_turns_the_caches_off(settings, app):
    settings.response_cache_mb = 0
    index = index_of(app)
    index.put("url", Prepared.of(_body(2_000), "application/json", immutable=True))
    assert index.peek("url") is None


def test_an_operator_gdal_cachemax_is_kept(monkeypatch):
    monkeypatch.setenv("GDAL_CACHEMAX", "512")
    bound_gdal_cache(64)
    assert os.environ["GDAL_CACHEMAX"] == "512"
    monkeypatch.delenv("GDAL_CACHEMAX")
    bound_gdal_cache(64)
    assert os.environ["GDAL_CACHEMAX"] == "64"


FRAGMENTED = textwrap.dedent("""
    import sys
    from footprint.native_memory import release_free_memory, tune_allocator
    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    assert tune_allocator(2, 1024)
    blocks = [bytearray(64 * 1024) for _ in range(3000)]  # 190 MB from the arena
    kept = blocks[::50]  # one in fifty stays: the heap cannot shrink from its top
    del blocks
    before = rss_mb()
    released = release_free_memory()
    print(released, before, rss_mb(), len(kept))
""")


@pytest.mark.skipif(not GLIBC, reason="glibc malloc only")
def test_freed_arena_pages_go_back_to_the_system():
    out = subprocess.run([sys.executable, "-c", FRAGMENTED], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    released, before_mb, after_mb = out[0], float(out[1]), float(out[2])
    assert released == "True"
    assert before_mb - after_mb > 100  # of the ~185 MB freed but held

