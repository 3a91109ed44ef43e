"""Where the windows of a tiled delineation run: in process, or on dask.distributed.

:func:`footprint.terrain.classify_by_windows` takes any ``map_windows(function, tasks)``;
the built-in ``map`` runs them one after the other in this process (the default, memory
of one window at a time). :func:`dask_map` sends each window to a worker of a
``distributed.Client`` (``FOOTPRINT_EXECUTOR=dask`` deployments, or a ``LocalCluster``)
and yields the results in task order as they are gathered, so at most
``max_in_flight`` windows are held by the workers and the caller at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from footprint.terrain.tiles import WindowMap

__all__ = ["dask_map"]


def dask_map(client: Any, *, max_in_flight: int | None = None) -> WindowMap:
    """A ``map_windows`` that runs each window on a worker of ``client``.

    Parameters
    ----------
    client : ``distributed.Client``.
    max_in_flight : windows submitted ahead of the one being gathered; default twice the
        number of worker threads.
    """

    def run(function: Callable[..., Any], tasks: Iterable[Any]) -> Iterator[Any]:
        limit = max_in_flight or 2 * max(sum(client.nthreads().values()), 1)
        pending: list[Any] = []
        for task in tasks:
            pending.append(client.submit(function, task, pure=False))
            if len(pending) >= limit:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()

    return run
