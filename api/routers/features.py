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

import dataclasses
import functools
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from shapely.geometry import box, shape
from starlette.concurrency import run_in_threadpool

from api import html_pages
from api.cache import cache_of, cached_response
from api.deps import ReadAccess, SettingsDep, StoreDep
from api.errors import ERROR_RESPONSES
from api.ogc import (
    CONFORMANCE_CLASSES,
    CRS84,
    GEOJSON_MEDIA_TYPE,
    PROCESSES_CONFORMANCE_CLASSES,
    Interval,
    clamp_limit,
    crs_uris,
    geometry_transformer,
    link,
    paging_links,
    parse_bbox_in,
    parse_crs,
    parse_datetime,
    utc_now_rfc3339,
)
from footprint.catalogue import FieldDefinition, load_catalogue
from footprint.errors import DataMissingError, InvalidParameterError, NotFoundError
from footprint.settings import Settings

router = APIRouter(tags=["OGC API - Features"], responses=ERROR_RESPONSES)
log = logging.getLogger("api.features")

BBox = tuple[float, float, float, float]


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
    filter_tree: Any = None
    sortby: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True)
class Page:
    """GeoJSON Feature texts of a page; ``version`` is set when the page is immutable."""

    features: list[str]
    number_matched: int
    version: int | None = None


@dataclass(frozen=True)
class Collection:
    """A feature collection: its description, how to read a page and one feature of it."""

    id: str
    title: str
    description: str
    bbox_4326: BBox | None
    read: Callable[[Any, Settings, ItemsQuery], Page]
    get: Callable[[Any, Settings, str, int | None], tuple[str, int | None] | None]
    temporal: bool = False
    #: queryable -> JSON-Schema type, or a function of the store giving them
    queryables: Callable[[Any], dict[str, str]] | None = None
    crs_epsg: int | None = None
    #: the immutable version a read would serve (the asked one, else the latest), if any
    version_of: Callable[[Any, int | None], int | None] | None = None


def _dumps(feature: dict[str, Any]) -> str:
    return json.dumps(feature, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _in_bbox(features: Iterable[dict[str, Any]], bbox_4326: BBox | None) -> list[dict[str, Any]]:
    if bbox_4326 is None:
        return list(features)
    window = box(*bbox_4326)
    return [f for f in features if f.get("geometry") and shape(f["geometry"]).intersects(window)]


def _memory_page(features: list[dict[str, Any]], query: ItemsQuery) -> Page:
    if query.filter_tree is not None or query.sortby:
        raise InvalidParameterError("this collection has no queryables: filter and sortby "
                                    "apply to deposits, mined areas and survey layers")
    chosen = features[query.offset:query.offset + query.limit]
    return Page([_dumps(f) for f in chosen], len(features))


def _memory_get(features: Callable[[Settings], Iterable[dict[str, Any]]]):
    def get(store: Any, settings: Settings, feature_id: str, version: int | None):
        for feature in features(settings):
            if str(feature.get("id")) == feature_id:
                return _dumps(feature), None
        return None
    return get


def _catalogue_features(settings: Settings) -> list[dict[str, Any]]:
    return [f.feature() for f in load_catalogue().values()]


def _read_fields(store: Any, settings: Settings, query: ItemsQuery) -> Page:
    # datetime is ignored: field areas are not time-stamped
    return _memory_page(_in_bbox(_catalogue_features(settings), query.bbox_4326), query)


def _read_usgs(store: Any, settings: Settings, query: ItemsQuery) -> Page:
    return _memory_page(_in_bbox(usgs_mine_points(settings.data_dir), query.bbox_4326), query)


#: deposit properties stored as columns, with their JSON-Schema types
DEPOSIT_QUERYABLES = {"deposit_class": "string", "area_m2": "number", "mined_area_m2": "number",
                      "mode": "string"}


def _property_types(features: Iterable[dict[str, Any]]) -> dict[str, str]:
    """JSON-Schema type of each property seen in ``features`` (numbers stay numbers
    when some values are null; mixed types are strings)."""
    found: dict[str, str] = {}
    for feature in features:
        for name, value in (feature.get("properties") or {}).items():
            if value is None:
                continue
            kind = ("boolean" if isinstance(value, bool) else "integer" if isinstance(value, int)
                    else "number" if isinstance(value, float) else "string"
                    if isinstance(value, str) else "object")
            previous = found.get(name)
            if previous is None or previous == kind:
                found[name] = kind
            elif {previous, kind} == {"integer", "number"}:
                found[name] = "number"
            else:
                found[name] = "string"
    return {name: kind for name, kind in found.items() if kind != "object"}


def _deposit_queryables(field_id: str):
    def queryables(store: Any) -> dict[str, str]:
        try:
            sample = store.deposit_page(field_id, limit=50)
        except NotFoundError:
            return dict(DEPOSIT_QUERYABLES)
        types = _property_types(json.loads(text) for text in sample.features)
        types.pop("version", None)
        return {**types, **DEPOSIT_QUERYABLES}
    return queryables


def _read_deposits(field_id: str):
    queryables = _deposit_queryables(field_id)

    def read(store: Any, settings: Settings, query: ItemsQuery) -> Page:
        try:
            page = store.deposit_page(
                field_id, version=query.version, bbox_4326=query.bbox_4326, limit=query.limit,
                offset=query.offset, filter_tree=query.filter_tree,
                queryables=queryables(store) if query.filter_tree or query.sortby else None,
                sortby=query.sortby)
        except NotFoundError:
            if query.version is not None:
                raise
            return Page([], 0)  # no footprint built yet: an empty collection, not an error
        return Page(page.features, page.number_matched, page.version)
    return read


def _deposit_version(field_id: str):
    def version_of(store: Any, version: int | None) -> int | None:
        return version if version is not None else store.latest_footprint_version(field_id)
    return version_of


def _get_deposit(field_id: str):
    def get(store: Any, settings: Settings, feature_id: str, version: int | None):
        # ids are "<version>-<feature index>": one indexed lookup, any stored version
        number, index = _split_id(feature_id)
        if number is None or index is None or (version is not None and version != number):
            return None
        text = store.deposit_feature_text(field_id, number, index)
        return None if text is None else (text, number)
    return get


def _split_id(feature_id: str) -> tuple[int | None, int | None]:
    head, _, tail = feature_id.partition("-")
    if not (head.isdigit() and tail.isdigit() and len(head) < 12 and len(tail) < 12):
        return None, None
    return int(head), int(tail)


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


def _vector_layers(store: Any, field_id: str, kind: str | None) -> dict[int, Any]:
    return {layer.id: layer for layer in store.list_layers(field_id, kind) if layer.kind != "dem"}


def _layer_queryables(field_id: str, kind: str | None):
    def queryables(store: Any) -> dict[str, str]:
        sample, _ = store.layer_features(field_id=field_id, kind=kind, limit=200) \
            if _vector_layers(store, field_id, kind) else ([], 0)
        types = _property_types(sample)
        types.setdefault("year", "integer")
        return types
    return queryables


def _read_layers(field_id: str, kind: str | None):
    queryables = _layer_queryables(field_id, kind)

    def read(store: Any, settings: Settings, query: ItemsQuery) -> Page:
        layers = _vector_layers(store, field_id, kind)
        if not layers:
            return Page([], 0)
        years, undated = None, ()
        if query.interval is not None:
            # each feature's own date: its `year`, else its layer's year, else the upload time
            start, end = query.interval.start, query.interval.end
            years = (None if start is None else start.year, None if end is None else end.year)
            undated = [i for i, layer in layers.items()
                       if layer.year is None and query.interval.overlaps(*_layer_span(layer))]
        features, matched = store.layer_features(
            field_id=field_id, kind=kind, layer_ids=list(layers), bbox_4326=query.bbox_4326,
            limit=query.limit, offset=query.offset, filter_tree=query.filter_tree,
            queryables=queryables(store) if query.filter_tree or query.sortby else None,
            sortby=query.sortby, years=years, undated_layers=undated)
        return Page([_dumps(f) for f in _with_layer(features, layers)], matched)
    return read


def _get_layer_feature(field_id: str, kind: str | None):
    def get(store: Any, settings: Settings, feature_id: str, version: int | None):
        layer_id, index = _split_id(feature_id)
        if layer_id is None or index is None:
            return None
        found = store.layer_feature(layer_id, index)
        if found is None:
            return None
        layer, feature = found
        if layer.field_id != field_id or layer.kind == "dem" or kind not in (None, layer.kind):
            return None
        return _dumps(_with_layer([feature], {layer.id: layer})[0]), None
    return get


def _field_collections(field: FieldDefinition) -> list[Collection]:
    bbox = field.bbox_4326
    return [
        Collection(f"deposits-{field.id}", f"Deposits, {field.name}",
                   f"Modelled gravel deposits of {field.name} ({field.country}) in the latest "
                   "footprint version; `version` selects another.", bbox, _read_deposits(field.id),
                   _get_deposit(field.id), queryables=_deposit_queryables(field.id),
                   crs_epsg=field.crs_epsg, version_of=_deposit_version(field.id)),
        Collection(f"mined-areas-{field.id}", f"Mined areas, {field.name}",
                   f"Uploaded pits and tailings of {field.name}; `datetime` filters on each "
                   "pit's `year` (else its layer's year, else the upload time).",
                   bbox, _read_layers(field.id, "mined_areas"),
                   _get_layer_feature(field.id, "mined_areas"), temporal=True,
                   queryables=_layer_queryables(field.id, "mined_areas"), crs_epsg=field.crs_epsg),
        Collection(f"layers-{field.id}", f"Survey layers, {field.name}",
                   f"Features of every uploaded survey vector layer of {field.name}.",
                   bbox, _read_layers(field.id, None), _get_layer_feature(field.id, None),
                   temporal=True, queryables=_layer_queryables(field.id, None),
                   crs_epsg=field.crs_epsg),
    ]


def _union_bbox(boxes: Iterable[BBox]) -> BBox | None:
    boxes = list(boxes)
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


def collections(settings: Settings) -> dict[str, Collection]:
    """Every collection the service offers, by id (built once per data directory)."""
    return _collections_of(settings.data_dir)


@functools.lru_cache(maxsize=4)
def _collections_of(data_dir: Path) -> dict[str, Collection]:
    catalogue = load_catalogue()
    found: dict[str, Collection] = {
        "fields": Collection("fields", "Diamond fields",
                             "Areas of interest of the five alluvial diamond fields, with how "
                             "each was drawn and its sources.",
                             _union_bbox(f.bbox_4326 for f in catalogue.values()), _read_fields,
                             _memory_get(_catalogue_features)),
    }
    for field in catalogue.values():
        found.update({c.id: c for c in _field_collections(field)})
    if _usgs_paths(data_dir):
        points = usgs_mine_points(data_dir)
        found["usgs-mines"] = Collection(
            "usgs-mines", "USGS mineral deposits, exploration sites and facilities",
            "Points of the USGS Africa GIS data (doi:10.5066/P97EQWXP) in Ghana, Côte d'Ivoire, "
            "Togo and Zimbabwe; `is_diamond` marks diamond sites.",
            _points_bbox(points), _read_usgs,
            _memory_get(lambda settings: usgs_mine_points(settings.data_dir)))
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

#: query parameters each kind of route understands; any other is a 400 naming it
_COMMON_PARAMETERS = frozenset({"f"})
_ITEMS_PARAMETERS = frozenset({"f", "bbox", "bbox-crs", "limit", "offset", "datetime", "version",
                               "filter", "filter-lang", "filter-crs", "sortby", "properties",
                               "crs"})
_ITEM_PARAMETERS = frozenset({"f", "version", "crs", "properties"})


def check_parameters(request: Request, allowed: frozenset[str]) -> None:
    """Refuse a query parameter the route does not implement (OGC API - Features 7.15.1)."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise InvalidParameterError(
            f"unknown query parameter(s): {', '.join(unknown)}",
            hint=f"this resource understands {', '.join(sorted(allowed))}")


def _wants_html(request: Request, f: str | None) -> bool:
    if f is not None:
        if f not in ("json", "html", "geojson"):
            raise InvalidParameterError(f"f={f!r} is not offered", hint="f=json or f=html")
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _describe(collection: Collection, base: str) -> dict[str, Any]:
    url = f"{base}/collections/{collection.id}"
    described: dict[str, Any] = {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "crs": crs_uris(collection.crs_epsg),
        "storageCrs": CRS84,
        "links": [
            link(url, "self", "application/json", "this collection"),
            link(f"{url}?f=html", "alternate", "text/html", "this collection as HTML"),
            link(f"{url}/items", "items", GEOJSON_MEDIA_TYPE, "the features"),
        ],
    }
    if collection.queryables is not None:
        described["links"] += [
            link(f"{url}/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                 "application/schema+json", "the properties a filter or sortby may name"),
            link(f"{url}/schema", "describedby", "application/schema+json",
                 "JSON Schema of the features"),
        ]
    if collection.bbox_4326 is not None:
        described["extent"] = {"spatial": {"bbox": [list(collection.bbox_4326)], "crs": CRS84}}
    return described


LANDING_EXAMPLE = {
    "title": "footprint", "description": "Production footprints of alluvial diamond fields",
    "links": [{"href": "http://127.0.0.1:8000/collections", "rel": "data",
               "type": "application/json", "title": "collections"}],
}

#: Declared as an enum so the OpenAPI says which values exist (schemathesis checks it).
FormatParam = Annotated[Literal["json", "html", "geojson"] | None, Query(
    description="Response format: `json` (default) or `html`.", examples=["json"])]


@router.get("/", responses={200: {"content": {"application/json": {"example": LANDING_EXAMPLE},
                                              "text/html": {}}}})
def landing_page(request: Request, _: ReadAccess, f: FormatParam = None) -> Any:
    """Landing page: links to the API definition, conformance and collections."""
    check_parameters(request, _COMMON_PARAMETERS)
    base = _base(request)
    body = {
        "title": request.app.title,
        "description": "Production footprints of alluvial diamond fields for the Kimberley "
                       "Process: OGC API - Features and Processes.",
        "links": [
            link(f"{base}/", "self", "application/json", "this document"),
            link(f"{base}/?f=html", "alternate", "text/html", "this document as HTML"),
            link(f"{base}/openapi.json", "service-desc",
                 f"application/vnd.oai.openapi+json;version={request.app.openapi_version}",
                 "the API definition"),
            link(f"{base}/docs", "service-doc", "text/html", "the API documentation"),
            link(f"{base}/conformance", "conformance", "application/json",
                 "OGC API conformance classes implemented"),
            link(f"{base}/collections", "data", "application/json", "collections"),
            link(f"{base}/processes", "http://www.opengis.net/def/rel/ogc/1.0/processes",
                 "application/json", "processes"),
        ],
    }
    if _wants_html(request, f):
        return HTMLResponse(html_pages.landing(body, base))
    return JSONResponse(body)


@router.get("/conformance", responses={200: {"content": {"application/json": {
    "example": {"conformsTo": CONFORMANCE_CLASSES[:3]}}, "text/html": {}}}})
def conformance(request: Request, _: ReadAccess, f: FormatParam = None) -> Any:
    """OGC API conformance classes the service implements."""
    check_parameters(request, _COMMON_PARAMETERS)
    body = {"conformsTo": CONFORMANCE_CLASSES + PROCESSES_CONFORMANCE_CLASSES}
    if _wants_html(request, f):
        return HTMLResponse(html_pages.listing("Conformance", body["conformsTo"]))
    return JSONResponse(body)


@router.get("/collections", responses={200: {"content": {"application/json": {"example": {
    "collections": [{"id": "deposits-gh-birim", "title": "Deposits, Akwatia / Birim valley",
                     "itemType": "feature",
                     "extent": {"spatial": {"bbox": [[-1.2, 5.8, -0.5, 6.3]], "crs": CRS84}}}],
    "links": []}}, "text/html": {}}}})
def list_collections(request: Request, _: ReadAccess, settings: SettingsDep,
                     f: FormatParam = None) -> Any:
    """The feature collections: fields, deposits, mined areas, survey layers, mine points."""
    check_parameters(request, _COMMON_PARAMETERS)
    base = _base(request)

    def describe_all() -> dict[str, Any]:
        return {
            "collections": [_describe(c, base) for c in collections(settings).values()],
            "links": [link(f"{base}/collections", "self", "application/json", "this document"),
                      link(f"{base}/collections?f=html", "alternate", "text/html", "as HTML")],
        }
    if _wants_html(request, f):
        return HTMLResponse(html_pages.collections(describe_all()["collections"]))
    # the list changes only with the catalogue and the data directory, both read once
    body = cache_of(request).get_or_build(("collections", str(request.url)),
                                          lambda: json.dumps(describe_all()).encode())
    return cached_response(request, body, "application/json", immutable=False)


CollectionId = Annotated[str, PathParam(description="Collection id, e.g. deposits-gh-birim.",
                                        examples=["deposits-gh-birim"])]


@router.get("/collections/{collection_id}",
            responses={200: {"content": {"application/json": {}, "text/html": {}}}})
def describe_collection(collection_id: CollectionId, request: Request, _: ReadAccess,
                        settings: SettingsDep, f: FormatParam = None) -> Any:
    """One collection: title, description, spatial extent (CRS84), CRS offered and links."""
    check_parameters(request, _COMMON_PARAMETERS)
    body = _describe(get_collection(collection_id, settings), _base(request))
    if _wants_html(request, f):
        return HTMLResponse(html_pages.collection(body))
    return JSONResponse(body)


def _queryables_of(collection: Collection, store: Any) -> dict[str, str]:
    if collection.queryables is None:
        raise NotFoundError(f"collection {collection.id!r} has no queryables",
                            hint="deposits, mined areas and survey layers have them")
    return collection.queryables(store)


def _json_schema(collection: Collection, request: Request, types: dict[str, str],
                 kind: str) -> dict[str, Any]:
    url = f"{_base(request)}/collections/{collection.id}/{kind}"
    properties = {name: {"type": json_type, "title": name} for name, json_type in types.items()}
    if kind == "schema":
        properties = {name: {"type": [value["type"], "null"], "title": name}
                      for name, value in properties.items()}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": url,
            "type": "object", "title": collection.title, "properties": properties,
            "additionalProperties": kind == "schema"}


SCHEMA_RESPONSES = {200: {"content": {"application/schema+json": {}},
                          "description": "A JSON Schema (draft 2020-12)."}}


@router.get("/collections/{collection_id}/queryables", response_class=JSONResponse,
            responses=SCHEMA_RESPONSES)
def get_queryables(collection_id: CollectionId, request: Request, _: ReadAccess,
                   settings: SettingsDep, store: StoreDep) -> JSONResponse:
    """The properties a CQL2 `filter` or a `sortby` may name, with their types."""
    check_parameters(request, _COMMON_PARAMETERS)
    collection = get_collection(collection_id, settings)
    return JSONResponse(_json_schema(collection, request, _queryables_of(collection, store),
                                     "queryables"), media_type="application/schema+json")


@router.get("/collections/{collection_id}/schema", response_class=JSONResponse,
            responses=SCHEMA_RESPONSES)
def get_schema(collection_id: CollectionId, request: Request, _: ReadAccess,
               settings: SettingsDep, store: StoreDep) -> JSONResponse:
    """JSON Schema of the features' properties (nullable, typed), as GDAL reads it."""
    check_parameters(request, _COMMON_PARAMETERS)
    collection = get_collection(collection_id, settings)
    return JSONResponse(_json_schema(collection, request, _queryables_of(collection, store),
                                     "schema"), media_type="application/schema+json")


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


def parse_filter(text: str | None, lang: str | None, filter_crs: str | None) -> Any:
    """A CQL2 filter (text or JSON, ``filter-lang``) parsed by pygeofilter, or None."""
    if text is None or text.strip() == "":
        if lang is not None or filter_crs is not None:
            raise InvalidParameterError("filter-lang and filter-crs need a filter")
        return None
    if filter_crs not in (None, CRS84):
        raise InvalidParameterError("filter-crs must be CRS84", hint=CRS84)
    lang = lang or "cql2-text"
    try:
        if lang == "cql2-text":
            from pygeofilter.parsers.cql2_text import parse as parse_text

            return parse_text(text)
        if lang == "cql2-json":
            from pygeofilter.parsers.cql2_json import parse as parse_json

            return parse_json(json.loads(text))
    except InvalidParameterError:
        raise
    except Exception as error:  # the parsers raise lark, JSON and value errors alike
        raise InvalidParameterError(f"filter is not valid {lang}: {str(error)[:200]}") from None
    raise InvalidParameterError(f"filter-lang {lang!r} is not offered",
                                hint="cql2-text or cql2-json")


def parse_sortby(text: str | None) -> tuple[tuple[str, bool], ...]:
    """``sortby=+a,-b`` as (name, ascending) pairs."""
    if text is None or text.strip() == "":
        return ()
    terms = []
    for term in text.split(","):
        term = term.strip()
        ascending = not term.startswith("-")
        name = term.lstrip("+-").strip()
        if not name:
            raise InvalidParameterError(f"sortby {text!r} has an empty term")
        terms.append((name, ascending))
    return tuple(terms)


def _select_properties(texts: list[str], names: str | None,
                       transform: Callable[[dict[str, Any]], dict[str, Any]] | None) -> list[str]:
    """Feature texts keeping only ``names`` properties and reprojected by ``transform``."""
    if names is None and transform is None:
        return texts
    keep = None if names is None else {n.strip() for n in names.split(",") if n.strip()}
    out = []
    for text in texts:
        feature = json.loads(text)
        if keep is not None:
            feature["properties"] = {k: v for k, v in (feature.get("properties") or {}).items()
                                     if k in keep}
        if transform is not None and feature.get("geometry"):
            feature["geometry"] = transform(feature["geometry"])
        out.append(_dumps(feature))
    return out


def _collection_body(texts: list[str], number_matched: int, links: list[dict[str, Any]]) -> bytes:
    head = b'{"type":"FeatureCollection","features":['
    tail = (f'],"numberMatched":{number_matched},"numberReturned":{len(texts)},'
            f'"timeStamp":"{utc_now_rfc3339()}","links":{json.dumps(links)}}}')
    return head + ",".join(texts).encode() + tail.encode()


@router.get("/collections/{collection_id}/items", response_class=GeoJSONResponse,
            responses={200: {"content": {GEOJSON_MEDIA_TYPE: {"example": FEATURES_EXAMPLE},
                                         "text/html": {}},
                             "description": "A page of features (GeoJSON FeatureCollection)."},
                       304: {"description": "Not modified (the ETag matched)."}})
async def get_items(
    collection_id: CollectionId,
    request: Request,
    _: ReadAccess,
    settings: SettingsDep,
    store: StoreDep,
    bbox: Annotated[str | None, Query(
        description="minlon,minlat,maxlon,maxlat in CRS84 (lon/lat), or in `bbox-crs`.",
        examples=["-1.0,5.9,-0.7,6.2"])] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description=(
        "CRS of `bbox` (a URI of the collection's `crs` list; EPSG:4326 is lat, lon)."))] = None,
    limit: Annotated[int, Query(ge=1, le=1_000_000, description=(
        "Features per page; values above the server maximum are clamped to it."))] = 10,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Features to skip.")] = 0,
    datetime_: Annotated[str | None, Query(
        alias="datetime", description="RFC 3339 instant or interval (`start/end`, `..` open); "
        "filters mined areas and survey layers on each feature's `year` (else its layer's "
        "year, else the upload time).",
        examples=["2008-01-01T00:00:00Z/2013-12-31T23:59:59Z"])] = None,
    version: Annotated[int | None, Query(
        ge=1, le=2**31 - 1, description="Footprint version (deposits collections only).")] = None,
    filter_: Annotated[str | None, Query(alias="filter", description=(
        "CQL2 filter on the queryables (`/queryables`), e.g. `deposit_class = 'floodplain'`."),
        examples=["deposit_class = 'floodplain' AND area_m2 > 1000"])] = None,
    filter_lang: Annotated[str | None, Query(alias="filter-lang", description=(
        "`cql2-text` (default) or `cql2-json`."))] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs", description="CRS84 only.")] = None,
    sortby: Annotated[str | None, Query(description=(
        "Comma-separated queryables, `-` for descending, e.g. `-area_m2`."))] = None,
    properties: Annotated[str | None, Query(description=(
        "Comma-separated properties to keep in each feature."))] = None,
    crs: Annotated[str | None, Query(description=(
        "CRS of the geometries returned (a URI of the collection's `crs` list)."))] = None,
    f: FormatParam = None,
) -> Response:
    """A page of features of a collection, filtered by bbox, datetime and CQL2.

    Pages of a footprint version are immutable: they are built and gzipped once, carry a
    strong ETag, and `?version=` URLs are `Cache-Control: immutable`.
    """
    check_parameters(request, _ITEMS_PARAMETERS)
    collection = get_collection(collection_id, settings)
    allowed_crs = crs_uris(collection.crs_epsg)
    output_crs = parse_crs(crs, allowed_crs)
    query = ItemsQuery(bbox_4326=parse_bbox_in(bbox, parse_crs(bbox_crs, allowed_crs, "bbox-crs")),
                       interval=parse_datetime(datetime_),
                       limit=clamp_limit(limit, settings.max_items_limit), offset=offset,
                       version=version, filter_tree=parse_filter(filter_, filter_lang, filter_crs),
                       sortby=parse_sortby(sortby))
    if query.filter_tree is not None:
        log.info("CQL2 filter on %s: %s", collection.id, filter_[:500] if filter_ else "",
                 extra={"collection": collection.id, "filter_lang": filter_lang or "cql2-text"})
    html = _wants_html(request, f)
    collection_url = f"{_base(request)}/collections/{collection.id}"

    def build(page: Page) -> bytes:
        links = paging_links(request.url, offset=offset, limit=query.limit,
                             number_returned=len(page.features),
                             number_matched=page.number_matched, collection_url=collection_url)
        texts = _select_properties(page.features, properties, geometry_transformer(output_crs))
        return _collection_body(texts, page.number_matched, links)

    headers = {"Content-Crs": f"<{output_crs}>"}
    if html:
        page = await run_in_threadpool(collection.read, store, settings, query)
        return HTMLResponse(html_pages.items(collection, json.loads(build(page)), request))
    # an immutable version's page: look it up before reading anything
    resolved = None if collection.version_of is None else \
        version if version is not None else \
        await run_in_threadpool(collection.version_of, store, version)
    if resolved is None:
        body_bytes = await run_in_threadpool(
            lambda: build(collection.read(store, settings, query)))
        return Response(body_bytes, media_type=GEOJSON_MEDIA_TYPE, headers=headers)
    pinned = dataclasses.replace(query, version=resolved)
    cache, key = cache_of(request), ("items", resolved, str(request.url))
    body = cache.peek(key) or await run_in_threadpool(
        cache.get_or_build, key, lambda: build(collection.read(store, settings, pinned)))
    response = cached_response(request, body, GEOJSON_MEDIA_TYPE, immutable=version is not None)
    response.headers.update(headers)
    return response


@router.get("/collections/{collection_id}/items/{feature_id}", response_class=GeoJSONResponse,
            responses={200: {"content": {GEOJSON_MEDIA_TYPE: {
                "example": FEATURES_EXAMPLE["features"][0]}, "text/html": {}},
                "description": "One feature (GeoJSON)."},
                304: {"description": "Not modified (the ETag matched)."}})
async def get_item(
    collection_id: CollectionId,
    feature_id: Annotated[str, PathParam(description="Feature id within the collection.")],
    request: Request,
    _: ReadAccess,
    settings: SettingsDep,
    store: StoreDep,
    version: Annotated[int | None, Query(
        ge=1, le=2**31 - 1, description="Footprint version (deposits collections only).")] = None,
    crs: Annotated[str | None, Query(description=(
        "CRS of the geometry returned (a URI of the collection's `crs` list)."))] = None,
    properties: Annotated[str | None, Query(description=(
        "Comma-separated properties to keep."))] = None,
    f: FormatParam = None,
) -> Response:
    """One feature of a collection by its id (an indexed lookup).

    Deposit ids are `<version>-<index>`: a deposit is immutable, served with a strong
    ETag and `Cache-Control: immutable`.
    """
    check_parameters(request, _ITEM_PARAMETERS)
    collection = get_collection(collection_id, settings)
    output_crs = parse_crs(crs, crs_uris(collection.crs_epsg))
    html = _wants_html(request, f)
    base = _base(request)

    def build(text: str) -> bytes:
        links = [
            link(f"{base}/collections/{collection.id}/items/{feature_id}", "self",
                 GEOJSON_MEDIA_TYPE),
            link(f"{base}/collections/{collection.id}", "collection", "application/json"),
        ]
        text = _select_properties([text], properties, geometry_transformer(output_crs))[0]
        return text[:-1].encode() + f',"links":{json.dumps(links)}}}'.encode()

    def not_found() -> NotFoundError:
        return NotFoundError(f"feature {feature_id!r} not found in {collection_id!r}")

    cache = cache_of(request)
    key = ("item", str(request.url))
    if html:
        found = await run_in_threadpool(collection.get, store, settings, feature_id, version)
        if found is None:
            raise not_found()
        return HTMLResponse(html_pages.item(collection, json.loads(build(found[0]))))
    body = cache.peek(key)
    if body is None:
        found = await run_in_threadpool(collection.get, store, settings, feature_id, version)
        if found is None:
            raise not_found()
        text, immutable_version = found
        if immutable_version is None:
            return Response(build(text), media_type=GEOJSON_MEDIA_TYPE,
                            headers={"Content-Crs": f"<{output_crs}>"})
        body = await run_in_threadpool(cache.get_or_build, key, lambda: build(text))
    response = cached_response(request, body, GEOJSON_MEDIA_TYPE, immutable=True)
    response.headers["Content-Crs"] = f"<{output_crs}>"
    return response
