"""The one to-JSON helper: a JSON-ready copy of results, records and parameters.

Used for what is stored as JSON (PostgreSQL's JSON rejects NaN) and for what the service
and the job results answer, so the two never format a value differently: numpy scalars
and arrays become Python numbers and lists, NaN and infinities ``None``, datetimes ISO
8601 text (:func:`iso_timestamp`: UTC with a ``Z``), paths POSIX text, shapely
geometries GeoJSON mappings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

import numpy as np
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from footprint.errors import InvalidParameterError


def json_safe(value: Any, *, strict: bool = True) -> Any:
    """JSON-ready copy of ``value`` (mappings, sequences, numbers, text, dates, paths,
    geometries).

    Parameters
    ----------
    strict : bool
        Raise :class:`InvalidParameterError` for a value of another type (what is stored
        must round-trip); with ``False`` such a value becomes its ``str``.
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, strict=strict) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v, strict=strict) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return json_safe(value.tolist(), strict=strict)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    for kind, convert in _LEAVES:
        if isinstance(value, kind):
            return convert(value)
    if not strict:
        return str(value)
    raise InvalidParameterError(f"cannot store a {type(value).__name__} as JSON")


def iso_timestamp(value: dt.datetime | dt.date | None) -> str | None:
    """The one timestamp format of the service: RFC 3339 in UTC with a ``Z``
    (``2026-01-01T12:00:00Z``, microseconds kept when there are any).

    A naive datetime is taken to be UTC (what the store writes); a date stays
    ``YYYY-MM-DD``; ``None`` stays ``None``.
    """
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        return value.isoformat()
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


#: Leaf types and their JSON form.
_LEAVES: tuple[tuple[type | tuple[type, ...], Callable[[Any], Any]], ...] = (
    ((dt.datetime, dt.date), iso_timestamp),
    (PurePath, lambda v: v.as_posix()),
    (BaseGeometry, mapping),
)


def to_jsonable(obj: Any) -> Any:
    """A JSON-able view of a result object: a pydantic model (``model_dump``), an object
    with ``to_dict``, a dataclass, or plain data (see :func:`json_safe`, not strict)."""
    if hasattr(obj, "model_dump"):
        obj = obj.model_dump(mode="json")
    elif hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    return json_safe(obj, strict=False)
