/*
 * The offline basemap: countries, lakes, rivers and places from the service's data
 * directory (GET map/basemap/{layer}: Natural Earth, GSHHG WDBII), so the map has
 * borders, rivers and town labels with no network. The fields' towns (Akwatia, Kade,
 * Séguéla, Tortiya, Mutare) are always labelled; other places from zoom 8.
 *
 * window.FootprintBasemap.create(map, url) returns {group, ready, counts}; `ready` is a
 * promise that settles when every layer is drawn (or failed, see `failed`).
 */
(function () {
  "use strict";

  const STYLE = {
    countries: { color: "#8a8a8a", weight: 1, fillColor: "#f4f1ea", fillOpacity: 1, interactive: false },
    lakes: { color: "#6a9fc8", weight: 0.6, fillColor: "#b9d4ea", fillOpacity: 1, interactive: false },
    riversWdbii: { color: "#7fb0d9", weight: 1, opacity: 0.9, interactive: false },
    riversNe: { color: "#4a8cc7", weight: 1.6, opacity: 0.9, interactive: false },
    place: { radius: 2.5, color: "#333", weight: 1, fillColor: "#fff", fillOpacity: 1, interactive: false },
    town: { radius: 3.5, color: "#111", weight: 1.5, fillColor: "#ffd400", fillOpacity: 1, interactive: false },
  };
  const PLACE_LABEL_MIN_ZOOM = 8;

  function create(map, url) {
    map.createPane("basemapPane").style.zIndex = 150; // under the raster tiles (200)
    map.createPane("basemapLinesPane").style.zIndex = 380; // over the hillshade
    map.getPane("basemapLinesPane").style.pointerEvents = "none";
    const group = L.layerGroup();
    const counts = { countries: 0, lakes: 0, rivers: 0, places: 0, towns: 0 };
    const failed = [];
    const placeMarkers = [];

    async function fetchLayer(name) {
      const response = await fetch(url(`map/basemap/${name}`), { headers: { Accept: "application/geo+json" } });
      if (!response.ok) throw new Error(`${response.status} basemap ${name}`);
      return response.json();
    }

    function drawAreas(name, doc) {
      L.geoJSON(doc, { pane: name === "countries" ? "basemapPane" : "basemapLinesPane", style: STYLE[name] })
        .addTo(group);
      counts[name] = doc.features.length;
    }

    function drawRivers(doc) {
      L.geoJSON(doc, {
        pane: "basemapLinesPane",
        style: (f) => ((f.properties || {}).source === "Natural Earth" ? STYLE.riversNe : STYLE.riversWdbii),
      }).addTo(group);
      counts.rivers = doc.features.length;
    }

    function drawPlaces(doc) {
      doc.features.forEach((f) => {
        const [lng, lat] = f.geometry.coordinates;
        const town = Boolean((f.properties || {}).town);
        const marker = L.circleMarker([lat, lng], { ...(town ? STYLE.town : STYLE.place), pane: "basemapLinesPane" });
        // towns to the left of their dot: a field's own label is to the right of its dot
        marker.bindTooltip(String(f.properties.name), {
          permanent: true, direction: town ? "left" : "right", offset: town ? [-4, 0] : [4, 0], interactive: false,
          className: town ? "place-label town-label" : "place-label",
        });
        marker.isTown = town;
        marker.addTo(group);
        placeMarkers.push(marker);
        counts[town ? "towns" : "places"] += 1;
      });
      showLabelsForZoom();
    }

    function showLabelsForZoom() {
      const on = map.getZoom() >= PLACE_LABEL_MIN_ZOOM;
      placeMarkers.forEach((m) => {
        if (m.isTown) return;
        const tip = m.getTooltip();
        if (tip && tip.getElement()) tip.getElement().style.display = on ? "" : "none";
      });
    }
    map.on("zoomend", showLabelsForZoom);
    group.on("add", () => setTimeout(showLabelsForZoom, 0));

    const guard = (name, job) => job.catch((err) => { failed.push(name); console.warn(err.message); });
    const ready = Promise.all([
      guard("countries", fetchLayer("countries").then((d) => drawAreas("countries", d))),
      guard("lakes", fetchLayer("lakes").then((d) => drawAreas("lakes", d))),
      guard("rivers", fetchLayer("rivers").then(drawRivers)),
      guard("places", fetchLayer("places").then(drawPlaces)),
    ]);
    return { group, ready, counts, failed };
  }

  window.FootprintBasemap = { create };
})();
