"""``footprint keys create|list|revoke``: API keys and their roles.

The token is printed once, at creation; the database keeps only its sha256. Creating and
revoking are audited (actor ``cli:<os user>``) in the same transaction as the change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from footprint.storage.audit import Audit
    from footprint.storage.store import Store

ROLES_HELP = "reader, surveyor (uploads layers), monitor (requests reports) or admin"


def create(name: str = typer.Argument(..., help="Who or what the key is for."),
           role: str = typer.Option("reader", "--role", "-r", help=ROLES_HELP)) -> None:
    """Create an API key and print its token (shown only this once)."""
    with _store() as store:
        record, token = store.create_api_key(name, role, audit=_cli_audit())
    typer.echo(f"created key {record.id} ({record.name}, role {record.role})", err=True)
    typer.echo("store this token now; it cannot be shown again:", err=True)
    typer.echo(token)


def list_(show_revoked: bool = typer.Option(True, "--revoked/--active-only",
                                            help="Include revoked keys.")) -> None:
    """List API keys (id, name, role, prefix, created, revoked); never the tokens."""
    from rich.console import Console
    from rich.table import Table

    with _store() as store:
        keys = store.list_api_keys()
    table = Table(title="API keys")
    for column in ("id", "name", "role", "prefix", "created (UTC)", "revoked (UTC)"):
        table.add_column(column)
    for key in keys:
        if key.revoked_at is not None and not show_revoked:
            continue
        table.add_row(str(key.id), key.name, key.role, key.prefix + "…",
                      f"{key.created_at:%Y-%m-%d %H:%M}",
                      f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "")
    Console().print(table)


def revoke(key_id: int = typer.Argument(...,
                                        help="Id of the key (see `footprint keys list`).")) -> None:
    """Revoke an API key: requests with its token are refused from now on."""
    with _store() as store:
        record = store.revoke_api_key(key_id, audit=_cli_audit())
    typer.echo(f"revoked key {record.id} ({record.name})")


def _store() -> Store:
    """The configured store, migrated (imported when a command runs, as in every command)."""
    from footprint.settings import get_settings
    from footprint.storage.store import Store

    store = Store.from_settings(get_settings())
    try:
        store.upgrade()
    except BaseException:
        store.dispose()
        raise
    return store


def _cli_audit() -> Audit:
    """Who acts, as the audit log records a shell user."""
    from footprint.storage.audit import Audit

    return Audit.cli()
