/*
 * Small helpers of the map page: DOM nodes, number formats, deposit colours and the
 * lookup of a summary block in a footprint's summaries. window.FootprintFormat.
 */
(function () {
  "use strict";

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

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => node.append(c));
    return node;
  }

  function depositColour(cls) {
    if (DEPOSIT_COLOURS[cls]) return DEPOSIT_COLOURS[cls];
    let h = 0;
    for (const ch of String(cls)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return FALLBACK_COLOURS[h % FALLBACK_COLOURS.length];
  }

  /** Classes in geomorphic order (channel outwards), then any other alphabetically. */
  function sortClasses(classes) {
    const known = Object.keys(DEPOSIT_COLOURS);
    const rank = (c) => (known.includes(c) ? known.indexOf(c) : known.length);
    return [...classes].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
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

  function formatArea(areaM2) {
    if (areaM2 === null || areaM2 === undefined || !Number.isFinite(Number(areaM2))) return "n/a";
    return `${formatNumber(Number(areaM2) / 1e4)} ha`;
  }

  function formatPercent(fraction) {
    if (fraction === null || fraction === undefined || !Number.isFinite(Number(fraction))) return "n/a";
    return `${(100 * Number(fraction)).toLocaleString("en-US", { maximumFractionDigits: 1 })} %`;
  }

  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
      '"': "&quot;", "'": "&#39;" })[c]);
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

  /** A class's resource (`resource_ct.<class>`) and its share of the version's resource.
   * The share is of means (means add up over classes; percentiles do not). */
  function classResource(footprint, cls) {
    const summaries = (footprint && footprint.summaries) || {};
    const ofClass = findSummary(summaries, `resource_ct.${cls}`);
    const total = findSummary(summaries, "resource_ct");
    const share = ofClass && total && Number(total.mean) > 0 ? Number(ofClass.mean) / Number(total.mean) : null;
    return { summary: ofClass, share };
  }

  window.FootprintFormat = { DEPOSIT_COLOURS, el, depositColour, sortClasses, formatNumber, formatQuantity,
    formatArea, formatPercent, escapeHtml, findSummary, classResource };
})();
