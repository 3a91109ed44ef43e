"""Build an anomaly report: run every protocol the inputs allow, adjust, summarise.

The report is a JSON-able dict in a versioned schema (:data:`SCHEMA_VERSION`,
:data:`REPORT_JSON_SCHEMA`, described in ``footprint/reports/SCHEMA.md``). It holds
everything the HTML and PDF renderings draw, so a stored report can be re-rendered
without its footprints.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from footprint import protocols as P
from footprint.provenance import code_version, sha256_json
from footprint.reports.inputs import ReportInputs, size_inputs
from footprint.serialise import json_safe

SCHEMA_VERSION = "1.0.0"
REPORT_KIND = "footprint-anomaly-report"
_HIST_BINS = 60
_MIN_SHIPMENTS = 3

_NUM = {"type": ["number", "null"]}
_TEST = {
    "type": "object",
    "required": ["name", "period", "statistic", "statistic_name", "p_value", "p_adjusted",
                 "probability", "verdict", "thresholds", "evidence", "method"],
    "properties": {
        "name": {"type": "string"}, "period": {"type": ["string", "null"]},
        "statistic": _NUM, "statistic_name": {"type": "string"},
        "p_value": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "p_adjusted": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "probability": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "verdict": {"enum": list(P.VERDICTS)},
        "thresholds": {"type": "object"}, "evidence": {"type": "object"},
        "method": {"type": "string"},
    },
}
_BAND = {"type": "object", "required": ["year", "p5", "p50", "p95"],
         "properties": {"year": {"type": "integer"}, "p5": _NUM, "p50": _NUM, "p95": _NUM}}

#: JSON Schema (draft 2020-12) of a report, version :data:`SCHEMA_VERSION`.
REPORT_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "footprint anomaly report",
    "type": "object",
    "required": ["schema_version", "kind", "generated_at", "participant", "period", "summary",
                 "footprints", "declared", "tests", "not_run", "fdr", "thresholds", "series",
                 "provenance"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "kind": {"const": REPORT_KIND},
        "generated_at": {"type": "string"},
        "participant": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "period": {"type": "object", "required": ["year_from", "year_to"],
                   "properties": {"year_from": {"type": "integer"},
                                  "year_to": {"type": "integer"}}},
        "summary": {"type": "object",
                    "required": ["overall_verdict", "counts", "n_tests", "synthetic_footprints"],
                    "properties": {"overall_verdict": {"enum": list(P.VERDICTS)},
                                   "counts": {"type": "object"},
                                   "n_tests": {"type": "integer"},
                                   "synthetic_footprints": {"type": "boolean"}}},
        "footprints": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["field_id", "version", "seed", "n_draws", "sheet_sha256",
                         "code_version", "parameters", "synthetic"]}},
        "declared": {"type": "object", "required": ["annual"], "properties": {
            "annual": {"type": "array", "items": {
                "type": "object", "required": ["year", "carats", "value_usd", "usd_per_ct",
                                               "status"],
                "properties": {"status": {"enum": list(P.DECLARED_STATUS)}}}}}},
        "tests": {"type": "array", "items": _TEST},
        "not_run": {"type": "array", "items": {"type": "object", "required": ["name", "reason"]}},
        "fdr": {"type": "object", "required": ["method", "alpha", "n_tests", "n_rejected"]},
        "thresholds": {"type": "object"},
        "series": {"type": "object", "required": ["capacity", "value"], "properties": {
            "capacity": {"type": "object", "required": ["unit", "quantiles", "histogram",
                                                        "by_year"],
                         "properties": {"by_year": {"type": "array", "items": _BAND}}},
            "value": {"type": "object", "required": ["unit", "quantiles", "histogram"]},
            "size": {"type": ["object", "null"]}}},
        "provenance": {"type": "object", "required": ["code_version", "inputs_sha256"]},
    },
}


def _histogram(draws: np.ndarray, *, log: bool) -> dict[str, Any]:
    arr = np.asarray(draws, dtype="float64")
    positive = arr[arr > 0]
    if log and positive.size:
        lo, hi = positive.min(), positive.max()
        edges = np.geomspace(lo, hi if hi > lo else lo * 1.01, _HIST_BINS + 1)
        counts, _ = np.histogram(positive, bins=edges)
        zeros = int(arr.size - positive.size)
    else:
        counts, edges = np.histogram(arr, bins=_HIST_BINS)
        zeros = int(np.count_nonzero(arr == 0))
    return {"edges": edges.tolist(), "counts": counts.astype(int).tolist(), "log": bool(log),
            "n_zero": zeros, "n": int(arr.size)}


def _declared_annual(inputs: ReportInputs) -> pd.DataFrame:
    prod = inputs.production
    prod = prod[(prod["participant"] == inputs.participant)
                & prod["year"].between(inputs.year_from, inputs.year_to)]
    no_prod = prod["no_production"] if "no_production" in prod.columns \
        else pd.Series(False, index=prod.index)
    annual = (prod.assign(no_production=no_prod.astype(bool))
              .groupby("year").agg(carats=("carats", "sum"), value_usd=("value_usd", "sum"),
                                   all_no_production=("no_production", "all")))
    rows = []
    by_year = annual.to_dict(orient="index")
    for year in range(inputs.year_from, inputs.year_to + 1):
        if year in by_year:
            rec = by_year[year]
            carats, value = float(rec["carats"]), float(rec["value_usd"])
            status = "no_production" if bool(rec["all_no_production"]) else "declared"
        else:
            carats, value, status = 0.0, 0.0, "no_record"
        rows.append({"year": year, "carats": carats, "value_usd": value,
                     "usd_per_ct": value / carats if carats > 0 else None, "status": status})
    return pd.DataFrame(rows)


def _mass_balance_table(inputs: ReportInputs) -> pd.DataFrame | None:
    ex = inputs.exports
    if ex is None:
        return None
    own = ex[(ex["participant"] == inputs.participant)
             & ex["year"].between(inputs.year_from, inputs.year_to)]
    if own.empty or not (own["flow"] == "export").any():
        return None
    totals = own[own["partner"] == ""]
    # partner-level rows add up to a total where no total row is given for a period/flow
    by_partner = own[own["partner"] != ""].groupby(["period", "year", "flow"], dropna=False,
                                                   as_index=False)["carats"].sum()
    tot = totals.groupby(["period", "year", "flow"], dropna=False, as_index=False)["carats"].sum()
    merged = pd.concat([tot, by_partner[~by_partner.set_index(["period", "flow"]).index
                                         .isin(tot.set_index(["period", "flow"]).index)]])
    prod = inputs.production[inputs.production["participant"] == inputs.participant]
    rows = []
    for period, group in merged.groupby("period"):
        year = int(group["year"].iloc[0])
        half = own.loc[own["period"] == period, "half"].iloc[0]
        sel = prod[prod["year"] == year]
        if not pd.isna(half) and "half" in prod.columns:
            sel = sel[sel["half"] == int(half)]
        flows = group.set_index("flow")["carats"]
        stock = math.nan
        if "stock_change_ct" in own.columns:
            declared_stock = own.loc[own["period"] == period, "stock_change_ct"].dropna()
            if not declared_stock.empty:
                stock = float(declared_stock.iloc[0])
        rows.append({"period": str(period), "production_ct": float(sel["carats"].sum()),
                     "imports_ct": float(flows.get("import", 0.0)),
                     "exports_ct": float(flows.get("export", 0.0)), "stock_change_ct": stock})
    return pd.DataFrame(rows)


def _own_certificates(inputs: ReportInputs) -> pd.DataFrame | None:
    certs = inputs.certificates
    if certs is None or certs.empty:
        return None
    years = certs["date"].dt.year
    own = certs[(certs["exporter"] == inputs.participant)
                & years.between(inputs.year_from, inputs.year_to)]
    return own if not own.empty else None


def _certificates(certs: pd.DataFrame, classes: list[str] | None) -> P.Certificates:
    """Certificates as the protocols read them: US$/ct, year, stones per common class."""
    stones = None
    sieve_cols = [c for c in certs.columns if c.startswith("sieve_")]
    if sieve_cols and classes is not None:
        rows = []
        for rec in certs[sieve_cols].to_dict(orient="records"):
            ct = {str(k)[len("sieve_"):]: float(v) for k, v in rec.items()
                  if v is not None and np.isfinite(v) and v > 0}
            mapped = P.observed_common_class_ct(ct) if ct else {}
            rows.append([mapped.get(c, 0.0) for c in classes])
        stones = P.stone_counts(np.array(rows, dtype="float64"), classes)
    return P.Certificates(usd_per_ct=certs["usd_per_ct"].to_numpy(float),
                          year=certs["date"].dt.year.to_numpy(int), stones=stones)


#: Known context of a participant's years (shown beside the verdicts; sources named).
CONTEXT_PERIODS: dict[str, list[tuple[int, int, str]]] = {
    "CIV": [(2005, 2013, ("UN embargo on Ivorian rough diamonds (UNSC resolution 1643, "
                          "Dec 2005; lifted by resolution 2153, April 2014): no KP exports"))],
    "ZWE": [(2009, 2011, ("Marange exports restricted under the KP joint work plan "
                          "(Swakopmund 2009) until the KP allowed them in Nov 2011"))],
}


def _context(inputs: ReportInputs, years: list[int],
             capacity_by_year: list[np.ndarray]) -> dict[str, list[str]]:
    """``year -> context flags``: embargo or suspension periods, field start years."""
    flags: dict[str, list[str]] = {}
    for start, end, text in CONTEXT_PERIODS.get(inputs.participant, []):
        for y in years:
            if start <= y <= end:
                flags.setdefault(str(y), []).append(text)
    for f in inputs.fields:
        active = [y for y in years if float(np.median(f.capacity_for_year(y))) > 0]
        if active and active[0] > years[0]:
            flags.setdefault(str(active[0]), []).append(f"{f.field_id} starts producing")
    return flags


def _characteristics_by_test(characteristics: Any) -> dict[str, dict[str, Any]]:
    if not characteristics:
        return {}
    out = {}
    for row in characteristics.get("tests", []):
        power = {k[len("power_"):]: v for k, v in row.items()
                 if k.startswith("power_") and v is not None}
        out[row["test"]] = {"size": row.get("size"), "size_se": row.get("size_se"),
                            "power": power}
    return out


def narrative(report: dict[str, Any]) -> str:
    """One paragraph: what is anomalous, in which direction, how sure (opens the report)."""
    tests = report["tests"]
    anomalous = [t for t in tests if t["verdict"] == "anomalous"]
    watch = [t for t in tests if t["verdict"] == "watch"]
    who = f"{report['participant']} {report['period']['year_from']}–{report['period']['year_to']}"
    fdr = report["fdr"]
    if not anomalous and not watch:
        text = (f"{who}: every test is consistent with the footprints "
                f"({fdr['n_tests']} p-values, Benjamini-Hochberg at α = {fdr['alpha']}).")
    else:
        parts = []
        vol = [t for t in anomalous if t["name"] == "volume_vs_capacity"]
        for tail, words in (("above", "above what the fields can give"),
                            ("below", "below what even low utilisation gives")):
            yrs = [t["period"] for t in vol if t["evidence"].get("tail") == tail]
            if yrs:
                parts.append(f"declared production {words} in {_years_text(yrs)}")
        for t in anomalous:
            if t["name"] == "volume_vs_capacity":
                continue
            direction = t["evidence"].get("direction", "")
            parts.append(f"{t['name'].replace('_', ' ')} {t['period'] or ''}"
                         + (f" ({direction})" if direction else ""))
        text = (f"{who}: {len(anomalous)} anomalous verdict(s) at a false discovery rate "
                f"of α = {fdr['alpha']}" + (": " + "; ".join(parts) if parts else "")
                + f"; {len(watch)} to watch (rejected only at {fdr.get('watch_alpha')}).")
        smallest = min((t["p_adjusted"] for t in anomalous if t["p_adjusted"] is not None),
                       default=None)
        if smallest is not None:
            text += f" The strongest has a BH-adjusted p of {_fmt(smallest)}."
    flags = report.get("context") or {}
    if flags:
        text += " Context: " + "; ".join(sorted({f for v in flags.values() for f in v})) + "."
    if report["summary"].get("synthetic_footprints"):
        text += " The footprints are synthetic: these verdicts are not evidence."
    return text


def _years_text(years: list[str]) -> str:
    ints = sorted(int(y) for y in years)
    runs: list[str] = []
    start = ints[0]
    for a, b in zip(ints, [*ints[1:], None], strict=True):
        if b != a + 1:
            runs.append(str(start) if start == a else f"{start}–{a}")
            if b is not None:  # None ends the last run: nothing follows
                start = b
    return ", ".join(runs)


def _protocol_data(inputs: ReportInputs, declared: pd.DataFrame, years: list[int],
                   capacity_by_year: list[np.ndarray], value: np.ndarray,
                   certs: pd.DataFrame | None) -> P.ProtocolData:
    """What :func:`footprint.protocols.run_protocols` reads, from the report's inputs."""
    classes, stone_share, kappa = size_inputs(inputs.fields)
    return P.ProtocolData(
        years=years, declared_ct=declared["carats"].to_numpy(float),
        declared_usd=declared["value_usd"].to_numpy(float),
        status=list(declared["status"]), capacity_by_year=capacity_by_year,
        value_draws_usd_per_ct=value, market=inputs.market or P.MarketModel(index={}),
        certificates=None if certs is None else _certificates(certs, classes),
        size_classes=classes, stone_share=stone_share, size_concentration=kappa,
        volume_series=inputs.volume_series)


def _declaration_tests(inputs: ReportInputs, tests: list[P.TestResult],
                       not_run: list[dict[str, str]]) -> None:
    """Mass balance and mirror statistics from the export statistics (appended in place)."""
    span = f"{inputs.year_from}-{inputs.year_to}"
    balance = _mass_balance_table(inputs)
    if balance is None:
        not_run.append({"name": "mass_balance",
                        "reason": "no export statistics of this participant in the period"})
    else:
        tests.append(P.check_mass_balance(balance, period=span, thresholds=inputs.thresholds))
    pairs = None
    if inputs.exports is not None:
        ex = inputs.exports[inputs.exports["year"].between(inputs.year_from, inputs.year_to)]
        pairs = P.mirror_pairs(ex, inputs.participant)
    if pairs is None or pairs.empty:
        not_run.append({"name": "mirror", "reason": "no pair of mirror declarations "
                                                    "(participant -> partner and back)"})
    else:
        tests.append(P.compare_mirror(pairs, period=span, thresholds=inputs.thresholds))


def _series(data: P.ProtocolData, tests: list[P.TestResult], base_capacity: np.ndarray,
            certs: pd.DataFrame | None) -> dict[str, Any]:
    """The report's footprint series: capacity (with its band per year), value, sizes."""
    size_series = None
    if data.stone_share is not None and data.size_classes is not None:
        size_series = {"classes": list(data.size_classes),
                       "expected_share": data.stone_share.tolist(), "unit": "share of stones"}
        obs = next((t for t in tests if t.name == "size_distribution"), None)
        if obs is not None:
            size_series["observed_share"] = obs.evidence["observed_share"]
    value = np.asarray(data.value_draws_usd_per_ct)
    bands = [{"year": y, **P.quantiles(c, (0.05, 0.5, 0.95))}
             for y, c in zip(data.years, data.capacity_by_year, strict=True)]
    return {
        "capacity": {"unit": "ct/yr", "quantiles": P.quantiles(base_capacity),
                     "mean": float(base_capacity.mean()),
                     "histogram": _histogram(base_capacity, log=True), "by_year": bands},
        "value": {"unit": "US$/ct", "quantiles": P.quantiles(value), "mean": float(value.mean()),
                  "histogram": _histogram(value, log=True)},
        "size": size_series,
        "shipments_usd_per_ct": None if certs is None
        else [float(x) for x in certs["usd_per_ct"] if np.isfinite(x)]}


def _summary(inputs: ReportInputs, tests: list[P.TestResult]) -> dict[str, Any]:
    fields = list(inputs.fields)
    covered = [f for f in fields if getattr(f, "kind", "field") == "field"]
    return {"overall_verdict": P.worst_verdict([t.verdict for t in tests]),
            "counts": {v: sum(t.verdict == v for t in tests) for v in P.VERDICTS},
            "n_tests": len(tests), "synthetic_footprints": any(f.synthetic for f in fields),
            "capacity_share_alluvial_fields": float(
                sum(float(np.median(f.capacity_ct_per_year)) for f in covered)
                / max(sum(float(np.median(f.capacity_ct_per_year)) for f in fields), 1e-300))}


def build_report(inputs: ReportInputs, *,
                 generated_at: dt.datetime | None = None) -> dict[str, Any]:
    """Run the protocols on ``inputs`` and return the report (schema :data:`REPORT_JSON_SCHEMA`).

    Tests run: volume against capacity and value band per year (the participant's fields
    summed draw by draw; value draws carat-weighted draw by draw), a break test on the
    volume and on the US$/ct series, and where the inputs allow, the shipment two-sample
    value test, the size-distribution test (certificates with a sieve breakdown), mass
    balance and mirror statistics (export statistics). Every p-valued test enters one
    Benjamini-Hochberg adjustment; verdicts read the adjusted values. Tests that cannot
    run are listed in ``not_run`` with the reason.
    """
    fields = list(inputs.fields)
    years = list(range(inputs.year_from, inputs.year_to + 1))
    declared = _declared_annual(inputs)
    if not inputs.absent_years_as_zero:
        declared = declared[declared["status"] != "no_record"].reset_index(drop=True)
        years = [int(y) for y in declared["year"]]
    capacity_by_year = [P.sum_capacity_draws([f.capacity_for_year(y) for f in fields])
                        for y in years]
    value = P.combine_value_draws([f.capacity_ct_per_year for f in fields],
                                  [f.value_usd_per_ct for f in fields])
    certs = _own_certificates(inputs)
    data = _protocol_data(inputs, declared, years, capacity_by_year, value, certs)
    seed = int(sum(int(f.seed) for f in fields) % (2 ** 32))
    tests, not_run = P.run_protocols(data, seed=seed, thresholds=inputs.thresholds)
    _declaration_tests(inputs, tests, not_run)
    tests, fdr = P.adjust_benjamini_hochberg(tests, thresholds=inputs.thresholds)
    footprints = [f.metadata() for f in fields]
    market = data.market
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "kind": REPORT_KIND,
        "generated_at": (generated_at or dt.datetime.now(dt.UTC)).isoformat(
            timespec="seconds"),
        "participant": inputs.participant,
        "period": {"year_from": inputs.year_from, "year_to": inputs.year_to},
        "summary": _summary(inputs, tests), "footprints": footprints,
        "declared": {"annual": declared.to_dict(orient="records"),
                     "n_certificates": 0 if certs is None else int(len(certs)),
                     "absent_years_as_zero": inputs.absent_years_as_zero},
        "tests": [t.to_dict() for t in tests], "not_run": not_run, "fdr": fdr,
        "thresholds": inputs.thresholds.model_dump(),
        "market": {"index": {str(k): float(v) for k, v in market.index.items()},
                   "annual_sd_ln": market.annual_sd_ln, "annual_ar1": market.annual_ar1,
                   "note": "rough-diamond price index of the other KP participants "
                           "(out of sample), rebased on the value footprint's years"},
        "series": _series(data, tests, P.sum_capacity_draws(
            [f.capacity_ct_per_year for f in fields]), certs),
        "provenance": {"code_version": code_version(), **dict(inputs.provenance)},
        "context": _context(inputs, years, capacity_by_year),
        "characteristics": dict(inputs.characteristics) if inputs.characteristics else None,
    }
    report = json_safe(report, strict=False)
    report["summary"]["narrative"] = narrative(report)
    report["provenance"]["inputs_sha256"] = sha256_json(
        {"footprints": footprints, "declared": report["declared"],
         "thresholds": report["thresholds"], "provenance": dict(inputs.provenance)})
    return report


def verdict_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per test (for the HTML and PDF tables): with the test's size and power
    from the calibration harness where the report carries them, and context flags."""
    rows = []
    oc = _characteristics_by_test(report.get("characteristics"))
    context = report.get("context") or {}
    for t in report["tests"]:
        c = oc.get(t["name"])
        size = "–" if not c or c["size"] is None else f"{c['size']:.3f}"
        power = "–" if not c or not c["power"] else ", ".join(
            f"{k} {v:.2f}" for k, v in c["power"].items())
        flags = context.get(t["period"] or "", [])
        rows.append({"size": size, "power": power, "context": "; ".join(flags),
                     "test": t["name"], "period": t["period"] or "",
                     "statistic": _fmt(t["statistic"]), "statistic_name": t["statistic_name"],
                     "p_value": _fmt(t["p_value"]), "p_adjusted": _fmt(t["p_adjusted"]),
                     "probability": _fmt(t["probability"]), "verdict": t["verdict"],
                     "note": _note(t)})
    return rows


def _fmt(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "∞"
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e6):
            return f"{x:.3g}"
        return f"{x:,.3f}" if abs(x) < 100 else f"{x:,.0f}"
    return str(x)


def _volume_note(t: dict[str, Any]) -> str:
    """The note of a ``volume_vs_capacity`` test: declared carats against the capacity band."""
    ev = t["evidence"]
    q = ev["capacity_ct"]
    text = (f"declared {ev['declared_ct']:,.0f} ct vs capacity P5–P95 "
            f"{q['p5']:,.0f}–{q['p95']:,.0f} ct/yr")
    if ev.get("declared_status") in ("no_record", "no_production"):
        text += f" ({ev['declared_status'].replace('_', ' ')})"
    if t["verdict"] != "consistent":
        text += f"; {P.VOLUME_PATTERNS[ev['tail']]}"
    return text


def _break_note(ev: dict[str, Any]) -> str:
    """The note of a ``break_*`` test: where the largest shift is and the levels around it."""
    text = (f"largest shift at {ev['break_year']} ({ev['latent_jump']:+.2f} sd of the "
            f"footprint band)")
    if "declared_before" in ev and "reference_before" in ev:
        text += (f"; declared {ev['declared_before']:,.3g} → {ev['declared_after']:,.3g}, "
                 f"reference {ev['reference_before']:,.3g} → {ev['reference_after']:,.3g}")
    return text


def _note(t: dict[str, Any]) -> str:
    """A one-line, human-readable summary of a protocol test's evidence ("" if unknown)."""
    ev = t["evidence"]
    if t["name"] == "volume_vs_capacity":
        return _volume_note(t)
    if t["name"] == "value_band":
        q = ev["value_usd_per_ct"]
        return (f"{ev['declared_usd_per_ct']:,.1f} US$/ct (index {ev['index']:.2f}), "
                f"percentile {ev['percentile']:.1f} of the year's band P5–P95 "
                f"{q['p5']:,.1f}–{q['p95']:,.1f}")
    if t["name"].startswith("break_"):
        return _break_note(ev)
    if t["name"] == "shipment_values":
        return (f"{ev['n_shipments']} shipments, field-level "
                f"{ev['field_level_real_usd_per_ct']:,.1f} US$/ct (deflated) vs footprint "
                f"{ev['value_usd_per_ct']['p50']:,.1f}; parcel "
                f"sd {ev['parcel_sd_ln']:.2f} ln")
    if t["name"] == "size_distribution":
        diffs = [o - e for o, e in zip(ev["observed_share"], ev["expected_share"], strict=True)]
        i = max(range(len(diffs)), key=lambda k: abs(diffs[k]))
        return (f"{ev.get('n_certificates', '?')} certificates, {ev['n_stones']:,} stones; "
                f"largest gap {ev['classes'][i]}: {ev['observed_share'][i]:.0%} of stones vs "
                f"{ev['expected_share'][i]:.0%} expected")
    if t["name"] == "mass_balance":
        return "; ".join(f"{r['period']}: residual {r['residual_ct']:,.0f} ct"
                         + ("" if r["stock_known"] else " (stock unknown)")
                         for r in ev["periods"])
    if t["name"] == "mirror":
        return "; ".join(f"{r['period']} {r['flow']} {r['partner']}: {r['declared_ct']:,.0f} vs "
                         f"{r['mirror_ct']:,.0f} ct" for r in ev["pairs"])
    return ""
