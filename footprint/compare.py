"""What changed between two footprint versions of a field.

:func:`compare_footprints` is pure: it reads two stored versions (their summaries and
provenance, as :class:`~footprint.storage.records.FootprintRecord` keeps them) and their
deposit polygons, and says

* which **evidence** changed: stored layers added to or dropped from the build inputs
  (an upload, a retirement), every layer of either version with its sha256 in each and
  whether it differs, other input checksums changed (data files, DEM tiles), and
  whether the sheet, seed, draws or model version differ;
* the **parameter shifts**: P5/P50/P95 of every uncertain parameter's draws before and
  after (``summaries["parameter_quantiles"]``; a posterior from evidence shows here);
* **resource and capacity** P5/P50/P95 before and after, their differences (after −
  before, carats or carats per year) and changes in percent, the band width
  ``P95 - P5`` and its change;
* **deposits** added, removed and changed class: a deposit is the same ground in both
  versions when its geometry (normalised, at the stored 7 decimals of a degree) is equal;
  the same ground with another class has changed class; a deposit with no geometry (or
  an empty one) has no ground: it never pairs, so it counts as removed from ``a`` and
  added in ``b``; areas are the stored ``area_m2`` (m², in the field's projected CRS),
  also summed per class in each version;
* the **Sobol total indices** (``ST``) of each version for resource and capacity
  (``summaries["sensitivity"]``, :func:`footprint.sensitivity.sensitivity_summary`).

The glue that loads versions from the store is :func:`footprint.pipeline.compare.compare_versions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from footprint.sensitivity import SENSITIVITY_OUTPUTS, total_indices
from footprint.serialise import iso_timestamp

#: Summary blocks and keys compared as outputs (in this order, those present).
OUTPUT_KEYS = (("resource", "resource_ct"), ("resource", "resource_volume_grade_ct"),
               ("resource", "resource_per_km_ct"), ("capacity", "capacity_ct_per_year"),
               ("capacity", "capacity_potential_ct_per_year"),
               ("capacity", "capacity_artisanal_ct_per_year"),
               ("capacity", "capacity_mechanised_ct_per_year"),
               ("capacity", "capacity_imagery_ct_per_year"))
#: Digits of a degree at which deposit geometries are compared (as the store publishes them).
GEOMETRY_DECIMALS = 7


@dataclass(frozen=True)
class DepositSet:
    """The deposits of one version: class, stored area (m²) and lon/lat geometry."""

    deposit_class: Sequence[str | None]
    area_m2: Sequence[float | None]
    geometry: Sequence[BaseGeometry | None]

    @classmethod
    def from_features(cls, features: Iterable[Mapping[str, Any]]) -> DepositSet:
        """From GeoJSON-like feature dicts (as :meth:`Store.deposit_features` returns)."""
        import json

        classes, areas, geoms = [], [], []
        for feature in features:
            props = feature.get("properties") or {}
            classes.append(props.get("deposit_class"))
            areas.append(props.get("area_m2"))
            geometry = feature.get("geometry")
            geoms.append(None if geometry is None else shapely.from_geojson(json.dumps(geometry)))
        return cls(classes, areas, geoms)

    def keys(self) -> list[str | None]:
        """One identity per deposit's ground: its normalised WKB at 7 decimals of a degree;
        None for a deposit with no geometry or an empty one (it has no ground to share)."""
        geoms = np.array(list(self.geometry), dtype=object)
        present = np.array([g is not None and not g.is_empty for g in geoms], dtype=bool)
        wkb = np.full(len(geoms), None, dtype=object)
        if present.any():
            rounded = shapely.transform(geoms[present],
                                        lambda xy: np.round(xy, GEOMETRY_DECIMALS))
            wkb[present] = shapely.to_wkb(shapely.normalize(rounded), hex=True)
        return [None if w is None else str(w) for w in wkb]


def _quantiles(summary: Mapping[str, Any] | None) -> dict[str, float | None] | None:
    if not summary or summary.get("p50") is None:
        return None
    p5, p50, p95 = (float(summary[k]) for k in ("p5", "p50", "p95"))
    return {"p5": p5, "p50": p50, "p95": p95, "band_width": p95 - p5,
            "band_ratio": p95 / p5 if p5 > 0 else None}


def _change_pct(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before == 0:
        return None
    return 100.0 * (after - before) / abs(before)


def _shift(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, Any]:
    a, b = _quantiles(before), _quantiles(after)

    def pick(q: dict[str, float | None] | None, key: str) -> float | None:
        return None if q is None else q[key]

    difference = None if a is None or b is None else {
        key: float(b[key] or 0.0) - float(a[key] or 0.0)
        for key in ("p5", "p50", "p95", "band_width")}
    change_pct = None if a is None or b is None else {
        key: _change_pct(a[key], b[key]) for key in ("p5", "p50", "p95", "band_width")}
    return {"from": a, "to": b, "difference": difference, "change_pct": change_pct,
            "p50_change_pct": _change_pct(pick(a, "p50"), pick(b, "p50")),
            "band_width_change_pct": _change_pct(pick(a, "band_width"), pick(b, "band_width"))}


def _version_info(record: Any) -> dict[str, Any]:
    prov = record.provenance or {}
    return {"version": record.version,
            "created_at": iso_timestamp(getattr(record, "created_at", None)),
            "inputs_sha256": getattr(record, "inputs_sha256", None) or prov.get("inputs_sha256"),
            "draws_sha256": prov.get("draws_sha256"), "seed": record.seed,
            "draws": record.n_draws, "code_version": record.code_version,
            "sheet_sha256": record.sheet_sha256, "n_deposits": record.n_deposits}


def _layers(record: Any) -> dict[str, dict[str, Any]]:
    """``layer:<kind>:<id>`` -> layer entry: from the inputs document, else the checksums."""
    prov = record.provenance or {}
    listed = (prov.get("inputs") or {}).get("layers")
    if listed is not None:
        return {f"layer:{e['kind']}:{e['id']}": dict(e) for e in listed}
    layers = {}
    for key, sha in (prov.get("input_checksums") or {}).items():
        parts = key.split(":")
        if len(parts) == 3 and parts[0] == "layer":
            layers[key] = {"id": int(parts[2]), "kind": parts[1], "sha256": sha}
    return layers


def _other_checksums(record: Any) -> dict[str, str]:
    prov = record.provenance or {}
    checksums = (prov.get("inputs") or {}).get("checksums")
    if checksums is None:
        checksums = prov.get("input_checksums") or {}
    return {k: v for k, v in checksums.items() if not k.startswith("layer:")}


def _layer_rows(la: dict[str, dict[str, Any]], lb: dict[str, dict[str, Any]]
                ) -> list[dict[str, Any]]:
    """Every layer of either version: id, kind, its sha256 in each (None where it is not
    an input) and ``status``: ``added``, ``removed``, ``changed`` (other bytes) or
    ``same``."""
    rows = []
    for key in sorted(set(la) | set(lb), key=lambda k: (int(k.split(":")[2]), k)):
        entry = lb.get(key) or la[key]
        sha_a, sha_b = (la.get(key) or {}).get("sha256"), (lb.get(key) or {}).get("sha256")
        status = ("added" if key not in la else "removed" if key not in lb
                  else "same" if sha_a == sha_b else "changed")
        rows.append({"id": entry["id"], "kind": entry["kind"], "sha256_from": sha_a,
                     "sha256_to": sha_b, "status": status})
    return rows


def _evidence(a: Any, b: Any) -> dict[str, Any]:
    la, lb = _layers(a), _layers(b)
    ca, cb = _other_checksums(a), _other_checksums(b)
    ia = (a.provenance or {}).get("inputs") or {}
    ib = (b.provenance or {}).get("inputs") or {}
    return {
        "layers_added": [lb[k] for k in sorted(set(lb) - set(la))],
        "layers_removed": [la[k] for k in sorted(set(la) - set(lb))],
        "layers_unchanged": len(set(la) & set(lb)),
        "layers": _layer_rows(la, lb),
        "checksums_changed": [{"input": k, "from": ca.get(k), "to": cb.get(k)}
                              for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k)],
        "sheet_changed": a.sheet_sha256 != b.sheet_sha256,
        "catalogue_changed": ia.get("catalogue_sha256") != ib.get("catalogue_sha256"),
        "seed_changed": a.seed != b.seed,
        "draws_changed": a.n_draws != b.n_draws,
        "model_version": {"from": ia.get("model_version"), "to": ib.get("model_version")},
        "evidence_from": (a.summaries or {}).get("evidence"),
        "evidence_to": (b.summaries or {}).get("evidence"),
    }


def _parameters(a: Any, b: Any) -> list[dict[str, Any]]:
    qa = (a.summaries or {}).get("parameter_quantiles") or {}
    qb = (b.summaries or {}).get("parameter_quantiles") or {}
    rows = []
    for name in sorted(set(qa) | set(qb)):
        row = {"parameter": name, **_shift(qa.get(name), qb.get(name))}
        row["changed"] = qa.get(name) != qb.get(name)
        rows.append(row)
    return rows


def _outputs(a: Any, b: Any) -> list[dict[str, Any]]:
    rows = []
    for block, key in OUTPUT_KEYS:
        before = ((a.summaries or {}).get(block) or {}).get(key)
        after = ((b.summaries or {}).get(block) or {}).get(key)
        if before is None and after is None:
            continue
        unit = "ct" if block == "resource" else "ct/yr"
        rows.append({"output": key, "unit": unit, **_shift(before, after)})
    return rows


def _grounds(deposits: DepositSet) -> tuple[dict[str, list[int]], list[int]]:
    """(ground key -> indexes of the deposits on it, indexes of those with no ground)."""
    grounds: dict[str, list[int]] = {}
    no_ground: list[int] = []
    for i, key in enumerate(deposits.keys()):
        if key is None:
            no_ground.append(i)
        else:
            grounds.setdefault(key, []).append(i)
    return grounds, no_ground


def _pair_by_ground(a: DepositSet, b: DepositSet) -> tuple[list[int], list[int],
                                                             list[tuple[int, int]]]:
    """(indexes of ``a`` only, indexes of ``b`` only, pairs (i, j) on the same ground):
    on each ground, deposits of the same class pair first, the rest pair in order; a
    deposit with no (or an empty) geometry never pairs."""
    ground_a, only_a = _grounds(a)
    ground_b, only_b = _grounds(b)
    pairs: list[tuple[int, int]] = []
    for key in ground_a.keys() | ground_b.keys():
        left, right = list(ground_a.get(key, [])), list(ground_b.get(key, []))
        for i in list(left):
            same = next((j for j in right if b.deposit_class[j] == a.deposit_class[i]), None)
            if same is not None:
                pairs.append((i, same))
                left.remove(i)
                right.remove(same)
        pairs.extend(zip(left, right, strict=False))
        only_a.extend(left[len(right):])
        only_b.extend(right[len(left):])
    return sorted(only_a), sorted(only_b), sorted(pairs)


def _by_class(deposits: DepositSet, indexes: Iterable[int]) -> dict[str, dict[str, Any]]:
    by_class: dict[str, dict[str, Any]] = {}
    for i in indexes:
        entry = by_class.setdefault(str(deposits.deposit_class[i]), {"n": 0, "area_m2": 0.0})
        entry["n"] += 1
        entry["area_m2"] += float(deposits.area_m2[i] or 0.0)
    return by_class


def _class_areas(a: DepositSet, b: DepositSet) -> list[dict[str, Any]]:
    """Each class's count and area (m²) in both versions and the change."""
    in_a = _by_class(a, range(len(a.deposit_class)))
    in_b = _by_class(b, range(len(b.deposit_class)))
    empty = {"n": 0, "area_m2": 0.0}
    rows = []
    for cls in sorted(in_a.keys() | in_b.keys()):
        before, after = in_a.get(cls, empty), in_b.get(cls, empty)
        rows.append({"deposit_class": cls, "from_n": before["n"], "to_n": after["n"],
                     "from_area_m2": before["area_m2"], "to_area_m2": after["area_m2"],
                     "area_change_m2": after["area_m2"] - before["area_m2"]})
    return rows


def _deposits(a: DepositSet, b: DepositSet) -> dict[str, Any]:
    only_a, only_b, pairs = _pair_by_ground(a, b)
    moved = [(i, j) for i, j in pairs if a.deposit_class[i] != b.deposit_class[j]]
    changes: dict[tuple[str, str], dict[str, Any]] = {}
    for i, j in moved:
        entry = changes.setdefault((str(a.deposit_class[i]), str(b.deposit_class[j])),
                                   {"n": 0, "area_m2": 0.0})
        entry["n"] += 1
        entry["area_m2"] += float(b.area_m2[j] or 0.0)
    added, removed = _by_class(b, only_b), _by_class(a, only_a)
    return {"from_n": len(a.deposit_class), "to_n": len(b.deposit_class),
            "unchanged": len(pairs) - len(moved),
            "added": len(only_b), "removed": len(only_a), "changed_class": len(moved),
            "added_area_m2": sum(e["area_m2"] for e in added.values()),
            "removed_area_m2": sum(e["area_m2"] for e in removed.values()),
            "changed_class_area_m2": sum(e["area_m2"] for e in changes.values()),
            "added_by_class": added, "removed_by_class": removed,
            "class_changes": sorted(({"from_class": f, "to_class": t, **e}
                                     for (f, t), e in changes.items()),
                                    key=lambda row: -row["area_m2"]),
            "by_class": _class_areas(a, b)}


def _sensitivity(a: Any, b: Any) -> dict[str, list[dict[str, Any]]]:
    sa = (a.summaries or {}).get("sensitivity")
    sb = (b.summaries or {}).get("sensitivity")
    table: dict[str, list[dict[str, Any]]] = {}
    for output in SENSITIVITY_OUTPUTS:
        ta, tb = total_indices(sa, output), total_indices(sb, output)
        if not ta and not tb:
            continue
        names = sorted(set(ta) | set(tb), key=lambda n: -max(ta.get(n, 0.0), tb.get(n, 0.0)))
        table[output] = [{"parameter": n, "ST_from": ta.get(n), "ST_to": tb.get(n)}
                         for n in names]
    return table


def compare_footprints(a: Any, b: Any, deposits_a: DepositSet,
                       deposits_b: DepositSet) -> dict[str, Any]:
    """Compare footprint version ``a`` (before) with ``b`` (after) of the same field.

    Parameters
    ----------
    a, b
        Stored versions (``FootprintRecord``-like: ``version``, ``summaries``,
        ``provenance``, ``seed``, ``n_draws``, ``sheet_sha256``, ``code_version``).
    deposits_a, deposits_b
        Their deposits (:class:`DepositSet`).

    Returns
    -------
    dict
        ``field_id``, ``from``/``to`` (version, inputs and draws sha256, seed ...),
        ``same_inputs``, ``same_draws``, ``evidence``, ``parameters``, ``outputs``,
        ``deposits`` and ``sensitivity`` (see the module docstring). Differences are
        after − before; percentages ``100 × (after − before) / |before|``, None where
        before is 0 or missing.
    """
    info_a, info_b = _version_info(a), _version_info(b)
    return {
        "field_id": a.field_id,
        "from": info_a, "to": info_b,
        "same_inputs": info_a["inputs_sha256"] is not None
        and info_a["inputs_sha256"] == info_b["inputs_sha256"],
        "same_draws": info_a["draws_sha256"] is not None
        and info_a["draws_sha256"] == info_b["draws_sha256"],
        "evidence": _evidence(a, b),
        "parameters": _parameters(a, b),
        "outputs": _outputs(a, b),
        "deposits": _deposits(deposits_a, deposits_b),
        "sensitivity": _sensitivity(a, b),
    }


__all__ = ["OUTPUT_KEYS", "DepositSet", "compare_footprints"]
