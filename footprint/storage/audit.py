"""The audit trail: who did what to which object.

Every write a caller asks for (an upload, a retirement, a job started or dismissed, a
footprint version built, declarations stored, a key created or revoked) takes an
:class:`Audit` (who asks, and the context to keep) and writes its audit entry **in the
same transaction** as the change, with :func:`add_audit_entry`: the change and its entry
are committed together or not at all, so no failure can leave a change without its
entry. The repositories write the action, the target and the checksum themselves.

Actors are ``<key name>`` for the service (with the key's ``role`` and the
``request_id`` in the detail) and ``cli:<os user>`` for the command line
(:meth:`Audit.cli`, ``via: cli`` in the detail); a job's own writes (a footprint version)
are the job owner's, with the ``job_id``.
"""

from __future__ import annotations

import dataclasses
import getpass
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from footprint.serialise import json_safe
from footprint.storage.base import StoreBase, _check_page, _copy
from footprint.storage.models import AuditEntry
from footprint.storage.records import AuditRecord
from footprint.storage.types import utcnow

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Audit:
    """Who asks for a write, and the context its audit entry keeps.

    Parameters
    ----------
    actor : str
        ``<key name>`` (the service) or ``cli:<os user>`` (the command line).
    detail : mapping
        Kept in the entry beside what the repository records (e.g. ``role``,
        ``request_id``, ``via``).
    """

    actor: str
    detail: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def cli(cls, **detail: Any) -> Audit:
        """The command line's audit: actor ``cli:<os user>``, ``via: cli``."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no login name (a container without /etc/passwd entry)
            user = "unknown"
        return cls(f"cli:{user}", {"via": "cli", **detail})

    def with_detail(self, **detail: Any) -> Audit:
        """The same actor with more context."""
        return dataclasses.replace(self, detail={**self.detail, **detail})


def add_audit_entry(session: Session, audit: Audit | None, action: str, target: str, *,
                    sha256: str | None = None, detail: Mapping[str, Any] | None = None
                    ) -> AuditEntry | None:
    """Add the audit entry of a change to ``session``: the change's own transaction.

    ``detail`` (what the repository knows: kind, name, rows) is merged over
    ``audit.detail``. ``audit=None`` records nothing: a write nobody asked for (the
    catalogue's bundled layers, tests of the storage itself).
    """
    if audit is None:
        return None
    entry = AuditEntry(at=utcnow(), actor=audit.actor, action=action, target=target,
                       sha256=sha256,
                       detail=json_safe({**dict(audit.detail), **dict(detail or {})}))
    session.add(entry)
    return entry


class AuditRepository(StoreBase):
    """The audit trail: who did what to which object."""

    def record_audit(self, actor: str, action: str, target: str, sha256: str | None = None,
                     detail: Mapping[str, Any] | None = None) -> AuditRecord:
        """Append an audit entry on its own, for an action that changes nothing stored
        (a change's entry is written with the change: :func:`add_audit_entry`)."""
        with self._session(write=True) as session:
            entry = add_audit_entry(session, Audit(actor), action, target, sha256=sha256,
                                    detail=detail)
            assert entry is not None
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
