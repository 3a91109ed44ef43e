"""Where the windows of a tiled delineation run, and where their stitched results go.

:func:`footprint.terrain.classify_by_windows` takes any ``map_windows(function, tasks)``:

- the built-in ``map``: one window after the other in this process (memory of one window);
- :func:`executor_map`: windows submitted to an executor of :mod:`footprint.executors`
  (a local thread pool, or dask.distributed), results yielded in task order as they come,
  at most ``max_in_flight`` windows held by the workers and the caller at once;
- :func:`dask_map`: the same on a ``distributed.Client``;
- :func:`configured_map`: the one the settings name (``FOOTPRINT_EXECUTOR=local|dask``,
  ``FOOTPRINT_DASK_SCHEDULER``, ``FOOTPRINT_WORKERS``), used by ``footprint delineate``.

A dask scheduler must not live in a process that runs long compiled loops: the routing
kernels (numba, pyflwdir) hold the GIL for minutes on 100 M cells, a scheduler in that
process cannot answer the workers' heartbeats and, after ``worker-ttl`` (5 min), restarts
them; a ``LocalCluster`` is such a scheduler (that is why the 100 M-cell benchmark run
used to stop with its workers gone). Use an external scheduler (``dask scheduler``) or
``distributed.deploy.subprocess.SubprocessCluster`` (``benchmarks/terrain_scale.py``).

:class:`DiskGrid` takes stitched window cores straight to a raw file, so the caller does
not hold a whole-grid output (e.g. MRVBF, 4 bytes a cell) in memory.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from footprint.errors import (
    ConfigurationError,
    ConflictError,
    InvalidParameterError,
    StorageError,
)
from footprint.executors import get_executor
from footprint.settings import Settings
from footprint.terrain.tilegrid import GridFactory
from footprint.terrain.tiles import WindowMap

__all__ = ["DiskGrid", "configured_map", "dask_map", "executor_map", "mapped_grids"]


def executor_map(submit: Callable[..., Any], max_in_flight: int) -> WindowMap:
    """A ``map_windows`` that runs each window through ``submit(function, task)``.

    Parameters
    ----------
    submit : returns a future with ``.result()`` (``Executor.submit``, a thread pool's,
        ``distributed.Client.submit``).
    max_in_flight : windows submitted ahead of the one being gathered (>= 1).

    When a window raises (or the caller stops iterating), the windows submitted and not
    yet started are cancelled; those already running finish on their workers.
    """
    if max_in_flight < 1:
        raise InvalidParameterError(f"max_in_flight must be >= 1, got {max_in_flight}")

    def run(function: Callable[..., Any], tasks: Iterable[Any]) -> Iterator[Any]:
        pending: deque[Any] = deque()
        try:
            for task in tasks:
                pending.append(submit(function, task))
                if len(pending) >= max_in_flight:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # a window raised or the caller stopped: the queued windows never start
            for future in pending:
                future.cancel()

    return run


def dask_map(client: Any, *, max_in_flight: int | None = None) -> WindowMap:
    """A ``map_windows`` that runs each window on a worker of ``client``.

    Parameters
    ----------
    client : ``distributed.Client``.
    max_in_flight : windows submitted ahead of the one being gathered; default twice the
        number of worker threads.
    """
    limit = max_in_flight or 2 * max(sum(client.nthreads().values()), 1)

    def submit(function: Callable[..., Any], task: Any) -> Any:
        return client.submit(function, task, pure=False)  # two windows are two tasks

    return executor_map(submit, limit)


@contextlib.contextmanager
def configured_map(settings: Settings) -> Iterator[WindowMap]:
    """The ``map_windows`` of the configured executor, for the time of the ``with``.

    ``local``: a pool of ``settings.workers`` threads in this process (MRVBF's kernels
    release the GIL), ``settings.workers`` windows at once. ``dask``: the workers of the
    scheduler at ``settings.dask_scheduler``, twice their threads in flight.

    Raises
    ------
    ConfigurationError
        ``dask`` without a scheduler address, or a scheduler with no worker.
    """
    executor = get_executor(settings)
    try:
        client = getattr(executor, "client", None)
        if client is None:
            yield executor_map(executor.submit, settings.workers)
            return
        if not client.nthreads():
            raise ConfigurationError(f"the dask scheduler {settings.dask_scheduler} has no worker",
                                     hint="start workers: dask worker <scheduler address>")
        yield dask_map(client)
    finally:
        executor.shutdown()


class DiskGrid:
    """A whole-grid output on disk, written window by window (raw, row-major, no header).

    ``grid[rows, cols] = values`` writes the rows of a window at their offsets
    (``os.pwrite``): nothing is mapped or cached in this process, so its memory stays
    that of one window. :meth:`read` maps the file read-only as an array.

    Parameters
    ----------
    path : the file, created at the grid's size (cells read 0 until written).
    shape : (rows, cols).
    dtype : numpy dtype of the cells.
    overwrite : replace an existing file at ``path``; otherwise it is refused.

    Raises
    ------
    ConflictError
        ``path`` exists and ``overwrite`` is false.
    """

    def __init__(self, path: Path, shape: tuple[int, int], dtype: Any = np.float32, *,
                 overwrite: bool = False) -> None:
        self.path, self.dtype = Path(path), np.dtype(dtype)
        self.shape = (int(shape[0]), int(shape[1]))
        try:
            with open(self.path, "wb" if overwrite else "xb") as handle:
                handle.truncate(self.shape[0] * self.shape[1] * self.dtype.itemsize)
        except FileExistsError:
            raise ConflictError(f"{self.path} exists: a DiskGrid does not overwrite a file",
                                hint="remove it or pass overwrite=True") from None

    def __setitem__(self, key: tuple[slice, slice], values: np.ndarray) -> None:
        rows, cols = (range(*k.indices(n)) for k, n in zip(key, self.shape, strict=True))
        if rows.step != 1 or cols.step != 1:
            raise InvalidParameterError("a DiskGrid is written by contiguous windows")
        block = np.broadcast_to(np.asarray(values, dtype=self.dtype), (len(rows), len(cols)))
        size, row_bytes = self.dtype.itemsize, self.shape[1] * self.dtype.itemsize
        fd = os.open(self.path, os.O_WRONLY)
        try:
            for i, row in enumerate(rows):
                self._write_all(fd, np.ascontiguousarray(block[i]).tobytes(),
                                row * row_bytes + cols.start * size)
        finally:
            os.close(fd)

    def _write_all(self, fd: int, data: bytes, offset: int) -> None:
        """``data`` at ``offset``: ``pwrite`` may write fewer bytes than asked, so repeat."""
        view, done = memoryview(data), 0
        while done < len(view):
            written = os.pwrite(fd, view[done:], offset + done)
            if written <= 0:
                raise StorageError(f"{self.path}: wrote {done} of {len(view)} bytes at "
                                   f"offset {offset}, then nothing")
            done += written

    def read(self) -> np.ndarray:
        """The grid, memory-mapped read-only (an empty read-only array if it has no cell)."""
        if not self.shape[0] * self.shape[1]:
            empty = np.zeros(self.shape, dtype=self.dtype)  # mmap cannot map an empty file
            empty.flags.writeable = False
            return empty
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=self.shape)


def mapped_grids(directory: Path) -> GridFactory:
    """A :data:`footprint.terrain.tilegrid.GridFactory` of grids in files under
    ``directory`` mapped into memory (``numpy.memmap``, read-write).

    The tiled routing writes and reads its grids tile by tile; the pages of a mapped file
    are the operating system's to write back and drop, so the process holds no
    anonymous memory for them and a grid larger than memory can be routed, provided
    ``directory`` is on a disk (on a tmpfs the pages are memory). Each grid is a new file
    ``<name>.<n>.<dtype>`` (``n`` counts the grids made; an existing file is refused,
    never reused) whose space is reserved at once (``posix_fallocate``: a full disk is an
    error here, not a bus error when a page is written later) and which is removed as soon
    as it is mapped: its space is freed when the last array on it goes, and a process that
    dies leaves nothing behind.

    Raises
    ------
    ConflictError
        The file of a new grid exists in ``directory``.
    StorageError
        ``directory`` has no room for the grid.
    """
    root, made = Path(directory), itertools.count(1)

    def new_grid(name: str, shape: tuple[int, int], dtype: Any) -> np.ndarray:
        kind = np.dtype(dtype)
        path = root / f"{name}.{next(made)}.{kind.name}"
        if not shape[0] * shape[1]:
            return np.zeros(shape, dtype=kind)  # mmap cannot map an empty file
        size = int(shape[0]) * int(shape[1]) * kind.itemsize
        try:
            with open(path, "xb") as handle:
                os.posix_fallocate(handle.fileno(), 0, size)
            grid = np.memmap(path, dtype=kind, mode="r+", shape=(int(shape[0]), int(shape[1])))
        except FileExistsError:
            raise ConflictError(f"{path} exists: each routing grid is a new file",
                                hint="route into an empty directory") from None
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise StorageError(f"no room for a {size / 2**20:,.0f} MB routing grid in "
                               f"{root}: {exc.strerror}",
                               hint="set FOOTPRINT_SCRATCH_DIR to a disk with room") from None
        path.unlink()  # the mapping keeps the data; the space goes with the last array
        return grid

    return new_grid
