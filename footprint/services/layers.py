"""Ingest a survey layer: validate an upload and store it (the CLI's ``layers add`` and the
service's ``POST /fields/{id}/layers``).

DEM: checked (CRS, georeferencing, nodata, finite values, inside the field), converted to
a COG at ``rasters/<field>/dem-<sha256 prefix>.tif`` with a STAC item. Vectors: validated
per kind (:mod:`footprint.io.layers`) and stored as features in EPSG:4326. Nothing stays
behind when a step fails: no row, no file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rasterio
from rasterio.warp import transform_bounds

from footprint.catalogue import get_field
from footprint.concepts import UPLOAD_LAYER_KINDS
from footprint.errors import InvalidParameterError
from footprint.io import layers as layer_io
from footprint.services.uploads import Upload
from footprint.state import StateLayout
from footprint.storage.audit import Audit

#: The layer kinds a user uploads (the models read them; see :mod:`footprint.io.layers`).
UPLOAD_KINDS = UPLOAD_LAYER_KINDS
#: A zipped upload may expand to at most this many times the upload size limit.
ZIP_EXPANSION_FACTOR = 8


@dataclass(frozen=True)
class IngestedLayer:
    """What :func:`ingest_layer` did: the stored layer, whether it is new, its files."""

    layer: Any
    created: bool
    files: tuple[Path, ...] = ()


def ingest_layer(store: Any, upload: Upload, *, field_id: str, kind: str, name: str,
                 year: int | None, audit: Audit, state: StateLayout, max_upload_mb: int,
                 workdir: Path) -> IngestedLayer:
    """Validate and store one uploaded layer.

    Parameters
    ----------
    store : Store
        Where the layer goes.
    upload : Upload
        The file on disk, its original name, size and sha256 (of the bytes the user sent).
    field_id, kind, name, year
        The catalogue field, the layer kind, a title and the year the layer shows.
    audit : Audit
        Who uploads: recorded on the layer, with its ``upload_layer`` audit entry written
        in the layer's own transaction (:meth:`Store.add_layer`).
    state : StateLayout
        Where a DEM's COG goes.
    max_upload_mb : int
        The upload limit; a zip may expand to :data:`ZIP_EXPANSION_FACTOR` times it.
    workdir : Path
        A private scratch directory (the caller removes it).

    Returns
    -------
    IngestedLayer
        An identical re-upload (same field, kind and sha256) returns the stored layer
        with ``created=False``.
    """
    if kind not in UPLOAD_KINDS:
        raise InvalidParameterError(f"'kind' must be one of {', '.join(UPLOAD_KINDS)}",
                                    hint=f"got {kind!r}")
    field_def = get_field(field_id)
    existing = _same_upload(store, field_id, kind, upload.sha256)
    if existing is not None:
        return IngestedLayer(existing, False)
    if kind == "dem":
        return _ingest_dem(store, state, field_def, upload, name=name, year=year,
                           audit=audit, workdir=workdir)
    limit = min(layer_io.MAX_EXPANDED_BYTES, ZIP_EXPANSION_FACTOR * max_upload_mb * 1024 * 1024)
    frame = layer_io.validate_vector_layer(upload.path, kind, field_def,
                                           max_expanded_bytes=limit)
    frame_4326 = frame.to_crs(4326)
    layer, created = store.add_layer(
        field_id, kind, name, upload.sha256, crs=frame.crs.to_string(),
        bounds_4326=tuple(float(v) for v in frame_4326.total_bounds), features=frame_4326,
        year=year, source="upload",
        meta={"filename": upload.filename, "size_bytes": upload.size_bytes,
              "n_features": int(len(frame))},
        audit=audit)
    return IngestedLayer(layer, created)


def _same_upload(store: Any, field_id: str, kind: str, sha256: str) -> Any | None:
    for layer in store.list_layers(field_id, kind):
        if layer.sha256 == sha256:
            return layer
    return None


def _ingest_dem(store: Any, state: StateLayout, field_def: Any, upload: Upload, *, name: str,
                year: int | None, audit: Audit, workdir: Path) -> IngestedLayer:
    info = layer_io.validate_dem_upload(upload.path, field_def)
    staged = layer_io.dem_to_cog(upload.path, workdir / "cog.tif")
    rasters = state.rasters(field_def.id)
    rasters.mkdir(parents=True, exist_ok=True)
    final = rasters / f"dem-{upload.sha256[:16]}.tif"
    relative = str(final.relative_to(state.root))
    placed_here = not final.exists()
    try:
        if placed_here:
            os.replace(staged, final)  # same file system: atomic
        stac = layer_io.dem_stac_item(final, f"{field_def.id}-dem-{upload.sha256[:16]}",
                                      href=relative, properties={
                                          "title": name, "footprint:field": field_def.id,
                                          "footprint:upload_sha256": upload.sha256})
        bounds, _ = _raster_extent(final)
        meta = {"filename": upload.filename, "size_bytes": upload.size_bytes,
                **{k: v for k, v in info.items() if _jsonable_scalar(v)}}
        layer, created = store.add_layer(field_def.id, "dem", name, upload.sha256,
                                         crs=info.get("crs"), bounds_4326=bounds,
                                         path=relative, year=year, source="upload",
                                         stac=stac, meta=meta, audit=audit)
        return IngestedLayer(layer, created, (final,))
    except BaseException:
        if placed_here:
            final.unlink(missing_ok=True)
        raise


def _jsonable_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, tuple))


def _raster_extent(path: Path) -> tuple[tuple[float, float, float, float], str]:
    with rasterio.open(path) as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        return (float(west), float(south), float(east), float(north)), src.crs.to_string()
