"""Survey layers of a field and their features."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from footprint.concepts import LAYER_KINDS
from footprint.errors import (
    ConflictError,
    InvalidParameterError,
    NotFoundError,
)
from footprint.serialise import json_safe
from footprint.storage import tiles
from footprint.storage.audit import Audit, add_audit_entry
from footprint.storage.base import (
    _VERSION_RETRIES,
    StoreBase,
    _bounds_of,
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
    LAYER_SOURCES,
    Layer,
    LayerFeature,
)
from footprint.storage.records import (
    Bounds,
    LayerRecord,
)
from footprint.storage.spatial import Feature, _feature_rows, _features, _rows_bounds
from footprint.storage.types import SRID, utcnow

if TYPE_CHECKING:
    import geopandas as gpd


log = logging.getLogger(__name__)

#: Layer kinds other than :data:`~footprint.concepts.LAYER_KINDS` are accepted if they match.
LAYER_KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


class LayerRepository(StoreBase):
    """Survey layers of a field and their features."""

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
        audit: Audit | None = None,
    ) -> tuple[LayerRecord, bool]:
        """Store a layer, its features and its audit entry in one transaction.

        Parameters
        ----------
        sha256 : str
            Checksum of the uploaded file; with ``field_id`` and ``kind`` it identifies
            the layer: an identical re-upload returns the stored record and ``False``
            (a retired layer uploaded again is made active again and returned with
            ``True``: the upload is what brings it back into the builds).
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
        audit : Audit, optional
            Who uploads: the layer's ``created_by``, and an ``upload_layer`` entry written
            with the layer whenever it is created or brought back (none for an identical
            re-upload, which changes nothing).

        Returns
        -------
        (LayerRecord, created)
            ``version`` counts the layers of this field and kind, from 1.
        """
        _check_kind(kind)
        if source not in LAYER_SOURCES:
            raise InvalidParameterError(
                f"layer source must be one of {LAYER_SOURCES}, not {source!r}")
        rows = _feature_rows(features, what="layer") if features is not None else []
        layer = Layer(
            field_id=field_id, kind=kind, name=name, source=source,
            sha256=_check_sha256(sha256), crs=crs, year=None if year is None else int(year),
            path=self._state_path(path), stac=json_safe(stac) if stac is not None else None,
            meta=json_safe(dict(meta or {})), n_features=len(rows),
            created_by=audit.actor if audit is not None else None)
        layer.minx, layer.miny, layer.maxx, layer.maxy = (
            _layer_bounds(bounds_4326, rows) or (None,) * 4)
        for _attempt in range(_VERSION_RETRIES):
            try:
                with self._session(write=True) as session:
                    stored, created = _store_layer(session, layer, rows)
                    if created:
                        _audit_upload(session, audit, stored)
                    return _layer_record(stored), created
            except _VersionRace:
                continue
        raise ConflictError("too many concurrent uploads of this layer kind; try again")

    def list_layers(self, field_id: str | None = None, kind: str | None = None, *,
                    include_retired: bool = False) -> list[LayerRecord]:
        """Layers, oldest first, optionally of one field and/or kind.

        Retired layers (:meth:`retire_layer`) are left out unless ``include_retired``:
        what a build reads is the active ones.
        """
        query = select(Layer).order_by(Layer.field_id, Layer.kind, Layer.version)
        if field_id is not None:
            query = query.where(Layer.field_id == field_id)
        if kind is not None:
            query = query.where(Layer.kind == kind)
        if not include_retired:
            query = query.where(Layer.retired_at.is_(None))
        with self._session() as session:
            return [_layer_record(r) for r in session.scalars(query)]

    def get_layer(self, layer_id: int) -> LayerRecord:
        """One layer; :class:`NotFoundError` if there is none."""
        with self._session() as session:
            return _layer_record(_require_layer(session, layer_id))

    def retire_layer(self, layer_id: int, *, audit: Audit, field_id: str | None = None,
                     reason: str | None = None) -> tuple[LayerRecord, bool]:
        """Retire (supersede) a layer: it stays stored, with its features and file, for the
        provenance of the versions built from it, but builds no longer read it.

        The audit entry (action ``retire_layer``) is written in the same transaction.

        Parameters
        ----------
        audit : Audit
            Who retires it (the layer's ``retired_by``) and the context kept.
        field_id : str, optional
            When given, the layer must belong to that field (else :class:`NotFoundError`).
        reason
            Recorded in the audit entry.

        Returns
        -------
        (LayerRecord, retired)
            ``retired`` is False when the layer was already retired (nothing changes and
            no second audit entry is written).
        """
        with self._session(write=True) as session:
            layer = _require_layer(session, layer_id)
            if field_id is not None and layer.field_id != field_id:
                raise NotFoundError(f"field {field_id!r} has no layer {layer_id}")
            if layer.retired_at is not None:
                return _layer_record(layer), False
            layer.retired_at, layer.retired_by = utcnow(), audit.actor
            add_audit_entry(session, audit, "retire_layer", _layer_target(layer),
                            sha256=layer.sha256,
                            detail={"kind": layer.kind, "name": layer.name,
                                    "version": layer.version, "reason": reason})
            session.flush()
            return _layer_record(layer), True

    def layer_frame(self, layer_id: int) -> gpd.GeoDataFrame:
        """All the features of one layer as a GeoDataFrame in EPSG:4326, for the models.

        Geometries are decoded from the stored WKB at full precision (not the rounded
        GeoJSON of :meth:`layer_features`); the columns are the stored properties, in
        feature order. A layer without features gives an empty frame.
        """
        import geopandas as gpd

        with self._session() as session:
            _require_layer(session, layer_id)
            rows = session.execute(
                select(LayerFeature.geom, LayerFeature.properties)
                .where(LayerFeature.layer_id == layer_id)
                .order_by(LayerFeature.feature_index)).all()
        if not rows:
            return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=SRID), crs=SRID)
        properties = pd.DataFrame.from_records([dict(r.properties or {}) for r in rows])
        return gpd.GeoDataFrame(properties, geometry=[r.geom for r in rows], crs=SRID)

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

        Retired layers are left out, except when asked for by ``layer_id``.

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
            if layer_id is None:
                layers = layers.where(Layer.retired_at.is_(None))
            chosen = list(session.scalars(layers))
            if not chosen:
                return [], 0
            where: Any = LayerFeature.layer_id.in_(chosen)
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

    def layer_feature(self, layer_id: int,
                      feature_index: int) -> tuple[LayerRecord, Feature] | None:
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


def _layer_bounds(bounds_4326: Sequence[float] | None, rows: list[dict[str, Any]]
                  ) -> Bounds | None:
    """The layer's extent: the given one when finite (features without geometry give a
    NaN ``total_bounds``), else that of its features."""
    if bounds_4326 is not None and np.isfinite(np.asarray(bounds_4326, float)).all():
        return _check_bounds(bounds_4326)
    return _rows_bounds(rows)


def _store_layer(session: Session, layer: Layer,
                 rows: Sequence[Mapping[str, Any]]) -> tuple[Layer, bool]:
    """Add ``layer`` (unsaved) and its feature rows in ``session``, numbered after the
    field's layers of its kind; or return the stored layer with the same checksum
    (brought back when retired: created True)."""
    _require_field(session, layer.field_id, lock=True)
    existing = session.scalar(select(Layer).where(
        Layer.field_id == layer.field_id, Layer.kind == layer.kind,
        Layer.sha256 == layer.sha256))
    if existing is not None:
        revived = existing.retired_at is not None
        existing.retired_at, existing.retired_by = None, None
        return existing, revived
    layer = _copy_layer(layer)  # a fresh object per attempt: a lost race left the old one
    layer.version = 1 + (session.scalar(select(func.max(Layer.version)).where(
        Layer.field_id == layer.field_id, Layer.kind == layer.kind)) or 0)
    layer.created_at = utcnow()
    session.add(layer)
    _flush_or_race(session)
    _insert_chunks(session, LayerFeature, ({"layer_id": layer.id, **row} for row in rows))
    return layer, True


def _copy_layer(layer: Layer) -> Layer:
    columns = ("field_id", "kind", "name", "source", "sha256", "crs", "year", "path", "stac",
               "meta", "n_features", "created_by", "minx", "miny", "maxx", "maxy")
    return Layer(**{name: getattr(layer, name) for name in columns})


def _audit_upload(session: Session, audit: Audit | None, layer: Layer) -> None:
    meta = layer.meta or {}
    add_audit_entry(session, audit, "upload_layer", _layer_target(layer), sha256=layer.sha256,
                    detail={"kind": layer.kind, "name": layer.name, "year": layer.year,
                            "version": layer.version, "size_bytes": meta.get("size_bytes")})


def _layer_target(layer: Layer) -> str:
    return f"fields/{layer.field_id}/layers/{layer.id}"


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


def _require_layer(session: Session, layer_id: int) -> Layer:
    row = session.get(Layer, layer_id)
    if row is None:
        raise NotFoundError(f"no layer with id {layer_id}")
    return row


def _check_kind(kind: str) -> None:
    if not isinstance(kind, str) or not LAYER_KIND_PATTERN.match(kind):
        raise InvalidParameterError(
            f"layer kind {kind!r} is not a lower-case identifier (known: {', '.join(LAYER_KINDS)})")


def _layer_record(row: Layer) -> LayerRecord:
    return _copy(LayerRecord, row, bounds_4326=_bounds_of(row))
