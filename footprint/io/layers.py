"""Validation of uploaded survey layers (DEM tiles and vector layers) before they are stored.

Uploads come from outside, so every check assumes a hostile or broken file and fails with
:class:`footprint.errors.InvalidLayerError` carrying a user-safe message (no server paths,
no GDAL internals). Vector uploads are GeoJSON, GeoPackage or a zipped shapefile; zips are
extracted safely (no absolute or ``..`` member paths, no symlinks, a member-count limit
and an expanded-size limit counted on the bytes actually written, so a lying header cannot
get past it). A layer must have a CRS, valid non-empty geometries of the kind's type, lie
within :data:`MAX_DISTANCE_M` of the field's area of interest, and carry the attributes
its kind needs (:data:`KIND_SCHEMAS`; units in the column names).

DEM uploads are opened with rasterio and read block by block (memory: one block): CRS
present, georeferenced (not an identity transform), no undeclared non-finite values, all
valid heights within :data:`ELEVATION_RANGE_M` (an undeclared -9999 or -32768 fails
here), overlap with the field's AOI. A truncated file fails with a clear message.
:func:`dem_to_cog` rewrites an accepted DEM as a validated Cloud-Optimized GeoTIFF.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
from rasterio.errors import RasterioError
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from shapely.geometry import box

from footprint.concepts import KIND_SCHEMAS
from footprint.errors import InvalidLayerError

#: Farthest a feature may lie from the field's area of interest (metres).
MAX_DISTANCE_M = 50_000.0
#: Limits of a zipped upload.
MAX_ZIP_MEMBERS = 64
MAX_EXPANDED_BYTES = 512 * 1024 * 1024
#: Plausible heights (m): Dead Sea shore to above Everest.
ELEVATION_RANGE_M = (-500.0, 9000.0)
#: Largest DEM accepted (pixels), about a 1°×1° tile at 1 arc-second, four times over.
MAX_DEM_PIXELS = 4 * 3601 * 3601
#: Largest decoded size of an uploaded DEM (width x height x bytes per sample): a
#: compressed 622 kB file can decode to 415 MB (issue 11 row 4); 4 SRTM1 tiles in int16
#: decode to 104 MB.
MAX_DEM_DECODED_BYTES = 256 * 1024 * 1024
#: Largest decoded internal block (strip or tile): GDAL decodes a whole block to read
#: any part of it, so a one-strip file would be read whole.
MAX_DEM_BLOCK_BYTES = 32 * 1024 * 1024
#: Rows read at a time when scanning an upload (bounded memory whatever the layout).
_DEM_SCAN_BYTES = 16 * 1024 * 1024


# --- reading an upload -------------------------------------------------------------------

def _sniff(head: bytes) -> str:
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"[")):
        return "geojson"
    raise InvalidLayerError("unrecognised file: upload GeoJSON, a GeoPackage or a zipped "
                            "shapefile")


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _safe_member_path(name: str) -> PurePosixPath:
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    if (normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":")
            or ".." in path.parts or "\x00" in normalised):
        raise InvalidLayerError(f"unsafe path in the zip file: {name[:80]!r}")
    return path


def safe_extract_zip(source: Path | bytes, dest: Path, *, max_members: int = MAX_ZIP_MEMBERS,  # noqa: C901
                     max_expanded_bytes: int = MAX_EXPANDED_BYTES) -> list[Path]:
    """Extract a zip upload into ``dest`` refusing anything unsafe; returns the files.

    Refused: absolute paths, ``..`` components, drive letters, symlinks, more than
    ``max_members`` members, more than ``max_expanded_bytes`` once expanded (counted on the
    bytes written, not the headers), encrypted members.
    """
    handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
    try:
        try:
            archive = zipfile.ZipFile(handle)
        except zipfile.BadZipFile as err:
            raise InvalidLayerError("the zip file is corrupt or truncated") from err
        with archive:
            members = archive.infolist()
            if len(members) > max_members:
                raise InvalidLayerError(f"the zip file has {len(members)} members; at most "
                                        f"{max_members} are accepted")
            declared = sum(m.file_size for m in members)
            if declared > max_expanded_bytes:
                raise InvalidLayerError(f"the zip file expands to {declared:,} bytes; the "
                                        f"limit is {max_expanded_bytes:,}")
            written, files = 0, []
            root = dest.resolve()
            for member in members:
                relative = _safe_member_path(member.filename)
                if _is_symlink(member):
                    raise InvalidLayerError(f"the zip file contains a symbolic link: "
                                            f"{member.filename[:80]!r}")
                if member.flag_bits & 0x1:
                    raise InvalidLayerError("encrypted zip members are not accepted")
                target = (root / relative).resolve()
                if not target.is_relative_to(root):
                    raise InvalidLayerError(f"unsafe path in the zip file: "
                                            f"{member.filename[:80]!r}")
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with archive.open(member) as src, open(target, "wb") as out:
                        while chunk := src.read(1 << 20):
                            written += len(chunk)
                            if written > max_expanded_bytes:
                                raise InvalidLayerError(
                                    f"the zip file expands beyond the limit of "
                                    f"{max_expanded_bytes:,} bytes")
                            out.write(chunk)
                except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as err:
                    raise InvalidLayerError("the zip file is corrupt or truncated") from err
                files.append(target)
            return files
    finally:
        handle.close()


@contextmanager
def _materialised(path_or_bytes: Path | str | bytes, *,
                  max_expanded_bytes: int = MAX_EXPANDED_BYTES) -> Iterator[Path]:
    """A readable vector dataset path for the upload (extracting zips to a temp dir)."""
    with tempfile.TemporaryDirectory(prefix="footprint-upload-") as tmp:
        tmpdir = Path(tmp)
        if isinstance(path_or_bytes, (bytes, bytearray)):
            data = bytes(path_or_bytes)
            if not data:
                raise InvalidLayerError("the uploaded file is empty")
            kind = _sniff(data[:64])
            if kind != "zip":
                path = tmpdir / f"upload.{'gpkg' if kind == 'gpkg' else 'geojson'}"
                path.write_bytes(data)
                yield path
                return
            source: Path | bytes = data
        else:
            path = Path(path_or_bytes)
            if not path.is_file() or path.stat().st_size == 0:
                raise InvalidLayerError("the uploaded file is empty or missing")
            with open(path, "rb") as handle:
                kind = _sniff(handle.read(64))
            if kind != "zip":
                # GDAL picks the driver by extension for some formats: give it one.
                suffix = ".gpkg" if kind == "gpkg" else ".geojson"
                if path.suffix.lower() != suffix:
                    linked = tmpdir / f"upload{suffix}"
                    try:
                        os.link(path, linked)
                    except OSError:
                        linked.write_bytes(path.read_bytes())
                    path = linked
                yield path
                return
            source = path
        extracted = safe_extract_zip(source, tmpdir / "zip",
                                     max_expanded_bytes=max_expanded_bytes)
        shapefiles = [p for p in extracted if p.suffix.lower() == ".shp"
                      and not any(part.startswith("__MACOSX") for part in p.parts)]
        if len(shapefiles) != 1:
            raise InvalidLayerError(f"the zip file must hold exactly one .shp shapefile, "
                                    f"found {len(shapefiles)}")
        yield shapefiles[0]


def _read_vector(path: Path, kind: str) -> gpd.GeoDataFrame:
    try:
        layers = pyogrio.list_layers(path)
        layer = None
        if len(layers) > 1:
            names = [str(name) for name, _ in layers]
            if kind not in names:
                raise InvalidLayerError(f"the file has {len(layers)} layers "
                                        f"({', '.join(names[:5])}); upload one, or name it "
                                        f"{kind!r}")
            layer = kind
        return pyogrio.read_dataframe(path, layer=layer)
    except InvalidLayerError:
        raise
    except Exception as err:  # GDAL/pyogrio errors carry server paths: do not echo them
        raise InvalidLayerError("could not read the layer: the file is not valid GeoJSON, "
                                "GeoPackage or shapefile, or it is truncated") from err


# --- checks ------------------------------------------------------------------------------

def _check_geometries(frame: gpd.GeoDataFrame, kind: str) -> None:
    if frame.crs is None:
        raise InvalidLayerError("the layer has no coordinate reference system: add a .prj "
                                "to the shapefile or set the GeoPackage SRS")
    if len(frame) == 0:
        raise InvalidLayerError("the layer has no features")
    missing = frame.geometry.isna() | frame.geometry.is_empty
    if missing.any():
        raise InvalidLayerError(f"{int(missing.sum())} feature(s) have no geometry "
                                f"(first: feature {int(np.flatnonzero(missing)[0])})")
    allowed = KIND_SCHEMAS[kind][0]
    wrong = ~frame.geom_type.isin(allowed)
    if wrong.any():
        first = int(np.flatnonzero(wrong)[0])
        raise InvalidLayerError(f"{kind} layers need {'/'.join(allowed)} geometries; feature "
                                f"{first} is a {frame.geom_type.iloc[first]}")
    invalid = ~frame.geometry.is_valid
    if invalid.any():
        first = int(np.flatnonzero(invalid)[0])
        reason = frame.geometry.iloc[[first]].is_valid_reason().iloc[0]
        raise InvalidLayerError(f"{int(invalid.sum())} invalid geometr(y/ies); feature "
                                f"{first}: {reason}")
    bounds = frame.geometry.bounds.to_numpy()
    if not np.isfinite(bounds).all():
        raise InvalidLayerError("the layer has non-finite coordinates")


def _check_extent(frame: gpd.GeoDataFrame, field: Any, max_distance_m: float) -> None:
    try:
        local = frame.to_crs(field.crs_epsg)
    except Exception as err:
        raise InvalidLayerError("the layer's CRS cannot be transformed to the field's") from err
    if not np.isfinite(local.geometry.bounds.to_numpy()).all():
        raise InvalidLayerError("the layer's coordinates do not transform to the field's "
                                "CRS: check the CRS")
    distance_m = local.distance(field.aoi_projected())
    far = distance_m > max_distance_m
    if far.any():
        raise InvalidLayerError(
            f"{int(far.sum())} of {len(frame)} feature(s) lie more than "
            f"{max_distance_m / 1000:.0f} km from the field {field.id} (farthest "
            f"{distance_m.max() / 1000:,.0f} km): check the CRS and the lon/lat order")


def _coerce_attributes(frame: gpd.GeoDataFrame, kind: str) -> gpd.GeoDataFrame:  # noqa: C901
    by_lower = {str(c).lower(): c for c in frame.columns if c != frame.geometry.name}
    frame = frame.copy()
    for attr in KIND_SCHEMAS[kind][1]:
        column = by_lower.get(attr.name)
        if column is None:
            if attr.required:
                raise InvalidLayerError(f"{kind} layers need a {attr.name!r} attribute "
                                        f"({attr.description})")
            continue
        if column != attr.name:
            frame = frame.rename(columns={column: attr.name})
        values = frame[attr.name]
        if attr.dtype is str:
            text = values.astype("string")
            if (text.str.len() > 200).any():
                raise InvalidLayerError(f"{attr.name!r} values are limited to 200 characters")
            frame[attr.name] = text
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna()
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            raise InvalidLayerError(f"{attr.name!r} must be a number; feature {first} has "
                                    f"{str(values.iloc[first])[:40]!r}")
        if attr.required and numbers.isna().any():
            first = int(np.flatnonzero(numbers.isna().to_numpy())[0])
            raise InvalidLayerError(f"{attr.name!r} is required; feature {first} has none")
        finite = numbers.dropna()
        if not np.isfinite(finite.to_numpy(dtype=float)).all():
            raise InvalidLayerError(f"{attr.name!r} has non-finite values")
        low = -np.inf if attr.minimum is None else attr.minimum
        high = np.inf if attr.maximum is None else attr.maximum
        out_of_range = (finite < low) | (finite > high)
        if out_of_range.any():
            value = finite[out_of_range].iloc[0]
            raise InvalidLayerError(f"{attr.name!r} = {value:g} is outside "
                                    f"[{low:g}, {high:g}] ({attr.description})")
        if attr.dtype is int:
            if (finite != np.round(finite)).any():
                raise InvalidLayerError(f"{attr.name!r} must be a whole number")
            frame[attr.name] = numbers.round().astype("Int64")
        else:
            frame[attr.name] = numbers.astype(float)
    return frame


def validate_vector_layer(path_or_bytes: Path | str | bytes, kind: str, field: Any, *,
                          max_distance_m: float = MAX_DISTANCE_M,
                          max_expanded_bytes: int = MAX_EXPANDED_BYTES) -> gpd.GeoDataFrame:
    """Read and validate an uploaded vector layer of ``kind`` for ``field``.

    Parameters
    ----------
    path_or_bytes
        GeoJSON, GeoPackage or zipped shapefile, as a path or the uploaded bytes.
    kind
        one of :data:`KIND_SCHEMAS` (``deposits``, ``mined_areas``, ``bulk_samples``,
        ``pit_logs``, ``workforce``).
    field
        a :class:`footprint.catalogue.FieldDefinition` (``id``, ``crs_epsg``,
        ``aoi_projected()``).
    max_distance_m
        farthest a feature may lie from the field's AOI.
    max_expanded_bytes
        most bytes a zipped shapefile may expand to (counted as it is extracted, once).

    Returns
    -------
    The layer in its own CRS, with the kind's attributes renamed to their canonical
    lower-case names and typed (float, ``Int64``, ``string``); other attributes kept.

    Raises
    ------
    InvalidLayerError
        with a message safe to show the uploader.
    """
    if kind not in KIND_SCHEMAS:
        raise InvalidLayerError(f"unknown layer kind {kind!r}",
                                hint=f"one of {', '.join(KIND_SCHEMAS)}")
    with _materialised(path_or_bytes, max_expanded_bytes=max_expanded_bytes) as path:
        frame = _read_vector(path, kind)
    _check_geometries(frame, kind)
    _check_extent(frame, field, max_distance_m)
    return _coerce_attributes(frame, kind)


# --- DEM uploads -------------------------------------------------------------------------

def _open_error(err: Exception) -> InvalidLayerError:
    return InvalidLayerError("could not read the DEM: the file is not a GeoTIFF (or another "
                             "GDAL raster), or it is truncated or corrupt")


def validate_dem_upload(path: Path | str, field: Any) -> dict[str, Any]:
    """Check an uploaded DEM for ``field`` and describe it.

    Memory: the size caps (:data:`MAX_DEM_DECODED_BYTES`, :data:`MAX_DEM_BLOCK_BYTES`)
    are checked from the header before any pixel is read; the raster is then scanned
    once in windows of about 16 MB (float64) to find non-finite or implausible heights.
    Any CRS GDAL can transform to lon/lat is accepted: builds warp the DEM to the
    field's grid (a UTM DEM is reprojected, not refused later).

    Returns
    -------
    dict with ``crs``, ``width``, ``height``, ``dtype``, ``res`` (CRS units, x and y),
    ``bounds_4326`` (list), ``nodata``, ``valid_fraction``, ``min_m``, ``max_m`` and
    ``aoi_overlap_fraction`` (share of the field's AOI bounding box covered).

    Raises
    ------
    InvalidLayerError
        no CRS, not georeferenced, truncated, undeclared non-finite values, heights
        outside :data:`ELEVATION_RANGE_M`, no valid pixel, or no overlap with the field.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise InvalidLayerError("the uploaded DEM is empty or missing")
    try:
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(path) as src:
            return _describe_dem(src, field)
    except InvalidLayerError:
        raise
    except (RasterioError, OSError, ValueError) as err:
        raise _open_error(err) from err


def _check_dem_size(src) -> None:
    """Refuse from the header a DEM whose decoded size or block size is over the caps."""
    itemsize = np.dtype(src.dtypes[0]).itemsize if np.issubdtype(
        np.dtype(src.dtypes[0]), np.number) else 8
    decoded = src.width * src.height * itemsize
    if decoded > MAX_DEM_DECODED_BYTES:
        raise InvalidLayerError(
            f"the DEM decodes to {decoded / 2**20:,.0f} MiB ({src.width}x{src.height} "
            f"{src.dtypes[0]}); at most {MAX_DEM_DECODED_BYTES / 2**20:,.0f} MiB are accepted "
            "(tile it, or resample it to the build resolution, 90 m by default)")
    block_h, block_w = src.block_shapes[0]
    if block_h * block_w * itemsize > MAX_DEM_BLOCK_BYTES:
        raise InvalidLayerError(
            f"the DEM is stored in blocks of {block_w}x{block_h} pixels "
            f"({block_h * block_w * itemsize / 2**20:,.0f} MiB decoded each); at most "
            f"{MAX_DEM_BLOCK_BYTES / 2**20:,.0f} MiB: re-save it tiled "
            "(e.g. gdal_translate -co TILED=YES)")


def _describe_dem(src, field: Any) -> dict[str, Any]:  # noqa: C901
    if src.count < 1:
        raise InvalidLayerError("the DEM has no band")
    if src.width * src.height > MAX_DEM_PIXELS:
        raise InvalidLayerError(f"the DEM has {src.width}x{src.height} pixels; at most "
                                f"{MAX_DEM_PIXELS:,} are accepted (tile it)")
    _check_dem_size(src)
    if src.crs is None:
        raise InvalidLayerError("the DEM has no coordinate reference system")
    if src.transform.is_identity or src.transform.determinant == 0:
        hint = " (it has GCPs only: warp it first)" if src.gcps[0] else ""
        raise InvalidLayerError(f"the DEM is not georeferenced{hint}")
    if not np.issubdtype(np.dtype(src.dtypes[0]), np.number):
        raise InvalidLayerError(f"the DEM has a non-numeric data type {src.dtypes[0]}")
    nodata = src.nodata
    if nodata is not None and np.isinf(nodata):
        raise InvalidLayerError("the DEM declares an infinite nodata value")
    try:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    except Exception as err:
        raise InvalidLayerError("the DEM's CRS cannot be transformed to lon/lat") from err
    aoi = field.aoi_4326
    overlap = box(west, south, east, north).intersection(box(*aoi.bounds))
    if overlap.is_empty or overlap.area == 0:
        raise InvalidLayerError(f"the DEM (lon {west:.2f}..{east:.2f}, lat {south:.2f}.."
                                f"{north:.2f}) does not overlap the field {field.id}")
    low, high = ELEVATION_RANGE_M
    n_valid, minimum, maximum = 0, np.inf, -np.inf
    rows_per_read = max(1, _DEM_SCAN_BYTES // max(src.width * 8, 1))
    for row in range(0, src.height, rows_per_read):
        window = Window(0, row, src.width, min(rows_per_read, src.height - row))
        block = src.read(1, window=window, masked=False).astype(np.float64, copy=False)
        keep = np.ones(block.shape, dtype=bool)
        if nodata is not None:
            keep &= ~(np.isnan(block) if np.isnan(nodata) else block == nodata)
        values = block[keep]
        if not np.isfinite(values).all():
            raise InvalidLayerError("the DEM has NaN or infinite heights not declared as "
                                    "nodata")
        if values.size:
            minimum, maximum = min(minimum, values.min()), max(maximum, values.max())
            n_valid += values.size
    if n_valid == 0:
        raise InvalidLayerError("the DEM has no valid height (all nodata)")
    if minimum < low or maximum > high:
        raise InvalidLayerError(
            f"the DEM has heights from {minimum:g} to {maximum:g} m, outside the plausible "
            f"{low:g}..{high:g} m: declare the nodata value (e.g. -32768) or convert to metres")
    return {"crs": src.crs.to_string(), "width": src.width, "height": src.height,
            "dtype": src.dtypes[0], "res": [abs(src.res[0]), abs(src.res[1])],
            "bounds_4326": [west, south, east, north],
            "nodata": None if nodata is None else float(nodata),
            "valid_fraction": n_valid / (src.width * src.height),
            "min_m": float(minimum), "max_m": float(maximum),
            "aoi_overlap_fraction": overlap.area / box(*aoi.bounds).area}


def dem_to_cog(path: Path | str, out_path: Path | str) -> Path:
    """Rewrite a validated DEM as a Cloud-Optimized GeoTIFF (DEFLATE, 256 px blocks,
    internal overviews by averaging), validated and renamed into place atomically.

    Memory: GDAL streams the translation (not held in memory).
    """
    from rio_cogeo.cogeo import cog_translate, cog_validate
    from rio_cogeo.profiles import cog_profiles

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    profile = cog_profiles.get("deflate")
    profile.update(blockxsize=256, blockysize=256, predictor=2)
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".cog-") as tmp:
        staged = Path(tmp) / "cog.tif"
        try:
            with rasterio.open(path) as src:
                if np.issubdtype(np.dtype(src.dtypes[0]), np.floating):
                    profile.update(predictor=3)
                cog_translate(src, staged, profile, quiet=True, in_memory=False,
                              overview_resampling="average")
        except (RasterioError, OSError) as err:
            raise _open_error(err) from err
        valid, errors, _ = cog_validate(staged, quiet=True)
        if not valid:
            raise InvalidLayerError(f"could not write a valid Cloud-Optimized GeoTIFF: "
                                    f"{'; '.join(errors)[:200]}")
        os.replace(staged, out_path)
    return out_path


def dem_stac_item(cog_path: Path | str, item_id: str, *, href: str | None = None,
                  properties: dict[str, Any] | None = None) -> dict[str, Any]:
    """A STAC item (dict) describing a DEM COG, with the projection and raster extensions
    (rio-stac). ``href`` overrides the asset's location (e.g. a path relative to the state
    directory); ``properties`` are added to the item's properties."""
    from rio_stac import create_stac_item

    item = create_stac_item(
        str(cog_path), id=item_id, asset_name="data", asset_href=href,
        asset_media_type="image/tiff; application=geotiff; profile=cloud-optimized",
        asset_roles=["data"], properties=dict(properties or {}),
        with_proj=True, with_raster=True)
    return item.to_dict()
