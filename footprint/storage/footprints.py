"""Footprint versions of a field and their deposit polygons."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from footprint.errors import (
    ConflictError,
    InvalidLayerError,
    NotFoundError,
)
from footprint.serialise import json_safe
from footprint.storage.base import (
    _VERSION_RETRIES,
    StoreBase,
    _check_bounds,
    _check_page,
    _check_sha256,
    _copy,
    _flush_or_race,
    _insert_chunks,
    _require_field,
    _VersionRace,
)
from footprint.storage.models import (
    Deposit,
    Footprint,
)
from footprint.storage.records import (
    FootprintRecord,
)
from footprint.storage.spatial import Feature, _feature_rows, _features
from footprint.storage.types import utcnow

if TYPE_CHECKING:
    import geopandas as gpd


log = logging.getLogger(__name__)

#: Columns of a deposits GeoDataFrame stored as columns; the others go to ``properties``.
DEPOSIT_COLUMNS = ("deposit_class", "area_m2", "mined_area_m2", "mode")


class FootprintRepository(StoreBase):
    """Footprint versions of a field and their deposit polygons."""

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
        inputs_sha256: str | None = None,
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
        inputs_sha256 : str, optional
            Canonical checksum of the build's inputs (see :meth:`footprints_with_inputs`).
        """
        with self._session() as session:
            crs_epsg = _require_field(session, field_id).crs_epsg
        if "area_m2" not in deposits.columns and len(deposits):
            if deposits.crs is None:
                raise InvalidLayerError("deposits have no CRS")
            deposits = deposits.assign(area_m2=deposits.to_crs(crs_epsg).area)
        rows = _feature_rows(deposits, what="deposit", columns=DEPOSIT_COLUMNS)
        draws_path = self._state_path(draws_path)
        stored_rasters = {str(name): self._state_path(value) for name, value in rasters.items()}
        if sheet_sha256 is not None:
            sheet_sha256 = _check_sha256(sheet_sha256)
        if inputs_sha256 is not None:
            inputs_sha256 = _check_sha256(inputs_sha256)
        for _attempt in range(_VERSION_RETRIES):
            try:
                with self._session(write=True) as session:
                    _require_field(session, field_id, lock=True)
                    version = 1 + (session.scalar(select(func.max(Footprint.version)).where(
                        Footprint.field_id == field_id)) or 0)
                    footprint = Footprint(
                        field_id=field_id, version=version, created_at=utcnow(), seed=int(seed),
                        n_draws=int(n_draws), code_version=code_version,
                        sheet_sha256=sheet_sha256, parameters=json_safe(dict(parameters)),
                        summaries=json_safe(dict(summaries)),
                        provenance=json_safe(dict(provenance)), draws_path=draws_path,
                        rasters=json_safe(stored_rasters), status=status, n_deposits=len(rows),
                        inputs_sha256=inputs_sha256)
                    session.add(footprint)
                    _flush_or_race(session)
                    _insert_chunks(session, Deposit,
                                   ({"footprint_id": footprint.id, **row} for row in rows))
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

    def footprints_with_inputs(self, field_id: str, inputs_sha256: str) -> list[FootprintRecord]:
        """The field's versions built from exactly these inputs (oldest first)."""
        query = (select(Footprint).where(Footprint.field_id == field_id,
                                         Footprint.inputs_sha256 == _check_sha256(inputs_sha256))
                 .order_by(Footprint.version))
        with self._session() as session:
            return [_footprint_record(r) for r in session.scalars(query)]

    def get_footprint(self, field_id: str, version: int) -> FootprintRecord:
        """One footprint version; :class:`NotFoundError` if there is none."""
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
            if version is None:
                footprint = session.scalar(select(Footprint).where(Footprint.field_id == field_id)
                                           .order_by(Footprint.version.desc()).limit(1))
                if footprint is None:
                    _require_field(session, field_id)
                    raise NotFoundError(f"field {field_id!r} has no footprint yet")
            else:
                footprint = _require_footprint(session, field_id, version)
            rows, matched = self._page(
                session, Deposit, Deposit.footprint_id == footprint.id,
                (Deposit.feature_index,), bbox, limit, offset)
            properties = [{"deposit_class": r.deposit_class, "area_m2": r.area_m2,
                           "mined_area_m2": r.mined_area_m2, "mode": r.mode,
                           "version": footprint.version, **r.properties} for r in rows]
            return _features([f"{footprint.version}-{r.feature_index}" for r in rows],
                             [r.geom for r in rows], properties), matched



def _require_footprint(session: Session, field_id: str, version: int) -> Footprint:
    row = session.scalar(select(Footprint).where(Footprint.field_id == field_id,
                                                 Footprint.version == int(version)))
    if row is None:
        raise NotFoundError(f"field {field_id!r} has no footprint version {version}")
    return row


def _footprint_record(row: Footprint) -> FootprintRecord:
    return _copy(FootprintRecord, row)
