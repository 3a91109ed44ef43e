"""Executors: where jobs run, chosen by name (``FOOTPRINT_EXECUTOR=local|dask``).

A job is a row in the database (see :mod:`footprint.storage.store`); an executor only
runs the function behind it. The function reports progress to that row through a
``progress(pct, message)`` callback and a heartbeat thread refreshes the row's
``heartbeat_at`` while it runs, so a reader can tell a live job from one whose worker
died. A job belongs to the process that runs it (host, pid, boot id: see
:mod:`footprint.ownership`, recorded in the row's ``worker``), so several servers can
share one database: a job is failed, with the reason, only when its owner is gone (seen
directly on the same host) or its heartbeat is older than :data:`STALE_AFTER_S`
(:func:`fail_if_stale`, called on reads, and :func:`recover_jobs`, called at start-up
and periodically). Results are written to the job row (JSON) and any files under
``settings.state_dir``, never kept only in memory. A job that ends while the database is
unreachable keeps its outcome and records it as soon as the database is back.

Two executors:

- ``local`` (default): a thread pool in the server process (``settings.workers`` threads).
  Threads share the server's store; the models release the GIL in numpy.
- ``dask``: ``dask.distributed.Client(settings.dask_scheduler)``. The job function is
  shipped by reference and opens its own store from the settings on the worker.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import math
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from footprint.concepts import JOB_STATUSES, JOB_TERMINAL_STATUSES
from footprint.errors import (
    ConfigurationError,
    ConflictError,
    JobDismissedError,
    NotFoundError,
    StorageError,
    as_footprint_error,
)
from footprint.native_memory import release_free_memory
from footprint.ownership import current_owner, owner_alive, parse_owner
from footprint.settings import Settings

log = logging.getLogger(__name__)

#: Seconds between two heartbeats of a running job.
HEARTBEAT_INTERVAL_S = 5.0
#: A running job without a heartbeat for this long is considered dead.
STALE_AFTER_S = 60.0

#: Job states (OGC API - Processes ``statusCode``).
ACCEPTED, RUNNING, SUCCESSFUL, FAILED, DISMISSED = JOB_STATUSES
TERMINAL_STATES = frozenset(JOB_TERMINAL_STATUSES)

#: A job function: ``fn(inputs, *, store, settings, progress, job_id) -> JSON-able dict``.
JobFunction = Callable[..., dict]
#: ``progress(pct, message)``: pct in [0, 100].
ProgressCallback = Callable[[float, str], None]


def utcnow() -> dt.datetime:
    """The current time as a timezone-aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------------------
# executor interface
# --------------------------------------------------------------------------------------
class Executor(Protocol):
    """Runs functions somewhere and hands back a future-like object."""

    name: str
    #: True when submitted functions run in this process and may share its objects.
    in_process: bool

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Schedule ``fn(*args, **kwargs)``; return an object with ``result()``,
        ``done()``, ``cancel()`` and ``add_done_callback(cb)``."""
        ...

    def shutdown(self) -> None:
        """Stop accepting work and release workers (does not wait for running jobs)."""
        ...


class LocalExecutor:
    """A thread pool in the current process (``settings.workers`` threads)."""

    name = "local"
    in_process = True

    def __init__(self, workers: int = 2) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="footprint-job")

    def submit(self, fn: Callable[..., Any], *args: Any,
               **kwargs: Any) -> concurrent.futures.Future:
        """Run ``fn(*args, **kwargs)`` on a pool thread; return its future."""
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self) -> None:
        """Stop the pool without waiting, cancelling jobs that have not started."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class DaskExecutor:
    """A ``dask.distributed`` client; functions run on the cluster's workers.

    Parameters
    ----------
    address : str or distributed.Client
        ``tcp://host:port`` of a scheduler, or an existing client (tests pass one bound
        to a ``LocalCluster``). A client created here is closed by :meth:`shutdown`.
    """

    name = "dask"
    in_process = False

    def __init__(self, address: Any, *, timeout_s: float = 10.0) -> None:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - dask is an optional extra
            raise ConfigurationError("FOOTPRINT_EXECUTOR=dask needs dask.distributed",
                                     hint="pip install 'footprint[dask]'") from exc
        if isinstance(address, Client):
            self.client, self._owns_client = address, False
        else:
            self.client, self._owns_client = _connect(Client, address, timeout_s), True

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Submit ``fn(*args, **kwargs)`` to the cluster; return the dask future."""
        # pure=False: two runs of the same job function are two tasks, never deduplicated.
        return self.client.submit(fn, *args, pure=False, **kwargs)

    def shutdown(self) -> None:
        """Close the dask client if this executor created it."""
        if self._owns_client:
            self.client.close()


def _connect(client_type: Any, address: str, timeout_s: float) -> Any:
    """A client of the scheduler at ``address``, or one clear error within ``timeout_s``."""
    try:
        return client_type(address, set_as_default=False, timeout=timeout_s)
    except (OSError, TimeoutError, ValueError) as exc:  # distributed raises OSError on timeout
        raise ConfigurationError(
            f"no dask scheduler answered at {address} within {timeout_s:g} s "
            f"({type(exc).__name__})",
            hint="start one (dask scheduler), or fix FOOTPRINT_DASK_SCHEDULER") from None


def get_executor(settings: Settings) -> Executor:
    """The executor named by ``settings.executor``.

    Raises
    ------
    ConfigurationError
        ``dask`` without ``settings.dask_scheduler``.
    """
    if settings.executor == "dask":
        if not settings.dask_scheduler:
            raise ConfigurationError("FOOTPRINT_EXECUTOR=dask needs a scheduler address",
                                     hint="set FOOTPRINT_DASK_SCHEDULER=tcp://host:8786")
        return DaskExecutor(settings.dask_scheduler, timeout_s=settings.dask_connect_timeout_s)
    return LocalExecutor(settings.workers)


# --------------------------------------------------------------------------------------
# running one job
# --------------------------------------------------------------------------------------
_STORES: dict[str, Any] = {}
_STORES_LOCK = threading.Lock()


def open_store(settings: Settings) -> Any:
    """The store for ``settings`` (one per database URL and process, created lazily)."""
    from footprint.storage.store import Store

    url = settings.effective_database_url
    with _STORES_LOCK:
        if url not in _STORES:
            settings.ensure_dirs()
            _STORES[url] = Store.from_settings(settings)
        return _STORES[url]


class JobProgress:
    """The ``progress(pct, message)`` callback of one job: writes to its row.

    Raises :class:`JobDismissedError` when the job was dismissed meanwhile, so a long
    job stops at its next progress report.
    """

    def __init__(self, store: Any, job_id: str) -> None:
        self.store, self.job_id = store, job_id

    def __call__(self, pct: float, message: str = "") -> None:
        """Store progress ``pct`` (clamped to [0, 100]) and ``message`` on the job row."""
        pct = float(min(max(pct, 0.0), 100.0))
        try:
            self.store.update_job(self.job_id, progress=int(round(pct)), message=message[:2000])
        except ConflictError:  # the row is final: dismissed (or failed by a recovery)
            raise JobDismissedError(f"job {self.job_id} is no longer running") from None


def throttled(progress: ProgressCallback, min_interval_s: float = 1.0) -> ProgressCallback:
    """``progress`` called at most once every ``min_interval_s`` seconds (the first call
    and 100 % always go through): for work reporting many small steps (replicates),
    each of which would otherwise write the job row. A job's :class:`JobProgress` still
    sees a dismissal within ``min_interval_s`` of it plus one step."""
    last = [-math.inf]

    def report(pct: float, message: str = "") -> None:
        now = time.monotonic()
        if pct >= 100 or now - last[0] >= min_interval_s:
            last[0] = now
            progress(pct, message)

    return report


class Heartbeat:
    """A daemon thread refreshing a running job's ``heartbeat_at`` every ``interval_s``."""

    def __init__(self, store: Any, job_id: str, interval_s: float = HEARTBEAT_INTERVAL_S) -> None:
        self.store, self.job_id, self.interval_s = store, job_id, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}",
                                        daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 1)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.store.update_job(self.job_id, heartbeat_at=utcnow())
            except ConflictError:
                return  # the job is final (dismissed); nothing left to keep alive
            except Exception:  # a missed beat is not fatal; a stale job gets failed later
                log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)


def run_job(fn: JobFunction, job_id: str, inputs: dict, settings: Settings,
            store: Any = None, heartbeat_s: float = HEARTBEAT_INTERVAL_S,
            reraise: bool = False) -> dict | None:
    """Run one job to a terminal state, recording everything in its database row.

    ``fn(inputs, store=, settings=, progress=, job_id=)`` returns a JSON-able dict of
    results, stored in the row (``results``). A :class:`FootprintError` fails the job with
    its user-safe message; any other exception fails it with the exception type (the
    traceback goes to the log). Returns the results, or ``None`` when the job did not
    succeed. Never raises for a job error, so a worker outlives a failing job.
    """
    store = store if store is not None else open_store(settings)
    try:
        store.update_job(job_id, status=RUNNING, progress=0, message="running",
                         worker=worker_name())
    except (ConflictError, NotFoundError):
        return None  # dismissed (or failed by a recovery) before it started
    try:
        return _run_to_end(fn, job_id, inputs, settings, store, heartbeat_s, reraise)
    finally:
        release_free_memory()  # a build's arrays are freed: give their pages back


def _run_to_end(fn: JobFunction, job_id: str, inputs: dict, settings: Settings, store: Any,
                heartbeat_s: float, reraise: bool) -> dict | None:
    """The body of :func:`run_job` once the job is running."""
    try:
        with Heartbeat(store, job_id, heartbeat_s):
            results = fn(inputs, store=store, settings=settings,
                         progress=JobProgress(store, job_id), job_id=job_id)
    except JobDismissedError:
        log.info("job %s stopped: dismissed", job_id)
        return None
    except BaseException as exc:  # noqa: BLE001 - a job must end terminal whatever happens
        named = as_footprint_error(exc) if isinstance(exc, Exception) else None
        if named is not None:
            log.info("job %s failed: %s", job_id, named,
                     extra={"detail": getattr(named, "detail", None)})
            _finish(store, job_id, FAILED, message=settings.public_text(str(named)))
            if reraise:
                if named is exc:
                    raise
                raise named from exc
            return None
        log.error("job %s crashed\n%s", job_id, traceback.format_exc())
        # the type only: an exception's text may hold server paths (job messages are public)
        _finish(store, job_id, FAILED, message=f"internal error: {type(exc).__name__} "
                                               "(the server log has the detail)")
        if reraise or not isinstance(exc, Exception):
            raise
        return None
    # a result may say what the job did in one line (a build: "inputs unchanged ...")
    said = results.get("message") if isinstance(results, dict) else None
    _finish(store, job_id, SUCCESSFUL, message=str(said or "finished")[:2000], results=results,
            progress=100)
    return results


#: How long a finished job's outcome is retried while the database is unreachable.
FINISH_RETRY_S = 600.0


def _finish(store: Any, job_id: str, status: str, *, retry_s: float = FINISH_RETRY_S,
            **fields: Any) -> None:
    """Record a job's final state. While the database is unreachable the outcome is kept
    and retried (with back-off, up to ``retry_s``), so an outage does not turn the job's
    real cause into "no heartbeat"."""
    if "message" in fields:
        fields["message"] = str(fields["message"])[:2000]
    deadline, wait_s = time.monotonic() + retry_s, 0.5
    while True:
        try:
            store.update_job(job_id, status=status, **fields)
            return
        except ConflictError:
            return  # already final: a dismissal (or a recovery) wins over a late result
        except StorageError as exc:
            if time.monotonic() + wait_s > deadline:
                log.error("could not record that job %s ended %s: %s", job_id, status, exc)
                return
            log.warning("job %s ended %s; the database is unreachable, retrying in %.1f s",
                        job_id, status, wait_s)
            time.sleep(wait_s)
            wait_s = min(wait_s * 2, 10.0)


def worker_name() -> str:
    """``host~pid~boot~start/thread`` of the code running a job (the row's ``worker``):
    the owner (:mod:`footprint.ownership`) and the thread."""
    return f"{current_owner().tag}/{threading.current_thread().name}"[:200]


def start_job(executor: Executor, fn: JobFunction, job_id: str, inputs: dict,
              settings: Settings, store: Any, *, reraise: bool = False) -> Any:
    """Submit ``run_job(fn, job_id, ...)`` to ``executor`` and watch the future.

    An in-process executor shares ``store``; a remote one opens its own from
    ``settings``. If the future itself fails (a killed dask worker, a cancelled
    task), the done-callback fails the job with the reason, so it never stays
    ``running``. With ``reraise`` the future raises the job's error (for synchronous
    execution). Returns the future.
    """
    shared_store = store if executor.in_process else None
    future = executor.submit(run_job, fn, job_id, inputs, settings, shared_store,
                             HEARTBEAT_INTERVAL_S, reraise)

    def _watch(fut: Any) -> None:
        try:
            if fut.cancelled():
                reason = "the job was cancelled before it finished"
            else:
                error = fut.exception()
                if error is None:
                    return
                reason = f"the worker running the job died: {type(error).__name__}: {error}"
        except BaseException as exc:  # noqa: BLE001 - e.g. CancelledError from dask
            reason = f"the worker running the job was lost: {type(exc).__name__}"
        try:
            _finish(store, job_id, FAILED, message=reason)
        except Exception:
            log.exception("could not record the failure of job %s", job_id)

    future.add_done_callback(_watch)
    return future


# --------------------------------------------------------------------------------------
# recovery
# --------------------------------------------------------------------------------------
def owner_gone_reason(job: Any, in_process: bool = True) -> str | None:
    """Why ``job`` (accepted or running) has no live owner, or None when it may have one:
    its owner on this host is gone (seen directly), or, for in-process executors, it
    records no owner at all (queued by a version that did not record one)."""
    worker = getattr(job, "worker", None)
    if worker is None and in_process:
        # every job this version queues in-process records its owner when it is created
        return "the server restarted while the job was queued or running; submit it again"
    owner = parse_owner(worker)
    if owner is None or owner_alive(owner) is not False:
        return None
    return (f"the server process running the job ({owner}) stopped or restarted before "
            "it finished; submit it again")


def _stale_reason(job: Any, stale_after_s: float) -> str | None:
    last = job.heartbeat_at or job.updated_at
    if last is None or (utcnow() - last).total_seconds() <= stale_after_s:
        return None
    return f"the job's worker stopped reporting (no heartbeat for {stale_after_s:.0f} s)"


def recover_jobs(store: Any, settings: Settings, stale_after_s: float = STALE_AFTER_S) -> int:
    """Fail the unfinished jobs nobody runs any more; return how many.

    A job is failed, with the reason, when its owner is gone (on this host, seen
    directly) or when it is ``running`` with a heartbeat older than ``stale_after_s``
    (an owner on another host, or a dask worker). Jobs of live processes, here or on
    other servers sharing the database, are left alone. Call it at start-up and
    periodically (the service does, see ``api.app``).
    """
    failed = 0
    in_process = settings.executor == "local"
    for job in store.list_jobs(limit=1000, statuses=(ACCEPTED, RUNNING)):
        reason = owner_gone_reason(job, in_process)
        if reason is None and job.status == RUNNING:
            reason = _stale_reason(job, stale_after_s)
        if reason is None:
            continue
        try:
            store.update_job(job.id, status=FAILED, message=reason)
            failed += 1
        except ConflictError:  # finished meanwhile
            pass
    return failed


def fail_if_stale(store: Any, job: Any, stale_after_s: float = STALE_AFTER_S) -> Any:
    """``job``, failed with the reason first if nobody runs it any more: its owner is
    gone (same host) or it is ``running`` without a heartbeat for ``stale_after_s``
    seconds. Queued (``accepted``) jobs of a live owner are left alone. Returns the
    current record."""
    if job.status not in (ACCEPTED, RUNNING):
        return job
    reason = owner_gone_reason(job, in_process=False)
    if reason is None and job.status == RUNNING:
        reason = _stale_reason(job, stale_after_s)
    if reason is None:
        return job
    try:
        return store.update_job(job.id, status=FAILED, message=reason)
    except ConflictError:  # finished meanwhile
        return store.get_job(job.id)
