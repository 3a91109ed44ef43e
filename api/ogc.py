"""OGC API - Features request parameters, independent of the routes.

``bbox``, ``datetime``, ``crs``, CQL2 ``filter`` and ``sortby`` parsing, the refusal of
unknown parameters, limit clamping, paging links, and the assembly of a page from
GeoJSON Feature texts. The routes in
:mod:`api.routers.features` stay thin: they parse with these, ask the store, and wrap.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from starlette.datastructures import URL
from starlette.requests import Request

from footprint.errors import InvalidParameterError

GEOJSON_MEDIA_TYPE = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

CONFORMANCE_CLASSES = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas",
    "http://www.opengis.net/spec/ogcapi-features-8/1.0/conf/sorting",
    "http://www.opengis.net/spec/ogcapi-features-6/1.0/conf/property-selection",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
]

#: OGC API - Processes - Part 1 classes the processes routes implement.
PROCESSES_CONFORMANCE_CLASSES = [
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/ogc-process-description",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/job-list",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/dismiss",
]


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` (or the 6-number form with heights) in CRS84.

    Raises :class:`InvalidParameterError` on anything else: wrong count, non-numbers,
    coordinates outside lon/lat ranges, south above north, or a box crossing the
    antimeridian (west > east), which no field of the catalogue needs.
    """
    if text is None or text == "":
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (4, 6):
        raise InvalidParameterError("bbox needs 4 or 6 comma-separated numbers",
                                    hint="minlon,minlat,maxlon,maxlat in CRS84")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InvalidParameterError(f"bbox has a value that is not a number: {text!r}") from None
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidParameterError("bbox values must be finite numbers")
    if len(numbers) == 6:
        west, south, _, east, north, _ = numbers
    else:
        west, south, east, north = numbers
    if not (-180 <= west <= 180 and -180 <= east <= 180
            and -90 <= south <= 90 and -90 <= north <= 90):
        raise InvalidParameterError("bbox is outside lon [-180, 180] / lat [-90, 90]")
    if south > north:
        raise InvalidParameterError("bbox has its southern edge north of its northern edge")
    if west > east:
        raise InvalidParameterError("bbox crossing the antimeridian is not supported")
    return (west, south, east, north)


@dataclass(frozen=True)
class Interval:
    """A closed time interval in UTC; ``None`` ends are open."""

    start: datetime | None
    end: datetime | None

    def overlaps(self, start: datetime | None, end: datetime | None) -> bool:
        """Whether ``[start, end]`` (``None`` = unbounded) meets this interval."""
        if self.end is not None and start is not None and start > self.end:
            return False
        if self.start is not None and end is not None and end < self.start:
            return False
        return True

    def overlaps_year(self, year: int) -> bool:
        """Whether the interval overlaps calendar year ``year`` (UTC)."""
        return self.overlaps(datetime(year, 1, 1, tzinfo=UTC),
                             datetime(year, 12, 31, 23, 59, 59, tzinfo=UTC))

    def single_year(self) -> int | None:
        """The calendar year both ends fall in, if they do."""
        if self.start is not None and self.end is not None and self.start.year == self.end.year:
            return self.start.year
        return None


def _parse_instant(text: str, *, end: bool) -> datetime | None:
    text = text.strip()
    if text in ("", ".."):
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)
        value = datetime.fromisoformat(text.replace("z", "Z"))
        # astimezone overflows at the ends of the calendar (9999-12-31T23:59-01:00)
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidParameterError(
            f"datetime {text!r} is not an RFC 3339 date or date-time",
            hint="e.g. 2010-06-01T00:00:00Z or 2008-01-01/2010-12-31") from None


def parse_datetime(text: str | None) -> Interval | None:
    """An RFC 3339 instant, or an interval ``start/end`` with ``..`` or empty for open ends.

    A date-only instant stands for the whole day.
    """
    if text is None or text.strip() == "":
        return None
    if "/" in text:
        parts = text.split("/")
        if len(parts) != 2:
            raise InvalidParameterError("datetime interval must have exactly one '/'")
        start = _parse_instant(parts[0], end=False)
        end = _parse_instant(parts[1], end=True)
        if start is not None and end is not None and start > end:
            raise InvalidParameterError("datetime interval starts after it ends")
        return Interval(start, end)
    if text.strip() == "..":
        raise InvalidParameterError("datetime '..' needs a second end ('../<end>')")
    start = _parse_instant(text, end=False)
    end = _parse_instant(text, end=True) if len(text.strip()) == 10 else start
    return Interval(start, end)


def clamp_limit(limit: int, server_max: int) -> int:
    """The limit a page really uses: a requested limit above the server maximum is clamped."""
    return max(1, min(limit, server_max))


def _link(href: URL | str, rel: str, media_type: str, title: str | None = None) -> dict[str, Any]:
    link = {"href": str(href), "rel": rel, "type": media_type}
    if title:
        link["title"] = title
    return link


def link(href: URL | str, rel: str, media_type: str = "application/json",
         title: str | None = None) -> dict[str, Any]:
    """An OGC API link object."""
    return _link(href, rel, media_type, title)


def paging_links(url: URL, *, offset: int, limit: int, number_returned: int,
                 number_matched: int, collection_url: str) -> list[dict[str, Any]]:
    """``self``, ``next`` (when more match), ``prev`` (when not on the first page) and
    ``collection`` links; other query parameters (bbox, datetime, version) are kept."""
    links = [link(url, "self", GEOJSON_MEDIA_TYPE, "this page")]
    if offset + number_returned < number_matched:
        links.append(link(url.include_query_params(offset=offset + number_returned, limit=limit),
                          "next", GEOJSON_MEDIA_TYPE, "next page"))
    if offset > 0:
        links.append(link(url.include_query_params(offset=max(0, offset - limit), limit=limit),
                          "prev", GEOJSON_MEDIA_TYPE, "previous page"))
    links.append(link(collection_url, "collection", "application/json", "the collection"))
    return links


def utc_now_rfc3339() -> str:
    """The current UTC time as an RFC 3339 string to the second (``...Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------
# Part 2: coordinate reference systems by reference

EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"


def crs_uris(extra_epsg: int | None = None) -> list[str]:
    """CRS a collection can be read in: CRS84, EPSG:4326, EPSG:3857 and its UTM zone."""
    uris = [CRS84, EPSG_URI.format(4326), EPSG_URI.format(3857)]
    if extra_epsg is not None and extra_epsg not in (4326, 3857):
        uris.append(EPSG_URI.format(extra_epsg))
    return uris


def parse_crs(text: str | None, allowed: list[str], what: str = "crs") -> str:
    """The CRS URI asked for (CRS84 when none); a CRS not in ``allowed`` is a 400."""
    if text is None or text.strip() == "":
        return CRS84
    value = text.strip().strip("[]")
    if value.upper().startswith("EPSG:"):  # the safe-CURIE and the short form
        value = EPSG_URI.format(value.split(":", 1)[1])
    if value not in allowed:
        raise InvalidParameterError(f"{what} {text!r} is not offered by this collection",
                                    hint=f"one of {', '.join(allowed)}")
    return value


def _pyproj_crs(uri: str) -> Any:
    from pyproj import CRS

    return CRS.from_user_input("OGC:CRS84" if uri == CRS84 else "EPSG:" + uri.rsplit("/", 1)[1])


def bbox_to_crs84(bbox: tuple[float, float, float, float], crs_uri: str
                  ) -> tuple[float, float, float, float]:
    """A ``bbox`` given in ``crs_uri`` (its axis order; EPSG:4326 is lat, lon) as CRS84."""
    if crs_uri == CRS84:
        return bbox
    from pyproj import Transformer

    transformer = Transformer.from_crs(_pyproj_crs(crs_uri), _pyproj_crs(CRS84))
    return tuple(transformer.transform_bounds(*bbox, densify_pts=21))  # type: ignore[return-value]


def parse_bbox_in(text: str | None, crs_uri: str) -> tuple[float, float, float, float] | None:
    """``bbox`` in ``crs_uri`` (CRS84 ranges are checked only for CRS84), as CRS84."""
    if crs_uri == CRS84:
        return parse_bbox(text)
    if text is None or text == "":
        return None
    try:
        numbers = [float(p) for p in text.split(",")]
    except ValueError:
        raise InvalidParameterError(f"bbox has a value that is not a number: {text!r}") from None
    if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
        raise InvalidParameterError("bbox needs 4 finite comma-separated numbers")
    if numbers[0] > numbers[2] or numbers[1] > numbers[3]:
        raise InvalidParameterError("bbox corners are not lower-left then upper-right")
    west, south, east, north = bbox_to_crs84(tuple(numbers), crs_uri)  # type: ignore[arg-type]
    return parse_bbox(f"{max(west, -180)},{max(south, -90)},{min(east, 180)},{min(north, 90)}")


def geometry_transformer(crs_uri: str) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """A function reprojecting a GeoJSON geometry from CRS84 to ``crs_uri`` (in that CRS's
    axis order), or None for CRS84 itself."""
    if crs_uri == CRS84:
        return None
    import numpy as np
    import shapely
    from pyproj import Transformer
    from shapely.geometry import mapping, shape

    transformer = Transformer.from_crs(_pyproj_crs(CRS84), _pyproj_crs(crs_uri))
    decimals = 7 if crs_uri.endswith("/4326") else 3

    def reproject(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.round(np.column_stack([x, y]), decimals)

    def transform(geometry: dict[str, Any]) -> dict[str, Any]:
        return mapping(shapely.transform(shape(geometry), reproject))
    return transform


def dumps_feature(feature: dict[str, Any]) -> str:
    """A GeoJSON Feature as compact JSON text (no NaN, UTF-8 kept)."""
    return json.dumps(feature, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def check_parameters(request: Request, allowed: frozenset[str]) -> None:
    """Refuse a query parameter the route does not implement (OGC API - Features 7.15.1)."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise InvalidParameterError(
            f"unknown query parameter(s): {', '.join(unknown)}",
            hint=f"this resource understands {', '.join(sorted(allowed))}")



#: ``filter-lang`` values: the two CQL2 encodings, and ``cql-text``, the draft name of
#: CQL2 text that GDAL's OAPIF driver (3.12 and earlier) looks for in the OpenAPI
#: document before it sends a ``-where`` to the server
FILTER_LANGUAGES = ("cql2-text", "cql2-json", "cql-text")

#: pygeofilter's CQL2 text grammar gives AND and OR one precedence, read left to right
#: (``a OR b AND c`` as ``(a OR b) AND c``), takes only a single predicate after NOT, and
#: ends a string at its first apostrophe. These rules replace its boolean part by the
#: CQL2 BNF (booleanExpression / booleanTerm / booleanFactor / booleanPrimary) and its
#: string by the CQL2 one, where a doubled apostrophe is a quote inside the string.
_CQL2_BOOLEAN_RULES = '''?condition: conjunction
          | condition "OR"i conjunction -> or_

?conjunction: condition_1
            | conjunction "AND"i condition_1 -> and_

?condition_1: boolean_primary
            | "NOT"i boolean_primary -> not_

?boolean_primary: predicate
                | "(" condition ")"

'''
_CQL2_STRING = "SINGLE_QUOTED: /'(?:[^']|'')*'/"
#: the draft's case-insensitive match, which GDAL writes for a ``-where`` LIKE
_DRAFT_ILIKE = '''          | expression "ILIKE"i expression -> ilike
          | expression "NOT"i "ILIKE"i expression -> not_ilike
'''


def _cql_text_grammar(*, draft: bool) -> str:
    """pygeofilter's CQL2 text grammar with the rules of :data:`_CQL2_BOOLEAN_RULES` and
    :data:`_CQL2_STRING`, and for the draft (``draft``) ``ILIKE``; a pygeofilter whose
    grammar no longer has the replaced rules fails here, not with wrong answers."""
    from pygeofilter.parsers.cql2_text import parser

    grammar = Path(parser.__file__).with_name("grammar.lark").read_text(encoding="utf-8")
    edits = [(r"(?ms)^\?condition:.*?(?=^\?predicate:)", _CQL2_BOOLEAN_RULES),
             (r"(?m)^SINGLE_QUOTED: .*$", _CQL2_STRING)]
    if draft:
        edits.append((r'(?<=-> not_like\n)', _DRAFT_ILIKE))
    for pattern, replacement in edits:
        grammar, count = re.subn(pattern, replacement.replace("\\", r"\\"), grammar)
        if count != 1:
            raise RuntimeError(f"pygeofilter's CQL2 grammar changed: {pattern!r} matched {count}")
    return grammar


@functools.cache
def _cql_text_parser(draft: bool) -> Any:
    """A LALR parser of :func:`_cql_text_grammar` building pygeofilter's AST."""
    from lark import Lark
    from pygeofilter.parsers.cql2_text import parser

    class Transformer(parser.CQLTransformer):  # type: ignore[misc]
        def SINGLE_QUOTED(self, token: str) -> str:  # noqa: N802 - the terminal's name
            return token[1:-1].replace("''", "'")

    return Lark(_cql_text_grammar(draft=draft), parser="lalr", maybe_placeholders=False,
                transformer=Transformer(), source_path=parser.__file__,
                import_paths=[os.path.dirname(os.path.dirname(parser.__file__))])


def parse_filter(text: str | None, lang: str | None, filter_crs: str | None) -> Any:
    """A CQL2 filter (text or JSON, ``filter-lang``, see :data:`FILTER_LANGUAGES`)
    parsed into a pygeofilter AST, or None. CQL2 text is read by the standard's
    precedence (NOT, then AND, then OR) with ``''`` for a quote inside a string; the
    draft ``cql-text`` is the same plus ``ILIKE``, as GDAL's OAPIF driver writes it."""
    if text is None or text.strip() == "":
        if lang is not None or filter_crs is not None:
            raise InvalidParameterError("filter-lang and filter-crs need a filter")
        return None
    if filter_crs not in (None, CRS84):
        raise InvalidParameterError("filter-crs must be CRS84", hint=CRS84)
    lang = lang or "cql2-text"
    if lang not in FILTER_LANGUAGES:
        raise InvalidParameterError(f"filter-lang {lang!r} is not offered",
                                    hint=" or ".join(FILTER_LANGUAGES))
    from pygeofilter.parsers.cql2_json import parse as parse_json

    # built outside the try: a pygeofilter grammar this cannot amend is a 500, not a 400
    parse = ((lambda t: parse_json(json.loads(t))) if lang == "cql2-json"
             else _cql_text_parser(lang == "cql-text").parse)
    try:
        return parse(text)
    except Exception as error:  # the parsers raise lark, JSON and value errors alike
        raise InvalidParameterError(f"filter is not valid {lang}: {str(error)[:200]}") from None


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


def select_properties(texts: list[str], names: str | None,
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
        out.append(dumps_feature(feature))
    return out


def collection_body(texts: list[str], number_matched: int, links: list[dict[str, Any]]) -> bytes:
    """A GeoJSON FeatureCollection body from already-serialised feature ``texts``."""
    head = b'{"type":"FeatureCollection","features":['
    tail = (f'],"numberMatched":{number_matched},"numberReturned":{len(texts)},'
            f'"timeStamp":"{utc_now_rfc3339()}","links":{json.dumps(links)}}}')
    return head + ",".join(texts).encode() + tail.encode()

