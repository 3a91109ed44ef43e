"""The repository of everything the service keeps: :class:`Store`.

One class, one database, two backends (SQLite embedded by default, PostgreSQL/PostGIS
for a shared deployment), chosen by URL (``FOOTPRINT_DATABASE_URL``). Every method runs
in its own transaction and returns plain frozen records (``records.py``) or GeoJSON-like
feature dicts in lon/lat (RFC 7946), never live ORM objects. Files (COGs, draws,
uploads) live under the state directory; the store keeps their paths relative to it and
never touches the files themselves.

Errors are :class:`~footprint.errors.NotFoundError` (and ``UnknownFieldError``),
:class:`~footprint.errors.ConflictError`, :class:`~footprint.errors.StorageError` and the
validation errors of the inputs (``InvalidLayerError``, ``InvalidDeclarationError``,
``InvalidParameterError``); their messages are safe to show, details go to the log.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields as dataclass_fields
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import shapely
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import LargeBinary, and_, delete, func, or_, select, type_coerce, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from footprint.errors import (
    ConflictError,
    FootprintError,
    InvalidDeclarationError,
    InvalidLayerError,
    InvalidParameterError,
    NotFoundError,
    StorageError,
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
    API_KEY_ROLES,
    DECLARATION_KINDS,
    JOB_STATUSES,
    JOB_TERMINAL_STATUSES,
    LAYER_SOURCES,
    ApiKey,
    AuditEntry,
    Declaration,
    Deposit,
    Field,
    Footprint,
    Job,
    Layer,
    LayerFeature,
)
from footprint.storage.records import (
    ApiKeyRecord,
    AuditRecord,
    Bounds,
    FeaturePage,
    FieldRecord,
    FootprintRecord,
    JobRecord,
    LayerRecord,
)
from footprint.storage import tiles
from footprint.storage.filters import filter_clause, sort_columns
from footprint.storage.types import SRID, encode_ewkb, utcnow

if TYPE_CHECKING:
    import geopandas as gpd

    from footprint.settings import Settings

log = logging.getLogger(__name__)

Feature = dict[str, Any]
R = TypeVar("R")

#: Layer kinds the models read; others are accepted if they match :data:`LAYER_KIND_PATTERN`.
LAYER_KINDS = ("dem", "deposits", "mined_areas", "bulk_samples", "pit_logs", "workforce",
               "rivers", "usgs_points")
LAYER_KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
#: Columns of a deposits GeoDataFrame stored as columns; the others go to ``properties``.
DEPOSIT_COLUMNS = ("deposit_class", "area_m2", "mined_area_m2", "mode")
#: Columns of a declarations DataFrame stored as columns (all of the row goes to ``row``).
DECLARATION_COLUMNS = ("participant_iso3", "period", "partner", "flow", "carats", "value_usd")
API_KEY_PREFIX = "fpk_"
_API_KEY_LOOKUP_CHARS = 12
_INSERT_CHUNK = 1000
_VERSION_RETRIES = 5
_PG_MIGRATION_LOCK = 0x666F6F74  # "foot": serialises concurrent `db upgrade` on one server
_PG_SYNC_FIELDS_LOCK = 0x666F6F75  # serialises concurrent catalogue synchronisations
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _VersionRace(Exception):
    """Two writers took the same version number; the loser retries (internal)."""


class Store:
    """Repository over the footprint database.

    Parameters
    ----------
    url : str or Settings
        SQLAlchemy URL (``sqlite:///path/footprint.sqlite`` or
        ``postgresql+psycopg://user:pw@host/db``) or a :class:`~footprint.settings.Settings`
        whose ``effective_database_url`` (and ``state_dir``) are used.
    state_dir : path, optional
        The state directory; absolute file paths handed to the store that lie inside it
        are stored relative to it (so the directory can move). Other absolute paths are
        kept as given; ``state_dir / path`` resolves both kinds.

    Notes
    -----
    The schema is created by :meth:`upgrade` (Alembic); a store on an empty database
    raises :class:`StorageError` until then. The engine holds a connection pool: call
    :meth:`dispose` (or use the store as a context manager) when done with it.
    """

    def __init__(self, url: str | Settings, *, state_dir: str | Path | None = None) -> None:
        if hasattr(url, "effective_database_url"):
            state_dir = url.state_dir if state_dir is None else state_dir
            url = url.effective_database_url
        self._url = normalise_url(url)
        self.state_dir = Path(state_dir).expanduser().resolve() if state_dir is not None else None
        self.engine = create_store_engine(self._url)
        self._write_engine = write_engine(self.engine)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Store:
        """A store on ``settings.effective_database_url`` (default: :func:`get_settings`)."""
        if settings is None:
            from footprint.settings import get_settings

            settings = get_settings()
        return cls(settings.effective_database_url, state_dir=settings.state_dir)

    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return mask_url(self._url)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
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

    # ------------------------------------------------------------------ fields

    def sync_fields(self, fields: Iterable[Any]) -> list[FieldRecord]:
        """Insert or update fields from catalogue definitions (``FieldDefinition``).

        Reads ``id``, ``name``, ``participant_iso3``, ``crs_epsg`` and ``aoi_4326``
        (shapely, lon/lat). Fields absent from ``fields`` are left in place: layers and
        footprints may refer to them.
        """
        with self._session(write=True) as session:
            if self.is_postgres:  # several server processes start (and sync) at once
                session.connection().exec_driver_sql(
                    f"SELECT pg_advisory_xact_lock({_PG_SYNC_FIELDS_LOCK})")
            out = []
            for definition in fields:
                aoi = getattr(definition, "aoi_4326", None)
                row = session.get(Field, definition.id)
                if row is None:
                    row = Field(id=definition.id)
                    session.add(row)
                row.name = definition.name
                row.participant_iso3 = definition.participant_iso3
                row.crs_epsg = int(definition.crs_epsg)
                row.aoi = aoi
                row.minx, row.miny, row.maxx, row.maxy = _bounds_or_none(aoi)
                row.updated_at = utcnow()
                session.flush()
                out.append(_field_record(row))
            return out

    def list_fields(self) -> list[FieldRecord]:
        with self._session() as session:
            return [_field_record(r) for r in session.scalars(select(Field).order_by(Field.id))]

    def get_field(self, field_id: str) -> FieldRecord:
        """The stored field; :class:`UnknownFieldError` if it was never synchronised."""
        with self._session() as session:
            return _field_record(_require_field(session, field_id))

    # ------------------------------------------------------------------ layers

    def add_layer(
        self,
        field_id: str,
        kind: str,
        name: str,
        sha256: str,
        *,
        crs: str | None,
        bounds_4326: Sequence[float] | None,
        features: gpd.GeoDataFrame | None = None,
        path: str | None = None,
        year: int | None = None,
        source: str = "upload",
        stac: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> tuple[LayerRecord, bool]:
        """Store a layer and its features in one transaction.

        Parameters
        ----------
        sha256 : str
            Checksum of the uploaded file; with ``field_id`` and ``kind`` it identifies
            the layer: an identical re-upload returns the stored record and ``False``.
        crs : str
            CRS of the original data (as uploaded), for the record only.
        bounds_4326 : (minx, miny, maxx, maxy) in degrees, or None
            Extent; computed from ``features`` when None.
        features : GeoDataFrame, optional
            Vector features in any CRS (stored in EPSG:4326, 2-D). Geometries invalid
            after reprojection are repaired (``make_valid``, structure method); null or
            empty geometries are kept without geometry.
        path : str, optional
            Raster/COG or original file; stored relative to the state directory when
            inside it (see ``state_dir``).

        Returns
        -------
        (LayerRecord, created)
            ``version`` counts the layers of this field and kind, from 1.
        """
        _check_kind(kind)
        if source not in LAYER_SOURCES:
            raise InvalidParameterError(f"layer source must be one of {LAYER_SOURCES}, not {source!r}")
        sha256 = _check_sha256(sha256)
        path = self._state_path(path)
        rows = _feature_rows(features, what="layer") if features is not None else []
        if bounds_4326 is not None and not np.isfinite(np.asarray(bounds_4326, float)).all():
            bounds_4326 = None  # e.g. total_bounds of features without geometry
        bounds = _check_bounds(bounds_4326) if bounds_4326 is not None else _rows_bounds(rows)
        for _attempt in range(_VERSION_RETRIES):
            try:
                with self._session(write=True) as session:
                    _require_field(session, field_id, lock=True)
                    existing = session.scalar(select(Layer).where(
                        Layer.field_id == field_id, Layer.kind == kind, Layer.sha256 == sha256))
                    if existing is not None:
                        return _layer_record(existing), False
                    version = 1 + (session.scalar(select(func.max(Layer.version)).where(
                        Layer.field_id == field_id, Layer.kind == kind)) or 0)
                    layer = Layer(
                        field_id=field_id, kind=kind, name=name, source=source, sha256=sha256,
                        crs=crs, year=None if year is None else int(year), version=version,
                        path=path, stac=_json_safe(stac) if stac is not None else None,
                        meta=_json_safe(dict(meta or {})), n_features=len(rows),
                        created_at=utcnow(), created_by=actor)
                    layer.minx, layer.miny, layer.maxx, layer.maxy = bounds or (None,) * 4
                    session.add(layer)
                    _flush_or_race(session)
                    _insert_chunks(session, LayerFeature,
                                   ({"layer_id": layer.id, **row} for row in rows))
                    return _layer_record(layer), True
            except _VersionRace:
                continue
        raise ConflictError("too many concurrent uploads of this layer kind; try again")

    def list_layers(self, field_id: str | None = None, kind: str | None = None) -> list[LayerRecord]:
        """Layers, oldest first, optionally of one field and/or kind."""
        query = select(Layer).order_by(Layer.field_id, Layer.kind, Layer.version)
        if field_id is not None:
            query = query.where(Layer.field_id == field_id)
        if kind is not None:
            query = query.where(Layer.kind == kind)
        with self._session() as session:
            return [_layer_record(r) for r in session.scalars(query)]

    def get_layer(self, layer_id: int) -> LayerRecord:
        with self._session() as session:
            return _layer_record(_require_layer(session, layer_id))

    def delete_layer(self, layer_id: int) -> LayerRecord:
        """Delete a layer and its features; return the deleted record (its ``path`` is
        the caller's to remove from the state directory)."""
        with self._session(write=True) as session:
            layer = _require_layer(session, layer_id)
            record = _layer_record(layer)
            session.execute(delete(LayerFeature).where(LayerFeature.layer_id == layer_id))
            session.delete(layer)
            return record

    def layer_features(
        self,
        layer_id: int | None = None,
        *,
        field_id: str | None = None,
        kind: str | None = None,
        bbox_4326: Sequence[float] | None = None,
        limit: int = 100,
        offset: int = 0,
        year: int | None = None,
        layer_ids: Sequence[int] | None = None,
        filter_tree: Any = None,
        queryables: Mapping[str, str] | None = None,
        sortby: Sequence[tuple[str, bool]] = (),
        years: tuple[int | None, int | None] | None = None,
        undated_layers: Sequence[int] = (),
    ) -> tuple[list[Feature], int]:
        """Features of one layer, or of the layers of a field/kind/year, as GeoJSON dicts.

        Parameters
        ----------
        bbox_4326 : (minx, miny, maxx, maxy) in degrees, optional
            Keep features whose geometry intersects the box (exactly, not only by
            bounding box). Boxes crossing the antimeridian are not supported.
        limit, offset : int
            Page of the result, ordered by layer then feature index.
        year : int, optional
            Only layers of that year (e.g. a mined-area layer per year).
        layer_ids : sequence of int, optional
            Only these layers (with the other conditions).
        filter_tree, queryables, sortby
            A parsed CQL2 filter and sort order on the ``queryables`` (name -> JSON-Schema
            type), as SQL (see :mod:`footprint.storage.filters`).
        years : (first, last) calendar years, optional
            Only features whose own date falls in those years (``None``: open end): the
            feature's ``year`` property, else its layer's ``year``; features with neither
            are kept when their layer is in ``undated_layers`` (chosen by upload time).

        Returns
        -------
        (features, number_matched)
            Feature ``id`` is ``"<layer_id>-<feature index>"``.
        """
        _check_page(limit, offset)
        bbox = _check_bounds(bbox_4326) if bbox_4326 is not None else None
        with self._session() as session:
            layers = select(Layer.id)
            if layer_id is not None:
                _require_layer(session, layer_id)
                layers = layers.where(Layer.id == layer_id)
            if field_id is not None:
                _require_field(session, field_id)
                layers = layers.where(Layer.field_id == field_id)
            if kind is not None:
                layers = layers.where(Layer.kind == kind)
            if year is not None:
                layers = layers.where(Layer.year == int(year))
            if layer_ids is not None:
                layers = layers.where(Layer.id.in_([int(i) for i in layer_ids]))
            chosen = list(session.scalars(layers))
            if not chosen:
                return [], 0
            where = LayerFeature.layer_id.in_(chosen)
            if filter_tree is not None:
                where = and_(where, filter_clause(filter_tree, LayerFeature, queryables or {}))
            if years is not None:
                where = and_(where, _feature_year_clause(years, undated_layers))
            sort = sort_columns(sortby, LayerFeature, queryables or {})
            rows, matched = self._page(
                session, LayerFeature, where,
                (*sort, LayerFeature.layer_id, LayerFeature.feature_index), bbox, limit, offset,
                sql_order=bool(sort))
            return _features([f"{r.layer_id}-{r.feature_index}" for r in rows],
                             [r.geom for r in rows], [r.properties for r in rows]), matched

    # ------------------------------------------------------------------ footprints

    def add_footprint(
        self,
        field_id: str,
        *,
        deposits: gpd.GeoDataFrame,
        seed: int,
        n_draws: int,
        code_version: str,
        sheet_sha256: str | None,
        parameters: Mapping[str, Any],
        summaries: Mapping[str, Any],
        provenance: Mapping[str, Any],
        draws_path: str | None,
        rasters: Mapping[str, str],
        status: str = "complete",
    ) -> FootprintRecord:
        """Store a new footprint version of a field with its deposit polygons.

        ``version`` is the field's previous maximum + 1, taken inside the transaction
        (row lock on the field on PostgreSQL, the write lock on SQLite, a unique
        constraint and a retry behind both), so concurrent writers get distinct versions.

        Parameters
        ----------
        deposits : GeoDataFrame
            Any CRS; stored in EPSG:4326. Columns ``deposit_class``, ``area_m2``,
            ``mined_area_m2`` and ``mode`` are stored as columns, others as properties.
            Without ``area_m2``, the area is computed in the field's UTM CRS (m²).
        draws_path, rasters : str, mapping of name -> str
            Files of the version; stored relative to the state directory when inside it.
        """
        field = self.get_field(field_id)
        if "area_m2" not in deposits.columns and len(deposits):
            if deposits.crs is None:
                raise InvalidLayerError("deposits have no CRS")
            deposits = deposits.assign(area_m2=deposits.to_crs(field.crs_epsg).area)
        rows = _feature_rows(deposits, what="deposit", columns=DEPOSIT_COLUMNS)
        draws_path = self._state_path(draws_path)
        rasters = {str(name): self._state_path(value) for name, value in rasters.items()}
        if sheet_sha256 is not None:
            sheet_sha256 = _check_sha256(sheet_sha256)
        for _attempt in range(_VERSION_RETRIES):
            try:
                with self._session(write=True) as session:
                    _require_field(session, field_id, lock=True)
                    version = 1 + (session.scalar(select(func.max(Footprint.version)).where(
                        Footprint.field_id == field_id)) or 0)
                    footprint = Footprint(
                        field_id=field_id, version=version, created_at=utcnow(), seed=int(seed),
                        n_draws=int(n_draws), code_version=code_version,
                        sheet_sha256=sheet_sha256, parameters=_json_safe(dict(parameters)),
                        summaries=_json_safe(dict(summaries)),
                        provenance=_json_safe(dict(provenance)), draws_path=draws_path,
                        rasters=_json_safe(dict(rasters)), status=status, n_deposits=len(rows))
                    session.add(footprint)
                    _flush_or_race(session)
                    texts = _deposit_texts(version, rows)
                    _insert_chunks(session, Deposit,
                                   ({"footprint_id": footprint.id, **row, "feature_json": text}
                                    for row, text in zip(rows, texts, strict=True)))
                    return _footprint_record(footprint)
            except _VersionRace:
                continue
        raise ConflictError("too many concurrent footprint runs for this field; try again")

    def latest_footprint(self, field_id: str) -> FootprintRecord | None:
        """The newest footprint of the field, or None when it has none yet."""
        with self._session() as session:
            row = session.scalar(select(Footprint).where(Footprint.field_id == field_id)
                                 .order_by(Footprint.version.desc()).limit(1))
            return None if row is None else _footprint_record(row)

    def get_footprint(self, field_id: str, version: int) -> FootprintRecord:
        with self._session() as session:
            return _footprint_record(_require_footprint(session, field_id, version))

    def list_footprints(self, field_id: str | None = None) -> list[FootprintRecord]:
        """Footprints, by field then version (oldest first)."""
        query = select(Footprint).order_by(Footprint.field_id, Footprint.version)
        if field_id is not None:
            query = query.where(Footprint.field_id == field_id)
        with self._session() as session:
            return [_footprint_record(r) for r in session.scalars(query)]

    def deposit_features(
        self,
        field_id: str,
        *,
        version: int | None = None,
        bbox_4326: Sequence[float] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Feature], int]:
        """Deposit polygons of a footprint version (default: the latest) as GeoJSON dicts.

        Properties hold ``deposit_class``, ``area_m2``, ``mined_area_m2``, ``mode``, the
        footprint ``version`` and the stored extra properties. Feature ``id`` is
        ``"<version>-<feature index>"``. Raises :class:`NotFoundError` when the field has
        no such footprint.
        """
        _check_page(limit, offset)
        bbox = _check_bounds(bbox_4326) if bbox_4326 is not None else None
        with self._session() as session:
            footprint = _footprint_or_latest(session, field_id, version)
            rows, matched = self._page(
                session, Deposit, Deposit.footprint_id == footprint.id,
                (Deposit.feature_index,), bbox, limit, offset)
            properties = [_deposit_properties(footprint.version, r) for r in rows]
            return _features([f"{footprint.version}-{r.feature_index}" for r in rows],
                             [r.geom for r in rows], properties), matched

    def deposit_page(
        self,
        field_id: str,
        *,
        version: int | None = None,
        bbox_4326: Sequence[float] | None = None,
        limit: int = 100,
        offset: int = 0,
        filter_tree: Any = None,
        queryables: Mapping[str, str] | None = None,
        sortby: Sequence[tuple[str, bool]] = (),
    ) -> FeaturePage:
        """A page of deposits as GeoJSON Feature texts, as :meth:`deposit_features` would
        serialise them, read from the text stored with the version (no serialisation).

        ``filter_tree``, ``queryables`` and ``sortby`` as for :meth:`layer_features`.
        Without a bbox or filter, ``number_matched`` is the version's deposit count (no
        count query). Raises :class:`NotFoundError` when the field has no such footprint.
        """
        _check_page(limit, offset)
        bbox = _check_bounds(bbox_4326) if bbox_4326 is not None else None
        with self._session() as session:
            footprint = _footprint_or_latest(session, field_id, version)
            where = Deposit.footprint_id == footprint.id
            if filter_tree is not None:
                where = and_(where, filter_clause(filter_tree, Deposit, queryables or {}))
            sort = sort_columns(sortby, Deposit, queryables or {})
            order = (*sort, Deposit.feature_index)
            if bbox is None or self.is_postgres:
                query = select(Deposit.id).where(where)
                if bbox is not None:
                    query = query.where(func.ST_Intersects(
                        Deposit.geom, func.ST_MakeEnvelope(*bbox, SRID)))
                matched = footprint.n_deposits if bbox is None and filter_tree is None else \
                    int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
                ids = list(session.scalars(query.order_by(*order).limit(limit).offset(offset)))
            else:
                matching = _sqlite_bbox_ids(session, Deposit, where, order, bbox,
                                            sql_order=bool(sort))
                ids, matched = [int(i) for i in matching[offset:offset + limit]], len(matching)
            return FeaturePage(footprint.version, _deposit_texts_of(session, footprint, ids),
                               matched)

    def deposit_feature_text(self, field_id: str, version: int, feature_index: int) -> str | None:
        """One deposit of a version as GeoJSON Feature text (an indexed lookup), or None."""
        with self._session() as session:
            deposit_id = session.scalar(
                select(Deposit.id).join(Footprint, Deposit.footprint_id == Footprint.id)
                .where(Footprint.field_id == field_id, Footprint.version == int(version),
                       Deposit.feature_index == int(feature_index)))
            if deposit_id is None:
                return None
            footprint = _require_footprint(session, field_id, version)
            return _deposit_texts_of(session, footprint, [deposit_id])[0]

    def latest_footprint_version(self, field_id: str) -> int | None:
        """The field's newest footprint version number (one indexed query), or None."""
        with self._session() as session:
            return session.scalar(select(func.max(Footprint.version))
                                  .where(Footprint.field_id == field_id))

    def deposit_tile(self, field_id: str, z: int, x: int, y: int, *,
                     version: int | None = None) -> tuple[int, bytes]:
        """A Mapbox Vector Tile (layer ``deposits``) of a footprint version's deposits in
        tile z/x/y of WebMercatorQuad, with its version (default: the latest).

        Attributes: ``deposit_class``, ``area_m2``, ``mined_area_m2``, ``mode`` and
        ``feature_index`` (the feature id is ``<version>-<feature_index>``).
        """
        tiles.check_tile(z, x, y)
        with self._session() as session:
            footprint = _footprint_or_latest(session, field_id, version)
            if self.is_postgres:
                data = tiles.postgis_tile(
                    session, "deposits", "t.footprint_id = :fid", {"fid": footprint.id},
                    [f"t.{c}" for c in (*DEPOSIT_COLUMNS, "feature_index")], "deposits",
                    z, x, y)
            else:
                data = tiles.sqlite_tile(
                    session, Deposit, Deposit.footprint_id == footprint.id,
                    lambda r: {**{c: getattr(r, c) for c in DEPOSIT_COLUMNS},
                               "feature_index": r.feature_index}, "deposits", z, x, y)
            return footprint.version, data

    def layer_tile(self, layer_ids: Sequence[int], z: int, x: int, y: int,
                   name: str = "features") -> bytes:
        """A Mapbox Vector Tile (layer ``name``) of the features of ``layer_ids`` in tile
        z/x/y; attributes ``layer_id``, ``feature_index`` and the feature's ``year``."""
        tiles.check_tile(z, x, y)
        ids = [int(i) for i in layer_ids]
        if not ids:
            return b""
        with self._session() as session:
            if self.is_postgres:
                return tiles.postgis_tile(
                    session, "layer_features", "t.layer_id = ANY(:ids)", {"ids": ids},
                    ["t.layer_id", "t.feature_index",
                     "COALESCE(CASE WHEN jsonb_typeof(t.properties->'year') = 'number' "
                     "THEN (t.properties->>'year')::float::int END, "
                     "(SELECT l.year FROM layers l WHERE l.id = t.layer_id)) AS year"],
                    name, z, x, y)
            layer_years = dict(session.execute(select(Layer.id, Layer.year)
                                               .where(Layer.id.in_(ids))).all())

            def attributes(row: LayerFeature) -> dict[str, Any]:
                year = row.properties.get("year")
                return {"layer_id": row.layer_id, "feature_index": row.feature_index,
                        "year": int(year) if isinstance(year, (int, float))
                        and not isinstance(year, bool) else layer_years.get(row.layer_id)}
            return tiles.sqlite_tile(session, LayerFeature, LayerFeature.layer_id.in_(ids),
                                     attributes, name, z, x, y)

    def layer_feature(self, layer_id: int, feature_index: int) -> tuple[LayerRecord, Feature] | None:
        """One feature of a layer by its index (an indexed lookup), with its layer; or None."""
        with self._session() as session:
            layer = session.get(Layer, int(layer_id))
            if layer is None:
                return None
            row = session.scalar(select(LayerFeature).where(
                LayerFeature.layer_id == layer.id,
                LayerFeature.feature_index == int(feature_index)))
            if row is None:
                return None
            feature = _features([f"{row.layer_id}-{row.feature_index}"], [row.geom],
                                [row.properties])[0]
            return _layer_record(layer), feature

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

    # ------------------------------------------------------------------ declarations

    def add_declarations(self, kind: str, df: pd.DataFrame, *, source: str, sha256: str,
                         actor: str | None = None) -> int:
        """Store declared statistics, all rows or none; return the number stored.

        Parameters
        ----------
        kind : {"production", "exports", "certificates"}
        df : DataFrame
            Columns ``participant_iso3`` (or ``participant``; ISO 3166 alpha-3),
            ``period`` (text starting with the year: ``2010``, ``2010H1``,
            ``2010-03-15``), and optionally ``partner``, ``flow``, ``carats``,
            ``value_usd`` (US$). The whole row is kept as JSON as well.
        sha256 : str
            Checksum of the uploaded file. An identical re-upload (same kind and
            checksum) stores nothing and returns 0.
        """
        if kind not in DECLARATION_KINDS:
            raise InvalidDeclarationError(
                f"declaration kind must be one of {DECLARATION_KINDS}, not {kind!r}")
        sha256 = _check_sha256(sha256)
        rows = _declaration_rows(df)
        with self._session(write=True) as session:
            seen = session.scalar(select(Declaration.id).where(
                Declaration.kind == kind, Declaration.upload_sha256 == sha256).limit(1))
            if seen is not None:
                return 0
            now = utcnow()
            _insert_chunks(session, Declaration, (
                {**row, "kind": kind, "source": source, "upload_sha256": sha256,
                 "created_at": now, "created_by": actor} for row in rows))
            return len(rows)

    def declarations(self, kind: str, participant_iso3: str | None = None,
                     year_from: int | None = None, year_to: int | None = None) -> pd.DataFrame:
        """Declared statistics as a DataFrame, by participant, year and period.

        Columns: ``participant_iso3, period, year, partner, flow, carats, value_usd,
        source, sha256, row`` (``row``: the uploaded row as a dict). Years inclusive.
        """
        query = select(Declaration).where(Declaration.kind == kind)
        if participant_iso3 is not None:
            query = query.where(Declaration.participant_iso3 == participant_iso3.upper())
        if year_from is not None:
            query = query.where(Declaration.year >= int(year_from))
        if year_to is not None:
            query = query.where(Declaration.year <= int(year_to))
        query = query.order_by(Declaration.participant_iso3, Declaration.year,
                               Declaration.period, Declaration.id)
        columns = ["participant_iso3", "period", "year", "partner", "flow", "carats",
                   "value_usd", "source", "sha256", "row", "id"]
        with self._session() as session:
            records = [(r.participant_iso3, r.period, r.year, r.partner, r.flow, r.carats,
                        r.value_usd, r.source, r.upload_sha256, r.row, r.id)
                       for r in session.scalars(query)]
        frame = pd.DataFrame.from_records(records, columns=columns)
        return frame.astype({"carats": "float64", "value_usd": "float64", "year": "int64"})

    # ------------------------------------------------------------------ jobs

    def create_job(self, process_id: str, inputs: Mapping[str, Any],
                   owner: str | None = None) -> JobRecord:
        """A new job in status ``accepted`` with a random UUID."""
        now = utcnow()
        job = Job(id=str(uuid.uuid4()), process_id=process_id, status="accepted", progress=0,
                  inputs=_json_safe(dict(inputs)), created_at=now, updated_at=now, owner=owner)
        with self._session(write=True) as session:
            session.add(job)
            session.flush()
            return _job_record(job)

    def update_job(self, job_id: str, **changes: Any) -> JobRecord:
        """Change a job; every call also counts as a heartbeat of its worker.

        Accepts ``status``, ``progress`` (0-100), ``message``, ``results``, ``worker``,
        ``started_at``, ``finished_at``, ``heartbeat_at``. Entering ``running`` stamps
        ``started_at``; a final status stamps ``finished_at`` (and ``successful`` sets
        progress to 100). A job in a final status (successful, failed, dismissed) cannot
        change any more: :class:`ConflictError` (a worker finishing a dismissed job).
        """
        allowed = {"status", "progress", "message", "results", "worker", "started_at",
                   "finished_at", "heartbeat_at"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidParameterError(f"cannot update job field(s) {sorted(unknown)}")
        status = changes.get("status")
        if status is not None and status not in JOB_STATUSES:
            raise InvalidParameterError(f"job status must be one of {JOB_STATUSES}")
        if "progress" in changes:
            progress = changes["progress"]
            if not isinstance(progress, (int, np.integer)) or not 0 <= progress <= 100:
                raise InvalidParameterError("job progress must be an integer from 0 to 100")
            changes["progress"] = int(progress)
        if changes.get("results") is not None:
            changes["results"] = _json_safe(changes["results"])
        with self._session(write=True) as session:
            job = _require_job(session, job_id, lock=True)
            if job.status in JOB_TERMINAL_STATUSES:
                raise ConflictError(f"job {job_id} is already {job.status}")
            now = utcnow()
            for key, value in changes.items():
                setattr(job, key, value)
            if status == "running" and job.started_at is None:
                job.started_at = now
            if status in JOB_TERMINAL_STATUSES and job.finished_at is None:
                job.finished_at = now
            if status == "successful":
                job.progress = 100
            job.updated_at = now
            if "heartbeat_at" not in changes:
                job.heartbeat_at = now
            session.flush()
            return _job_record(job)

    def get_job(self, job_id: str) -> JobRecord:
        with self._session() as session:
            return _job_record(_require_job(session, job_id))

    def list_jobs(self, limit: int = 100, offset: int = 0, *,
                  include_dismissed: bool = False) -> list[JobRecord]:
        """Jobs, newest first (dismissed ones only on request)."""
        _check_page(limit, offset)
        query = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
        if not include_dismissed:
            query = query.where(Job.status != "dismissed")
        with self._session() as session:
            return [_job_record(r) for r in session.scalars(query)]

    def dismiss_job(self, job_id: str) -> JobRecord:
        """Mark a job dismissed (OGC ``DELETE /jobs/{id}``); a running job's worker sees
        it on its next :meth:`update_job` (ConflictError) and stops. Idempotent."""
        with self._session(write=True) as session:
            job = _require_job(session, job_id, lock=True)
            if job.status != "dismissed":
                now = utcnow()
                job.status = "dismissed"
                job.finished_at = job.finished_at or now
                job.updated_at = now
                session.flush()
            return _job_record(job)

    def fail_orphaned_jobs(self, reason: str, older_than_s: float | None = None) -> int:
        """Fail accepted/running jobs nobody is working on; return how many.

        With ``older_than_s=None`` every accepted or running job is failed (call it at
        server start: their workers died with the previous process). Otherwise only
        those whose last heartbeat (or update) is older than ``older_than_s`` seconds.
        """
        now = utcnow()
        condition = Job.status.in_(("accepted", "running"))
        if older_than_s is not None:
            cutoff = now - dt.timedelta(seconds=float(older_than_s))
            condition = and_(condition, or_(
                and_(Job.heartbeat_at.is_not(None), Job.heartbeat_at < cutoff),
                and_(Job.heartbeat_at.is_(None), Job.updated_at < cutoff)))
        statement = (update(Job).where(condition)
                     .values(status="failed", message=reason, finished_at=now, updated_at=now)
                     .execution_options(synchronize_session=False))
        with self._session(write=True) as session:
            return int(session.execute(statement).rowcount or 0)

    # ------------------------------------------------------------------ API keys

    def create_api_key(self, name: str, role: str) -> tuple[ApiKeyRecord, str]:
        """A new API key; the plaintext token is returned once and never stored.

        The token is ``fpk_`` + 43 URL-safe characters from :func:`secrets.token_urlsafe`
        (256 random bits). Only its sha256 and its first 12 characters (for lookup and
        display) are stored. A fast hash is enough: slow KDFs (bcrypt, scrypt, argon2)
        protect *low-entropy* human passwords from dictionary search after a database
        leak; a 256-bit random token cannot be searched, and verifying it on every
        request stays cheap.
        """
        if role not in API_KEY_ROLES:
            raise InvalidParameterError(f"role must be one of {API_KEY_ROLES}, not {role!r}")
        token = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(name=name, role=role, key_sha256=_token_sha256(token),
                     prefix=token[:_API_KEY_LOOKUP_CHARS], created_at=utcnow())
        with self._session(write=True) as session:
            session.add(key)
            session.flush()
            return _api_key_record(key), token

    def verify_api_key(self, token: str) -> ApiKeyRecord | None:
        """The active key matching ``token``, else None (constant-time digest compare)."""
        if not isinstance(token, str) or not token.startswith(API_KEY_PREFIX):
            return None
        digest = _token_sha256(token)
        with self._session() as session:
            candidates = session.scalars(select(ApiKey).where(
                ApiKey.prefix == token[:_API_KEY_LOOKUP_CHARS]))
            match = None
            for key in candidates:
                if hmac.compare_digest(key.key_sha256, digest) and key.revoked_at is None:
                    match = key
            return None if match is None else _api_key_record(match)

    def revoke_api_key(self, key_id: int) -> ApiKeyRecord:
        """Revoke a key (idempotent); :class:`NotFoundError` if there is no such key."""
        with self._session(write=True) as session:
            key = session.get(ApiKey, key_id)
            if key is None:
                raise NotFoundError(f"no API key with id {key_id}")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
                session.flush()
            return _api_key_record(key)

    def list_api_keys(self) -> list[ApiKeyRecord]:
        with self._session() as session:
            return [_api_key_record(k) for k in session.scalars(select(ApiKey).order_by(ApiKey.id))]

    # ------------------------------------------------------------------ audit

    def record_audit(self, actor: str, action: str, target: str, sha256: str | None = None,
                     detail: Mapping[str, Any] | None = None) -> AuditRecord:
        """Append an audit entry (e.g. ``actor="key:3"``, ``action="layer.upload"``)."""
        entry = AuditEntry(at=utcnow(), actor=actor, action=action, target=target,
                           sha256=sha256, detail=_json_safe(dict(detail or {})))
        with self._session(write=True) as session:
            session.add(entry)
            session.flush()
            return _audit_record(entry)

    def list_audit(self, limit: int = 100, offset: int = 0) -> list[AuditRecord]:
        """Audit entries, newest first."""
        _check_page(limit, offset)
        query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        with self._session() as session:
            return [_audit_record(e) for e in session.scalars(query.limit(limit).offset(offset))]

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
            if "locked" in text or "busy" in text:
                raise StorageError("the database is busy", hint="try again") from error
            if isinstance(error, OperationalError) and ("connect" in text or "unable to open" in text):
                raise StorageError(f"cannot reach the database {self.url}",
                                   hint="check FOOTPRINT_DATABASE_URL and that the server "
                                        "is running") from error
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


def _require_layer(session: Session, layer_id: int) -> Layer:
    row = session.get(Layer, layer_id)
    if row is None:
        raise NotFoundError(f"no layer with id {layer_id}")
    return row


def _require_footprint(session: Session, field_id: str, version: int) -> Footprint:
    row = session.scalar(select(Footprint).where(Footprint.field_id == field_id,
                                                 Footprint.version == int(version)))
    if row is None:
        raise NotFoundError(f"field {field_id!r} has no footprint version {version}")
    return row


def _require_job(session: Session, job_id: str, *, lock: bool = False) -> Job:
    query = select(Job).where(Job.id == str(job_id))
    if lock:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise NotFoundError(f"no job with id {job_id}")
    return row


def _feature_year_clause(years: tuple[int | None, int | None],
                         undated_layers: Sequence[int]) -> Any:
    """Features dated (own ``year``, else the layer's) within ``years``, or undated ones
    of ``undated_layers``."""
    year = func.coalesce(LayerFeature.properties["year"].as_integer(),
                         select(Layer.year).where(Layer.id == LayerFeature.layer_id)
                         .scalar_subquery())
    first, last = years
    dated = and_(year.is_not(None), *([year >= int(first)] if first is not None else []),
                 *([year <= int(last)] if last is not None else []))
    if not undated_layers:
        return dated
    return or_(dated, and_(year.is_(None),
                           LayerFeature.layer_id.in_([int(i) for i in undated_layers])))


def _footprint_or_latest(session: Session, field_id: str, version: int | None) -> Footprint:
    if version is not None:
        return _require_footprint(session, field_id, version)
    footprint = session.scalar(select(Footprint).where(Footprint.field_id == field_id)
                               .order_by(Footprint.version.desc()).limit(1))
    if footprint is None:
        _require_field(session, field_id)
        raise NotFoundError(f"field {field_id!r} has no footprint yet")
    return footprint


def _flush_or_race(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as error:
        log.info("version race, retrying: %s", error.orig)
        raise _VersionRace from error


def _insert_chunks(session: Session, model: type, rows: Iterable[dict[str, Any]]) -> None:
    """Bulk insert (Core executemany on the session's connection, chunks of 1000)."""
    statement = model.__table__.insert()
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _INSERT_CHUNK:
            session.execute(statement, chunk)
            chunk = []
    if chunk:
        session.execute(statement, chunk)


def _page_sqlite_bbox(session: Session, model: type[LayerFeature] | type[Deposit], where: Any,
                      order: tuple[Any, ...], bbox: Bounds, limit: int,
                      offset: int, *, sql_order: bool = False) -> tuple[list[Any], int]:
    """Bounding-box prefilter on the indexed columns, exact test with shapely (GEOS).

    The candidates are sorted here, not by SQL: an ORDER BY would tempt SQLite to walk
    the (parent, feature_index) unique index instead of the bbox index.
    """
    matched_ids = _sqlite_bbox_ids(session, model, where, order, bbox, sql_order=sql_order)
    if not matched_ids.size:
        return [], 0
    page_ids = [int(i) for i in matched_ids[offset:offset + limit]]
    rows = list(session.scalars(select(model).where(model.id.in_(page_ids)).order_by(*order))) \
        if page_ids else []
    return rows, int(matched_ids.size)


def _sqlite_bbox_ids(session: Session, model: type[LayerFeature] | type[Deposit], where: Any,
                     order: tuple[Any, ...], bbox: Bounds, *,
                     sql_order: bool = False) -> np.ndarray:
    """Row ids, in ``order``, whose geometry intersects ``bbox`` (see _page_sqlite_bbox)."""
    minx, miny, maxx, maxy = bbox
    prefilter = and_(model.minx <= maxx, model.maxx >= minx,
                     model.miny <= maxy, model.maxy >= miny)
    query = select(model.id, type_coerce(model.geom, LargeBinary), *order).where(where, prefilter)
    candidates = session.execute(query.order_by(*order) if sql_order else query).all()
    if not candidates:
        return np.array([], dtype=np.int64)
    if not sql_order:
        candidates.sort(key=lambda c: tuple(c[2:]))
    ids = np.array([c[0] for c in candidates])
    geoms = shapely.from_wkb(np.array([c[1] for c in candidates], dtype=object))
    return ids[shapely.intersects(geoms, box(*bbox))]


def _feature_rows(gdf: gpd.GeoDataFrame, *, what: str,
                  columns: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows for a feature table: 2-D EPSG:4326 geometry, bbox, JSON properties.

    Invalid geometries (OGC) are repaired with ``shapely.make_valid(method="structure")``;
    raises InvalidLayerError for a missing CRS, a geometry that cannot be repaired
    (collapsed to nothing or to a lower dimension) or coordinates outside lon/lat range
    after reprojection (a wrongly declared CRS).
    """
    if gdf.crs is None:
        raise InvalidLayerError(f"{what} features have no CRS", hint="set the CRS of the data")
    if len(gdf) == 0:
        return []
    if not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs(SRID)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    geoms = np.where(missing, None, shapely.force_2d(np.where(missing, shapely.Point(0, 0), geoms)))
    invalid = ~missing & ~shapely.is_valid(geoms)
    if invalid.any():
        # Raster-derived polygons (pixel corners touching) and reprojection rounding give
        # OGC-invalid rings; PostGIS predicates must never meet them. "structure" keeps
        # polygons polygonal (a bow-tie becomes two triangles).
        repaired = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        broken = shapely.is_empty(repaired) | (
            shapely.get_dimensions(repaired) != shapely.get_dimensions(geoms[invalid]))
        if broken.any():
            index = int(np.flatnonzero(invalid)[np.flatnonzero(broken)[0]])
            raise InvalidLayerError(
                f"{what} feature {index} has a geometry that cannot be repaired "
                f"({shapely.is_valid_reason(geoms[index])})", hint="fix it before upload")
        log.info("repaired %d invalid %s geometries", int(invalid.sum()), what)
        geoms[invalid] = repaired
    bounds = shapely.bounds(geoms)
    finite = bounds[~missing]
    if finite.size and (np.abs(finite[:, [0, 2]]).max() > 180 or np.abs(finite[:, [1, 3]]).max() > 90):
        raise InvalidLayerError(f"{what} coordinates fall outside longitude/latitude range",
                                hint="check the CRS declared for the data")
    attributes = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    properties = json.loads(attributes.to_json(orient="records", date_format="iso",
                                               default_handler=str)) if len(attributes.columns) \
        else [{} for _ in range(len(gdf))]
    encoded = encode_ewkb(geoms)
    rows = []
    for i, (geom, props) in enumerate(zip(encoded, properties, strict=True)):
        row: dict[str, Any] = {"feature_index": i, "geom": geom}
        for column in columns:
            row[column] = props.pop(column, None)
        row["properties"] = props
        row["minx"], row["miny"], row["maxx"], row["maxy"] = (
            (None,) * 4 if missing[i] else (float(v) for v in bounds[i]))
        rows.append(row)
    return rows


def _declaration_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    frame = df.rename(columns={"participant": "participant_iso3"}) \
        if "participant_iso3" not in df.columns else df
    missing = [c for c in ("participant_iso3", "period") if c not in frame.columns]
    if missing:
        raise InvalidDeclarationError(f"declarations lack column(s) {missing}")
    if frame.empty:
        raise InvalidDeclarationError("no declaration rows")
    raw_rows = json.loads(df.to_json(orient="records", date_format="iso", default_handler=str))
    rows = []
    for i, (record, raw) in enumerate(zip(frame.to_dict(orient="records"), raw_rows, strict=True)):
        iso3 = str(record["participant_iso3"]).strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", iso3):
            raise InvalidDeclarationError(f"row {i}: participant {iso3!r} is not an ISO3 code")
        period = str(record["period"]).strip()
        year = re.match(r"^(\d{4})", period)
        if year is None:
            raise InvalidDeclarationError(f"row {i}: period {period!r} does not start with a year")
        row = {"participant_iso3": iso3, "period": period, "year": int(year.group(1)),
               "row": raw}
        for column in ("partner", "flow"):
            value = record.get(column)
            row[column] = None if _is_missing(value) else str(value).strip()
        for column in ("carats", "value_usd"):
            value = record.get(column)
            if _is_missing(value):
                row[column] = None
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InvalidDeclarationError(f"row {i}: {column} {value!r} is not a number") from None
            if not math.isfinite(number) or number < 0:
                raise InvalidDeclarationError(f"row {i}: {column} must be a non-negative number")
            row[column] = number
        rows.append(row)
    return rows


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA \
        or value is pd.NaT


def _json_safe(value: Any) -> Any:
    """JSON-ready copy: numpy scalars and arrays to Python, NaN/inf to None (PostgreSQL's
    JSON rejects NaN), datetimes to ISO text, paths to strings."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, BaseGeometry):
        return mapping(value)
    raise InvalidParameterError(f"cannot store a {type(value).__name__} as JSON")


#: decimals of the lon/lat coordinates the store hands out as GeoJSON
GEOJSON_DECIMALS = 7


def _features(ids: list[str], geoms: list[BaseGeometry | None],
              properties: list[dict[str, Any]]) -> list[Feature]:
    """GeoJSON feature dicts; geometries converted in one vectorised pass."""
    if not ids:
        return []
    # RFC 7946 §3.1.6: exterior rings counter-clockwise, holes clockwise.
    oriented = shapely.orient_polygons(np.array(geoms, dtype=object))
    # 7 decimals of a degree is ~1 cm on the ground (RFC 7946 §11.2 advises against more);
    # it halves the size of a page of deposits without moving any vertex visibly.
    rounded = shapely.transform(oriented, lambda coords: np.round(coords, GEOJSON_DECIMALS))
    texts = shapely.to_geojson(rounded)
    return [{"type": "Feature", "id": feature_id,
             "geometry": None if text is None else json.loads(text),
             "properties": dict(props)}
            for feature_id, text, props in zip(ids, texts, properties, strict=True)]


def _deposit_properties(version: int, row: Any) -> dict[str, Any]:
    """A deposit's GeoJSON properties from its row (a Deposit or an insert dict)."""
    get = row.get if isinstance(row, Mapping) else functools.partial(getattr, row)
    return {"deposit_class": get("deposit_class"), "area_m2": get("area_m2"),
            "mined_area_m2": get("mined_area_m2"), "mode": get("mode"), "version": version,
            **get("properties")}


def _deposit_texts(version: int, rows: Sequence[Any]) -> list[str]:
    """GeoJSON Feature texts of deposit rows (insert dicts with EWKB, or Deposit rows),
    exactly as :meth:`Store.deposit_features` hands the features out."""
    if not rows:
        return []
    geoms = [r["geom"] if isinstance(r, Mapping) else r.geom for r in rows]
    if any(isinstance(g, bytes) for g in geoms):
        geoms = list(shapely.from_wkb(np.array(geoms, dtype=object)))
    features = _features(
        [f"{version}-{r['feature_index'] if isinstance(r, Mapping) else r.feature_index}"
         for r in rows], geoms, [_deposit_properties(version, r) for r in rows])
    return [json.dumps(f, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            for f in features]


def _deposit_texts_of(session: Session, footprint: Footprint, ids: Sequence[int]) -> list[str]:
    """The stored texts of deposit rows ``ids``, in that order; rows stored before the
    texts existed (NULL) are serialised here."""
    if not ids:
        return []
    texts = dict(session.execute(select(Deposit.id, Deposit.feature_json)
                                 .where(Deposit.id.in_(ids))).all())
    missing = [i for i in ids if texts.get(i) is None]
    if missing:
        rows = list(session.scalars(select(Deposit).where(Deposit.id.in_(missing))))
        texts.update(zip([r.id for r in rows], _deposit_texts(footprint.version, rows),
                         strict=True))
    return [texts[i] for i in ids]


def _check_kind(kind: str) -> None:
    if not isinstance(kind, str) or not LAYER_KIND_PATTERN.match(kind):
        raise InvalidParameterError(
            f"layer kind {kind!r} is not a lower-case identifier (known: {', '.join(LAYER_KINDS)})")


def _check_sha256(value: str) -> str:
    value = str(value).lower()
    if not _SHA256.match(value):
        raise InvalidParameterError("sha256 must be 64 hexadecimal characters")
    return value


def _check_bounds(bounds: Sequence[float]) -> Bounds:
    try:
        minx, miny, maxx, maxy = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise InvalidParameterError("a bbox is four numbers: minx, miny, maxx, maxy") from None
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)) or minx > maxx or miny > maxy \
            or not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
        raise InvalidParameterError(
            "a bbox must be minx <= maxx, miny <= maxy in degrees (lon -180..180, lat -90..90)")
    return minx, miny, maxx, maxy


def _check_page(limit: int, offset: int) -> None:
    if int(limit) < 0 or int(offset) < 0:
        raise InvalidParameterError("limit and offset must not be negative")


def _rows_bounds(rows: list[dict[str, Any]]) -> Bounds | None:
    boxes = [(r["minx"], r["miny"], r["maxx"], r["maxy"]) for r in rows if r["minx"] is not None]
    if not boxes:
        return None
    array = np.array(boxes)
    return (float(array[:, 0].min()), float(array[:, 1].min()),
            float(array[:, 2].max()), float(array[:, 3].max()))


def _bounds_or_none(geom: BaseGeometry | None) -> tuple[float | None, ...]:
    if geom is None or geom.is_empty:
        return (None,) * 4
    return tuple(float(v) for v in geom.bounds)


def _bounds_of(row: Any) -> Bounds | None:
    if row.minx is None:
        return None
    return (row.minx, row.miny, row.maxx, row.maxy)


def _token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _copy(record_type: type[R], row: Any, **extra: Any) -> R:
    names = [f.name for f in dataclass_fields(record_type) if f.name not in extra]  # type: ignore[arg-type]
    return record_type(**{name: getattr(row, name) for name in names}, **extra)


def _field_record(row: Field) -> FieldRecord:
    return _copy(FieldRecord, row, aoi_4326=row.aoi, bounds_4326=_bounds_of(row))


def _layer_record(row: Layer) -> LayerRecord:
    return _copy(LayerRecord, row, bounds_4326=_bounds_of(row))


def _footprint_record(row: Footprint) -> FootprintRecord:
    return _copy(FootprintRecord, row)


def _job_record(row: Job) -> JobRecord:
    return _copy(JobRecord, row)


def _api_key_record(row: ApiKey) -> ApiKeyRecord:
    return _copy(ApiKeyRecord, row)


def _audit_record(row: AuditEntry) -> AuditRecord:
    return _copy(AuditRecord, row)
