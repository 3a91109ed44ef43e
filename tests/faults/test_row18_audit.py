"""Row 18: every write's audit entry is written in the change's own transaction.

A failure injected after the change and its entry are in the session, but before the
commit, must leave nothing stored and no audit entry (both backends); a successful write
leaves exactly its entry; CLI writes are audited as ``cli:<os user>``.
"""

from __future__ import annotations

import getpass

import pytest
from _support import deposit_polygons, write_vector
from sqlalchemy import event
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from footprint.storage.audit import Audit
from footprint.storage.models import AuditEntry

EXPORTS_CSV = """participant,period,flow,partner,carats,value_usd,source
GHA,2005,export,ARE,500000,15000000,test mirror figures
GHA,2006H1,export,,400000,11000000,test totals
"""


class InjectedFailure(RuntimeError):
    """Raised between the change and its commit."""


@pytest.fixture
def fail_before_commit():
    """While active, every commit of a session holding an audit entry fails: the change
    and its entry have been written (flushed or pending), the commit has not happened."""
    seen: list[str] = []

    def pending_entries(session: Session, *_: object) -> None:
        session.info.setdefault("audit_actions", []).extend(
            o.action for o in session.new if isinstance(o, AuditEntry))

    def before_commit(session: Session) -> None:
        pending_entries(session)  # not flushed yet
        actions = session.info.pop("audit_actions", [])
        if actions:
            seen.extend(actions)
            raise InjectedFailure("injected between the change and its commit")

    event.listen(Session, "before_flush", pending_entries)
    event.listen(Session, "before_commit", before_commit)
    yield seen
    event.remove(Session, "before_commit", before_commit)
    event.remove(Session, "before_flush", pending_entries)


def _upload_deposits(client, key, tmp_path):
    path = write_vector(tmp_path / "deposits.geojson", deposit_polygons())
    with open(path, "rb") as handle:
        return client.post("/fields/gh-birim/layers", headers={"X-API-Key": key},
                           files={"file": (path.name, handle, "application/geo+json")},
                           data={"kind": "deposits"})


def _quiet_client(make_client):
    client = make_client()
    client.raise_server_exceptions = False  # the injected failure answers a 500
    return client


def test_an_upload_failing_before_commit_stores_no_layer_and_no_audit(
        make_client, api_keys, snapshot, fail_before_commit, tmp_path):
    client = _quiet_client(make_client)
    before = snapshot()
    response = _upload_deposits(client, api_keys["surveyor"], tmp_path)
    assert response.status_code == 500, response.text
    assert fail_before_commit == ["upload_layer"]
    assert snapshot() == before


def test_an_upload_stores_its_layer_and_its_audit_together(client, api_keys, store, tmp_path):
    response = _upload_deposits(client, api_keys["surveyor"], tmp_path)
    assert response.status_code == 201, response.text
    layer_id = response.json()["id"]
    [entry] = [e for e in store.list_audit() if e.action == "upload_layer"]
    assert entry.target == f"fields/gh-birim/layers/{layer_id}"
    assert entry.actor == "test-surveyor" and entry.detail["role"] == "surveyor"
    assert entry.sha256 == store.get_layer(layer_id).sha256
    again = _upload_deposits(client, api_keys["surveyor"], tmp_path)  # identical: no change
    assert again.status_code == 200
    assert len([e for e in store.list_audit() if e.action == "upload_layer"]) == 1


def test_declarations_failing_before_commit_store_no_rows_and_no_audit(
        make_client, api_keys, snapshot, fail_before_commit):
    client = _quiet_client(make_client)
    before = snapshot()
    response = client.post("/declarations/exports", headers={"X-API-Key": api_keys["monitor"]},
                           files={"file": ("exports.csv", EXPORTS_CSV.encode(), "text/csv")})
    assert response.status_code == 500, response.text
    assert fail_before_commit == ["upload_exports"]
    assert snapshot() == before


def test_an_execution_failing_before_commit_creates_no_job_and_no_audit(
        make_client, api_keys, snapshot, fail_before_commit):
    client = _quiet_client(make_client)
    before = snapshot()
    response = client.post("/processes/build-footprint/execution",
                           headers={"X-API-Key": api_keys["surveyor"],
                                    "Prefer": "respond-async"},
                           json={"inputs": {"field": "gh-birim", "draws": 1000}})
    assert response.status_code == 500, response.text
    assert fail_before_commit == ["execute"]
    assert snapshot() == before


def test_a_dismissal_failing_before_commit_leaves_the_job_and_no_audit(
        make_client, api_keys, store, snapshot, fail_before_commit):
    client = _quiet_client(make_client)
    job = store.create_job("build-footprint", {"field": "gh-birim"}, owner="test-surveyor")
    before = snapshot()
    response = client.delete(f"/jobs/{job.id}", headers={"X-API-Key": api_keys["surveyor"]})
    assert response.status_code == 500, response.text
    assert fail_before_commit == ["dismiss"]
    assert snapshot() == before
    assert store.get_job(job.id).status == "accepted"


def test_a_retirement_failing_before_commit_keeps_the_layer_active(
        store, snapshot, fail_before_commit):
    # no audit given: nothing for the injection to stop
    layer, _ = store.add_layer("gh-birim", "deposits", "d", "a" * 64, crs="EPSG:4326",
                               bounds_4326=None, features=deposit_polygons())
    before = snapshot()
    with pytest.raises(InjectedFailure):
        store.retire_layer(layer.id, audit=Audit("t"))
    assert fail_before_commit == ["retire_layer"]
    assert snapshot() == before and store.get_layer(layer.id).retired_at is None


def test_keys_failing_before_commit_leave_no_key_and_no_audit(store, snapshot,
                                                              fail_before_commit):
    before = snapshot()
    with pytest.raises(InjectedFailure):
        store.create_api_key("k", "reader", audit=Audit.cli())
    assert store.list_api_keys() == [] and snapshot() == before


def test_a_cli_layer_upload_leaves_an_audit_row(settings, store, tmp_path):
    from footprint.cli import app

    path = write_vector(tmp_path / "deposits.geojson", deposit_polygons())
    result = CliRunner().invoke(app, ["layers", "add", "gh-birim", str(path),
                                      "--kind", "deposits"])
    assert result.exit_code == 0, result.output
    [layer] = store.list_layers("gh-birim", "deposits")
    [entry] = [e for e in store.list_audit() if e.action == "upload_layer"]
    assert entry.actor == f"cli:{getpass.getuser()}" and entry.detail["via"] == "cli"
    assert entry.target == f"fields/gh-birim/layers/{layer.id}"
    assert layer.created_by == entry.actor


def test_cli_keys_are_audited_with_the_change(settings, store):
    from footprint.cli import app

    created = CliRunner().invoke(app, ["keys", "create", "ops", "--role", "monitor"])
    assert created.exit_code == 0, created.output
    [key] = store.list_api_keys()
    revoked = CliRunner().invoke(app, ["keys", "revoke", str(key.id)])
    assert revoked.exit_code == 0, revoked.output
    actions = sorted((e.action, e.target, e.actor) for e in store.list_audit())
    user = f"cli:{getpass.getuser()}"
    assert actions == [("api_key.create", f"api_key:{key.id}", user),
                       ("api_key.revoke", f"api_key:{key.id}", user)]
