"""The JSON documents the service answers with, as pydantic models.

Each route declares its model (``response_model``), so the OpenAPI document says what
a client really gets and FastAPI checks every answer against it. The routes build plain
dicts; the models are the contract, read with ``response_model_exclude_unset`` so that a
key a route leaves out stays out (and one it sets to ``null`` stays ``null``).

Documents that carry open-ended results (summaries, parameters, provenance, STAC items,
reports, job results) type those parts as JSON objects; every model allows extra keys,
as OGC documents do, so a new key is an addition, not a breaking change.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from footprint.concepts import JobStatus

JsonObject = dict[str, Any]


class Document(BaseModel):
    """Base of the response documents: open to extra keys."""

    model_config = ConfigDict(extra="allow")


class Link(Document):
    """An OGC API link."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class Linked(Document):
    """A document with links."""

    links: list[Link]


# --------------------------------------------------------------------------------------
# OGC API - Processes
# --------------------------------------------------------------------------------------
class ProcessSummary(Linked):
    """A process as listed by ``/processes``."""

    id: str
    title: str
    description: str
    version: str
    keywords: list[str]
    jobControlOptions: list[str]
    outputTransmission: list[str]


class ProcessList(Linked):
    """The processes offered."""

    processes: list[ProcessSummary]


class ParameterDescription(Document):
    """An input or output of a process description: its title and JSON Schema."""

    title: str
    description: str | None = None
    schema_: JsonObject = Field(alias="schema")
    minOccurs: int | None = None
    maxOccurs: int | None = None


class ProcessDescription(ProcessSummary):
    """One process with its inputs and outputs."""

    inputs: dict[str, ParameterDescription]
    outputs: dict[str, ParameterDescription]


class StatusInfo(Linked):
    """The OGC statusInfo of a job."""

    jobID: str
    processID: str | None
    type: Literal["process"]
    status: JobStatus
    message: str
    progress: int = Field(ge=0, le=100)
    created: str | None
    started: str | None
    finished: str | None
    updated: str | None


class JobList(Linked):
    """Jobs, newest first."""

    jobs: list[StatusInfo]


#: A job's results: one JSON value per output id.
JobResults = JsonObject


# --------------------------------------------------------------------------------------
# fields and footprints
# --------------------------------------------------------------------------------------
class FieldDocument(Linked):
    """A field of the catalogue with its latest footprint version."""

    id: str
    name: str
    country: str
    participant_iso3: str
    crs_epsg: int
    bbox_4326: list[float]
    aoi_area_km2: float
    aoi_method: str
    delineation_modes: list[str]
    sources: list[str]
    latest_footprint_version: int | None


class FieldList(Linked):
    """The fields of the catalogue."""

    fields: list[FieldDocument]


class FootprintSummary(Linked):
    """A footprint version, short."""

    field_id: str
    version: int
    created_at: str | None
    status: str | None
    seed: int
    n_draws: int
    n_deposits: int | None
    code_version: str


class FootprintDocument(FootprintSummary):
    """A footprint version in full: summaries, parameters, provenance, download links."""

    sheet_sha256: str | None
    summaries: JsonObject | None
    parameters: JsonObject | None
    provenance: JsonObject | None
    rasters: list[str]
    sensitivity: Any = None
    inputs_sha256: str | None


class FootprintList(Linked):
    """The footprint versions of a field, newest first."""

    field_id: str
    footprints: list[FootprintSummary]


class FootprintComparison(Document):
    """Two footprint versions compared (:func:`footprint.pipeline.compare.compare_versions`)."""

    field_id: str
    version_from: JsonObject = Field(alias="from")
    version_to: JsonObject = Field(alias="to")
    same_inputs: bool
    evidence: JsonObject
    outputs: list[JsonObject]


class RasterValue(Document):
    """A raster's value at a lon/lat point (``null`` on nodata)."""

    field_id: str
    version: int
    raster: str
    lon: float
    lat: float
    value: float | None


# --------------------------------------------------------------------------------------
# layers and declarations
# --------------------------------------------------------------------------------------
class LayerDocument(Linked):
    """A layer of a field (its features are served by the Features collections)."""

    id: int
    field_id: str
    kind: str
    name: str
    source: str | None
    version: int | None
    year: int | None
    sha256: str | None
    crs: str | None
    bbox_4326: list[float] | None
    n_features: int | None
    created_at: str | None
    meta: JsonObject
    active: bool
    retired_at: str | None
    retired_by: str | None
    stac: JsonObject | None = None


class UploadedLayer(LayerDocument):
    """A stored upload, with the build-footprint job it started when asked to."""

    job: StatusInfo | None = None


class RetiredLayer(LayerDocument):
    """A retired layer; ``retired_now`` is false when it was retired already."""

    retired_now: bool


class LayerList(Linked):
    """The layers of a field."""

    layers: list[LayerDocument]
    numberReturned: int


class DeclarationsUpload(Document):
    """What an upload of declared statistics stored."""

    kind: Literal["exports", "certificates"]
    rows: int
    rows_stored: int
    duplicate_upload: bool
    sha256: str
    participants: list[str]
    years: list[int]


#: An anomaly report (:func:`footprint.services.reports.make_report`), as JSON.
AnomalyReport = JsonObject


# --------------------------------------------------------------------------------------
# operations
# --------------------------------------------------------------------------------------
class Health(Document):
    """Liveness."""

    status: Literal["ok"]


class Readiness(Document):
    """Readiness, with each dependency's check (``ok`` or what is wrong)."""

    status: Literal["ready", "not ready"]
    checks: dict[str, str]


class AuditEntry(Document):
    """Who did what to which object, when, with the checksum of what they sent."""

    id: int
    at: str
    actor: str
    action: str
    target: str
    sha256: str | None
    detail: JsonObject


class AuditLog(Document):
    """A page of the audit log, newest first."""

    entries: list[AuditEntry]
    limit: int
    offset: int
