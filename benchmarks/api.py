"""Throughput and latency of the service on loopback, side by side with tipg and pygeoapi.

What it does:

1. Makes sure ``--field`` has a footprint in a SQLite store kept between runs
   (``--state-dir``; built once with :func:`footprint.pipeline.build.build_footprint` and
   ``--draws`` draws). The server runs on a copy of that SQLite file, or with
   ``--backend postgis`` on the same deposits stored as a footprint version in the
   temporary PostGIS database of step 2.
2. Writes the same deposits to ONE PostGIS table (``public.deposits_<field>``, primary key
   ``id`` = the footprint's feature id, GIST index) in a temporary database, and serves it
   with tipg and with pygeoapi's PostgreSQL provider. Each peer runs from its own virtual
   environment (``--peers-dir``), created and installed with pip when missing
   (tipg 1.6.1; pygeoapi 0.24 where the Python allows, else the newest that installs).
3. Starts the three servers under uvicorn (uvloop, httptools), one worker each, GETs every
   URL of a case once on each server (the same warm-up for all), then loads it with 1, 8
   and 50 closed-loop clients (``wrk`` when installed, one thread, else httpx: see
   :mod:`loadgen`) for ``--seconds`` per cell: an items page (``limit=100``, offsets
   cycling), a bbox page, one item by id, ``/collections`` and one vector tile (footprint
   and tipg). It prints req/s, p50, p99, the server process's CPU ms per request and
   errors per cell, then footprint's req/s and CPU per request as ratios of each peer's.
   The CPU is the server process's only: PostgreSQL's backends are not counted, for
   any server. ``--cases`` loads only the cases named.
4. Cold requests (``--cold-rounds`` fresh starts per server, one server running at a
   time, before the load): the first items page, item and ``/collections`` after the
   server answers its landing page, then the same request again. After the load, a new
   footprint version is stored (and the peers' table refilled with the same rows), and
   the first items page is timed past the latest-version TTL: footprint's "latest" URL
   and its ``?version=`` URL, the peers' same URL.

Run::

    nice .venv/bin/python benchmarks/api.py --backend sqlite --seconds 10
    nice .venv/bin/python benchmarks/api.py --backend postgis --seconds 10
    # footprint alone, one case, 50 clients, no cold requests (a short development loop)
    nice .venv/bin/python benchmarks/api.py --peers "" --cases "items limit=100" \
        --clients 50 --seconds 5 --cold-rounds 0

Servers and client share the machine: the figures compare servers under the same
conditions; they are not absolute capacities.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from loadgen import Result, have_wrk, load, warm

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "footprint-bench"
#: every server runs under uvicorn with uvloop and httptools (``uvicorn[standard]``)
PEERS = {"tipg": ["tipg==1.6.1", "uvicorn[standard]"],
         "pygeoapi": ["pygeoapi", "psycopg2-binary", "sqlalchemy>=2", "geoalchemy2",
                      "pygeofilter", "starlette", "uvicorn[standard]"]}
BBOX = "-0.95,5.95,-0.80,6.10"  # about a tenth of the Birim field


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, timeout_s: float = 90.0, log_dir: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    logs = "".join(p.read_text(errors="replace")[-2000:] for p in
                   sorted((log_dir or Path()).glob("server-*.log")))
    raise RuntimeError(f"server at {url} did not come up in {timeout_s} s\n{logs}")


def peer_python(name: str, peers_dir: Path) -> Path:
    """The Python of the peer's own virtual environment, created and installed if missing."""
    venv = peers_dir / name
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} and installing {' '.join(PEERS[name])} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run([str(python), "-c", f"import {name}"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS[name]], check=True)
    return python


def ensure_footprint(settings, field_id: str, draws: int):
    """The store and the latest footprint of ``field_id``, built first if there is none."""
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


def deposits_frame(store, field_id: str):
    """The latest version's deposits as a GeoDataFrame (EPSG:4326) with their feature ids."""
    import geopandas as gpd

    features, _ = store.deposit_features(field_id, limit=10**7, offset=0)
    frame = gpd.GeoDataFrame.from_features(features, crs=4326)
    frame.insert(0, "id", [f["id"] for f in features])
    return frame


def copy_footprint(source, record, target, field_id: str):
    """Store the deposits of ``record`` as a footprint version of ``target`` (another backend)."""
    from footprint.catalogue import load_catalogue

    target.upgrade()
    target.sync_fields(load_catalogue().values())
    frame = deposits_frame(source, field_id).drop(columns=["id", "version"])
    return target.add_footprint(
        field_id, deposits=frame, seed=record.seed, n_draws=record.n_draws,
        code_version=record.code_version, sheet_sha256=record.sheet_sha256,
        parameters=record.parameters, summaries=record.summaries,
        provenance=record.provenance, draws_path=None, rasters={})


def write_peer_table(frame, url: str, table: str) -> None:
    """The deposits as one PostGIS table with an id primary key and a GIST index."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        frame.rename_geometry("geom").to_postgis(table, engine, if_exists="replace", index=False)
        with engine.begin() as connection:
            connection.exec_driver_sql(f'ALTER TABLE "{table}" ADD PRIMARY KEY (id)')
            connection.exec_driver_sql(f'CREATE INDEX ON "{table}" USING gist (geom)')
            connection.exec_driver_sql(f'ANALYZE "{table}"')
    finally:
        engine.dispose()


def pygeoapi_config(db, table: str, collection: str, port: int, bbox: list[float]) -> dict:
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
            collection: {
                "type": "collection", "title": collection, "description": "deposits",
                "keywords": ["deposits"],
                "extents": {"spatial": {"bbox": bbox,
                                        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
                "links": [],
                "providers": [{"type": "feature", "name": "PostgreSQL",
                               "data": {"host": db.host, "port": db.port or 5432,
                                        "dbname": db.database, "user": db.username,
                                        "password": db.password or "",
                                        "search_path": ["public"]},
                               "id_field": "id", "table": table, "geom_field": "geom"}],
            },
        },
    }


def quiet(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """A server process; its output goes to ``server-<port>.log`` in the temp directory."""
    port = command[command.index("--port") + 1]
    log = open(Path(env.get("BENCH_LOG_DIR", cwd)) / f"server-{port}.log", "ab")  # noqa: SIM115
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)


def uvicorn(python: Path, app: str, port: int, *factory: str) -> list[str]:
    return [str(python), "-m", "uvicorn", app, *factory, "--host", "127.0.0.1", "--port",
            str(port), "--no-access-log", "--log-level", "warning"]


def start_pygeoapi(python: Path, workdir: Path, config: dict, port: int) -> subprocess.Popen:
    import yaml

    config_path = workdir / "pygeoapi-config.yml"
    openapi_path = workdir / "pygeoapi-openapi.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "PYGEOAPI_CONFIG": str(config_path), "PYGEOAPI_OPENAPI": str(openapi_path)}
    subprocess.run([str(python.with_name("pygeoapi")), "openapi", "generate", str(config_path),
                    "--output-file", str(openapi_path)], check=True, capture_output=True, env=env)
    return quiet(uvicorn(python, "pygeoapi.starlette_app:APP", port), env, workdir)


def page_urls(base: str, collection: str, matched: int, limit: int, extra: str = "") -> list[str]:
    pages = max(1, matched // limit)
    return [f"{base}/collections/{collection}/items?limit={limit}&offset={i * limit}{extra}"
            for i in range(pages)]


def tile_of(bbox: list[float], zoom: int = 12) -> tuple[int, int, int]:
    import morecantile

    west, south, east, north = bbox
    tile = morecantile.tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2,
                                                       zoom)
    return tile.z, tile.x, tile.y


def report(cases: dict[str, dict[str, list[str]]], clients: list[int], peers: list[str],
           args: argparse.Namespace, processes: dict[str, subprocess.Popen]) -> None:
    """Warm every URL once, load each cell, print the table and the ratios."""
    results: dict[tuple[str, str, int], Result] = {}
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"generator: {'wrk' if have_wrk() and args.generator != 'httpx' else 'httpx'}",
          flush=True)
    print(f"{'request':<22} {'server':<10} {'clients':>7} {'req/s':>9} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'cpu ms/req':>10} {'errors':>7}", flush=True)
    for case, by_server in cases.items():
        for name, urls in by_server.items():
            warm(urls)
            for concurrency in clients:
                result = load(urls, concurrency, args.seconds, processes[name].pid,
                              args.generator)
                results[(case, name, concurrency)] = result
                print(f"{case:<22} {name:<10} {concurrency:>7} {result.rate:>9.1f} "
                      f"{result.p50_ms:>8.1f} {result.p99_ms:>8.1f} "
                      f"{result.cpu_ms_per_request:>10.3f} {result.errors:>7}", flush=True)
    print(f"\nfootprint ({args.backend}) as a multiple of each peer: req/s (wall) and "
          "server CPU per request (peer's / footprint's)", flush=True)
    print(f"{'request':<22} {'clients':>7} " + " ".join(
        f"{'req/s x ' + p:>16} {'cpu x ' + p:>14}" for p in peers))
    for case in cases:
        for concurrency in clients:
            ours = results[(case, "footprint", concurrency)]
            cells = []
            for peer in peers:
                theirs = results.get((case, peer, concurrency))
                usable = theirs and theirs.rate and not theirs.errors and not ours.errors
                cells.append(f"{ours.rate / theirs.rate:>16.2f} "
                             f"{theirs.cpu_ms_per_request / ours.cpu_ms_per_request:>14.2f}"
                             if usable and theirs else f"{'n/a':>16} {'n/a':>14}")
            print(f"{case:<22} {concurrency:>7} " + " ".join(cells), flush=True)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--field", default="gh-birim")
    parser.add_argument("--backend", choices=("sqlite", "postgis"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=5.0, help="per cell")
    parser.add_argument("--clients", default="1,8,50")
    parser.add_argument("--limit", type=int, default=100, help="features per items page")
    parser.add_argument("--draws", type=int, default=2000, help="draws if a footprint is built")
    parser.add_argument("--state-dir", type=Path, default=CACHE / "state",
                        help="SQLite store kept between runs (the footprint is built once)")
    parser.add_argument("--peers-dir", type=Path, default=CACHE,
                        help="where the peers' virtual environments live")
    parser.add_argument("--peers", default="tipg,pygeoapi")
    parser.add_argument("--cases", default="",
                        help="comma-separated request cases to load (default: all), e.g. "
                             "'items limit=100'")
    parser.add_argument("--cold-rounds", type=int, default=3,
                        help="fresh starts per server for the first-request table (0: skip "
                             "the cold requests)")
    parser.add_argument("--generator", choices=("auto", "wrk", "httpx"), default="auto",
                        help="load generator (auto: wrk when installed)")
    return parser.parse_args()


def build_cases(base: dict[str, str], ids: dict[str, str], items: dict[str, str],
                n: int, limit: int) -> dict[str, dict[str, list[str]]]:
    """The URLs of each case on each server (pygeoapi needs ``f=json`` and has no tiles)."""
    z, x, y = tile_of([float(v) for v in BBOX.split(",")])
    cases: dict[str, dict[str, list[str]]] = {}
    for name, b in base.items():
        c, fmt = ids[name], "&f=json" if name == "pygeoapi" else ""
        one = "?f=json" if fmt else ""
        cases.setdefault("items limit=100", {})[name] = page_urls(b, c, n, limit, fmt)
        cases.setdefault("items bbox limit=100", {})[name] = page_urls(
            b, c, max(limit, n // 10), limit, f"&bbox={BBOX}{fmt}")[:1]
        cases.setdefault("one item", {})[name] = [f"{b}/collections/{c}/items/{items[name]}{one}"]
        cases.setdefault("/collections", {})[name] = [f"{b}/collections{one}"]
        if name != "pygeoapi":
            cases.setdefault("vector tile", {})[name] = [
                f"{b}/collections/{c}/tiles/WebMercatorQuad/{z}/{x}/{y}"]
    return cases


def start_peers(peers: list[str], pythons: dict[str, Path], ports: dict[str, int],
                peer_url: str, table: str, collection: str, bbox: list[float],
                workdir: Path) -> dict[str, subprocess.Popen]:
    """tipg and pygeoapi on ``table`` of the PostGIS database ``peer_url``."""
    from sqlalchemy.engine import make_url

    db = make_url(peer_url)
    processes = {}
    if "tipg" in peers:
        tipg_env = {**os.environ, "DATABASE_URL": db.set(drivername="postgresql")
                    .render_as_string(hide_password=False),
                    "TIPG_DB_SCHEMAS": '["public"]', "TIPG_MAX_FEATURES_PER_QUERY": "10000"}
        processes["tipg"] = quiet(uvicorn(pythons["tipg"], "tipg.main:app", ports["tipg"]),
                                  tipg_env, workdir)
    if "pygeoapi" in peers:
        processes["pygeoapi"] = start_pygeoapi(
            pythons["pygeoapi"], workdir,
            pygeoapi_config(db, table, collection, ports["pygeoapi"], bbox), ports["pygeoapi"])
    return processes


def stop(processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        process.terminate()
    for process in processes.values():
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def code_version() -> str:
    """The commit of the checkout the benchmark runs (``-dirty`` with local changes)."""
    found = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                           capture_output=True, text=True)
    return found.stdout.strip() or "unknown"


def refill_peer_table(frame, url: str, table: str) -> None:
    """Replace the rows of the peers' table with ``frame`` (their "new version")."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DELETE FROM "{table}"')
        frame.rename_geometry("geom").to_postgis(table, engine, if_exists="append",
                                                 index=False)
    finally:
        engine.dispose()


def timed_get(client: httpx.Client, url: str) -> float:
    """Milliseconds of one GET (body read); an error status is an error."""
    started = time.perf_counter()
    response = client.get(url)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response.status_code >= 400:
        raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:300]}")
    return elapsed_ms


def service_latest_ttl_s() -> float:
    """``api.cache.LATEST_TTL_S``, read from its file (this script's name shadows the
    ``api`` package)."""
    spec = importlib.util.spec_from_file_location("_service_cache", REPO / "api" / "cache.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return float(module.LATEST_TTL_S)


#: the requests timed cold, and the URL of each case they use (its first)
COLD_CASES = ("items limit=100", "one item", "/collections")


def cold_starts(starters: dict[str, Callable[[], subprocess.Popen]], landing: dict[str, str],
                cases: dict[str, dict[str, list[str]]], rounds: int, workdir: Path) -> None:
    """The first request of each case after a fresh start, one server running at a time
    (ready = its landing page answers), and the same request again, over ``rounds``
    starts; prints the median and the worst of each."""
    first: dict[tuple[str, str], list[float]] = {}
    again: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for name, start in starters.items():
            process = start()
            try:
                wait_until_up(landing[name], log_dir=workdir)
                for case in COLD_CASES:
                    url = cases[case][name][0]
                    with httpx.Client(timeout=120, headers={"Accept-Encoding": "gzip"}) as c:
                        first.setdefault((case, name), []).append(timed_get(c, url))
                        again.setdefault((case, name), []).append(timed_get(c, url))
            finally:
                stop({name: process})
    print(f"\nfirst request after a fresh start ({rounds} starts per server; ms): median and "
          "worst, then the same request again", flush=True)
    print(f"{'request':<22} {'server':<10} {'first p50':>10} {'first max':>10} "
          f"{'again p50':>10}")
    for (case, name), values in first.items():
        print(f"{case:<22} {name:<10} {statistics.median(values):>10.1f} {max(values):>10.1f} "
              f"{statistics.median(again[(case, name)]):>10.1f}", flush=True)


def cold_new_version(cases: dict[str, dict[str, list[str]]], publish: Callable[[], int]) -> None:
    """The first items page after a new version: footprint's "latest" URL (past the
    latest-version TTL, so it waits for the store, then builds and gzips the page) and
    its ``?version=`` URL; the peers' same URL after their table is refilled (they keep
    nothing per version: a plain request)."""
    version = publish()
    time.sleep(service_latest_ttl_s() + 0.5)
    print(f"\nfirst items page (limit=100) after a new version (footprint version {version}; "
          "ms)", flush=True)
    with httpx.Client(timeout=120, headers={"Accept-Encoding": "gzip"}) as client:
        for name, urls in cases["items limit=100"].items():
            latest = urls[0]
            print(f"{'latest URL':<22} {name:<10} {timed_get(client, latest):>10.1f} "
                  f"{timed_get(client, latest):>10.1f} (again)", flush=True)
            if name == "footprint":
                pinned = f"{urls[1 % len(urls)]}&version={version}"
                print(f"{'?version= URL':<22} {name:<10} {timed_get(client, pinned):>10.1f} "
                      f"{timed_get(client, pinned):>10.1f} (again)", flush=True)


def server_starters(peers: list[str], pythons: dict[str, Path], ports: dict[str, int],
                    ours_env: dict[str, str], peer_url: str, table: str, collection: str,
                    bbox: list[float], workdir: Path) -> dict[str, Callable[[], subprocess.Popen]]:
    """How to start each server (fresh processes for the cold requests, then once for the
    load)."""
    def ours() -> subprocess.Popen:
        return quiet(uvicorn(Path(sys.executable), "api.app:create_app", ports["footprint"],
                             "--factory"), ours_env, REPO)

    def peer(name: str) -> Callable[[], subprocess.Popen]:
        return lambda: start_peers([name], pythons, ports, peer_url, table, collection, bbox,
                                   workdir)[name]
    return {"footprint": ours, **{name: peer(name) for name in peers}}


def main() -> None:
    args = parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    peers = [p for p in args.peers.split(",") if p]

    from footprint.catalogue import get_field
    from footprint.settings import Settings
    from footprint.storage.store import Store
    from footprint.storage.testing import temporary_postgis_database

    pythons = {name: peer_python(name, args.peers_dir) for name in peers}
    args.state_dir.mkdir(parents=True, exist_ok=True)
    base_env = {"FOOTPRINT_STATE_DIR": str(args.state_dir), "FOOTPRINT_ENVIRONMENT": "test",
                "FOOTPRINT_LOG_LEVEL": "WARNING"}
    os.environ.update(base_env)
    os.environ.pop("FOOTPRINT_DATABASE_URL", None)
    settings = Settings()
    settings.ensure_dirs()
    store, record = ensure_footprint(settings, args.field, args.draws)
    bbox = list(get_field(args.field).bbox_4326)
    collection = f"deposits-{args.field}"
    table = f"deposits_{args.field.replace('-', '_')}"

    with tempfile.TemporaryDirectory(prefix="footprint-bench-") as tmp, \
            temporary_postgis_database() as peer_url:
        workdir = Path(tmp)
        frame = deposits_frame(store, args.field)
        write_peer_table(frame, peer_url, table)
        os.environ["BENCH_LOG_DIR"] = str(workdir)
        ours_env = {**os.environ, **base_env}
        # the server's own store: a copy of the SQLite file, or its tables in the peers'
        # database, so that the new version of the cold requests stays in the run
        ours_url = peer_url if args.backend == "postgis" else \
            f"sqlite:///{shutil.copy(args.state_dir / 'footprint.sqlite', workdir)}"
        ours_env["FOOTPRINT_DATABASE_URL"] = ours_url
        ours_store = Store(ours_url, state_dir=args.state_dir)
        if args.backend == "postgis":
            record = copy_footprint(store, record, ours_store, args.field)
        n = len(frame)
        print(f"{args.field}: {n} deposits, footprint version {record.version} on "
              f"{args.backend}; peers read table {table} on PostGIS; {args.seconds:g} s per cell; "
              f"code {code_version()}", flush=True)
        ports = {"footprint": free_port(), **{p: free_port() for p in peers}}
        base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        ids = {"footprint": collection, "tipg": f"public.{table}", "pygeoapi": collection}
        peer_item = frame["id"].iloc[n // 2]
        items = {"footprint": f"{record.version}-{n // 2}", "tipg": peer_item,
                 "pygeoapi": peer_item}
        cases = build_cases(base, ids, items, n, args.limit)
        starters = server_starters(peers, pythons, ports, ours_env, peer_url, table, collection,
                                   bbox, workdir)
        landing = {name: f"{b}/?f=json" if name == "pygeoapi" else f"{b}/"
                   for name, b in base.items()}
        if args.cold_rounds > 0:
            cold_starts(starters, landing, cases, args.cold_rounds, workdir)
        processes = {name: start() for name, start in starters.items()}
        try:
            for name in processes:
                wait_until_up(landing[name], log_dir=workdir)
            chosen = {case: urls for case, urls in cases.items()
                      if not args.cases or case in args.cases.split(",")}
            report(chosen, clients, peers, args, processes)

            def publish() -> int:
                added = copy_footprint(store, record, ours_store, args.field)
                refill_peer_table(frame, peer_url, table)
                return added.version
            if args.cold_rounds > 0:
                cold_new_version(cases, publish)
        finally:
            stop(processes)
            ours_store.dispose()


if __name__ == "__main__":
    main()
