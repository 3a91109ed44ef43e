"""Make an anomaly report from what the store holds, and render it as JSON, HTML or PDF."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from footprint import reports
from footprint.pipeline import report as report_pipeline
from footprint.settings import Settings

#: The formats a report comes in, and their media types.
REPORT_FORMATS = {"json": "application/json", "html": "text/html", "pdf": "application/pdf"}


def make_report(store: Any, settings: Settings, participant: str, year_from: int,
                year_to: int, *, version: str | None = None,
                exports_csv: str | Path | None = None,
                certificates_csv: str | Path | None = None,
                calibrate_reps: int = 0,
                progress: report_pipeline.ReportProgress | None = None) -> dict[str, Any]:
    """The anomaly report of ``participant`` (ISO3) over ``year_from``-``year_to``
    (inclusive), from the stored footprints of its fields (the latest, or those pinned by
    ``version``: ``N`` or ``FIELD:N[,FIELD:N]``,
    :func:`footprint.pipeline.report.parse_version_pins`) and the stored declarations
    (:func:`footprint.pipeline.report.stored_report`); ``exports_csv`` /
    ``certificates_csv`` replace the stored declarations of that kind; ``calibrate_reps``
    > 0 runs the calibration harness first so each test row shows its size and power;
    ``progress(pct, message)`` is called between its steps (raising stops it)."""
    pins = report_pipeline.parse_version_pins(participant, version)
    return report_pipeline.stored_report(store, settings, participant, year_from, year_to,
                                         versions=pins, exports_csv=exports_csv,
                                         certificates_csv=certificates_csv,
                                         calibrate_reps=calibrate_reps, progress=progress)


def render_report(report: dict[str, Any], fmt: str, filename: str) -> bytes:
    """The report as bytes in ``fmt`` (a key of :data:`REPORT_FORMATS`).

    JSON is the report's JSON-able form; HTML the self-contained page; PDF rendered in a
    private temporary directory named after ``filename``, read and removed.
    """
    if fmt == "html":
        return reports.render_html(report).encode("utf-8")
    if fmt == "pdf":
        with tempfile.TemporaryDirectory(prefix="footprint-pdf-") as tmp:
            return reports.render_pdf(report, Path(tmp) / filename).read_bytes()
    raise ValueError(f"render_report renders html or pdf, not {fmt!r}")
