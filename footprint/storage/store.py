"""The repository of everything the service keeps: :class:`Store`.

One facade, one database, two backends (SQLite embedded by default, PostgreSQL/PostGIS
for a shared deployment), chosen by URL (``FOOTPRINT_DATABASE_URL``). Every method runs
in its own transaction and returns plain frozen records (``records.py``) or GeoJSON-like
feature dicts in lon/lat (RFC 7946), never live ORM objects. Files (COGs, draws,
uploads) live under the state directory; the store keeps their paths relative to it and
never touches the files themselves.

Errors are :class:`~footprint.errors.NotFoundError` (and ``UnknownFieldError``),
:class:`~footprint.errors.ConflictError`, :class:`~footprint.errors.StorageError` and the
validation errors of the inputs (``InvalidLayerError``, ``InvalidDeclarationError``,
``InvalidParameterError``); their messages are safe to show, details go to the log.

The methods live in one repository per concern (:mod:`.fields`, :mod:`.layers`,
:mod:`.footprints`, :mod:`.declarations`, :mod:`.jobs`, :mod:`.keys`, :mod:`.audit`), each
a :class:`~footprint.storage.base.StoreBase` on the same engine; ``Store`` is all of them.
"""

from __future__ import annotations

from footprint.storage.audit import AuditRepository
from footprint.storage.declarations import DeclarationRepository
from footprint.storage.fields import FieldRepository
from footprint.storage.footprints import FootprintRepository
from footprint.storage.jobs import JobRepository
from footprint.storage.keys import ApiKeyRepository
from footprint.storage.layers import LAYER_KINDS, LayerRepository

__all__ = ["LAYER_KINDS", "Store"]


class Store(
    FieldRepository,
    LayerRepository,
    FootprintRepository,
    DeclarationRepository,
    JobRepository,
    ApiKeyRepository,
    AuditRepository,
):
    """Repository over the footprint database.

    Parameters
    ----------
    url : str or Settings
        SQLAlchemy URL (``sqlite:///path/footprint.sqlite`` or
        ``postgresql+psycopg://user:pw@host/db``) or a :class:`~footprint.settings.Settings`
        whose ``effective_database_url`` (and ``state_dir``) are used.
    state_dir : path, optional
        The state directory; absolute file paths handed to the store that lie inside it
        are stored relative to it (so the directory can move). Other absolute paths are
        kept as given; ``state_dir / path`` resolves both kinds.

    Notes
    -----
    The schema is created by :meth:`upgrade` (Alembic); a store on an empty database
    raises :class:`StorageError` until then. The engine holds a connection pool: call
    :meth:`dispose` (or use the store as a context manager) when done with it.
    """
