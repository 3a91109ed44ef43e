"""The CLI through its console entry point: output, errors on one line, exit codes."""

import json
import subprocess
import sys

import pytest

from footprint.settings import get_settings


def run(*args, env=None):
    return subprocess.run([sys.executable, "-c", "from footprint.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("footprint 0.")


@pytest.mark.slow
@pytest.mark.skipif(not (get_settings().data_dir / "dem/srtm3").is_dir(), reason="no shared data")
def test_fields_json_lists_coverage():
    result = run("fields", "--json")
    assert result.returncode == 0, result.stderr
    fields = {f["id"]: f for f in json.loads(result.stdout)["fields"]}
    assert set(fields) == {"gh-birim", "ci-seguela", "ci-tortiya", "tg-plateaux", "zw-marange"}
    # Ghana and Togo have DEM tiles; Cote d'Ivoire and Marange do not
    assert not fields["gh-birim"]["dem_tiles_missing"] and fields["gh-birim"]["delineation_mode"] == "terrain"
    assert not fields["tg-plateaux"]["dem_tiles_missing"]
    for fid in ("ci-seguela", "ci-tortiya", "zw-marange"):
        assert not fields[fid]["dem_tiles_present"]
    assert fields["ci-seguela"]["delineation_mode"] == "rivers"
    assert fields["zw-marange"]["delineation_mode"] == "polygons"


def test_data_check_names_what_is_missing(tmp_path):
    import os

    env = {**os.environ, "FOOTPRINT_DATA_DIR": str(tmp_path), "FOOTPRINT_CACHE_DIR": str(tmp_path / "c")}
    result = run("data", "check", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    birim = next(r for r in report if r["field"] == "gh-birim")
    assert not birim["present"] and "dem:N06W001" in birim["missing"]
    assert not any(layer["present"] for layer in birim["layers"])
    assert all(layer["where"] for layer in birim["layers"])
    strict = run("data", "check", "--strict", env=env)
    assert strict.returncode == 4


def test_unknown_field_is_one_line_and_nonzero():
    result = run("data", "fetch", "nowhere", "--dry-run")
    assert result.returncode == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown field 'nowhere'" in lines[0] and "gh-birim" in lines[0]


@pytest.mark.slow
@pytest.mark.skipif(not (get_settings().data_dir / "dem/srtm3").is_dir(), reason="no shared data")
def test_demo_builds_every_field_and_the_four_reports(tmp_path):
    """The README's main job (without the server at the end)."""
    import os

    env = {**os.environ, "FOOTPRINT_STATE_DIR": str(tmp_path / "state")}
    env.pop("FOOTPRINT_DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-c", "from footprint.cli import main; main()",
                             "demo", "--no-serve", "--draws", "2000"],
                            capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr
    for field_id in ("gh-birim", "ci-seguela", "ci-tortiya", "tg-plateaux", "zw-marange"):
        assert f"{field_id}" in result.stdout and "not built" not in result.stdout
    reports = sorted(p.name for p in (tmp_path / "state" / "reports").glob("*.html"))
    assert reports == ["CIV_2003_2015.html", "GHA_2003_2015.html", "TGO_2003_2015.html",
                       "ZWE_2003_2015.html"]


def test_demo_without_data_says_what_is_missing_and_goes_on(tmp_path):
    import os

    env = {**os.environ, "FOOTPRINT_STATE_DIR": str(tmp_path / "state"),
           "FOOTPRINT_DATA_DIR": str(tmp_path / "no-data"), "FOOTPRINT_CACHE_DIR": str(tmp_path / "c"),
           "COLUMNS": "200"}
    env.pop("FOOTPRINT_DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-c", "from footprint.cli import main; main()",
                             "demo", "--no-serve", "--draws", "2000"],
                            capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr
    assert "gh-birim     not built" in result.stdout
    # Marange's deposits are the bundled halo polygon: it needs no input data
    assert "zw-marange   version 1" in result.stdout
    assert "report GHA: skipped" in result.stdout


def test_demo_ends_serving_the_map(tmp_path):
    """The README's first command ends with the service up: ``footprint demo`` (here without
    data, so the builds are quick) starts the server, which answers on its port."""
    import os
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "FOOTPRINT_STATE_DIR": str(tmp_path / "state"),
           "FOOTPRINT_DATA_DIR": str(tmp_path / "no-data"), "FOOTPRINT_CACHE_DIR": str(tmp_path / "c"),
           "FOOTPRINT_PORT": str(port)}
    env.pop("FOOTPRINT_DATABASE_URL", None)
    server = subprocess.Popen([sys.executable, "-c", "from footprint.cli import main; main()",
                               "demo", "--draws", "2000"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline, status = time.monotonic() + 600, None
        while time.monotonic() < deadline and server.poll() is None and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/map", timeout=5) as page:
                    status = page.status
            except OSError:
                time.sleep(1)
        assert status == 200, server.stderr.read() if server.poll() is not None else "no answer"
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_protocols_calibrate_refuses_bad_input_on_one_line():
    result = run("protocols", "calibrate", "GHA", "--from", "2010", "--to", "2003")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "after" in result.stderr
    result = run("protocols", "calibrate", "GHA", "--from", "2003", "--to", "2015", "--reps", "0")
    assert result.returncode != 0 and "--reps" in result.stderr


#: Runs ``main()`` once per command line in one interpreter (each usage error printed to
#: a captured stderr), so that checking every command costs one start-up, not fifteen.
_EVERY_COMMAND = """
import contextlib, io, json, sys
from footprint.cli import _COMMANDS, app, main
groups = {id(app): []}
for group in app.registered_groups:
    groups[id(group.typer_instance)] = [group.name]
out = {}
for target, name, _, _ in _COMMANDS:
    argv = [*groups[id(target)], name, "--no-such-option"]
    sys.argv = ["footprint", *argv]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            main()
            code = 0
        except SystemExit as done:
            code = done.code
    out[" ".join(argv[:-1])] = [code, err.getvalue()]
print(json.dumps(out))
"""


def test_usage_errors_are_one_line_and_nonzero_for_every_command():
    result = subprocess.run([sys.executable, "-c", _EVERY_COMMAND], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    assert {"build", "layers add", "keys create", "db upgrade", "report"} <= set(outcomes)
    for command, (code, stderr) in outcomes.items():
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert code == 2, (command, stderr)
        assert len(lines) == 1 and "No such option" in lines[0], (command, stderr)
