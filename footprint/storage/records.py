"""Plain, frozen records returned by :class:`~footprint.storage.store.Store`.

They are detached copies of database rows: safe to keep after the session closed, to
pass between threads and to serialise. Datetimes are timezone-aware UTC; bounds are
``(minx, miny, maxx, maxy)`` in degrees (EPSG:4326); geometries are shapely, lon/lat.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry.base import BaseGeometry

from footprint.concepts import JOB_TERMINAL_STATUSES

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class FieldRecord:
    """A field of the catalogue as stored (AOI in lon/lat)."""
    id: str
    name: str
    participant_iso3: str
    crs_epsg: int
    aoi_4326: BaseGeometry | None
    bounds_4326: Bounds | None
    updated_at: dt.datetime


@dataclass(frozen=True)
class LayerRecord:
    """A stored survey layer (features or a raster file under the state directory)."""
    id: int
    field_id: str
    kind: str
    name: str
    source: str
    sha256: str
    crs: str | None
    bounds_4326: Bounds | None
    year: int | None
    version: int
    path: str | None
    stac: dict[str, Any] | None
    meta: dict[str, Any]
    n_features: int
    created_at: dt.datetime
    created_by: str | None
    retired_at: dt.datetime | None = None
    retired_by: str | None = None

    @property
    def active(self) -> bool:
        """False once the layer is retired (superseded): builds no longer read it."""
        return self.retired_at is None


@dataclass(frozen=True)
class FootprintRecord:
    """A stored footprint version: seed, draws, sheet, summaries, provenance, files."""
    id: int
    field_id: str
    version: int
    created_at: dt.datetime
    seed: int
    n_draws: int
    code_version: str
    sheet_sha256: str | None
    parameters: dict[str, Any]
    summaries: dict[str, Any]
    provenance: dict[str, Any]
    draws_path: str | None
    rasters: dict[str, str]
    status: str
    n_deposits: int
    inputs_sha256: str | None = None


@dataclass(frozen=True)
class JobRecord:
    """A job of an OGC process: status, progress, inputs, results, times."""
    id: str
    process_id: str
    status: str
    progress: int
    message: str | None
    inputs: dict[str, Any]
    results: dict[str, Any] | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    updated_at: dt.datetime
    heartbeat_at: dt.datetime | None
    worker: str | None
    owner: str | None

    @property
    def is_finished(self) -> bool:
        """The job is in a final status (successful, failed or dismissed)."""
        return self.status in JOB_TERMINAL_STATUSES


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key without its secret (only ``prefix``, the first characters, is shown)."""

    id: int
    name: str
    role: str
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        """The key is not revoked."""
        return self.revoked_at is None


@dataclass(frozen=True)
class AuditRecord:
    """One audit entry: who did what to which object, and the checksum sent."""
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    sha256: str | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FeaturePage:
    """A page of features as GeoJSON Feature texts (serialised once, when stored).

    ``version`` is the footprint version read (the latest when none was asked for);
    ``number_matched`` counts the features matching the whole query, not only the page.
    """

    version: int
    features: list[str]
    number_matched: int
