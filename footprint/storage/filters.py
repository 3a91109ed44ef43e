"""OGC CQL2 filters and sort orders as SQL on the feature tables, on both backends.

A filter arrives parsed (a :mod:`pygeofilter` AST, from CQL2 text or CQL2 JSON) and is
translated by pygeofilter's SQLAlchemy backend with a mapping from each queryable to a
column: a table column when the table has one (``deposit_class``, ``area_m2`` ...),
else the typed JSON path into ``properties`` (``CAST(properties ->> 'year' AS INTEGER)``
on PostgreSQL, ``JSON_EXTRACT(properties, '$."year"')`` on SQLite), so the same
expression runs on PostGIS and on SQLite.

Supported (an allow-list, :data:`_HANDLED`): the Basic CQL2 comparisons,
``AND``/``OR``/``NOT``, ``IS NULL``, and the advanced comparison operators ``LIKE``,
``BETWEEN`` and ``IN``, on string, number and boolean literals. Every other node
(spatial, temporal, array predicates, ``EXISTS``, ``INCLUDE``, functions, arithmetic)
and every other literal (dates, geometries) is refused with a clear error (``bbox`` and
``datetime`` cover space and time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pygeofilter import ast
from pygeofilter.backends.sqlalchemy.evaluate import to_filter
from sqlalchemy import ColumnElement, inspect

from footprint.errors import InvalidParameterError

#: JSON-Schema types of queryables and how a JSON property of that type is read.
_JSON_READERS = {
    "number": lambda path: path.as_float(),
    "integer": lambda path: path.as_integer(),
    "boolean": lambda path: path.as_boolean(),
    "string": lambda path: path.as_string(),
}

#: The AST nodes the SQL translation implements: everything else (spatial, temporal and
#: array predicates, EXISTS, INCLUDE, functions, arithmetic ...) is refused by name.
_HANDLED = (ast.And, ast.Or, ast.Not, ast.Equal, ast.NotEqual, ast.LessThan, ast.LessEqual,
            ast.GreaterThan, ast.GreaterEqual, ast.Between, ast.Like, ast.In, ast.IsNull,
            ast.Attribute)
#: Literal values a comparison may hold (bool is an int); dates, times, geometries,
#: intervals and envelopes are refused.
_LITERALS = (str, int, float)
_SUPPORTED = ("comparisons, LIKE, BETWEEN, IN, IS NULL with AND/OR/NOT on strings, numbers "
              "and booleans; use bbox and datetime for space and time")


def queryable_columns(model: Any, queryables: Mapping[str, str]) -> dict[str, Any]:
    """SQL expression of each queryable of ``model`` (name -> JSON-Schema type)."""
    columns: set[str] = {c.key for c in inspect(model).columns}
    mapping: dict[str, Any] = {}
    for name, json_type in queryables.items():
        if name in columns and name not in ("properties", "geom", "feature_json"):
            mapping[name] = getattr(model, name)
        else:
            mapping[name] = _JSON_READERS.get(json_type, _JSON_READERS["string"])(
                model.properties[name])
    return mapping


def _walk(node: Any) -> list[Any]:
    found = [node]
    if isinstance(node, ast.Node):
        for child in node.get_sub_nodes():
            if isinstance(child, list):
                for item in child:
                    found.extend(_walk(item))
            else:
                found.extend(_walk(child))
    return found


def filter_clause(tree: Any, model: Any, queryables: Mapping[str, str]) -> ColumnElement[bool]:
    """The SQL ``WHERE`` clause of a parsed CQL2 filter on ``model``'s features.

    Raises :class:`InvalidParameterError` naming an attribute that is not a queryable,
    or a predicate this service does not implement.
    """
    for node in _walk(tree):
        if isinstance(node, ast.Node) and not isinstance(node, _HANDLED):
            raise InvalidParameterError(
                f"filter uses {type(node).__name__}, which this service does not implement",
                hint=_SUPPORTED)
        if not isinstance(node, (ast.Node, *_LITERALS)):
            raise InvalidParameterError(
                f"filter holds a {type(node).__name__} value, which this service does not "
                "compare", hint=_SUPPORTED)
        if isinstance(node, ast.Like) and not isinstance(node.pattern, str):
            raise InvalidParameterError("filter's LIKE pattern is not a string literal",
                                        hint=_SUPPORTED)
        if isinstance(node, ast.Attribute) and node.name not in queryables:
            raise InvalidParameterError(
                f"filter names {node.name!r}, which is not a queryable",
                hint=f"queryables: {', '.join(sorted(queryables))}")
    return to_filter(tree, queryable_columns(model, queryables), undefined_as_null=False)


def sort_columns(sortby: Sequence[tuple[str, bool]], model: Any,
                 queryables: Mapping[str, str]) -> list[Any]:
    """ORDER BY terms for ``sortby`` (name, ascending) pairs; unknown names are a 400."""
    mapping = queryable_columns(model, queryables)
    terms = []
    for name, ascending in sortby:
        if name not in mapping:
            raise InvalidParameterError(f"sortby names {name!r}, which is not a queryable",
                                        hint=f"queryables: {', '.join(sorted(queryables))}")
        terms.append(mapping[name].asc() if ascending else mapping[name].desc())
    return terms
