"""Migrations on both backends: up, down, up again; the schema matches the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from footprint.errors import StorageError
from footprint.storage.migrations.env_support import include_name
from footprint.storage.models import Base
from footprint.storage.store import Store

TABLES = {"fields", "layers", "layer_features", "footprints", "deposits", "declarations",
          "jobs", "api_keys", "audit"}


@pytest.fixture
def bare_store(database_url):
    with Store(database_url) as store:
        yield store
        store.upgrade()  # leave the (shared PostGIS) database at head for the next test


def test_upgrade_creates_every_table_at_head(bare_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no alembic.ini here: the config is built in code
    assert bare_store.upgrade() == Store.head_revision() is not None
    assert bare_store.current_revision() == Store.head_revision()
    tables = set(inspect(bare_store.engine).get_table_names())
    assert TABLES <= tables
    # idempotent
    assert bare_store.upgrade() == Store.head_revision()


def test_downgrade_to_base_drops_tables_and_upgrade_restores_them(bare_store):
    bare_store.upgrade()
    assert bare_store.downgrade("base") is None
    assert not TABLES & set(inspect(bare_store.engine).get_table_names())
    with pytest.raises(StorageError, match="footprint db upgrade"):
        bare_store.list_fields()
    bare_store.upgrade()
    assert bare_store.list_fields() == []


def test_migrated_schema_matches_the_models(bare_store):
    bare_store.upgrade()
    with bare_store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": False, "include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    # indexes differ by backend on purpose (GIST on PostGIS, bbox B-tree on SQLite)
    tables_and_columns = [d for d in diff if not (isinstance(d, tuple) and "index" in d[0])]
    assert tables_and_columns == []


def test_spatial_indexes_exist_per_backend(bare_store, backend):
    bare_store.upgrade()
    for table in ("layer_features", "deposits"):
        names = {ix["name"] for ix in inspect(bare_store.engine).get_indexes(table)}
        expected = f"ix_{table}_geom" if backend == "postgis" else f"ix_{table}_bbox"
        assert expected in names


def test_sqlite_runs_in_wal_mode_with_foreign_keys(bare_store, backend):
    if backend != "sqlite":
        pytest.skip("SQLite pragmas")
    bare_store.upgrade()
    with bare_store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar().lower() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0


def test_url_password_is_masked():
    store = Store("postgresql://someone:s3cret@db.example:5432/footprint")
    try:
        assert "s3cret" not in store.url and "someone" in store.url
        assert store.url.startswith("postgresql+psycopg://")
    finally:
        store.dispose()


def test_a_postgresql_url_without_its_driver_is_a_clear_error(monkeypatch):
    import builtins

    from footprint.errors import ConfigurationError
    from footprint.storage.database import create_store_engine

    real_import = builtins.__import__

    def no_psycopg(name, *args, **kwargs):
        if name == "psycopg" or name.startswith("psycopg."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    with pytest.raises(ConfigurationError, match="footprint\\[postgis\\]"):
        create_store_engine("postgresql://user@127.0.0.1/none")
