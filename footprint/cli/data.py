"""``footprint data check|fetch``: input data present, missing, and where to get it."""

from __future__ import annotations

import typer


def check(json_out: bool = typer.Option(False, "--json", help="Print JSON."),
          strict: bool = typer.Option(False, "--strict",
                                      help="Exit 4 when anything is missing.")) -> None:
    """Say per field which layers are present, which are missing, and where to get them."""
    import json

    from footprint.catalogue import load_catalogue
    from footprint.io.checks import data_inventory
    from footprint.settings import get_settings

    settings = get_settings()
    report = data_inventory(settings.data_dir, load_catalogue().values(), settings.cache_dir)
    if json_out:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        typer.echo(f"data directory: {settings.data_dir}")
        for entry in report:
            typer.echo(entry["field"])
            for layer in entry["layers"]:
                label = layer["layer"] + (f":{layer['name']}" if layer.get("name") else "")
                mark = (f"present  {layer.get('detail') or ''}" if layer["present"]
                        else f"MISSING  -> {layer['where']}")
                typer.echo(f"    {label:<36} {mark}")
    missing = sum(len(entry["missing"]) for entry in report)
    if strict and missing:
        raise typer.Exit(4)


def fetch(field: str = typer.Argument(..., help="Field id, e.g. ci-seguela."),
          source: str = typer.Option("copernicus90", help="Tile source."),
          dry_run: bool = typer.Option(False, "--dry-run",
                                       help="Only say what would be downloaded.")) -> None:
    """Download the DEM tiles a field lacks (needs internet; cached, checksummed, resumable)."""
    from footprint.catalogue import get_field
    from footprint.io.dem import find_tiles
    from footprint.settings import get_settings

    settings = get_settings()
    fdef = get_field(field)
    found = find_tiles(fdef.dem_tiles, settings.data_dir, settings.cache_dir)
    missing = [n for n, p in found.items() if not p]
    if not missing:
        typer.echo(f"{field}: all DEM tiles present")
        return
    if dry_run:
        typer.echo(f"{field}: would download {', '.join(missing)} from {source}")
        return
    from footprint.io.download import ensure_tile

    for name in missing:
        path = ensure_tile(name, source=source, cache_dir=settings.cache_dir)
        typer.echo(f"{name} -> {path}")
