"""Bounded soak of the service with a PostgreSQL restart in the middle (issue 11).

Everything runs on loopback in a temporary directory and stops by itself:

- a private PostgreSQL cluster with PostGIS (``initdb`` on a free 127.0.0.1 port, run as
  the ``postgres`` user when started by root), never the machine's shared server;
- ``footprint serve`` on it (``--servers 2`` runs two, sharing database and state dir);
- ``--readers`` concurrent readers (collections, items, footprints, jobs, processes,
  readyz) plus one writer doing, in turn, a layer upload, an asynchronous
  build-footprint (``--draws``) and a report request;
- ``pg_ctl restart -m fast`` at half time.

The servers' RSS is taken four times: when they are first ready, after a warm-up that
runs each kind of request once ("start", idle), at the end of the load, and idle again
one janitor round later (what they kept); the growth is printed from both first ones.
The servers' CPU time per request is printed too: unlike latency, it hardly depends on
what else runs on the machine.

It prints the requests, the errors by status (5xx inside and outside the restart window:
from the restart until the first successful read after it, plus ``--window-grace-s``),
p50/p99 latency of the reads, and the servers' RSS at the start and the end.

    python benchmarks/soak.py                       # 10 minutes
    python benchmarks/soak.py --duration-s 120      # a short run

No peer tool is compared: the figures are the service against its own budget
(0 5xx outside the restart window, RSS growth < 20 %).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "api")]  # this checkout; the tests' helpers
from _servers import free_port, serve_command, start_server, stop_server, wait_ready

from api.app import JANITOR_INTERVAL_S
from footprint.provenance import code_version
from footprint.settings import Settings

PG_BIN = Path("/usr/lib/postgresql/15/bin")
#: seconds between the end of the load and the idle RSS: one janitor round, whose
#: malloc_trim returns what the last requests freed (as the warm-up's job did at "start")
SETTLE_S = JANITOR_INTERVAL_S + 5
SHARED_DATA = REPO.parent / "shared" / "data"


def _with_children(pid: int) -> list[int]:
    """``pid`` and its children (uvicorn may fork)."""
    pids = [pid]
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                                  check=False)
        pids += [int(p) for p in children.stdout.split()]
    except OSError:
        pass
    return pids


def _allocator(pid: int) -> str:
    """The Python allocator ``pid`` runs with (its ``PYTHONMALLOC``; ``footprint serve``
    sets it by a re-exec, so it is read from the process, not from what was passed)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return "unknown"
    found = [e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"PYTHONMALLOC=")]
    return found[0] if found else "pymalloc (default)"


def _rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, MB."""
    total = 0.0
    for one in _with_children(pid):
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def _cpu_s(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and its children, seconds: less
    sensitive than latency to what else runs on the machine."""
    total = 0.0
    for one in _with_children(pid):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a loopback port (PostGIS enabled in ``footprint``)."""

    def __init__(self, root: Path) -> None:
        self.data = root / "pgdata"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        root.chmod(0o755)

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        return subprocess.run([*prefix, *command], capture_output=True, text=True, check=check,
                              timeout=120)

    def pg_ctl(self, *args: str) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
                  "-l", str(self.data.parent / "postgres.log"), *args)

    def start(self) -> str:
        self.data.mkdir()
        if self.as_postgres:
            shutil.chown(self.data, "postgres", "postgres")
            shutil.chown(self.data.parent, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "footprint",
                  "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.data}'\nfsync = off\n")
        self.pg_ctl("start")
        self._run(str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "footprint",
                  "-d", "postgres", "-c", "CREATE DATABASE footprint")
        self._run(str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "footprint",
                  "-d", "footprint", "-c", "CREATE EXTENSION postgis")
        return f"postgresql+psycopg://footprint@127.0.0.1:{self.port}/footprint"

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop",
                  check=False)


SEED = """
import sys
from footprint.catalogue import load_catalogue
from footprint.settings import get_settings
from footprint.storage.store import Store
sys.path.insert(0, sys.argv[2])
from _support import deposit_polygons
settings = get_settings(); settings.ensure_dirs()
store = Store.from_settings(settings); store.upgrade(); store.sync_fields(load_catalogue().values())
store.add_layer("gh-birim", "deposits", "mapped", "b" * 64, crs="EPSG:4326", bounds_4326=None,
                features=deposit_polygons())
keys = {role: store.create_api_key(f"soak-{role}", role)[1] for role in ("surveyor", "monitor")}
open(sys.argv[1], "w").write(__import__("json").dumps(keys))
"""


def _deposits_geojson(i: int) -> bytes:
    lon, lat = -0.821098 + 0.0001 * (i % 50), 6.019422
    d = 0.004
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d],
            [lon - d, lat - d]]
    return json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"deposit_class": "floodplain", "thickness_m": 0.6,
                                          "grade_ct_m3": 1.0 + i * 1e-6},
        "geometry": {"type": "Polygon", "coordinates": [ring]}}]}).encode()


READS = ("/collections", "/collections/fields/items", "/collections/deposits-gh-birim/items?limit=50",
         "/fields/gh-birim/footprints", "/jobs?limit=20", "/processes", "/readyz",
         "/fields/gh-birim/layers")


async def soak(bases: list[str], keys: dict[str, str], duration_s: float, readers: int,
               draws: int, restart, window_grace_s: float) -> dict:
    started = time.monotonic()
    stop_at = started + duration_s
    restart_at = started + duration_s / 2
    records: list[tuple[float, str, int, float]] = []  # (start t, kind, status, seconds)
    failures: collections.Counter = collections.Counter()  # client-side errors by kind, type
    window = {"start": None, "end": None}
    limits = httpx.Limits(max_connections=readers + 8, max_keepalive_connections=readers + 8)

    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        async def call(kind: str, method: str, url: str, **kwargs) -> httpx.Response | None:
            t0 = time.monotonic()
            try:
                response = await client.request(method, url, **kwargs)
                status = response.status_code
            except httpx.HTTPError as error:
                response, status = None, 0  # connection error (or a client timeout)
                failures[f"{kind}: {type(error).__name__}"] += 1
            records.append((t0 - started, kind, status, time.monotonic() - t0))
            if (window["start"] is not None and window["end"] is None and kind == "read"
                    and status == 200 and t0 > window["start"] + 0.5):
                window["end"] = t0
            return response

        async def reader(n: int) -> None:
            i = n
            while time.monotonic() < stop_at:
                base = bases[i % len(bases)]
                await call("read", "GET", base + READS[i % len(READS)])
                i += 1

        async def writer() -> None:
            i = 0
            while time.monotonic() < stop_at:
                base = bases[i % len(bases)]
                step = i % 3
                if step == 0:
                    await call("upload", "POST", f"{base}/fields/gh-birim/layers",
                               headers={"X-API-Key": keys["surveyor"]},
                               files={"file": (f"deposits-{i}.geojson", _deposits_geojson(i),
                                               "application/geo+json")},
                               data={"kind": "deposits"})
                elif step == 1:
                    await call("build", "POST", f"{base}/processes/build-footprint/execution",
                               headers={"X-API-Key": keys["surveyor"],
                                        "Prefer": "respond-async"},
                               json={"inputs": {"field": "gh-birim", "draws": draws}})
                else:
                    await call("report", "GET", f"{base}/participants/GHA/report?from=2008&to=2010",
                               headers={"X-API-Key": keys["monitor"]})
                i += 1
                await asyncio.sleep(1.0)

        async def restarter() -> None:
            await asyncio.sleep(max(0.0, restart_at - time.monotonic()))
            window["start"] = time.monotonic()
            await asyncio.to_thread(restart)
            window["restarted"] = time.monotonic()

        await asyncio.gather(*(reader(n) for n in range(readers)), writer(), restarter())

    start = (window["start"] or stop_at) - started
    end = ((window["end"] or stop_at) - started) + window_grace_s
    return {"records": records, "window_s": (start, end), "failures": dict(failures),
            "restart_took_s": (window.get("restarted", 0) or 0) - (window["start"] or 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=600.0)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--servers", type=int, default=1, choices=(1, 2))
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--window-grace-s", type=float, default=5.0)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="footprint-soak-"))
    postgres = PrivatePostgres(root)
    servers: list[subprocess.Popen] = []
    try:
        url = postgres.start()
        data_dir = root / "data"
        data_dir.mkdir()
        if (SHARED_DATA / "kp_stats").is_dir():  # reports need the KP statistics only
            (data_dir / "kp_stats").symlink_to(SHARED_DATA / "kp_stats")
        env = {**os.environ, "PYTHONPATH": str(REPO), "FOOTPRINT_DATABASE_URL": url,
               "FOOTPRINT_STATE_DIR": str(root / "state"), "FOOTPRINT_DATA_DIR": str(data_dir),
               "FOOTPRINT_ENVIRONMENT": "test", "FOOTPRINT_LOG_LEVEL": "WARNING",
               "FOOTPRINT_WORKERS": "1"}
        keys_file = root / "keys.json"
        subprocess.run([sys.executable, "-c", SEED, str(keys_file), str(REPO / "tests" / "api")],
                       env=env, cwd=REPO, check=True, timeout=300)
        keys = json.loads(keys_file.read_text())
        bases = []
        for n in range(args.servers):
            port = free_port()
            servers.append(start_server(serve_command(port), env, root / f"server-{n}.log"))
            bases.append(f"http://127.0.0.1:{port}")
        for n, (base, server) in enumerate(zip(bases, servers, strict=True)):
            wait_ready(base, server, root / f"server-{n}.log", poll_s=0.3)
        rss_ready = [_rss_mb(s.pid) for s in servers]
        allocators = sorted({_allocator(s.pid) for s in servers})
        for base in bases:  # warm up: every code path once, so "start" is a loaded server
            httpx.get(f"{base}/collections/deposits-gh-birim/items", timeout=60)
            httpx.post(f"{base}/fields/gh-birim/layers", headers={"X-API-Key": keys["surveyor"]},
                       files={"file": ("warm.geojson", _deposits_geojson(10**6),
                                       "application/geo+json")},
                       data={"kind": "deposits"}, timeout=120)
            httpx.post(f"{base}/processes/build-footprint/execution",
                       headers={"X-API-Key": keys["surveyor"]},
                       json={"inputs": {"field": "gh-birim", "draws": args.draws}}, timeout=300)
            httpx.get(f"{base}/participants/GHA/report?from=2008&to=2010",
                      headers={"X-API-Key": keys["monitor"]}, timeout=300)
        rss_start = [_rss_mb(s.pid) for s in servers]
        cpu_start = sum(_cpu_s(s.pid) for s in servers)
        result = asyncio.run(soak(bases, keys, args.duration_s, args.readers, args.draws,
                                  postgres.restart, args.window_grace_s))
        rss_end = [_rss_mb(s.pid) for s in servers]
        cpu_s = sum(_cpu_s(s.pid) for s in servers) - cpu_start
        time.sleep(SETTLE_S)  # idle again, as at "start": what the servers kept
        rss_idle = [_rss_mb(s.pid) for s in servers]
        jobs = httpx.get(f"{bases[0]}/jobs?limit=1000", timeout=30).json()["jobs"]
    finally:
        for server in servers:
            stop_server(server)
        postgres.stop()

    records = result["records"]
    low, high = result["window_s"]
    by_status = collections.Counter(status for _, _, status, _ in records)
    by_kind = collections.Counter(kind for _, kind, _, _ in records)
    def in_window(t: float, seconds: float) -> bool:  # in flight at any time of the window
        return t <= high and t + seconds >= low

    failed = [(t, s, status) for t, _, status, s in records if status >= 500 or status == 0]
    outside = collections.Counter(status for t, s, status in failed if not in_window(t, s))
    inside = collections.Counter(status for t, s, status in failed if in_window(t, s))
    outside_times = sorted(round(t, 1) for t, s, status in failed if not in_window(t, s))
    reads = np.array([s for _, kind, status, s in records if kind == "read" and status == 200])
    job_states = collections.Counter(job["status"] for job in jobs)
    print(f"soak: {args.duration_s:.0f} s, {args.readers} readers + 1 writer, "
          f"{args.servers} server(s), private PostGIS restarted at {low:.1f} s "
          f"(took {result['restart_took_s']:.1f} s)")
    settings = Settings()  # the servers' settings but for the variables set above
    print(f"code {code_version()}; servers: PYTHONMALLOC={', '.join(allocators)}, "
          f"{settings.request_threads} request threads, {settings.malloc_arena_max} malloc "
          f"arenas, response caches {settings.response_cache_mb} MB; {args.draws} draws per build")
    print(f"requests: {len(records)} ({', '.join(f'{k} {v}' for k, v in sorted(by_kind.items()))})")
    print(f"by status: {dict(sorted(by_status.items()))}  (0 = connection error)")
    print(f"5xx/connection errors in the restart window {low:.1f}-{high:.1f} s: "
          f"{dict(inside)}; outside it: {dict(outside)}"
          + (f" at {outside_times[:10]} s" if outside_times else ""))
    if reads.size:
        print(f"read latency: p50 {1000 * np.percentile(reads, 50):.1f} ms, "
              f"p99 {1000 * np.percentile(reads, 99):.1f} ms ({reads.size} successful reads)")
    print(f"server CPU: {cpu_s:.0f} s in the soak, {1000 * cpu_s / max(1, len(records)):.2f} ms "
          "per request")
    for n, (r, a, b, c) in enumerate(zip(rss_ready, rss_start, rss_end, rss_idle, strict=True)):
        print(f"server {n} RSS: ready {r:.0f} MB, start (idle after the warm-up) {a:.0f} MB, "
              f"end under load {b:.0f} MB ({100 * (b - a) / a:+.1f} % from the start, "
              f"{100 * (b - r) / r:+.1f} % from ready), end idle {SETTLE_S:.0f} s later "
              f"{c:.0f} MB ({100 * (c - a) / a:+.1f} % from the start, "
              f"{100 * (c - r) / r:+.1f} % from ready)")
    print(f"jobs at the end: {dict(job_states)}")
    print(f"client-side errors (status 0) by request kind and type: {result['failures']}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min)")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
