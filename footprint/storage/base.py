"""The database under the repositories: engine, transactions, errors, migrations.

Every repository (:mod:`.fields`, :mod:`.layers`, :mod:`.footprints`, :mod:`.declarations`,
:mod:`.jobs`, :mod:`.keys`, :mod:`.audit`) is a :class:`StoreBase`; :class:`~.store.Store`
is all of them on one engine. Shared row helpers live here too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields as dataclass_fields
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Self, TypeVar

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from footprint.concepts import BBox4326
from footprint.errors import (
    ConflictError,
    FootprintError,
    InvalidParameterError,
    StorageError,
    StorageFullError,
    StorageUnavailableError,
    UnknownFieldError,
)
from footprint.storage.database import (
    alembic_config,
    create_store_engine,
    mask_url,
    normalise_url,
    write_engine,
)
from footprint.storage.models import (
    Deposit,
    Field,
    LayerFeature,
)
from footprint.storage.records import (
    Bounds,
)
from footprint.storage.spatial import _page_sqlite_bbox
from footprint.storage.types import SRID

if TYPE_CHECKING:

    from footprint.settings import Settings


log = logging.getLogger(__name__)

_INSERT_CHUNK = 1000
_VERSION_RETRIES = 5
_PG_MIGRATION_LOCK = 0x666F6F74  # "foot": serialises concurrent `db upgrade` on one server
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
R = TypeVar("R")


class _VersionRace(Exception):
    """Two writers took the same version number; the loser retries (internal)."""


class StoreBase:
    """The database under every repository: engine, transactions, error translation,
    migrations and the state-directory paths (see :class:`~footprint.storage.store.Store`
    for the parameters)."""

    def __init__(self, url: str | Settings, *, state_dir: str | Path | None = None) -> None:
        if not isinstance(url, str):  # Settings
            state_dir = url.state_dir if state_dir is None else state_dir
            url = url.effective_database_url
        self._url = normalise_url(url)
        self.state_dir = Path(state_dir).expanduser().resolve() if state_dir is not None else None
        self.engine = create_store_engine(self._url)
        self._write_engine = write_engine(self.engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """A store on ``settings.effective_database_url``, state in ``settings.state_dir``."""
        return cls(settings.effective_database_url, state_dir=settings.state_dir)

    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return mask_url(self._url)

    @property
    def is_postgres(self) -> bool:
        """The database is PostgreSQL/PostGIS (else SQLite)."""
        return self.engine.dialect.name == "postgresql"

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"


    # ------------------------------------------------------------------ migrations

    def upgrade(self, revision: str = "head") -> str | None:
        """Apply the Alembic migrations up to ``revision``; return the current revision.

        Safe to run from several processes at once: SQLite serialises them on its write
        lock, PostgreSQL on an advisory lock. Creates the ``postgis`` extension if it is
        missing (which needs the right to do so).
        """
        return self._migrate(lambda config: command.upgrade(config, revision))

    def downgrade(self, revision: str = "base") -> str | None:
        """Revert migrations down to ``revision`` (``"base"``: drop every table)."""
        return self._migrate(lambda config: command.downgrade(config, revision))

    def current_revision(self) -> str | None:
        """The revision the database is at (None before the first upgrade)."""
        with self._errors(), self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @staticmethod
    def head_revision() -> str | None:
        """The newest revision shipped with this code."""
        return ScriptDirectory.from_config(alembic_config()).get_current_head()

    def _migrate(self, run: Callable[[Any], None]) -> str | None:
        with self._errors(), self._write_engine.begin() as connection:
            if self.is_postgres:
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            run(alembic_config(connection))
            return MigrationContext.configure(connection).get_current_revision()


    # ------------------------------------------------------------------ pages

    def _page(self, session: Session, model: type[LayerFeature] | type[Deposit],
              where: Any, order: tuple[Any, ...], bbox: Bounds | None,
              limit: int, offset: int, *, sql_order: bool = False) -> tuple[list[Any], int]:
        """One page of rows and the number matched, with the backend's bbox filter.

        ``sql_order``: sort in SQL (``order`` holds expressions, e.g. a sortby), not here.
        """
        if bbox is not None and not self.is_postgres:
            return _page_sqlite_bbox(session, model, where, order, bbox, limit, offset,
                                     sql_order=sql_order)
        query = select(model).where(where)
        if bbox is not None:
            # ST_Intersects first tests && (bounding boxes) through the GIST index.
            envelope = func.ST_MakeEnvelope(*bbox, SRID)
            query = query.where(func.ST_Intersects(model.geom, envelope))
        matched = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = list(session.scalars(query.order_by(*order).limit(limit).offset(offset)))
        return rows, int(matched or 0)


    # ------------------------------------------------------------------ sessions

    def _state_path(self, path: str | PurePath | None) -> str | None:
        """``path`` as stored: relative to the state directory when inside it."""
        if path is None:
            return None
        pure = Path(path)
        if ".." in pure.parts:
            raise InvalidParameterError(f"path {str(path)!r} must not contain '..'")
        if pure.is_absolute() and self.state_dir is not None:
            try:
                return pure.resolve().relative_to(self.state_dir).as_posix()
            except ValueError:
                pass
        return pure.as_posix()

    @contextmanager
    def _session(self, *, write: bool = False) -> Iterator[Session]:
        """A session in one transaction, committed on success, with errors translated."""
        with self._errors(), Session(self._write_engine if write else self.engine,
                                     expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (FootprintError, _VersionRace):
            raise
        except IntegrityError as error:
            # detail to the log (the CLI shows it with -v); the user gets one safe line
            log.info("integrity error on %s: %s", self.url, error)
            raise ConflictError("the change conflicts with stored data") from error
        except DBAPIError as error:
            log.info("database error on %s: %s", self.url, error)
            text = str(error.orig).lower()
            if "no such table" in text or "does not exist" in text and "relation" in text:
                raise StorageError("the database schema is missing or out of date",
                                   hint="run `footprint db upgrade`") from error
            if "postgis" in text and ("extension" in text or "geometry" in text):
                raise StorageError("PostGIS is not available in this database",
                                   hint="install PostGIS on the server and run "
                                        "CREATE EXTENSION postgis as a superuser") from error
            if "full" in text or "no space" in text or "quota" in text:
                raise StorageFullError("storage full: the database has no space left",
                                       hint="free space on the server, then try again",
                                       detail=f"{self.url}: {error.orig}") from error
            if "locked" in text or "busy" in text:
                raise StorageUnavailableError("the database is busy", hint="try again") from error
            if isinstance(error, OperationalError) or error.connection_invalidated:
                # down, restarting, out of connections: transient; the URL is for the log
                raise StorageUnavailableError(
                    "cannot reach the database", hint="check FOOTPRINT_DATABASE_URL and that "
                    "the server is running", detail=f"{self.url}: {error.orig}") from error
            raise StorageError("the database refused the operation") from error
        except SQLAlchemyError as error:
            log.info("database error on %s: %s", self.url, error)
            raise StorageError("the database refused the operation") from error



# ---------------------------------------------------------------------- helpers

def _require_field(session: Session, field_id: str, *, lock: bool = False) -> Field:
    query = select(Field).where(Field.id == field_id)
    if lock:
        query = query.with_for_update()  # PostgreSQL row lock; SQLite holds the write lock
    row = session.scalar(query)
    if row is None:
        raise UnknownFieldError(f"unknown field {field_id!r}",
                                hint="synchronise the catalogue first")
    return row


def _flush_or_race(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as error:
        log.info("version race, retrying: %s", error.orig)
        raise _VersionRace from error


def _insert_chunks(session: Session, model: type, rows: Iterable[dict[str, Any]]) -> None:
    """Bulk insert (Core executemany on the session's connection, chunks of 1000)."""
    statement = model.__table__.insert()  # type: ignore[attr-defined]
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _INSERT_CHUNK:
            session.execute(statement, chunk)
            chunk = []
    if chunk:
        session.execute(statement, chunk)


def _check_sha256(value: str) -> str:
    value = str(value).lower()
    if not _SHA256.match(value):
        raise InvalidParameterError("sha256 must be 64 hexadecimal characters")
    return value


def _check_bounds(bounds: Sequence[float]) -> Bounds:
    return tuple(BBox4326.check(bounds))  # type: ignore[return-value]


def _check_page(limit: int, offset: int) -> None:
    if int(limit) < 0 or int(offset) < 0:
        raise InvalidParameterError("limit and offset must not be negative")


def _bounds_or_none(geom: BaseGeometry | None) -> tuple[float | None, ...]:
    if geom is None or geom.is_empty:
        return (None,) * 4
    return tuple(float(v) for v in geom.bounds)


def _bounds_of(row: Any) -> Bounds | None:
    if row.minx is None:
        return None
    return (row.minx, row.miny, row.maxx, row.maxy)


def _copy(record_type: type[R], row: Any, **extra: Any) -> R:
    names = [f.name for f in dataclass_fields(record_type) if f.name not in extra]  # type: ignore[arg-type]
    return record_type(**{name: getattr(row, name) for name in names}, **extra)
