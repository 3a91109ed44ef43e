"""OGC API - Features, Part 1 (core, GeoJSON): the service's vector collections.

Collections
-----------
``fields``
    the areas of interest of the catalogue, with their properties.
``deposits-<field>``
    deposit polygons of the field's latest footprint version (``version=`` for another).
``mined-areas-<field>``
    uploaded layers of kind ``mined_areas`` (``datetime`` filters on their ``year``).
``layers-<field>``
    every uploaded survey vector layer's features (``datetime`` filters on ``year`` or the
    upload time).
``usgs-mines``
    USGS mineral deposit, exploration and facility points in the four countries
    (``is_diamond`` marks the diamond ones).

All geometries are GeoJSON (RFC 7946) in lon/lat (CRS84). ``limit`` above the server
maximum is clamped to it, as OGC API - Features requires.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Path as PathParam, Query, Request
from fastapi.responses import JSONResponse
from shapely.geometry import box, shape

from api.deps import ReadAccess, SettingsDep, StoreDep
from api.errors import ERROR_RESPONSES
from api.ogc import (
    CONFORMANCE_CLASSES,
    PROCESSES_CONFORMANCE_CLASSES,
    CRS84,
    GEOJSON_MEDIA_TYPE,
    Interval,
    clamp_limit,
    link,
    paging_links,
    parse_bbox,
    parse_datetime,
    utc_now_rfc3339,
)
from footprint.catalogue import FieldDefinition, load_catalogue
from footprint.errors import DataMissingError, NotFoundError
from footprint.settings import Settings

router = APIRouter(tags=["OGC API - Features"], responses=ERROR_RESPONSES)

BBox = tuple[float, float, float, float]
#: Upper bound on features read when a page spans a chosen subset of a field's layers.
_LAYER_SCAN = 1_000_000


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON_MEDIA_TYPE


# --------------------------------------------------------------------------------------
# Collections and how to read them


@dataclass(frozen=True)
class ItemsQuery:
    bbox_4326: BBox | None
    interval: Interval | None
    limit: int
    offset: int
    version: int | None


@dataclass(frozen=True)
class Collection:
    """A feature collection: its description and how to read a page of it."""

    id: str
    title: str
    description: str
    bbox_4326: BBox | None
    read: Callable[[Any, Settings, ItemsQuery], tuple[list[dict[str, Any]], int]]
    temporal: bool = False


def _page(features: list[dict[str, Any]], offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    return features[offset:offset + limit], len(features)


def _in_bbox(features: Iterable[dict[str, Any]], bbox_4326: BBox | None) -> list[dict[str, Any]]:
    if bbox_4326 is None:
        return list(features)
    window = box(*bbox_4326)
    return [f for f in features if f.get("geometry") and shape(f["geometry"]).intersects(window)]


def _read_fields(store: Any, settings: Settings, query: ItemsQuery):
    # datetime is ignored: field areas are not time-stamped
    features = _in_bbox((f.feature() for f in load_catalogue().values()), query.bbox_4326)
    return _page(features, query.offset, query.limit)


def _read_usgs(store: Any, settings: Settings, query: ItemsQuery):
    features = _in_bbox(usgs_mine_points(settings.data_dir), query.bbox_4326)
    return _page(features, query.offset, query.limit)


def _read_deposits(field_id: str):
    def read(store: Any, settings: Settings, query: ItemsQuery):
        try:
            return store.deposit_features(field_id, version=query.version,
                                          bbox_4326=query.bbox_4326, limit=query.limit,
                                          offset=query.offset)
        except NotFoundError:
            if query.version is not None:
                raise
            return [], 0  # no footprint built yet: an empty collection, not an error
    return read


def _layer_span(layer: Any) -> tuple[datetime, datetime]:
    """The time a layer stands for: its ``year`` when it has one, else its upload time."""
    if layer.year is not None:
        return (datetime(layer.year, 1, 1, tzinfo=UTC),
                datetime(layer.year, 12, 31, 23, 59, 59, tzinfo=UTC))
    created = layer.created_at if layer.created_at.tzinfo else layer.created_at.replace(tzinfo=UTC)
    return (created, created)


def _with_layer(features: list[dict[str, Any]], layers: dict[int, Any]) -> list[dict[str, Any]]:
    """Add the layer's id, kind, name and year to each feature (ids are ``<layer>-<n>``)."""
    for feature in features:
        layer = layers.get(int(str(feature["id"]).split("-", 1)[0]))
        if layer is not None:
            props = feature["properties"]
            props.setdefault("layer_id", layer.id)
            props.setdefault("layer_kind", layer.kind)
            props.setdefault("layer_name", layer.name)
            props.setdefault("year", layer.year)
    return features


def _read_layers(field_id: str, kind: str | None):
    def read(store: Any, settings: Settings, query: ItemsQuery):
        layers = {layer.id: layer for layer in store.list_layers(field_id, kind)
                  if layer.kind != "dem"}
        if query.interval is not None:
            layers = {i: layer for i, layer in layers.items()
                      if query.interval.overlaps(*_layer_span(layer))}
        if not layers:
            return [], 0
        if query.interval is None:
            features, matched = store.layer_features(
                field_id=field_id, kind=kind, bbox_4326=query.bbox_4326, limit=query.limit,
                offset=query.offset)
        elif len(layers) == 1:
            features, matched = store.layer_features(
                next(iter(layers)), bbox_4326=query.bbox_4326, limit=query.limit,
                offset=query.offset)
        else:  # several layers: read the field's features once and keep the chosen layers
            every, _ = store.layer_features(field_id=field_id, kind=kind,
                                            bbox_4326=query.bbox_4326, limit=_LAYER_SCAN,
                                            offset=0)
            chosen = [f for f in every if int(str(f["id"]).split("-", 1)[0]) in layers]
            features, matched = _page(chosen, query.offset, query.limit)
        return _with_layer(features, layers), matched
    return read


def _field_collections(field: FieldDefinition) -> list[Collection]:
    bbox = field.bbox_4326
    return [
        Collection(f"deposits-{field.id}", f"Deposits, {field.name}",
                   f"Modelled gravel deposits of {field.name} ({field.country}) in the latest "
                   "footprint version; `version` selects another.", bbox, _read_deposits(field.id)),
        Collection(f"mined-areas-{field.id}", f"Mined areas, {field.name}",
                   f"Uploaded pits and tailings of {field.name}; `datetime` filters on their year.",
                   bbox, _read_layers(field.id, "mined_areas"), temporal=True),
        Collection(f"layers-{field.id}", f"Survey layers, {field.name}",
                   f"Features of every uploaded survey vector layer of {field.name}.",
                   bbox, _read_layers(field.id, None), temporal=True),
    ]


def _union_bbox(boxes: Iterable[BBox]) -> BBox | None:
    boxes = list(boxes)
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


def collections(settings: Settings) -> dict[str, Collection]:
    """Every collection the service offers, by id."""
    catalogue = load_catalogue()
    found: dict[str, Collection] = {
        "fields": Collection("fields", "Diamond fields",
                             "Areas of interest of the five alluvial diamond fields, with how "
                             "each was drawn and its sources.",
                             _union_bbox(f.bbox_4326 for f in catalogue.values()), _read_fields),
    }
    for field in catalogue.values():
        found.update({c.id: c for c in _field_collections(field)})
    if _usgs_paths(settings.data_dir):
        points = usgs_mine_points(settings.data_dir)
        found["usgs-mines"] = Collection(
            "usgs-mines", "USGS mineral deposits, exploration sites and facilities",
            "Points of the USGS Africa GIS data (doi:10.5066/P97EQWXP) in Ghana, Côte d'Ivoire, "
            "Togo and Zimbabwe; `is_diamond` marks diamond sites.",
            _points_bbox(points), _read_usgs)
    return found


def get_collection(collection_id: str, settings: Settings) -> Collection:
    try:
        return collections(settings)[collection_id]
    except KeyError:
        raise NotFoundError(f"collection {collection_id!r} not found",
                            hint="GET /collections lists them") from None


# --------------------------------------------------------------------------------------
# USGS points


def _usgs_paths(data_dir: Path) -> list[Path]:
    from footprint.io.vectors import USGS_LAYERS, vector_path

    paths = []
    for layer in USGS_LAYERS:
        try:
            paths.append(vector_path(f"usgs_{layer}", data_dir))
        except DataMissingError:  # the collection is not offered without its data
            return []
    return paths


@functools.lru_cache(maxsize=4)
def usgs_mine_points(data_dir: Path) -> tuple[dict[str, Any], ...]:
    """USGS mineral points of the data directory as GeoJSON features (lon/lat).

    Read with :func:`footprint.io.vectors.load_usgs_points` once per data directory (the
    three files are about 400 kB). Feature ids are ``<layer>-<feature_uid>`` (USGS reuses
    a uid across layers), with ``-<n>`` added to the rare uid repeated within a layer.
    """
    from footprint.io.vectors import load_usgs_points

    points = load_usgs_points(data_dir)
    collection = json.loads(points.to_json(na="drop", drop_id=True))
    features, seen = [], set()
    for index, feature in enumerate(collection["features"]):
        props = feature["properties"]
        fid = f"{props.get('layer', 'usgs')}-{props.get('feature_uid') or index}"
        if fid in seen:
            fid = f"{fid}-{index}"
        seen.add(fid)
        feature["id"] = fid
        features.append(feature)
    return tuple(features)


def _points_bbox(points: Iterable[dict[str, Any]]) -> BBox | None:
    coords = [p["geometry"]["coordinates"] for p in points if p.get("geometry")]
    if not coords:
        return None
    return (min(c[0] for c in coords), min(c[1] for c in coords),
            max(c[0] for c in coords), max(c[1] for c in coords))


# --------------------------------------------------------------------------------------
# Routes


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _describe(collection: Collection, base: str) -> dict[str, Any]:
    url = f"{base}/collections/{collection.id}"
    described: dict[str, Any] = {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "links": [
            link(url, "self", "application/json", "this collection"),
            link(f"{url}/items", "items", GEOJSON_MEDIA_TYPE, "the features"),
        ],
    }
    if collection.bbox_4326 is not None:
        described["extent"] = {"spatial": {"bbox": [list(collection.bbox_4326)], "crs": CRS84}}
    return described


LANDING_EXAMPLE = {
    "title": "footprint", "description": "Production footprints of alluvial diamond fields",
    "links": [{"href": "http://127.0.0.1:8000/collections", "rel": "data",
               "type": "application/json", "title": "collections"}],
}


@router.get("/", responses={200: {"content": {"application/json": {"example": LANDING_EXAMPLE}}}})
def landing_page(request: Request, _: ReadAccess) -> dict[str, Any]:
    """Landing page: links to the API definition, conformance and collections."""
    base = _base(request)
    return {
        "title": request.app.title,
        "description": "Production footprints of alluvial diamond fields for the Kimberley "
                       "Process: OGC API - Features and Processes.",
        "links": [
            link(f"{base}/", "self", "application/json", "this document"),
            link(f"{base}/openapi.json", "service-desc",
                 "application/vnd.oai.openapi+json;version=3.0", "the API definition"),
            link(f"{base}/docs", "service-doc", "text/html", "the API documentation"),
            link(f"{base}/conformance", "conformance", "application/json",
                 "OGC API conformance classes implemented"),
            link(f"{base}/collections", "data", "application/json", "collections"),
            link(f"{base}/processes", "http://www.opengis.net/def/rel/ogc/1.0/processes",
                 "application/json", "processes"),
        ],
    }


@router.get("/conformance", responses={200: {"content": {"application/json": {
    "example": {"conformsTo": CONFORMANCE_CLASSES[:3]}}}}})
def conformance(_: ReadAccess) -> dict[str, Any]:
    """OGC API conformance classes the service implements."""
    return {"conformsTo": CONFORMANCE_CLASSES + PROCESSES_CONFORMANCE_CLASSES}


@router.get("/collections", responses={200: {"content": {"application/json": {"example": {
    "collections": [{"id": "deposits-gh-birim", "title": "Deposits, Akwatia / Birim valley",
                     "itemType": "feature",
                     "extent": {"spatial": {"bbox": [[-1.2, 5.8, -0.5, 6.3]], "crs": CRS84}}}],
    "links": []}}}}})
def list_collections(request: Request, _: ReadAccess,
                     settings: SettingsDep) -> dict[str, Any]:
    """The feature collections: fields, deposits, mined areas, survey layers, mine points."""
    base = _base(request)
    return {
        "collections": [_describe(c, base) for c in collections(settings).values()],
        "links": [link(f"{base}/collections", "self", "application/json", "this document")],
    }


CollectionId = Annotated[str, PathParam(description="Collection id, e.g. deposits-gh-birim.",
                                        examples=["deposits-gh-birim"])]


@router.get("/collections/{collection_id}")
def describe_collection(collection_id: CollectionId, request: Request, _: ReadAccess,
                        settings: SettingsDep) -> dict[str, Any]:
    """One collection: title, description, spatial extent (CRS84) and links."""
    return _describe(get_collection(collection_id, settings), _base(request))


FEATURES_EXAMPLE = {
    "type": "FeatureCollection",
    "features": [{"type": "Feature", "id": "gh-birim",
                  "geometry": {"type": "Polygon", "coordinates": [[[-1.2, 5.8], [-0.5, 5.8],
                                                                   [-0.5, 6.3], [-1.2, 6.3],
                                                                   [-1.2, 5.8]]]},
                  "properties": {"name": "Akwatia / Birim valley", "country": "Ghana"}}],
    "numberMatched": 5, "numberReturned": 1, "timeStamp": "2026-01-01T00:00:00Z",
    "links": [{"href": "http://127.0.0.1:8000/collections/fields/items?offset=1&limit=1",
               "rel": "next", "type": GEOJSON_MEDIA_TYPE}],
}


@router.get("/collections/{collection_id}/items", response_class=GeoJSONResponse,
            responses={200: {"content": {GEOJSON_MEDIA_TYPE: {"example": FEATURES_EXAMPLE}},
                             "description": "A page of features (GeoJSON FeatureCollection)."}})
def get_items(
    collection_id: CollectionId,
    request: Request,
    _: ReadAccess,
    settings: SettingsDep,
    store: StoreDep,
    bbox: Annotated[str | None, Query(
        description="minlon,minlat,maxlon,maxlat in CRS84 (lon/lat).",
        examples=["-1.0,5.9,-0.7,6.2"])] = None,
    limit: Annotated[int, Query(ge=1, le=1_000_000, description=(
        "Features per page; values above the server maximum are clamped to it."))] = 10,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Features to skip.")] = 0,
    datetime_: Annotated[str | None, Query(
        alias="datetime", description="RFC 3339 instant or interval (`start/end`, `..` open); "
        "filters mined areas and survey layers on their year or upload time.",
        examples=["2008-01-01T00:00:00Z/2013-12-31T23:59:59Z"])] = None,
    version: Annotated[int | None, Query(
        ge=1, le=2**31 - 1, description="Footprint version (deposits collections only).")] = None,
) -> GeoJSONResponse:
    """A page of features of a collection, filtered by bbox and datetime."""
    collection = get_collection(collection_id, settings)
    query = ItemsQuery(bbox_4326=parse_bbox(bbox), interval=parse_datetime(datetime_),
                       limit=clamp_limit(limit, settings.max_items_limit), offset=offset,
                       version=version)
    features, number_matched = collection.read(store, settings, query)
    collection_url = f"{_base(request)}/collections/{collection.id}"
    body = {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": number_matched,
        "numberReturned": len(features),
        "timeStamp": utc_now_rfc3339(),
        "links": paging_links(request.url, offset=offset, limit=query.limit,
                              number_returned=len(features), number_matched=number_matched,
                              collection_url=collection_url),
    }
    return GeoJSONResponse(body)


def _find_feature(collection: Collection, store: Any, settings: Settings, feature_id: str,
                  version: int | None) -> dict[str, Any] | None:
    page_size = max(settings.max_items_limit, 100)
    offset = 0
    while True:
        query = ItemsQuery(None, None, page_size, offset, version)
        features, number_matched = collection.read(store, settings, query)
        for feature in features:
            if str(feature.get("id")) == feature_id:
                return feature
        offset += len(features)
        if not features or offset >= number_matched:
            return None


@router.get("/collections/{collection_id}/items/{feature_id}", response_class=GeoJSONResponse,
            responses={200: {"content": {GEOJSON_MEDIA_TYPE: {
                "example": FEATURES_EXAMPLE["features"][0]}},
                "description": "One feature (GeoJSON)."}})
def get_item(
    collection_id: CollectionId,
    feature_id: Annotated[str, PathParam(description="Feature id within the collection.")],
    request: Request,
    _: ReadAccess,
    settings: SettingsDep,
    store: StoreDep,
    version: Annotated[int | None, Query(
        ge=1, le=2**31 - 1, description="Footprint version (deposits collections only).")] = None,
) -> GeoJSONResponse:
    """One feature of a collection by its id."""
    collection = get_collection(collection_id, settings)
    feature = _find_feature(collection, store, settings, feature_id, version)
    if feature is None:
        raise NotFoundError(f"feature {feature_id!r} not found in {collection_id!r}")
    base = _base(request)
    body = dict(feature)
    body["links"] = [
        link(f"{base}/collections/{collection.id}/items/{feature_id}", "self", GEOJSON_MEDIA_TYPE),
        link(f"{base}/collections/{collection.id}", "collection", "application/json"),
    ]
    return GeoJSONResponse(body)
