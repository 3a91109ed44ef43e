"""Anomaly reports: declared statistics against footprints, as JSON, HTML and PDF.

``build_report(ReportInputs) -> dict`` runs the protocols of :mod:`footprint.protocols`
and returns a report in the versioned schema :data:`REPORT_JSON_SCHEMA` (see
``SCHEMA.md`` beside this module); ``render_html`` and ``render_pdf`` draw it.
"""

from footprint.reports.build import REPORT_JSON_SCHEMA, SCHEMA_VERSION, build_report, verdict_rows
from footprint.reports.inputs import FieldFootprint, ReportInputs
from footprint.reports.plots import report_figures
from footprint.reports.render import render_html, render_pdf

__all__ = ["REPORT_JSON_SCHEMA", "SCHEMA_VERSION", "FieldFootprint", "ReportInputs",
           "build_report", "render_html", "render_pdf", "report_figures", "verdict_rows"]
