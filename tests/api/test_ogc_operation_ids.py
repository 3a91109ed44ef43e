"""The OGC routes (features, tiles, STAC) name their operations explicitly."""

from __future__ import annotations

from fastapi.routing import APIRoute

from api.routers import features, stac, tiles


def test_every_ogc_route_has_an_explicit_operation_id():
    routes = [route for module in (features, tiles, stac) for route in module.router.routes
              if isinstance(route, APIRoute)]
    assert len(routes) >= 20
    missing = [route.path for route in routes if not route.operation_id]
    assert not missing
    assert {"getFeatures", "getFeature", "getCollectionTile", "getStacItem"} <= {
        route.operation_id for route in routes}
