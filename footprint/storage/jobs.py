"""Jobs of the processes: status, progress, results, heartbeats."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import ColumnElement, CursorResult, and_, or_, select, text, update
from sqlalchemy.orm import Session

from footprint.concepts import JOB_STATUSES, JOB_TERMINAL_STATUSES
from footprint.errors import (
    ConflictError,
    InvalidParameterError,
    NotFoundError,
)
from footprint.serialise import json_safe
from footprint.storage.audit import Audit, add_audit_entry
from footprint.storage.base import (
    StoreBase,
    _check_page,
    _copy,
)
from footprint.storage.models import (
    Job,
)
from footprint.storage.records import (
    JobRecord,
)
from footprint.storage.types import utcnow

if TYPE_CHECKING:

    pass


log = logging.getLogger(__name__)

#: advisory lock space (``pg_advisory_xact_lock(space, hashtext(owner))``) of job quotas
_PG_JOB_QUOTA_LOCK = 0x666F6F76

_UPDATABLE = frozenset({"status", "progress", "message", "results", "worker", "started_at",
                        "finished_at", "heartbeat_at"})

class JobRepository(StoreBase):
    """Jobs of the processes: status, progress, results, heartbeats."""

    def create_job(self, process_id: str, inputs: Mapping[str, Any],
                   owner: str | None = None, *, worker: str | None = None,
                   audit: Audit | None = None,
                   admit: Callable[[list[JobRecord]], None] | None = None) -> JobRecord:
        """A new job in status ``accepted`` with a random UUID; ``owner`` is the key that
        asked for it, ``worker`` the process that will run it (see footprint.ownership).

        ``audit``: an ``execute`` entry (process, inputs) written with the job.
        ``admit(unfinished)``: a quota check on the owner's accepted and running jobs,
        run in the transaction that inserts this one while it holds the owner's lock
        (PostgreSQL: an advisory lock per owner; SQLite: the write lock), so concurrent
        requests of one caller are admitted one at a time; it raises to refuse."""
        now = utcnow()
        job = Job(id=str(uuid.uuid4()), process_id=process_id, status="accepted", progress=0,
                  inputs=json_safe(dict(inputs)), created_at=now, updated_at=now, owner=owner,
                  worker=worker)
        with self._session(write=True) as session:
            if admit is not None:
                admit(self._unfinished_jobs_locked(session, owner))
            session.add(job)
            add_audit_entry(session, audit, "execute", f"jobs/{job.id}",
                            detail={"process": process_id, "inputs": job.inputs})
            session.flush()
            return _job_record(job)

    def _unfinished_jobs_locked(self, session: Session, owner: str | None) -> list[JobRecord]:
        """The accepted and running jobs of ``owner``, with the owner's quota lock held
        until ``session`` ends."""
        if self.is_postgres:
            session.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:owner))"),
                            {"space": _PG_JOB_QUOTA_LOCK, "owner": owner or ""})
        query = select(Job).where(Job.status.in_(("accepted", "running")),
                                  Job.owner.is_(None) if owner is None else Job.owner == owner)
        return [_job_record(row) for row in session.scalars(query)]

    def update_job(self, job_id: str, **changes: Any) -> JobRecord:
        """Change a job; every call also counts as a heartbeat of its worker.

        Accepts ``status``, ``progress`` (0-100), ``message``, ``results``, ``worker``,
        ``started_at``, ``finished_at``, ``heartbeat_at``. Entering ``running`` stamps
        ``started_at``; a final status stamps ``finished_at`` (and ``successful`` sets
        progress to 100). A job in a final status (successful, failed, dismissed) cannot
        change any more: :class:`ConflictError` (a worker finishing a dismissed job).
        """
        changes = _checked_changes(changes)
        status = changes.get("status")
        with self._session(write=True) as session:
            job = _require_job(session, job_id, lock=True)
            if job.status in JOB_TERMINAL_STATUSES:
                raise ConflictError(f"job {job_id} is already {job.status}")
            now = utcnow()
            for key, value in changes.items():
                setattr(job, key, value)
            if status == "running" and job.started_at is None:
                job.started_at = now
            if status in JOB_TERMINAL_STATUSES and job.finished_at is None:
                job.finished_at = now
            if status == "successful":
                job.progress = 100
            job.updated_at = now
            if "heartbeat_at" not in changes:
                job.heartbeat_at = now
            session.flush()
            return _job_record(job)

    def get_job(self, job_id: str) -> JobRecord:
        """One job; :class:`NotFoundError` if there is none."""
        with self._session() as session:
            return _job_record(_require_job(session, job_id))

    def list_jobs(self, limit: int = 100, offset: int = 0, *,
                  include_dismissed: bool = False,
                  statuses: Sequence[str] | None = None) -> list[JobRecord]:
        """Jobs, newest first (dismissed ones only on request; only ``statuses`` if given)."""
        _check_page(limit, offset)
        query = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
        if not include_dismissed:
            query = query.where(Job.status != "dismissed")
        if statuses is not None:
            query = query.where(Job.status.in_(tuple(statuses)))
        with self._session() as session:
            return [_job_record(r) for r in session.scalars(query)]

    def dismiss_job(self, job_id: str, *, audit: Audit | None = None) -> JobRecord:
        """Dismiss a job (OGC ``DELETE /jobs/{id}``); idempotent.

        An unfinished job is marked ``dismissed``: its worker sees it on its next
        :meth:`update_job` (ConflictError) and stops. A finished job (successful or
        failed) keeps its outcome and is deleted with its results, as OGC API -
        Processes asks; the returned record is the job as it was, marked dismissed.
        ``audit``: a ``dismiss`` entry written with the change (none when the job was
        already dismissed: nothing changes).
        """
        with self._session(write=True) as session:
            job = _require_job(session, job_id, lock=True)
            if job.status != "dismissed":
                add_audit_entry(session, audit, "dismiss", f"jobs/{job.id}",
                                detail={"process": job.process_id, "was": job.status})
            if job.status in ("successful", "failed"):
                record = _job_record(job)
                session.delete(job)
                session.flush()
                return dataclasses.replace(record, status="dismissed")
            if job.status != "dismissed":
                now = utcnow()
                job.status = "dismissed"
                job.finished_at = job.finished_at or now
                job.updated_at = now
                session.flush()
            return _job_record(job)

    def fail_orphaned_jobs(self, reason: str, older_than_s: float | None = None) -> int:
        """Fail accepted/running jobs nobody is working on; return how many.

        With ``older_than_s=None`` every accepted or running job is failed (call it at
        server start: their workers died with the previous process). Otherwise only
        those whose last heartbeat (or update) is older than ``older_than_s`` seconds.
        """
        now = utcnow()
        condition: ColumnElement[bool] = Job.status.in_(("accepted", "running"))
        if older_than_s is not None:
            cutoff = now - dt.timedelta(seconds=float(older_than_s))
            condition = and_(condition, or_(
                and_(Job.heartbeat_at.is_not(None), Job.heartbeat_at < cutoff),
                and_(Job.heartbeat_at.is_(None), Job.updated_at < cutoff)))
        statement = (update(Job).where(condition)
                     .values(status="failed", message=reason, finished_at=now, updated_at=now)
                     .execution_options(synchronize_session=False))
        with self._session(write=True) as session:
            result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
            return int(result.rowcount or 0)



def _checked_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes of :meth:`JobRepository.update_job`, checked and normalised."""
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise InvalidParameterError(f"cannot update job field(s) {sorted(unknown)}")
    status = changes.get("status")
    if status is not None and status not in JOB_STATUSES:
        raise InvalidParameterError(f"job status must be one of {JOB_STATUSES}")
    if "progress" in changes:
        progress = changes["progress"]
        if not isinstance(progress, (int, np.integer)) or not 0 <= progress <= 100:
            raise InvalidParameterError("job progress must be an integer from 0 to 100")
        changes["progress"] = int(progress)
    if changes.get("results") is not None:
        changes["results"] = json_safe(changes["results"])
    return changes


def _require_job(session: Session, job_id: str, *, lock: bool = False) -> Job:
    query = select(Job).where(Job.id == str(job_id))
    if lock:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise NotFoundError(f"no job with id {job_id}")
    return row


def _job_record(row: Job) -> JobRecord:
    return _copy(JobRecord, row)
