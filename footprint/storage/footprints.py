"""Footprint versions of a field and their deposit polygons."""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from footprint.errors import (
    ConflictError,
    InvalidLayerError,
    NotFoundError,
)
from footprint.serialise import json_safe
from footprint.storage import tiles
from footprint.storage.audit import Audit, add_audit_entry
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
from footprint.storage.filters import filter_clause, sort_columns
from footprint.storage.models import (
    Deposit,
    Footprint,
)
from footprint.storage.records import (
    FeaturePage,
    FootprintRecord,
)
from footprint.storage.spatial import Feature, _feature_rows, _features, _sqlite_bbox_ids
from footprint.storage.types import SRID, utcnow

if TYPE_CHECKING:
    import geopandas as gpd


log = logging.getLogger(__name__)

#: Columns of a deposits GeoDataFrame stored as columns; the others go to ``properties``.
DEPOSIT_COLUMNS = ("deposit_class", "area_m2", "mined_area_m2", "mode")


#: footprint versions recorded by this process, by database URL
_GENERATIONS: dict[str, int] = {}
_GENERATION_LOCK = threading.Lock()


class FootprintRepository(StoreBase):
    """Footprint versions of a field and their deposit polygons."""

    @property
    def footprint_generation(self) -> int:
        """How many footprint versions the stores of this process have recorded in this
        database: a reader that remembers a field's latest version (the API's) forgets
        it when this moves. Versions written by other processes are not counted."""
        return _GENERATIONS.get(str(self._url), 0)

    def _count_footprint_version(self) -> None:
        with _GENERATION_LOCK:
            _GENERATIONS[str(self._url)] = _GENERATIONS.get(str(self._url), 0) + 1

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
        audit: Audit | None = None,
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
        audit : Audit, optional
            Who builds it: a ``build_footprint`` entry written with the version.
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
        sheet_sha256 = _check_sha256(sheet_sha256) if sheet_sha256 is not None else None
        inputs_sha256 = _check_sha256(inputs_sha256) if inputs_sha256 is not None else None
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
                    texts = _deposit_texts(version, rows)
                    _insert_chunks(session, Deposit,
                                   ({"footprint_id": footprint.id, **row, "feature_json": text}
                                    for row, text in zip(rows, texts, strict=True)))
                    add_audit_entry(session, audit, "build_footprint",
                                    f"fields/{field_id}/footprints/{version}",
                                    sha256=inputs_sha256,
                                    detail={"seed": int(seed), "draws": int(n_draws),
                                            "deposits": len(rows)})
                    record = _footprint_record(footprint)
            except _VersionRace:
                continue
            self._count_footprint_version()
            return record
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



def _footprint_or_latest(session: Session, field_id: str, version: int | None) -> Footprint:
    if version is not None:
        return _require_footprint(session, field_id, version)
    footprint = session.scalar(select(Footprint).where(Footprint.field_id == field_id)
                               .order_by(Footprint.version.desc()).limit(1))
    if footprint is None:
        _require_field(session, field_id)
        raise NotFoundError(f"field {field_id!r} has no footprint yet")
    return footprint


def _require_footprint(session: Session, field_id: str, version: int) -> Footprint:
    row = session.scalar(select(Footprint).where(Footprint.field_id == field_id,
                                                 Footprint.version == int(version)))
    if row is None:
        raise NotFoundError(f"field {field_id!r} has no footprint version {version}")
    return row


def _footprint_record(row: Footprint) -> FootprintRecord:
    return _copy(FootprintRecord, row)


def _deposit_properties(version: int, row: Any) -> dict[str, Any]:
    """A deposit's GeoJSON properties from its row (a Deposit or an insert dict)."""
    get = row.get if isinstance(row, Mapping) else functools.partial(getattr, row)
    return {"deposit_class": get("deposit_class"), "area_m2": get("area_m2"),
            "mined_area_m2": get("mined_area_m2"), "mode": get("mode"), "version": version,
            **(get("properties") or {})}


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
    texts: dict[int, str | None] = dict(session.execute(select(Deposit.id, Deposit.feature_json)
                                 .where(Deposit.id.in_(ids))).all())
    missing = [i for i in ids if texts.get(i) is None]
    if missing:
        rows = list(session.scalars(select(Deposit).where(Deposit.id.in_(missing))))
        texts.update(zip([r.id for r in rows], _deposit_texts(footprint.version, rows),
                         strict=True))
    return [str(texts[i]) for i in ids]
