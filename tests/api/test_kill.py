"""Kill -9 the server during an asynchronous build-footprint job, start it again.

The first server is ``footprint serve`` with the Monte Carlo step held (so the kill lands
mid-build, after the delineation wrote its files to the build's hidden directory); the
second is the plain ``footprint serve``. After the restart the job must be terminal
(failed with the reason) and the stored data intact: the layer list, the previous
footprint version and its draws file byte for byte, and no version directory without
its database row.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from _servers import HELD_SERVER, free_port, serve_command, start_server, stop_server, wait_ready
from _support import deposit_polygons

from footprint.pipeline.build import build_footprint
from footprint.provenance import sha256_file

#: A server that never answers fails the test instead of blocking the run.
pytestmark = pytest.mark.timeout(300)

def _layers(base: str) -> list[tuple]:
    body = httpx.get(f"{base}/fields/gh-birim/layers", timeout=10).json()
    return sorted((layer["id"], layer["kind"], layer["version"], layer["sha256"])
                  for layer in body["layers"])


def test_killing_the_server_mid_build_leaves_a_failed_job_and_intact_data(
        backend, settings, store, tmp_path):
    if backend != "sqlite":
        pytest.skip("one backend is enough for the process-level test (cost); sqlite is the "
                    "one a kill could corrupt")
    offline = settings.model_copy(update={"data_dir": tmp_path / "no-data"})
    store.add_layer("gh-birim", "deposits", "mapped", "b" * 64, crs="EPSG:4326",
                    bounds_4326=None, features=deposit_polygons())
    previous = build_footprint("gh-birim", store=store, settings=offline, seed=1, draws=1000)
    previous_draws = offline.state_dir / previous.draws_path
    previous_sha = sha256_file(previous_draws)
    _, token = store.create_api_key("kill-test", "surveyor")

    env = {**os.environ, "FOOTPRINT_STATE_DIR": str(offline.state_dir),
           "FOOTPRINT_DATABASE_URL": offline.effective_database_url,
           "FOOTPRINT_DATA_DIR": str(offline.data_dir), "FOOTPRINT_ENVIRONMENT": "test",
           "FOOTPRINT_EXECUTOR": "local", "FOOTPRINT_LOG_LEVEL": "WARNING"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"

    held = start_server([sys.executable, "-c", HELD_SERVER, str(port)], env, log)
    try:
        wait_ready(base, held, log, path="/processes")
        layers_before = _layers(base)
        response = httpx.post(f"{base}/processes/build-footprint/execution",
                              json={"inputs": {"field": "gh-birim", "draws": 1000}},
                              headers={"X-API-Key": token, "Prefer": "respond-async"}, timeout=30)
        assert response.status_code == 201, response.text
        job_url = response.headers["Location"]
        deadline = time.monotonic() + 90
        while True:  # until the build sits in the (held) Monte Carlo step
            info = httpx.get(job_url, timeout=10).json()
            if info["status"] == "running" and "simulating" in info["message"]:
                break
            assert info["status"] in ("accepted", "running"), info
            assert time.monotonic() < deadline, info
            time.sleep(0.1)
        os.killpg(held.pid, signal.SIGKILL)
        held.wait(timeout=10)
    finally:
        stop_server(held)

    job_id = info["jobID"]
    assert store.get_job(job_id).status == "running"  # what the dead server left behind

    restarted = start_server(serve_command(port), env, log)
    try:
        wait_ready(base, restarted, log, path="/processes")
        after = httpx.get(job_url, timeout=10).json()
        assert after["status"] == "failed"
        assert "restart" in after["message"]
        assert _layers(base) == layers_before
        assert httpx.get(f"{job_url}/results", timeout=10).status_code == 409
    finally:
        stop_server(restarted)

    assert [v.version for v in store.list_footprints("gh-birim")] == [previous.version]
    assert sha256_file(previous_draws) == previous_sha
    versions_dir = offline.state_dir / "footprints" / "gh-birim"
    visible = {p.name for p in versions_dir.iterdir() if not p.name.startswith(".")}
    assert visible == {Path(previous.draws_path).parent.name}
