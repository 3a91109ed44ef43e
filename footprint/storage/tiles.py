"""Mapbox Vector Tiles (MVT) of the feature tables in Web Mercator (``WebMercatorQuad``).

PostGIS encodes them itself (``ST_TileEnvelope``, ``ST_AsMVTGeom``, ``ST_AsMVT``); on
SQLite the bounding-box columns pick the candidates, shapely clips them to the tile and
:mod:`mapbox_vector_tile` encodes them. Both put each feature's properties in the tile
as attributes and keep ``BUFFER_PX`` pixels around the tile so strokes join across
tile edges. Coordinates are 4096 units a tile (the MVT default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from sqlalchemy import LargeBinary, and_, bindparam, select, text, type_coerce
from sqlalchemy.orm import Session

from footprint.errors import InvalidParameterError

EXTENT = 4096
BUFFER_PX = 64
#: half the side of the Web Mercator square, metres (EPSG:3857)
_HALF_M = 20037508.342789244
_TO_3857 = Transformer.from_crs(4326, 3857, always_xy=True)


def tile_bounds_3857(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) in metres of tile z/x/y of WebMercatorQuad."""
    size = 2 * _HALF_M / 2**z
    return (-_HALF_M + x * size, _HALF_M - (y + 1) * size,
            -_HALF_M + (x + 1) * size, _HALF_M - y * size)


def tile_bounds_4326(z: int, x: int, y: int, buffer_px: int = BUFFER_PX
                     ) -> tuple[float, float, float, float]:
    """Lon/lat box of tile z/x/y widened by ``buffer_px`` pixels (of ``EXTENT``)."""
    n = 2**z
    pad = buffer_px / EXTENT

    def lon(col: float) -> float:
        return col / n * 360 - 180

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return (lon(x - pad), max(lat(y + 1 + pad), -85.06), lon(x + 1 + pad),
            min(lat(y - pad), 85.06))


def check_tile(z: int, x: int, y: int) -> None:
    """Refuse (400) a tile outside WebMercatorQuad zooms 0-24."""
    if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise InvalidParameterError(f"tile {z}/{x}/{y} is not in WebMercatorQuad",
                                    hint="0 <= z <= 24 and 0 <= x, y < 2^z")


def postgis_tile(session: Session, table: str, where_sql: str, params: dict[str, Any],
                 columns: Sequence[str], layer: str, z: int, x: int, y: int) -> bytes:
    """One MVT layer from ``table t`` rows matching ``where_sql`` (bound ``params``);
    ``columns`` are SQL select terms on ``t`` (e.g. ``t.deposit_class``)."""
    attributes = ", ".join(columns)
    statement = text(f"""
        WITH bounds AS (SELECT ST_TileEnvelope(:z, :x, :y) AS g),
        rows AS (
            SELECT ST_AsMVTGeom(ST_Transform(t.geom, 3857), bounds.g, {EXTENT}, {BUFFER_PX},
                                true) AS mvt_geom, {attributes}
            FROM {table} t, bounds
            WHERE {where_sql} AND t.geom && ST_Transform(bounds.g, 4326))
        SELECT ST_AsMVT(rows, :layer, {EXTENT}, 'mvt_geom') FROM rows
        WHERE mvt_geom IS NOT NULL""").bindparams(
        bindparam("z", z), bindparam("x", x), bindparam("y", y), bindparam("layer", layer))
    data = session.execute(statement, params).scalar()
    return bytes(data) if data is not None else b""


def sqlite_tile(session: Session, model: Any, where: Any, attributes: Any, layer: str,
                z: int, x: int, y: int) -> bytes:
    """One MVT layer of ``model`` rows matching ``where``: bbox prefilter, clip, encode.

    ``attributes(row) -> dict`` gives a row's tile attributes (None values are dropped).
    """
    import mapbox_vector_tile

    minx, miny, maxx, maxy = tile_bounds_4326(z, x, y)
    prefilter = and_(model.minx <= maxx, model.maxx >= minx, model.miny <= maxy,
                     model.maxy >= miny)
    rows = list(session.execute(select(model, type_coerce(model.geom, LargeBinary).label("wkb"))
                                .where(where, prefilter)).all())
    if not rows:
        return b""
    geoms = shapely.from_wkb(np.array([r.wkb for r in rows], dtype=object))
    geoms = shapely.transform(geoms, lambda c: np.column_stack(_TO_3857.transform(c[:, 0],
                                                                                  c[:, 1])))
    # reprojection can fold near-coincident vertices into self-intersections, and GEOS's
    # rectangle clip turns an invalid polygon into the whole tile: repair those first
    invalid = ~shapely.is_valid(geoms)
    geoms[invalid] = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
    west, south, east, north = tile_bounds_3857(z, x, y)
    pad = (east - west) * BUFFER_PX / EXTENT
    clipped = shapely.clip_by_rect(geoms, west - pad, south - pad, east + pad, north + pad)
    features = [{"geometry": geom, "id": i,
                 "properties": {k: v for k, v in attributes(row[0]).items() if v is not None}}
                for i, (geom, row) in enumerate(zip(clipped, rows, strict=True))
                if geom is not None and not geom.is_empty]
    if not features:
        return b""
    return mapbox_vector_tile.encode(
        [{"name": layer, "features": features}],
        default_options={"quantize_bounds": (west, south, east, north), "extents": EXTENT})
