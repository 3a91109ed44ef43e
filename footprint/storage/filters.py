"""OGC CQL2 filters and sort orders as SQL on the feature tables, on both backends.

A filter arrives parsed (a :mod:`pygeofilter` AST, from CQL2 text or CQL2 JSON) and is
translated by pygeofilter's SQLAlchemy backend with a mapping from each queryable to a
column: a table column when the table has one (``deposit_class``, ``area_m2`` ...),
else the typed JSON path into ``properties`` (``CAST(properties ->> 'year' AS INTEGER)``
on PostgreSQL, ``JSON_EXTRACT(properties, '$."year"')`` on SQLite), so the same
expression runs on PostGIS and on SQLite.

Supported (an allow-list, :data:`_BOOLEAN` and :data:`_PREDICATES`): the Basic CQL2
comparisons, ``AND``/``OR``/``NOT``, ``IS NULL``, and the advanced comparison operators
``LIKE``, ``BETWEEN`` and ``IN``, of a queryable with literals (or queryables) of its
type. Every other node (spatial, temporal, array predicates, ``EXISTS``, ``INCLUDE``,
functions, arithmetic), every other literal (dates, geometries) and a comparison across
types is refused with a clear error (``bbox`` and ``datetime`` cover space and time).
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

#: The boolean nodes and the predicates the SQL translation implements (an allow-list):
#: everything else (spatial, temporal and array predicates, EXISTS, INCLUDE, functions,
#: arithmetic ...) is refused by name.
_BOOLEAN = (ast.And, ast.Or, ast.Not)
_PREDICATES = (ast.Equal, ast.NotEqual, ast.LessThan, ast.LessEqual, ast.GreaterThan,
               ast.GreaterEqual, ast.Between, ast.Like, ast.In, ast.IsNull)
#: Literal values each JSON-Schema type of queryable is compared with; dates, times,
#: geometries, intervals and envelopes are refused.
_FAMILIES = {"string": "string", "number": "number", "integer": "number", "boolean": "boolean"}
_LITERAL_FAMILY: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "boolean"), (str, "string"), ((int, float), "number"))  # bool before int
_SUPPORTED = ("comparisons, LIKE, BETWEEN, IN, IS NULL of a queryable with literals of its "
              "type, joined by AND/OR/NOT; use bbox and datetime for space and time")


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


def _refuse(message: str) -> InvalidParameterError:
    return InvalidParameterError(message, hint=_SUPPORTED)


def _operand_family(operand: Any, queryables: Mapping[str, str]) -> tuple[str, bool]:
    """(type family, is an attribute) of a predicate's operand."""
    if isinstance(operand, ast.Attribute):
        if operand.name not in queryables:
            raise InvalidParameterError(
                f"filter names {operand.name!r}, which is not a queryable",
                hint=f"queryables: {', '.join(sorted(queryables))}")
        return _FAMILIES.get(queryables[operand.name], "string"), True
    if isinstance(operand, ast.Node):
        raise _refuse(f"filter uses {type(operand).__name__}, which this service does not "
                      "implement")
    family = next((family for kind, family in _LITERAL_FAMILY if isinstance(operand, kind)),
                  None)
    if family is None:
        raise _refuse(f"filter holds a {type(operand).__name__} value, which this service "
                      "does not compare")
    return family, False


def _check_predicate(node: Any, queryables: Mapping[str, str]) -> None:
    """A predicate compares queryables of one type family with literals of that family."""
    operands = [(operand, *_operand_family(operand, queryables))
                for operand in node.get_sub_nodes()]
    attributes = [(operand.name, family) for operand, family, is_attribute in operands
                  if is_attribute]
    if not attributes:
        raise _refuse(f"filter has a {type(node).__name__} that names no queryable")
    name, family = attributes[0]
    if isinstance(node, ast.Like) and (family != "string" or not isinstance(node.pattern, str)):
        raise _refuse(f"filter's LIKE needs a string queryable and a string pattern ({name!r} "
                      f"is a {queryables[name]})")
    for operand, other, is_attribute in operands:
        if other != family:
            what = repr(operand.name) if is_attribute else repr(operand)
            raise _refuse(f"filter compares {name!r} ({queryables[name]}) with {what} ({other})")


def _check(node: Any, queryables: Mapping[str, str]) -> None:
    if isinstance(node, _BOOLEAN):
        for child in node.get_sub_nodes():
            _check(child, queryables)
    elif isinstance(node, _PREDICATES):
        _check_predicate(node, queryables)
    else:
        raise _refuse(f"filter uses {type(node).__name__}, which this service does not "
                      "implement, where a predicate belongs")


def filter_clause(tree: Any, model: Any, queryables: Mapping[str, str]) -> ColumnElement[bool]:
    """The SQL ``WHERE`` clause of a parsed CQL2 filter on ``model``'s features.

    Raises :class:`InvalidParameterError` naming an attribute that is not a queryable,
    a node or literal this service does not implement, or a comparison across types
    (which PostgreSQL refuses and SQLite answers by its own type order).
    """
    _check(tree, queryables)
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
