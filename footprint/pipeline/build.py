"""Build a footprint version of a field: deposits, Monte Carlo, files, database row.

:func:`build_footprint` is the orchestration the CLI (``footprint build``) and the API's
``build-footprint`` process share:

1. the field's stored layers: the newest uploaded ``deposits`` layer (deposit-polygon
   mode) or else a delineation (:func:`footprint.pipeline.delineate.delineate_field`,
   with any uploaded DEM); ``mined_areas`` layers are subtracted, and those with a year
   give the newly mined area per year for the imagery-based capacity series;
2. the seeded Monte Carlo (:func:`footprint.footprints.compute_footprint`), its long
   table of draws streamed to Parquet;
3. the files, written to a hidden temporary directory under
   ``state_dir/footprints/<field>/`` and renamed into ``<uuid>/`` only when complete
   (a rename within one file system is atomic), then the database row
   (:meth:`Store.add_footprint`); if the row cannot be written the directory is removed.
   A crash at any point leaves either nothing or a hidden ``.partial-*`` directory,
   which :func:`remove_partial_builds` deletes at the next start.

Provenance records the sha256 of every stored layer used, the parameter sheet and its
checksum, the seed, the number of draws and the code version.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from footprint.settings import Settings

log = logging.getLogger(__name__)

PARTIAL_PREFIX = ".partial-"
Progress = Callable[[float, str], None]


def _no_progress(pct: float, message: str = "") -> None:
    return None


def footprints_dir(settings: Settings, field_id: str) -> Path:
    """``state_dir/footprints/<field>``: one sub-directory per stored version."""
    return settings.state_dir / "footprints" / field_id


def remove_partial_builds(settings: Settings) -> list[Path]:
    """Delete the hidden directories of builds that never finished; return them."""
    root = settings.state_dir / "footprints"
    removed = []
    if root.is_dir():
        for partial in root.glob(f"*/{PARTIAL_PREFIX}*"):
            shutil.rmtree(partial, ignore_errors=True)
            removed.append(partial)
    return removed


# --------------------------------------------------------------------------------------
# inputs from the stored layers
# --------------------------------------------------------------------------------------
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

    Uploaded DEMs replace the field's tiles (terrain mode); the newest uploaded
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
    dems = [layer for layer in layers if layer.kind == "dem" and layer.path]
    if dems and polygons is None:
        kwargs["dem_paths"] = [settings.state_dir / layer.path for layer in dems]
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
    import numpy as np

    from footprint.evidence import BulkSamples, Evidence

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
                                   pd.to_numeric(frame["count"], errors="coerce")):
                if pd.notna(year) and pd.notna(count):
                    workforce.setdefault(int(year), []).append(float(count))
            continue
        classes = _assign_classes(frame, deposits, crs)
        target = bulk if layer.kind == "bulk_samples" else pits
        for cls, part in frame.groupby(classes):
            target.setdefault(str(cls), []).append(pd.DataFrame(part.drop(columns="geometry")))

    def column(parts: list[pd.DataFrame], name: str) -> np.ndarray | None:
        if not all(name in p for p in parts):
            return None
        return pd.to_numeric(pd.concat([p[name] for p in parts]), errors="coerce").to_numpy(float)

    samples = {cls: BulkSamples(column(parts, "volume_m3"), column(parts, "carats"),
                                column(parts, "stones"))
               for cls, parts in bulk.items()}
    logs = {cls: {name: values for name in ("thickness_m", "overburden_m")
                  if (values := column(parts, name)) is not None}
            for cls, parts in pits.items()}
    return Evidence(samples, logs, workforce, used), checksums


def delineation_progress(progress: Progress, low: float,
                         high: float) -> Callable[[str, int, int], None]:
    """Map the delineation's ``(step, done, total)`` onto ``progress`` between low and high %."""
    def report(step: str, done: int, total: int) -> None:
        progress(low + (high - low) * done / max(total, 1), f"delineation: {step}")
    return report


# --------------------------------------------------------------------------------------
# the build
# --------------------------------------------------------------------------------------
def build_footprint(field_id: str, *, store: Any, settings: Settings, seed: int | None = None,
                    draws: int | None = None, sheet_path: str | Path | None = None,
                    sheet: Any = None, progress: Progress | None = None) -> Any:
    """Compute and store a new footprint version of ``field_id``.

    Parameters
    ----------
    field_id
        Catalogue id.
    store
        :class:`footprint.storage.store.Store`.
    settings
        Where the files go (``state_dir``) and the default ``seed`` and ``draws``.
    seed, draws
        Monte Carlo seed and number of draws (default from ``settings``).
    sheet_path, sheet
        A parameter sheet file or an already validated
        :class:`~footprint.params.ParameterSheet`; default the field's sheet in
        ``datasets/parameters``.
    progress
        ``progress(pct, message)``, called at each step.

    Returns
    -------
    FootprintRecord
        The stored version (``version`` counts per field).

    Memory: the draws are streamed to Parquet in blocks (bounded by the engine's block
    size); deposits are held as one GeoDataFrame.
    """
    from footprint.catalogue import get_field
    from footprint.evidence import apply_evidence
    from footprint.footprints import compute_footprint
    from footprint.params import load_sheet
    from footprint.pipeline.delineate import delineate_field
    from footprint.provenance import sha256_file, sha256_json
    from footprint.simulation import field_seed

    progress = progress or _no_progress
    field = get_field(field_id)
    # the given (or configured) seed is a base seed: each field draws with its own seed
    # derived from it, so fields summed draw by draw never share random numbers
    base_seed = settings.seed if seed is None else int(seed)
    seed = field_seed(base_seed, field_id)
    draws = settings.draws if draws is None else int(draws)
    if sheet is None:
        sheet = load_sheet(sheet_path if sheet_path is not None else field_id)
    root = footprints_dir(settings, field_id)
    root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=root))
    final: Path | None = None
    try:
        progress(2, "collecting the field's layers")
        kwargs, checksums = delineation_inputs(field, store, settings)
        delineation = delineate_field(field_id, workdir / "delineation", settings=settings,
                                      progress=delineation_progress(progress, 5, 35), **kwargs)
        deposits = delineation.deposits
        for entry in delineation.summary.get("inputs", []):
            if isinstance(entry, dict) and entry.get("sha256"):
                checksums[f"delineation:{entry.get('role')}:{entry.get('path')}"] = entry["sha256"]
        mined = kwargs.get("mined_polygons")
        by_year = mined_area_by_year(mined, f"EPSG:{field.crs_epsg}") if mined is not None else {}
        rasters = {name: str(path) for name, path in delineation.files.items()
                   if str(path).endswith(".tif")}
        progress(33, "updating the parameters with the survey evidence")
        evidence, evidence_checksums = evidence_inputs(
            store, list(store.list_layers(field.id)), deposits, f"EPSG:{field.crs_epsg}")
        checksums.update(evidence_checksums)
        prior_sheet_sha256 = sha256_json(sheet.to_yaml_dict())
        sheet, evidence_block = apply_evidence(sheet, evidence)
        if sheet_path is not None:
            checksums["sheet_file"] = sha256_file(sheet_path)
        progress(35, f"simulating {draws} draws (seed {seed})")
        draws_file = workdir / "draws.parquet"
        result = compute_footprint(field_id, sheet, deposits, delineation.stream_length_km,
                                   seed=seed, draws=draws,
                                   draws_path=draws_file, input_checksums=checksums,
                                   mined_area_m2_by_year=by_year or None)
        progress(85, "writing the footprint files")
        deposits_4326 = deposits.to_crs(4326)  # the store repairs what reprojection breaks
        _write_deposits(deposits_4326, workdir / "deposits.geojson")
        if result.size is not None:
            result.size.to_csv(workdir / "size_footprint.csv")
        final = root / uuid.uuid4().hex
        os.replace(workdir, final)  # atomic: the version's files appear all at once
        relative = final.relative_to(settings.state_dir)
        relocated = {name: str(relative / Path(path).relative_to(workdir))
                     for name, path in rasters.items()}
        document = result.to_dict()
        document["evidence"] = {**evidence_block, "prior_sheet_sha256": prior_sheet_sha256}
        provenance = {**document["provenance"], "base_seed": base_seed,
                      "evidence": document["evidence"],
                      "draws_path": str(relative / "draws.parquet"),
                      "directory": str(relative), "stored_layer_checksums": checksums}
        summaries = {key: document[key] for key in
                     ("deposits", "resource", "capacity", "capacity_series", "capacity_by_year",
                      "evidence", "value", "size", "tails_trusted", "warning")}
        progress(95, "storing the footprint version")
        record = store.add_footprint(
            field_id, deposits=deposits_4326, seed=seed, n_draws=draws,
            code_version=provenance["code_version"], sheet_sha256=provenance["sheet_sha256"],
            parameters=provenance["sheet"], summaries=summaries, provenance=provenance,
            draws_path=str(relative / "draws.parquet"), rasters=relocated)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        if final is not None:
            shutil.rmtree(final, ignore_errors=True)
        raise
    progress(100, f"footprint version {record.version} stored")
    return record


def _write_deposits(deposits_4326: gpd.GeoDataFrame, path: Path) -> None:
    if deposits_4326.empty:
        path.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    else:
        deposits_4326.to_file(path, driver="GeoJSON")


def footprint_summary(record: Any) -> dict[str, Any]:
    """What a job returns about a stored footprint version (JSON-able)."""
    created = record.created_at
    return {
        "id": record.id, "field_id": record.field_id, "version": record.version,
        "created_at": created.isoformat() if created is not None else None,
        "seed": record.seed, "draws": record.n_draws, "code_version": record.code_version,
        "sheet_sha256": record.sheet_sha256, "n_deposits": record.n_deposits,
        "summaries": record.summaries,
        "input_checksums": (record.provenance or {}).get("input_checksums", {}),
    }


__all__ = ["build_footprint", "footprint_summary", "remove_partial_builds",
           "mined_area_by_year", "delineation_inputs", "delineation_progress"]
