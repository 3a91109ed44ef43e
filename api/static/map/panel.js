/*
 * The field panel of the map: resource and capacity (P5 / P50 / P95 / mean of the shown
 * version's Monte Carlo draws), the Sobol table, the version selector and the compare of
 * two versions (compare.js, over GET fields/{id}/footprints/compare), and the
 * anomaly-report link.
 * window.FootprintPanel; map.js calls install() once with what the panel needs.
 */
(function () {
  "use strict";

  const F = window.FootprintFormat;
  const { el } = F;
  let ctx = null;

  function summaryRow(label, unit, summary) {
    const cells = [el("td", { text: `${label} (${unit})` })];
    ["p5", "p50", "p95", "mean"].forEach((k) => {
      const value = summary ? summary[k] : null;
      cells.push(el("td", { "data-stat": k, "data-value": String(value),
        title: `${F.formatNumber(value)} ${unit}`, text: F.formatQuantity(value) }));
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
        ...columns.map((k) => el("td", { "data-output": k, text: F.formatNumber(st(k, p)) }))]))),
    ]);
  }

  function footprintBlock(footprint) {
    const s = footprint.summaries || {};
    const children = [
      el("h3", { text: `Footprint version ${footprint.version}` }),
      el("table", { class: "summary", id: "summary-table" }, [
        el("thead", {}, [el("tr", {}, ["", "P5", "P50", "P95", "mean"].map((h) => el("th", { text: h })))]),
        el("tbody", {}, [summaryRow("Resource", "ct", F.findSummary(s, "resource_ct")),
          summaryRow("Capacity", "ct/yr", F.findSummary(s, "capacity_ct_per_year"))]),
      ]),
      el("p", { class: "hint", text: `${F.formatNumber(footprint.n_draws)} Monte Carlo draws, seed ${footprint.seed}` +
        (footprint.created_at ? `, built ${String(footprint.created_at).slice(0, 16).replace("T", " ")} UTC` : "") + "." }),
    ];
    const sensitivity = sensitivityTable(s.sensitivity);
    if (sensitivity) {
      children.push(el("h3", { text: "What drives the spread" }), sensitivity,
        el("p", { class: "hint", text: "Share of each output's variance a parameter explains, with its interactions (Sobol ST)." }));
    }
    return children;
  }

  function versionLabel(v) {
    return `v${v.version} · ${String(v.created_at || "").slice(0, 10)} · ${F.formatNumber(v.n_draws)} draws`;
  }

  function versionControls(fieldId) {
    const versions = ctx.state.versions[fieldId] || [];
    if (versions.length === 0) return [];
    const shown = ctx.shownVersion(fieldId);
    const compared = ctx.state.compareVersion[fieldId] || null;
    const select = el("select", { id: "version-select", "aria-label": "Footprint version shown" },
      versions.map((v) => {
        const option = el("option", { value: String(v.version), text: versionLabel(v) });
        option.selected = v.version === shown;
        return option;
      }));
    select.addEventListener("change", () => ctx.onVersion(fieldId, Number(select.value)));
    const compare = el("select", { id: "compare-select", "aria-label": "Version to compare with" },
      [el("option", { value: "", text: "no compare" }), ...versions.filter((v) => v.version !== shown).map((v) => {
        const option = el("option", { value: String(v.version), text: versionLabel(v) });
        option.selected = v.version === compared;
        return option;
      })]);
    compare.disabled = versions.length < 2;
    compare.addEventListener("change", () => ctx.onCompare(fieldId, compare.value ? Number(compare.value) : null));
    return [el("h3", { text: "Versions" }),
      el("div", { class: "versions" }, [el("label", {}, ["Show ", select]), el("label", {}, ["compare with ", compare])]),
      el("div", { id: "compare-holder" })];
  }

  async function renderCompare(fieldId) {
    const holder = document.getElementById("compare-holder");
    const compared = ctx.state.compareVersion[fieldId];
    if (!holder || ctx.state.selectedField !== fieldId) return;
    holder.dataset.loaded = "false";
    if (!compared) { holder.replaceChildren(); holder.dataset.loaded = "true"; return; }
    const shown = ctx.shownVersion(fieldId);
    const [from, to] = [Math.min(shown, compared), Math.max(shown, compared)];
    const href = ctx.url(`fields/${encodeURIComponent(fieldId)}/footprints/compare?from=${from}&to=${to}`);
    try {
      const doc = await ctx.getJSON(href);
      if (ctx.state.compareVersion[fieldId] !== compared) return;
      holder.replaceChildren(...window.FootprintCompare.render(doc, href, compared));
    } catch (err) {
      holder.replaceChildren(el("p", { class: "error", text: `Could not compare: ${err.message}` }));
    }
    holder.dataset.loaded = "true";
  }

  function renderReportLink() {
    const holder = document.getElementById("report-holder");
    const field = ctx.state.fields[ctx.state.selectedField];
    if (!holder || !field) return;
    const iso3 = (field.feature.properties || {}).participant_iso3 || (field.doc && field.doc.participant_iso3);
    if (!iso3) { holder.replaceChildren(); return; }
    const { from, to } = ctx.REPORT_YEARS;
    const href = ctx.url(`participants/${encodeURIComponent(iso3)}/report?from=${from}&to=${to}&f=html`);
    const signedIn = Boolean(ctx.state.session && ctx.state.session.signed_in);
    holder.replaceChildren(
      el("p", {}, [el("a", { href, id: "report-link", target: "_blank", rel: "noopener",
        text: `Anomaly report for ${iso3}, ${from}–${to}` })]),
      el("p", { class: "hint", text: signedIn ? "Opens with your monitor session."
        : "Reports are for monitors: sign in below with a monitor key to open it here." }));
  }

  function render(field, footprint, problem) {
    const props = field.feature.properties || {};
    const iso3 = props.participant_iso3 || (field.doc && field.doc.participant_iso3);
    const children = [
      el("h2", { text: props.name || field.id }),
      el("p", { class: "hint", text: `${field.id} · ${props.country || ""}` + (iso3 ? ` · participant ${iso3}` : "") +
        (props.aoi_area_km2 ? ` · AOI ${F.formatNumber(props.aoi_area_km2)} km²` : "") }),
    ];
    if (footprint) children.push(...footprintBlock(footprint), ...versionControls(field.id));
    else children.push(el("p", { class: "hint", text: problem || "No footprint built yet for this field." }));
    children.push(el("div", { id: "report-holder" }));
    ctx.infoEl.replaceChildren(...children);
    renderReportLink();
  }

  async function selectField(fieldId) {
    const field = ctx.state.fields[fieldId];
    if (!field) return;
    const { state, infoEl } = ctx;
    state.selectedField = fieldId;
    infoEl.dataset.field = fieldId;
    infoEl.dataset.loaded = "false";
    render(field, null, "Loading the footprint…");
    let footprint = null;
    let problem = null;
    // Ask only when a version exists: a 404 would be a console error in the browser.
    if (ctx.latestVersion(fieldId)) {
      try {
        const [doc, list] = await Promise.all([ctx.footprintDoc(fieldId, ctx.shownVersion(fieldId)),
          ctx.getJSON(ctx.url(`fields/${encodeURIComponent(fieldId)}/footprints`))]);
        footprint = doc;
        state.versions[fieldId] = list.footprints || [];
      } catch (err) {
        problem = `Could not load the footprint: ${err.message}`;
        console.warn(problem);
      }
    }
    if (state.selectedField !== fieldId) return; // another click came first
    render(field, footprint, problem);
    await renderCompare(fieldId);
    infoEl.dataset.version = String(footprint ? footprint.version : "");
    infoEl.dataset.loaded = "true";
  }

  function install(context) { ctx = context; }

  window.FootprintPanel = { install, selectField, renderCompare, renderReportLink };
})();
