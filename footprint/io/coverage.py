"""Which input data each field has in the data directory, and which mode that allows."""

from __future__ import annotations

from pathlib import Path

from footprint.io.checks import _count_diamond_points
from footprint.io.dem import find_tiles

#: Files of ../shared/data the system reads, relative to the data directory.
RIVER_FILES = {
    "west_africa": "rivers/gshhg_wdbii_rivers_west_africa.geojson",
    "zimbabwe": "rivers/gshhg_wdbii_rivers_zimbabwe.geojson",
}
USGS_FILES = {
    "facilities": "mining/usgs_afr_mineral_facilities_GHA_CIV_TGO_ZWE.geojson",
    "deposits": "mining/usgs_afr_mineral_deposits_GHA_CIV_TGO_ZWE.geojson",
    "exploration": "mining/usgs_afr_mineral_exploration_GHA_CIV_TGO_ZWE.geojson",
}
KP_FILE = "kp_stats/kp_production_halfyear_all_participants_2003_2024.csv"


def river_file_for(field) -> str:
    """The WDBII river file whose region holds the field (Zimbabwe vs West Africa)."""
    region = "zimbabwe" if field.participant_iso3 == "ZWE" else "west_africa"
    return RIVER_FILES[region]


def field_coverage(field, data_dir: Path, cache_dir: Path | None = None) -> dict:
    """Data present for ``field``: DEM tiles (present / missing), rivers, USGS points,
    KP statistics, and the best delineation mode the present data allow."""
    data_dir = Path(data_dir)
    tiles = find_tiles(field.dem_tiles, data_dir, cache_dir)
    present = [name for name, path in tiles.items() if path]
    rivers = (data_dir / river_file_for(field)).is_file()
    possible = {
        "terrain": len(present) == len(tiles) and len(tiles) > 0,
        "rivers": rivers,
        "polygons": bool(field.bundled_deposits),
    }
    mode = next((m for m in field.delineation_modes if possible.get(m)), None)
    return {
        "dem_tiles_present": present,
        "dem_tiles_missing": [name for name, path in tiles.items() if not path],
        "rivers": rivers,
        "usgs_diamond_points": sum(_count_diamond_points(data_dir / rel, field.aoi_4326.bounds)
                                   for rel in USGS_FILES.values() if (data_dir / rel).is_file()),
        "kp_statistics": (data_dir / KP_FILE).is_file(),
        "delineation_mode": mode or "none",
    }
