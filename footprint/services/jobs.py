"""Run a job: create its row and start its function on an executor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from footprint import executors
from footprint.settings import Settings
from footprint.storage.audit import Audit


def submit_job(executor: executors.Executor, store: Any, settings: Settings, process: Any,
               inputs: dict[str, Any], audit: Audit, *,
               wait: bool = False,
               admit: Callable[[list[Any]], None] | None = None) -> tuple[Any, Any]:
    """Create the job row of ``process`` (status ``accepted``) and start it.

    Parameters
    ----------
    executor : Executor
        Where it runs (:func:`footprint.executors.get_executor`).
    store : Store
        Holds the job row; the job's function reports progress and results through it.
    settings : Settings
        Handed to the job's function (a remote worker opens its own store from them).
    process
        Anything with an ``id`` and an ``execute(inputs, *, store, settings, progress,
        job_id)`` function (an OGC process of :mod:`api.processes`).
    inputs : dict
        Validated inputs, stored on the job row.
    audit : Audit
        Who asks: the job's owner (``audit.actor``), and the ``execute`` entry written
        with the job row.
    wait : bool
        The future then raises the job's own error (synchronous execution).
    admit : callable, optional
        ``admit(unfinished_jobs)``: the caller's quota, checked by the store atomically
        with the job's creation (it raises to refuse; see ``Store.create_job``).

    Returns
    -------
    (JobRecord, future)
    """
    # owned by this process when it runs here (footprint.ownership), so other servers on
    # the same database can tell a live job from a dead one
    job = store.create_job(process.id, inputs, owner=audit.actor,
                           worker=executors.worker_name() if executor.in_process else None,
                           audit=audit, admit=admit)
    future = executors.start_job(executor, process.execute, str(job.id), inputs, settings,
                                 store, reraise=wait)
    return job, future
