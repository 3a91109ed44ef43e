"""OGC API - Features, Parts 1-3 (core, GeoJSON, HTML, CRS, CQL2, queryables, sorting):
the routes over the collections of :mod:`api.feature_collections`.

All geometries are GeoJSON (RFC 7946) in lon/lat (CRS84) unless ``crs`` asks for another.
``limit`` above the server maximum is clamped to it, as OGC API - Features requires.
Answers that the URL alone decides (a footprint version's pages and deposits,
``/collections``) are published for :mod:`api.fastpath`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api import html_pages
from api.cache import cache_of, cached_response, latest_version
from api.deps import ReadAccess, SettingsDep, StoreDep
from api.errors import ERROR_RESPONSES
from api.feature_collections import Collection, ItemsQuery, Page, collections, get_collection
from api.negotiation import accept_ranges, wants_html
from api.ogc import (
    CONFORMANCE_CLASSES,
    CRS84,
    FILTER_LANGUAGES,
    GEOJSON_MEDIA_TYPE,
    PROCESSES_CONFORMANCE_CLASSES,
    check_parameters,
    clamp_limit,
    collection_body,
    crs_uris,
    geometry_transformer,
    link,
    paging_links,
    parse_bbox_in,
    parse_crs,
    parse_datetime,
    parse_filter,
    parse_sortby,
    select_properties,
)
from footprint.errors import NotFoundError

__all__ = ["check_parameters", "get_collection", "router"]

router = APIRouter(tags=["OGC API - Features"], responses=ERROR_RESPONSES)
log = logging.getLogger("api.features")


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON_MEDIA_TYPE


#: query parameters each kind of route understands; any other is a 400 naming it
_COMMON_PARAMETERS = frozenset({"f"})
_ITEMS_PARAMETERS = frozenset({"f", "bbox", "bbox-crs", "limit", "offset", "datetime", "version",
                               "filter", "filter-lang", "filter-crs", "sortby", "properties",
                               "crs"})
_ITEM_PARAMETERS = frozenset({"f", "version", "crs", "properties"})


def _wants_html(request: Request, f: str | None) -> bool:
    return wants_html(f, request.headers.get("accept"))


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
            # the draft's relation name, the one GDAL's OAPIF driver follows
            link(f"{url}/queryables", "queryables", "application/schema+json",
                 "the properties a filter or sortby may name"),
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


@router.get("/", operation_id="getLandingPage",
            responses={200: {"content": {"application/json": {"example": LANDING_EXAMPLE},
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


@router.get("/conformance", operation_id="getConformance",
            responses={200: {"content": {
                "application/json": {"example": {"conformsTo": CONFORMANCE_CLASSES[:3]}},
                "text/html": {}}}})
def conformance(request: Request, _: ReadAccess, f: FormatParam = None) -> Any:
    """OGC API conformance classes the service implements."""
    check_parameters(request, _COMMON_PARAMETERS)
    body = {"conformsTo": CONFORMANCE_CLASSES + PROCESSES_CONFORMANCE_CLASSES}
    if _wants_html(request, f):
        return HTMLResponse(html_pages.listing("Conformance", body["conformsTo"]))
    return JSONResponse(body)


@router.get("/collections", operation_id="getCollections",
            responses={200: {"content": {"application/json": {"example": {
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
    return cached_response(request, body, "application/json", immutable=False,
                           url_decides=True)


#: path parameters are named as in the OGC API - Features OpenAPI fragments
#: (``{collectionId}``, ``{featureId}``): GDAL's OAPIF driver looks the items operation
#: up as ``/collections/{collectionId}/items`` to learn which filters it may send
CollectionId = Annotated[str, PathParam(alias="collectionId",
                                        description="Collection id, e.g. deposits-gh-birim.",
                                        examples=["deposits-gh-birim"])]


@router.get("/collections/{collectionId}", operation_id="describeCollection",
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
    properties: dict[str, dict[str, Any]] = {
        name: {"type": [json_type, "null"] if kind == "schema" else json_type, "title": name}
        for name, json_type in types.items()}
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": url,
                "type": "object", "title": collection.title, "properties": properties,
                "additionalProperties": kind == "schema"}
    if kind == "queryables":
        # the list of the Part 3 draft, beside the schema (an annotation to JSON Schema):
        # GDAL's OAPIF driver sends a filter only on the names it finds there
        document["queryables"] = [{"id": name, "type": json_type}
                                  for name, json_type in types.items()]
    return document


def _schema_media_type(request: Request) -> str:
    """``application/schema+json``, unless the client accepts plain JSON and not it
    (GDAL asks for ``application/geo+json, application/json`` and refuses other types)."""
    accept = request.headers.get("accept") or ""
    ranges = accept_ranges(accept) if accept else []
    if "application/json" in ranges and not {"application/schema+json", "*/*",
                                             "application/*"} & set(ranges):
        return "application/json"
    return "application/schema+json"


SCHEMA_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/schema+json": {}, "application/json": {}},
          "description": "A JSON Schema (draft 2020-12); `application/json` to a client that "
                         "accepts only that."}}


@router.get("/collections/{collectionId}/queryables", response_class=JSONResponse,
            operation_id="getQueryables", responses=SCHEMA_RESPONSES)
def get_queryables(collection_id: CollectionId, request: Request, _: ReadAccess,
                   settings: SettingsDep, store: StoreDep) -> JSONResponse:
    """The properties a CQL2 `filter` or a `sortby` may name, with their types."""
    check_parameters(request, _COMMON_PARAMETERS)
    collection = get_collection(collection_id, settings)
    return JSONResponse(_json_schema(collection, request, _queryables_of(collection, store),
                                     "queryables"), media_type=_schema_media_type(request))


@router.get("/collections/{collectionId}/schema", response_class=JSONResponse,
            operation_id="getSchema", responses=SCHEMA_RESPONSES)
def get_schema(collection_id: CollectionId, request: Request, _: ReadAccess,
               settings: SettingsDep, store: StoreDep) -> JSONResponse:
    """JSON Schema of the features' properties (nullable, typed), as GDAL reads it."""
    check_parameters(request, _COMMON_PARAMETERS)
    collection = get_collection(collection_id, settings)
    return JSONResponse(_json_schema(collection, request, _queryables_of(collection, store),
                                     "schema"), media_type=_schema_media_type(request))


FEATURES_EXAMPLE: dict[str, Any] = {
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


def _items_query(collection: Collection, settings: Any, params: dict[str, Any]) -> ItemsQuery:
    """The page asked for, parsed and checked against the collection's CRS list."""
    allowed_crs = crs_uris(collection.crs_epsg)
    return ItemsQuery(
        bbox_4326=parse_bbox_in(params["bbox"], parse_crs(params["bbox_crs"], allowed_crs,
                                                          "bbox-crs")),
        interval=parse_datetime(params["datetime"]),
        limit=clamp_limit(params["limit"], settings.max_items_limit), offset=params["offset"],
        version=params["version"],
        filter_tree=parse_filter(params["filter"], params["filter_lang"], params["filter_crs"]),
        sortby=parse_sortby(params["sortby"]))


def _page_builder(request: Request, collection: Collection, query: ItemsQuery,
                  properties: str | None, output_crs: str):
    """``build(page) -> bytes``: the FeatureCollection of a page, with its links."""
    collection_url = f"{_base(request)}/collections/{collection.id}"
    transform = geometry_transformer(output_crs)

    def build(page: Page) -> bytes:
        if query.filter_tree is not None:
            log.info("CQL2 filter on %s matched %s feature(s)", collection.id,
                     page.number_matched, extra={"collection": collection.id,
                                                 "number_matched": page.number_matched})
        links = paging_links(request.url, offset=query.offset, limit=query.limit,
                             number_returned=len(page.features),
                             number_matched=page.number_matched, collection_url=collection_url)
        texts = select_properties(page.features, properties, transform)
        return collection_body(texts, page.number_matched, links)
    return build


async def _versioned_page(request: Request, collection: Collection, query: ItemsQuery,
                          build, store: Any, settings: Any, output_crs: str) -> Response:
    """A page of an immutable footprint version (the asked one, else the latest), built
    and gzipped once, then answered from memory."""
    field_id = collection.versioned_field
    assert field_id is not None
    resolved = (query.version if query.version is not None
                else await latest_version(request, field_id))
    if resolved is None:  # no footprint built yet
        body_bytes = await run_in_threadpool(lambda: build(collection.read(store, settings,
                                                                           query)))
        return Response(body_bytes, media_type=GEOJSON_MEDIA_TYPE,
                        headers={"Content-Crs": f"<{output_crs}>"})
    pinned = dataclasses.replace(query, version=resolved)
    cache, key = cache_of(request), ("items", resolved, str(request.url))
    body = cache.peek(key)
    if body is None:
        body = await run_in_threadpool(
            cache.get_or_build, key, lambda: build(collection.read(store, settings, pinned)))
    return cached_response(request, body, GEOJSON_MEDIA_TYPE,
                           immutable=query.version is not None,
                           headers={"Content-Crs": f"<{output_crs}>"},
                           latest=None if query.version is not None else (field_id, resolved))


@router.get("/collections/{collectionId}/items", response_class=GeoJSONResponse,
            operation_id="getFeatures",
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
    filter_lang: Annotated[str | None, Query(
        alias="filter-lang", json_schema_extra={"enum": list(FILTER_LANGUAGES)},
        description="`cql2-text` (default), `cql2-json`, or `cql-text` (the draft name of "
        "CQL2 text, which GDAL's OAPIF driver sends).")] = None,
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
    output_crs = parse_crs(crs, crs_uris(collection.crs_epsg))
    query = _items_query(collection, settings, {
        "bbox": bbox, "bbox_crs": bbox_crs, "datetime": datetime_, "limit": limit,
        "offset": offset, "version": version, "filter": filter_, "filter_lang": filter_lang,
        "filter_crs": filter_crs, "sortby": sortby})
    if query.filter_tree is not None:
        log.info("CQL2 filter on %s: %s", collection.id, (filter_ or "")[:500],
                 extra={"collection": collection.id, "filter": (filter_ or "")[:500],
                        "filter_lang": filter_lang or "cql2-text"})
    build = _page_builder(request, collection, query, properties, output_crs)
    if _wants_html(request, f):
        page = await run_in_threadpool(collection.read, store, settings, query)
        return HTMLResponse(html_pages.items(collection, json.loads(build(page)), request))
    if collection.versioned_field is not None:
        return await _versioned_page(request, collection, query, build, store, settings,
                                     output_crs)
    body_bytes = await run_in_threadpool(lambda: build(collection.read(store, settings, query)))
    return Response(body_bytes, media_type=GEOJSON_MEDIA_TYPE,
                    headers={"Content-Crs": f"<{output_crs}>"})


def _feature_builder(request: Request, collection: Collection, feature_id: str,
                     properties: str | None, output_crs: str):
    """``build(text) -> bytes``: one Feature with its links."""
    base = _base(request)
    transform = geometry_transformer(output_crs)

    def build(text: str) -> bytes:
        links = [
            link(f"{base}/collections/{collection.id}/items/{feature_id}", "self",
                 GEOJSON_MEDIA_TYPE),
            link(f"{base}/collections/{collection.id}", "collection", "application/json"),
        ]
        text = select_properties([text], properties, transform)[0]
        return text[:-1].encode() + f',"links":{json.dumps(links)}}}'.encode()
    return build


@router.get("/collections/{collectionId}/items/{featureId}", response_class=GeoJSONResponse,
            operation_id="getFeature",
            responses={200: {"content": {GEOJSON_MEDIA_TYPE: {
                "example": FEATURES_EXAMPLE["features"][0]}, "text/html": {}},
                "description": "One feature (GeoJSON)."},
                304: {"description": "Not modified (the ETag matched)."}})
async def get_item(
    collection_id: CollectionId,
    feature_id: Annotated[str, PathParam(alias="featureId",
                                         description="Feature id within the collection.")],
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
    build = _feature_builder(request, collection, feature_id, properties, output_crs)
    headers = {"Content-Crs": f"<{output_crs}>"}
    cache, key = cache_of(request), ("item", str(request.url))
    body = None if _wants_html(request, f) else cache.peek(key)
    if body is None:
        found = await run_in_threadpool(collection.get, store, settings, feature_id, version)
        if found is None:
            raise NotFoundError(f"feature {feature_id!r} not found in {collection_id!r}")
        text, immutable_version = found
        if _wants_html(request, f):
            return HTMLResponse(html_pages.item(collection, json.loads(build(text))))
        if immutable_version is None:
            return Response(build(text), media_type=GEOJSON_MEDIA_TYPE, headers=headers)
        body = await run_in_threadpool(cache.get_or_build, key, lambda: build(text))
    return cached_response(request, body, GEOJSON_MEDIA_TYPE, immutable=True, headers=headers)
