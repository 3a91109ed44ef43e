"""Persistent state: fields, layers, footprints, declarations, jobs, API keys, audit.

``Store`` is the only entry point; it works on SQLite (embedded default) and on
PostgreSQL/PostGIS, chosen by ``FOOTPRINT_DATABASE_URL``. See ``README.md``.
"""

from footprint.storage.audit import Audit
from footprint.storage.records import (
    ApiKeyRecord,
    AuditRecord,
    FieldRecord,
    FootprintRecord,
    JobRecord,
    LayerRecord,
)
from footprint.storage.store import LAYER_KINDS, Store

__all__ = [
    "Audit",
    "LAYER_KINDS",
    "ApiKeyRecord",
    "AuditRecord",
    "FieldRecord",
    "FootprintRecord",
    "JobRecord",
    "LayerRecord",
    "Store",
]
