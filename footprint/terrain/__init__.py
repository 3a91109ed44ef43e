"""Terrain models: where a DEM says the valley bottoms and channels are.

Pure functions on numpy arrays. Every elevation array is ``float32`` in metres with
``NaN`` as nodata, on a square-celled grid in a projected CRS (the field's UTM zone) of
cell size ``res_m``. Nothing here reads files; :mod:`footprint.pipeline.delineate` does.

The chain (DOMAIN.md section 3.1, terrain mode):

1. :func:`fill_voids` - inverse-distance interpolation of SRTM voids (GDAL FillNodata).
2. :func:`route_flow` (or :func:`route_flow_by_tiles`) - depression filling with
   Priority-Flood (Barnes et al. 2014),
   depressions explored by original height as GRASS ``r.watershed``'s search does,
   steepest-descent D8 (flats drain in flood order), upstream area in km² as exact cell
   counts along the flood order (:mod:`footprint.terrain.flood`).
3. :func:`extract_streams` - stream cells where the upstream area reaches a threshold
   given in km², so it means the same at any resolution; :func:`stream_length_km`.
4. :func:`mrvbf` - Multi-Resolution Valley Bottom Flatness, Gallant and Dowling (2003),
   *Water Resources Research* 39(12):1347, doi:10.1029/2002WR001426.
5. :func:`height_above_drainage` - HAND (Rennó et al. 2008; Nobre et al. 2011): the drop
   from a cell to the first stream cell along its D8 flow path.
6. :func:`classify_valley_bottoms` - valley-bottom cells split into ``active_channel``,
   ``floodplain``, ``low_terrace`` and ``high_terrace`` by HAND, with thresholds held in a
   validated :class:`ValleyClassParameters`.

Memory
------
:func:`route_flow` works on whole grids: the float32 DEM, the filled DEM, int32
downstream indices, flood order and upstream area (16 bytes a cell) and the flood's
queues, which grow only as far as they fill. :func:`route_flow_by_tiles`
(:mod:`footprint.terrain.tiled_routing`) runs each tile alone and joins the tiles on their
perimeters: the same fill, the same directions off flats, least-cost directions on flats
that no tiling changes, exact areas and HAND; its grids are the caller's (in memory, or
files the pipeline maps). MRVBF peaks at four float32 grids and keeps two; it and the classes
run whole or by windows with halos (:mod:`footprint.terrain.tiles`), in process or on
dask.distributed, so a worker holds one window. The compiled kernels release the GIL, so
MRVBF runs in a thread beside routing (:mod:`footprint.pipeline.delineate_terrain`).
``benchmarks/terrain.py`` measures the whole delineation of the four-tile mosaic (6.66 M
cells at 90 m, polygons and COGs included) against GRASS ``r.watershed -s`` (182.7 MB
resident): the tracemalloc peak (numpy and Python; numba's own arrays are not traced) and
a fresh process's resident peak above its warm baseline, with memory bounded as the
service bounds it and with glibc's defaults. On 2026-12-01 (code f1dd012): 292 MB
traced, 322 MB resident above the baseline (447 MB with glibc's defaults, which keep freed
grids in the heap), against ``r.watershed``'s 183 MB (main before: 394 MB traced).
``benchmarks/terrain_scale.py`` gives the windowed run's per-worker peaks.
"""

from footprint.terrain.classes import (
    DEPOSIT_CLASS_NAMES,
    DepositClass,
    ValleyClassParameters,
    classify_valley_bottoms,
)
from footprint.terrain.mrvbf import MrvbfParameters, elevation_percentile, mrvbf, slope_percent
from footprint.terrain.placers import PlacerParameters, drains_to, source_connected_streams
from footprint.terrain.routing import (
    FlowRouting,
    at_least,
    extract_streams,
    height_above_drainage,
    route_flow,
    stream_length_km,
)
from footprint.terrain.tiled_routing import TiledRouting, route_flow_by_tiles
from footprint.terrain.tiles import classify_by_windows, mrvbf_halo_cells, plan_windows
from footprint.terrain.voids import enclosed_voids, fill_voids

__all__ = [
    "DepositClass",
    "DEPOSIT_CLASS_NAMES",
    "at_least",
    "FlowRouting",
    "MrvbfParameters",
    "PlacerParameters",
    "TiledRouting",
    "ValleyClassParameters",
    "classify_by_windows",
    "classify_valley_bottoms",
    "drains_to",
    "elevation_percentile",
    "enclosed_voids",
    "extract_streams",
    "fill_voids",
    "height_above_drainage",
    "mrvbf",
    "mrvbf_halo_cells",
    "plan_windows",
    "route_flow",
    "route_flow_by_tiles",
    "slope_percent",
    "source_connected_streams",
    "stream_length_km",
]
