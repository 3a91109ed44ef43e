"""The stored layers of a field as the inputs of a build (:mod:`footprint.pipeline.build`).

What a delineation reads (uploaded DEMs, the newest ``deposits`` layer, ``mined_areas``,
known sources from ``bulk_samples``), the newly mined area per year from dated mined
ground, and the survey evidence (bulk samples, pit logs, workforce counts) that updates
the parameter sheet; each with the sha256 of the stored layers it used.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from footprint.evidence import BulkSamples, Evidence
from footprint.settings import Settings


def _newest(layers: list[Any], kind: str) -> Any | None:
    candidates = [layer for layer in layers if layer.kind == kind]
    return max(candidates, key=lambda layer: (layer.version, layer.id)) if candidates else None


def _layer_frame(store: Any, layer: Any) -> gpd.GeoDataFrame:
    """A stored vector layer's features as a GeoDataFrame in EPSG:4326 (all of them)."""
    return store.layer_frame(layer.id)


#: Newly mined areas below this (m²) are float round-off of the polygon overlay, not ground.
MINED_AREA_TOLERANCE_M2 = 1e-3


def mined_area_by_year(mined: gpd.GeoDataFrame, crs: Any) -> dict[int, float]:
    """Newly mined area per year (m², in projected ``crs``) from dated mined-ground polygons.

    The ground mined by year ``y`` is the union of the polygons dated ``<= y``; the area
    new in ``y`` is the area of that year's polygons minus (set difference) the ground
    mined before, so ground mapped twice counts once. A set difference has no negative
    area; what the overlay leaves below :data:`MINED_AREA_TOLERANCE_M2` (round-off of the
    same polygon uploaded for two years, issue 11 row 2) counts as nothing new.
    The first dated year is the **baseline**: what it shows was mined up to then, over
    unknown years, so it is not one year's production and the series starts the year
    after. Polygons without a year belong to that baseline too (they still count as
    mined ground in the deposits).
    """
    if mined.empty or "year" not in mined:
        return {}
    mined = mined.to_crs(crs)
    year_of = pd.to_numeric(mined["year"], errors="coerce")
    dated = mined[year_of.notna()]
    if dated.empty:
        return {}
    years = sorted(int(y) for y in year_of.dropna().unique())
    baseline = mined[year_of.isna() | (year_of == years[0])].geometry.values
    cumulative = shapely.union_all(shapely.make_valid(baseline))
    series = {}
    for year in years[1:]:
        ofyear = shapely.union_all(shapely.make_valid(
            dated[year_of[year_of.notna()] == year].geometry.values))
        new_m2 = float(shapely.difference(ofyear, cumulative).area)
        series[year] = new_m2 if new_m2 > MINED_AREA_TOLERANCE_M2 else 0.0
        cumulative = shapely.union_all([cumulative, ofyear])
    return series


def _mined_frame(store: Any, layers: list[Any]) -> tuple[gpd.GeoDataFrame | None, dict[str, str]]:
    frames, checksums = [], {}
    for layer in layers:
        if layer.kind != "mined_areas":
            continue
        frame = _layer_frame(store, layer)
        if "year" not in frame or frame["year"].isna().all():
            frame = frame.assign(year=layer.year)
        frames.append(frame)
        checksums[f"layer:mined_areas:{layer.id}"] = layer.sha256
    if not frames:
        return None, checksums
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs), checksums


def delineation_inputs(field: Any, store: Any,
                       settings: Settings) -> tuple[dict[str, Any], dict[str, str]]:
    """Keyword arguments of :func:`delineate_field` from the field's stored layers, and
    the sha256 of each layer used (``layer:<kind>:<id>``).

    Uploaded DEMs are stacked over the field's tiles, each winning where it has data
    (terrain mode; coverage per source in the delineation summary); the newest uploaded
    ``deposits`` layer selects the deposit-polygon mode; every ``mined_areas`` layer is
    subtracted.
    """
    layers = list(store.list_layers(field.id))
    kwargs: dict[str, Any] = {}
    checksums: dict[str, str] = {}
    mined, mined_checksums = _mined_frame(store, layers)
    if mined is not None:
        kwargs["mined_polygons"] = mined
        checksums.update(mined_checksums)
    polygons = _newest(layers, "deposits")
    if polygons is not None:
        kwargs["deposit_polygons"] = _layer_frame(store, polygons)
        kwargs["mode"] = "polygons"
        checksums[f"layer:deposits:{polygons.id}"] = polygons.sha256
    samples = [layer for layer in layers if layer.kind == "bulk_samples"]
    if samples and polygons is None:  # known sources of the terrain mode (carats > 0)
        frames = [_layer_frame(store, layer) for layer in samples]
        frames = [frame.to_crs(4326) for frame in frames if frame.crs is not None]
        if frames:
            kwargs["bulk_samples"] = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True),
                                                      crs=4326)
        checksums.update({f"layer:bulk_samples:{layer.id}": layer.sha256 for layer in samples})
    dems = [layer for layer in layers if layer.kind == "dem" and layer.path]
    if dems and polygons is None:
        kwargs["dem_uploads"] = [(f"upload:{layer.id}", settings.state_dir / layer.path)
                                 for layer in dems]
        checksums.update({f"layer:dem:{layer.id}": layer.sha256 for layer in dems})
    return kwargs, checksums


#: Layer kinds whose features update the parameter sheet (:mod:`footprint.evidence`).
EVIDENCE_KINDS = ("bulk_samples", "pit_logs", "workforce")


def _assign_classes(frame: gpd.GeoDataFrame, deposits: gpd.GeoDataFrame | None,
                    crs: Any) -> pd.Series:
    """The deposit class each feature falls in ("*" outside every deposit), by its
    representative point in the field's projected ``crs``."""
    if deposits is None or deposits.empty or "deposit_class" not in deposits:
        return pd.Series("*", index=frame.index)
    points = gpd.GeoDataFrame(geometry=frame.to_crs(crs).geometry.representative_point(),
                              crs=crs)
    polygons = deposits.to_crs(crs)[["deposit_class", "geometry"]]
    joined = gpd.sjoin(points, polygons, how="left", predicate="within")
    first = joined[~joined.index.duplicated(keep="first")]["deposit_class"]
    return first.reindex(frame.index).fillna("*").astype(str)


def evidence_inputs(store: Any, layers: list[Any], deposits: gpd.GeoDataFrame | None,
                    crs: Any) -> tuple[Any, dict[str, str]]:
    """The :class:`footprint.evidence.Evidence` of a field's stored survey layers.

    Bulk samples (``volume_m3``, ``carats``, optional ``stones``) and pit logs
    (``thickness_m``, ``overburden_m``) belong to the deposit class they fall in;
    workforce counts (``count``, ``year``) are grouped by year. Returns the evidence and
    the sha256 of each layer used (``layer:<kind>:<id>``).
    """
    bulk: dict[str, list[pd.DataFrame]] = {}
    pits: dict[str, list[pd.DataFrame]] = {}
    workforce: dict[int, list[float]] = {}
    used, checksums = [], {}
    for layer in layers:
        if layer.kind not in EVIDENCE_KINDS:
            continue
        frame = _layer_frame(store, layer)
        if frame.empty:
            continue
        used.append({"kind": layer.kind, "id": layer.id, "sha256": layer.sha256,
                     "n_features": len(frame)})
        checksums[f"layer:{layer.kind}:{layer.id}"] = layer.sha256
        if layer.kind == "workforce":
            for year, count in zip(pd.to_numeric(frame["year"], errors="coerce"),
                                   pd.to_numeric(frame["count"], errors="coerce"), strict=True):
                if pd.notna(year) and pd.notna(count):
                    workforce.setdefault(int(year), []).append(float(count))
            continue
        classes = _assign_classes(frame, deposits, crs)
        target = bulk if layer.kind == "bulk_samples" else pits
        for cls, part in frame.groupby(classes):
            target.setdefault(str(cls), []).append(pd.DataFrame(part.drop(columns="geometry")))

    samples = {cls: BulkSamples(_column(parts, "volume_m3"), _column(parts, "carats"),
                                _optional_column(parts, "stones"))
               for cls, parts in bulk.items()}
    logs = {cls: {name: values for name in ("thickness_m", "overburden_m")
                  if (values := _optional_column(parts, name)) is not None}
            for cls, parts in pits.items()}
    return Evidence(samples, logs, workforce, used), checksums


def _column(parts: list[pd.DataFrame], name: str) -> np.ndarray:
    """Column ``name`` of every part, as float64 (NaN where not a number)."""
    return pd.to_numeric(pd.concat([p[name] for p in parts]), errors="coerce").to_numpy(float)


def _optional_column(parts: list[pd.DataFrame], name: str) -> np.ndarray | None:
    """:func:`_column`, or None when a part lacks the (optional) column."""
    return _column(parts, name) if all(name in p for p in parts) else None
