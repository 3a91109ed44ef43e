"""``footprint db upgrade`` and ``footprint keys ...`` on the test database."""

from __future__ import annotations

from typer.testing import CliRunner

from footprint.cli import app
from footprint.storage.store import Store


def test_db_upgrade_prints_masked_url_and_revision(settings):
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert Store.head_revision() in result.output
    with Store.from_settings(settings) as store:
        assert store.current_revision() == Store.head_revision()
        assert store.url in result.output


def test_keys_create_list_revoke(settings):
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "wgde-expert", "--role", "monitor"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    with Store.from_settings(settings) as store:
        key = store.verify_api_key(token)
        assert key is not None and key.role == "monitor"
        assert store.list_audit()[0].action == "api_key.create"
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and "wgde-expert" in listed.stdout and token not in listed.stdout
    revoked = runner.invoke(app, ["keys", "revoke", str(key.id)])
    assert revoked.exit_code == 0, revoked.output
    with Store.from_settings(settings) as store:
        assert store.verify_api_key(token) is None


def test_db_upgrade_against_an_unreachable_server_is_one_line(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "FOOTPRINT_STATE_DIR": str(tmp_path),
           "FOOTPRINT_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"}
    result = subprocess.run([sys.executable, "-c", "from footprint.cli import main; main()",
                             "db", "upgrade"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 7
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach the database" in lines[0], result.stderr
