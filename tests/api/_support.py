"""Small files for the upload and job tests: DEMs, vector layers, and hostile variants.

Everything is made on the fly in a temporary directory (GeoTIFFs with rasterio, vectors
with geopandas, zips with zipfile); nothing is read from the shared data.
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

#: Near the USGS "Placer mine at Akwatia" point, inside gh-birim's area of interest.
AKWATIA = (-0.821098, 6.019422)
#: DEM cell size in degrees (~90 m at 6 N).
DEM_RES_DEG = 1 / 1200


def dem_values(shape: tuple[int, int] = (48, 64)) -> np.ndarray:
    """A V-shaped valley draining east (metres), float32."""
    rows, cols = np.indices(shape)
    centre = (shape[0] - 1) / 2
    return (150.0 + 4.0 * np.abs(rows - centre) - 0.2 * cols).astype("float32")


def write_dem(path: Path, *, lon: float = AKWATIA[0] - 0.02, lat: float = AKWATIA[1] + 0.02,
              georeferenced: bool = True, shape: tuple[int, int] = (48, 64)) -> Path:
    """A small GeoTIFF DEM in EPSG:4326 with its north-west corner at (lon, lat)."""
    data = dem_values(shape)
    profile = {"driver": "GTiff", "width": shape[1], "height": shape[0], "count": 1,
               "dtype": "float32", "nodata": -32768.0}
    if georeferenced:
        profile.update(crs="EPSG:4326", transform=from_origin(lon, lat, DEM_RES_DEG, DEM_RES_DEG))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def truncate(path: Path, keep_fraction: float = 0.4) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path


def deposit_polygons(lon: float = AKWATIA[0], lat: float = AKWATIA[1]) -> gpd.GeoDataFrame:
    """Two mapped deposits (about 1.1 x 1.1 km and 0.55 x 1.1 km) near (lon, lat)."""
    return gpd.GeoDataFrame(
        {"deposit_class": ["floodplain", "low_terrace"], "thickness_m": [0.6, 0.8],
         "grade_ct_m3": [1.8, 0.9]},
        geometry=[box(lon - 0.005, lat - 0.005, lon + 0.005, lat + 0.005),
                  box(lon + 0.01, lat, lon + 0.015, lat + 0.01)], crs=4326)


def write_vector(path: Path, frame: gpd.GeoDataFrame) -> Path:
    """GeoJSON (by suffix .geojson) or GeoPackage (.gpkg)."""
    driver = "GPKG" if path.suffix == ".gpkg" else "GeoJSON"
    frame.to_file(path, driver=driver)
    return path


def mined_areas(lon: float = AKWATIA[0], lat: float = AKWATIA[1]) -> gpd.GeoDataFrame:
    """Three pits, dated 2006, 2007 and 2007 (the 2007 ones overlap each other)."""
    return gpd.GeoDataFrame(
        {"year": [2006, 2007, 2007]},
        geometry=[box(lon - 0.004, lat - 0.004, lon - 0.002, lat - 0.002),
                  box(lon, lat, lon + 0.002, lat + 0.002),
                  box(lon + 0.001, lat + 0.001, lon + 0.003, lat + 0.003)], crs=4326)


def write_zipped_shapefile(path: Path, frame: gpd.GeoDataFrame, workdir: Path) -> Path:
    shp_dir = workdir / f"shp-{path.stem}"
    shp_dir.mkdir(parents=True, exist_ok=True)
    frame.to_file(shp_dir / "layer.shp", driver="ESRI Shapefile")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in sorted(shp_dir.iterdir()):
            archive.write(member, arcname=member.name)
    return path


def write_traversal_zip(path: Path, frame: gpd.GeoDataFrame, workdir: Path) -> Path:
    """A zipped shapefile whose members climb out of the extraction directory."""
    shp_dir = workdir / f"evil-{path.stem}"
    shp_dir.mkdir(parents=True, exist_ok=True)
    frame.to_file(shp_dir / "layer.shp", driver="ESRI Shapefile")
    with zipfile.ZipFile(path, "w") as archive:
        for member in sorted(shp_dir.iterdir()):
            archive.write(member, arcname=f"../../{member.name}")
    return path


def write_zip_bomb(path: Path, expanded_bytes: int) -> Path:
    """A small zip whose one member expands to ``expanded_bytes`` of zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("layer.shp", "w", force_zip64=True) as member:
            chunk = b"\0" * (1 << 20)
            written = 0
            while written < expanded_bytes:
                member.write(chunk)
                written += len(chunk)
        archive.writestr("layer.dbf", b"\0" * 64)
        archive.writestr("layer.shx", b"\0" * 64)
    return path


def files_under(root: Path) -> set[Path]:
    """Every file below ``root`` (relative paths)."""
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def wait_for_job(client, job_url: str, *, until=("successful", "failed", "dismissed"),
                 timeout_s: float = 60.0, headers: dict | None = None) -> dict:
    """Poll a job until its status is one of ``until``; return its statusInfo."""
    deadline = time.monotonic() + timeout_s
    while True:
        info = client.get(job_url, headers=headers or {}).json()
        if info.get("status") in until:
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f"job did not reach {until} in {timeout_s} s: {info}")
        time.sleep(0.05)
