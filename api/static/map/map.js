/*
 * The footprint map. Deposits, their stream network (the active-channel class) and mined
 * areas are drawn from the service's Mapbox Vector Tiles (Leaflet.VectorGrid, SVG tiles so
 * that each polygon takes its own clicks); fields and USGS points from OGC API - Features;
 * the raster layers (hillshade, DEM, HAND, MRVBF) from raster tiles, as each field lists
 * them for the version it shows (rasters.js); the basemap from the data directory
 * (basemap.js). Everything is served by the service: the page works offline.
 *
 * A field's panel has a version selector and a compare of two versions (the second one
 * outlined over the first, and what GET fields/{id}/footprints/compare says changed:
 * compare.js); a slider shows mined areas up to a year. The URL hash keeps the view, the
 * layers (raster ones included), the field, its version, the compared version and the year.
 *
 * State for tests and the curious is on window.footprintMap: `ready`, `failed`, `counts`,
 * `rasters` (the raster overlays and each field's listing),
 * `drawnDeposits(id)` / `drawnMined(id)` (distinct features drawn in the loaded tiles),
 * `tilesIdle()`, `lastPopup`, `selectField(id)`, `showVersion(id, v)`,
 * `compareWith(id, v)`, `setMinedYear(y)`, `pagePoint(lat, lng)` and
 * `fieldClickPoint(id)` (a page pixel inside a field's area where a click reaches the map).
 */
(function () {
  "use strict";

  const F = window.FootprintFormat;
  const { el } = F;
  // Relative to the page (served at <root>/map), so a path prefix behind a proxy works.
  const ROOT = new URL(".", document.baseURI);
  const PAGE_LIMIT = 1000; // the server clamps larger values to its maximum
  const MAX_PAGES = 1000;
  const REPORT_YEARS = { from: 2003, to: 2015 };
  // Below this zoom a field is a few pixels wide: its outline says enough, and no tile
  // of thousands of deposits is asked for.
  const VECTOR_MIN_ZOOM = 7;
  const STYLE = {
    // No fill: the outline sits above the deposits, and clicks inside it must reach them.
    field: { color: "#2f3e46", weight: 2.5, fill: false, dashArray: "6 4" },
    fieldSelected: { color: "#d00000", weight: 3.5, fill: false, dashArray: null },
    stream: { color: "#08306b", weight: 1.5, fill: false, opacity: 0.9 },
    mined: { color: "#7f2704", weight: 1, fill: true, fillColor: "#d94801", fillOpacity: 0.55 },
    compare: { color: "#d00000", weight: 1.6, fill: false, dashArray: "4 3", opacity: 0.95 },
    usgs: { radius: 3, color: "#555", weight: 1, fillColor: "#bbb", fillOpacity: 0.9 },
    usgsDiamond: { radius: 5, color: "#7a0177", weight: 1, fillColor: "#f768a1", fillOpacity: 0.95 },
  };

  const state = {
    ready: false,
    failed: [],
    counts: { fields: 0, usgs: 0, usgsDiamond: 0, usgsOther: 0, basemap: null },
    depositClasses: new Set(),
    fields: {},          // id -> {id, feature, layer, doc, rings, bounds}
    versions: {},        // id -> version summaries, newest first
    shownVersion: {},    // id -> the version drawn (absent: the latest)
    compareVersion: {},  // id -> the version outlined over it (absent: none)
    minedYears: new Set(),
    minedYear: null,     // null: every year
    selectedField: null,
    session: { signed_in: false },
    lastPopup: null,
    map: null,
  };
  window.footprintMap = state;
  const seen = { deposits: {}, streams: {}, mined: {}, compare: {} }; // kind -> field -> Set
  const grids = { deposits: {}, streams: {}, mined: {}, compare: {} }; // kind -> field -> layer
  const footprintDocs = {}; // "field:version" -> Promise of the footprint document

  const statusEl = document.getElementById("status");
  const infoEl = document.getElementById("field-info");

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", Boolean(isError));
  }

  function url(path) {
    return new URL(path, ROOT).toString();
  }

  async function getJSON(href) {
    const response = await fetch(href, { headers: { Accept: "application/geo+json, application/json" } });
    if (!response.ok) {
      let detail = "";
      try { detail = (await response.json()).detail || ""; } catch (_) { /* not JSON */ }
      throw new Error(`${response.status} ${detail || response.statusText} (${href})`);
    }
    return response.json();
  }

  /** Every feature of a collection, following the OGC `next` links page by page. */
  async function fetchAllFeatures(collectionId) {
    const first = new URL(url(`collections/${encodeURIComponent(collectionId)}/items`));
    first.searchParams.set("limit", String(PAGE_LIMIT));
    const features = [];
    let next = first.toString();
    for (let page = 0; next && page < MAX_PAGES; page += 1) {
      const body = await getJSON(next);
      const batch = body.features || [];
      features.push(...batch);
      const link = (body.links || []).find((l) => l.rel === "next");
      next = batch.length > 0 && link ? link.href : null;
    }
    return features;
  }

  function footprintDoc(fieldId, version) {
    const key = `${fieldId}:${version}`;
    if (!footprintDocs[key]) {
      footprintDocs[key] = getJSON(url(`fields/${encodeURIComponent(fieldId)}/footprint?version=${version}`));
      footprintDocs[key].catch(() => { delete footprintDocs[key]; });
    }
    return footprintDocs[key];
  }

  function latestVersion(fieldId) {
    const doc = (state.fields[fieldId] || {}).doc;
    return doc ? doc.latest_footprint_version : null;
  }

  function shownVersion(fieldId) {
    return state.shownVersion[fieldId] || latestVersion(fieldId);
  }

  // ----------------------------------------------------------------------------------
  // Map, panes, basemaps

  // explicit zoom limits: else the vector grids' minZoom would become the map's own
  const map = L.map("map", { zoomControl: true, zoomSnap: 0.25, minZoom: 2, maxZoom: 20 });
  state.map = map;
  map.setView([7, 0], 5);
  [["depositsPane", 410], ["comparePane", 415], ["streamsPane", 420], ["fieldsPane", 425],
    ["minedPane", 430], ["pointsPane", 440]].forEach(([name, z]) => { map.createPane(name).style.zIndex = z; });
  // the outline panes draw on top but must let clicks through to the deposits
  ["comparePane", "streamsPane"].forEach((name) => { map.getPane(name).style.pointerEvents = "none"; });
  L.control.scale({ imperial: false }).addTo(map);

  const basemap = window.FootprintBasemap.create(map, url);
  basemap.group.addTo(map);
  const osm = L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19, attribution: "&copy; OpenStreetMap contributors" });
  osm.on("tileerror", () => setStatus("OpenStreetMap unavailable (offline?)", false));

  const fieldsLayer = L.featureGroup().addTo(map);
  const depositsLayer = L.layerGroup().addTo(map);
  const streamsLayer = L.layerGroup().addTo(map);
  const compareLayer = L.layerGroup().addTo(map);
  const minedLayer = L.layerGroup().addTo(map);
  const usgsLayer = L.featureGroup().addTo(map);
  const usgsOtherLayer = L.featureGroup(); // gold, cement, quarries ...: off by default

  const overlayKeys = { fields: fieldsLayer, deposits: depositsLayer, streams: streamsLayer,
    compare: compareLayer, mined: minedLayer, usgs: usgsLayer, usgs_other: usgsOtherLayer };
  const layersControl = L.control.layers(
    { "Offline basemap (Natural Earth, GSHHG)": basemap.group, "OpenStreetMap (needs network)": osm },
    {
      "Fields (areas of interest)": fieldsLayer,
      "Deposits by class (vector tiles)": depositsLayer,
      "Stream network (active channel)": streamsLayer,
      "Compared version (outline)": compareLayer,
      "Mined areas (surveys)": minedLayer,
      "USGS diamond sites": usgsLayer,
      "USGS other mineral sites": usgsOtherLayer,
    },
    { collapsed: false, position: "topright" },
  ).addTo(map);

  // Raster tiles of the service (rio-tiler PNGs; the DEM ones from the bundled SRTM, so
  // they work offline), off by default: one overlay per raster, over every field that
  // lists it, each field at the version it shows (rasters.js).
  const rasters = window.FootprintRasters.create(map, layersControl, url, getJSON);
  const RASTER_ORDER = ["hillshade", "dem", "hand", "mrvbf", "streams"];
  const rank = (name) => (RASTER_ORDER.includes(name) ? RASTER_ORDER.indexOf(name) : RASTER_ORDER.length);

  /** Every overlay by its hash key: the fixed ones, then the rasters in a fixed order. */
  function allOverlays() {
    const names = Object.keys(rasters.overlays).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    return [...Object.entries(overlayKeys), ...names.map((name) => [name, rasters.overlays[name]])];
  }

  /** The field the user looks at: the selected one, else the one under the map's centre. */
  function currentField() {
    return state.selectedField || fieldAt(map.getCenter());
  }

  async function loadRasters(fieldId) {
    try {
      await rasters.load(fieldId, shownVersion(fieldId) || null);
    } catch (err) {
      state.failed.push(`rasters of ${fieldId}`);
      console.warn(`could not list the rasters of ${fieldId}: ${err.message}`);
    }
    legend.update();
  }

  // ----------------------------------------------------------------------------------
  // Vector tiles

  function tileUrl(collectionId, version) {
    const href = url(`collections/${encodeURIComponent(collectionId)}/tiles/WebMercatorQuad/`) + "{z}/{x}/{y}";
    return version ? `${href}?version=${version}` : href;
  }

  function note(kind, fieldId, key) {
    (seen[kind][fieldId] = seen[kind][fieldId] || new Set()).add(key);
  }

  function vectorGrid(collectionId, version, fieldId, pane, styles, interactive) {
    return L.vectorGrid.protobuf(tileUrl(collectionId, version), {
      pane, interactive, rendererFactory: L.svg.tile, vectorTileLayerStyles: styles,
      minZoom: VECTOR_MIN_ZOOM, maxNativeZoom: 18, maxZoom: 22,
      bounds: state.fields[fieldId].bounds.pad(0.05), // no request where the field has nothing
      fetchOptions: { credentials: "same-origin" },
    });
  }

  let legendQueued = false;
  function depositStyle(fieldId) {
    return (props) => {
      const cls = props.deposit_class || "unknown";
      note("deposits", fieldId, props.feature_index);
      if (!state.depositClasses.has(cls)) {
        state.depositClasses.add(cls);
        if (!legendQueued) { legendQueued = true; requestAnimationFrame(() => { legendQueued = false; legend.update(); }); }
      }
      const colour = F.depositColour(cls);
      return { color: colour, weight: 0.6, fill: true, fillColor: colour, fillOpacity: 0.6 };
    };
  }

  function streamStyle(fieldId) {
    return (props) => {
      if (props.deposit_class !== "active_channel") return [];
      note("streams", fieldId, props.feature_index);
      return STYLE.stream;
    };
  }

  function compareStyle(fieldId) {
    return (props) => { note("compare", fieldId, props.feature_index); return STYLE.compare; };
  }

  function minedStyle(fieldId) {
    return (props) => {
      const year = Number.isFinite(Number(props.year)) && props.year !== null ? Number(props.year) : null;
      if (year !== null && !state.minedYears.has(year)) { state.minedYears.add(year); slider.update(); }
      if (state.minedYear !== null && (year === null || year > state.minedYear)) return [];
      note("mined", fieldId, `${props.layer_id}:${props.feature_index}`);
      return STYLE.mined;
    };
  }

  function replaceGrid(kind, fieldId, grid, group) {
    if (grids[kind][fieldId]) group.removeLayer(grids[kind][fieldId]);
    delete grids[kind][fieldId];
    seen[kind][fieldId] = new Set();
    if (grid) { grids[kind][fieldId] = grid; grid.addTo(group); }
  }

  function drawDeposits(fieldId) {
    const version = state.shownVersion[fieldId] || null; // null: the latest (revalidated)
    const collection = `deposits-${fieldId}`;
    const deposits = vectorGrid(collection, version, fieldId, "depositsPane",
      { deposits: depositStyle(fieldId) }, true);
    deposits.on("click", (e) => openDepositPopup(fieldId, e));
    replaceGrid("deposits", fieldId, deposits, depositsLayer);
    replaceGrid("streams", fieldId, vectorGrid(collection, version, fieldId, "streamsPane",
      { deposits: streamStyle(fieldId) }, false), streamsLayer);
  }

  function drawCompare(fieldId) {
    const version = state.compareVersion[fieldId];
    replaceGrid("compare", fieldId, version ? vectorGrid(`deposits-${fieldId}`, version, fieldId,
      "comparePane", { deposits: compareStyle(fieldId) }, false) : null, compareLayer);
  }

  function drawMined(fieldId) {
    const mined = vectorGrid(`mined-areas-${fieldId}`, null, fieldId, "minedPane",
      { mined_areas: minedStyle(fieldId) }, true);
    mined.on("click", (e) => {
      const p = (e.layer && e.layer.properties) || {};
      state.lastPopup = { kind: "mined", fieldId, properties: p };
      L.popup().setLatLng(e.latlng).setContent(`<strong>mined area</strong><br>field ${F.escapeHtml(fieldId)}` +
        (p.year !== undefined && p.year !== null ? `<br>year ${F.escapeHtml(p.year)}` : "<br>year not recorded") +
        `<br>survey layer #${F.escapeHtml(p.layer_id)}`).openOn(map);
    });
    replaceGrid("mined", fieldId, mined, minedLayer);
  }

  async function openDepositPopup(fieldId, e) {
    const props = (e.layer && e.layer.properties) || {};
    const version = shownVersion(fieldId);
    let footprint = null;
    try { footprint = await footprintDoc(fieldId, version); } catch (err) { console.warn(err.message); }
    const cls = props.deposit_class || "deposit";
    const { summary, share } = F.classResource(footprint, cls);
    state.lastPopup = { kind: "deposit", fieldId, version, properties: props, share };
    const mined = Number(props.mined_area_m2) > 0 ? `<br>mined ${F.formatArea(props.mined_area_m2)}` : "";
    L.popup({ maxWidth: 320 }).setLatLng(e.latlng).setContent(
      `<div class="deposit-popup"><strong>${F.escapeHtml(cls.replace(/_/g, " "))}</strong>` +
      `<br>field ${F.escapeHtml(fieldId)} · version ${F.escapeHtml(version)}` +
      `<br>area <span data-field="area" data-value="${F.escapeHtml(props.area_m2)}">${F.formatArea(props.area_m2)}</span>${mined}` +
      `<br>class share of resource <span data-field="share" data-value="${F.escapeHtml(share)}">${F.formatPercent(share)}</span>` +
      (summary ? `<br>class resource P50 ${F.formatQuantity(summary.p50)} ct` : "") + "</div>").openOn(map);
    selectField(fieldId);
  }

  /** Distinct deposits of a field drawn in the loaded tiles (0 when the layer is off). */
  function drawnDeposits(fieldId) {
    return map.hasLayer(depositsLayer) && seen.deposits[fieldId] ? seen.deposits[fieldId].size : 0;
  }

  function drawnOf(kind, layer) {
    return (fieldId) => (map.hasLayer(layer) && seen[kind][fieldId] ? seen[kind][fieldId].size : 0);
  }

  /** No vector tile is being fetched or drawn (a grid whose field is out of view has
   * no tile at all, and never fires its `load`). */
  function tilesIdle() {
    const idle = (g) => {
      const tiles = Object.values(g._tiles || {});
      return !g._map || (tiles.every((t) => t.loaded) && (tiles.length === 0 || !g.isLoading()));
    };
    return Object.values(grids).every((byField) => Object.values(byField).every(idle));
  }

  function redrawMined() {
    Object.entries(grids.mined).forEach(([fieldId, grid]) => { seen.mined[fieldId] = new Set(); grid.redraw(); });
  }

  // ----------------------------------------------------------------------------------
  // Time slider for mined areas and legend (controls.js)

  const slider = window.FootprintControls.timeSlider(map, state, (year) => setMinedYear(year));
  const legend = window.FootprintControls.legend(map, state, STYLE, VECTOR_MIN_ZOOM,
    () => rasters.legends(currentField()));
  map.on("overlayadd overlayremove moveend", () => legend.update());

  /** Show mined areas dated up to `year` (undated ones only with every year). */
  function setMinedYear(year) {
    state.minedYear = year === null || !Number.isFinite(Number(year)) ? null : Number(year);
    slider.update();
    redrawMined();
    writeHash();
  }

  window.FootprintPanel.install({ state, map, url, getJSON, footprintDoc, shownVersion, latestVersion,
    infoEl, REPORT_YEARS, STYLE, onVersion: showVersion, onCompare: compareWith });
  const panel = window.FootprintPanel;

  // ----------------------------------------------------------------------------------
  // Versions and compare

  /** Draw version `version` of a field's deposits (the latest when it is the latest). */
  function showVersion(fieldId, version) {
    if (!state.fields[fieldId]) return;
    if (!version || version === latestVersion(fieldId)) delete state.shownVersion[fieldId];
    else state.shownVersion[fieldId] = version;
    if (state.compareVersion[fieldId] === shownVersion(fieldId)) {
      delete state.compareVersion[fieldId];
      drawCompare(fieldId);
    }
    drawDeposits(fieldId);
    loadRasters(fieldId);
    writeHash();
    return selectField(fieldId);
  }

  /** Outline version `version` over the shown one and load the compare table. */
  function compareWith(fieldId, version) {
    if (!state.fields[fieldId]) return null;
    if (version && version !== shownVersion(fieldId)) state.compareVersion[fieldId] = version;
    else delete state.compareVersion[fieldId];
    drawCompare(fieldId);
    writeHash();
    return panel.renderCompare(fieldId);
  }

  function selectField(fieldId) {
    if (state.selectedField && state.fields[state.selectedField]) {
      state.fields[state.selectedField].layer.setStyle(STYLE.field);
    }
    if (state.fields[fieldId]) state.fields[fieldId].layer.setStyle(STYLE.fieldSelected);
    const shown = panel.selectField(fieldId);
    legend.update();
    return shown;
  }
  Object.assign(state, { rasters, selectField, showVersion, compareWith, setMinedYear, drawnDeposits, tilesIdle,
    drawnMined: drawnOf("mined", minedLayer), drawnStreams: drawnOf("streams", streamsLayer),
    drawnCompare: drawnOf("compare", compareLayer) });

  // ----------------------------------------------------------------------------------
  // URL hash: #map=zoom/lat/lon&layers=a,b&field=id&v=N&cmp=M&year=Y

  function readHash() {
    const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const view = (params.get("map") || "").split("/").map(Number);
    const number = (k) => (params.has(k) && Number.isFinite(Number(params.get(k))) ? Number(params.get(k)) : null);
    return { view: view.length === 3 && view.every(Number.isFinite) ? view : null,
      layers: params.has("layers") ? params.get("layers").split(",").filter(Boolean) : null,
      field: params.get("field"), version: number("v"), compare: number("cmp"), year: number("year") };
  }

  function writeHash() {
    if (!state.ready) return;
    const c = map.getCenter();
    const on = allOverlays().filter(([, layer]) => map.hasLayer(layer)).map(([k]) => k);
    let hash = `#map=${map.getZoom().toFixed(2).replace(/\.?0+$/, "")}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}` +
      `&layers=${on.join(",")}`;
    const fieldId = state.selectedField;
    if (fieldId) {
      hash += `&field=${encodeURIComponent(fieldId)}`;
      if (state.shownVersion[fieldId]) hash += `&v=${state.shownVersion[fieldId]}`;
      if (state.compareVersion[fieldId]) hash += `&cmp=${state.compareVersion[fieldId]}`;
    }
    if (state.minedYear !== null) hash += `&year=${state.minedYear}`;
    if (window.location.hash !== hash) history.replaceState(null, "", hash);
  }

  async function applyHash() {
    const { view, layers, field, version, compare, year } = readHash();
    if (layers) {
      allOverlays().forEach(([key, layer]) => {
        if (layers.includes(key)) layer.addTo(map); else map.removeLayer(layer);
      });
    }
    if (view) map.setView([view[1], view[2]], view[0], { animate: false });
    if (year !== null) setMinedYear(year);
    if (field && state.fields[field]) {
      if (version) await showVersion(field, version); else await selectField(field);
      if (compare) await compareWith(field, compare);
    }
    return view !== null;
  }
  map.on("moveend overlayadd overlayremove", writeHash);
  window.addEventListener("hashchange", applyHash);

  // ----------------------------------------------------------------------------------
  // Fields, clicks

  /** Rings (arrays of LatLng) of a GeoJSON Polygon or MultiPolygon, holes included. */
  function ringsOf(geometry) {
    const toLatLngs = (ring) => ring.map(([lng, lat]) => L.latLng(lat, lng));
    if (!geometry) return [];
    if (geometry.type === "Polygon") return geometry.coordinates.map(toLatLngs);
    if (geometry.type === "MultiPolygon") return geometry.coordinates.flat().map(toLatLngs);
    return [];
  }

  /** Even-odd test over every ring: inside an outer ring and not in one of its holes. */
  function insideRings(ll, rings) {
    let inside = false;
    rings.forEach((ring) => {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
        const a = ring[i];
        const b = ring[j];
        if ((a.lat > ll.lat) !== (b.lat > ll.lat) &&
            ll.lng < ((b.lng - a.lng) * (ll.lat - a.lat)) / (b.lat - a.lat) + a.lng) inside = !inside;
      }
    });
    return inside;
  }

  function fieldAt(latlng) {
    const hit = Object.values(state.fields).find((f) => f.bounds.contains(latlng) && insideRings(latlng, f.rings));
    return hit ? hit.id : null;
  }

  // A click inside a field's area selects it, whatever is drawn there.
  map.on("click", (e) => {
    const id = fieldAt(e.latlng);
    if (id && id !== state.selectedField) selectField(id);
  });

  function pagePoint(lat, lng) {
    const rect = map.getContainer().getBoundingClientRect();
    const pt = map.latLngToContainerPoint(L.latLng(lat, lng));
    return { x: rect.left + pt.x, y: rect.top + pt.y };
  }

  const BLOCKING = ".leaflet-control, .leaflet-tooltip, .leaflet-popup, .leaflet-fields-pane, " +
    ".leaflet-points-pane, .leaflet-mined-pane, .leaflet-interactive";

  /** A page pixel inside the field's area where a click reaches the map (not a control,
   * a label, a point or a deposit), for tests and deep links; null if none is found. */
  function fieldClickPoint(fieldId) {
    const field = state.fields[fieldId];
    if (!field) return null;
    const centre = field.bounds.getCenter();
    for (const pull of [0.85, 0.7, 0.5, 0.3]) {
      for (const p of field.rings.flat()) {
        const ll = L.latLng(p.lat + pull * (centre.lat - p.lat), p.lng + pull * (centre.lng - p.lng));
        if (!insideRings(ll, field.rings)) continue;
        const { x, y } = pagePoint(ll.lat, ll.lng);
        const hit = document.elementFromPoint(x, y);
        if (hit && map.getContainer().contains(hit) && !hit.closest(BLOCKING)) return { x, y, lat: ll.lat, lng: ll.lng };
      }
    }
    return null;
  }
  Object.assign(state, { pagePoint, fieldClickPoint });

  function addFields(features, docs) {
    features.forEach((feature) => {
      const id = String(feature.id);
      const layer = L.geoJSON(feature, { pane: "fieldsPane", style: STYLE.field });
      layer.bindTooltip(F.escapeHtml((feature.properties || {}).name || id), { sticky: true });
      layer.on("click", () => selectField(id));
      layer.addTo(fieldsLayer);
      const field = { id, feature, layer, doc: docs[id] || null, rings: ringsOf(feature.geometry), bounds: layer.getBounds() };
      state.fields[id] = field;
      // a labelled dot: the areas are a few pixels wide when all five fields are in view
      const marker = L.circleMarker(field.bounds.getCenter(), { pane: "fieldsPane", radius: 6,
        color: STYLE.field.color, weight: 2, fillColor: "#ffffff", fillOpacity: 1 });
      marker.bindTooltip(F.escapeHtml(id), { permanent: true, direction: "right", className: "field-label" });
      marker.on("click", (e) => { L.DomEvent.stopPropagation(e); zoomToField(id); });
      marker.addTo(fieldsLayer);
    });
    state.counts.fields = features.length;
    const items = Object.values(state.fields).map((f) => {
      const props = f.feature.properties || {};
      const button = el("button", { type: "button", "data-field": f.id, text: `${props.name || f.id} (${props.participant_iso3 || ""})` });
      button.addEventListener("click", () => zoomToField(f.id));
      return el("li", {}, [button]);
    });
    document.getElementById("field-list").replaceChildren(...items);
  }

  function zoomToField(fieldId) {
    const field = state.fields[fieldId];
    if (!field) return;
    map.fitBounds(field.bounds, { padding: [20, 20] });
    selectField(fieldId);
  }

  function addUsgs(features) {
    L.geoJSON(features, {
      pointToLayer: (f, ll) => L.circleMarker(ll, {
        ...((f.properties || {}).is_diamond ? STYLE.usgsDiamond : STYLE.usgs), pane: "pointsPane" }),
      onEachFeature: (f, layer) => {
        const p = f.properties || {};
        layer.bindTooltip(F.escapeHtml(`${p.name || f.id}${p.commodities ? ` (${p.commodities})` : ""} · USGS ${p.layer || ""}`));
      },
    }).eachLayer((marker) => {
      // diamond sites on by default; every other site is a layer of its own, off
      const diamond = Boolean((marker.feature.properties || {}).is_diamond);
      marker.addTo(diamond ? usgsLayer : usgsOtherLayer);
      state.counts[diamond ? "usgsDiamond" : "usgsOther"] += 1;
    });
    state.counts.usgs = features.length;
  }

  // ----------------------------------------------------------------------------------
  // Loading

  async function load() {
    window.FootprintSession.mount(document.getElementById("session"), url, (doc) => {
      state.session = doc;
      if (state.selectedField) panel.renderReportLink();
    });
    const [collectionsDoc, fieldsDoc] = await Promise.all([getJSON(url("collections")), getJSON(url("fields"))]);
    const available = new Set((collectionsDoc.collections || []).map((c) => c.id));
    const docs = {};
    (fieldsDoc.fields || []).forEach((f) => { docs[f.id] = f; });

    const fieldFeatures = await fetchAllFeatures("fields");
    addFields(fieldFeatures, docs);
    const hash = readHash();
    if (fieldsLayer.getLayers().length > 0 && !hash.view) {
      // room on the right for the legend, so no field label hides behind it
      map.fitBounds(fieldsLayer.getBounds(), { paddingTopLeft: [30, 30], paddingBottomRight: [300, 60] });
    }
    Object.keys(state.fields).forEach((id) => {
      if (available.has(`deposits-${id}`) && latestVersion(id)) drawDeposits(id);
      if (available.has(`mined-areas-${id}`)) drawMined(id);
    });
    // one field after the other: the layers control lists the rasters in a steady order
    const listing = Object.keys(state.fields).reduce((done, id) => done.then(() => loadRasters(id)), Promise.resolve());
    const jobs = [basemap.ready, listing];
    if (available.has("usgs-mines")) {
      jobs.push(fetchAllFeatures("usgs-mines").then(addUsgs).catch((err) => {
        state.failed.push("USGS mine points");
        console.warn(`could not load USGS points: ${err.message}`);
      }));
    }
    await Promise.all(jobs);
    basemap.failed.forEach((name) => state.failed.push(`basemap ${name}`));
    state.counts.basemap = basemap.counts;

    const wanted = new URLSearchParams(window.location.search).get("field");
    if (wanted && state.fields[wanted] && !hash.view) map.fitBounds(state.fields[wanted].bounds, { padding: [20, 20] });
    await applyHash();

    const built = Object.keys(state.fields).filter((id) => latestVersion(id)).length;
    setStatus(`${state.counts.fields} fields · ${built} with a footprint · ${state.counts.usgsDiamond} USGS diamond ` +
      `sites (${state.counts.usgsOther} other sites hidden)` +
      (state.failed.length ? ` · failed: ${state.failed.join(", ")}` : ""), state.failed.length > 0);
  }

  load()
    .catch((err) => {
      state.failed.push("the map");
      setStatus(`could not load the map data: ${err.message}`, true);
      console.warn(err);
    })
    .finally(() => {
      state.ready = true;
      writeHash();
      document.body.dataset.ready = "true";
    });
})();
