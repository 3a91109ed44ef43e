"""The long-running process's native memory: glibc malloc and GDAL's block cache.

A server's Python heap stays flat under load (tracemalloc, ``benchmarks/soak.py``), yet its
resident size grew by 60 % in ten minutes: the growth was memory glibc had been given
back by ``free()`` and kept. Three causes, each bounded here:

- **One malloc arena per thread.** The request thread pool (40 threads), the job workers
  and their heartbeats each get an arena (up to 8 per core), and the free space of one
  arena is never reused by another thread. :func:`tune_allocator` caps the arenas
  (``M_ARENA_MAX``, as the ``MALLOC_ARENA_MAX`` variable would, without a re-exec).
- **The sliding mmap threshold.** After a large block is freed, glibc raises the size
  below which blocks come from the arenas (up to 32 MB), so the numpy arrays of a build
  or a report end up fragmenting the arenas. A fixed ``M_MMAP_THRESHOLD`` keeps arrays of
  that size and more in their own mappings, returned to the system on ``free()``.
- **Free pages inside the arenas.** :func:`release_free_memory` (``malloc_trim(0)``)
  hands them back; the service calls it after each job and in its janitor rounds.
- **Python's own small-object allocator.** pymalloc carves objects of up to 512 bytes
  out of 1 MiB arenas and returns an arena only when every object in it is freed: one
  survivor in each (a cache entry, a pooled connection's row) pins the whole MiB. In a
  ten-minute soak the server's arenas only grew (none was ever returned) while its live
  Python heap stayed flat. ``footprint serve`` therefore runs with ``PYTHONMALLOC=malloc``
  (:func:`reexec_with_python_malloc`): objects come from glibc, whose free pages
  ``malloc_trim`` returns 4 kB at a time, around the survivors.

GDAL's raster block cache defaults to 5 % of the machine's memory; :func:`bound_gdal_cache`
sets ``GDAL_CACHEMAX`` unless the operator did.

Everything is a no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import sys
from typing import Any

log = logging.getLogger(__name__)

#: ``mallopt`` parameters (glibc ``malloc.h``)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


@functools.lru_cache(maxsize=1)
def _glibc() -> Any | None:
    """The C library when it is glibc (it has ``mallopt`` and ``malloc_trim``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None  # e.g. musl
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    return libc


def tune_allocator(arena_max: int, mmap_threshold_kb: int) -> bool:
    """Cap glibc's arenas at ``arena_max`` and fix its mmap threshold at
    ``mmap_threshold_kb`` (0 leaves either to glibc). Effective for the arenas created
    afterwards: call it before the process starts its threads. True when applied."""
    libc = _glibc()
    if libc is None:
        return False
    applied = True
    if arena_max > 0:
        applied &= libc.mallopt(M_ARENA_MAX, arena_max) == 1
    if mmap_threshold_kb > 0:
        applied &= libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold_kb * 1024) == 1
    if not applied:
        log.warning("mallopt refused arena_max=%s mmap_threshold_kb=%s", arena_max,
                    mmap_threshold_kb)
    return bool(applied)


def release_free_memory() -> bool:
    """Return the free pages of every malloc arena to the system (``malloc_trim(0)``).
    True when some memory was released."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0))


def reexec_with_python_malloc(allocator: str) -> None:
    """Run this program again, same arguments and process id, with
    ``PYTHONMALLOC=allocator`` (``malloc``: Python objects from glibc, whose free pages
    :func:`release_free_memory` can return). Returns at once, doing nothing, when the
    allocator is ``pymalloc`` (Python's default), when ``PYTHONMALLOC`` is already set
    (by the operator, or by this re-exec) and where the C library is not glibc.

    Call it before the process starts threads or opens anything it should keep: the
    process image is replaced, so only the environment and open descriptors carry over.
    """
    if allocator == "pymalloc" or "PYTHONMALLOC" in os.environ or _glibc() is None:
        return
    os.environ["PYTHONMALLOC"] = allocator
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def bound_gdal_cache(cache_mb: int) -> None:
    """Bound GDAL's raster block cache to ``cache_mb`` MB (``GDAL_CACHEMAX``) unless the
    environment already sets it. GDAL reads it at its first raster read, so call this
    before the process opens a raster."""
    os.environ.setdefault("GDAL_CACHEMAX", str(cache_mb))  # < 100000: megabytes


def bound_native_memory(arena_max: int, mmap_threshold_kb: int, gdal_cache_mb: int) -> None:
    """:func:`tune_allocator` and :func:`bound_gdal_cache` together, as a process that
    holds large grids (the service, ``footprint delineate``, ``footprint build``) starts:
    call it before any thread or raster read."""
    tune_allocator(arena_max, mmap_threshold_kb)
    bound_gdal_cache(gdal_cache_mb)
