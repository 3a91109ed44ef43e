"""Valley-bottom classification by windows with halos, so each worker holds one window.

Routing (conditioning, D8, upstream area, streams, HAND, source connection) is not local:
it runs whole (:func:`footprint.terrain.route_flow`) or by tiles joined on their perimeters
(:func:`footprint.terrain.route_flow_by_tiles`); MRVBF and the classification are
the costly, memory-hungry part (about five float32 grids a cell) and are local: a cell's
MRVBF depends only on cells within :func:`mrvbf_halo_cells` of it, provided every window
runs the whole grid's number of steps and its coarse blocks fall on the whole grid's
blocks. So the grid is cut into square core windows whose corners lie on multiples of
:func:`window_alignment` (the largest block, ``3^(steps - 2)`` cells), each grown by a
halo that is a multiple of it; each window is classified alone and its core is stitched
back; the sieve of small patches, which is not local, then runs once on the stitched
class grid (uint8). Results equal the in-memory path cell for cell
(``tests/models/test_terrain_windows.py``; near nodata the nearest-value fill of coarse
blocks may pick another neighbour, see there).

``map_windows(function, tasks)`` runs the windows: the built-in ``map`` (in process,
one window at a time, the default) or a dask.distributed client's map
(:func:`footprint.pipeline.windows.dask_map`). The models do not know which.

Memory per window: about 40 bytes per outer-window cell (MRVBF's grids, HAND, the mask
and the classes); the caller holds the stitched classes (uint8) and the stitched MRVBF
(float32), unless it gives an on-disk ``mrvbf_out``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from footprint.errors import InvalidParameterError
from footprint.terrain.classes import (
    ValleyClassParameters,
    finish_classes,
    paint_valley_classes,
)
from footprint.terrain.mrvbf import MrvbfParameters, mrvbf, mrvbf_levels

#: map_windows(function, tasks) -> results in task order (``map`` or a dask client's).
WindowMap = Callable[[Callable[..., Any], Iterable[Any]], Iterable[Any]]

__all__ = ["Window", "WindowMap", "WindowTask", "classify_by_windows", "classify_window",
           "mrvbf_halo_cells", "plan_windows", "window_alignment"]


@dataclass(frozen=True)
class Window:
    """A core window of the grid and the outer window (core plus halo) it is computed on.

    Attributes
    ----------
    core, outer : (row slice, column slice) in the whole grid.
    """

    core: tuple[slice, slice]
    outer: tuple[slice, slice]

    @property
    def core_in_outer(self) -> tuple[slice, slice]:
        """The core as slices of the outer window."""
        (cr, cc), (orow, ocol) = self.core, self.outer
        return (slice(cr.start - orow.start, cr.stop - orow.start),
                slice(cc.start - ocol.start, cc.stop - ocol.start))

    @property
    def outer_cells(self) -> int:
        """Number of cells of the outer window."""
        return (self.outer[0].stop - self.outer[0].start) * (self.outer[1].stop
                                                              - self.outer[1].start)


#: Radius of MRVBF's smoothing kernel (cells of its step): ``_nan_gaussian`` truncates at 5.
_GAUSSIAN_RADIUS_CELLS = 5


def window_alignment(levels: int) -> int:
    """Cells of the coarsest MRVBF block (``3^(levels - 2)``): window corners fall on
    multiples of it, so each window's blocks are the whole grid's."""
    return 3 ** max(levels - 2, 0)


def mrvbf_halo_cells(params: MrvbfParameters, levels: int) -> int:
    """Halo (cells) beyond which a cell's MRVBF no longer depends on the DEM.

    Step 1-2: the percentile radius and the slope stencil. Step L >= 3 at block size
    ``f = 3^(L-3)``: the Gaussian's radius (5 blocks of ``f``, cumulated over steps),
    the slope stencil (``f``), the percentile radius on the next blocks (``3f`` each)
    and bilinear resampling (one block, ``3f``); plus one coarsest block for partial
    blocks at the window's edge. Rounded up to a multiple of :func:`window_alignment`.
    """
    halo = max(params.radius_step1_cells, params.radius_cells) + 1
    gaussian = 0
    for level in range(3, levels + 1):
        block = 3 ** (level - 3)
        gaussian += _GAUSSIAN_RADIUS_CELLS * block
        reach = gaussian + block + 3 * block * (params.radius_cells + 1) + 3 * block
        halo = max(halo, reach)
    align = window_alignment(levels)
    return int(math.ceil((halo + align) / align) * align)


def plan_windows(shape: tuple[int, int], core_cells: int, halo_cells: int,
                 align: int = 1) -> list[Window]:
    """Square core windows of about ``core_cells`` a side (rounded up to a multiple of
    ``align``) covering ``shape``, each grown by ``halo_cells`` (clipped to the grid)."""
    if core_cells < 1 or halo_cells < 0 or align < 1:
        raise InvalidParameterError("windows need core_cells >= 1, halo_cells >= 0, align >= 1")
    side = int(math.ceil(core_cells / align) * align)
    rows, cols = shape
    windows = []
    for r0 in range(0, rows, side):
        for c0 in range(0, cols, side):
            core = (slice(r0, min(r0 + side, rows)), slice(c0, min(c0 + side, cols)))
            outer = (slice(max(r0 - halo_cells, 0), min(r0 + side + halo_cells, rows)),
                     slice(max(c0 - halo_cells, 0), min(c0 + side + halo_cells, cols)))
            windows.append(Window(core, outer))
    return windows


@dataclass(frozen=True)
class WindowTask:
    """Everything one window needs: the DEM of the outer window, HAND of the core."""

    elevation_m: np.ndarray
    hand_m: np.ndarray
    core: tuple[slice, slice]
    res_m: float
    levels: int
    mrvbf_params: MrvbfParameters
    class_params: ValleyClassParameters


def classify_window(task: WindowTask) -> tuple[np.ndarray, np.ndarray]:
    """(MRVBF, painted classes) of a window's core: :func:`footprint.terrain.mrvbf` with
    the whole grid's number of steps, then the cell-by-cell part of the classification
    (:func:`footprint.terrain.classes.paint_valley_classes`)."""
    core = task.core
    index = mrvbf(task.elevation_m, task.res_m, task.mrvbf_params, n_levels=task.levels)[core]
    return index, paint_valley_classes(index, task.hand_m, task.class_params)


def _tasks(windows: list[Window], elevation_m, hand_m, res_m, levels, mrvbf_params,
           class_params) -> Iterator[WindowTask]:
    for window in windows:
        yield WindowTask(elevation_m[window.outer], hand_m[window.core], window.core_in_outer,
                         res_m, levels, mrvbf_params, class_params)


def classify_by_windows(elevation_m: np.ndarray, hand_m: np.ndarray, mask: np.ndarray | None,
                        res_m: float, *, window_cells: int,
                        mrvbf_params: MrvbfParameters | None = None,
                        class_params: ValleyClassParameters | None = None,
                        map_windows: WindowMap = map,
                        mrvbf_out: Any = None) -> tuple[Any, np.ndarray]:
    """MRVBF and valley-bottom classes of the whole grid, computed window by window.

    Parameters
    ----------
    elevation_m : float32 DEM (m, NaN = nodata), void-filled.
    hand_m : HAND (m, NaN = unknown), from the global routing.
    mask : bool grid; classes are 0 outside it (None: no mask).
    res_m : cell size (m).
    window_cells : side (cells) of a core window, before rounding to the alignment.
    mrvbf_params, class_params : as for :func:`footprint.terrain.mrvbf` and
        :func:`footprint.terrain.classify_valley_bottoms`.
    map_windows : ``map`` (in process, default) or a distributed map.
    mrvbf_out : where the MRVBF cores are stitched (``out[rows, cols] = core``): default
        a new float32 array; an on-disk grid (:class:`footprint.pipeline.windows.DiskGrid`)
        keeps the caller's memory to the uint8 classes.

    Returns
    -------
    (MRVBF: ``mrvbf_out`` or a float32 array; uint8 classes), the grid's shape.
    """
    mp = mrvbf_params or MrvbfParameters()
    cp = class_params or ValleyClassParameters()
    levels = mrvbf_levels(elevation_m.shape, mp)
    windows = plan_windows(elevation_m.shape, window_cells, mrvbf_halo_cells(mp, levels),
                           window_alignment(levels))
    index = np.empty(elevation_m.shape, dtype=np.float32) if mrvbf_out is None else mrvbf_out
    classes = np.zeros(elevation_m.shape, dtype=np.uint8)
    results = map_windows(classify_window,
                          _tasks(windows, elevation_m, hand_m, res_m, levels, mp, cp))
    for window, (index_core, classes_core) in zip(windows, results, strict=True):
        index[window.core] = index_core
        classes[window.core] = classes_core
        del index_core, classes_core  # one window's results at a time
    return index, finish_classes(classes, None, cp, mask)
