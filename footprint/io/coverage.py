"""Which input data each field has in the data directory, and which mode that allows."""

from __future__ import annotations

import json
from pathlib import Path

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
BOUNDARY_FILE = "boundaries/dcw_admin0_GHA_CIV_TGO_ZWE.geojson"

WHERE_TO_GET = {
    "dem": "`footprint data fetch FIELD` (Copernicus GLO-90 / SRTM, needs internet) or upload a DEM tile",
    "rivers": "GSHHG/WDBII rivers (gmt-gshhg-full) as GeoJSON in rivers/",
    "usgs_points": "USGS Africa GIS supporting data (doi:10.5066/P97EQWXP) in mining/",
    "kp_statistics": "KP public statistics export (kimberleyprocessstatistics.org) in kp_stats/",
    "boundaries": "DCW-GMT admin-0 (gmt-dcw) in boundaries/",
}


def river_file_for(field) -> str:
    """The WDBII river file whose region holds the field (Zimbabwe vs West Africa)."""
    return RIVER_FILES["zimbabwe"] if field.participant_iso3 == "ZWE" else RIVER_FILES["west_africa"]


def _count_usgs_diamond_points(field, data_dir: Path) -> int:
    import pyogrio

    count = 0
    for rel in USGS_FILES.values():
        path = data_dir / rel
        if not path.is_file():
            continue
        table = pyogrio.read_dataframe(path, bbox=field.aoi_4326.bounds, columns=["is_diamond"],
                                       read_geometry=False)
        count += int(table["is_diamond"].astype(bool).sum()) if len(table) else 0
    return count


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
        "usgs_diamond_points": _count_usgs_diamond_points(field, data_dir),
        "kp_statistics": (data_dir / KP_FILE).is_file(),
        "delineation_mode": mode or "none",
    }


def data_report(fields, data_dir: Path, cache_dir: Path | None = None) -> list[dict]:
    """Per field and layer: present or missing, the path, and where to get it."""
    out = []
    for field in fields:
        cov = field_coverage(field, data_dir, cache_dir)
        layers = []
        for tile in field.dem_tiles:
            ok = tile in cov["dem_tiles_present"]
            layers.append({"layer": f"dem:{tile}", "present": ok,
                           "where": None if ok else WHERE_TO_GET["dem"].replace("FIELD", field.id)})
        for layer, ok in (("rivers", cov["rivers"]),
                          ("usgs_points", any((data_dir / p).is_file() for p in USGS_FILES.values())),
                          ("kp_statistics", cov["kp_statistics"]),
                          ("boundaries", (data_dir / BOUNDARY_FILE).is_file())):
            layers.append({"layer": layer, "present": ok, "where": None if ok else WHERE_TO_GET[layer]})
        out.append({"field": field.id, "delineation_mode": cov["delineation_mode"], "layers": layers})
    return out


def to_json(report: list[dict]) -> str:
    return json.dumps(report, indent=2)
