"""Column types that behave the same on SQLite and PostgreSQL/PostGIS.

:class:`Geometry4326` stores a shapely geometry in EPSG:4326 (lon/lat). On PostgreSQL
it is a PostGIS ``geometry(Geometry, 4326)`` column (through GeoAlchemy2, so values
travel as EWKB and spatial SQL such as ``ST_Intersects`` works on it); on SQLite it is
EWKB (WKB with the SRID) in a BLOB, paired by the models with ``minx, miny, maxx, maxy``
columns for a bounding-box prefilter (see ``README.md``). Python code only ever sees
shapely objects.

:class:`UTCDateTime` always returns timezone-aware UTC datetimes (SQLite drops the
offset on the way in).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import shapely
from geoalchemy2 import Geometry as _PostGISGeometry
from geoalchemy2.elements import WKBElement
from shapely.geometry.base import BaseGeometry
from sqlalchemy import JSON, DateTime, LargeBinary
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

SRID = 4326

#: JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")


def is_postgres(dialect: Dialect | None) -> bool:
    """The dialect is PostgreSQL."""
    return dialect is not None and dialect.name == "postgresql"


class EWKB(bytes):
    """A 2-D geometry already encoded as EWKB with SRID 4326 (see :func:`encode_ewkb`)."""


def encode_ewkb(geometries: np.ndarray) -> list[EWKB | None]:
    """Encode an array of shapely geometries (or None) at once, for bulk inserts.

    Vectorised: about twice as fast as letting the column type encode row by row.
    """
    flat = shapely.set_srid(shapely.force_2d(geometries), SRID)
    return [None if w is None else EWKB(w)
            for w in shapely.to_wkb(flat, include_srid=True)]


class Geometry4326(TypeDecorator[BaseGeometry]):
    """A shapely geometry in EPSG:4326; PostGIS geometry or EWKB BLOB by dialect.

    Z and M ordinates are dropped: the PostGIS column is 2-D (``geometry(Geometry,
    4326)``) and nothing downstream uses heights stored on vector features.
    """

    impl = LargeBinary
    cache_ok = True
    #: Read by GeoAlchemy2's DDL hooks: the migrations create the GIST indexes themselves.
    spatial_index = False

    def load_dialect_impl(self, dialect: Dialect | None) -> TypeEngine[Any]:
        """PostGIS geometry on PostgreSQL, WKB bytes elsewhere."""
        postgis = _PostGISGeometry(geometry_type="GEOMETRY", srid=SRID, spatial_index=False)
        if dialect is None:  # GeoAlchemy2's DDL hooks on PostgreSQL ask without a dialect
            return postgis
        if is_postgres(dialect):
            return dialect.type_descriptor(postgis)
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: BaseGeometry | None, dialect: Dialect) -> Any:
        """Shapely geometry to EWKB (SRID 4326)."""
        if value is None:
            return None
        if isinstance(value, EWKB):
            ewkb = value
        elif isinstance(value, BaseGeometry):
            ewkb = EWKB(shapely.to_wkb(shapely.set_srid(shapely.force_2d(value), SRID),
                                       include_srid=True))
        else:
            raise TypeError(f"expected a shapely geometry, got {type(value).__name__}")
        # PostGIS: EWKB hex, which GeoAlchemy2's ST_GeomFromEWKT(...) wrapper accepts.
        return ewkb.hex() if is_postgres(dialect) else bytes(ewkb)

    def process_result_value(self, value: Any, dialect: Dialect) -> BaseGeometry | None:
        """WKB or EWKB from the database to a shapely geometry."""
        if value is None:
            return None
        if isinstance(value, WKBElement):
            value = value.data
        if isinstance(value, memoryview):
            value = value.tobytes()
        geom = shapely.from_wkb(value)
        return shapely.set_srid(geom, 0) if shapely.get_srid(geom) else geom


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (naive input is taken as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        """A datetime stored as UTC (a naive one is taken as UTC)."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        # SQLite keeps a naive ISO string; comparisons stay correct because all are UTC.
        return value if is_postgres(dialect) else value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """The stored datetime as aware UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)
