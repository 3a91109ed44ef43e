"""``footprint report``: the anomaly report of a participant and period (JSON, HTML or PDF).

The report is made from the stored footprint versions and the uploaded declarations by
the same function the service uses (:func:`footprint.services.reports.make_report`), so
the CLI and ``GET /participants/{iso3}/report`` give the same answer.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer


class ReportFormat(str, Enum):
    """What ``footprint report`` writes."""

    json = "json"
    html = "html"
    pdf = "pdf"


def report(participant: str = typer.Argument(..., help="KP participant, ISO3 (GHA, CIV, TGO, "
                                                      "ZWE)."),
           year_from: int = typer.Option(..., "--from", help="First year (inclusive)."),
           year_to: int = typer.Option(..., "--to", help="Last year (inclusive)."),
           exports: Path | None = typer.Option(None, "--exports", exists=True, dir_okay=False,
                                               help="Export statistics CSV used instead of "
                                                    "the uploaded ones (schema: "
                                                    "datasets/schemas/exports.md)."),
           certificates: Path | None = typer.Option(None, "--certificates", exists=True,
                                                    dir_okay=False,
                                                    help="KP certificate records CSV used "
                                                         "instead of the uploaded ones."),
           version: str = typer.Option(None, "--version",
                                       help="Pin footprint versions: N (a participant with "
                                            "one field) or FIELD:N[,FIELD:N]; default the "
                                            "latest stored."),
           calibrate_reps: int = typer.Option(0, "--calibrate-reps", min=0, max=10_000,
                                              help="Run the calibration harness with N "
                                                   "replicates first, so each test row shows "
                                                   "its size and power (200 is a quick "
                                                   "look, 1000 the published tables)."),
           format: ReportFormat = typer.Option(ReportFormat.json, "--format",
                                               help="json, html or pdf."),
           output: Path = typer.Option(..., "-o", "--output", dir_okay=False,
                                       help="File to write ('-' prints JSON or HTML).")) -> None:
    """Compare a participant's declared statistics with its fields' stored footprints."""
    from footprint.reports import render_html, render_pdf
    from footprint.services.reports import make_report
    from footprint.services.store import open_store
    from footprint.settings import get_settings

    if format is ReportFormat.pdf and str(output) == "-":
        raise typer.BadParameter("a PDF needs a file: -o report.pdf", param_hint="-o")
    settings = get_settings()
    with open_store(settings) as store:
        result = make_report(store, settings, participant, year_from, year_to,
                             version=version, exports_csv=exports,
                             certificates_csv=certificates, calibrate_reps=calibrate_reps)
    if format is ReportFormat.pdf:
        render_pdf(result, output)
    else:
        text = (json.dumps(result, indent=2, ensure_ascii=False) if format is ReportFormat.json
                else render_html(result))
        if str(output) == "-":
            typer.echo(text)
        else:
            output.write_text(text, encoding="utf-8")
    summary = result["summary"]
    if str(output) != "-":
        counts = summary["counts"]
        typer.echo(f"{result['participant']} {year_from}-{year_to}: {summary['overall_verdict']} "
                   f"({counts['anomalous']} anomalous, {counts['watch']} watch, "
                   f"{counts['consistent']} consistent) -> {output}", err=True)
