"""``footprint fields``: the catalogue with the data each field has."""

from __future__ import annotations

import json

import typer


def fields(json_out: bool = typer.Option(False, "--json",
                                         help="Print JSON instead of a table.")) -> None:
    """List the fields of the catalogue and which input data each has."""
    from rich.console import Console
    from rich.table import Table

    from footprint.catalogue import load_catalogue
    from footprint.io.coverage import field_coverage
    from footprint.settings import get_settings

    settings = get_settings()
    rows = []
    for field in load_catalogue().values():
        coverage = field_coverage(field, settings.data_dir, settings.cache_dir)
        rows.append({
            "id": field.id, "name": field.name, "participant_iso3": field.participant_iso3,
            "crs_epsg": field.crs_epsg, "aoi_area_km2": round(field.aoi_area_km2, 1),
            "bbox_4326": [round(v, 4) for v in field.bbox_4326],
            "dem_tiles": list(field.dem_tiles), **coverage,
        })
    if json_out:
        typer.echo(json.dumps({"data_dir": str(settings.data_dir), "fields": rows}, indent=2))
        return
    table = Table(title=f"fields (data: {settings.data_dir})")
    for column in ("id", "participant", "area km²", "DEM tiles present", "mode", "rivers",
                   "USGS points"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["id"], row["participant_iso3"], f"{row['aoi_area_km2']:,.0f}",
                      f"{len(row['dem_tiles_present'])}/{len(row['dem_tiles'])}",
                      row["delineation_mode"], "yes" if row["rivers"] else "no",
                      str(row["usgs_diamond_points"]))
    Console().print(table)
