"""``footprint layers add|list|retire``: a field's survey layers from a shell.

``add FIELD FILE --kind KIND`` uploads a survey layer.

The same service as ``POST /fields/{field}/layers``
(:func:`footprint.services.layers.ingest_layer`): the same checks, the same size limit
(``FOOTPRINT_MAX_UPLOAD_MB``), the same stored layer and audit entry (actor
``cli:<os user>``, written with the layer); an identical
re-upload stores nothing and prints the layer already stored.

``retire FIELD LAYER_ID`` retires a layer as ``DELETE /fields/{field}/layers/{id}`` does:
it stays stored for the provenance of the versions built with it (with an audit entry),
but the next ``footprint build`` no longer reads it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import typer

from footprint.concepts import UPLOAD_LAYER_KINDS


def add(field: str = typer.Argument(..., help="Field id, e.g. gh-birim."),
        path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                    help="DEM GeoTIFF/.hgt, or GeoJSON, GeoPackage or "
                                         "zipped shapefile."),
        kind: str = typer.Option(..., "--kind", "-k", help=", ".join(UPLOAD_LAYER_KINDS)),
        name: str = typer.Option(None, help="Title of the layer (default: the file name)."),
        year: int = typer.Option(None, min=1900, max=2100,
                                 help="The year the layer shows (e.g. mined ground).")) -> None:
    """Validate and store a survey layer of FIELD; print its id and version."""
    # imported here, as in every command: `footprint --help` must not load rasterio & co.
    from footprint.catalogue import get_field
    from footprint.services.layers import ingest_layer
    from footprint.services.store import open_store
    from footprint.services.uploads import Upload
    from footprint.settings import get_settings
    from footprint.storage.audit import Audit

    get_field(field)  # an unknown id fails here, before any work
    settings = get_settings()
    upload = Upload.from_path(path, max_upload_mb=settings.max_upload_mb)
    title = ((name or "").strip() or upload.filename)[:200]
    with open_store(settings) as store:
        settings.state.uploads.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=".upload-", dir=settings.state.uploads))
        try:
            ingested = ingest_layer(store, upload, field_id=field, kind=kind, name=title,
                                    year=year, audit=Audit.cli(), state=settings.state,
                                    max_upload_mb=settings.max_upload_mb, workdir=workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        layer = ingested.layer
    state = "stored" if ingested.created else "already stored"
    typer.echo(f"{field} {layer.kind} layer {layer.id} v{layer.version} {state} "
               f"({layer.n_features} features, sha256 {layer.sha256[:12]})")


def list_(field: str = typer.Argument(..., help="Field id, e.g. gh-birim."),
          retired: bool = typer.Option(True, "--retired/--active-only",
                                       help="Include retired layers.")) -> None:
    """List the field's layers: id, kind, version, name, sha256, active or retired."""
    from footprint.catalogue import get_field
    from footprint.services.store import open_store
    from footprint.settings import get_settings

    get_field(field)
    with open_store(get_settings()) as store:
        layers = store.list_layers(field, include_retired=retired)
    if not layers:
        typer.echo(f"{field}: no layers", err=True)
    for layer in layers:
        state = "active" if layer.retired_at is None else \
            f"retired {layer.retired_at:%Y-%m-%d %H:%M} by {layer.retired_by}"
        typer.echo(f"{layer.id}\t{layer.kind}\tv{layer.version}\t{layer.name}\t"
                   f"{layer.sha256[:12]}\t{state}")


def retire(field: str = typer.Argument(..., help="Field id, e.g. gh-birim."),
           layer_id: int = typer.Argument(..., help="Layer id (footprint layers list FIELD)."),
           reason: str = typer.Option(None, "--reason", help="Why (kept in the audit).")) -> None:
    """Retire a layer: kept for old versions' provenance, left out of new builds."""
    from footprint.catalogue import get_field
    from footprint.services.store import open_store
    from footprint.settings import get_settings
    from footprint.storage.audit import Audit

    get_field(field)
    with open_store(get_settings()) as store:
        layer, retired = store.retire_layer(layer_id, audit=Audit.cli(), field_id=field,
                                            reason=reason)
    what = "retired" if retired else "was already retired"
    typer.echo(f"{field} layer {layer.id} ({layer.kind} {layer.name!r}) {what}; the next "
               f"build no longer uses it")
