"""Fields: the catalogue's areas of interest as stored rows."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from footprint.storage.base import (
    StoreBase,
    _bounds_of,
    _bounds_or_none,
    _copy,
    _require_field,
)
from footprint.storage.models import (
    Field,
)
from footprint.storage.records import (
    FieldRecord,
)
from footprint.storage.types import utcnow

if TYPE_CHECKING:

    pass


log = logging.getLogger(__name__)

_PG_SYNC_FIELDS_LOCK = 0x666F6F75  # serialises concurrent catalogue synchronisations


class FieldRepository(StoreBase):
    """Fields: the catalogue's areas of interest as stored rows."""

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
        """Every stored field, by id."""
        with self._session() as session:
            return [_field_record(r) for r in session.scalars(select(Field).order_by(Field.id))]

    def get_field(self, field_id: str) -> FieldRecord:
        """The stored field; :class:`UnknownFieldError` if it was never synchronised."""
        with self._session() as session:
            return _field_record(_require_field(session, field_id))



def _field_record(row: Field) -> FieldRecord:
    return _copy(FieldRecord, row, aoi_4326=row.aoi, bounds_4326=_bounds_of(row))
