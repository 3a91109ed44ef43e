"""What autogenerate compares: our tables, not PostGIS's own (``spatial_ref_sys``...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.runtime.environment import NameFilterParentNames, NameFilterType

#: Tables created by the PostGIS extension (and its optional companions), not by us.
FOREIGN_TABLES = frozenset({"spatial_ref_sys", "geometry_columns", "geography_columns",
                            "raster_columns", "raster_overviews", "topology", "layer"})


def include_name(name: str | None, type_: NameFilterType,
                 parent_names: NameFilterParentNames) -> bool:
    """Alembic ``include_name`` hook: skip the extension's tables."""
    return not (type_ == "table" and name in FOREIGN_TABLES)
