"""Throughput and latency of the service on loopback, side by side with tipg and pygeoapi.

What it does:

1. Makes sure ``--field`` has a footprint in a SQLite store kept between runs
   (``--state-dir``; built once with :func:`footprint.pipeline.build.build_footprint` and
   ``--draws`` draws). With ``--backend postgis`` the same deposits are stored as a
   footprint version in a temporary PostGIS database.
2. Writes the same deposits to ONE PostGIS table (``public.deposits_<field>``, primary key
   ``id`` = the footprint's feature id, GIST index) in a temporary database, and serves it
   with tipg and with pygeoapi's PostgreSQL provider. Each peer runs from its own virtual
   environment (``--peers-dir``), created and installed with pip when missing
   (tipg 1.6.1; pygeoapi 0.24 where the Python allows, else the newest that installs).
3. Starts the three servers under uvicorn (uvloop, httptools), one worker each, GETs every
   URL of a case once on each server (the same warm-up for all), then loads it with 1, 8
   and 50 closed-loop clients (``wrk`` when installed, else httpx: see
   :mod:`loadgen`) for ``--seconds`` per cell: an items page (``limit=100``, offsets
   cycling), a bbox page, one item by id, ``/collections`` and one vector tile (footprint
   and tipg). It prints req/s, p50, p99, the server process's CPU ms per request and
   errors per cell, then footprint's req/s and CPU per request as ratios of each peer's.
   The CPU is the server process's only: PostgreSQL's backends are not counted, for
   any server.

Run::

    nice .venv/bin/python benchmarks/api.py --backend sqlite --seconds 10
    nice .venv/bin/python benchmarks/api.py --backend postgis --seconds 10

Servers and client share the machine: the figures compare servers under the same
conditions; they are not absolute capacities.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
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
    log = open(Path(env.get("BENCH_LOG_DIR", cwd)) / f"server-{command[-5]}.log", "wb")  # noqa: SIM115
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
        if args.backend == "postgis":
            # the footprint store in its own tables of the same database
            target = Store(peer_url, state_dir=args.state_dir)
            record = copy_footprint(store, record, target, args.field)
            target.dispose()
            ours_env["FOOTPRINT_DATABASE_URL"] = peer_url
        n = len(frame)
        print(f"{args.field}: {n} deposits, footprint version {record.version} on "
              f"{args.backend}; peers read table {table} on PostGIS; {args.seconds:g} s per cell",
              flush=True)
        ports = {"footprint": free_port(), **{p: free_port() for p in peers}}
        processes = {"footprint": quiet(uvicorn(Path(sys.executable), "api.app:create_app",
                                                ports["footprint"], "--factory"),
                                        ours_env, REPO)}
        processes.update(start_peers(peers, pythons, ports, peer_url, table, collection, bbox,
                                     workdir))
        try:
            base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
            wait_until_up(f"{base['footprint']}/healthz")
            ids = {"footprint": collection, "tipg": f"public.{table}", "pygeoapi": collection}
            for name in peers:
                wait_until_up(f"{base[name]}/collections/{ids[name]}?f=json", log_dir=workdir)
            peer_item = frame["id"].iloc[n // 2]
            items = {"footprint": f"{record.version}-{n // 2}", "tipg": peer_item,
                     "pygeoapi": peer_item}
            report(build_cases(base, ids, items, n, args.limit), clients, peers, args, processes)
        finally:
            stop(processes)


if __name__ == "__main__":
    main()
