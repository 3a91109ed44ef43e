"""``footprint db upgrade``: create or migrate the database schema (Alembic)."""

from __future__ import annotations

import typer


def upgrade() -> None:
    """Apply the database migrations (SQLite file or PostgreSQL/PostGIS) up to the newest."""
    from footprint.services.store import open_store
    from footprint.settings import get_settings

    with open_store(get_settings()) as store:
        typer.echo(f"database {store.url} at revision {store.current_revision()}; "
                   f"{len(store.list_fields())} fields in the catalogue")
