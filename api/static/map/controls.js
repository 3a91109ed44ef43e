/*
 * Two controls of the map: the time slider for mined areas (years seen in the loaded
 * tiles; a value Y shows mined areas dated up to Y) and the legend of deposit classes,
 * other layers and raster colour ramps. window.FootprintControls.
 */
(function () {
  "use strict";

  const F = window.FootprintFormat;
  const { el } = F;

  /** The slider; `onYear(year)` is called when it moves; `update()` redraws it. */
  function timeSlider(map, state, onYear) {
    const slider = L.control({ position: "bottomleft" });
    slider.onAdd = function () {
      this._div = el("div", { class: "time-slider leaflet-bar" }, [
        el("label", { for: "mined-year", text: "Mined areas up to " }),
        el("input", { type: "range", id: "mined-year", step: "1", disabled: "disabled" }),
        el("output", { id: "mined-year-label", for: "mined-year", text: "every year" })]);
      L.DomEvent.disableClickPropagation(this._div);
      this._div.querySelector("input").addEventListener("input", (e) => onYear(Number(e.target.value)));
      return this._div;
    };
    slider.update = function () {
      const years = [...state.minedYears].sort((a, b) => a - b);
      const input = this._div.querySelector("input");
      const label = this._div.querySelector("output");
      if (!years.length) { label.textContent = "no dated mined area in view"; return; }
      input.disabled = false;
      input.min = String(years[0]);
      input.max = String(years[years.length - 1]);
      input.value = String(state.minedYear === null ? years[years.length - 1] : state.minedYear);
      label.textContent = state.minedYear === null ? `every year (${years[0]}–${years[years.length - 1]})`
        : String(state.minedYear);
    };
    slider.addTo(map);
    return slider;
  }

  /** A raster's colour ramp from its legend document (GET .../legend): a gradient bar
   * between its min and max, with the unit, and the field it is of. */
  function rasterLegend({ fieldId, raster }) {
    const doc = raster.legend;
    const bar = el("div", { class: "ramp" });
    bar.style.background = `linear-gradient(to right, ${doc.stops.map((s) => s.color).join(", ")})`;
    const unit = doc.unit && doc.unit !== "index" ? ` ${doc.unit}` : "";
    return el("div", { class: "raster-legend", "data-raster": raster.name, "data-field": fieldId }, [
      el("div", { text: `${doc.title} · ${fieldId}${raster.version ? ` v${raster.version}` : ""}` }), bar,
      el("div", { class: "ramp-labels" }, [el("span", { text: `${F.formatNumber(doc.min)}${unit}` }),
        el("span", { text: `${F.formatNumber(doc.max)}${unit}` })])]);
  }

  /** The legend: deposit classes seen so far (geomorphic order), the other layers, then
   * the colour ramps of the raster layers on the map (`rasterLegends()`). */
  function legend(map, state, STYLE, minZoom, rasterLegends) {
    const control = L.control({ position: "bottomright" });
    control.onAdd = function () {
      this._div = L.DomUtil.create("div", "legend");
      L.DomEvent.disableClickPropagation(this._div);
      return this._div;
    };
    control.update = function () {
      const div = this._div;
      div.replaceChildren(el("h4", { text: "Deposit classes" }));
      const classes = F.sortClasses(state.depositClasses);
      if (classes.length === 0) div.append(el("div", { class: "hint", text: `zoom in on a field (from zoom ${minZoom})` }));
      classes.forEach((cls) => {
        const sw = el("span", { class: "swatch" });
        sw.style.background = F.depositColour(cls);
        div.append(el("div", { "data-class": cls }, [sw, cls.replace(/_/g, " ")]));
      });
      div.append(el("h4", { text: "Other layers" }));
      [["outline", STYLE.field.color, "field area of interest"],
        ["line", STYLE.stream.color, "stream network (active channel)"],
        ["outline", STYLE.compare.color, "compared version (outline)"],
        ["", STYLE.mined.fillColor, "mined area"],
        ["dot", STYLE.usgsDiamond.fillColor, "USGS diamond site"],
        ["dot", STYLE.usgs.fillColor, "other USGS mineral site"]].forEach(([kind, colour, label]) => {
        const sw = el("span", { class: `swatch ${kind}` });
        sw.style.background = colour;
        sw.style.borderColor = colour;
        div.append(el("div", {}, [sw, label]));
      });
      const ramps = rasterLegends ? rasterLegends() : [];
      if (ramps.length) div.append(el("h4", { text: "Rasters" }), ...ramps.map(rasterLegend));
    };
    control.addTo(map);
    control.update();
    return control;
  }

  window.FootprintControls = { timeSlider, legend };
})();
