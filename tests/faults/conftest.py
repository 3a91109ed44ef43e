"""Fixtures of the fault and abuse suite: the app on this test's backend, keys per role,
and a snapshot of everything stored (database rows and state-directory files)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))  # _support helpers


@pytest.fixture
def make_client(settings, store):
    """``make_client(**settings_overrides)``: a started TestClient (closed afterwards)."""
    opened = []

    def make(**overrides) -> TestClient:
        client = TestClient(create_app(settings.model_copy(update=overrides)))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def api_keys(store) -> dict[str, str]:
    return {role: store.create_api_key(f"test-{role}", role)[1]
            for role in ("reader", "surveyor", "monitor", "admin")}


def stored_state(store, settings) -> tuple:
    """Everything a refused request must leave unchanged: rows and files."""
    files = sorted(str(p.relative_to(settings.state_dir))
                   for p in settings.state_dir.rglob("*")
                   if p.is_file() and not p.name.startswith("footprint.sqlite"))
    jobs = sorted((j.id, j.status, j.message) for j in store.list_jobs(include_dismissed=True))
    return ([(layer.id, layer.sha256) for layer in store.list_layers()],
            [(f.field_id, f.version) for f in store.list_footprints()],
            jobs, [(e.action, e.target) for e in store.list_audit(limit=10_000)],
            len(store.declarations("exports")), len(store.declarations("certificates")), files)


@pytest.fixture
def snapshot(store, settings):
    """``snapshot()``: the current :func:`stored_state`."""
    return lambda: stored_state(store, settings)


@pytest.fixture
def dead_owner():
    """An :class:`~footprint.ownership.Owner` on this host whose process has exited."""
    from footprint.ownership import current_owner

    gone = subprocess.Popen(["true"])
    gone.wait()
    return dataclasses.replace(current_owner(), pid=gone.pid, start=1)


@pytest.fixture
def live_owner():
    """An :class:`~footprint.ownership.Owner`: another live process on this host."""
    from footprint.ownership import _identity

    alive = subprocess.Popen(["sleep", "300"])
    try:
        yield _identity(alive.pid)
    finally:
        alive.kill()
        alive.wait()
