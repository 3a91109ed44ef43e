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



SURVIVORS = textwrap.dedent("""
    from footprint.native_memory import release_free_memory, tune_allocator
    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    tune_allocator(2, 1024)
    rows = [{"id": i, "name": f"feature-{i}", "area_m2": i * 1.5} for i in range(400_000)]
    kept = rows[::64]  # one small object in 64 outlives the request that made it
    del rows
    before = rss_mb()
    release_free_memory()
    print(before, rss_mb(), len(kept))
""")


@pytest.mark.skipif(not GLIBC, reason="glibc malloc only")
def test_freed_small_objects_go_back_to_the_system_under_the_servers_allocator():
    """What `footprint serve` runs with (PYTHONMALLOC=malloc): ~130 MB of small objects
    freed around survivors are mostly returned (pymalloc would keep every arena a
    survivor is in)."""
    env = {**os.environ, "PYTHONMALLOC": "malloc"}
    out = subprocess.run([sys.executable, "-c", SURVIVORS], capture_output=True, text=True,
                         check=True, timeout=120, env=env).stdout.split()
    before_mb, after_mb = float(out[0]), float(out[1])
    assert before_mb - after_mb > 70, out


@pytest.mark.skipif(not GLIBC, reason="glibc malloc only")
@pytest.mark.parametrize(("setting", "expected"), [("malloc", "malloc"), ("pymalloc", None)])
def test_serve_runs_under_the_configured_python_allocator(backend, settings, store, tmp_path,
                                                          setting, expected):
    from _servers import free_port, serve_command, start_server, stop_server, wait_ready

    if backend != "sqlite":
        pytest.skip("a process-level check of start-up: one backend is enough")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONMALLOC"}
    env.update({"FOOTPRINT_STATE_DIR": str(settings.state_dir),
                "FOOTPRINT_DATABASE_URL": settings.effective_database_url,
                "FOOTPRINT_ENVIRONMENT": "test", "FOOTPRINT_LOG_LEVEL": "WARNING",
                "FOOTPRINT_PYTHON_MALLOC": setting})
    port = free_port()
    server = start_server(serve_command(port), env, tmp_path / "server.log")
    try:
        wait_ready(f"http://127.0.0.1:{port}", server, tmp_path / "server.log")
        # the re-exec keeps the process id: the process we started is the server
        environ = dict(entry.split("=", 1) for entry in
                       open(f"/proc/{server.pid}/environ").read().split("\0") if "=" in entry)
    finally:
        stop_server(server)
    assert environ.get("PYTHONMALLOC") == expected
