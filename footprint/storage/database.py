"""Engines and migrations: the per-backend settings live here and nowhere else.

SQLite (the embedded default) runs in WAL mode (readers never block the writer), with
foreign keys enforced and a busy timeout so concurrent writers wait instead of failing.
Python's sqlite3 module is put in autocommit mode and transactions are opened by us:
``BEGIN`` for reads and ``BEGIN IMMEDIATE`` for writes, so a writer takes the write lock
before it reads the counters it increments (no lost updates, no upgrade deadlocks).
PostgreSQL URLs are pointed at psycopg 3.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from footprint.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_BEGIN_OPTION = "footprint_sqlite_begin"


def normalise_url(url: str | URL) -> URL:
    """Parse ``url``; plain ``postgresql://`` and ``postgres://`` get the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***`` (for logs and CLI output)."""
    return make_url(url).render_as_string(hide_password=True)


def create_store_engine(url: str | URL) -> Engine:
    """An engine for ``url`` with the project's per-backend settings."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except ModuleNotFoundError as error:  # the driver is an optional extra
        raise ConfigurationError(
            f"the database driver for {parsed.drivername} is not installed ({error.name})",
            hint="pip install 'footprint[postgis]' (psycopg 3)") from None


def write_engine(engine: Engine) -> Engine:
    """The engine to use for writing transactions (``BEGIN IMMEDIATE`` on SQLite)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
    return engine


def _sqlite_engine(url: URL) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    if in_memory:
        engine = create_engine(url, poolclass=StaticPool,
                               connect_args={"check_same_thread": False})
    else:
        Path(url.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                                  "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:  # noqa: ANN001
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def alembic_config(connection=None) -> Config:  # noqa: ANN001
    """An Alembic Config built in code: no alembic.ini, independent of the working dir.

    ``connection`` (an open SQLAlchemy Connection) is handed to ``migrations/env.py``.
    """
    config = Config()
    # ConfigParser interpolation: a literal % must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config
