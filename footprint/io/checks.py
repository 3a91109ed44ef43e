"""Inventory of the input data per field: what is present, what is missing, where to get it.

``footprint data check`` prints this. Each field gets one entry per layer it can use: its
DEM tiles (by name), the regional WDBII and Natural Earth river files, lakes, the DCW and
Natural Earth boundaries, the three USGS point layers, places and the KP production
statistics. A present layer says how much of it touches the field (features in the AOI's
bounding box, KP half-year rows of the field's participant); a missing one says where to
get it, in one line. Reading is cheap: attribute-free bbox reads and one CSV column.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio
import pyogrio.raw

from footprint.errors import DataMissingError, InvalidDeclarationError
from footprint.io import require_dir
from footprint.io.dem import find_tiles  # the DEM loader's own lookup rules
from footprint.io.download import KNOWN_SHA256, TILE_SOURCES
from footprint.io.kpstats import KP_HALFYEAR_RELPATH, participant_iso3
from footprint.io.vectors import VECTOR_FILES, VECTOR_ORIGINS, region_for_bbox

#: Vector layers listed for every field (regional ones resolved with the field's bbox).
FIELD_VECTOR_LAYERS = ("rivers_wdbii", "rivers_naturalearth", "lakes", "boundaries_dcw",
                       "boundaries_naturalearth", "usgs_facilities", "usgs_deposits",
                       "usgs_exploration", "places")


def _dem_hint(field_id: str, tile: str) -> str:
    known = ("srtm3_github", f"{tile}.hgt") in KNOWN_SHA256
    source = "srtm3_github" if known else "copernicus90"
    return (f"`footprint data fetch {field_id} --source {source}` downloads "
            f"{TILE_SOURCES[source].url(tile)} (or upload a DEM covering the field)")


def _count_in_bbox(path: Path, bbox: tuple[float, float, float, float]) -> int:
    """Features whose envelope meets ``bbox`` (no attributes nor geometry read)."""
    _, fids, _, _ = pyogrio.raw.read(path, bbox=bbox, columns=[], read_geometry=False,
                                     return_fids=True)
    return len(fids)


def _count_diamond_points(path: Path, bbox: tuple[float, float, float, float]) -> int:
    table = pyogrio.read_dataframe(path, bbox=bbox, columns=["is_diamond"], read_geometry=False)
    return int(table["is_diamond"].fillna(False).astype(bool).sum()) if len(table) else 0


def _kp_rows(data_dir: Path) -> pd.DataFrame | None:
    path = data_dir / KP_HALFYEAR_RELPATH
    if not path.is_file():
        return None
    raw = pd.read_csv(path, usecols=["country", "year", "half_year"])
    codes: dict[str, str | None] = {}
    for name in raw["country"].dropna().unique():
        try:
            codes[name] = participant_iso3(name)
        except InvalidDeclarationError:
            codes[name] = None
    return raw.assign(participant=raw["country"].map(codes))


def _dem_layers(field, data_dir: Path, cache_dir: Path | None) -> list[dict]:
    found = find_tiles(field.dem_tiles, data_dir, cache_dir)
    return [{"layer": "dem", "name": tile, "present": path is not None,
             "path": str(path) if path else None,
             "detail": None if path is None else (
                 "in the data directory" if Path(path).is_relative_to(data_dir)
                 else "in the download cache"),
             "where": None if path else _dem_hint(field.id, tile)}
            for tile, path in found.items()]


def _vector_layer(layer: str, field, data_dir: Path) -> dict:
    bbox = tuple(field.aoi_4326.bounds)
    relpath = VECTOR_FILES[layer]
    region = None
    if "{region}" in relpath:
        try:
            region = region_for_bbox(bbox)
        except DataMissingError:
            return {"layer": layer, "name": None, "present": False, "path": None,
                    "detail": "no regional extract covers the field",
                    "where": f"add an extract of {VECTOR_ORIGINS[layer]} for this region"}
        relpath = relpath.format(region=region)
    path = data_dir / relpath
    entry: dict[str, Any] = {"layer": layer, "name": region, "present": path.is_file(),
             "path": str(path) if path.is_file() else None, "detail": None,
             "where": None if path.is_file() else
             f"{VECTOR_ORIGINS[layer]} -> <data_dir>/{relpath} (see SOURCES.md)"}
    if path.is_file():
        n = _count_in_bbox(path, bbox)
        entry["detail"] = f"{n} feature(s) touch the field's bounding box"
        if layer.startswith("usgs_"):
            entry["detail"] += f", {_count_diamond_points(path, bbox)} naming diamond"
    return entry


def _kp_layer(field, kp: pd.DataFrame | None) -> dict:
    entry = {"layer": "kp_statistics", "name": field.participant_iso3, "present": kp is not None,
             "path": None, "detail": None,
             "where": None if kp is not None else
             "KP public statistics, half-yearly production export "
             f"(kimberleyprocessstatistics.org) -> <data_dir>/{KP_HALFYEAR_RELPATH}"}
    if kp is not None:
        rows = kp[kp["participant"] == field.participant_iso3]
        if len(rows):
            entry["detail"] = (f"{len(rows)} half-year row(s) for {field.participant_iso3}, "
                               f"{int(rows['year'].min())}-{int(rows['year'].max())}")
        else:
            entry["detail"] = f"no rows for {field.participant_iso3}"
    return entry


def data_inventory(data_dir: Path | None, fields: Iterable, cache_dir: Path | None = None
                   ) -> list[dict]:
    """Per field: each input layer present or missing, and where to get the missing ones.

    Parameters
    ----------
    data_dir
        the data directory (required).
    fields
        :class:`footprint.catalogue.FieldDefinition` objects (``id``, ``participant_iso3``,
        ``aoi_4326``, ``dem_tiles``).
    cache_dir
        the download cache, searched for DEM tiles after ``data_dir``.

    Returns
    -------
    One dict per field: ``field``, ``participant_iso3``, ``layers`` (dicts with
    ``layer``, ``name``, ``present``, ``path``, ``detail``, ``where``), and the summary
    lists ``present`` and ``missing`` (``"dem:N05W001"``, ``"rivers_wdbii"`` ...).
    """
    data_dir = Path(require_dir(data_dir, "data_dir"))
    kp = _kp_rows(data_dir)
    inventory = []
    for field in fields:
        layers = _dem_layers(field, data_dir, cache_dir)
        layers += [_vector_layer(layer, field, data_dir) for layer in FIELD_VECTOR_LAYERS]
        layers.append(_kp_layer(field, kp))
        labels = [(f"dem:{e['name']}" if e["layer"] == "dem" else e["layer"], e["present"])
                  for e in layers]
        inventory.append({
            "field": field.id, "participant_iso3": field.participant_iso3, "layers": layers,
            "present": [label for label, ok in labels if ok],
            "missing": [label for label, ok in labels if not ok]})
    return inventory
