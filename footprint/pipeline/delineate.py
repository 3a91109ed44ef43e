"""Deposit delineation of one catalogue field: data in, deposits and rasters out.

The I/O around the pure models of :mod:`footprint.terrain` and :mod:`footprint.deposits`:
it finds the DEM tiles, rivers and bundled polygons of a field, chooses the best mode the
data allow (DOMAIN.md 3.1: terrain > rivers > polygons, in the order the catalogue lists
for the field), runs it, subtracts mined ground, and (with ``out_dir``) writes

``deposits.gpkg``  layer ``deposits``, field's UTM CRS, :data:`footprint.deposits.DEPOSIT_COLUMNS`
``streams.tif``    uint8 COG, 1 stream / 0 not, 255 = nodata outside the AOI (terrain mode)
``mrvbf.tif``      float32 COG, MRVBF index, NaN outside the AOI (terrain mode)
``hand.tif``       float32 COG, height above nearest drainage (m), NaN outside (terrain mode)
``summary.json``   areas per class, parameters, input checksums, timings, code version

Hydrology is computed on the AOI grown by ``margin_m`` (default 5 km), so streams that
enter the AOI carry the area upstream of its edge; everything reported is then restricted
to the AOI: terrain-mode polygons are made of the 90 m cells whose centre lies in it
(cell-exact areas, no sliver clipping), river belts and mapped polygons are clipped to it.

Terrain mode keeps only source-connected ground (:class:`footprint.terrain.PlacerParameters`):
drainages near and downstream of the known sources of :func:`known_sources`, their
valley bottoms, and channel belts of hydraulic-geometry width; ``summary["placer_network"]``
gives the rule, the sources, the placer and total stream lengths and the channel widths.
DEM sources (bundled tiles, ``dem_paths``, ``dem_uploads``) stack in priority order
(:func:`footprint.io.dem.load_dem`); ``summary["dem_coverage"]`` gives each one's share of
the AOI and the share without data, which stays masked (only voids enclosed by data are
filled). ``placer_streams`` joins the rasters (in memory, not written).

Memory: the terrain mode peaks at about 45 MB per million DEM cells (tracemalloc, see
:mod:`footprint.terrain`), processed whole; with ``TerrainParameters.window_cells`` MRVBF
and the classes run by windows with halos (``map_windows``: in process or dask), while
routing stays global. The terrain COGs are written one at a time in a thread that starts
as soon as the grids are final, while the polygons are made.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyproj
from pydantic import BaseModel, ConfigDict, Field

from footprint import deposits as dep
from footprint.catalogue import FieldDefinition, get_field
from footprint.concepts import DELINEATION_MODES
from footprint.errors import DataMissingError, InvalidParameterError
from footprint.io.dem import DemSource
from footprint.io.raster import Grid
from footprint.pipeline.delineate_outputs import (
    Clock,
    DelineationResult,
    ProgressCallback,
    summarise,
    write_outputs,
    write_rasters,
    write_summary,
)
from footprint.pipeline.delineate_sources import (
    MAX_AOI_KM2,
    as_frame,
    bundled_polygons,
    checksum_frame,
    dem_paths_of,
    field_from_aoi,
    known_sources,
    line_length_km,
    river_lines,
    rivers_present,
    settings_or_default,
)
from footprint.pipeline.delineate_terrain import (
    TERRAIN_STEPS,
    PreparedDem,
    TerrainParameters,
    prepare_dem,
    run_terrain,
)
from footprint.terrain.tiles import WindowMap

__all__ = ["MAX_AOI_KM2", "MODES", "DelineationParameters", "DelineationResult", "PreparedDem",
           "ProgressCallback", "TerrainParameters", "choose_mode", "delineate_field",
           "field_from_aoi", "known_sources", "prepare_dem"]

log = logging.getLogger(__name__)

MODES = DELINEATION_MODES

_VECTOR_STEPS = ("load layers", "build deposits", "mined ground", "write outputs")


class DelineationParameters(BaseModel):
    """All parameters of a delineation run (echoed in ``summary.json``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    terrain: TerrainParameters = Field(default_factory=TerrainParameters)
    rivers: dep.RiverBufferParameters = Field(default_factory=dep.RiverBufferParameters)
    river_source: str = Field("wdbii", pattern="^(wdbii|naturalearth)$")


def choose_mode(field, *, has_dem: bool, has_rivers: bool, has_polygons: bool,
                requested: str | None = None, dem_uploaded: bool = False) -> str:
    """The delineation mode: ``requested`` if the data allow it, else the first the data
    allow in this order: ``terrain`` when a DEM was given explicitly (an uploaded DEM is
    why a field leaves river-buffer mode, DOMAIN.md 2), then the field's catalogue
    modes, then the remaining modes best first (terrain, rivers, polygons). Raises
    DataMissingError when none is possible."""
    available = {"terrain": has_dem, "rivers": has_rivers, "polygons": has_polygons}
    if requested is not None:
        if requested not in MODES:
            raise InvalidParameterError(f"unknown delineation mode {requested!r}",
                                        hint=f"one of {', '.join(MODES)}")
        if not available[requested]:
            what = {"terrain": "DEM tiles (pass --dem FILE or run `footprint data fetch`)",
                    "rivers": "a river layer in the data directory",
                    "polygons": "deposit polygons (upload a deposits layer)"}[requested]
            raise DataMissingError(f"{field.id}: mode {requested!r} needs {what}")
        return requested
    preference = (["terrain"] if dem_uploaded else []) + list(field.delineation_modes) + list(MODES)
    for mode in preference:
        if available.get(mode):
            return mode
    raise DataMissingError(f"{field.id}: no delineation mode is possible with the data present",
                           hint="run `footprint data check`")


# --------------------------------------------------------------------------- entry point


def delineate_field(field_id, out_dir: Path | None = None, *, mode: str | None = None,
                    dem_paths: list[Path] | None = None,
                    dem_uploads: list[tuple[str, Path]] | None = None, deposit_polygons=None,
                    mined_polygons=None, bulk_samples=None, settings=None,
                    progress: ProgressCallback | None = None,
                    parameters: DelineationParameters | None = None,
                    map_windows: WindowMap = map) -> DelineationResult:
    """Delineate the deposits of a catalogue field.

    Parameters
    ----------
    field_id : catalogue id (``gh-birim`` ...), or a field definition such as
        :func:`field_from_aoi` makes for any area of interest.
    out_dir : where to write the outputs (see module docstring); None writes nothing.
    mode : ``terrain``, ``rivers`` or ``polygons``; default the best the data allow, in
        the field's catalogue order.
    dem_paths : DEM files to use instead of the field's tiles in the data directory.
    dem_uploads : uploaded DEMs as ``(label, path)``, oldest first, stacked over the
        field's tiles (or ``dem_paths``): each wins where it has data, the tiles fill the
        rest, and ``summary["dem_coverage"]`` gives each source's share of the AOI.
    deposit_polygons : expert deposit polygons (GeoDataFrame or vector file) for the
        polygon mode; default the catalogue's bundled polygon where there is one.
    mined_polygons : mined pits/tailings (GeoDataFrame or vector file), subtracted; in
        terrain mode also known sources.
    bulk_samples : bulk samples (GeoDataFrame or vector file, ``carats``); those with
        carats > 0 are known sources in terrain mode.
    settings : footprint settings (data_dir, cache_dir); default ``get_settings()``.
    progress : ``progress(step, done, total)`` called at each step.
    parameters : DelineationParameters; default values documented there.
    map_windows : runs the windows of ``parameters.terrain.window_cells``: ``map`` (in
        process) or :func:`footprint.pipeline.windows.dask_map` (dask.distributed).

    Raises
    ------
    UnknownFieldError, DataMissingError, InvalidLayerError, InvalidParameterError
    """
    field = field_id if isinstance(field_id, FieldDefinition) else get_field(field_id)
    settings = settings_or_default(settings)
    params = parameters or DelineationParameters()
    inputs: list[dict] = []  # role, path and checksum of every input, for the summary
    polygons = as_frame(deposit_polygons, "deposit_polygons", inputs)
    bundled = polygons is None and field.bundled_deposits is not None
    if bundled:
        polygons = bundled_polygons(field)
    mined, samples = (as_frame(mined_polygons, "mined_polygons", inputs),
                      as_frame(bulk_samples, "bulk_samples", inputs))
    sources = _dem_sources(field, dem_paths, dem_uploads, settings, params.terrain.margin_m)
    has_rivers = rivers_present(field, settings, params.river_source)
    chosen = choose_mode(field, has_dem=bool(sources), has_rivers=has_rivers,
                         has_polygons=polygons is not None, requested=mode,
                         dem_uploaded=bool(dem_paths) or bool(dem_uploads))
    clock = Clock(TERRAIN_STEPS if chosen == "terrain" else _VECTOR_STEPS, progress)
    rasters: dict[str, Grid] = {}
    extra: dict[str, Any] = {}
    cogs: list[Future[dict[str, Path]]] = []  # terrain COGs, written while polygonising
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cogs") as writer:
        if chosen == "terrain":
            found = known_sources(field, settings, deposit_polygons=None if bundled else polygons,
                                  mined_polygons=mined, bulk_samples=samples,
                                  margin_m=params.terrain.margin_m)
            deposits, length_km, rasters, extra = run_terrain(
                field, sources, params.terrain, clock, inputs, found, map_windows=map_windows,
                scratch_root=settings.scratch_dir or settings.state_dir / "scratch",
                on_rasters=None if out_dir is None else
                lambda grids: cogs.append(writer.submit(write_rasters, Path(out_dir), grids)))
        else:
            deposits, length_km = _vector_mode(field, chosen, settings, has_rivers, polygons,
                                               bundled, params, inputs, clock)
        clock.step("mined ground")
        deposits = dep.subtract_mined(deposits, mined)
        clock.step("write outputs")
        summary = summarise(field, chosen, deposits, length_km, params, inputs, extra, rasters)
        result = DelineationResult(field_id=field.id, mode=chosen, deposits=deposits,
                                   stream_length_km=length_km, summary=summary, rasters=rasters)
        if out_dir is not None:
            result.files = write_outputs(Path(out_dir), result, cogs[0] if cogs else None)
    summary["timings_s"] = clock.done()
    if out_dir is not None:
        write_summary(result.files["summary"], summary)
    return result


def _dem_sources(field, dem_paths, dem_uploads, settings, margin_m: float) -> list[DemSource]:
    """The DEM sources in priority order: given files or the field's tiles, then uploads."""
    paths = dem_paths_of(field, dem_paths, settings, margin_m)
    sources = [DemSource(tuple(paths), "given" if dem_paths else "bundled")] if paths else []
    for label, path in dem_uploads or ():
        if not Path(path).is_file():
            raise DataMissingError(f"uploaded DEM {label} is missing from the state directory")
        sources.append(DemSource((Path(path),), str(label)))
    return sources


def _vector_mode(field, mode: str, settings, has_rivers: bool, polygons, bundled: bool,
                 params: DelineationParameters, inputs: list[dict], clock: Clock):
    """(deposits, mapped river length km) of the rivers or polygons mode."""
    rivers = None
    clock.step("load layers")
    if has_rivers:
        rivers = river_lines(field, settings, params.river_source, inputs)
    clock.step("build deposits")
    deposits = _vector_deposits(field, mode, rivers, polygons, bundled, params, inputs)
    return deposits, line_length_km(rivers, field.aoi_projected(), field.crs_epsg)


def _vector_deposits(field, mode: str, rivers, polygons, bundled: bool,
                     params: DelineationParameters, inputs: list[dict]) -> gpd.GeoDataFrame:
    """Deposits of the rivers mode (belts along mapped rivers) or the polygons mode."""
    aoi = field.aoi_projected()
    crs = pyproj.CRS.from_epsg(field.crs_epsg)
    if mode == "rivers":
        return dep.buffer_rivers(rivers, aoi, crs, params.rivers)
    if bundled:
        inputs.append({"role": "deposit_polygons", "path": "catalogue:bundled_deposits",
                       "sha256": checksum_frame(polygons)})
    return dep.deposits_from_polygons(polygons, aoi, crs)
