"""``footprint delineate FIELD --out DIR [--dem FILE ...] [--mode terrain|rivers|polygons]``
or ``footprint delineate --aoi FILE.geojson --out DIR`` for any area of interest;
``--window-cells N [--executor local|dask]`` computes MRVBF and the classes by windows
with halos on the configured executor (:func:`footprint.pipeline.windows.configured_map`),
cell for cell the same as the whole grid. The windows are the terrain mode's: these
options ask for ``--mode terrain`` (refused with another ``--mode``; without a DEM the
terrain mode is refused as it would be when asked for)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

from footprint.errors import InvalidParameterError


def delineate(
    field: str | None = typer.Argument(None, help="Field id, e.g. gh-birim (or --aoi)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (created)."),
    dem: list[Path] | None = typer.Option(
        None, "--dem", help="DEM file to use instead of the field's tiles; repeat for several."),
    mode: str | None = typer.Option(
        None, "--mode", help="terrain, rivers or polygons (default: the best the data allow)."),
    deposits: Path | None = typer.Option(
        None, "--deposits", help="Expert deposit polygons (vector file) for polygon mode."),
    mined: Path | None = typer.Option(
        None, "--mined", help="Mined pits/tailings polygons (vector file) to subtract."),
    aoi: Path | None = typer.Option(
        None, "--aoi", help="GeoJSON polygon (lon/lat) to delineate instead of a catalogue field."),
    stream_threshold_km2: float = typer.Option(
        5.0, "--stream-threshold-km2", help="Contributing area that starts a stream (km²)."),
    window_cells: int = typer.Option(
        0, "--window-cells", help="Route flow by tiles and compute MRVBF and the classes by "
        "windows (plus halos) of this many cells a side, on the executor; 0 = the whole grid "
        "at once, else 16-100000. Tiles drain flats by least cost, the same for every tile "
        "size (the whole grid drains them in flood order). Terrain mode only (implies "
        "--mode terrain)."),
    executor: str | None = typer.Option(
        None, "--executor", help="Where the windows run: local (a pool of FOOTPRINT_WORKERS "
        "threads) or dask (FOOTPRINT_DASK_SCHEDULER), any case; default FOOTPRINT_EXECUTOR. "
        "Needs --window-cells."),
) -> None:
    """Delineate a field's deposits: deposits.gpkg, streams/mrvbf/hand COGs, summary.json."""
    from footprint.native_memory import bound_native_memory
    from footprint.pipeline.delineate import (
        DelineationParameters,
        TerrainParameters,
        delineate_field,
        field_from_aoi,
    )
    from footprint.settings import get_settings

    mode, executor = _window_options(window_cells, executor, mode)
    settings = get_settings()  # the grids' memory bounded as the service bounds it
    bound_native_memory(settings.malloc_arena_max, settings.mmap_threshold_kb,
                        settings.gdal_cache_mb)

    if (field is None) == (aoi is None):
        raise InvalidParameterError("give a field id or --aoi FILE.geojson (one of the two)")
    target: Any = field
    if aoi is not None:
        target = field_from_aoi(aoi)
        field = target.id

    params = DelineationParameters(terrain=TerrainParameters(
        stream_threshold_km2=stream_threshold_km2, window_cells=window_cells))
    with _window_map(window_cells, executor) as map_windows, _progress(field) as progress:
        result = delineate_field(target, out, mode=mode, dem_paths=list(dem) if dem else None,
                                 deposit_polygons=deposits, mined_polygons=mined,
                                 progress=progress, parameters=params,
                                 map_windows=map_windows)
    summary = result.summary
    typer.echo(f"{field}: mode {result.mode}, {len(result.deposits)} polygons, "
               f"stream length {result.stream_length_km:.1f} km, "
               f"{summary['timings_s']['total']:.1f} s")
    for name, row in summary["areas_by_class"].items():
        typer.echo(f"  {name:<16} {row['area_m2'] / 1e6:10.2f} km²"
                   f"   mined {row['mined_area_m2'] / 1e6:8.2f} km²"
                   f"   remaining {row['remaining_area_m2'] / 1e6:10.2f} km²")
    for path in result.files.values():
        typer.echo(f"  wrote {path}")


@contextlib.contextmanager
def _progress(field: str | None) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr and its ``progress(step, done, total)``; on an error the bar
    is cleared, so the error is the one line left."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(f"{field}: starting", total=1)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=f"{field}: {step}", completed=done, total=total)

        try:
            yield progress
        except BaseException:
            bar.live.transient = True
            raise


def _window_options(window_cells: int, executor: str | None,
                    mode: str | None) -> tuple[str | None, str | None]:
    """(mode, executor) once the window options are checked: windows are the terrain
    mode's, so they ask for it; the executor's name in lower case."""
    from footprint.pipeline.delineate_terrain import MIN_WINDOW_CELLS

    if not (window_cells == 0 or MIN_WINDOW_CELLS <= window_cells <= 100_000):
        raise InvalidParameterError(f"--window-cells must be 0 (the whole grid) or "
                                    f"{MIN_WINDOW_CELLS}-100000, got {window_cells}")
    if executor is not None:
        if executor.lower() not in ("local", "dask"):
            raise InvalidParameterError(f"--executor must be local or dask, got {executor!r}")
        executor = executor.lower()
        if not window_cells:
            raise InvalidParameterError("--executor runs windows: give --window-cells N too")
    if not window_cells:
        return mode, executor
    if mode is not None and mode != "terrain":
        raise InvalidParameterError(f"--window-cells and --executor run the terrain mode's "
                                    f"windows: not with --mode {mode}")
    return "terrain", executor


def _window_map(window_cells: int, executor: str | None):
    """The windows' map: the configured executor's (``--executor`` overrides
    ``FOOTPRINT_EXECUTOR``), or ``map`` when the grid is computed whole."""
    if not window_cells:
        return contextlib.nullcontext(map)
    from footprint.pipeline.windows import configured_map
    from footprint.settings import get_settings

    settings = get_settings()
    if executor is not None:
        settings = settings.model_copy(update={"executor": executor})
    return configured_map(settings)
