"""Build a footprint version, or delineate a field, from the field's stored layers.

Both write their files to a hidden directory beside the target and rename it into place
when complete, so a crash leaves no half-written result.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from footprint.catalogue import get_field
from footprint.pipeline import build as build_pipeline
from footprint.pipeline.delineate import delineate_field
from footprint.serialise import to_jsonable
from footprint.settings import Settings
from footprint.storage.audit import Audit
from footprint.sweeps import PARTIAL_PREFIX, owned_workdir

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class BuiltFootprint:
    """A stored footprint version and the directory of its files.

    ``created`` is False when the field's latest version already had these inputs and is
    returned as it is; ``same_inputs_as`` names older versions with the same inputs.
    """

    record: Any
    directory: Path
    created: bool = True
    same_inputs_as: tuple[int, ...] = ()
    message: str = ""

    def summary(self) -> dict[str, Any]:
        """What a job returns about the version (JSON-able)."""
        return build_pipeline.footprint_summary(self.record)


def build_footprint(store: Any, settings: Settings, field_id: str, *, seed: int | None = None,
                    draws: int | None = None, sheet_path: str | Path | None = None,
                    sheet: Any = None, progress: Progress | None = None,
                    audit: Audit | None = None) -> BuiltFootprint:
    """Compute and store a new footprint version of ``field_id`` from its stored layers,
    unless its inputs did not change since the latest version (then that one is returned,
    ``created`` False; :func:`footprint.pipeline.build.build_footprint_version`).

    Parameters
    ----------
    store : Store
        Holds the layers read and the version written.
    settings : Settings
        The state directory, the data directory, the default ``seed`` and ``draws``.
    field_id : str
        Catalogue id.
    seed, draws : int, optional
        Base seed (the field's own is derived from it) and Monte Carlo draws.
    sheet_path, sheet
        A parameter sheet file or a validated :class:`~footprint.params.ParameterSheet`;
        default the field's sheet in ``datasets/parameters``.
    progress : callable, optional
        ``progress(pct, message)`` at each step, and per chunk of draws between 35 and
        85 %; it may raise (a dismissed job) to stop the build at the next chunk.
    audit : Audit, optional
        Who builds: a ``build_footprint`` entry written with the new version.

    Returns
    -------
    BuiltFootprint
        The record (``version`` counts per field) and ``footprints/<field>/<dir>``.
    """
    outcome = build_pipeline.build_footprint_version(
        field_id, store=store, settings=settings, seed=seed, draws=draws,
        sheet_path=sheet_path, sheet=sheet, progress=progress, audit=audit)
    record = outcome.record
    directory = settings.state_dir / str((record.provenance or {}).get("directory", ""))
    return BuiltFootprint(record, directory, outcome.created, outcome.same_inputs_as,
                          outcome.message)


def delineate(store: Any, settings: Settings, field_id: str, *, job_id: str,
              mode: str | None = None, progress: Progress) -> dict[str, Any]:
    """Delineate the field's deposits into ``delineations/<job_id>/``.

    Uses the field's stored layers (uploaded DEM, deposit polygons, mined ground).
    Returns the JSON-able summary: areas per class (m²), mode, input checksums,
    the directory (relative to the state directory) and its files.
    """
    progress(1, "collecting the field's layers")
    kwargs, checksums = build_pipeline.delineation_inputs(get_field(field_id), store, settings)
    if mode:
        kwargs["mode"] = mode
    root = settings.state.delineations
    final = root / job_id
    tmp = owned_workdir(root, PARTIAL_PREFIX, job_id)  # swept if this process dies
    try:
        result = delineate_field(field_id, tmp, settings=settings,
                                 progress=build_pipeline.delineation_progress(progress, 2, 98),
                                 **kwargs)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {**to_jsonable(result.summary), "mode": result.mode,
            "stored_layer_checksums": checksums,
            "directory": str(final.relative_to(settings.state_dir)),
            "files": sorted(p.name for p in final.iterdir())}
