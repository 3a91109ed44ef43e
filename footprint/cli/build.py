"""``footprint build FIELD``: compute and store a new footprint version, print its id
(when the inputs did not change: the latest version, marked ``unchanged``)."""

from __future__ import annotations

from pathlib import Path

import typer


def build(field: str = typer.Argument(..., help="Field id, e.g. gh-birim."),
          seed: int = typer.Option(None, help="Base seed (default FOOTPRINT_SEED); the field's own seed is derived from it."),
          draws: int = typer.Option(None, help="Monte Carlo draws (default FOOTPRINT_DRAWS)."),
          params: Path = typer.Option(None, "--params", exists=True, dir_okay=False,
                                      help="Parameter sheet (default "
                                           "datasets/parameters/FIELD.yaml).")) -> None:
    """Build a footprint version of FIELD from its stored layers and print the version id."""
    from datasets.catalogue import get_field, load_catalogue
    from footprint.pipeline.build import build_footprint_version
    from footprint.settings import get_settings
    from footprint.storage.store import Store

    get_field(field)  # an unknown id fails here, before any work
    settings = get_settings()
    settings.ensure_dirs()
    store = Store.from_settings(settings)
    store.upgrade()
    store.sync_fields(load_catalogue().values())
    # unfinished builds are cleared by the service at start-up, not here: a running
    # server may own one

    def progress(pct: float, message: str = "") -> None:
        typer.echo(f"[{pct:5.1f}%] {message}", err=True)

    outcome = build_footprint_version(field, store=store, settings=settings, seed=seed,
                                      draws=draws, sheet_path=params, progress=progress)
    record = outcome.record
    if not outcome.created:
        typer.echo(f"footprint: {outcome.message}", err=True)
    typer.echo(f"{record.field_id} v{record.version} (id {record.id})"
               + ("" if outcome.created else " unchanged"))
