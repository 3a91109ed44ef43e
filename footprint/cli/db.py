"""``footprint db upgrade``: create or migrate the database schema (Alembic)."""

from __future__ import annotations

import typer


def upgrade() -> None:
    """Apply the database migrations (SQLite file or PostgreSQL/PostGIS) up to the newest."""
    from footprint.settings import get_settings
    from footprint.storage.store import Store

    settings = get_settings()
    with Store.from_settings(settings) as store:
        revision = store.upgrade()
        typer.echo(f"database {store.url} at revision {revision}")
