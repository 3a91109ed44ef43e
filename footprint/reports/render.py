"""Render a report dict as one self-contained HTML page or a PDF.

HTML: a jinja2 template (``templates/report.html.j2``) with inline CSS and the plots as
base64 PNG ``data:`` URIs, so the page has no external asset and can be mailed as one file.
PDF: matplotlib ``PdfPages``: a title page with the verdict table, then one page per plot.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from typing import Any

import jinja2
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from footprint.reports.build import verdict_rows
from footprint.reports.plots import VERDICT_COLOURS, figure_png_base64, report_figures

_TEMPLATES = Path(__file__).with_name("templates")
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES),
                          autoescape=jinja2.select_autoescape(["html", "j2"]),
                          trim_blocks=True, lstrip_blocks=True)
_PLOT_CAPTIONS = {
    "capacity_distribution": "Capacity distribution of the participant's fields (draws summed "
                             "draw by draw) with each declared year marked.",
    "declared_vs_capacity": "Declared production per year against the capacity band.",
    "value_band": "Declared US$/ct per year (and certificates) against the value footprint.",
    "size_distribution": "Size distribution by common class: footprint and certificates.",
}


def render_html(report: dict[str, Any]) -> str:
    """One self-contained HTML page (inline CSS, plots as base64 PNG, no external URL)."""
    figures = report_figures(report)
    plots = [{"name": name, "caption": _PLOT_CAPTIONS.get(name, name),
              "png_base64": figure_png_base64(fig)} for name, fig in figures.items()]
    return _ENV.get_template("report.html.j2").render(
        report=report, rows=verdict_rows(report), plots=plots, colours=VERDICT_COLOURS)


def _title_page(report: dict[str, Any]) -> Figure:
    fig = Figure(figsize=(8.27, 11.69))  # A4 portrait, inches
    s = report["summary"]
    period = report["period"]
    fig.text(0.06, 0.95, f"Anomaly report — {report['participant']} "
             f"{period['year_from']}–{period['year_to']}", fontsize=16, weight="bold")
    fig.text(0.06, 0.925, f"overall verdict: {s['overall_verdict']}   "
             f"({s['counts']['consistent']} consistent, {s['counts']['watch']} watch, "
             f"{s['counts']['anomalous']} anomalous; Benjamini-Hochberg over "
             f"{report['fdr']['n_tests']} p-values)", fontsize=9,
             color=VERDICT_COLOURS[s["overall_verdict"]])
    fps = "; ".join(f"{f['field_id']} v{f['version']} seed {f['seed']} "
                    f"sheet {f['sheet_sha256'][:10]}" for f in report["footprints"])
    fig.text(0.06, 0.905, f"footprints: {fps}", fontsize=7, wrap=True)
    fig.text(0.06, 0.89, f"schema {report['schema_version']} · generated "
             f"{report['generated_at']} · code {report['provenance']['code_version']}",
             fontsize=7)
    fig.text(0.06, 0.86, "\n".join(textwrap.wrap(s.get("narrative", ""), 150)), fontsize=7,
             va="top")
    if s["synthetic_footprints"]:
        fig.text(0.06, 0.875, "SYNTHETIC FOOTPRINTS: demonstration only, not evidence",
                 fontsize=9, color="#c62828", weight="bold")
    rows = verdict_rows(report)
    ax = fig.add_axes((0.04, 0.05, 0.92, 0.74))
    ax.axis("off")
    cells = [[r["test"], r["period"], r["statistic"], r["p_value"], r["p_adjusted"], r["verdict"]]
             for r in rows] or [["(no test)", "", "", "", "", ""]]
    table = ax.table(cellText=cells, colLabels=["test", "period", "statistic", "p", "p (BH)",
                                                "verdict"],
                     colWidths=[0.28, 0.14, 0.16, 0.13, 0.13, 0.16], loc="upper center")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1, 1.15)
    for i, r in enumerate(rows, start=1):
        table[i, 5].set_facecolor(VERDICT_COLOURS[r["verdict"]])
        table[i, 5].get_text().set_color("white")
    if report["not_run"]:
        ax.text(0.0, -0.02, "not run: " + "; ".join(f"{n['name']} ({n['reason']})"
                                                   for n in report["not_run"]),
                transform=ax.transAxes, fontsize=6.5, va="top", wrap=True)
    return fig


def _text_page(title: str, lines: list[str]) -> Figure:
    fig = Figure(figsize=(8.27, 11.69))
    fig.text(0.06, 0.95, title, fontsize=12, weight="bold")
    y = 0.925
    for line in lines:
        for chunk in textwrap.wrap(line, 120) or [""]:
            fig.text(0.06, y, chunk, fontsize=6.5, family="monospace")
            y -= 0.012
            if y < 0.03:
                return fig
    return fig


def _detail_pages(report: dict[str, Any]) -> list[Figure]:
    """What the HTML has beyond the table: evidence, size/power, context, declared table,
    mass balance and mirror rows, thresholds and provenance."""
    rows = verdict_rows(report)
    evidence = [f"{r['test']} {r['period']}: {r['verdict']}; size {r['size']}; power "
                f"{r['power']}; {r['note']}" + (f" [{r['context']}]" if r["context"] else "")
                for r in rows]
    declared = [f"{a['year']}: {a['carats']:,.0f} ct, US$ {a['value_usd']:,.0f}, "
                f"{'–' if a['usd_per_ct'] is None else format(a['usd_per_ct'], ',.2f')} US$/ct, "
                f"{a['status'].replace('_', ' ')}" for a in report["declared"]["annual"]]
    balance = []
    for t in report["tests"]:
        if t["name"] == "mass_balance":
            balance += [f"mass balance {r['period']}: production {r['production_ct']:,.0f}, "
                        f"imports {r['imports_ct']:,.0f}, exports {r['exports_ct']:,.0f}, stock "
                        f"{r['stock_change_ct']:,.0f} ({r['stock']}), residual "
                        f"{r['residual_ct']:,.0f} ct: {r['verdict']}"
                        for r in t["evidence"]["periods"]]
        if t["name"] == "mirror":
            balance += [f"mirror {r['period']} {r['flow']} {r['partner']}: "
                        f"{r['declared_ct']:,.0f} vs {r['mirror_ct']:,.0f} ct: {r['verdict']}"
                        for r in t["evidence"]["pairs"]]
    facts = [f"threshold {k} = {v}" for k, v in report["thresholds"].items()]
    facts += [f"provenance {k} = {v}" for k, v in report["provenance"].items()]
    return [_text_page("Evidence per test", [report["summary"].get("narrative", ""), "",
                                             *evidence]),
            _text_page("Declared production, mass balance and mirror rows",
                       [*declared, "", *(balance or ["no export statistics"])]),
            _text_page("Thresholds and provenance", facts)]


def render_pdf(report: dict[str, Any], path: str | Path) -> Path:
    """Write the report as a PDF: title page with the verdict table, then the plots."""
    path = Path(path)
    with PdfPages(path, metadata={
            "Title": f"footprint anomaly report {report['participant']} "
                     f"{report['period']['year_from']}-{report['period']['year_to']}",
            "Subject": f"schema {report['schema_version']}",
            "Creator": f"footprint {report['provenance']['code_version']}",
            "CreationDate": dt.datetime.now(dt.UTC)}) as pdf:
        pdf.savefig(_title_page(report))
        for fig in _detail_pages(report):
            pdf.savefig(fig)
        for fig in report_figures(report).values():
            pdf.savefig(fig)
    return path
