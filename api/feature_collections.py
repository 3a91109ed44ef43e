"""The feature collections the service offers, and how to read a page or a feature of each.

Collections
-----------
``fields``
    the areas of interest of the catalogue, with their properties.
``deposits-<field>``
    deposit polygons of the field's latest footprint version (``version=`` for another);
    pages are joined from the GeoJSON text stored with the version.
``mined-areas-<field>``
    uploaded layers of kind ``mined_areas`` (``datetime`` filters on their ``year``).
``layers-<field>``
    every uploaded survey vector layer's features (``datetime`` filters on ``year`` or the
    upload time).
``usgs-mines``
    USGS mineral deposit, exploration and facility points in the four countries
    (``is_diamond`` marks the diamond ones).

The routes of :mod:`api.routers.features` look a collection up with
:func:`get_collection` and call its ``read`` and ``get``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shapely.geometry import box, shape

from api.ogc import Interval, dumps_feature
from footprint.catalogue import FieldDefinition, load_catalogue
from footprint.errors import DataMissingError, InvalidParameterError, NotFoundError
from footprint.settings import Settings

BBox = tuple[float, float, float, float]

# --------------------------------------------------------------------------------------
# Collections and how to read them


@dataclass(frozen=True)
class ItemsQuery:
    """A page asked of a collection: bbox (CRS84), time, paging, version, CQL2, sort."""

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
    #: the field whose footprint versions the collection serves (deposits), if any: a
    #: page of a version is immutable
    versioned_field: str | None = None


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
    return Page([dumps_feature(f) for f in chosen], len(features))


def _memory_get(features: Callable[[Settings], Iterable[dict[str, Any]]]):
    def get(store: Any, settings: Settings, feature_id: str, version: int | None):
        for feature in features(settings):
            if str(feature.get("id")) == feature_id:
                return dumps_feature(feature), None
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
        years: tuple[int | None, int | None] | None = None
        undated: list[int] = []
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
        return Page([dumps_feature(f) for f in _with_layer(features, layers)], matched)
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
        return dumps_feature(_with_layer([feature], {layer.id: layer})[0]), None
    return get


def _field_collections(field: FieldDefinition) -> list[Collection]:
    bbox = field.bbox_4326
    return [
        Collection(f"deposits-{field.id}", f"Deposits, {field.name}",
                   f"Modelled gravel deposits of {field.name} ({field.country}) in the latest "
                   "footprint version; `version` selects another.", bbox, _read_deposits(field.id),
                   _get_deposit(field.id), queryables=_deposit_queryables(field.id),
                   crs_epsg=field.crs_epsg, versioned_field=field.id),
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


@functools.lru_cache(maxsize=1)
def _catalogue_collections() -> dict[str, Collection]:
    """``fields`` and the collections of each field: the catalogue alone decides them."""
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
    return found


@functools.lru_cache(maxsize=4)
def _collections_of(data_dir: Path) -> dict[str, Collection]:
    found = dict(_catalogue_collections())
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
    """The collection ``collection_id``, or :class:`NotFoundError`.

    A field's collection is found without reading the USGS points (about 0.3 s, once per
    process), which only ``usgs-mines`` and the list of collections need."""
    found = _catalogue_collections().get(collection_id) or collections(settings).get(
        collection_id)
    if found is None:
        raise NotFoundError(f"collection {collection_id!r} not found",
                            hint="GET /collections lists them")
    return found


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
