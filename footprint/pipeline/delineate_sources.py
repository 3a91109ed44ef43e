"""Inputs of a delineation: layers, DEM files, known sources, rivers, any-AOI fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from footprint.catalogue import FieldDefinition, srtm_tile_names
from footprint.errors import DataMissingError, InvalidLayerError, InvalidParameterError
from footprint.io import vectors
from footprint.io.dem import find_tiles
from footprint.io.vectors import load_usgs_points
from footprint.provenance import input_name, sha256_bytes, sha256_file
from footprint.settings import get_settings


def settings_or_default(settings):
    """``settings``, or the process's settings when it is None."""
    return settings if settings is not None else get_settings()


def checksum_frame(frame: gpd.GeoDataFrame) -> str:
    """sha256 of a frame's GeoJSON (sorted keys): the checksum of an in-memory layer."""
    return sha256_bytes(frame.to_json(sort_keys=True).encode())

def as_frame(layer, role: str, inputs: list[dict]) -> gpd.GeoDataFrame | None:
    """A GeoDataFrame from a frame or a vector file path (recording its checksum)."""
    if layer is None:
        return None
    if isinstance(layer, (str, Path)):
        path = Path(layer)
        if not path.is_file():
            raise DataMissingError(f"{role} file not found: {path}")
        frame = gpd.read_file(path)
        inputs.append({"role": role, "path": input_name(path), "sha256": sha256_file(path)})
        return frame
    if not isinstance(layer, gpd.GeoDataFrame):
        raise InvalidLayerError(f"{role} must be a GeoDataFrame or a vector file path")
    inputs.append({"role": role, "path": None, "sha256": checksum_frame(layer)})
    return layer


def dem_paths_of(field, dem_paths, settings, margin_m: float) -> list[Path] | None:
    """The DEM files: ``dem_paths`` if given, else the field's tiles (all required) plus
    any tile of the hydrological margin that is present."""
    if dem_paths:
        missing = [str(p) for p in dem_paths if not Path(p).is_file()]
        if missing:
            raise DataMissingError(f"DEM file not found: {', '.join(missing)}")
        return [Path(p) for p in dem_paths]
    found = find_tiles(field.dem_tiles, Path(settings.data_dir), Path(settings.cache_dir))
    if not found or any(p is None for p in found.values()):
        return None
    margin_tiles = [t for t in srtm_tile_names(grow_aoi_4326(field, margin_m).bounds)
                    if t not in found]
    extra = find_tiles(margin_tiles, Path(settings.data_dir), Path(settings.cache_dir))
    return [p for p in [*found.values(), *extra.values()] if p is not None]


def known_sources(field, settings, *, deposit_polygons: gpd.GeoDataFrame | None = None,
                  mined_polygons: gpd.GeoDataFrame | None = None,
                  bulk_samples: gpd.GeoDataFrame | None = None,
                  margin_m: float = 0.0) -> gpd.GeoDataFrame:
    """Known diamond sources of a field (EPSG:4326; columns ``kind``, ``name``, geometry).

    The USGS diamond deposit and facility points of the catalogue and of the data
    directory (doi:10.5066/P97EQWXP) within the AOI grown by ``margin_m``, uploaded
    deposits, mined areas, and bulk samples with carats > 0 (DOMAIN.md 3.1).
    """
    rows: list[dict[str, Any]] = [
        {"kind": f"usgs_{point.layer}", "name": point.name,
         "geometry": shapely.Point(point.lon, point.lat)} for point in field.usgs_points]
    rows += _data_dir_usgs_rows(settings, grow_aoi_4326(field, margin_m),
                                {row["name"] for row in rows})
    for kind, frame in (("uploaded_deposit", deposit_polygons), ("mined_area", mined_polygons),
                        ("bulk_sample", bulk_samples)):
        rows += _layer_rows(kind, frame)
    if not rows:
        return gpd.GeoDataFrame({"kind": [], "name": []}, geometry=[], crs=4326)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def _data_dir_usgs_rows(settings, grown, known_names: set[str]) -> list[dict[str, Any]]:
    """USGS diamond deposit and facility points of the data directory inside ``grown``."""
    try:
        usgs = load_usgs_points(Path(settings.data_dir), grown.bounds,
                                layers=("deposits", "facilities"), diamond_only=True)
    except DataMissingError:
        return []
    return [{"kind": f"usgs_{point['layer']}", "name": str(point["name"]),
             "geometry": point.geometry} for _, point in usgs.iterrows()
            if point["name"] not in known_names and grown.intersects(point.geometry)]


def _layer_rows(kind: str, frame: gpd.GeoDataFrame | None) -> list[dict[str, Any]]:
    """Source rows of an uploaded layer (bulk samples only with carats > 0)."""
    if frame is None or frame.empty:
        return []
    frame = frame.to_crs(4326)
    if kind == "bulk_sample":
        carats = pd.to_numeric(frame.get("carats"), errors="coerce")
        frame = frame[carats.fillna(0).to_numpy() > 0]
    return [{"kind": kind, "name": f"{kind} {number + 1}", "geometry": geometry}
            for number, geometry in enumerate(frame.geometry.values)
            if geometry is not None and not geometry.is_empty]


def river_lines(field, settings, river_source: str, inputs: list[dict]):
    """The field's river lines from ``river_source`` (recording the file's checksum)."""
    layer = "rivers_wdbii" if river_source == "wdbii" else "rivers_naturalearth"
    region = vectors.region_for_bbox(field.bbox_4326)
    path = vectors.vector_path(layer, Path(settings.data_dir), region)
    rivers = vectors.load_rivers(Path(settings.data_dir), field.bbox_4326,
                                 source="wdbii" if river_source == "wdbii" else "naturalearth",
                                 region=region)
    inputs.append({"role": "rivers", "path": input_name(path), "sha256": sha256_file(path)})
    return rivers


def bundled_polygons(field) -> gpd.GeoDataFrame | None:
    """The catalogue's bundled deposit polygon (zw-marange: the dispersion-halo AOI)."""
    bundle = field.bundled_deposits
    if not bundle:
        return None
    frame = gpd.GeoDataFrame({"deposit_class": [bundle.get("deposit_class", "mapped_deposit")],
                              "source": [bundle.get("method", "catalogue")]},
                             geometry=[field.aoi_4326], crs=4326)
    return frame


#: Largest area of interest ``--aoi`` accepts (km²): about 30 SRTM3 tiles at the equator;
#: the routing is global (in memory), only MRVBF and the classes run by windows.
MAX_AOI_KM2 = 250_000.0


def field_from_aoi(path: Path | str, name: str | None = None):
    """A field definition for any area of interest (a GeoJSON Polygon/MultiPolygon file
    in lon/lat, RFC 7946), so a new region can be assessed with the catalogue's rules.

    Its CRS is the UTM zone of the AOI's centroid, its DEM tiles the SRTM3 tiles of its
    bounding box; it has no catalogue points: known sources come from the USGS layers of
    the data directory. The id is ``aoi-`` and the first 8 hex digits of the file's
    sha256, so the same file always names the same field.

    Raises
    ------
    InvalidLayerError
        not a readable GeoJSON polygon in lon/lat, or larger than :data:`MAX_AOI_KM2`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataMissingError(f"AOI file not found: {path.name}")
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InvalidLayerError(f"cannot read the AOI {path.name}: not a GeoJSON file") from exc
    if frame.empty or not frame.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise InvalidLayerError("the AOI must hold Polygon or MultiPolygon features")
    if frame.crs is not None and not frame.crs.is_geographic:
        frame = frame.to_crs(4326)
    aoi = shapely.union_all(shapely.make_valid(frame.geometry.values))
    west, south, east, north = aoi.bounds
    if not (-180 <= west < east <= 180 and -60 <= south < north <= 60):
        raise InvalidLayerError("the AOI must be in lon/lat within SRTM's 60 S - 60 N")
    if aoi.geom_type == "MultiPolygon":
        aoi = aoi.convex_hull if len(aoi.geoms) > 1 else aoi.geoms[0]
    centre = aoi.centroid
    zone = int((centre.x + 180) // 6) + 1
    epsg = (32600 if centre.y >= 0 else 32700) + zone
    field = FieldDefinition(
        id=f"aoi-{sha256_file(path)[:8]}", name=name or path.stem, country="",
        participant_iso3="XXX", crs_epsg=epsg, aoi_4326=aoi,
        aoi_method=f"user AOI from {path.name}", aoi_approximate="as given",
        delineation_modes=("terrain", "rivers"), dem_tiles=srtm_tile_names(aoi.bounds))
    if field.aoi_area_km2 > MAX_AOI_KM2:
        raise InvalidLayerError(f"the AOI is {field.aoi_area_km2:,.0f} km²; at most "
                                f"{MAX_AOI_KM2:,.0f} km² are delineated in memory")
    return field


def grow_aoi_4326(field, margin_m: float):
    """The AOI grown by ``margin_m`` (buffered in metres, returned in lon/lat)."""
    if margin_m <= 0:
        return field.aoi_4326
    to_4326 = pyproj.Transformer.from_crs(field.crs_epsg, 4326, always_xy=True)
    grown = field.aoi_projected().buffer(margin_m)
    return shapely.transform(
        grown, lambda xy: np.column_stack(to_4326.transform(xy[:, 0], xy[:, 1])))


def rivers_present(field, settings, river_source: str) -> bool:
    """Whether the data directory holds the river layer ``river_source`` for the field."""
    layer = "rivers_wdbii" if river_source == "wdbii" else "rivers_naturalearth"
    try:
        region = vectors.region_for_bbox(field.bbox_4326)
        vectors.vector_path(layer, Path(settings.data_dir), region)
    except (DataMissingError, InvalidParameterError):
        return False
    return True


def line_length_km(rivers: gpd.GeoDataFrame, aoi, crs_epsg: int) -> float:
    """Length (km) of the river lines inside the projected ``aoi``."""
    if rivers is None or rivers.empty:
        return 0.0
    lines = rivers.to_crs(crs_epsg).geometry.values
    return float(shapely.length(shapely.intersection(lines, aoi)).sum() / 1000.0)
