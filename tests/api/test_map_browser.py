"""The map page in headless Chromium: it loads offline with no console error, draws the
deposits of gh-birim, and a click inside the field shows its resource and capacity.

Debian's ``chromium`` driven by Playwright (never ``playwright install``); the service
runs in uvicorn on a loopback port with a temporary state directory, and every request
that would leave 127.0.0.1 is aborted and counted, so the page is checked as if offline.
A screenshot is saved to ``artifacts/map.png``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString

from api.app import create_app
from api.routers.map import install_map
from footprint.settings import get_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
#: Near the Akwatia placer mine, inside gh-birim's area of interest (lon, lat).
AKWATIA = (-0.821098, 6.019422)
#: The class rings of the synthetic valley: (class, half-width in degrees), inner first.
VALLEY_CLASSES = (("active_channel", 0.0015), ("floodplain", 0.006),
                  ("low_terrace", 0.011), ("high_terrace", 0.016))
N_REACHES = 8
N_DRAWS = 2000


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        if _in_ci():
            pytest.fail(f"CI=true but {CHROMIUM} is missing (scripts/system-deps.sh installs it)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    return CHROMIUM


# The page is checked once, on the embedded default: the database behind the API has
# its own tests on both backends.
pytestmark = [pytest.mark.browser,
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


@pytest.fixture
def app(settings, store):
    """The service with the map page (installed here if the app does not wire it yet)."""
    application = create_app(settings)
    if not any(getattr(route, "path", None) == "/map" for route in application.routes):
        install_map(application)
    return application


def valley_deposits() -> gpd.GeoDataFrame:
    """A meandering valley through Akwatia cut into reaches, each a nested set of class
    bands (active channel inside floodplain inside terraces), in lon/lat."""
    lon0, lat0 = AKWATIA
    xs = np.linspace(lon0 - 0.08, lon0 + 0.08, 9 * N_REACHES)
    ys = lat0 + 0.02 * np.sin((xs - lon0) * 60)
    axis = LineString(zip(xs, ys))
    rows, geoms = [], []
    for reach in range(N_REACHES):
        start, end = reach / N_REACHES * axis.length, (reach + 1) / N_REACHES * axis.length
        piece = LineString([axis.interpolate(d) for d in np.linspace(start, end, 10)])
        inner = None
        for cls, half_width in VALLEY_CLASSES:
            band = piece.buffer(half_width, cap_style="flat")
            geoms.append(band if inner is None else band.difference(inner))
            rows.append({"deposit_class": cls, "reach": reach, "mode": "terrain"})
            inner = band
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=4326)


def displayed(value: float) -> str:
    """How the page writes a quantity: millions as "4.25 M", else whole numbers."""
    return f"{value / 1e6:,.2f} M" if abs(value) >= 1e6 else f"{value:,.0f}"


def draws_summary(values: np.ndarray) -> dict[str, float]:
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    return {"p5": float(p5), "p50": float(p50), "p95": float(p95), "mean": float(values.mean())}


@pytest.fixture
def stored_footprint(store, settings):
    """A gh-birim footprint of the synthetic valley, with lognormal resource and
    capacity draws, and a dated mined-areas layer."""
    deposits = valley_deposits()
    rng = np.random.default_rng(20081106)
    resource_ct = rng.lognormal(math.log(4.0e6), 0.6, N_DRAWS)
    capacity_ct_per_year = rng.lognormal(math.log(1.5e5), 0.4, N_DRAWS)
    summaries = {"resource_ct": draws_summary(resource_ct),
                 "capacity_ct_per_year": draws_summary(capacity_ct_per_year)}
    # stored in blocks, as FootprintResult.to_dict() lays them out
    blocks = {"resource": {"resource_ct": summaries["resource_ct"]},
              "capacity": {"capacity_ct_per_year": summaries["capacity_ct_per_year"]}}
    record = store.add_footprint(
        "gh-birim", deposits=deposits, seed=20081106, n_draws=N_DRAWS, code_version="test",
        sheet_sha256=None, parameters={}, summaries=blocks,
        provenance={"inputs": {"test": "synthetic valley"}}, draws_path=None, rasters={})
    lon, lat = AKWATIA
    pits = gpd.GeoDataFrame({"year": [2006, 2007]}, crs=4326, geometry=[
        LineString([(lon - 0.01, lat - 0.002), (lon - 0.004, lat)]).buffer(0.002),
        LineString([(lon + 0.01, lat + 0.003), (lon + 0.016, lat + 0.006)]).buffer(0.002)])
    store.add_layer("gh-birim", "mined_areas", "pits.geojson", "ab" * 32, crs="EPSG:4326",
                    bounds_4326=None, features=pits)
    return record, summaries, len(deposits)


@pytest.fixture
def browser_page(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path),
                                             headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            yield page
        finally:
            browser.close()


def test_map_page_draws_deposits_and_shows_field_numbers(browser_page, live_server,
                                                         stored_footprint):
    record, summaries, n_deposits = stored_footprint
    page = browser_page
    console_errors: list[str] = []
    outside_requests: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: console_errors.append(f"page error: {exc}"))

    def offline(route):
        # the page must not need the network: anything not served by the service fails
        if urlsplit(route.request.url).hostname != "127.0.0.1":
            outside_requests.append(route.request.url)
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/*", offline)
    page.goto(f"{live_server}/map?field=gh-birim")
    page.wait_for_function("window.footprintMap && window.footprintMap.ready", timeout=60_000)

    state = page.evaluate("""() => ({counts: window.footprintMap.counts,
        failed: window.footprintMap.failed,
        drawn: window.footprintMap.drawnDeposits('gh-birim'),
        status: document.getElementById('status').textContent})""")
    assert state["failed"] == [], state["status"]
    assert state["counts"]["fields"] == 5
    assert state["counts"]["deposits"]["gh-birim"] == n_deposits
    assert state["drawn"] == n_deposits
    assert state["counts"]["streams"]["gh-birim"] == N_REACHES  # the active-channel bands
    assert state["counts"]["minedAreas"]["gh-birim"] == 2
    # the deposits canvas really has paint on it (floodplain green among others)
    painted = page.evaluate("""() => {
        const canvas = window.footprintMap.map.getPane('depositsPane').querySelector('canvas');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n += 1;
        return n;
    }""")
    assert painted > 1000
    legend = page.inner_text(".legend")
    for cls, _ in VALLEY_CLASSES:
        assert cls.replace("_", " ") in legend

    point = page.evaluate("window.footprintMap.fieldClickPoint('gh-birim')")
    assert point is not None
    page.mouse.click(point["x"], point["y"])
    page.wait_for_selector("#field-info[data-field='gh-birim'][data-loaded='true']",
                           timeout=30_000)
    panel = page.inner_text("#field-info")
    assert "P50" in panel and "ct/yr" in panel and "(ct)" in panel
    rows = page.locator("#summary-table tbody tr")
    shown = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        shown[row.locator("td").first.inner_text()] = {
            stat: (row.locator(f"td[data-stat='{stat}']").inner_text(),
                   float(row.locator(f"td[data-stat='{stat}']").get_attribute("data-value")))
            for stat in ("p5", "p50", "p95", "mean")}
    for label, key in (("Resource (ct)", "resource_ct"),
                       ("Capacity (ct/yr)", "capacity_ct_per_year")):
        for stat in ("p5", "p50", "p95", "mean"):
            text, value = shown[label][stat]
            assert value == pytest.approx(summaries[key][stat], rel=1e-12), (label, stat)
            assert text == displayed(summaries[key][stat]), (label, stat)
    href = page.get_attribute("#report-link", "href")
    assert href.endswith("/participants/GHA/report?from=2003&to=2015&f=html")
    assert f"Footprint version {record.version}" in panel

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map.png"))
    assert outside_requests == []
    assert console_errors == []


def _offline(page) -> list[str]:
    """Abort every request that leaves 127.0.0.1; return the list they are counted in."""
    outside: list[str] = []

    def route(request_route):
        if urlsplit(request_route.request.url).hostname != "127.0.0.1":
            outside.append(request_route.request.url)
            request_route.abort("internetdisconnected")
        else:
            request_route.continue_()
    page.route("**/*", route)
    return outside


def test_swagger_ui_and_redoc_render_offline(browser_page, live_server):
    page = browser_page
    outside = _offline(page)
    page.goto(f"{live_server}/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "footprint" in page.inner_text(".swagger-ui .info .title")
    # operations of every tag are listed, from the OpenAPI 3.1 document
    page.wait_for_selector(".opblock-tag", timeout=30_000)
    assert page.locator(".opblock").count() > 20
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs.png"))
    page.goto(f"{live_server}/redoc")
    page.wait_for_selector("h1", timeout=30_000)
    assert "footprint" in page.inner_text("h1")
    page.screenshot(path=str(ARTIFACTS / "redoc.png"))
    assert [u for u in outside if "redoc.ly" not in u] == [], outside


@pytest.mark.slow
@pytest.mark.skipif(not (get_settings().data_dir / "dem" / "srtm3").is_dir(),
                    reason="no bundled SRTM tiles")
def test_map_hash_restores_view_and_draws_the_hillshade_offline(browser_page, live_server,
                                                                stored_footprint):
    """The URL hash gives the view and the layers; the hillshade tiles come from the
    service (rio-tiler on the bundled SRTM), with the network blocked."""
    page = browser_page
    outside = _offline(page)
    lon, lat = AKWATIA
    page.goto(f"{live_server}/map#map=12/{lat}/{lon}&layers=fields,deposits,hillshade")
    page.wait_for_function("window.footprintMap && window.footprintMap.ready", timeout=60_000)
    page.wait_for_function("""() => [...document.querySelectorAll('img.leaflet-tile')]
        .filter((i) => i.src.includes('/hillshade/') && i.complete && i.naturalWidth === 256)
        .length >= 2""", timeout=60_000)
    view = page.evaluate("""() => { const m = window.footprintMap.map;
        return {zoom: m.getZoom(), lat: m.getCenter().lat, lon: m.getCenter().lng}; }""")
    assert view["zoom"] == 12 and abs(view["lat"] - lat) < 1e-3 and abs(view["lon"] - lon) < 1e-3
    assert "layers=fields,deposits,hillshade" in page.evaluate("window.location.hash")
    # the USGS layer of other (non-diamond) sites is not on, being absent from the hash
    assert "usgs_other" not in page.evaluate("window.location.hash")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map-hillshade.png"))
    assert outside == [], outside
