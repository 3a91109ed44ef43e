"""Open the store the way every entry point does: state folders, migrations, catalogue."""

from __future__ import annotations

from footprint.catalogue import load_catalogue
from footprint.settings import Settings
from footprint.storage.store import Store


def open_store(settings: Settings) -> Store:
    """A :class:`Store` on ``settings``' database, migrated to the newest revision, with
    the catalogue's fields synchronised and the state directory's folders created.

    The caller disposes of it (``with open_store(settings) as store: ...``).
    """
    settings.ensure_dirs()
    store = Store.from_settings(settings)
    store.upgrade()
    store.sync_fields(load_catalogue().values())
    return store
