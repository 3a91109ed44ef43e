"""Compare two stored footprint versions: the store in, a comparison out.

The comparison itself is :func:`footprint.compare.compare_footprints` (pure).

One function serves ``footprint compare FIELD A B`` and
``GET /fields/{id}/footprints/compare?from=A&to=B``; :func:`comparison_lines` is the
plain-text view of its result that the CLI prints.
"""

from __future__ import annotations

from typing import Any

from footprint.catalogue import get_field
from footprint.compare import DepositSet, compare_footprints
from footprint.errors import InvalidParameterError, NotFoundError
from footprint.serialise import iso_timestamp


def _deposits(store: Any, record: Any) -> DepositSet:
    features, _ = store.deposit_features(record.field_id, version=record.version,
                                         limit=max(record.n_deposits, 1))
    return DepositSet.from_features(features)


def _layer_names(store: Any, field_id: str) -> dict[int, dict[str, Any]]:
    return {layer.id: {"name": layer.name, "retired_at": iso_timestamp(layer.retired_at)}
            for layer in store.list_layers(field_id, include_retired=True)}


def compare_versions(store: Any, field_id: str, version_from: int,
                     version_to: int | None = None) -> dict[str, Any]:
    """Compare stored versions ``version_from`` (before) and ``version_to`` (after; default
    the latest) of ``field_id``. Layer entries (added, removed, and the ``layers`` table)
    gain their stored ``name`` and ``retired_at``.

    Raises
    ------
    UnknownFieldError, NotFoundError
        No such field or version.
    """
    get_field(field_id)
    if version_to is None:
        latest = store.latest_footprint(field_id)
        if latest is None:
            raise NotFoundError(f"field {field_id!r} has no footprint yet")
        version_to = latest.version
    if int(version_from) < 1 or int(version_to) < 1:
        raise InvalidParameterError("versions count from 1")
    a = store.get_footprint(field_id, int(version_from))
    b = store.get_footprint(field_id, int(version_to))
    result = compare_footprints(a, b, _deposits(store, a), _deposits(store, b))
    names = _layer_names(store, field_id)
    for key in ("layers_added", "layers_removed", "layers"):
        for entry in result["evidence"][key]:
            entry.update(names.get(int(entry["id"]), {}))
    return result


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    magnitude = abs(value)
    text = (f"{value / 1e6:.3g}M" if magnitude >= 1e6 else f"{value / 1e3:.3g}k"
            if magnitude >= 1e4 else f"{value:.3g}")
    return f"{text}{(' ' + unit) if unit else ''}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"


def _band(q: dict[str, float] | None) -> str:
    if q is None:
        return "-"
    return f"{_fmt(q['p5'])} / {_fmt(q['p50'])} / {_fmt(q['p95'])} (width {_fmt(q['band_width'])})"


def _evidence_lines(ev: dict[str, Any]) -> list[str]:
    lines = ["evidence:"]
    for entry in ev["layers_added"]:
        lines.append(f"  + layer {entry['id']} {entry['kind']} {entry.get('name', '')!r} "
                     f"sha256 {entry['sha256'][:12]}")
    for entry in ev["layers_removed"]:
        state = " (retired)" if entry.get("retired_at") else ""
        lines.append(f"  - layer {entry['id']} {entry['kind']} {entry.get('name', '')!r} "
                     f"sha256 {entry['sha256'][:12]}{state}")
    for entry in (e for e in ev.get("layers", []) if e["status"] == "changed"):
        lines.append(f"  ~ layer {entry['id']} {entry['kind']} {entry.get('name', '')!r} "
                     f"sha256 {entry['sha256_from'][:12]} -> {entry['sha256_to'][:12]}")
    for entry in ev["checksums_changed"]:
        lines.append(f"  ~ {entry['input']}: {(entry['from'] or '-')[:12]} -> "
                     f"{(entry['to'] or '-')[:12]}")
    flags = [name for name in ("sheet", "catalogue", "seed", "draws") if ev[f"{name}_changed"]]
    if flags:
        lines.append(f"  changed: {', '.join(flags)}")
    if len(lines) == 1:
        lines.append("  no input changed")
    return lines


def _sensitivity_lines(result: dict[str, Any]) -> list[str]:
    a, b = result["from"]["version"], result["to"]["version"]
    if not result["sensitivity"]:
        return ["Sobol total indices: not stored for these versions"]
    lines = []
    for output, rows in result["sensitivity"].items():
        lines.append(f"Sobol total indices of {output} (v{a} -> v{b}):")
        lines.extend(f"  {row['parameter']:<32} {_fmt(row['ST_from'])} -> {_fmt(row['ST_to'])}"
                     for row in rows[:8])
    return lines


def comparison_lines(result: dict[str, Any], *, all_parameters: bool = False) -> list[str]:
    """The comparison as text lines (what ``footprint compare`` prints)."""
    a, b = result["from"], result["to"]
    lines = [f"{result['field_id']}: v{a['version']} -> v{b['version']}"
             + ("  (same inputs)" if result["same_inputs"] else "")
             + ("  (same draws)" if result["same_draws"] else "")]
    lines.extend(_evidence_lines(result["evidence"]))
    lines.append("outputs (P5 / P50 / P95):")
    for row in result["outputs"]:
        diff = row.get("difference")
        change = "" if diff is None else (f"  difference {_fmt(diff['p5'])} / "
                                          f"{_fmt(diff['p50'])} / {_fmt(diff['p95'])};")
        lines.append(f"  {row['output']} [{row['unit']}]: {_band(row['from'])}  ->  "
                     f"{_band(row['to'])}{change}  P50 {_pct(row['p50_change_pct'])}, "
                     f"band {_pct(row['band_width_change_pct'])}")
    shifted = [r for r in result["parameters"] if all_parameters or r["changed"]]
    lines.append("parameter shifts (P5 / P50 / P95):" if shifted
                 else "parameter shifts: none")
    lines.extend(f"  {row['parameter']}: {_band(row['from'])}  ->  {_band(row['to'])}"
                 for row in shifted)
    return lines + _deposit_lines(result["deposits"]) + _sensitivity_lines(result)


def _deposit_lines(dep: dict[str, Any]) -> list[str]:
    lines = [f"deposits: {dep['from_n']} -> {dep['to_n']} ({dep['added']} added, "
             f"{_fmt(dep['added_area_m2'])} m2; {dep['removed']} removed, "
             f"{_fmt(dep['removed_area_m2'])} m2; {dep.get('changed_class', 0)} changed class, "
             f"{_fmt(dep.get('changed_class_area_m2'))} m2; {dep['unchanged']} unchanged)"]
    lines.extend(f"  {row['from_class']} -> {row['to_class']}: {row['n']}, "
                 f"{_fmt(row['area_m2'])} m2" for row in dep.get("class_changes", []))
    return lines


__all__ = ["compare_versions", "comparison_lines"]
