"""``footprint report``: the anomaly report of a participant and period (JSON, HTML or PDF)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer


class ReportFormat(str, Enum):
    json = "json"
    html = "html"
    pdf = "pdf"


def report(participant: str = typer.Argument(..., help="KP participant, ISO3 (GHA, CIV, TGO, "
                                                      "ZWE)."),
           year_from: int = typer.Option(..., "--from", help="First year (inclusive)."),
           year_to: int = typer.Option(..., "--to", help="Last year (inclusive)."),
           exports: Path | None = typer.Option(None, "--exports", exists=True, dir_okay=False,
                                               help="Export statistics CSV (schema: "
                                                    "datasets/schemas/exports.md)."),
           certificates: Path | None = typer.Option(None, "--certificates", exists=True,
                                                    dir_okay=False,
                                                    help="KP certificate records CSV."),
           format: ReportFormat = typer.Option(ReportFormat.json, "--format",
                                               help="json, html or pdf."),
           output: Path = typer.Option(..., "-o", "--output", dir_okay=False,
                                       help="File to write ('-' prints JSON or HTML)."),
           calibrate_reps: int = typer.Option(0, "--calibrate-reps", min=0, max=100_000,
                                              help="Replicates of the calibration harness "
                                                   "for each test's size and power (0: a "
                                                   "cached calibration, if any).")) -> None:
    """Compare a participant's declared statistics with its fields' footprints."""
    from footprint.pipeline.report import make_report
    from footprint.reports import render_html, render_pdf

    result = make_report(participant, year_from, year_to, exports_csv=exports,
                         certificates_csv=certificates, calibrate_reps=calibrate_reps)
    if format is ReportFormat.pdf:
        if str(output) == "-":
            raise typer.BadParameter("a PDF needs a file: -o report.pdf", param_hint="-o")
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
