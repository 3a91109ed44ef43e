/*
 * The compare of two footprint versions in the field panel, drawn from the service's
 * comparison (GET fields/{id}/footprints/compare?from=A&to=B, footprint.compare): resource
 * and capacity P5 / P50 / P95 of both versions with the difference; deposits added,
 * removed and changed class, with the class transitions and each class's area; and the
 * inputs that differ (every layer of either version with its sha256 in each, other input
 * checksums, sheet, seed, draws). Nothing is computed here but formats.
 * window.FootprintCompare.render(doc, href, outlined) returns the panel's nodes.
 */
(function () {
  "use strict";

  const F = window.FootprintFormat;
  const { el } = F;
  const MAIN_OUTPUTS = [["resource_ct", "Resource", "ct"], ["capacity_ct_per_year", "Capacity", "ct/yr"]];
  const STATS = ["p5", "p50", "p95"];

  function signed(value, format) {
    if (value === null || value === undefined || !Number.isFinite(Number(value))) return "n/a";
    const text = format(Math.abs(Number(value)));
    return Number(value) > 0 ? `+${text}` : Number(value) < 0 ? `−${text}` : text;
  }

  function percent(value) {
    return value === null || value === undefined ? "n/a" : `${signed(value, (v) => v.toFixed(1))} %`;
  }

  function outputRows(row, label, unit, doc) {
    const cells = (kind, side, format) => STATS.map((k) => el("td", { "data-stat": k,
      "data-value": String(side ? side[k] : null), text: side ? format(side[k]) : "n/a" }));
    return [
      el("tr", { class: "group" }, [el("th", { colspan: "4", text: `${label} (${unit})` })]),
      el("tr", { "data-output": row.output, "data-row": "from" }, [el("td", { text: `v${doc.from.version}` }),
        ...cells("from", row.from, F.formatQuantity)]),
      el("tr", { "data-output": row.output, "data-row": "to" }, [el("td", { text: `v${doc.to.version}` }),
        ...cells("to", row.to, F.formatQuantity)]),
      el("tr", { "data-output": row.output, "data-row": "difference" }, [el("td", { text: "difference" }),
        ...cells("difference", row.difference, (v) => signed(v, F.formatQuantity))]),
      el("tr", { "data-output": row.output, "data-row": "change", class: "hint" }, [el("td", { text: "change" }),
        ...STATS.map((k) => el("td", { text: row.change_pct ? percent(row.change_pct[k]) : "n/a" }))]),
    ];
  }

  function outputsTable(doc) {
    const rows = [];
    MAIN_OUTPUTS.forEach(([key, label, unit]) => {
      const row = (doc.outputs || []).find((o) => o.output === key);
      if (row) rows.push(...outputRows(row, label, unit, doc));
    });
    return el("table", { class: "summary", id: "compare-table" }, [
      el("thead", {}, [el("tr", {}, ["", "P5", "P50", "P95"].map((h) => el("th", { text: h })))]),
      el("tbody", {}, rows)]);
  }

  function className(cls) {
    return String(cls).replace(/_/g, " ");
  }

  function depositBlock(doc) {
    const d = doc.deposits || {};
    const nodes = [
      el("h4", { text: "Deposits" }),
      el("p", { id: "compare-deposits", text: `${F.formatNumber(d.from_n)} → ${F.formatNumber(d.to_n)}: ` +
        `${F.formatNumber(d.added)} added, ${F.formatNumber(d.removed)} removed, ` +
        `${F.formatNumber(d.changed_class)} changed class, ${F.formatNumber(d.unchanged)} unchanged ` +
        `(added ${F.formatArea(d.added_area_m2)}, removed ${F.formatArea(d.removed_area_m2)}, ` +
        `reclassified ${F.formatArea(d.changed_class_area_m2)}).` }),
    ];
    if ((d.class_changes || []).length) {
      nodes.push(el("table", { class: "summary", id: "compare-class-changes" }, [
        el("thead", {}, [el("tr", {}, ["changed class", "deposits", "area"].map((h) => el("th", { text: h })))]),
        el("tbody", {}, d.class_changes.map((c) => el("tr", { "data-from": c.from_class, "data-to": c.to_class }, [
          el("td", { text: `${className(c.from_class)} → ${className(c.to_class)}` }),
          el("td", { text: F.formatNumber(c.n) }), el("td", { text: F.formatArea(c.area_m2) })])))]));
    }
    if ((d.by_class || []).length) {
      nodes.push(el("table", { class: "summary", id: "compare-class-areas" }, [
        el("thead", {}, [el("tr", {}, ["class area", `v${doc.from.version}`, `v${doc.to.version}`, "difference"]
          .map((h) => el("th", { text: h })))]),
        el("tbody", {}, F.sortClasses(d.by_class.map((r) => r.deposit_class)).map((cls) => {
          const r = d.by_class.find((row) => row.deposit_class === cls);
          return el("tr", { "data-class": cls }, [el("td", { text: className(cls) }),
            el("td", { text: F.formatArea(r.from_area_m2) }), el("td", { text: F.formatArea(r.to_area_m2) }),
            el("td", { "data-value": String(r.area_change_m2), text: signed(r.area_change_m2, F.formatArea) })]);
        }))]));
    }
    return nodes;
  }

  const STATUS = { added: "+ added", removed: "− removed", changed: "≠ changed", same: "= same" };
  const short = (sha) => (sha ? String(sha).slice(0, 12) : "–");

  function inputsBlock(doc) {
    const ev = doc.evidence || {};
    const layers = ev.layers || [];
    const nodes = [el("h4", { text: "Inputs" })];
    if (layers.length) {
      nodes.push(el("table", { class: "summary", id: "compare-layers" }, [
        el("thead", {}, [el("tr", {}, ["layer", "", `v${doc.from.version} sha256`, `v${doc.to.version} sha256`]
          .map((h) => el("th", { text: h })))]),
        el("tbody", {}, layers.map((l) => el("tr", { "data-layer": String(l.id), "data-status": l.status,
          class: l.status === "same" ? "hint" : "" }, [
          el("td", { text: `#${l.id} ${className(l.kind)}${l.name ? ` · ${l.name}` : ""}${l.retired_at ? " (retired)" : ""}` }),
          el("td", { text: STATUS[l.status] || l.status }),
          el("td", { class: "sha", title: l.sha256_from || "", text: short(l.sha256_from) }),
          el("td", { class: "sha", title: l.sha256_to || "", text: short(l.sha256_to) })])))]));
    } else {
      nodes.push(el("p", { class: "hint", text: "No uploaded layer is an input of either version." }));
    }
    const other = (ev.checksums_changed || []).map((c) => el("li", { "data-input": c.input,
      text: `${c.input}: ${short(c.from)} → ${short(c.to)}` }));
    [["sheet_changed", "parameter sheet"], ["catalogue_changed", "field catalogue"], ["seed_changed", "seed"],
      ["draws_changed", "number of draws"]].forEach(([key, label]) => {
      if (ev[key]) other.push(el("li", { text: `${label} changed` }));
    });
    const model = ev.model_version || {};
    if (model.from !== model.to) other.push(el("li", { text: `model ${model.from || "?"} → ${model.to || "?"}` }));
    nodes.push(other.length ? el("ul", { id: "compare-other-inputs" }, other)
      : el("p", { class: "hint", text: "No other input changed." }));
    return nodes;
  }

  /** The nodes of the compare; `outlined` is the version drawn as an outline. */
  function render(doc, href, outlined) {
    const same = [doc.same_inputs ? "same inputs" : "inputs differ", doc.same_draws ? "same draws" : "other draws"];
    return [
      el("h3", { text: `Compare v${doc.from.version} → v${doc.to.version}` }),
      el("p", { class: "hint", text: `${same.join(" · ")}. Version v${outlined} is outlined in red on the map.` }),
      outputsTable(doc), ...depositBlock(doc), ...inputsBlock(doc),
      el("p", { class: "hint" }, [el("a", { href, target: "_blank", rel: "noopener", text: "the full comparison (JSON)" }),
        ": parameter shifts, every output, Sobol indices."]),
    ];
  }

  window.FootprintCompare = { render };
})();
