"""``footprint layers add FIELD FILE --kind KIND``: upload a survey layer from a shell.

The same service as ``POST /fields/{field}/layers``
(:func:`footprint.services.layers.ingest_layer`): the same checks, the same size limit
(``FOOTPRINT_MAX_UPLOAD_MB``), the same stored layer and audit entry; an identical
re-upload stores nothing and prints the layer already stored.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import typer

from footprint.catalogue import get_field
from footprint.services.layers import UPLOAD_KINDS, ingest_layer
from footprint.services.store import open_store
from footprint.services.uploads import Upload
from footprint.settings import get_settings

ACTOR = "cli"


def add(field: str = typer.Argument(..., help="Field id, e.g. gh-birim."),
        path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                    help="DEM GeoTIFF/.hgt, or GeoJSON, GeoPackage or "
                                         "zipped shapefile."),
        kind: str = typer.Option(..., "--kind", "-k", help=", ".join(UPLOAD_KINDS)),
        name: str = typer.Option(None, help="Title of the layer (default: the file name)."),
        year: int = typer.Option(None, min=1900, max=2100,
                                 help="The year the layer shows (e.g. mined ground).")) -> None:
    """Validate and store a survey layer of FIELD; print its id and version."""
    get_field(field)  # an unknown id fails here, before any work
    settings = get_settings()
    upload = Upload.from_path(path, max_upload_mb=settings.max_upload_mb)
    title = ((name or "").strip() or upload.filename)[:200]
    with open_store(settings) as store:
        settings.state.uploads.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=".upload-", dir=settings.state.uploads))
        try:
            ingested = ingest_layer(store, upload, field_id=field, kind=kind, name=title,
                                    year=year, actor=ACTOR, state=settings.state,
                                    max_upload_mb=settings.max_upload_mb, workdir=workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        layer = ingested.layer
        if ingested.created:
            store.record_audit(ACTOR, "upload_layer", f"fields/{field}/layers/{layer.id}",
                               sha256=upload.sha256,
                               detail={"kind": kind, "name": title, "year": year,
                                       "size_bytes": upload.size_bytes})
    state = "stored" if ingested.created else "already stored"
    typer.echo(f"{field} {layer.kind} layer {layer.id} v{layer.version} {state} "
               f"({layer.n_features} features, sha256 {layer.sha256[:12]})")
