"""OGC API - Processes: process descriptions, execution, and jobs.

Execution is synchronous by default (the response carries the results) and asynchronous
with ``Prefer: respond-async`` (201, ``Location: /jobs/{jobID}``, a statusInfo body).
Either way the job is a row in the database, run by the executor named in the settings
(:mod:`footprint.executors`), so its state survives the request and the server: a job
whose worker died or whose server restarted ends ``failed`` with the reason.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import (
    Principal,
    ReadAccess,
    SettingsDep,
    StoreDep,
    request_audit,
    require_role,
    role_allows,
)
from api.errors import ERROR_RESPONSES, QUOTA_RESPONSES
from api.jobs import job_futures, job_id_of, record_value, status_info, submit_job
from api.processes import Process, check_quota, get_process, list_processes
from api.responses import JobList, JobResults, ProcessDescription, ProcessList, StatusInfo
from footprint import executors
from footprint.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)
from footprint.settings import Settings

router = APIRouter(tags=["OGC API - Processes"], responses=ERROR_RESPONSES)

REL_EXECUTE = "http://www.opengis.net/def/rel/ogc/1.0/execute"
REL_JOB_LIST = "http://www.opengis.net/def/rel/ogc/1.0/job-list"

EXECUTE_EXAMPLE = {"inputs": {"field": "gh-birim", "seed": 20081106, "draws": 20000}}


def _check_role(principal: Principal, process: Process) -> None:
    if role_allows(principal.role, process.roles):
        return
    if principal.is_anonymous:
        raise AuthenticationError("an API key is required to execute a process",
                                  hint="send it as X-API-Key or Authorization: Bearer")
    raise PermissionDeniedError(f"the key's role {principal.role!r} may not execute "
                                f"'{process.id}'", hint=f"needs {' or '.join(process.roles)}")


def _check_job_access(principal: Principal, job: Any, settings: Settings, *,
                      owner_or_admin: bool = False) -> None:
    """A job's results and its dismissal follow the rules of its process: its owner and
    admins always; private results (anomaly reports) also any key that may run the
    process, other results anyone who may read."""
    if principal.role == "admin" or (not principal.is_anonymous
                                     and principal.name == record_value(job, "owner")):
        return
    if not owner_or_admin:
        process = get_process(record_value(job, "process_id"), settings)
        if process.private_results:
            _check_role(principal, process)
        return
    if principal.is_anonymous:
        raise AuthenticationError("an API key is required to dismiss a job")
    raise PermissionDeniedError("only the job's owner or an admin may dismiss it")


def _load_job(store: Any, job_id: str) -> Any:
    """The job, failed first if nobody runs it any more; a dismissed job is gone (404)."""
    job = executors.fail_if_stale(store, store.get_job(job_id))
    if record_value(job, "status") == executors.DISMISSED:
        raise NotFoundError(f"job {job_id} was dismissed")
    return job


# --------------------------------------------------------------------------------------
# routes
# --------------------------------------------------------------------------------------
@router.get("/processes", operation_id="getProcesses", response_model=ProcessList,
            response_model_exclude_unset=True)
def list_processes_route(request: Request, settings: SettingsDep, _: ReadAccess) -> dict:
    """The processes this server offers (delineate, build-footprint, anomaly-report,
    calibrate-protocols)."""
    summaries = []
    for process in list_processes(settings):
        url = str(request.url_for("describe_process", process_id=process.id))
        summaries.append({**process.summary(), "links": [
            {"href": url, "rel": "self", "type": "application/json",
             "title": "process description"},
            {"href": f"{url}/execution", "rel": REL_EXECUTE, "title": "execute"}]})
    return {"processes": summaries, "links": [
        {"href": str(request.url), "rel": "self", "type": "application/json"},
        {"href": str(request.url_for("list_jobs")), "rel": REL_JOB_LIST,
         "type": "application/json", "title": "jobs"}]}


@router.get("/processes/{process_id}", name="describe_process",
            operation_id="getProcessDescription", response_model=ProcessDescription,
            response_model_exclude_unset=True)
def describe_process(process_id: str, request: Request, settings: SettingsDep,
                     _: ReadAccess) -> dict:
    """The description of one process: inputs and outputs as JSON Schema."""
    process = get_process(process_id, settings)
    url = str(request.url)
    return {**process.describe(), "links": [
        {"href": url, "rel": "self", "type": "application/json"},
        {"href": f"{url}/execution", "rel": REL_EXECUTE, "title": "execute"}]}


@router.post("/processes/{process_id}/execution", status_code=200, operation_id="execute",
             response_model=JobResults,
             responses={200: {"description": "The job's results, one value per output."},
                        201: {"model": StatusInfo,
                              "description": "Job created (with `Prefer: respond-async`)."},
                        **QUOTA_RESPONSES})
def execute_process(
    process_id: str,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require_role())],
    body: Annotated[dict[str, Any], Body(examples=[EXECUTE_EXAMPLE])],
    prefer: Annotated[str | None, Header(
        description="`respond-async` runs the job in the background.")] = None,
) -> Response:
    """Execute a process: synchronously (results in the response) or, with
    `Prefer: respond-async`, as a job (201 with its statusInfo and `Location`).

    Needs a key with role surveyor (delineate, build-footprint), monitor (anomaly-report,
    calibrate-protocols) or admin. Inputs are checked against the process's inputs model
    (its description); a bad one is a 400 naming it.
    """
    process = get_process(process_id, settings)
    _check_role(principal, process)
    inputs = process.validate_inputs(body.get("inputs") if isinstance(body, dict) else None)
    wants_async = prefer is not None and "respond-async" in prefer.lower()
    admit = check_quota(store, settings, principal, process, inputs)
    job, future = submit_job(request, store, settings, process, inputs,
                             request_audit(request, principal, **{"async": wants_async}),
                             wait=not wants_async, admit=admit)
    job_id = job_id_of(job)
    location = str(request.url_for("get_job", job_id=job_id))
    if wants_async:
        job = store.get_job(job_id)
        return JSONResponse(status_info(job, request), status_code=201,
                            headers={"Location": location, "Preference-Applied": "respond-async"})
    future.result()  # raises the job's own error (recorded in its row first)
    job = store.get_job(job_id)
    if record_value(job, "status") != executors.SUCCESSFUL:  # dismissed meanwhile
        raise ConflictError(f"job {job_id} ended {record_value(job, 'status')}: "
                            f"{record_value(job, 'message')}")
    return JSONResponse(record_value(job, "results") or {},
                        headers={"Link": f'<{location}>; rel="monitor"'})


@router.get("/jobs", name="list_jobs", operation_id="getJobs", response_model=JobList,
            response_model_exclude_unset=True)
def list_jobs(request: Request, store: StoreDep, _: ReadAccess,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> dict:
    """Jobs, newest first, with their status."""
    jobs = [executors.fail_if_stale(store, job)
            for job in store.list_jobs(limit=limit, offset=offset)]
    return {"jobs": [status_info(job, request) for job in jobs],
            "links": [{"href": str(request.url), "rel": "self", "type": "application/json"}]}


@router.get("/jobs/{job_id}", name="get_job", operation_id="getStatus",
            response_model=StatusInfo, response_model_exclude_unset=True)
def get_job(job_id: str, request: Request, store: StoreDep, _: ReadAccess) -> dict:
    """The status of one job (statusInfo: status, progress, message, times, links)."""
    return status_info(_load_job(store, job_id), request)


@router.get("/jobs/{job_id}/results", name="get_job_results", operation_id="getResult",
            response_model=JobResults)
def get_job_results(job_id: str, store: StoreDep, settings: SettingsDep,
                    principal: ReadAccess) -> dict:
    """The results of a successful job (for its owner and the roles that may run its process)."""
    job = _load_job(store, job_id)
    _check_job_access(principal, job, settings)
    status = record_value(job, "status")
    if status == executors.SUCCESSFUL:
        return record_value(job, "results") or {}
    if status == executors.FAILED:
        reason = record_value(job, "message") or "no reason recorded"
        raise ConflictError(f"job {job_id} failed: {reason}")
    if status == executors.DISMISSED:
        raise NotFoundError(f"job {job_id} was dismissed; it has no results")
    raise NotFoundError(f"job {job_id} is {status}; results are not ready",
                        hint="poll GET /jobs/{jobID} until its status is successful")


@router.delete("/jobs/{job_id}", operation_id="dismiss", response_model=StatusInfo,
               response_model_exclude_unset=True)
def dismiss_job(job_id: str, request: Request, store: StoreDep, settings: SettingsDep,
                principal: Annotated[Principal,
                                     Depends(require_role("surveyor", "monitor"))]) -> dict:
    """Dismiss a job (its owner or an admin): stop it at its next progress report."""
    job = _load_job(store, job_id)
    _check_job_access(principal, job, settings, owner_or_admin=True)
    dismissed = store.dismiss_job(job_id, audit=request_audit(request, principal))
    future = job_futures(request).get(job_id)
    if future is not None:
        future.cancel()
    return status_info(dismissed, request)
