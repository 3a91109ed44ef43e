"""Feature tables: rows in (2-D EPSG:4326 WKB, bbox, JSON properties) and GeoJSON out."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry
from sqlalchemy import LargeBinary, and_, select, type_coerce
from sqlalchemy.orm import Session

from footprint.errors import (
    InvalidLayerError,
)
from footprint.storage.models import (
    Deposit,
    LayerFeature,
)
from footprint.storage.records import (
    Bounds,
)
from footprint.storage.types import SRID, encode_ewkb

if TYPE_CHECKING:
    import geopandas as gpd


log = logging.getLogger(__name__)

Feature = dict[str, Any]


def _page_sqlite_bbox(session: Session, model: type[LayerFeature] | type[Deposit], where: Any,
                      order: tuple[Any, ...], bbox: Bounds, limit: int,
                      offset: int, *, sql_order: bool = False) -> tuple[list[Any], int]:
    """Bounding-box prefilter on the indexed columns, exact test with shapely (GEOS).

    The candidates are sorted here, not by SQL: an ORDER BY would tempt SQLite to walk
    the (parent, feature_index) unique index instead of the bbox index (unless
    ``sql_order``: ``order`` then holds sort expressions only SQL can evaluate).
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
    candidates = list(session.execute(query.order_by(*order) if sql_order else query).all())
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
    placeholders = np.where(missing, shapely.Point(0, 0), geoms)  # type: ignore[call-overload]
    geoms = np.where(missing, None,  # type: ignore[call-overload, assignment]
                     shapely.force_2d(placeholders))
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
    if finite.size and (np.abs(finite[:, [0, 2]]).max() > 180
                        or np.abs(finite[:, [1, 3]]).max() > 90):
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


def _rows_bounds(rows: list[dict[str, Any]]) -> Bounds | None:
    boxes = [(r["minx"], r["miny"], r["maxx"], r["maxy"]) for r in rows if r["minx"] is not None]
    if not boxes:
        return None
    array = np.array(boxes)
    return (float(array[:, 0].min()), float(array[:, 1].min()),
            float(array[:, 2].max()), float(array[:, 3].max()))


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
