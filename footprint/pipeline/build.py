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

**A version only when the inputs changed.** After the delineation (which reports the data
files it read) the build hashes its inputs canonically (:func:`build_inputs`): the field's
catalogue entry, the parameter sheet's content, every *active* layer of the field (id,
kind, year, sha256), the checksums of the layers and data files the delineation read, the
field seed, the number of draws and the model version (the package version: a new commit
that does not bump it does not make builds differ). When the field's latest version has
the same ``inputs_sha256`` the build stops there and returns it (``created`` is False);
otherwise it adds a version, and names any older versions with the same inputs (after a
layer is retired, the next build reproduces the version from before the upload: same
inputs, same draws).

**Sensitivity.** Each version stores the Sobol indices of resource and capacity
(:func:`footprint.sensitivity.sensitivity_summary`) as ``summaries["sensitivity"]``, and
the P5/P50/P95 of every uncertain parameter as ``summaries["parameter_quantiles"]`` (what
``footprint compare`` reads for the parameter shifts).
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd

from footprint import __version__
from footprint.catalogue import get_field
from footprint.evidence import apply_evidence
from footprint.footprints import compute_footprint
from footprint.params import load_sheet
from footprint.pipeline.delineate import delineate_field
from footprint.pipeline.layer_inputs import (
    delineation_inputs,
    evidence_inputs,
    mined_area_by_year,
)
from footprint.provenance import sha256_file, sha256_json
from footprint.sensitivity import sensitivity_summary
from footprint.serialise import iso_timestamp
from footprint.settings import Settings
from footprint.simulation import CHUNK_DRAWS, field_seed
from footprint.sweeps import PARTIAL_PREFIX, owned_workdir, sweep_state_dir

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


def _no_progress(pct: float, message: str = "") -> None:
    return None


def remove_partial_builds(settings: Settings) -> list[Path]:
    """Delete the hidden directories of builds whose process is gone; return them.

    A build another live process (a second server) is writing is left alone; see
    :func:`footprint.sweeps.sweep_state_dir`, which also sweeps uploads and delineations.
    """
    root = settings.state.footprints
    return [p for p in sweep_state_dir(settings) if root in p.parents]


def simulation_progress(progress: Progress, low: float,
                        high: float) -> Callable[[int, int], None]:
    """Map the simulation's ``(chunks done, chunks)`` onto ``progress`` between low and high %."""
    def on_chunk(done: int, total: int) -> None:
        progress(low + (high - low) * done / max(total, 1),
                 f"simulating: chunk {done} of {total}")
    return on_chunk


def delineation_progress(progress: Progress, low: float,
                         high: float) -> Callable[[str, int, int], None]:
    """Map the delineation's ``(step, done, total)`` onto ``progress`` between low and high %."""
    def report(step: str, done: int, total: int) -> None:
        progress(low + (high - low) * done / max(total, 1), f"delineation: {step}")
    return report


# --------------------------------------------------------------------------------------
# the inputs of a build, hashed
# --------------------------------------------------------------------------------------
#: Sobol base sample of the stored sensitivity table (the model runs n_base x (k + 2) times).
SENSITIVITY_N_BASE = 1024


@dataclass(frozen=True)
class BuildOutcome:
    """What a build did: the version it returns, and whether it made it.

    ``created`` is False when the field's latest version already had these inputs (it is
    returned as it is). ``same_inputs_as`` lists older versions with the same inputs.
    """

    record: Any
    created: bool
    inputs_sha256: str
    same_inputs_as: tuple[int, ...] = ()

    @property
    def message(self) -> str:
        """One line saying which version this is and whether the build made it."""
        record = self.record
        if not self.created:
            return (f"inputs unchanged since {record.field_id} v{record.version}: no new "
                    f"version (inputs sha256 {self.inputs_sha256[:12]})")
        same = (f"; same inputs as v{', v'.join(map(str, self.same_inputs_as))}"
                if self.same_inputs_as else "")
        return f"{record.field_id} v{record.version} built (id {record.id}){same}"


def _checksum_key(key: str) -> str:
    """``delineation:<role>:<path>`` names a data file by its base name, so the hash does
    not change when the data directory moves (the sha256 names the content)."""
    if key.startswith("delineation:"):
        _, role, path = key.split(":", 2)
        return f"delineation:{role}:{Path(path).name if path not in ('', 'None') else path}"
    return key


def build_inputs(field: Any, sheet: Any, layers: list[Any], checksums: Mapping[str, str], *,
                 seed: int, draws: int) -> dict[str, Any]:
    """The canonical document of a build's inputs (its sha256 identifies the version).

    Parameters
    ----------
    field
        The catalogue's :class:`~footprint.catalogue.FieldDefinition`.
    sheet
        The validated :class:`~footprint.params.ParameterSheet` (hashed by content).
    layers
        The field's **active** stored layers (retired ones are not inputs any more).
    checksums
        ``name -> sha256`` of what the build read (stored layers, the delineation's data
        files); ``sheet_file`` is left out (the sheet is hashed by content).
    seed, draws
        The field seed (derived from the base seed) and the number of draws.
    """
    return {
        "field_id": field.id,
        "catalogue_sha256": sha256_json(field.model_dump()),
        "sheet_sha256": sha256_json(sheet.to_yaml_dict()),
        "layers": sorted(({"id": int(layer.id), "kind": layer.kind, "year": layer.year,
                           "sha256": layer.sha256} for layer in layers),
                         key=lambda entry: entry["id"]),
        "checksums": {_checksum_key(k): v for k, v in sorted(checksums.items())
                      if k != "sheet_file"},
        "seed": int(seed),
        "draws": int(draws),
        "model_version": __version__,
    }


def parameter_quantiles(result: Any) -> dict[str, dict[str, float]]:
    """P5/P50/P95 of each uncertain parameter's draws (units as in the sheet)."""
    summaries = result.simulation.summaries
    sheet = result.model.sheet if result.model is not None else None
    names = sheet.stochastic_names if sheet is not None else []
    return {name: {"p5": summaries[name].p5, "p50": summaries[name].p50,
                   "p95": summaries[name].p95}
            for name in names if name in summaries}


# --------------------------------------------------------------------------------------
# the build
# --------------------------------------------------------------------------------------
def build_footprint(field_id: str, *, store: Any, settings: Settings, seed: int | None = None,
                    draws: int | None = None, sheet_path: str | Path | None = None,
                    sheet: Any = None, progress: Progress | None = None) -> Any:
    """The footprint version of ``field_id`` for its current inputs (see
    :func:`build_footprint_version`; this returns only the record)."""
    return build_footprint_version(field_id, store=store, settings=settings, seed=seed,
                                   draws=draws, sheet_path=sheet_path, sheet=sheet,
                                   progress=progress).record


def build_footprint_version(field_id: str, *, store: Any, settings: Settings,
                            seed: int | None = None, draws: int | None = None,
                            sheet_path: str | Path | None = None, sheet: Any = None,
                            progress: Progress | None = None,
                            audit: Any = None) -> BuildOutcome:
    """Compute and store a new footprint version of ``field_id`` if its inputs changed.

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
        ``progress(pct, message)``, called at each step and per chunk of draws (35-85 %).
    audit
        :class:`footprint.storage.audit.Audit` of the version's ``build_footprint`` entry.

    Returns
    -------
    BuildOutcome
        The stored version (``version`` counts per field) and whether this build made
        it: when the latest version has the same inputs (:func:`build_inputs`) it is
        returned and nothing new is stored.

    Memory: the draws are streamed to Parquet in blocks (bounded by the engine's block
    size); deposits are held as one GeoDataFrame.
    """
    progress = progress or _no_progress
    field = get_field(field_id)
    # the given (or configured) seed is a base seed: each field draws with its own seed
    # derived from it, so fields summed draw by draw never share random numbers
    base_seed = settings.seed if seed is None else int(seed)
    seed = field_seed(base_seed, field_id)
    draws = settings.draws if draws is None else int(draws)
    if sheet is None:
        sheet = load_sheet(sheet_path if sheet_path is not None else field_id)
    root = settings.state.field_footprints(field_id)
    root.mkdir(parents=True, exist_ok=True)
    workdir = owned_workdir(root, PARTIAL_PREFIX)  # named after this process (footprint.sweeps)
    final = root / uuid.uuid4().hex  # where the files are renamed to when complete
    try:
        delineated = _delineate(field, store, settings, workdir, progress)
        progress(33, "updating the parameters with the survey evidence")
        sheet, evidence_block, inputs = _evidence_and_inputs(
            field, store, sheet, sheet_path, delineated, seed=seed, draws=draws)
        inputs_sha256 = sha256_json(inputs)
        latest = store.latest_footprint(field_id)
        if latest is not None and latest.inputs_sha256 == inputs_sha256:
            shutil.rmtree(workdir, ignore_errors=True)
            outcome = BuildOutcome(latest, False, inputs_sha256)
            progress(100, outcome.message)
            return outcome
        same_inputs_as = tuple(r.version for r in store.footprints_with_inputs(
            field_id, inputs_sha256))
        result = _simulate(field_id, sheet, delineated, workdir, seed=seed, draws=draws,
                           progress=progress)
        record = _store_version(store, settings, field_id, result, delineated,
                                workdir=workdir, final=final, base_seed=base_seed, seed=seed,
                                draws=draws, evidence_block=evidence_block, inputs=inputs,
                                inputs_sha256=inputs_sha256, progress=progress,
                                audit=audit)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        raise
    outcome = BuildOutcome(record, True, inputs_sha256, same_inputs_as)
    progress(100, outcome.message)
    return outcome


@dataclass
class _Delineated:
    """A build's delineation, and what the build takes from it."""

    delineation: Any
    checksums: dict[str, str]
    by_year: dict[int, float]
    rasters: dict[str, str]

    @property
    def deposits(self) -> gpd.GeoDataFrame:
        """The delineated deposits (the field's projected CRS)."""
        return self.delineation.deposits


def _delineate(field: Any, store: Any, settings: Settings, workdir: Path,
               progress: Progress) -> _Delineated:
    """Delineate ``field`` from its stored layers into ``workdir/delineation``."""
    progress(2, "collecting the field's layers")
    kwargs, checksums = delineation_inputs(field, store, settings)
    delineation = delineate_field(field.id, workdir / "delineation", settings=settings,
                                  progress=delineation_progress(progress, 5, 32), **kwargs)
    for entry in delineation.summary.get("inputs", []):
        if isinstance(entry, dict) and entry.get("sha256"):
            # the file's name, never its server path (provenance is a public read)
            name = Path(str(entry.get("path") or "")).name
            checksums[f"delineation:{entry.get('role')}:{name}"] = entry["sha256"]
    mined = kwargs.get("mined_polygons")
    by_year = mined_area_by_year(mined, f"EPSG:{field.crs_epsg}") if mined is not None else {}
    rasters = {name: str(path) for name, path in delineation.files.items()
               if str(path).endswith(".tif")}
    return _Delineated(delineation, checksums, by_year, rasters)


def _simulate(field_id: str, sheet: Any, delineated: _Delineated, workdir: Path, *, seed: int,
              draws: int, progress: Progress) -> Any:
    """The Monte Carlo footprint of the delineated deposits, draws streamed to
    ``workdir/draws.parquet`` (progress per chunk, 35-85 %)."""
    progress(35, f"simulating {draws} draws (seed {seed})")
    return compute_footprint(field_id, sheet, delineated.deposits,
                             delineated.delineation.stream_length_km,
                             seed=seed, draws=draws, draws_path=workdir / "draws.parquet",
                             input_checksums=delineated.checksums,
                             mined_area_m2_by_year=delineated.by_year or None,
                             # one chunk per block: progress (and a dismissal) per chunk;
                             # the draws do not depend on the blocking
                             block_size=CHUNK_DRAWS,
                             on_chunk=simulation_progress(progress, 35, 85))


def _evidence_and_inputs(field: Any, store: Any, sheet: Any, sheet_path: str | Path | None,
                         delineated: _Delineated, *, seed: int,
                         draws: int) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The posterior sheet, the evidence block and the inputs document of a build.

    The survey layers update ``sheet`` (:func:`footprint.evidence.apply_evidence`); the
    inputs document hashes the prior sheet, which with the evidence determines the
    posterior. Adds the evidence layers' (and the sheet file's) sha256 to
    ``delineated.checksums``.
    """
    checksums = delineated.checksums
    evidence, evidence_checksums = evidence_inputs(
        store, list(store.list_layers(field.id)), delineated.deposits, f"EPSG:{field.crs_epsg}")
    checksums.update(evidence_checksums)
    posterior, evidence_block = apply_evidence(sheet, evidence)
    evidence_block = {**evidence_block, "prior_sheet_sha256": sha256_json(sheet.to_yaml_dict())}
    if sheet_path is not None:
        checksums["sheet_file"] = sha256_file(sheet_path)
    inputs = build_inputs(field, sheet, store.list_layers(field.id), checksums, seed=seed,
                          draws=draws)
    return posterior, evidence_block, inputs


def _store_version(store: Any, settings: Settings, field_id: str, result: Any,
                   delineated: _Delineated, *, workdir: Path, final: Path, base_seed: int,
                   seed: int, draws: int, evidence_block: dict[str, Any],
                   inputs: dict[str, Any], inputs_sha256: str, progress: Progress,
                   audit: Any = None) -> Any:
    """Write a version's files into ``workdir``, rename it to ``final``, add its row (with
    its ``build_footprint`` audit entry when ``audit`` is given).

    The rename is atomic within one file system: the version's files appear all at once.
    """
    progress(85, "writing the footprint files")
    deposits_4326 = delineated.deposits.to_crs(4326)  # the store repairs what reprojection breaks
    _write_deposits(deposits_4326, workdir / "deposits.geojson")
    if result.size is not None:
        result.size.to_csv(workdir / "size_footprint.csv")
    os.replace(workdir, final)
    relative = final.relative_to(settings.state_dir)
    provenance, summaries = _version_documents(
        result, delineated, relative=relative, base_seed=base_seed, seed=seed,
        evidence_block=evidence_block, inputs=inputs, inputs_sha256=inputs_sha256,
        progress=progress)
    progress(95, "storing the footprint version")
    return store.add_footprint(
        field_id, deposits=deposits_4326, seed=seed, n_draws=draws,
        code_version=provenance["code_version"], sheet_sha256=provenance["sheet_sha256"],
        parameters=provenance["sheet"], summaries=summaries, provenance=provenance,
        draws_path=str(relative / "draws.parquet"),
        rasters={name: str(relative / Path(path).relative_to(workdir))
                 for name, path in delineated.rasters.items()},
        inputs_sha256=inputs_sha256, audit=audit)


#: The parts of a result's document a version stores as its summaries.
SUMMARY_KEYS = ("deposits", "resource", "capacity", "capacity_series", "capacity_by_year",
                "evidence", "value", "size", "tails_trusted", "warning")


def _version_documents(result: Any, delineated: _Delineated, *, relative: Path, base_seed: int,
                       seed: int, evidence_block: dict[str, Any], inputs: dict[str, Any],
                       inputs_sha256: str,
                       progress: Progress) -> tuple[dict[str, Any], dict[str, Any]]:
    """The provenance and the summaries stored on a version's row.

    ``relative`` is the version's directory relative to the state directory. The Sobol
    indices are computed here when the result does not carry them (the slow step).
    """
    document = result.to_dict()
    document["evidence"] = evidence_block
    provenance = {**document["provenance"], "base_seed": base_seed,
                  "evidence": document["evidence"],
                  "draws_path": str(relative / "draws.parquet"),
                  "directory": str(relative), "stored_layer_checksums": delineated.checksums}
    summaries = {key: document[key] for key in SUMMARY_KEYS}
    # which terrain the deposits stand on: DEM coverage per source, the placer rule
    summary = delineated.delineation.summary
    summaries["delineation"] = {key: summary[key] for key in
                                ("mode", "dem_coverage", "placer_network") if key in summary}
    provenance.update(inputs=inputs, inputs_sha256=inputs_sha256)
    summaries["parameter_quantiles"] = parameter_quantiles(result)
    if document.get("sensitivity") is None and result.model is not None:
        progress(88, "Sobol indices of resource and capacity")
        summaries["sensitivity"] = sensitivity_summary(
            result.model.sheet, result.model, n_base=SENSITIVITY_N_BASE, seed=seed)
    elif document.get("sensitivity") is not None:
        summaries["sensitivity"] = document["sensitivity"]
    return provenance, summaries


def _write_deposits(deposits_4326: gpd.GeoDataFrame, path: Path) -> None:
    if deposits_4326.empty:
        path.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    else:
        deposits_4326.to_file(path, driver="GeoJSON")


def footprint_summary(record: Any) -> dict[str, Any]:
    """What a job returns about a stored footprint version (JSON-able)."""
    return {
        "id": record.id, "field_id": record.field_id, "version": record.version,
        "created_at": iso_timestamp(record.created_at),
        "seed": record.seed, "draws": record.n_draws, "code_version": record.code_version,
        "sheet_sha256": record.sheet_sha256, "n_deposits": record.n_deposits,
        "summaries": record.summaries,
        "input_checksums": (record.provenance or {}).get("input_checksums", {}),
        "inputs_sha256": getattr(record, "inputs_sha256", None),
    }


__all__ = [
    "BuildOutcome",
    "build_footprint",
    "build_footprint_version",
    "build_inputs",
    "delineation_inputs",
    "delineation_progress",
    "footprint_summary",
    "mined_area_by_year",
    "remove_partial_builds",
]
