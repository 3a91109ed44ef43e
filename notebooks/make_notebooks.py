"""Write the worked-example notebooks from the cells below (outputs stripped).

The notebooks are generated so that a review reads plain Python, not JSON: edit this
file, run ``.venv/bin/python notebooks/make_notebooks.py``, commit both. ``--check``
exits non-zero when a committed notebook differs from what this file would write
(``tests/notebooks/test_notebooks.py`` runs it, then executes the notebooks with nbclient).

Each notebook works on the embedded default (SQLite in a temporary state directory,
``FOOTPRINT_STATE_DIR``) with few Monte Carlo draws, so it runs in well under two
minutes, and leaves nothing behind in the user's own state directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}

#: Shared first code cell: a temporary state directory and few draws, set before any
#: footprint import reads the settings.
SETUP = '''\
import io
import os
import tempfile
import warnings

STATE_DIR = tempfile.mkdtemp(prefix="footprint-notebook-")
os.environ["FOOTPRINT_STATE_DIR"] = STATE_DIR
os.environ["FOOTPRINT_DATABASE_URL"] = f"sqlite:///{STATE_DIR}/footprint.sqlite"
os.environ["FOOTPRINT_DRAWS"] = "{draws}"
os.environ["FOOTPRINT_ENVIRONMENT"] = "development"
os.environ["FOOTPRINT_LOG_LEVEL"] = "WARNING"  # no request log lines in the outputs
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
warnings.filterwarnings("ignore", message=".*draws leave about.*")  # few draws, on purpose

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Image, display

from footprint.settings import get_settings


def show(fig):
    """Display a figure as PNG whatever the backend (the report renderer switches
    matplotlib to Agg, after which plt.show() would display nothing)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    display(Image(buffer.getvalue()))


get_settings.cache_clear()
settings = get_settings()
settings.ensure_dirs()
print("state directory:", settings.state_dir)
print("data directory: ", settings.data_dir)
print("Monte Carlo draws per footprint:", settings.draws)
'''

STORE = '''\
from footprint.catalogue import load_catalogue
from footprint.storage.store import Store

store = Store.from_settings(settings)
store.upgrade()
store.sync_fields(load_catalogue().values())
print(store)
'''

HELPERS = '''\
from pathlib import Path


def summary(summaries, key):
    """The {p5, p50, p95, mean} block named `key`, at the top level or one block down."""
    if key in summaries and isinstance(summaries[key], dict) and "p50" in summaries[key]:
        return summaries[key]
    for block in summaries.values():
        if isinstance(block, dict) and isinstance(block.get(key), dict):
            return block[key]
    raise KeyError(key)


def state_path(stored):
    """A path the store keeps, made absolute (stored paths are relative to the state dir)."""
    path = Path(stored)
    return path if path.is_absolute() else settings.state_dir / path


def deposits_frame(field_id, version=None, page=5000):
    """Every deposit polygon of a footprint version as a GeoDataFrame (EPSG:4326)."""
    features, offset = [], 0
    while True:
        batch, matched = store.deposit_features(field_id, version=version, limit=page,
                                                offset=offset)
        features += batch
        offset += len(batch)
        if not batch or offset >= matched:
            break
    return gpd.GeoDataFrame.from_features(features, crs=4326)
'''


def explore_footprint() -> nbformat.NotebookNode:
    field = "gh-birim"
    cells = [
        new_markdown_cell(f"""\
# Explore a field's footprint: `{field}`

Build a footprint version of the Akwatia / Birim valley field (Ghana) on the embedded
default, map its deposits by class and look at the distribution of its production
capacity from the Monte Carlo draws.

Everything is written to a temporary state directory; the draws are few (2,000) so the
notebook runs quickly: P5 and P95 are then only indicative."""),
        new_code_cell(SETUP.replace("{draws}", "2000")),
        new_code_cell(STORE),
        new_code_cell(HELPERS),
        new_markdown_cell("""\
## Build

`build_footprint` delineates the deposits (terrain mode: valley bottoms and terraces
from the SRTM DEM), runs the seeded Monte Carlo of the field's parameter sheet, and
stores the version with its draws table."""),
        new_code_cell(f'''\
import time

from footprint.pipeline.build import build_footprint

FIELD = "{field}"
started = time.perf_counter()
record = build_footprint(FIELD, store=store, settings=settings)
print(f"{{FIELD}} footprint version {{record.version}}: {{record.n_deposits}} deposit polygons, "
      f"{{record.n_draws}} draws, seed {{record.seed}}, "
      f"built in {{time.perf_counter() - started:.0f}} s")
'''),
        new_markdown_cell("## Deposits by class"),
        new_code_cell('''\
from footprint.catalogue import get_field

field = get_field(FIELD)
deposits = deposits_frame(FIELD)
utm = deposits.to_crs(field.crs_epsg)
areas = (utm.assign(area_km2=utm.area / 1e6)
         .groupby("deposit_class")["area_km2"].agg(["count", "sum"])
         .rename(columns={"count": "polygons", "sum": "area_km2"})
         .sort_values("area_km2", ascending=False))
areas["share_of_aoi"] = areas["area_km2"] / field.aoi_area_km2
areas.round(3)
'''),
        new_code_cell('''\
CLASS_COLOURS = {"active_channel": "#1f78b4", "river_buffer": "#a6cee3",
                 "floodplain": "#33a02c", "low_terrace": "#fdbf6f",
                 "high_terrace": "#ff7f00", "palaeo_placer": "#6a3d9a"}

fig, ax = plt.subplots(figsize=(8, 7))
gpd.GeoSeries([field.aoi_projected()], crs=field.crs_epsg).boundary.plot(
    ax=ax, color="black", linewidth=1, linestyle="--")
# outer classes first, so that the channel is drawn on top of the terraces
draw_order = ["high_terrace", "low_terrace", "floodplain", "river_buffer", "active_channel"]
for cls in sorted(areas.index, key=lambda c: draw_order.index(c) if c in draw_order else -1):
    utm[utm.deposit_class == cls].plot(ax=ax, color=CLASS_COLOURS.get(cls, "grey"), linewidth=0)
handles = [plt.Rectangle((0, 0), 1, 1, color=CLASS_COLOURS.get(c, "grey")) for c in areas.index]
ax.legend(handles, list(areas.index), loc="lower right", title="deposit class")
ax.set_title(f"{field.name}: deposits of footprint version {record.version}")
ax.set_xlabel(f"easting (m, EPSG:{field.crs_epsg})")
ax.set_ylabel("northing (m)")
show(fig)
'''),
        new_markdown_cell("""\
## Capacity and resource

The summaries stored with the version, then the same quantities recomputed from the
long table of draws: they must agree."""),
        new_code_cell('''\
resource = summary(record.summaries, "resource_ct")
capacity = summary(record.summaries, "capacity_ct_per_year")
table = pd.DataFrame({"resource (ct)": resource, "capacity (ct/yr)": capacity}).T
table[["p5", "p50", "p95", "mean"]].style.format("{:,.0f}")
'''),
        new_code_cell('''\
draws = pd.read_parquet(state_path(record.draws_path),
                        columns=["resource_ct", "capacity_ct_per_year"])
p5, p50, p95 = np.percentile(draws["capacity_ct_per_year"], [5, 50, 95])
print(f"capacity from {len(draws):,} draws: P5 {p5:,.0f}  P50 {p50:,.0f}  P95 {p95:,.0f} ct/yr")
print(f"stored summary:             P5 {capacity['p5']:,.0f}  P50 {capacity['p50']:,.0f}  "
      f"P95 {capacity['p95']:,.0f} ct/yr")
assert np.isclose(p50, capacity["p50"], rtol=1e-6)
'''),
        new_code_cell('''\
values = draws["capacity_ct_per_year"].to_numpy()
positive = values[values > 0]
fig, ax = plt.subplots(figsize=(8, 4))
bins = np.logspace(np.log10(positive.min()), np.log10(positive.max()), 60)
ax.hist(positive, bins=bins, color="#4c72b0", alpha=0.8)
for q, name in ((p5, "P5"), (p50, "P50"), (p95, "P95")):
    ax.axvline(q, color="black", linestyle=":" if name != "P50" else "-")
    ax.text(q, ax.get_ylim()[1] * 0.95, f" {name}", va="top")
ax.set_xscale("log")
ax.set_xlabel("production capacity (ct/yr)")
ax.set_ylabel("draws")
ax.set_title(f"{field.name}: capacity distribution ({len(values):,} draws)")
show(fig)
'''),
        new_code_cell('''\
store.dispose()
'''),
    ]
    return _notebook(cells)


def upload_and_compare() -> nbformat.NotebookNode:
    field = "ci-tortiya"
    cells = [
        new_markdown_cell(f"""\
# Upload a survey layer and compare two footprint versions: `{field}`

1. build a first footprint version of Tortiya (Côte d'Ivoire);
2. upload a survey layer of mined areas (pits dug in 2008-2012) **through the API**, as a
   surveyor would, with FastAPI's `TestClient`;
3. build a second version, which subtracts the mined ground from the deposits;
4. compare the two versions: deposit area, resource and capacity.

Temporary state directory, 2,000 draws per version."""),
        new_code_cell(SETUP.replace("{draws}", "2000")),
        new_code_cell('''\
from fastapi.testclient import TestClient

from api.app import create_app

app = create_app(settings)
client = TestClient(app)
client.__enter__()  # runs the lifespan: migrates the database, syncs the fields
store = app.state.store
_, surveyor_key = store.create_api_key("notebook-surveyor", "surveyor")
print(client.get("/healthz").json(), store)
'''),
        new_code_cell(HELPERS),
        new_markdown_cell("## Version 1: before the survey"),
        new_code_cell(f'''\
from footprint.pipeline.build import build_footprint

FIELD = "{field}"
v1 = build_footprint(FIELD, store=store, settings=settings)
deposits_v1 = deposits_frame(FIELD, version=v1.version)
print(f"version {{v1.version}}: {{len(deposits_v1)}} deposit polygons, classes "
      f"{{sorted(deposits_v1.deposit_class.unique())}}")
'''),
        new_markdown_cell("""\
## The survey layer

Pits along the deposits of version 1: small discs on the deposit boundary's vertices,
each dated to a year of 2008-2012, written as GeoJSON as a field team would deliver it."""),
        new_code_cell('''\
from footprint.catalogue import get_field

field = get_field(FIELD)
utm_v1 = deposits_v1.to_crs(field.crs_epsg)
rng = np.random.default_rng(20081106)
vertices = np.vstack([np.asarray(g.exterior.coords) for poly in utm_v1.geometry
                      for g in getattr(poly, "geoms", [poly])])
picked = vertices[rng.choice(len(vertices), size=40, replace=False)]
pits = gpd.GeoDataFrame(
    {"year": rng.integers(2008, 2013, size=len(picked)), "source": "notebook survey"},
    geometry=gpd.points_from_xy(picked[:, 0], picked[:, 1]).buffer(150.0),  # 150 m radius
    crs=field.crs_epsg)
survey_path = Path(STATE_DIR) / "tortiya_pits_2008_2012.geojson"
pits.to_crs(4326).to_file(survey_path, driver="GeoJSON")
overlap_m2 = pits.union_all().intersection(utm_v1.union_all()).area
print(f"{len(pits)} pits, {pits.area.sum() / 1e4:,.1f} ha in all, "
      f"{overlap_m2 / 1e4:,.1f} ha on version-1 deposits")
'''),
        new_code_cell('''\
with survey_path.open("rb") as handle:
    response = client.post(
        f"/fields/{FIELD}/layers",
        headers={"X-API-Key": surveyor_key},
        data={"kind": "mined_areas", "name": "Tortiya pits 2008-2012"},
        files={"file": (survey_path.name, handle, "application/geo+json")})
print(response.status_code)
layer = response.json()
{k: layer.get(k) for k in ("id", "kind", "name", "version", "n_features", "sha256")}
'''),
        new_code_cell('''\
mined = client.get(f"/collections/mined-areas-{FIELD}/items", params={"limit": 1000}).json()
print(f"the service now serves {mined['numberMatched']} mined-area features for {FIELD}")
'''),
        new_markdown_cell("## Version 2: with the mined ground subtracted"),
        new_code_cell('''\
v2 = build_footprint(FIELD, store=store, settings=settings)
history = client.get(f"/fields/{FIELD}/footprints").json()["footprints"]
pd.DataFrame(history)[["version", "created_at", "seed", "n_draws", "n_deposits"]]
'''),
        new_code_cell('''\
def version_row(version):
    doc = client.get(f"/fields/{FIELD}/footprint", params={"version": version}).json()
    frame = deposits_frame(FIELD, version=version).to_crs(field.crs_epsg)
    resource = summary(doc["summaries"], "resource_ct")
    capacity = summary(doc["summaries"], "capacity_ct_per_year")
    mined_m2 = frame["mined_area_m2"].fillna(0).sum() if "mined_area_m2" in frame else 0.0
    return {"version": version, "deposit area (ha)": frame.area.sum() / 1e4,
            "mined area recorded (ha)": mined_m2 / 1e4,
            "resource P50 (ct)": resource["p50"], "resource P95 (ct)": resource["p95"],
            "capacity P50 (ct/yr)": capacity["p50"], "capacity P95 (ct/yr)": capacity["p95"]}


comparison = pd.DataFrame([version_row(v1.version), version_row(v2.version)]).set_index("version")
change = comparison.loc[v2.version] / comparison.loc[v1.version] - 1
comparison.loc["change"] = change
comparison.style.format("{:,.2f}")
'''),
        new_code_cell('''\
r1 = summary(v1.summaries, "resource_ct")["p50"]
r2 = summary(v2.summaries, "resource_ct")["p50"]
print(f"resource P50: version {v1.version} {r1:,.0f} ct -> version {v2.version} {r2:,.0f} ct "
      f"({(r2 / r1 - 1):+.1%})")
'''),
        new_code_cell('''\
draws = {}
for v in (v1, v2):
    table = pd.read_parquet(state_path(v.draws_path), columns=["resource_ct"])
    draws[v.version] = table["resource_ct"]
fig, ax = plt.subplots(figsize=(8, 4))
positive = np.concatenate([d[d > 0].to_numpy() for d in draws.values()])
bins = np.logspace(np.log10(positive.min()), np.log10(positive.max()), 50)
for version, values in draws.items():
    ax.hist(values[values > 0], bins=bins, histtype="step", linewidth=2, label=f"version {version}")
ax.set_xscale("log")
ax.set_xlabel("remaining resource (ct)")
ax.set_ylabel("draws")
ax.legend()
ax.set_title(f"{field.name}: resource before and after the mined-area survey")
show(fig)
'''),
        new_code_cell('''\
client.__exit__(None, None, None)
'''),
    ]
    return _notebook(cells)


def anomaly_report() -> nbformat.NotebookNode:
    participant = "CIV"
    cells = [
        new_markdown_cell(f"""\
# Produce and read an anomaly report: `{participant}`, 2003-2015

The anomaly report compares what a participant declared to the Kimberley Process (its
production statistics, and any uploaded exports or certificates) with what its fields'
footprints can produce, year by year, with statistical tests and a false-discovery-rate
correction. Here: Côte d'Ivoire (Séguéla and Tortiya), whose exports were under a UN
embargo from 2005 to 2014.

Footprints are computed with 2,000 draws in a temporary state directory."""),
        new_code_cell(SETUP.replace("{draws}", "2000")),
        new_markdown_cell("## Produce"),
        new_code_cell(f'''\
import json
import time

from footprint.pipeline.report import make_report
from footprint.reports import render_html

PARTICIPANT, YEAR_FROM, YEAR_TO = "{participant}", 2003, 2015
started = time.perf_counter()
report = make_report(PARTICIPANT, YEAR_FROM, YEAR_TO, settings=settings)
html_path = settings.state_dir / "reports" / f"{{PARTICIPANT}}_{{YEAR_FROM}}_{{YEAR_TO}}.html"
html_path.write_text(render_html(report), encoding="utf-8")
print(f"report of {{report['participant']}} {{report['period']['year_from']}}-"
      f"{{report['period']['year_to']}} in {{time.perf_counter() - started:.0f}} s; "
      f"HTML: {{html_path}} ({{html_path.stat().st_size / 1024:,.0f}} kB)")
'''),
        new_markdown_cell("""\
## Read: the verdict

`summary.overall_verdict` is the worst verdict of the tests that ran; `counts` says how
many tests gave each verdict. Footprints marked synthetic are not measured ones."""),
        new_code_cell('''\
print("overall verdict:", report["summary"]["overall_verdict"])
print("tests run:", report["summary"]["n_tests"], "| verdicts:", report["summary"]["counts"])
print("false discovery rate:",
      {k: report["fdr"][k] for k in ("method", "alpha", "n_tests", "n_rejected")})
pd.DataFrame(report["footprints"])[["field_id", "version", "seed", "n_draws", "synthetic"]]
'''),
        new_markdown_cell("## Read: declared production against capacity, year by year"),
        new_code_cell('''\
declared = pd.DataFrame(report["declared"]["annual"]).set_index("year")
capacity = pd.DataFrame(report["series"]["capacity"]["by_year"]).set_index("year")
unit = report["series"]["capacity"]["unit"]
years = declared.join(capacity, how="outer")
years[["carats", "status", "p5", "p50", "p95"]].style.format(
    {"carats": "{:,.0f}", "p5": "{:,.0f}", "p50": "{:,.0f}", "p95": "{:,.0f}"}, na_rep="-")
'''),
        new_code_cell('''\
fig, ax = plt.subplots(figsize=(9, 4))
ax.fill_between(capacity.index, capacity["p5"], capacity["p95"], color="#9ecae1",
                label="capacity P5-P95")
ax.plot(capacity.index, capacity["p50"], color="#3182bd", label="capacity P50")
ax.plot(declared.index, declared["carats"], "o-", color="#d62728", label="declared production")
ax.set_yscale("symlog", linthresh=1e3)
ax.set_xlabel("year")
ax.set_ylabel(f"carats per year ({unit})")
ax.set_title(f"{PARTICIPANT}: declared production and the fields' capacity")
ax.legend(loc="upper left")
show(fig)
'''),
        new_markdown_cell("""\
## Read: the tests

One row per test and period: the statistic, its p-value before and after the FDR
correction, and the verdict. Tests that could not run say why."""),
        new_code_cell('''\
tests = pd.DataFrame(report["tests"])
columns = ["name", "period", "statistic_name", "statistic", "p_value", "p_adjusted", "verdict"]
tests[columns].sort_values(["p_adjusted", "name"], na_position="last").head(20)
'''),
        new_code_cell('''\
pd.DataFrame(report["not_run"]) if report["not_run"] else "every test ran"
'''),
        new_code_cell('''\
print("provenance:",
      json.dumps({k: report["provenance"][k] for k in ("code_version", "inputs_sha256")}))
'''),
    ]
    return _notebook(cells)


def _notebook(cells: list) -> nbformat.NotebookNode:
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": KERNEL,
        "language_info": {"name": "python", "pygments_lexer": "ipython3"},
    })
    # stable ids so that regenerating leaves git diffs empty
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index:02d}"
    nbformat.validate(notebook)
    return notebook


NOTEBOOKS = {
    "01_explore_footprint.ipynb": explore_footprint,
    "02_upload_and_compare.ipynb": upload_and_compare,
    "03_anomaly_report.ipynb": anomaly_report,
}


def render(name: str) -> str:
    """The JSON text of notebook ``name`` as this file writes it."""
    return nbformat.writes(NOTEBOOKS[name](), version=4) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a notebook on disk differs from its generated text")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        path = HERE / name
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(HERE.parent)}")
    if stale:
        print("out of date (run notebooks/make_notebooks.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
