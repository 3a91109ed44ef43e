/*
 * The footprint map: reads the service's OGC API - Features collections and footprint
 * summaries, draws them with Leaflet (served by the service, no CDN) and shows a field's
 * resource and capacity when it is clicked.
 *
 * State for tests and the curious is on window.footprintMap: `ready` (all layers loaded),
 * `counts` (features loaded per layer and field), `drawnDeposits(id)` (deposit polygons
 * of a field on the map), `selectedField`, `map`, and `fieldClickPoint(id)` (a page
 * pixel inside a field's area).
 */
(function () {
  "use strict";

  // Relative to the page (served at <root>/map), so a path prefix behind a proxy works.
  const ROOT = new URL(".", document.baseURI);
  const PAGE_LIMIT = 1000; // the server clamps larger values to its maximum
  const MAX_PAGES = 1000;
  const REPORT_YEARS = { from: 2003, to: 2015 };

  const DEPOSIT_COLOURS = {
    active_channel: "#1f78b4",
    river_buffer: "#a6cee3",
    floodplain: "#33a02c",
    low_terrace: "#fdbf6f",
    high_terrace: "#ff7f00",
    palaeo_placer: "#6a3d9a",
    mapped: "#b15928",
  };
  const FALLBACK_COLOURS = ["#b15928", "#e31a1c", "#cab2d6", "#b2df8a", "#fb9a99", "#999999"];
  const STYLE = {
    // No fill: the outline sits above the deposits, and clicks inside it must reach them.
    field: { color: "#2f3e46", weight: 2.5, fill: false, dashArray: "6 4" },
    fieldSelected: { color: "#d00000", weight: 3.5, fill: false, dashArray: null },
    stream: { color: "#08306b", weight: 1.5, fill: false, opacity: 0.9 },
    mined: { color: "#7f2704", weight: 1, fillColor: "#d94801", fillOpacity: 0.55 },
    usgs: { radius: 3, color: "#555", weight: 1, fillColor: "#bbb", fillOpacity: 0.9 },
    usgsDiamond: { radius: 5, color: "#7a0177", weight: 1, fillColor: "#f768a1", fillOpacity: 0.95 },
  };

  const state = {
    ready: false,
    failed: [],
    counts: { fields: 0, deposits: {}, streams: {}, minedAreas: {}, usgs: 0 },
    depositClasses: new Set(),
    fields: {},        // id -> {feature, layer, doc}
    selectedField: null,
    map: null,
    fieldClickPoint: fieldClickPoint,
    selectField: selectField,
    drawnDeposits: drawnDeposits,
  };
  window.footprintMap = state;

  const statusEl = document.getElementById("status");
  const infoEl = document.getElementById("field-info");

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", Boolean(isError));
  }

  function url(path) {
    return new URL(path, ROOT).toString();
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => node.append(c));
    return node;
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
  async function fetchAllFeatures(collectionId, params) {
    const first = new URL(url(`collections/${encodeURIComponent(collectionId)}/items`));
    first.searchParams.set("limit", String(PAGE_LIMIT));
    Object.entries(params || {}).forEach(([k, v]) => first.searchParams.set(k, v));
    const features = [];
    let next = first.toString();
    for (let page = 0; next && page < MAX_PAGES; page += 1) {
      const body = await getJSON(next);
      const batch = body.features || [];
      features.push(...batch);
      reportProgress(collectionId, features.length, body.numberMatched);
      const link = (body.links || []).find((l) => l.rel === "next");
      next = batch.length > 0 && link ? link.href : null;
    }
    return features;
  }

  const progress = {}; // collection id -> [features loaded, number matched]

  function reportProgress(collectionId, loaded, matched) {
    progress[collectionId] = [loaded, Number.isFinite(matched) ? matched : loaded];
    if (state.ready) return;
    const [done, total] = Object.values(progress).reduce(([a, b], [x, y]) => [a + x, b + y], [0, 0]);
    setStatus(`loading… ${formatNumber(done)} / ${formatNumber(total)} features`, false);
  }

  function depositColour(cls) {
    if (DEPOSIT_COLOURS[cls]) return DEPOSIT_COLOURS[cls];
    let h = 0;
    for (const ch of String(cls)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return FALLBACK_COLOURS[h % FALLBACK_COLOURS.length];
  }

  function formatNumber(value) {
    if (value === null || value === undefined || !Number.isFinite(Number(value))) return "n/a";
    const v = Number(value);
    const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 1 ? 2 : 4;
    return v.toLocaleString("en-US", { maximumFractionDigits: digits });
  }

  /** Millions as "132.38 M" so that a row of P5/P50/P95/mean fits the panel. */
  function formatQuantity(value) {
    const v = Number(value);
    if (value === null || value === undefined || !Number.isFinite(v) || Math.abs(v) < 1e6) {
      return formatNumber(value);
    }
    return `${(v / 1e6).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })} M`;
  }

  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
      '"': "&quot;", "'": "&#39;" })[c]);
  }

  function formatArea(areaM2) {
    if (!Number.isFinite(Number(areaM2))) return "n/a";
    return `${formatNumber(Number(areaM2) / 1e4)} ha`;
  }

  /** A summary block {p5, p50, p95, mean} named `key`, at the top level or nested. */
  function findSummary(summaries, key) {
    if (!summaries || typeof summaries !== "object") return null;
    const direct = summaries[key];
    if (direct && typeof direct === "object" && "p50" in direct) return direct;
    for (const value of Object.values(summaries)) {
      if (value && typeof value === "object" && !("p50" in value)) {
        const found = findSummary(value, key);
        if (found) return found;
      }
    }
    return null;
  }

  // ----------------------------------------------------------------------------------
  // Map and layers

  const map = L.map("map", { preferCanvas: false, zoomControl: true, zoomSnap: 0.25 });
  state.map = map;
  map.setView([7, 0], 5);
  map.createPane("depositsPane").style.zIndex = 410;
  map.createPane("streamsPane").style.zIndex = 420;
  map.createPane("fieldsPane").style.zIndex = 425;
  map.createPane("minedPane").style.zIndex = 430;
  map.createPane("pointsPane").style.zIndex = 440;
  L.control.scale({ imperial: false }).addTo(map);

  const noBasemap = L.layerGroup();
  // Optional and off by default: with no network its tiles fail and the map stays usable.
  const osm = L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19,
    attribution: "&copy; OpenStreetMap contributors",
  });
  osm.on("tileerror", () => setStatus("basemap unavailable (offline?)", false));
  noBasemap.addTo(map);

  // Canvas for the deposits: a terrain footprint holds ~10^4 polygons per field, too
  // many SVG nodes for a smooth map; clicks still reach each polygon.
  const depositRenderer = L.canvas({ pane: "depositsPane", padding: 0.3 });
  const streamRenderer = L.canvas({ pane: "streamsPane", padding: 0.3 });

  const fieldsLayer = L.featureGroup().addTo(map);
  const depositsLayer = L.featureGroup().addTo(map);
  const streamsLayer = L.featureGroup().addTo(map);
  const minedLayer = L.featureGroup().addTo(map);
  const usgsLayer = L.featureGroup().addTo(map);
  // Other USGS mineral sites (gold, cement, quarries ...): off by default
  const usgsOtherLayer = L.featureGroup();

  // Raster tiles of the service (rio-tiler PNGs), off by default. The hillshade and the
  // DEM are drawn from the bundled SRTM tiles, so they work offline.
  // (URL() escapes the braces of the tile template: put them back)
  const rasterTiles = (name) => L.tileLayer(url(
    `fields/gh-birim/footprint/rasters/${name}/tiles/WebMercatorQuad/{z}/{x}/{y}.png`)
    .replace(/%7B/g, "{").replace(/%7D/g, "}"),
  { maxNativeZoom: 16, opacity: name === "hillshade" ? 0.6 : 0.75 });
  const hillshadeLayer = rasterTiles("hillshade");
  const demLayer = rasterTiles("dem");

  const overlays = {
    "Fields (areas of interest)": fieldsLayer,
    "Deposits by class (latest footprint)": depositsLayer,
    "Stream network (active channel)": streamsLayer,
    "Mined areas (surveys)": minedLayer,
    "USGS diamond sites": usgsLayer,
    "USGS other mineral sites": usgsOtherLayer,
    "Hillshade (SRTM)": hillshadeLayer,
    "Elevation (SRTM)": demLayer,
  };
  // short names for the URL hash (#map=zoom/lat/lon&layers=...)
  const overlayKeys = { fields: fieldsLayer, deposits: depositsLayer, streams: streamsLayer,
    mined: minedLayer, usgs: usgsLayer, usgs_other: usgsOtherLayer, hillshade: hillshadeLayer,
    dem: demLayer };
  L.control.layers(
    { "No basemap": noBasemap, "OpenStreetMap (needs network)": osm },
    overlays,
    { collapsed: false, position: "topright" },
  ).addTo(map);

  function readHash() {
    const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const view = (params.get("map") || "").split("/").map(Number);
    return { view: view.length === 3 && view.every(Number.isFinite) ? view : null,
      layers: params.has("layers") ? params.get("layers").split(",").filter(Boolean) : null };
  }

  function writeHash() {
    if (!state.ready) return;
    const c = map.getCenter();
    const on = Object.entries(overlayKeys).filter(([, layer]) => map.hasLayer(layer)).map(([k]) => k);
    const hash = `#map=${map.getZoom().toFixed(2).replace(/\.?0+$/, "")}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}` +
      `&layers=${on.join(",")}`;
    if (window.location.hash !== hash) history.replaceState(null, "", hash);
  }

  function applyHash() {
    const { view, layers } = readHash();
    if (layers) {
      Object.entries(overlayKeys).forEach(([key, layer]) => {
        if (layers.includes(key)) layer.addTo(map); else map.removeLayer(layer);
      });
    }
    if (view) map.setView([view[1], view[2]], view[0], { animate: false });
    return view !== null;
  }
  map.on("moveend overlayadd overlayremove", writeHash);
  window.addEventListener("hashchange", applyHash);

  const legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    this._div = L.DomUtil.create("div", "legend");
    L.DomEvent.disableClickPropagation(this._div);
    return this._div;
  };
  legend.update = function () {
    const div = this._div;
    div.replaceChildren();
    div.append(el("h4", { text: "Deposit classes" }));
    // geomorphic order (channel outwards), then any other class alphabetically
    const known = Object.keys(DEPOSIT_COLOURS);
    const rank = (c) => (known.includes(c) ? known.indexOf(c) : known.length);
    const classes = [...state.depositClasses].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    if (classes.length === 0) div.append(el("div", { class: "hint", text: "no footprint built yet" }));
    classes.forEach((cls) => {
      const sw = el("span", { class: "swatch" });
      sw.style.background = depositColour(cls);
      div.append(el("div", { "data-class": cls }, [sw, cls.replace(/_/g, " ")]));
    });
    div.append(el("h4", { text: "Other layers" }));
    const rows = [
      ["outline", STYLE.field.color, "field area of interest"],
      ["line", STYLE.stream.color, "stream network (active channel)"],
      ["", STYLE.mined.fillColor, "mined area"],
      ["dot", STYLE.usgsDiamond.fillColor, "USGS diamond site"],
      ["dot", STYLE.usgs.fillColor, "other USGS mineral site"],
    ];
    rows.forEach(([kind, colour, label]) => {
      const sw = el("span", { class: `swatch ${kind}` });
      sw.style.background = colour;
      sw.style.borderColor = colour;
      div.append(el("div", {}, [sw, label]));
    });
  };
  legend.addTo(map);
  legend.update();

  // ----------------------------------------------------------------------------------
  // Field panel

  function summaryRow(label, unit, summary) {
    const cells = [el("td", { text: `${label} (${unit})` })];
    ["p5", "p50", "p95", "mean"].forEach((k) => {
      const value = summary ? summary[k] : null;
      cells.push(el("td", { "data-stat": k, "data-value": String(value),
        title: `${formatNumber(value)} ${unit}`, text: formatQuantity(value) }));
    });
    return el("tr", {}, cells);
  }

  /** The stored Sobol total indices (summaries.sensitivity): the top parameters per output. */
  function sensitivityTable(block, top = 5) {
    const outputs = (block && block.outputs) || {};
    const names = { capacity_ct_per_year: "capacity", resource_ct: "resource" };
    const columns = Object.keys(names).filter((k) => (outputs[k] || []).length);
    if (!columns.length) return null;
    const params = [];
    columns.forEach((k) => outputs[k].slice(0, top).forEach((row) => {
      if (!params.includes(row.parameter)) params.push(row.parameter);
    }));
    const st = (k, p) => { const row = (outputs[k] || []).find((r) => r.parameter === p); return row ? row.ST : null; };
    return el("table", { class: "summary", id: "sensitivity-table" }, [
      el("thead", {}, [el("tr", {}, ["Sobol total index", ...columns.map((k) => names[k])].map((h) => el("th", { text: h })))]),
      el("tbody", {}, params.map((p) => el("tr", {}, [el("td", { text: p }),
        ...columns.map((k) => el("td", { "data-output": k, text: formatNumber(st(k, p)) }))]))),
    ]);
  }

  function renderFieldPanel(field, doc, footprint, problem) {
    const props = field.feature.properties || {};
    const iso3 = props.participant_iso3 || (doc && doc.participant_iso3);
    const children = [
      el("h2", { text: props.name || field.id }),
      el("p", { class: "hint", text: `${field.id} · ${props.country || ""}` +
        (iso3 ? ` · participant ${iso3}` : "") +
        (props.aoi_area_km2 ? ` · AOI ${formatNumber(props.aoi_area_km2)} km²` : "") }),
    ];
    if (footprint) {
      const s = footprint.summaries || {};
      const table = el("table", { class: "summary", id: "summary-table" }, [
        el("thead", {}, [el("tr", {}, ["", "P5", "P50", "P95", "mean"].map((h) => el("th", { text: h })))]),
        el("tbody", {}, [
          summaryRow("Resource", "ct", findSummary(s, "resource_ct")),
          summaryRow("Capacity", "ct/yr", findSummary(s, "capacity_ct_per_year")),
        ]),
      ]);
      children.push(
        el("h3", { text: `Footprint version ${footprint.version}` }),
        table,
        el("p", { class: "hint", text: `${formatNumber(footprint.n_draws)} Monte Carlo draws, seed ` +
          `${footprint.seed}` + (footprint.created_at ? `, built ${String(footprint.created_at).slice(0, 16).replace("T", " ")} UTC` : "") +
          `. Deposits drawn: ${formatNumber(state.counts.deposits[field.id] || 0)}.` }),
      );
      const sensitivity = sensitivityTable(s.sensitivity);
      if (sensitivity) {
        children.push(el("h3", { text: "What drives the spread" }), sensitivity,
          el("p", { class: "hint", text: "Share of each output's variance a parameter explains, with its interactions (Sobol ST)." }));
      }
    } else {
      children.push(el("p", { class: "hint", text: problem || "No footprint built yet for this field." }));
    }
    if (iso3) {
      const href = url(`participants/${encodeURIComponent(iso3)}/report?from=${REPORT_YEARS.from}` +
        `&to=${REPORT_YEARS.to}&f=html`);
      children.push(el("p", {}, [el("a", { href, id: "report-link", target: "_blank", rel: "noopener",
        text: `Anomaly report for ${iso3}, ${REPORT_YEARS.from}–${REPORT_YEARS.to}` })]),
        el("p", { class: "hint", text: "Reports are for monitors: the service asks for an API key " +
          "with the monitor role unless it serves them publicly." }));
    }
    infoEl.replaceChildren(...children);
  }

  async function selectField(fieldId) {
    const field = state.fields[fieldId];
    if (!field) return;
    if (state.selectedField && state.fields[state.selectedField]) {
      state.fields[state.selectedField].layer.setStyle(STYLE.field);
    }
    state.selectedField = fieldId;
    field.layer.setStyle(STYLE.fieldSelected);
    infoEl.dataset.field = fieldId;
    infoEl.dataset.loaded = "false";
    renderFieldPanel(field, field.doc, null, "Loading the latest footprint…");
    let footprint = null;
    let problem = null;
    // Ask only when a version exists: a 404 would be a console error in the browser.
    if (field.doc && field.doc.latest_footprint_version) {
      try {
        footprint = await getJSON(url(`fields/${encodeURIComponent(fieldId)}/footprint`));
      } catch (err) {
        problem = `Could not load the footprint: ${err.message}`;
        console.warn(problem);
      }
    }
    if (state.selectedField !== fieldId) return; // another click came first
    renderFieldPanel(field, field.doc, footprint, problem);
    infoEl.dataset.loaded = "true";
  }

  /** How many deposit polygons of a field are on the map now (0 when the layer is off). */
  function drawnDeposits(fieldId) {
    if (!map.hasLayer(depositsLayer)) return 0;
    let n = 0;
    depositsLayer.eachLayer((group) => group.eachLayer((layer) => {
      if (layer.fieldId === fieldId && layer._map) n += 1;
    }));
    return n;
  }

  /** A page pixel inside the field's area where a click reaches the map itself (not a
   * control, a label or a point), for tests and deep links; null if none is found. */
  function fieldClickPoint(fieldId) {
    const field = state.fields[fieldId];
    if (!field) return null;
    const centre = field.bounds.getCenter();
    const rect = map.getContainer().getBoundingClientRect();
    const vertices = field.rings.flat();
    for (const pull of [0.85, 0.7, 0.5, 0.3]) {
      for (const p of vertices) {
        const ll = L.latLng(p.lat + pull * (centre.lat - p.lat), p.lng + pull * (centre.lng - p.lng));
        if (!insideRings(ll, field.rings)) continue;
        const pt = map.latLngToContainerPoint(ll);
        const x = rect.left + pt.x;
        const y = rect.top + pt.y;
        const hit = document.elementFromPoint(x, y);
        const onMap = hit && (hit === map.getContainer() || hit.tagName === "CANVAS");
        if (onMap) return { x, y, lat: ll.lat, lng: ll.lng };
      }
    }
    return null;
  }

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
    const hit = Object.values(state.fields).find((f) =>
      f.bounds.contains(latlng) && insideRings(latlng, f.rings));
    return hit ? hit.id : null;
  }

  // A click inside a field's area selects it, whatever is drawn on top (deposits are on
  // a canvas that takes the clicks; a click on a deposit selects its field too).
  map.on("click", (e) => {
    const id = fieldAt(e.latlng);
    if (id) selectField(id);
  });

  // ----------------------------------------------------------------------------------
  // Loading

  function addFields(features, docs) {
    features.forEach((feature) => {
      const id = String(feature.id);
      const layer = L.geoJSON(feature, { pane: "fieldsPane", style: STYLE.field });
      layer.bindTooltip(escapeHtml(feature.properties && feature.properties.name ? feature.properties.name : id),
        { sticky: true });
      layer.on("click", () => selectField(id));
      layer.addTo(fieldsLayer);
      const field = { id, feature, layer, doc: docs[id] || null,
        rings: ringsOf(feature.geometry), bounds: layer.getBounds() };
      state.fields[id] = field;
      // a labelled dot: the areas are a few pixels wide when all five fields are in view
      const marker = L.circleMarker(field.bounds.getCenter(), {
        pane: "fieldsPane", radius: 6, color: STYLE.field.color, weight: 2,
        fillColor: "#ffffff", fillOpacity: 1 });
      marker.bindTooltip(escapeHtml(id), { permanent: true, direction: "right", className: "field-label" });
      marker.on("click", (e) => {
        L.DomEvent.stopPropagation(e);
        zoomToField(id);
      });
      marker.addTo(fieldsLayer);
    });
    state.counts.fields = features.length;
    renderFieldList();
  }

  function zoomToField(fieldId) {
    const field = state.fields[fieldId];
    if (!field) return;
    map.fitBounds(field.bounds, { padding: [20, 20] });
    selectField(fieldId);
  }

  function renderFieldList() {
    const items = Object.values(state.fields).map((f) => {
      const props = f.feature.properties || {};
      const button = el("button", { type: "button", "data-field": f.id,
        text: `${props.name || f.id} (${props.participant_iso3 || ""})` });
      button.addEventListener("click", () => zoomToField(f.id));
      return el("li", {}, [button]);
    });
    document.getElementById("field-list").replaceChildren(...items);
  }

  function depositPopup(fieldId, props) {
    return `<strong>${escapeHtml((props.deposit_class || "deposit").replace(/_/g, " "))}</strong><br>` +
      `field ${escapeHtml(fieldId)}<br>area ${formatArea(props.area_m2)}`;
  }

  function addDeposits(fieldId, features) {
    const streams = features.filter((f) => (f.properties || {}).deposit_class === "active_channel");
    L.geoJSON(features, {
      pane: "depositsPane",
      renderer: depositRenderer,
      style: (f) => {
        const cls = (f.properties || {}).deposit_class || "unknown";
        state.depositClasses.add(cls);
        return { color: depositColour(cls), weight: 0.6, fillColor: depositColour(cls), fillOpacity: 0.6 };
      },
      onEachFeature: (f, layer) => {
        layer.fieldId = fieldId;
        layer.bindPopup(depositPopup(fieldId, f.properties || {}));
        layer.on("click", (e) => {
          L.DomEvent.stopPropagation(e); // the map's own click handler would select again
          selectField(fieldId);
        });
      },
    }).addTo(depositsLayer);
    L.geoJSON(streams, { pane: "streamsPane", renderer: streamRenderer, style: STYLE.stream,
      interactive: false }).addTo(streamsLayer);
    state.counts.deposits[fieldId] = features.length;
    state.counts.streams[fieldId] = streams.length;
  }

  function addMined(fieldId, features) {
    L.geoJSON(features, {
      pane: "minedPane",
      style: STYLE.mined,
      pointToLayer: (f, ll) => L.circleMarker(ll, { ...STYLE.mined, radius: 4, pane: "minedPane" }),
      onEachFeature: (f, layer) => {
        const p = f.properties || {};
        layer.bindPopup(`<strong>mined area</strong><br>field ${escapeHtml(fieldId)}` +
          (p.year ? `<br>year ${escapeHtml(p.year)}` : "") + (p.area_m2 ? `<br>area ${formatArea(p.area_m2)}` : ""));
      },
    }).addTo(minedLayer);
    state.counts.minedAreas[fieldId] = features.length;
  }

  function addUsgs(features) {
    L.geoJSON(features, {
      pointToLayer: (f, ll) => L.circleMarker(ll, {
        ...((f.properties || {}).is_diamond ? STYLE.usgsDiamond : STYLE.usgs), pane: "pointsPane" }),
      onEachFeature: (f, layer) => {
        const p = f.properties || {};
        const name = p.FeatureNam || p.name || p.FeatureUID || f.id;
        const commodity = p.DsgAttr01 || "";
        layer.bindTooltip(escapeHtml(`${name}${commodity ? ` (${commodity})` : ""} · USGS ${p.source_layer || ""}`));
      },
    }).eachLayer((marker) => {
      // diamond sites on by default; the others are a layer of their own
      (marker.feature.properties || {}).is_diamond ? marker.addTo(usgsLayer) : marker.addTo(usgsOtherLayer);
    });
    state.counts.usgs = features.length;
  }

  async function load() {
    const [collectionsDoc, fieldsDoc] = await Promise.all([getJSON(url("collections")), getJSON(url("fields"))]);
    const available = new Set((collectionsDoc.collections || []).map((c) => c.id));
    const docs = {};
    (fieldsDoc.fields || []).forEach((f) => { docs[f.id] = f; });

    const fieldFeatures = await fetchAllFeatures("fields");
    addFields(fieldFeatures, docs);
    const hashView = readHash().view !== null;  // a shared view wins over the default one
    if (fieldsLayer.getLayers().length > 0 && !hashView) {
      // room on the right for the legend, so no field label hides behind it
      map.fitBounds(fieldsLayer.getBounds(), { paddingTopLeft: [30, 30], paddingBottomRight: [300, 60] });
    }

    const jobs = [];
    const guard = (what, promise) => promise.catch((err) => {
      state.failed.push(what);
      console.warn(`could not load ${what}: ${err.message}`);
    });
    fieldFeatures.forEach((feature) => {
      const id = String(feature.id);
      if (available.has(`deposits-${id}`)) {
        jobs.push(guard(`deposits of ${id}`, fetchAllFeatures(`deposits-${id}`).then((fs) => addDeposits(id, fs))));
      }
      if (available.has(`mined-areas-${id}`)) {
        jobs.push(guard(`mined areas of ${id}`, fetchAllFeatures(`mined-areas-${id}`).then((fs) => addMined(id, fs))));
      }
    });
    if (available.has("usgs-mines")) {
      jobs.push(guard("USGS mine points", fetchAllFeatures("usgs-mines").then(addUsgs)));
    }
    await Promise.all(jobs);
    streamsLayer.bringToFront();
    legend.update();

    const wanted = new URLSearchParams(window.location.search).get("field");
    if (wanted && state.fields[wanted] && !hashView) map.fitBounds(state.fields[wanted].layer.getBounds(), { padding: [20, 20] });
    applyHash();

    const nDeposits = Object.values(state.counts.deposits).reduce((a, b) => a + b, 0);
    setStatus(`${state.counts.fields} fields · ${nDeposits} deposits · ${state.counts.usgs} USGS sites` +
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
