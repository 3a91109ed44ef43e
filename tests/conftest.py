"""Root fixtures: every layer's tests run against both database backends.

``database_url`` is parametrized over ``sqlite`` (a fresh file per test) and ``postgis``
(one throwaway database per test session, tables truncated before each test). Choose with
``FOOTPRINT_TEST_BACKENDS=sqlite,postgis`` (default: both). When PostgreSQL/PostGIS is not
reachable the postgis variants are skipped, except in CI (``CI=true``), where they fail so
the PostGIS path cannot be skipped silently. The server is named by
``FOOTPRINT_TEST_POSTGRES_URL`` (see :mod:`footprint.storage.testing`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

BACKENDS = ("sqlite", "postgis")


def _selected_backends() -> list[str]:
    raw = os.environ.get("FOOTPRINT_TEST_BACKENDS", ",".join(BACKENDS))
    chosen = [b.strip().lower() for b in raw.split(",") if b.strip()]
    unknown = set(chosen) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"FOOTPRINT_TEST_BACKENDS: unknown backend(s) {sorted(unknown)}")
    return chosen


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def pytest_configure(config: pytest.Config) -> None:
    # pyproject declares these too; registering here keeps `--strict-markers` happy
    # when pytest runs with another configuration file.
    for marker in ("slow: runs on the real tiles in ../shared/data (still run in CI)",
                   "browser: needs headless Chromium",
                   "postgis: needs a PostgreSQL server with PostGIS"):
        config.addinivalue_line("markers", marker)


@pytest.fixture(scope="session")
def postgis_server_url() -> str:
    """URL of a session-wide throwaway PostGIS database, migrated to head."""
    from footprint.storage.store import Store
    from footprint.storage.testing import postgis_unavailable_reason, temporary_postgis_database

    reason = postgis_unavailable_reason()
    if reason is not None:
        if _in_ci():
            pytest.fail(f"CI=true but PostGIS tests cannot run: {reason}")
        pytest.skip(reason)
    with temporary_postgis_database() as url:
        with Store(url) as store:
            store.upgrade()
        yield url


@pytest.fixture(params=[pytest.param(b, marks=pytest.mark.postgis) if b == "postgis" else b
                        for b in _selected_backends()])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (schema migrated for postgis, not yet for sqlite) per test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'footprint.sqlite'}"
    from footprint.storage.testing import truncate_tables

    url = request.getfixturevalue("postgis_server_url")
    truncate_tables(url)
    return url


@pytest.fixture
def backend(database_url: str) -> str:
    """``"sqlite"`` or ``"postgis"``: the backend of this test's database."""
    return "postgis" if database_url.startswith("postgresql") else "sqlite"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings with a temporary state directory and this test's database; also what
    :func:`footprint.settings.get_settings` returns during the test."""
    from footprint.settings import get_settings

    monkeypatch.setenv("FOOTPRINT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FOOTPRINT_DATABASE_URL", database_url)
    monkeypatch.setenv("FOOTPRINT_ENVIRONMENT", "test")
    get_settings.cache_clear()
    current = get_settings()
    current.ensure_dirs()
    yield current
    get_settings.cache_clear()


@pytest.fixture
def offline(settings, tmp_path, monkeypatch):
    """Settings with an empty data directory (deposit-polygon mode: no shared data read)."""
    monkeypatch.setenv("FOOTPRINT_DATA_DIR", str(tmp_path / "no-data"))
    return settings.model_copy(update={"data_dir": tmp_path / "no-data"})


@pytest.fixture
def store(settings):
    """A migrated :class:`~footprint.storage.store.Store` on this test's database, with
    the catalogue's fields synchronised."""
    from footprint.catalogue import load_catalogue
    from footprint.storage.store import Store

    with Store.from_settings(settings) as opened:
        opened.upgrade()
        opened.sync_fields(load_catalogue().values())
        yield opened
