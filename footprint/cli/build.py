"""``footprint build FIELD``: compute and store a new footprint version, print its id
(when the inputs did not change: the latest version, marked ``unchanged``)."""

from __future__ import annotations

from pathlib import Path

import typer


def build(field: str = typer.Argument(..., help="Field id, e.g. gh-birim."),
          seed: int = typer.Option(None, help="Base seed (default FOOTPRINT_SEED); the field's "
                                              "own seed is derived from it."),
          draws: int = typer.Option(None, help="Monte Carlo draws (default FOOTPRINT_DRAWS)."),
          params: Path = typer.Option(None, "--params", exists=True, dir_okay=False,
                                      help="Parameter sheet (default "
                                           "datasets/parameters/FIELD.yaml).")) -> None:
    """Build a footprint version of FIELD from its stored layers and print the version id."""
    from footprint.catalogue import get_field
    from footprint.native_memory import bound_native_memory
    from footprint.services.footprints import build_footprint
    from footprint.services.store import open_store
    from footprint.settings import get_settings
    from footprint.storage.audit import Audit

    get_field(field)  # an unknown id fails here, before any work
    settings = get_settings()
    bound_native_memory(settings.malloc_arena_max, settings.mmap_threshold_kb,
                        settings.gdal_cache_mb)
    store = open_store(settings)
    # unfinished builds are cleared by the service at start-up, not here: a running
    # server may own one

    def progress(pct: float, message: str = "") -> None:
        typer.echo(f"[{pct:5.1f}%] {message}", err=True)

    built = build_footprint(store, settings, field, seed=seed, draws=draws,
                            sheet_path=params, progress=progress, audit=Audit.cli())
    record = built.record
    if not built.created:
        typer.echo(f"footprint: {built.message}", err=True)
    typer.echo(f"{record.field_id} v{record.version} (id {record.id})"
               + ("" if built.created else " unchanged"))
