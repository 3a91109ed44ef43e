"""The audit trail: who did what to which object."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from footprint.serialise import json_safe
from footprint.storage.base import (
    StoreBase,
    _check_page,
    _copy,
)
from footprint.storage.models import (
    AuditEntry,
)
from footprint.storage.records import (
    AuditRecord,
)
from footprint.storage.types import utcnow

if TYPE_CHECKING:

    pass


log = logging.getLogger(__name__)

class AuditRepository(StoreBase):
    """The audit trail: who did what to which object."""

    def record_audit(self, actor: str, action: str, target: str, sha256: str | None = None,
                     detail: Mapping[str, Any] | None = None) -> AuditRecord:
        """Append an audit entry (e.g. ``actor="key:3"``, ``action="layer.upload"``)."""
        entry = AuditEntry(at=utcnow(), actor=actor, action=action, target=target,
                           sha256=sha256, detail=json_safe(dict(detail or {})))
        with self._session(write=True) as session:
            session.add(entry)
            session.flush()
            return _audit_record(entry)

    def list_audit(self, limit: int = 100, offset: int = 0) -> list[AuditRecord]:
        """Audit entries, newest first."""
        _check_page(limit, offset)
        query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        with self._session() as session:
            return [_audit_record(e) for e in session.scalars(query.limit(limit).offset(offset))]



def _audit_record(row: AuditEntry) -> AuditRecord:
    return _copy(AuditRecord, row)
