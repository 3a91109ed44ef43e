/*
 * The raster layers of the map (hillshade, DEM, HAND, MRVBF, and any other raster a
 * footprint version has), listed by the service per field and version
 * (GET fields/{id}/footprint/raster-layers?version=N: a TileJSON and a legend each).
 *
 * One overlay per raster name, holding one tile layer per field that has it: the DEM
 * and hillshade of every field with SRTM tiles, and the version rasters of the version
 * each field shows (load(fieldId, version) replaces that field's tile layers with those of
 * the last version asked of that field, whatever order the listings answer in). A name gets
 * its overlay in the layers control the first time a field lists it.
 *
 * window.FootprintRasters.create(map, control, url, getJSON) returns
 * {overlays, load, legends, listed}.
 */
(function () {
  "use strict";

  const OPACITY = { hillshade: 0.55 };
  const DEFAULT_OPACITY = 0.75;

  function create(map, control, url, getJSON) {
    const overlays = {};   // name -> L.layerGroup (the overlay of the layers control)
    const tiles = {};      // name -> field -> L.tileLayer
    const listed = {};     // field -> the service's listing {field_id, version, rasters}
    const asked = {};      // field -> number of the last load asked (answers arrive in any order)

    function overlay(raster) {
      if (!overlays[raster.name]) {
        overlays[raster.name] = L.layerGroup();
        tiles[raster.name] = {};
        control.addOverlay(overlays[raster.name], raster.title || raster.name);
      }
      return overlays[raster.name];
    }

    function tileLayer(raster) {
      const tj = raster.tilejson;
      const [west, south, east, north] = tj.bounds;
      return L.tileLayer(tj.tiles[0], {
        minZoom: tj.minzoom, maxNativeZoom: tj.maxzoom, maxZoom: 22,
        bounds: L.latLngBounds([south, west], [north, east]), // no request outside them
        opacity: OPACITY[raster.name] || DEFAULT_OPACITY,
        className: `raster-${raster.name}`,
      });
    }

    /** Replace the tile layers of `fieldId` by those of the listing `doc`. */
    function draw(fieldId, doc) {
      listed[fieldId] = doc;
      const names = new Set(doc.rasters.map((r) => r.name));
      Object.entries(tiles).forEach(([name, byField]) => { // rasters this version lacks
        if (!names.has(name) && byField[fieldId]) {
          overlays[name].removeLayer(byField[fieldId]);
          delete byField[fieldId];
        }
      });
      doc.rasters.forEach((raster) => {
        const group = overlay(raster);
        const old = tiles[raster.name][fieldId];
        if (old && old.options.rasterUrl === raster.tilejson.tiles[0]) return;
        if (old) group.removeLayer(old);
        const layer = tileLayer(raster);
        layer.options.rasterUrl = raster.tilejson.tiles[0];
        tiles[raster.name][fieldId] = layer;
        group.addLayer(layer);
      });
    }

    /** List the rasters of `fieldId` at `version` (null: the latest) and draw them; the
     * listing, or null when a later load of the field was asked before this one answered
     * (its answer, or its error, is dropped: only the last version asked is drawn). */
    async function load(fieldId, version) {
      const ticket = (asked[fieldId] || 0) + 1;
      asked[fieldId] = ticket;
      const query = version ? `?version=${encodeURIComponent(version)}` : "";
      let doc;
      try {
        doc = await getJSON(url(`fields/${encodeURIComponent(fieldId)}/footprint/raster-layers${query}`));
      } catch (err) {
        if (asked[fieldId] !== ticket) return null;
        throw err;
      }
      if (asked[fieldId] !== ticket) return null;
      draw(fieldId, doc);
      return doc;
    }

    /** Legends of the rasters on the map: each of `fieldId` when it has the raster, else
     * of the first field listed that has it; [{fieldId, raster}] in the overlays' order. */
    function legends(fieldId) {
      const rasterOf = (id, name) => (listed[id] ? listed[id].rasters.find((r) => r.name === name) || null : null);
      return Object.keys(overlays).filter((name) => map.hasLayer(overlays[name])).map((name) => {
        const holder = fieldId && rasterOf(fieldId, name) ? fieldId
          : Object.keys(listed).find((id) => rasterOf(id, name));
        return holder ? { fieldId: holder, raster: rasterOf(holder, name) } : null;
      }).filter(Boolean);
    }

    return { overlays, load, legends, listed };
  }

  window.FootprintRasters = { create };
})();
