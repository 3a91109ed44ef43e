"""Plots a monitor reads at a glance, drawn from a report dict alone (matplotlib, Agg).

Each function returns a :class:`matplotlib.figure.Figure` with axis labels and units, or
None when the report lacks the data. Figures are created with the object API (no pyplot
state), so they are safe in a server.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

VERDICT_COLOURS = {"consistent": "#2e7d32", "watch": "#f9a825", "anomalous": "#c62828"}
BAND_COLOUR = "#90caf9"
_SIZE = (8.0, 4.2)


def _tests(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [t for t in report["tests"] if t["name"] == name]


def plot_capacity_distribution(report: dict[str, Any]) -> Figure:
    """Histogram of the participant's capacity draws (ct/yr), declared years marked."""
    cap = report["series"]["capacity"]
    hist = cap["histogram"]
    fig = Figure(figsize=_SIZE)
    ax = fig.add_subplot()
    edges = np.asarray(hist["edges"])
    counts = np.asarray(hist["counts"], dtype=float)
    zeros = f"; {hist['n_zero']:,} at 0 ct/yr not shown" if hist.get("n_zero") else ""
    ax.stairs(counts / max(hist["n"], 1), edges, fill=True, color=BAND_COLOUR,
              label=f"capacity draws (n = {hist['n']:,}{zeros})")
    if hist["log"]:
        ax.set_xscale("log")
    q = cap["quantiles"]
    for key, style in (("p5", ":"), ("p50", "--"), ("p95", ":")):
        if hist["log"] and q[key] <= 0:
            continue  # a quantile at 0 ct/yr has no place on a log axis (see the legend)
        ax.axvline(q[key], color="#1565c0", linestyle=style, linewidth=1)
        ax.annotate(key.upper(), (q[key], 1.0), xycoords=("data", "axes fraction"),
                    ha="center", va="bottom", fontsize=8, color="#1565c0")
    declared = [(t["period"], t["evidence"]["declared_ct"], t["verdict"])
                for t in _tests(report, "volume_vs_capacity")]
    positive = [ct for _, ct, _ in declared if ct > 0]
    if hist["log"] and positive:  # show every declared year, even far outside the draws
        lo, hi = ax.get_xlim()
        ax.set_xlim(min(lo, min(positive) / 1.5), max(hi, max(positive) * 1.5))
    lo, hi = ax.get_xlim()
    n_zero_declared = 0
    for _, ct, verdict in declared:
        if ct <= 0 and hist["log"]:
            n_zero_declared += 1
            ax.axvline(lo, color=VERDICT_COLOURS[verdict], linewidth=3)
            continue
        ax.axvline(ct, color=VERDICT_COLOURS[verdict], linewidth=1.6, alpha=0.85)
    if positive:
        top = max(declared, key=lambda d: d[1])
        ax.annotate(f"declared {top[0]}: {top[1]:,.0f} ct", (top[1], 0.86),
                    xycoords=("data", "axes fraction"),
                    ha="right" if top[1] > math.sqrt(lo * hi) else "left",
                    fontsize=8, color=VERDICT_COLOURS[top[2]])
    if n_zero_declared:
        ax.text(0.01, 0.03, f"0 ct declared in {n_zero_declared} year(s): marked at the left edge",
                transform=ax.transAxes, fontsize=8, va="bottom")
    ax.set_xlabel("production capacity (ct/yr, log scale)" if hist["log"]
                  else "production capacity (ct/yr)")
    ax.set_ylabel("share of draws (–)")
    ax.set_title(f"{report['participant']}: capacity distribution, declared years marked "
                 "(green consistent, amber watch, red anomalous)", fontsize=9, pad=14)
    ax.legend(loc="upper left", fontsize=8, bbox_to_anchor=(0.0, 0.8))
    fig.tight_layout()
    return fig


def plot_declared_vs_capacity(report: dict[str, Any]) -> Figure:
    """Declared carats per year against the capacity band P5–P95 (and P50)."""
    bands = report["series"]["capacity"]["by_year"]
    years = np.array([b["year"] for b in bands])
    fig = Figure(figsize=_SIZE)
    ax = fig.add_subplot()
    ax.fill_between(years, [b["p5"] for b in bands], [b["p95"] for b in bands],
                    color=BAND_COLOUR, alpha=0.6, step="mid", label="capacity P5–P95")
    ax.step(years, [b["p50"] for b in bands], where="mid", color="#1565c0", linewidth=1,
            label="capacity P50")
    annual = report["declared"]["annual"]
    ax.plot([a["year"] for a in annual], [a["carats"] for a in annual], color="black",
            linewidth=1.2, label="declared (KP production)")
    by_year = {t["period"]: t for t in _tests(report, "volume_vs_capacity")}
    for a in annual:
        t = by_year.get(str(a["year"]))
        if t is None:
            continue
        marker = "x" if a["status"] == "no_record" else "o"
        ax.scatter([a["year"]], [max(a["carats"], 1.0)], color=VERDICT_COLOURS[t["verdict"]],
                   marker=marker, zorder=3, s=36)
    values = np.array([a["carats"] for a in annual] + [b["p95"] for b in bands]
                      + [b["p5"] for b in bands], dtype=float)
    positive = values[values > 0]
    if positive.size and positive.max() / positive.min() > 100:
        ax.set_yscale("symlog", linthresh=max(1.0, float(positive.min())))
        ax.set_ylabel("carats per year (ct/yr, symmetric log scale)")
    else:
        ax.set_ylabel("carats per year (ct/yr)")
    for t in _tests(report, "break_volume"):
        if t["verdict"] != "consistent":
            ax.axvline(t["evidence"]["break_year"] - 0.5, color="grey", linestyle="--",
                       linewidth=1)
    ax.set_xlabel("year")
    ax.set_title(f"{report['participant']}: declared production against capacity "
                 "(dots: verdict per year; x: no KP record; dashed: change point)", fontsize=9)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def plot_value_band(report: dict[str, Any]) -> Figure | None:
    """Declared US$/ct per year (and shipments) against the value band P5–P95."""
    tests = _tests(report, "value_band")
    ships = report["series"].get("shipments_usd_per_ct")
    if not tests and not ships:
        return None
    q = report["series"]["value"]["quantiles"]
    annual = report["declared"]["annual"]
    years = [a["year"] for a in annual]
    fig = Figure(figsize=_SIZE)
    ax = fig.add_subplot()
    ax.axhspan(q["p5"], q["p95"], color=BAND_COLOUR, alpha=0.6, label="value footprint P5–P95")
    ax.axhline(q["p50"], color="#1565c0", linewidth=1, label="value footprint P50")
    ax.plot([int(t["period"]) for t in tests],
            [t["evidence"]["declared_usd_per_ct"] for t in tests], color="black", linewidth=1.2,
            label="declared US$/ct")
    for t in tests:
        ax.scatter([int(t["period"])], [t["evidence"]["declared_usd_per_ct"]],
                   color=VERDICT_COLOURS[t["verdict"]], zorder=3, s=36)
    if ships:
        rng = np.random.default_rng(0)  # jitter only, for legibility
        ax.scatter(rng.uniform(min(years), max(years), len(ships)), ships, s=8, marker="+",
                   color="#6a1b9a", alpha=0.5, label="certificates (x jittered)")
    ax.set_yscale("log")
    ax.set_xlim(min(years) - 0.5, max(years) + 0.5)
    ax.set_xlabel("year")
    ax.set_ylabel("value (US$/ct, log scale)")
    ax.set_title(f"{report['participant']}: declared value per carat against the value "
                 "footprint", fontsize=9)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def plot_size_distribution(report: dict[str, Any]) -> Figure | None:
    """Stone share per common size class: footprint against shipments.

    None when no certificate has a sieve breakdown (footprint bars alone say nothing)."""
    size = report["series"].get("size")
    if not size or "observed_share" not in size:
        return None
    classes = size["classes"]
    x = np.arange(len(classes))
    fig = Figure(figsize=_SIZE)
    ax = fig.add_subplot()
    width = 0.4 if "observed_share" in size else 0.7
    ax.bar(x - (width / 2 if "observed_share" in size else 0), size["expected_share"], width,
           color=BAND_COLOUR, edgecolor="#1565c0", label="footprint")
    if "observed_share" in size:
        ax.bar(x + width / 2, size["observed_share"], width, color="#6a1b9a",
               label="certificates")
    ax.set_xticks(x, classes, rotation=35, ha="right", fontsize=8)
    ax.set_xlabel("size class (ct per stone)")
    ax.set_ylabel("share of stones (–)")
    ax.set_title(f"{report['participant']}: size distribution by common class", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


PLOTS = {
    "capacity_distribution": plot_capacity_distribution,
    "declared_vs_capacity": plot_declared_vs_capacity,
    "value_band": plot_value_band,
    "size_distribution": plot_size_distribution,
}


def report_figures(report: dict[str, Any]) -> dict[str, Figure]:
    """Every plot the report has data for, by name (order of :data:`PLOTS`)."""
    figures = {}
    for name, plot in PLOTS.items():
        fig = plot(report)
        if fig is not None:
            figures[name] = fig
    return figures


def figure_png_base64(fig: Figure, *, dpi: int = 110) -> str:
    """The figure as a base64 PNG (for ``<img src="data:image/png;base64,...">``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
