"""Throughput and latency of the service on loopback, side by side with pygeoapi.

What it does:

1. Opens a store (``--database-url``, default a fresh SQLite file in a temporary state
   directory) and makes sure ``--field`` has a footprint (builds one with
   :func:`footprint.pipeline.build.build_footprint` and ``--draws`` draws if it has none).
2. Starts the footprint service (``uvicorn api.app:create_app --factory``) in a
   subprocess, one worker.
3. Exports the same deposits to GeoJSON, writes a pygeoapi configuration serving them as
   collection ``deposits-<field>`` with its GeoJSON provider, and starts pygeoapi's
   Starlette app under uvicorn (one worker) in another subprocess.
4. Sends up to ``--requests`` GET requests per endpoint with ``--concurrency`` concurrent
   clients (httpx, HTTP/1.1 keep-alive) after a warm-up, within ``--max-seconds`` per
   endpoint, and prints the requests made, requests per second and p50/p99 latency.
   pygeoapi's GeoJSON provider parses the whole file on every request, so on a large
   field it answers far fewer requests inside the budget.

Needs pygeoapi in the environment (``pip install pygeoapi``; 0.21 was used). Run::

    .venv/bin/python benchmarks/api.py --requests 2000 --concurrency 8

Both servers and the client share the machine, so the figures compare the two servers
under the same conditions; they are not absolute capacities.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not come up in {timeout_s} s")


def ensure_footprint(settings, field_id: str, draws: int):
    """The latest footprint of ``field_id``, built first if the store has none."""
    from footprint.catalogue import load_catalogue
    from footprint.storage.store import Store

    store = Store.from_settings(settings)
    store.upgrade()
    store.sync_fields(load_catalogue().values())
    record = store.latest_footprint(field_id)
    if record is None:
        from footprint.pipeline.build import build_footprint

        print(f"building a footprint of {field_id} ({draws} draws) ...", flush=True)
        started = time.perf_counter()
        record = build_footprint(field_id, store=store, settings=settings, draws=draws)
        print(f"  built version {record.version} in {time.perf_counter() - started:.1f} s",
              flush=True)
    return store, record


def export_deposits(store, field_id: str, path: Path) -> int:
    """All deposits of the latest version as a GeoJSON FeatureCollection; returns the count."""
    features, matched = store.deposit_features(field_id, limit=10**7, offset=0)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}),
                    encoding="utf-8")
    return matched


def pygeoapi_config(geojson: Path, field_id: str, port: int, bbox: list[float]) -> dict:
    return {
        "server": {"bind": {"host": "127.0.0.1", "port": port},
                   "url": f"http://127.0.0.1:{port}", "mimetype": "application/json; charset=UTF-8",
                   "encoding": "utf-8", "language": "en-US", "cors": False, "pretty_print": False,
                   "limits": {"default_items": 10, "max_items": 1000},
                   "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                           "attribution": "OpenStreetMap"}},
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {"title": "footprint peer", "description": "benchmark peer",
                               "keywords": ["diamonds"], "keywords_type": "theme",
                               "terms_of_service": "none", "url": "http://localhost"},
            "license": {"name": "MIT", "url": "https://opensource.org/licenses/MIT"},
            "provider": {"name": "footprint", "url": "http://localhost"},
            "contact": {"name": "footprint", "email": "none@example.org"},
        },
        "resources": {
            f"deposits-{field_id}": {
                "type": "collection", "title": f"Deposits {field_id}",
                "description": "Deposits of the latest footprint version", "keywords": ["deposits"],
                "extents": {"spatial": {"bbox": bbox,
                                        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
                "links": [],
                "providers": [{"type": "feature", "name": "GeoJSON", "data": str(geojson),
                               "id_field": "id"}],
            },
        },
    }


def start_footprint_service(env: dict[str, str], port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_pygeoapi(workdir: Path, config: dict, port: int) -> subprocess.Popen:
    import yaml

    config_path = workdir / "pygeoapi-config.yml"
    openapi_path = workdir / "pygeoapi-openapi.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    pygeoapi = Path(sys.executable).with_name("pygeoapi")
    subprocess.run([str(pygeoapi), "openapi", "generate", str(config_path), "--output-file",
                    str(openapi_path)], check=True, capture_output=True)
    env = {**os.environ, "PYGEOAPI_CONFIG": str(config_path), "PYGEOAPI_OPENAPI": str(openapi_path)}
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "pygeoapi.starlette_app:APP", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--log-level", "warning"],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    def line(self) -> str:
        lat = sorted(self.latencies_ms)
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
        return (f"{self.name:<40} {self.requests:>6} req {self.requests / self.seconds:>8.1f} req/s"
                f"  p50 {p50:>7.1f} ms  p99 {p99:>7.1f} ms  errors {self.errors}")


async def hammer(name: str, urls: list[str], concurrency: int, max_seconds: float,
                 warmup: int = 20) -> Result:
    """GET the ``urls`` with ``concurrency`` workers, stopping after ``max_seconds``."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        for url in urls[:warmup]:
            await client.get(url)
        queue: asyncio.Queue[str] = asyncio.Queue()
        for url in urls:
            queue.put_nowait(url)
        latencies: list[float] = []
        errors = 0

        deadline = time.perf_counter() + max_seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                try:
                    url = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                response = await client.get(url)
                await response.aread()
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Result(name, len(latencies), errors, elapsed, latencies)


def item_urls(base: str, collection: str, n: int, matched: int, limit: int, extra: str = "") -> list[str]:
    pages = max(1, matched // limit)
    return [f"{base}/collections/{collection}/items?limit={limit}&offset={(i % pages) * limit}{extra}"
            for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--field", default="gh-birim")
    parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--limit", type=int, default=10, help="features per items page")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="time budget per endpoint (a slow server gets fewer requests)")
    parser.add_argument("--draws", type=int, default=2000, help="draws if a footprint is built")
    parser.add_argument("--database-url", default=None,
                        help="store to read (default: a fresh SQLite file in a temp dir)")
    args = parser.parse_args()

    from footprint.settings import Settings

    with tempfile.TemporaryDirectory(prefix="footprint-bench-") as tmp:
        workdir = Path(tmp)
        env_settings = {"FOOTPRINT_STATE_DIR": str(workdir / "state"),
                        "FOOTPRINT_ENVIRONMENT": "test", "FOOTPRINT_LOG_LEVEL": "WARNING"}
        if args.database_url:
            env_settings["FOOTPRINT_DATABASE_URL"] = args.database_url
        os.environ.update(env_settings)
        settings = Settings()
        settings.ensure_dirs()
        store, record = ensure_footprint(settings, args.field, args.draws)
        geojson = workdir / "deposits.geojson"
        n_deposits = export_deposits(store, args.field, geojson)
        from footprint.catalogue import get_field

        bbox = list(get_field(args.field).bbox_4326)
        print(f"{args.field}: footprint version {record.version}, {n_deposits} deposits; "
              f"database {settings.effective_database_url.split(':')[0]}; "
              f"{args.requests} requests per endpoint, concurrency {args.concurrency}", flush=True)

        ours_port, peer_port = free_port(), free_port()
        ours = start_footprint_service({**os.environ, **env_settings}, ours_port)
        peer = start_pygeoapi(workdir, pygeoapi_config(geojson, args.field, peer_port, bbox),
                              peer_port)
        try:
            ours_base, peer_base = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{peer_port}"
            wait_until_up(f"{ours_base}/healthz")
            wait_until_up(f"{peer_base}/conformance?f=json")
            collection = f"deposits-{args.field}"
            cases = [
                ("footprint  items (page of deposits)",
                 item_urls(ours_base, collection, args.requests, n_deposits, args.limit)),
                ("pygeoapi   items (page of deposits)",
                 item_urls(peer_base, collection, args.requests, n_deposits, args.limit, "&f=json")),
                ("footprint  items with bbox",
                 item_urls(ours_base, collection, args.requests, n_deposits, args.limit,
                           "&bbox=-1.0,5.9,-0.7,6.2")),
                ("pygeoapi   items with bbox",
                 item_urls(peer_base, collection, args.requests, n_deposits, args.limit,
                           "&bbox=-1.0,5.9,-0.7,6.2&f=json")),
                ("footprint  /fields/{id}/footprint",
                 [f"{ours_base}/fields/{args.field}/footprint"] * args.requests),
                ("footprint  /collections",
                 [f"{ours_base}/collections"] * args.requests),
                ("pygeoapi   /collections",
                 [f"{peer_base}/collections?f=json"] * args.requests),
            ]
            print(f"{'endpoint':<40} {'requests':>10} {'throughput':>14}  latency", flush=True)
            for name, urls in cases:
                print(asyncio.run(hammer(name, urls, args.concurrency, args.max_seconds)).line(),
                      flush=True)
        finally:
            for process in (ours, peer):
                process.terminate()
            for process in (ours, peer):
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()


if __name__ == "__main__":
    main()
