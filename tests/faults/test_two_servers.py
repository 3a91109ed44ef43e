"""Two ``footprint serve`` processes on one database and one state directory (issue 11 row 3).

Server A runs a build held in its Monte Carlo step; server B starts *while that job
runs* (a replica, a rolling restart) and must leave it alone. Then A is killed with
``kill -9``: B keeps serving reads and writes, the killed job ends ``failed`` with the
reason (A's host:pid), A's half-written build directory is swept, and nothing stored is
lost (the previous footprint version byte for byte, the layers, every job terminal, no
version directory without its row).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from _servers import HELD_SERVER, free_port, start_server, stop_server, wait_ready
from _support import deposit_polygons

from footprint.pipeline.build import build_footprint
from footprint.provenance import sha256_file

pytestmark = pytest.mark.timeout(300)

#: the plain ``footprint serve`` with a janitor round every second (server B).
PLAIN_SERVER = """
import sys
import api.app
api.app.JANITOR_INTERVAL_S = 1.0
from footprint.cli import main
sys.argv = ["footprint", "serve", "--host", "127.0.0.1", "--port", sys.argv[1]]
main()
"""


def _wait_job(url: str, until: tuple[str, ...], timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        info = httpx.get(url, timeout=10).json()
        if info["status"] in until:
            return info
        assert time.monotonic() < deadline, info
        time.sleep(0.2)


def test_two_servers_a_kill_of_one_loses_no_job_and_no_file(settings, store, tmp_path):
    offline = settings.model_copy(update={"data_dir": tmp_path / "no-data"})
    store.add_layer("gh-birim", "deposits", "mapped", "b" * 64, crs="EPSG:4326",
                    bounds_4326=None, features=deposit_polygons())
    previous = build_footprint("gh-birim", store=store, settings=offline, seed=1, draws=1000)
    previous_draws = offline.state_dir / previous.draws_path
    previous_sha = sha256_file(previous_draws)
    _, token = store.create_api_key("two-servers", "surveyor")
    key = {"X-API-Key": token}

    env = {**os.environ, "FOOTPRINT_STATE_DIR": str(offline.state_dir),
           "FOOTPRINT_DATABASE_URL": offline.effective_database_url,
           "FOOTPRINT_DATA_DIR": str(offline.data_dir), "FOOTPRINT_ENVIRONMENT": "test",
           "FOOTPRINT_EXECUTOR": "local", "FOOTPRINT_LOG_LEVEL": "WARNING"}
    offline.data_dir.mkdir(parents=True, exist_ok=True)
    port_a, port_b = free_port(), free_port()
    base_a, base_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    server_a = start_server([sys.executable, "-c", HELD_SERVER, str(port_a)], env, log_a)
    server_b = None
    try:
        wait_ready(base_a, server_a, log_a)
        response = httpx.post(f"{base_a}/processes/build-footprint/execution",
                              json={"inputs": {"field": "gh-birim", "draws": 1000}},
                              headers={**key, "Prefer": "respond-async"}, timeout=30)
        assert response.status_code == 201, response.text
        job_id = response.json()["jobID"]
        held = _wait_job(f"{base_a}/jobs/{job_id}", ("running",))
        while "simulating" not in held["message"]:
            held = httpx.get(f"{base_a}/jobs/{job_id}", timeout=10).json()
            time.sleep(0.1)
        partials = list((offline.state_dir / "footprints" / "gh-birim").glob(".partial-*"))
        assert len(partials) == 1

        # B starts while A's job runs
        server_b = start_server([sys.executable, "-c", PLAIN_SERVER, str(port_b)], env, log_b)
        wait_ready(base_b, server_b, log_b)
        time.sleep(2.5)  # a few janitor rounds of B
        on_b = httpx.get(f"{base_b}/jobs/{job_id}", timeout=10).json()
        assert on_b["status"] == "running" and "simulating" in on_b["message"], on_b
        assert partials[0].is_dir()  # B did not delete A's build in progress

        os.killpg(server_a.pid, signal.SIGKILL)
        server_a.wait(timeout=10)

        assert httpx.get(f"{base_b}/collections/fields/items", timeout=10).status_code == 200
        failed = _wait_job(f"{base_b}/jobs/{job_id}", ("failed", "successful"), timeout_s=30)
        assert failed["status"] == "failed"
        assert f":{server_a.pid})" in failed["message"] and "stopped" in failed["message"]
        assert httpx.get(f"{base_b}/jobs/{job_id}/results", timeout=10).status_code == 409
        deadline = time.monotonic() + 30
        while partials[0].exists():  # B's janitor sweeps the dead server's build
            assert time.monotonic() < deadline, "the killed build directory was not swept"
            time.sleep(0.2)

        # B still takes writes: a new build on B succeeds
        response = httpx.post(f"{base_b}/processes/build-footprint/execution",
                              json={"inputs": {"field": "gh-birim", "draws": 1000}},
                              headers={**key, "Prefer": "respond-async"}, timeout=30)
        assert response.status_code == 201, response.text
        built = _wait_job(response.headers["Location"], ("successful", "failed"))
        assert built["status"] == "successful", built
    finally:
        stop_server(server_a)
        if server_b is not None:
            stop_server(server_b)

    versions = store.list_footprints("gh-birim")
    assert [v.version for v in versions] == [previous.version, previous.version + 1]
    assert sha256_file(previous_draws) == previous_sha
    assert all(job.is_finished for job in store.list_jobs(include_dismissed=True))
    versions_dir = offline.state_dir / "footprints" / "gh-birim"
    on_disk = {p.name for p in versions_dir.iterdir()}
    assert on_disk == {Path(v.draws_path).parent.name for v in versions}  # no orphan, no partial
    for version in versions:
        assert (offline.state_dir / version.draws_path).is_file()
