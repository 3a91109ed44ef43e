"""Jobs over HTTP: the application's executor, submitting a job, statusInfo.

Shared by the routers that start jobs (processes, and layer uploads with ``rebuild``);
the job itself is created and started by :func:`footprint.services.jobs.submit_job`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fastapi import Request

from footprint import executors
from footprint.serialise import iso_timestamp
from footprint.services import jobs as job_service
from footprint.settings import Settings
from footprint.storage.audit import Audit

REL_RESULTS = "http://www.opengis.net/def/rel/ogc/1.0/results"

_EXECUTOR_LOCK = threading.Lock()


def app_executor(request: Request) -> executors.Executor:
    """The application's executor, created on first use (shut down by the lifespan)."""
    state = request.app.state
    with _EXECUTOR_LOCK:
        if getattr(state, "executor", None) is None:
            state.executor = executors.get_executor(state.settings)
            state.job_futures = {}
    return state.executor


def job_futures(request: Request) -> dict[str, Any]:
    """The futures of the jobs this application started, by job id (to cancel them)."""
    if getattr(request.app.state, "job_futures", None) is None:
        request.app.state.job_futures = {}
    return request.app.state.job_futures


def submit_job(request: Request, store: Any, settings: Settings, process: Any,
               inputs: dict, audit: Audit, *, wait: bool = False,
               admit: Callable[[list[Any]], None] | None = None) -> tuple[Any, Any]:
    """Create the job row for ``process`` (with its ``execute`` audit entry, in one
    transaction) and start it; returns ``(job, future)``.

    With ``wait`` the future raises the job's own error (synchronous execution);
    ``admit`` is the caller's quota, checked in that transaction
    (:func:`api.processes.check_quota`).
    """
    job, future = job_service.submit_job(app_executor(request), store, settings, process,
                                         inputs, audit, wait=wait, admit=admit)
    job_id = job_id_of(job)
    futures = job_futures(request)
    futures[job_id] = future
    future.add_done_callback(lambda _f, j=job_id: futures.pop(j, None))
    return job, future


def job_id_of(job: Any) -> str:
    """The id of a job record or statusInfo dict."""
    return str(record_value(job, "job_id") or record_value(job, "id"))


def record_value(record: Any, name: str) -> Any:
    """Attribute ``name`` of a record, or key of a dict (None when absent)."""
    if isinstance(record, dict):
        return record.get(name)
    return getattr(record, name, None)


def status_info(job: Any, request: Request) -> dict[str, Any]:
    """The OGC statusInfo document of a job."""
    job_id = job_id_of(job)
    status = record_value(job, "status")
    self_url = str(request.url_for("get_job", job_id=job_id))
    links = [{"href": self_url, "rel": "self", "type": "application/json", "title": "this job"},
             {"href": str(request.url_for("list_jobs")), "rel": "up", "type": "application/json",
              "title": "all jobs"}]
    if status == executors.SUCCESSFUL:
        links.append({"href": str(request.url_for("get_job_results", job_id=job_id)),
                      "rel": REL_RESULTS, "type": "application/json", "title": "results"})
    progress = record_value(job, "progress")
    return {
        "jobID": job_id,
        "processID": record_value(job, "process_id"),
        "type": "process",
        "status": status,
        "message": record_value(job, "message") or "",
        "progress": int(progress) if progress is not None else 0,
        "created": iso_timestamp(record_value(job, "created_at")),
        "started": iso_timestamp(record_value(job, "started_at")),
        "finished": iso_timestamp(record_value(job, "finished_at")),
        "updated": iso_timestamp(record_value(job, "updated_at")),
        "links": links,
    }
