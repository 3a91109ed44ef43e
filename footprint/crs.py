"""Reference systems: one place to move geometries between CRSs.

Areas and lengths are computed in a field's projected CRS (UTM); GeoJSON is published in
EPSG:4326 lon/lat (RFC 7946). Transformers are cached and always use lon/lat axis order.
"""

from __future__ import annotations

import functools

import pyproj
import shapely


@functools.lru_cache(maxsize=32)
def transformer(src: str | int, dst: str | int) -> pyproj.Transformer:
    """A cached ``always_xy`` transformer from ``src`` to ``dst`` (EPSG codes or CRS strings)."""
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def _key(crs) -> str | int:
    if isinstance(crs, int):
        return crs
    epsg = pyproj.CRS.from_user_input(crs).to_epsg()
    return epsg if epsg else pyproj.CRS.from_user_input(crs).to_wkt()


def reproject_geometry(geometry, src, dst):
    """``geometry`` (shapely) moved from CRS ``src`` to CRS ``dst``."""
    forward = transformer(_key(src), _key(dst))
    return shapely.transform(geometry, lambda x, y: forward.transform(x, y), interleaved=False)
