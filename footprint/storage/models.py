"""Tables of the footprint database (SQLAlchemy 2 declarative, typed).

The schema itself is created and changed only by the Alembic migrations in
``migrations/versions``; these classes mirror it for queries. Geometry columns hold
EPSG:4326 lon/lat shapely geometries (:class:`~footprint.storage.types.Geometry4326`);
tables with geometries also carry ``minx, miny, maxx, maxy`` (degrees) for the SQLite
bounding-box prefilter and for cheap extents on both backends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from footprint.concepts import JOB_STATUSES, ROLES
from footprint.storage.types import Geometry4326, JSONDoc, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

LAYER_SOURCES = ("upload", "bundled")
DECLARATION_KINDS = ("production", "exports", "certificates")
API_KEY_ROLES = ROLES

#: Row ids: 64-bit on PostgreSQL; SQLite needs plain INTEGER for its rowid alias.
RowId = BigInteger().with_variant(Integer(), "sqlite")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base of the tables, with the constraint naming convention."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class BBoxMixin:
    """Bounding box of the row's geometry in degrees (EPSG:4326); NULL without geometry."""

    minx: Mapped[float | None] = mapped_column(Float)
    miny: Mapped[float | None] = mapped_column(Float)
    maxx: Mapped[float | None] = mapped_column(Float)
    maxy: Mapped[float | None] = mapped_column(Float)


class Field(BBoxMixin, Base):
    """A diamond field of the catalogue (synchronised from ``datasets/``)."""

    __tablename__ = "fields"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    participant_iso3: Mapped[str] = mapped_column(String(3))
    crs_epsg: Mapped[int] = mapped_column(Integer)
    aoi: Mapped[BaseGeometry | None] = mapped_column(Geometry4326())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Layer(BBoxMixin, Base):
    """An input layer of a field (uploaded or bundled); ``version`` counts per field+kind."""

    __tablename__ = "layers"
    __table_args__ = (
        UniqueConstraint("field_id", "kind", "version"),
        UniqueConstraint("field_id", "kind", "sha256"),
        CheckConstraint(_in("source", LAYER_SOURCES), name="source"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    field_id: Mapped[str] = mapped_column(ForeignKey("fields.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    crs: Mapped[str | None] = mapped_column(Text)
    year: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str | None] = mapped_column(Text)
    stac: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    meta: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    n_features: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200))
    #: set when the layer is retired (superseded): kept for old versions, not built from
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    retired_by: Mapped[str | None] = mapped_column(String(200))


class LayerFeature(BBoxMixin, Base):
    """One vector feature of a layer, geometry in EPSG:4326."""

    __tablename__ = "layer_features"
    __table_args__ = (UniqueConstraint("layer_id", "feature_index"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"))
    feature_index: Mapped[int] = mapped_column(Integer)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    geom: Mapped[BaseGeometry | None] = mapped_column(Geometry4326())


class Footprint(Base):
    """A computed production footprint; ``version`` counts per field, old ones stay."""

    __tablename__ = "footprints"
    __table_args__ = (UniqueConstraint("field_id", "version"),
                      Index(None, "field_id", "inputs_sha256"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    field_id: Mapped[str] = mapped_column(ForeignKey("fields.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    seed: Mapped[int] = mapped_column(BigInteger)
    n_draws: Mapped[int] = mapped_column(Integer)
    code_version: Mapped[str] = mapped_column(String(100))
    sheet_sha256: Mapped[str | None] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    summaries: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    draws_path: Mapped[str | None] = mapped_column(Text)
    rasters: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    status: Mapped[str] = mapped_column(String(16))
    n_deposits: Mapped[int] = mapped_column(Integer, default=0)
    #: canonical sha256 of the build's inputs (footprint.pipeline.build.build_inputs)
    inputs_sha256: Mapped[str | None] = mapped_column(String(64))


class Deposit(BBoxMixin, Base):
    """A delineated deposit polygon of one footprint version (EPSG:4326)."""

    __tablename__ = "deposits"
    __table_args__ = (UniqueConstraint("footprint_id", "feature_index"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    footprint_id: Mapped[int] = mapped_column(ForeignKey("footprints.id", ondelete="CASCADE"))
    feature_index: Mapped[int] = mapped_column(Integer)
    deposit_class: Mapped[str | None] = mapped_column(String(64))
    area_m2: Mapped[float | None] = mapped_column(Float)
    mined_area_m2: Mapped[float | None] = mapped_column(Float)
    mode: Mapped[str | None] = mapped_column(String(32))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    geom: Mapped[BaseGeometry | None] = mapped_column(Geometry4326())
    #: the GeoJSON Feature, serialised once when the version is stored (NULL before 0003_ogc)
    feature_json: Mapped[str | None] = mapped_column(Text)


class Declaration(Base):
    """One row of declared statistics (KP production, exports or certificates)."""

    __tablename__ = "declarations"
    __table_args__ = (
        CheckConstraint(_in("kind", DECLARATION_KINDS), name="kind"),
        Index(None, "kind", "participant_iso3", "year"),
        Index(None, "kind", "upload_sha256"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    participant_iso3: Mapped[str] = mapped_column(String(3))
    period: Mapped[str] = mapped_column(String(32))
    year: Mapped[int] = mapped_column(Integer)
    partner: Mapped[str | None] = mapped_column(String(64))
    flow: Mapped[str | None] = mapped_column(String(32))
    carats: Mapped[float | None] = mapped_column(Float)
    value_usd: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(Text)
    upload_sha256: Mapped[str] = mapped_column(String(64))
    row: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200))


class Job(Base):
    """An asynchronous process execution (OGC API - Processes job)."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("status", JOB_STATUSES), name="status"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),
        Index(None, "status"),
        Index(None, "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    worker: Mapped[str | None] = mapped_column(String(200))
    owner: Mapped[str | None] = mapped_column(String(200))


class ApiKey(Base):
    """An API key: only the sha256 of the token is kept, plus a short lookup prefix."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_in("role", API_KEY_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Who did what to which object, with the checksum of what they sent."""

    __tablename__ = "audit"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDoc)

