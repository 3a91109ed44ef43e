"""The one definition of each shared concept: job states, roles, layer kinds (with their
schemas), delineation modes and a lon/lat bounding box.

Every module that needs one of these imports it from here; the tuples of plain strings
(``JOB_STATUSES``, ``ROLES``...) are for messages, database constraints and JSON Schema
enums, where an enum member's ``repr`` would leak.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from footprint.errors import InvalidParameterError


class JobStatus(StrEnum):
    """A job's state (OGC API - Processes ``statusCode``)."""

    ACCEPTED = "accepted"
    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    DISMISSED = "dismissed"

    @property
    def is_terminal(self) -> bool:
        """A final state: the job cannot change any more."""
        return self in (JobStatus.SUCCESSFUL, JobStatus.FAILED, JobStatus.DISMISSED)


JOB_STATUSES = tuple(s.value for s in JobStatus)
JOB_TERMINAL_STATUSES = tuple(s.value for s in JobStatus if s.is_terminal)


class Role(StrEnum):
    """The role of an API key (see :mod:`api.deps` for what each may do)."""

    READER = "reader"
    SURVEYOR = "surveyor"
    MONITOR = "monitor"
    ADMIN = "admin"


ROLES = tuple(r.value for r in Role)


class DelineationMode(StrEnum):
    """How deposits are delineated: valley bottoms from a DEM, river buffers, or mapped
    polygons (DOMAIN.md 3.1)."""

    TERRAIN = "terrain"
    RIVERS = "rivers"
    POLYGONS = "polygons"


DELINEATION_MODES = tuple(m.value for m in DelineationMode)


# --------------------------------------------------------------------------------------
# layer kinds and their schemas
# --------------------------------------------------------------------------------------
class LayerKind(StrEnum):
    """A kind of survey layer; :attr:`schema` says what a vector layer of it holds."""

    DEM = "dem"
    DEPOSITS = "deposits"
    MINED_AREAS = "mined_areas"
    BULK_SAMPLES = "bulk_samples"
    PIT_LOGS = "pit_logs"
    WORKFORCE = "workforce"
    RIVERS = "rivers"
    USGS_POINTS = "usgs_points"

    @property
    def schema(self) -> tuple[tuple[str, ...], tuple[Attribute, ...]] | None:
        """Geometry types and attributes of a vector upload of this kind (None: not
        uploaded as vectors)."""
        return KIND_SCHEMAS.get(self.value)


#: Every kind the models read (bundled and uploaded).
LAYER_KINDS = tuple(k.value for k in LayerKind)
#: The kinds a user uploads.
UPLOAD_LAYER_KINDS = ("dem", "deposits", "mined_areas", "bulk_samples", "pit_logs", "workforce")


@dataclass(frozen=True)
class Attribute:
    """One attribute of a layer kind: name (with unit), type, bounds, required or not."""

    name: str
    dtype: type
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""


_POLYGONS = ("Polygon", "MultiPolygon")
_POINTS_OR_POLYGONS = ("Point", "MultiPoint", "Polygon", "MultiPolygon")

#: Attributes and geometry types per vector layer kind.
KIND_SCHEMAS: dict[str, tuple[tuple[str, ...], tuple[Attribute, ...]]] = {
    "deposits": (_POLYGONS, (
        Attribute("thickness_m", float, False, 0.0, 100.0, "gravel thickness"),
        Attribute("grade_ct_m3", float, False, 0.0, 1000.0, "grade, carats per m3 of gravel"),
        Attribute("deposit_class", str, False, description="e.g. floodplain, low terrace"),
    )),
    "mined_areas": (_POLYGONS, (
        Attribute("year", int, False, 1900, 2100, "year the ground was mined"),
    )),
    "bulk_samples": (_POINTS_OR_POLYGONS, (
        Attribute("volume_m3", float, True, 0.0, 1e7, "gravel volume processed"),
        Attribute("carats", float, True, 0.0, 1e8, "carats recovered"),
        Attribute("stones", int, False, 0, 1e9, "stones recovered (enables the negative "
                  "binomial grade model, footprint.evidence)"),
    )),
    "pit_logs": (_POINTS_OR_POLYGONS, (
        Attribute("thickness_m", float, True, 0.0, 100.0, "gravel thickness"),
        Attribute("overburden_m", float, True, 0.0, 500.0, "overburden thickness"),
    )),
    "workforce": (_POINTS_OR_POLYGONS, (
        Attribute("count", int, True, 0, 1e7, "number of miners"),
        Attribute("year", int, True, 1900, 2100, "census year"),
    )),
}


# --------------------------------------------------------------------------------------
# a bounding box in lon/lat
# --------------------------------------------------------------------------------------
class BBox4326(NamedTuple):
    """A bounding box in degrees, EPSG:4326: ``(minx, miny, maxx, maxy)`` = (west, south,
    east, north). Boxes crossing the antimeridian are not supported."""

    minx: float
    miny: float
    maxx: float
    maxy: float

    @classmethod
    def check(cls, values: Sequence[float]) -> BBox4326:
        """Four finite numbers, ordered, inside lon -180..180 and lat -90..90; else
        :class:`InvalidParameterError`."""
        try:
            minx, miny, maxx, maxy = (float(v) for v in values)
        except (TypeError, ValueError):
            raise InvalidParameterError(
                "a bbox is four numbers: minx, miny, maxx, maxy") from None
        if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)) or minx > maxx \
                or miny > maxy or not (-180 <= minx and maxx <= 180 and -90 <= miny
                                       and maxy <= 90):
            raise InvalidParameterError(
                "a bbox must be minx <= maxx, miny <= maxy in degrees "
                "(lon -180..180, lat -90..90)")
        return cls(minx, miny, maxx, maxy)

    def union(self, other: Sequence[float]) -> BBox4326:
        """The smallest box holding both."""
        return BBox4326(min(self.minx, other[0]), min(self.miny, other[1]),
                        max(self.maxx, other[2]), max(self.maxy, other[3]))
