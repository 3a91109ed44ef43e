"""``footprint db upgrade``: create or migrate the database schema (Alembic)."""

from __future__ import annotations

import typer


def upgrade() -> None:
    """Apply the database migrations (SQLite file or PostgreSQL/PostGIS) up to the newest."""
    from datasets.catalogue import load_catalogue
    from footprint.settings import get_settings
    from footprint.storage.store import Store

    settings = get_settings()
    settings.ensure_dirs()
    with Store.from_settings(settings) as store:
        revision = store.upgrade()
        store.sync_fields(load_catalogue().values())
        typer.echo(f"database {store.url} at revision {revision}; "
                   f"{len(store.list_fields())} fields in the catalogue")
