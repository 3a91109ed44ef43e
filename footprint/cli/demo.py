"""``footprint demo``: the main job on the embedded default, end to end.

Migrates the database, checks the data, builds a footprint for every field of the
catalogue, writes the anomaly reports of the four participants, then serves the API and
the map and prints the URL to open.
"""

from __future__ import annotations

import typer

from footprint.errors import FootprintError


def demo(serve: bool = typer.Option(True, "--serve/--no-serve",
                                    help="Start the service at the end."),
         draws: int = typer.Option(None,
                                   help="Monte Carlo draws per footprint (default: settings)."),
         year_from: int = typer.Option(2003, "--from", help="First year of the reports."),
         year_to: int = typer.Option(2015, "--to", help="Last year of the reports.")) -> None:
    """Build every field's footprint and the participants' reports, then serve them."""
    from rich.console import Console

    from footprint.catalogue import fields_of, load_catalogue
    from footprint.services.footprints import build_footprint
    from footprint.services.store import open_store
    from footprint.settings import get_settings

    console = Console()
    settings = get_settings()
    store = open_store(settings)
    catalogue = load_catalogue()
    console.print(f"[bold]state[/]: {settings.state_dir}   [bold]data[/]: {settings.data_dir}")
    built: set[str] = set()
    for field_id in catalogue:
        try:
            with console.status(f"building the footprint of {field_id} ..."):
                record = build_footprint(store, settings, field_id, draws=draws).record
        except FootprintError as error:  # e.g. data missing here: say so, go on with the rest
            console.print(f"[yellow]{field_id:<12} not built: {error}[/]")
            continue
        built.add(field_id)
        cap = record.summaries["capacity"]["capacity_ct_per_year"]
        res = record.summaries["resource"]["resource_ct"]
        console.print(f"{field_id:<12} version {record.version}: "
                      f"resource P50 {res['p50']:,.0f} ct, "
                      f"capacity P50 {cap['p50']:,.0f} ct/yr")
    from footprint.reports import render_html
    from footprint.services.reports import make_report

    reports_dir = settings.state.reports
    for iso3 in sorted({f.participant_iso3 for f in catalogue.values()}):
        if not all(f.id in built for f in fields_of(iso3)):
            console.print(f"[yellow]report {iso3}: skipped (a field of {iso3} has no footprint)[/]")
            continue
        try:
            with console.status(f"anomaly report for {iso3} ..."):
                report = make_report(store, settings, iso3, year_from, year_to)
        except FootprintError as error:
            console.print(f"[yellow]report {iso3}: not made: {error}[/]")
            continue
        path = reports_dir / f"{iso3}_{year_from}_{year_to}.html"
        path.write_text(render_html(report), encoding="utf-8")
        console.print(f"report {iso3}: {path}")
    if not serve:
        console.print("done; `footprint serve` starts the API and the map")
        return
    from footprint.cli.serve import run_service

    run_service(settings.host, settings.port)
