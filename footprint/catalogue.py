"""The field catalogue: five alluvial diamond fields and how their areas were drawn.

``datasets/fields.yaml`` (read through :mod:`importlib.resources`) holds recipes drawn from
published coordinates; this module turns them into polygons. Circles are drawn in the
field's projected CRS (true radius on the ground) and published in EPSG:4326 lon/lat.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from shapely import Polygon, box
from shapely.geometry import Point, mapping

from footprint.concepts import DelineationMode
from footprint.crs import reproject_geometry
from footprint.errors import UnknownFieldError
from footprint.io.download import tile_names_for_bbox

#: The catalogue file, a resource of the ``datasets`` package.
CATALOGUE_RESOURCE = resources.files("datasets") / "fields.yaml"


class UsgsPoint(BaseModel):
    """A USGS deposit point of the field (lon/lat, EPSG:4326) and its source layer."""
    model_config = ConfigDict(frozen=True)
    name: str
    layer: str
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class FieldDefinition(BaseModel):
    """One field of the catalogue (areas in the field's projected CRS ``crs_epsg``)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    id: str
    name: str
    country: str
    participant_iso3: str = Field(pattern=r"^[A-Z]{3}$")
    crs_epsg: int
    aoi_4326: Polygon
    aoi_method: str
    aoi_approximate: str
    location_conflict: str | None = None
    delineation_modes: tuple[DelineationMode, ...]
    dem_tiles: tuple[str, ...]
    usgs_points: tuple[UsgsPoint, ...] = ()
    bundled_deposits: dict[str, str] | None = None
    sources: tuple[str, ...] = ()
    notes: str = ""

    def aoi_projected(self) -> Polygon:
        """The AOI in the field's projected CRS (metres)."""
        return reproject_geometry(self.aoi_4326, 4326, self.crs_epsg)

    @property
    def aoi_area_km2(self) -> float:
        """Area of the AOI in km², computed in the field's projected CRS."""
        return self.aoi_projected().area / 1e6

    @property
    def bbox_4326(self) -> tuple[float, float, float, float]:
        """The AOI's bounds in degrees: (west, south, east, north)."""
        return tuple(self.aoi_4326.bounds)  # type: ignore[return-value]

    def feature(self) -> dict[str, Any]:
        """The AOI as a GeoJSON feature (RFC 7946, lon/lat) with its provenance."""
        return {
            "type": "Feature",
            "id": self.id,
            "geometry": mapping(self.aoi_4326),
            "properties": {
                "name": self.name, "country": self.country,
                "participant_iso3": self.participant_iso3, "crs_epsg": self.crs_epsg,
                "aoi_method": self.aoi_method, "aoi_approximate": self.aoi_approximate,
                "aoi_area_km2": round(self.aoi_area_km2, 1),
                "delineation_modes": list(self.delineation_modes),
                "dem_tiles": list(self.dem_tiles), "sources": list(self.sources),
                "location_conflict": self.location_conflict,
            },
        }


def srtm_tile_names(bbox_4326: tuple[float, float, float, float]) -> tuple[str, ...]:
    """Names of the 1x1 degree SRTM tiles (named by their SW corner) covering a bbox."""
    return tuple(tile_names_for_bbox(bbox_4326))


def _draw_aoi(recipe: dict[str, Any], crs_epsg: int) -> Polygon:
    if "bbox_4326" in recipe:
        return box(*recipe["bbox_4326"])
    circle = recipe["circle"]
    centre = reproject_geometry(Point(circle["lon"], circle["lat"]), 4326, crs_epsg)
    disc = centre.buffer(circle["radius_m"], quad_segs=32)
    return reproject_geometry(disc, crs_epsg, 4326)


def _build(field_id: str, entry: dict[str, Any]) -> FieldDefinition:
    aoi = _draw_aoi(entry["aoi"], entry["crs_epsg"])
    return FieldDefinition(
        id=field_id, name=entry["name"], country=entry["country"],
        participant_iso3=entry["participant_iso3"], crs_epsg=entry["crs_epsg"],
        aoi_4326=aoi, aoi_method=entry["aoi"]["method"],
        aoi_approximate=entry["aoi"]["approximate"],
        location_conflict=entry["aoi"].get("location_conflict"),
        delineation_modes=tuple(entry["delineation_modes"]),
        dem_tiles=srtm_tile_names(aoi.bounds),
        usgs_points=tuple(UsgsPoint(**p) for p in entry.get("usgs_points", [])),
        bundled_deposits=entry.get("bundled_deposits"),
        sources=tuple(entry.get("sources", [])), notes=entry.get("notes", ""),
    )


@functools.lru_cache(maxsize=1)
def load_catalogue() -> dict[str, FieldDefinition]:
    """All fields of ``datasets/fields.yaml`` by id, in file order."""
    raw = yaml.safe_load(CATALOGUE_RESOURCE.read_text(encoding="utf-8"))
    return {fid: _build(fid, entry) for fid, entry in raw["fields"].items()}


def get_field(field_id: str) -> FieldDefinition:
    """The field ``field_id``; raises :class:`UnknownFieldError` naming the known ids."""
    catalogue = load_catalogue()
    try:
        return catalogue[field_id]
    except KeyError:
        raise UnknownFieldError(f"unknown field {field_id!r}",
                                hint=f"known fields: {', '.join(catalogue)}") from None


def fields_of(participant_iso3: str) -> list[FieldDefinition]:
    """The catalogue's fields of one KP participant (ISO3)."""
    return [f for f in load_catalogue().values() if f.participant_iso3 == participant_iso3.upper()]
