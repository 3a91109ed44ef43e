"""The bbox query reaches the spatial index: GIST on PostGIS, the bbox B-tree on SQLite."""

from __future__ import annotations

import hashlib

import geopandas as gpd
import numpy as np
from sqlalchemy import event


def _captured_statements(store, call):
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        result = call()
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    return result, statements


def test_bbox_query_uses_the_spatial_index(store, backend):
    rng = np.random.default_rng(11)
    n = 3000
    points = gpd.GeoDataFrame({"i": np.arange(n)},
                              geometry=gpd.points_from_xy(rng.uniform(-1.2, -0.5, n),
                                                          rng.uniform(5.8, 6.3, n)), crs=4326)
    record, _ = store.add_layer("gh-birim", "usgs_points", "many points",
                                hashlib.sha256(b"many").hexdigest(), crs="EPSG:4326",
                                bounds_4326=None, features=points)
    bbox = (-0.9, 6.0, -0.88, 6.02)
    (features, matched), statements = _captured_statements(
        store, lambda: store.layer_features(record.id, bbox_4326=bbox, limit=1000))
    expected = points.cx[bbox[0]:bbox[2], bbox[1]:bbox[3]]
    assert matched == len(expected) > 0
    assert sorted(f["properties"]["i"] for f in features) == sorted(expected["i"])

    if backend == "postgis":
        sql, params = next((s, p) for s, p in statements if "ST_Intersects" in s and "LIMIT" in s)
        assert "ST_MakeEnvelope" in sql
        with store.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE layer_features")
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = "\n".join(r[0] for r in connection.exec_driver_sql("EXPLAIN " + sql, params))
        assert "ix_layer_features_geom" in plan, plan
    else:
        sql, params = next((s, p) for s, p in statements if "minx <=" in s)
        with store.engine.connect() as connection:
            plan = "\n".join(str(r[-1]) for r in
                             connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
        assert "ix_layer_features_bbox" in plan, plan
