"""``footprint layers list|retire``: a field's stored survey layers; retiring one.

A retired layer stays stored for the provenance of the versions built with it (with an
audit entry), but the next ``footprint build`` no longer reads it.
"""

from __future__ import annotations

import getpass

import typer


def list_(field: str = typer.Argument(..., help="Field id, e.g. gh-birim."),
          retired: bool = typer.Option(True, "--retired/--active-only",
                                       help="Include retired layers.")) -> None:
    """List the field's layers: id, kind, version, name, sha256, retired."""
    from datasets.catalogue import get_field
    from footprint.storage.store import Store

    get_field(field)
    with Store.from_settings() as store:
        store.upgrade()
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
    from datasets.catalogue import get_field
    from footprint.storage.store import Store

    get_field(field)
    actor = f"cli:{getpass.getuser()}"
    with Store.from_settings() as store:
        store.upgrade()
        layer, retired = store.retire_layer(layer_id, actor=actor, field_id=field,
                                            reason=reason, detail={"via": "cli"})
    what = "retired" if retired else "was already retired"
    typer.echo(f"{field} layer {layer.id} ({layer.kind} {layer.name!r}) {what}; the next "
               f"build no longer uses it")
