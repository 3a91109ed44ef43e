"""Throwaway PostGIS databases for tests.

``temporary_postgis_database()`` creates ``footprint_test_<random>`` on the server named
by ``FOOTPRINT_TEST_POSTGRES_URL`` (default: ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``,
the maintenance database of a local trust-auth server), enables PostGIS in it, yields its
URL and drops it (``WITH (FORCE)``, closing leftover connections) afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from footprint.errors import StorageError
from footprint.storage.database import normalise_url
from footprint.storage.models import Base

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TEST_DATABASE_PREFIX = "footprint_test_"


def admin_url() -> URL:
    """URL of the maintenance database used to create and drop test databases."""
    return normalise_url(os.environ.get("FOOTPRINT_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL))


def postgis_unavailable_reason(url: str | URL | None = None) -> str | None:
    """Why PostGIS tests cannot run (server down, no PostGIS package), or None if they can."""
    engine = create_engine(url or admin_url(), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            available = connection.execute(text(
                "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")).scalar()
    except (SQLAlchemyError, OSError) as error:
        where = admin_url().render_as_string()
        return f"PostgreSQL not reachable at {where}: {error.__class__.__name__}"
    finally:
        engine.dispose()
    return None if available else "the PostGIS extension is not installed on the server"


@contextmanager
def temporary_postgis_database(url: str | URL | None = None) -> Iterator[str]:
    """Create a fresh database with PostGIS, yield its URL (string), drop it afterwards."""
    server = normalise_url(url) if url is not None else admin_url()
    name = TEST_DATABASE_PREFIX + secrets.token_hex(6)
    engine = create_engine(server, isolation_level="AUTOCOMMIT",
                           connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        database_url = server.set(database=name)
        db_engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
        try:
            with db_engine.connect() as connection:
                connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
        finally:
            db_engine.dispose()
        yield database_url.render_as_string(hide_password=False)
    except SQLAlchemyError as error:
        raise StorageError(f"cannot create a test database on {server.render_as_string()}") \
            from error
    finally:
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            engine.dispose()


def truncate_tables(url: str | URL) -> None:
    """Empty every application table (keeping the schema and its Alembic revision).

    ``DELETE`` rather than ``TRUNCATE``: on the handful of rows a test leaves it is ten
    times faster (TRUNCATE rewrites every table file). Children go first.
    """
    engine = create_engine(normalise_url(url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            present = set(inspect(connection).get_table_names())
            for table in reversed(Base.metadata.sorted_tables):
                if table.name in present:
                    connection.execute(table.delete())
    finally:
        engine.dispose()
