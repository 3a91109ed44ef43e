"""schemathesis with every check, as an admin, time-boxed (issue 11, "make the checks
permanent" item 4).

A ``footprint serve``-like server (a subprocess on a loopback port) holds a field with a
mapped deposits layer and one footprint version, so the documented examples reach real
work: reads of features and footprints, a synchronous build, uploads, reports, job
dismissal. schemathesis runs the examples and fuzzing phases with ``--checks all``
(see ``schemathesis.toml`` beside this file for the one per-operation exemption and
why). The run must find nothing: no server error, no response outside the schema.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from _servers import REPO, free_port, start_server, stop_server, wait_ready

pytestmark = pytest.mark.timeout(420)

CONFIG = Path(__file__).with_name("schemathesis.toml")
#: wall-clock budget of one run, seconds (CI time: a few minutes over both backends)
BUDGET_S = {"sqlite": 100, "postgis": 60}

SERVER = """
import sys
from footprint.catalogue import load_catalogue
from footprint.pipeline.build import build_footprint
from footprint.settings import get_settings
from footprint.storage.store import Store
sys.path.insert(0, sys.argv[3])
from _support import deposit_polygons

settings = get_settings()
settings.ensure_dirs()
store = Store.from_settings(settings)
store.upgrade()
store.sync_fields(load_catalogue().values())
store.add_layer("gh-birim", "deposits", "mapped", "b" * 64, crs="EPSG:4326",
                bounds_4326=None, features=deposit_polygons())
build_footprint("gh-birim", store=store, settings=settings, seed=1, draws=1000)
_, token = store.create_api_key("schemathesis", "admin")
open(sys.argv[2], "w").write(token)
import uvicorn
uvicorn.run("api.app:create_app", factory=True, host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning", access_log=False)
"""


def test_schemathesis_all_checks_as_admin(settings, store, backend, tmp_path):
    data_dir = tmp_path / "no-data"  # offline: builds use the mapped deposits
    data_dir.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token_file = tmp_path / "token"
    env = {**os.environ, "FOOTPRINT_STATE_DIR": str(settings.state_dir),
           "FOOTPRINT_DATABASE_URL": settings.effective_database_url,
           "FOOTPRINT_DATA_DIR": str(data_dir), "FOOTPRINT_ENVIRONMENT": "test",
           "FOOTPRINT_LOG_LEVEL": "WARNING", "FOOTPRINT_DRAWS": "2000",
           "FOOTPRINT_MAX_DRAWS": "5000",
           # the per-key quota (429) has its own tests (test_row14_jobs.py); here it
           # would turn valid async executions piling up into refusals
           "FOOTPRINT_MAX_JOBS_PER_KEY": "10000",
           "FOOTPRINT_MAX_DRAW_FIELDS_PER_KEY": str(10**12)}
    server = start_server([sys.executable, "-c", SERVER, str(port), str(token_file),
                           str(REPO / "tests" / "api")], env, tmp_path / "server.log")
    try:
        wait_ready(base, server, tmp_path / "server.log")
        operations = sum(len(ops) for ops in
                         httpx.get(f"{base}/openapi.json").json()["paths"].values())
        st = Path(sys.executable).with_name("st")
        result = subprocess.run(
            [str(st), "--config-file", str(CONFIG), "run", f"{base}/openapi.json",
             "-H", f"X-API-Key: {token_file.read_text()}",
             "--phases", "examples,fuzzing", "--max-examples", "4", "--no-shrink",
             "--seed", "20081106", "--workers", "2", "--warnings", "off",
             "--request-timeout", "60", "--max-time", str(BUDGET_S[backend])],
            capture_output=True, text=True, timeout=BUDGET_S[backend] + 120, cwd=tmp_path,
            check=False)
    finally:
        stop_server(server)
    assert result.returncode == 0, result.stdout[-6000:]
    assert "No issues found" in result.stdout, result.stdout[-6000:]
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert tested and int(tested.group(1)) == operations, result.stdout[-3000:]


def test_every_exemption_names_a_documented_operation():
    """A renamed path parameter must not silently drop an exemption (or leave it applying
    to nothing): each ``include-path-regex`` of the config matches an OpenAPI path."""
    import tomllib

    from api.app import create_app

    paths = list(create_app().openapi()["paths"])
    operations = tomllib.loads(CONFIG.read_text())["operations"]
    unmatched = [op["include-path-regex"] for op in operations
                 if not any(re.search(op["include-path-regex"], path) for path in paths)]
    assert operations and unmatched == []
