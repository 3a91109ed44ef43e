"""The map page in headless Chromium: it loads offline with no console error, draws the
deposits of gh-birim from vector tiles, opens a deposit's popup, switches and compares
versions (what changed: bands, deposits, inputs), filters mined areas by year, draws the
offline basemap and the hillshade, follows a second field (tg-plateaux) with its own
hillshade, HAND and MRVBF per version, and lets a monitor sign in to open the anomaly
report.

Debian's ``chromium`` driven by Playwright (never ``playwright install``); the service
runs in uvicorn on a loopback port with a temporary state directory, and every request
that would leave 127.0.0.1 is aborted and counted, so the page is checked as if offline.
Screenshots are saved to ``artifacts/map*.png``.
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
from shapely.ops import unary_union

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
#: Two mined pits near Akwatia (lon/lat), of 2006 and 2007.
PITS = [LineString([(AKWATIA[0] - 0.01, AKWATIA[1] - 0.002), (AKWATIA[0] - 0.004, AKWATIA[1])])
        .buffer(0.002),
        LineString([(AKWATIA[0] + 0.01, AKWATIA[1] + 0.003),
                    (AKWATIA[0] + 0.016, AKWATIA[1] + 0.006)]).buffer(0.002)]


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


def _add_version(store, deposits: gpd.GeoDataFrame, seed: int, inputs: dict):
    """A stored gh-birim version of ``deposits`` whose resource is the sum of per-class
    lognormal draws (``resource_ct.<class>``), as FootprintResult.to_dict() lays them out,
    built from ``inputs`` (its provenance's inputs document)."""
    rng = np.random.default_rng(seed)
    by_class = {cls: rng.lognormal(math.log(1.0e6 * (i + 1)), 0.5, N_DRAWS)
                for i, (cls, _) in enumerate(VALLEY_CLASSES)}
    resource_ct = sum(by_class.values())
    capacity_ct_per_year = rng.lognormal(math.log(1.5e5), 0.4, N_DRAWS)
    resource = {"resource_ct": draws_summary(resource_ct),
                **{f"resource_ct.{cls}": draws_summary(v) for cls, v in by_class.items()}}
    blocks = {"resource": resource,
              "capacity": {"capacity_ct_per_year": draws_summary(capacity_ct_per_year)}}
    record = store.add_footprint(
        "gh-birim", deposits=deposits, seed=seed, n_draws=N_DRAWS, code_version="test",
        sheet_sha256=None, parameters={}, summaries=blocks,
        provenance={"inputs": inputs}, draws_path=None, rasters={})
    summaries = {"resource_ct": resource["resource_ct"],
                 "capacity_ct_per_year": blocks["capacity"]["capacity_ct_per_year"]}
    shares = {cls: float(v.mean() / resource_ct.mean()) for cls, v in by_class.items()}
    return record, summaries, shares


@pytest.fixture
def stored_footprint(store, settings):
    """Two gh-birim versions of the synthetic valley, with per-class resource draws, and a
    mined-areas layer with one pit of 2006 and one of 2007. v1 lacks the last two reaches,
    calls reach 0's low terrace a high terrace, and was built before the pits layer and
    on another DEM tile. Returns the latest record, its summaries, its deposit count and
    its class shares."""
    pits = gpd.GeoDataFrame({"year": [2006, 2007]}, crs=4326, geometry=PITS)
    layer, _ = store.add_layer("gh-birim", "mined_areas", "pits.geojson", "ab" * 32,
                               crs="EPSG:4326", bounds_4326=None, features=pits)
    deposits = valley_deposits()
    older = deposits[deposits["reach"] < N_REACHES - 2].reset_index(drop=True)
    older.loc[(older["reach"] == 0) & (older["deposit_class"] == "low_terrace"),
              "deposit_class"] = "high_terrace"
    _add_version(store, older, 7, {"layers": [], "checksums": {"dem:N06W001.hgt": "1" * 64}})
    record, summaries, shares = _add_version(store, deposits, 20081106, {
        "layers": [{"id": layer.id, "kind": "mined_areas", "sha256": layer.sha256}],
        "checksums": {"dem:N06W001.hgt": "2" * 64}})
    return record, summaries, len(deposits), shares


def _open_map(page, live_server: str, path: str) -> None:
    page.goto(f"{live_server}{path}")
    page.wait_for_function("window.footprintMap && window.footprintMap.ready", timeout=60_000)
    _wait_for_tiles(page)


def _wait_for_tiles(page) -> None:
    page.wait_for_function("window.footprintMap.tilesIdle()", timeout=60_000)
    page.wait_for_timeout(300)  # the SVG of the last tile is appended after its load event


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


def _console_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    return errors


def test_map_page_draws_vector_tile_deposits_and_shows_field_numbers(
        browser_page, live_server, stored_footprint):
    record, summaries, n_deposits, _ = stored_footprint
    page = browser_page
    console_errors = _console_errors(page)
    outside = _offline(page)
    _open_map(page, live_server, "/map?field=gh-birim")

    state = page.evaluate("""() => ({counts: window.footprintMap.counts,
        failed: window.footprintMap.failed,
        drawn: window.footprintMap.drawnDeposits('gh-birim'),
        streams: window.footprintMap.drawnStreams('gh-birim'),
        mined: window.footprintMap.drawnMined('gh-birim'),
        status: document.getElementById('status').textContent})""")
    assert state["failed"] == [], state["status"]
    assert state["counts"]["fields"] == 5
    assert state["drawn"] == n_deposits  # every deposit reached the map through its tiles
    assert state["streams"] == N_REACHES  # the active-channel bands
    assert state["mined"] == 2
    tiles = page.evaluate("""() => performance.getEntriesByType('resource').map((e) => e.name)
        .filter((n) => n.includes('/collections/deposits-gh-birim/tiles/WebMercatorQuad/'))""")
    assert tiles, "no deposit vector tile was requested"
    items = page.evaluate("""() => performance.getEntriesByType('resource').map((e) => e.name)
        .filter((n) => n.includes('/collections/deposits-'))
        .filter((n) => n.includes('/items'))""")
    assert items == []  # deposits no longer come as GeoJSON
    paths = page.locator(".leaflet-deposits-pane svg path").count()
    assert paths >= n_deposits
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
    assert outside == []
    assert console_errors == []


def _floodplain_point(reach: int) -> tuple[float, float]:
    """(lon, lat) inside the floodplain band of ``reach``, away from the mined pits."""
    deposits = valley_deposits()
    band = deposits[(deposits["reach"] == reach)
                    & (deposits["deposit_class"] == "floodplain")].geometry.iloc[0]
    point = band.difference(unary_union(PITS).buffer(0.002)).representative_point()
    return point.x, point.y


def test_a_click_on_a_vector_tile_deposit_opens_its_popup(browser_page, live_server,
                                                          stored_footprint, store):
    record, _, _, shares = stored_footprint
    page = browser_page
    console_errors = _console_errors(page)
    outside = _offline(page)
    lon, lat = _floodplain_point(N_REACHES - 2)
    _open_map(page, live_server, f"/map#map=14/{lat}/{lon}&layers=fields,deposits,streams,mined")
    point = page.evaluate(f"window.footprintMap.pagePoint({lat}, {lon})")
    page.mouse.click(point["x"], point["y"])
    page.wait_for_selector(".leaflet-popup .deposit-popup", timeout=30_000)
    popup = page.inner_text(".leaflet-popup .deposit-popup")
    assert popup.startswith("floodplain")
    assert f"version {record.version}" in popup
    clicked = page.evaluate("window.footprintMap.lastPopup.properties")
    stored = [f for f in store.deposit_features("gh-birim", version=record.version,
                                                limit=1000)[0]
              if str(f["id"]) == f"{record.version}-{clicked['feature_index']}"][0]
    assert stored["properties"]["deposit_class"] == "floodplain"
    area = float(page.get_attribute(".deposit-popup [data-field='area']", "data-value"))
    assert area == pytest.approx(stored["properties"]["area_m2"], rel=1e-6)
    hectares = area / 1e4
    shown_ha = f"{hectares:,.0f}" if hectares >= 100 else f"{hectares:,.2f}".rstrip("0").rstrip(".")
    assert f"area {shown_ha} ha" in popup
    share = float(page.get_attribute(".deposit-popup [data-field='share']", "data-value"))
    assert share == pytest.approx(shares["floodplain"], rel=1e-9)
    assert f"{100 * share:.1f}".rstrip("0").rstrip(".") + " %" in popup
    ARTIFACTS.mkdir(exist_ok=True)
    # Leaflet fades a popup in (opacity 0 -> 1): shoot it once it is fully shown
    page.wait_for_function("getComputedStyle(document.querySelector('.leaflet-popup'))"
                           ".opacity === '1'")
    page.screenshot(path=str(ARTIFACTS / "map-popup.png"))
    assert outside == []
    assert console_errors == []


def _check_compare_panel(page, store, record) -> None:
    """The compare of v1 -> v2 says what changed: resource and capacity P5/P50/P95 of both
    and their difference, deposits added / removed / changed class, the layers and other
    inputs that differ."""
    older = store.get_footprint("gh-birim", record.version - 1)
    for block, key in (("resource", "resource_ct"), ("capacity", "capacity_ct_per_year")):
        before, after = older.summaries[block][key], record.summaries[block][key]
        for stat in ("p5", "p50", "p95"):
            cell = (f"#compare-table tr[data-output='{key}'][data-row='difference'] "
                    f"td[data-stat='{stat}']")
            assert float(page.get_attribute(cell, "data-value")) == pytest.approx(
                after[stat] - before[stat], rel=1e-9), (key, stat)
            shown = page.inner_text(cell)
            assert shown.lstrip("+−") == displayed(abs(after[stat] - before[stat])), (key, shown)
            assert shown[0] == ("+" if after[stat] > before[stat] else "−")
            assert page.inner_text(f"#compare-table tr[data-output='{key}'][data-row='to'] "
                                   f"td[data-stat='{stat}']") == displayed(after[stat])
    n_added = 2 * len(VALLEY_CLASSES)
    assert (f"{n_added} added, 0 removed, 1 changed class"
            in page.inner_text("#compare-deposits"))
    change = page.locator("#compare-class-changes tr[data-from='high_terrace']"
                          "[data-to='low_terrace']")
    assert change.count() == 1 and "high terrace → low terrace" in change.inner_text()
    layer = page.locator("#compare-layers tr[data-status='added']")
    assert layer.count() == 1 and "pits.geojson" in layer.inner_text()
    assert "abababababab" in layer.inner_text()  # its sha256 in v2, none in v1
    assert "dem:N06W001.hgt: 111111111111 → 222222222222" in page.inner_text(
        "#compare-other-inputs")


def test_version_selector_compare_and_time_slider(browser_page, live_server,
                                                  stored_footprint, store):
    record, _, n_deposits, _ = stored_footprint
    n_v1 = n_deposits - 2 * len(VALLEY_CLASSES)
    page = browser_page
    console_errors = _console_errors(page)
    outside = _offline(page)
    lon, lat = AKWATIA
    _open_map(page, live_server, f"/map#map=12/{lat}/{lon}&layers=fields,deposits,compare,mined"
                                 "&field=gh-birim")
    page.wait_for_selector("#field-info[data-loaded='true'] #version-select", timeout=30_000)
    options = page.locator("#version-select option")
    assert [options.nth(i).get_attribute("value") for i in range(options.count())] == [
        str(record.version), str(record.version - 1)]

    # the older version: its deposits are drawn from its own (immutable) tiles
    page.select_option("#version-select", str(record.version - 1))
    page.wait_for_selector(f"#field-info[data-loaded='true'][data-version='{record.version - 1}']",
                           timeout=30_000)
    _wait_for_tiles(page)
    assert page.evaluate("window.footprintMap.drawnDeposits('gh-birim')") == n_v1
    assert f"v={record.version - 1}" in page.evaluate("window.location.hash")

    # compare with the latest: its outline over the map and the compare table
    page.select_option("#compare-select", str(record.version))
    page.wait_for_selector("#compare-holder[data-loaded='true'] #compare-table", timeout=30_000)
    _wait_for_tiles(page)
    assert page.evaluate("window.footprintMap.drawnCompare('gh-birim')") == n_deposits
    _check_compare_panel(page, store, record)
    assert f"cmp={record.version}" in page.evaluate("window.location.hash")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map-compare.png"))
    page.locator("#compare-holder").screenshot(path=str(ARTIFACTS / "map-compare-panel.png"))

    # the time slider: pits mined up to 2006, then up to 2007
    page.wait_for_selector("#mined-year:not([disabled])", timeout=30_000)
    assert page.get_attribute("#mined-year", "min") == "2006"
    assert page.get_attribute("#mined-year", "max") == "2007"
    for year, expected in ((2006, 1), (2007, 2)):
        page.evaluate(f"""() => {{ const input = document.getElementById('mined-year');
            input.value = '{year}'; input.dispatchEvent(new Event('input')); }}""")
        _wait_for_tiles(page)
        assert page.evaluate("window.footprintMap.drawnMined('gh-birim')") == expected, year
        assert page.inner_text("#mined-year-label") == str(year)
    page.evaluate("""() => { const input = document.getElementById('mined-year');
        input.value = '2006'; input.dispatchEvent(new Event('input')); }""")
    _wait_for_tiles(page)
    page.screenshot(path=str(ARTIFACTS / "map-time-slider.png"))
    assert outside == []
    assert console_errors == []


def test_offline_basemap_labels_the_towns_and_usgs_shows_diamond_sites(
        browser_page, live_server, stored_footprint, settings):
    from api.feature_collections import usgs_mine_points

    page = browser_page
    console_errors = _console_errors(page)
    outside = _offline(page)
    _open_map(page, live_server, "/map")
    counts = page.evaluate("window.footprintMap.counts")
    assert counts["basemap"]["countries"] > 40 and counts["basemap"]["rivers"] > 100
    assert counts["basemap"]["lakes"] > 0 and counts["basemap"]["towns"] == 5
    towns = page.locator(".leaflet-tooltip.town-label")
    labels = {towns.nth(i).inner_text() for i in range(towns.count())
              if towns.nth(i).is_visible()}
    assert {"Akwatia", "Kade", "Séguéla", "Tortiya", "Mutare"} <= labels
    assert page.locator(".leaflet-basemap-pane path").count() > 40  # country borders
    # USGS points: the diamond sites are on, every other site is a layer that is off
    points = usgs_mine_points(settings.data_dir)
    diamond = [p for p in points if "Diamond" in (p["properties"]["commodities"] or "")]
    assert counts["usgsDiamond"] == len(diamond) > 0
    assert counts["usgsOther"] == len(points) - len(diamond)
    assert page.locator(".leaflet-points-pane path").count() == len(diamond)
    assert "usgs_other" not in page.evaluate("window.location.hash")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map-basemap.png"))
    lon, lat = AKWATIA
    _open_map(page, live_server, f"/map#map=11/{lat + 0.03}/{lon}&layers=fields,deposits")
    page.screenshot(path=str(ARTIFACTS / "map-basemap-birim.png"))
    assert page.locator(".leaflet-tooltip.town-label", has_text="Kade").is_visible()
    assert outside == []
    assert console_errors == []


def test_monitor_signs_in_once_and_the_report_link_opens(browser_page, live_server,
                                                         stored_footprint, store, monkeypatch):
    import api.routers.layers as layers

    # the report itself has its own tests: here it is the sign-in that must open it
    monkeypatch.setattr(layers.report_service, "make_report",
                        lambda store, settings, iso3, *a, **k: {"participant": iso3})
    monkeypatch.setattr(layers.report_service, "render_report",
                        lambda report, fmt, _: f"<h1>Anomaly report {report['participant']}</h1>")
    page = browser_page
    console_errors = _console_errors(page)
    outside = _offline(page)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    _, key = store.create_api_key("browser-monitor", "monitor")
    _open_map(page, live_server, "/map?field=gh-birim")
    page.evaluate("window.footprintMap.selectField('gh-birim')")
    page.wait_for_selector("#report-link", timeout=30_000)
    href = page.get_attribute("#report-link", "href")
    # before signing in the report is refused
    assert page.request.get(href).status == 401
    page.fill("#session-key", key)
    page.click("#session-form button[type='submit']")
    page.wait_for_selector("#session-user", timeout=30_000)
    assert "browser-monitor (monitor)" in page.inner_text("#session-user")
    cookie = [c for c in page.context.cookies() if c["name"] == "footprint_session"][0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script can read it
    # the map's link opens the HTML report in a new tab, with the cookie and no key
    with page.context.expect_event("response", lambda r: r.url == href) as answered:
        with page.expect_popup() as opened:
            page.click("#report-link")
    assert answered.value.status == 200
    report = opened.value
    report.wait_for_load_state()
    assert report.inner_text("h1") == "Anomaly report GHA"
    report.screenshot(path=str(ARTIFACTS / "map-report.png"))
    report.close()
    page.click("#session-sign-out")
    page.wait_for_selector("#session-form", timeout=30_000)
    assert [c for c in page.context.cookies() if c["name"] == "footprint_session"] == []
    assert page.request.get(href).status == 401
    assert not any(key in u for u in requested)
    assert outside == []
    assert [e for e in console_errors if "401" not in e] == []


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
    # every hillshade tile in view is drawn (the screenshot shows whether they meet)
    page.wait_for_function("""() => { const tiles = [...document.querySelectorAll('img.leaflet-tile')]
        .filter((i) => i.src.includes('/hillshade/'));
        return tiles.length >= 6 && tiles.every((i) => i.complete && i.naturalWidth === 256); }""",
                           timeout=30_000)
    page.wait_for_timeout(500)  # Leaflet fades tiles in over 200 ms
    view = page.evaluate("""() => { const m = window.footprintMap.map;
        return {zoom: m.getZoom(), lat: m.getCenter().lat, lon: m.getCenter().lng}; }""")
    assert view["zoom"] == 12 and abs(view["lat"] - lat) < 1e-3 and abs(view["lon"] - lon) < 1e-3
    assert "layers=fields,deposits,hillshade" in page.evaluate("window.location.hash")
    # the USGS layer of other (non-diamond) sites is not on, being absent from the hash
    assert "usgs_other" not in page.evaluate("window.location.hash")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map-hillshade.png"))
    assert outside == [], outside


#: A valley of the Akposso plateau, inside tg-plateaux's area of interest (lon, lat).
PLATEAUX = (0.75, 7.45)


def _plateaux_version(store, settings, version_tag: str, rasters: tuple[str, ...]):
    """A tg-plateaux version with a few deposits and synthetic HAND / MRVBF COGs (UTM 31N,
    200 m cells, 12 x 12 km around PLATEAUX): HAND rises eastwards 0-30 m."""
    from pyproj import Transformer
    from rasterio.transform import from_origin
    from shapely.geometry import box

    from footprint.io.raster import write_cog

    directory = Path("footprints") / "tg-plateaux" / version_tag
    (settings.state_dir / directory).mkdir(parents=True, exist_ok=True)
    east, north = Transformer.from_crs(4326, 32631, always_xy=True).transform(*PLATEAUX)
    transform = from_origin(east - 6000, north + 6000, 200, 200)
    grids = {"hand": np.tile(np.linspace(0, 30, 60, dtype="float32"), (60, 1)),
             "mrvbf": np.tile(np.linspace(0, 6, 60, dtype="float32")[:, None], (1, 60))}
    paths = {}
    for name in rasters:
        write_cog(settings.state_dir / directory / f"{name}.tif", grids[name], transform, 32631,
                  dtype="float32")
        paths[name] = str(directory / f"{name}.tif")
    lon, lat = PLATEAUX
    deposits = gpd.GeoDataFrame(
        {"deposit_class": ["floodplain", "low_terrace"], "mode": "terrain"},
        geometry=[box(lon - 0.02, lat - 0.004, lon + 0.02, lat + 0.004),
                  box(lon - 0.02, lat + 0.004, lon + 0.02, lat + 0.01)], crs=4326)
    return store.add_footprint(
        "tg-plateaux", deposits=deposits, seed=11, n_draws=N_DRAWS, code_version="test",
        sheet_sha256=None, parameters={}, summaries={}, provenance={"inputs": {"test": version_tag}},
        draws_path=None, rasters=paths)


def _raster_tiles(page, field_id: str, name: str) -> list[str]:
    """URLs of the drawn (complete, 256-pixel) raster tiles of a field's raster."""
    return page.evaluate(f"""() => [...document.querySelectorAll('img.leaflet-tile')]
        .filter((i) => i.src.includes('/fields/{field_id}/footprint/rasters/{name}/tiles/'))
        .filter((i) => i.complete && i.naturalWidth === 256).map((i) => i.src)""")


@pytest.mark.slow
@pytest.mark.skipif(not (get_settings().data_dir / "dem" / "srtm3" / "N07E000.hgt").is_file(),
                    reason="no bundled SRTM tile over tg-plateaux")
def test_raster_layers_follow_the_field_and_version_shown(browser_page, live_server,
                                                          stored_footprint, store, settings):
    """A second field, tg-plateaux: its own hillshade (bundled SRTM) and the HAND and MRVBF
    of the version it shows, from the service's raster listing, with legends, carried
    by the URL hash; an older version without MRVBF draws none."""
    older = _plateaux_version(store, settings, "v-hand", ("hand",))
    latest = _plateaux_version(store, settings, "v-both", ("hand", "mrvbf"))
    page = browser_page
    console_errors = _console_errors(page)
    outside = _offline(page)
    lon, lat = PLATEAUX
    _open_map(page, live_server, f"/map#map=12/{lat}/{lon}&layers=fields,deposits,hillshade,hand"
                                 "&field=tg-plateaux")
    page.wait_for_selector("#field-info[data-field='tg-plateaux'][data-loaded='true']",
                           timeout=30_000)
    page.wait_for_function("""() => ['hillshade', 'hand'].every((n) =>
        [...document.querySelectorAll('img.leaflet-tile')].filter((i) =>
            i.src.includes(`/fields/tg-plateaux/footprint/rasters/${n}/tiles/`)).length >= 4 &&
        [...document.querySelectorAll('img.leaflet-tile')].filter((i) => i.src.includes('/rasters/'))
            .every((i) => i.complete))""", timeout=60_000)
    hand = _raster_tiles(page, "tg-plateaux", "hand")
    assert len(hand) >= 4 and all(u.endswith(f"?version={latest.version}") for u in hand)
    assert len(_raster_tiles(page, "tg-plateaux", "hillshade")) >= 4
    assert _raster_tiles(page, "gh-birim", "hillshade") == []  # out of view: never asked
    assert _raster_tiles(page, "tg-plateaux", "mrvbf") == []  # its overlay is off
    # the layers control lists every raster some field has, the legend the ones shown
    control = page.inner_text(".leaflet-control-layers-overlays")
    for title in ("Hillshade", "Elevation (SRTM", "Height above nearest drainage",
                  "Multi-resolution valley bottom flatness"):
        assert title in control, title
    ramps = page.locator(".legend .raster-legend")
    assert [ramps.nth(i).get_attribute("data-raster") for i in range(ramps.count())] == [
        "hillshade", "hand"]
    assert all(ramps.nth(i).get_attribute("data-field") == "tg-plateaux"
               for i in range(ramps.count()))
    hand_legend = page.inner_text(".legend .raster-legend[data-raster='hand']")
    assert "Height above nearest drainage" in hand_legend and "30 m" in hand_legend
    assert "layers=fields,deposits,hillshade,hand" in page.evaluate("window.location.hash")
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)  # Leaflet fades tiles in over 200 ms
    page.screenshot(path=str(ARTIFACTS / "map-rasters-plateaux.png"))

    # MRVBF on, through the hash: the legend follows
    page.evaluate("""() => { window.location.hash = window.location.hash.replace(
        'layers=fields,deposits,hillshade,hand', 'layers=fields,deposits,hand,mrvbf'); }""")
    page.wait_for_function("document.querySelector(\".legend .raster-legend[data-raster='mrvbf']\")",
                           timeout=30_000)
    page.wait_for_function("""() => [...document.querySelectorAll('img.leaflet-tile')]
        .filter((i) => i.src.includes('/fields/tg-plateaux/footprint/rasters/mrvbf/tiles/')
                       && i.complete && i.naturalWidth === 256).length >= 4""", timeout=60_000)
    assert _raster_tiles(page, "tg-plateaux", "hillshade") == []

    # the older version: its HAND tiles, and no MRVBF (it has none)
    page.select_option("#version-select", str(older.version))
    page.wait_for_selector(f"#field-info[data-loaded='true'][data-version='{older.version}']",
                           timeout=30_000)
    page.wait_for_function(f"""() => [...document.querySelectorAll('img.leaflet-tile')]
        .filter((i) => i.src.includes('/rasters/hand/tiles/')).every((i) =>
            i.src.endsWith('?version={older.version}'))""", timeout=30_000)
    assert page.locator("img.leaflet-tile[src*='/rasters/mrvbf/']").count() == 0
    assert page.locator(".legend .raster-legend[data-raster='mrvbf']").count() == 0
    assert f"v={older.version}" in page.evaluate("window.location.hash")
    assert outside == [], outside
    assert console_errors == []


@pytest.mark.slow
@pytest.mark.skipif(not (get_settings().data_dir / "dem" / "srtm3" / "N07E000.hgt").is_file(),
                    reason="no bundled SRTM tile over tg-plateaux")
@pytest.mark.parametrize("late_answer", ["listing", "network error"])
def test_a_late_raster_listing_of_an_older_version_is_not_drawn(
        browser_page, live_server, stored_footprint, store, settings, late_answer):
    """Switching tg-plateaux to an older version and straight back: the older version's
    raster listing answers last (held here until the latest one is drawn) and is dropped,
    a listing or an error alike, so the tile layers stay those of the version the panel
    shows and no failure is reported."""
    older = _plateaux_version(store, settings, "v-hand", ("hand",))
    latest = _plateaux_version(store, settings, "v-both", ("hand", "mrvbf"))
    page = browser_page
    console_errors = _console_errors(page)
    outside = _offline(page)
    held = []
    page.route(f"**/fields/tg-plateaux/footprint/raster-layers?version={older.version}",
               lambda route: held.append(route))
    lon, lat = PLATEAUX
    _open_map(page, live_server, f"/map#map=12/{lat}/{lon}&layers=fields,deposits,hand,mrvbf"
                                 "&field=tg-plateaux")
    page.wait_for_selector("#field-info[data-field='tg-plateaux'][data-loaded='true']",
                           timeout=30_000)
    # every raster listing the page asks for from here on, settled (drawn or dropped)
    page.evaluate("""() => { const rasters = window.footprintMap.rasters, load = rasters.load;
        window.rasterLoads = [];
        rasters.load = (...args) => { const p = load(...args);
            window.rasterLoads.push(p.catch(() => null)); return p; }; }""")
    page.select_option("#version-select", str(older.version))
    page.wait_for_selector(f"#field-info[data-loaded='true'][data-version='{older.version}']",
                           timeout=30_000)
    page.select_option("#version-select", str(latest.version))
    page.wait_for_selector(f"#field-info[data-loaded='true'][data-version='{latest.version}']",
                           timeout=30_000)
    page.wait_for_function("window.rasterLoads.length === 2", timeout=30_000)
    page.evaluate("() => window.rasterLoads[1]")  # the latest listing, drawn
    assert len(held) == 1  # the older one, still unanswered
    if late_answer == "listing":
        held[0].continue_()
    else:
        held[0].abort("internetdisconnected")
    page.evaluate("() => Promise.all(window.rasterLoads)")
    drawn = page.evaluate("""() => { const r = window.footprintMap.rasters;
        return {listed: r.listed['tg-plateaux'].version,
                hand: r.overlays.hand.getLayers().map((l) => l.options.rasterUrl),
                mrvbf: r.overlays.mrvbf.getLayers().length}; }""")
    assert drawn["listed"] == latest.version
    assert drawn["hand"] and all(u.endswith(f"?version={latest.version}") for u in drawn["hand"])
    assert drawn["mrvbf"] == 1
    _wait_for_tiles(page)
    hand = _raster_tiles(page, "tg-plateaux", "hand")
    assert hand and all(u.endswith(f"?version={latest.version}") for u in hand)
    assert f"v={older.version}" not in page.evaluate("window.location.hash")
    assert page.evaluate("window.footprintMap.failed") == []
    assert outside == [], outside
    assert [e for e in console_errors if "ERR_INTERNET_DISCONNECTED" not in e] == []
