"""Vector layers of the data directory: rivers, lakes, boundaries, USGS mine points, places.

Every loader reads GeoJSON with pyogrio, optionally limited to a lon/lat box
(``bbox_4326 = (west, south, east, north)``, degrees): pyogrio's ``bbox=`` read lets GDAL
skip the features outside the box, so only matching features become Python objects; an
exact ``intersects`` test then guarantees that no feature whose envelope touches the box
but whose geometry does not is returned (GDAL drivers differ on that). Features are
returned whole, not clipped. The output CRS is always EPSG:4326 and the column names are
the same for every source of one kind (``name``, ``source``, ``gmt_level`` ...). Files
and their provenance are described in ``SOURCES.md`` of the data directory.

A missing file raises :class:`footprint.errors.DataMissingError` with a one-line hint
saying which file and where to get it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from shapely.geometry import box

from footprint.errors import DataMissingError, InvalidParameterError
from footprint.io import require_dir

BBox = tuple[float, float, float, float]

#: Extent (west, south, east, north; degrees) of each regional river/lake extract.
REGION_BOUNDS_4326: dict[str, BBox] = {
    "west_africa": (-9.0, 4.35, 2.0, 12.0),
    "zimbabwe": (25.0, -23.0, 34.0, -15.0),
}

#: File of each layer inside the data directory (``{region}`` for regional extracts).
VECTOR_FILES: dict[str, str] = {
    "rivers_wdbii": "rivers/gshhg_wdbii_rivers_{region}.geojson",
    "rivers_naturalearth": "rivers/ne_10m_rivers_lake_centerlines_scale_rank_{region}.geojson",
    "lakes": "rivers/ne_10m_lakes_{region}.geojson",
    "boundaries_dcw": "boundaries/dcw_admin0_GHA_CIV_TGO_ZWE.geojson",
    "boundaries_naturalearth": "boundaries/ne_50m_admin_0_countries_africa.geojson",
    "usgs_facilities": "mining/usgs_afr_mineral_facilities_GHA_CIV_TGO_ZWE.geojson",
    "usgs_deposits": "mining/usgs_afr_mineral_deposits_GHA_CIV_TGO_ZWE.geojson",
    "usgs_exploration": "mining/usgs_afr_mineral_exploration_GHA_CIV_TGO_ZWE.geojson",
    "places": "places/ne_10m_populated_places_GHA_CIV_TGO_ZWE.geojson",
}

#: Where each layer comes from (used in the one-line hint of a missing file).
VECTOR_ORIGINS: dict[str, str] = {
    "rivers_wdbii": "GSHHG 2.3.7 WDBII rivers (Debian gmt-gshhg-full, extracted with "
                    "`gmt coast -I<level> -M`)",
    "rivers_naturalearth": "Natural Earth 10m rivers_lake_centerlines_scale_rank "
                           "(naturalearthdata.com)",
    "lakes": "Natural Earth 10m lakes (naturalearthdata.com)",
    "boundaries_dcw": "DCW-GMT admin-0 (Debian gmt-dcw, `gmt coast -E<ISO2> -M`)",
    "boundaries_naturalearth": "Natural Earth 50m admin_0_countries (naturalearthdata.com)",
    "usgs_facilities": "USGS Africa GIS supporting data AFR_Mineral_Facilities "
                       "(doi:10.5066/P97EQWXP)",
    "usgs_deposits": "USGS Africa GIS supporting data AFR_Mineral_Deposits "
                     "(doi:10.5066/P97EQWXP)",
    "usgs_exploration": "USGS Africa GIS supporting data AFR_Mineral_Exploration "
                        "(doi:10.5066/P97EQWXP)",
    "places": "Natural Earth 10m populated_places (naturalearthdata.com)",
}

USGS_LAYERS = ("facilities", "deposits", "exploration")
_NULL_STRINGS = {"<null>", "NA", "", "None", "nan"}
_CAPACITY_MISSING = -999.0


# --- files and regions -------------------------------------------------------------------

def _default_data_dir(data_dir: Path | None) -> Path:
    return require_dir(data_dir, "data_dir")


def _check_bbox(bbox_4326: Sequence[float] | None) -> BBox | None:
    if bbox_4326 is None:
        return None
    if len(bbox_4326) != 4:
        raise InvalidParameterError("bbox_4326 must be (west, south, east, north) in degrees")
    west, south, east, north = (float(v) for v in bbox_4326)
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidParameterError(
            f"bbox_4326 {tuple(bbox_4326)} is not (west, south, east, north) in degrees "
            "with west <= east and south <= north")
    return west, south, east, north


def _intersects(a: BBox, b: BBox) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def regions_for_bbox(bbox_4326: Sequence[float] | None) -> list[str]:
    """Regional extracts whose extent intersects ``bbox_4326`` (all of them for ``None``)."""
    bbox = _check_bbox(bbox_4326)
    if bbox is None:
        return list(REGION_BOUNDS_4326)
    return [name for name, bounds in REGION_BOUNDS_4326.items() if _intersects(bounds, bbox)]


def region_for_bbox(bbox_4326: Sequence[float]) -> str:
    """The regional extract (``"west_africa"`` or ``"zimbabwe"``) that best covers a box.

    The region sharing the largest area with the box wins.

    Raises
    ------
    DataMissingError
        no regional extract reaches the box.
    """
    bbox = _check_bbox(bbox_4326)
    if bbox is None:
        raise InvalidParameterError("region_for_bbox needs a bbox_4326")
    area = box(*bbox)
    best, best_share = None, -1.0
    for name in regions_for_bbox(bbox):
        share = box(*REGION_BOUNDS_4326[name]).intersection(area).area
        if share > best_share or (share == best_share and area.area == 0):
            best, best_share = name, share
    if best is None:
        raise DataMissingError(
            f"no regional river extract covers bbox {bbox}",
            hint="regional extracts exist for " + ", ".join(
                f"{k} {v}" for k, v in REGION_BOUNDS_4326.items()))
    return best


def vector_path(layer: str, data_dir: Path | None = None, region: str | None = None) -> Path:
    """Path of ``layer`` (a key of :data:`VECTOR_FILES`) in the data directory.

    Raises
    ------
    DataMissingError
        the file is absent (the hint names the file and its origin).
    """
    if layer not in VECTOR_FILES:
        raise InvalidParameterError(f"unknown vector layer {layer!r}",
                                    hint=f"one of {sorted(VECTOR_FILES)}")
    relpath = VECTOR_FILES[layer]
    if "{region}" in relpath:
        if region not in REGION_BOUNDS_4326:
            raise InvalidParameterError(f"layer {layer!r} needs a region",
                                        hint=f"one of {sorted(REGION_BOUNDS_4326)}")
        relpath = relpath.format(region=region)
    path = _default_data_dir(data_dir) / relpath
    if not path.is_file():
        raise DataMissingError(f"vector layer {layer} not found: {path}",
                               hint=f"get {VECTOR_ORIGINS[layer]} into <data_dir>/{relpath} "
                                    "(see SOURCES.md)")
    return path


def read_vector(path: str | Path, bbox_4326: Sequence[float] | None = None,
                columns: Iterable[str] | None = None) -> gpd.GeoDataFrame:
    """Read a vector file in EPSG:4326, keeping only features intersecting ``bbox_4326``.

    Memory: only features whose envelope meets the box are materialised (pyogrio
    ``bbox=``); ``columns`` limits the attributes read.
    """
    bbox = _check_bbox(bbox_4326)
    path = Path(path)
    if not path.is_file():
        raise DataMissingError(f"vector file not found: {path}")
    frame = pyogrio.read_dataframe(path, bbox=bbox,
                                   columns=None if columns is None else list(columns))
    if frame.crs is None:
        frame = frame.set_crs(4326)  # GeoJSON (RFC 7946) is lon/lat WGS84 by definition
    elif frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    if bbox is not None and len(frame):
        frame = frame[frame.intersects(box(*bbox))]
    return frame.reset_index(drop=True)


def _read_regional(layer: str, data_dir: Path | None, bbox_4326, region: str | None,
                   columns: list[str] | None) -> gpd.GeoDataFrame:
    regions = [region] if region is not None else regions_for_bbox(bbox_4326)
    frames = [read_vector(vector_path(layer, data_dir, name), bbox_4326, columns).assign(
        region=name) for name in regions]
    if not frames:
        return gpd.GeoDataFrame({"region": []}, geometry=gpd.GeoSeries([], crs=4326))
    if len(frames) == 1:
        return frames[0]
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)


def _clean_strings(series: pd.Series) -> pd.Series:
    """Source strings as ``string`` dtype with the USGS ``<null>``/``NA`` markers as NA."""
    text = series.astype("string").str.strip()
    return text.mask(text.isin(_NULL_STRINGS))


def _frame(data: dict, geometry) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs=4326).values, crs=4326)


# --- rivers, lakes -----------------------------------------------------------------------

def load_rivers(data_dir: Path | None = None, bbox_4326: Sequence[float] | None = None, *,
                source: Literal["wdbii", "naturalearth"] = "wdbii",
                region: str | None = None, max_gmt_level: int | None = None
                ) -> gpd.GeoDataFrame:
    """Mapped river lines (EPSG:4326).

    Parameters
    ----------
    source
        ``"wdbii"``: GSHHG WDBII rivers (~1:1-3M, unnamed, with ``gmt_level``: 0
        double-lined, 1-4 permanent major..minor, 5-7 intermittent, 8-10 canals);
        ``"naturalearth"``: Natural Earth 1:10M centerlines (named, with ``scalerank``).
    region
        ``"west_africa"`` or ``"zimbabwe"``; default: every extract meeting the box
        (see :func:`region_for_bbox`).
    max_gmt_level
        keep WDBII lines with ``gmt_level <= max_gmt_level`` (e.g. 4 drops intermittent
        streams and canals).

    Returns
    -------
    GeoDataFrame with ``name`` (NA for WDBII), ``gmt_level`` (Int64, NA for Natural
    Earth), ``scalerank`` (Int64, NA for WDBII), ``feature_class``, ``source``, ``region``
    and LineString geometry.
    """
    if source == "wdbii":
        raw = _read_regional("rivers_wdbii", data_dir, bbox_4326, region, None)
        out = _frame({
            "name": pd.Series(pd.NA, index=raw.index, dtype="string"),
            "gmt_level": pd.to_numeric(raw.get("gmt_level"), errors="coerce").astype("Int64"),
            "scalerank": pd.Series(pd.NA, index=raw.index, dtype="Int64"),
            "feature_class": _clean_strings(raw.get("class", pd.Series(index=raw.index))),
            "source": pd.Series("GSHHG WDBII", index=raw.index, dtype="string"),
            "region": raw["region"].astype("string")}, raw.geometry)
        if max_gmt_level is not None:
            out = out[out["gmt_level"] <= max_gmt_level].reset_index(drop=True)
        return out
    if source == "naturalearth":
        raw = _read_regional("rivers_naturalearth", data_dir, bbox_4326, region, None)
        names = _clean_strings(raw["name_en"]).fillna(_clean_strings(raw["name"])) \
            if len(raw) else pd.Series(dtype="string")
        return _frame({
            "name": names,
            "gmt_level": pd.Series(pd.NA, index=raw.index, dtype="Int64"),
            "scalerank": pd.to_numeric(raw.get("scalerank"), errors="coerce").astype("Int64"),
            "feature_class": _clean_strings(raw.get("featurecla", pd.Series(index=raw.index))),
            "source": pd.Series("Natural Earth 10m", index=raw.index, dtype="string"),
            "region": raw["region"].astype("string")}, raw.geometry)
    raise InvalidParameterError(f"unknown river source {source!r}",
                                hint="use 'wdbii' or 'naturalearth'")


def load_lakes(data_dir: Path | None = None, bbox_4326: Sequence[float] | None = None, *,
               region: str | None = None) -> gpd.GeoDataFrame:
    """Natural Earth 1:10M lakes and reservoirs (EPSG:4326): ``name``, ``feature_class``,
    ``scalerank``, ``source``, ``region``, Polygon geometry."""
    raw = _read_regional("lakes", data_dir, bbox_4326, region, None)
    return _frame({
        "name": _clean_strings(raw.get("name", pd.Series(index=raw.index))),
        "feature_class": _clean_strings(raw.get("featurecla", pd.Series(index=raw.index))),
        "scalerank": pd.to_numeric(raw.get("scalerank"), errors="coerce").astype("Int64"),
        "source": pd.Series("Natural Earth 10m", index=raw.index, dtype="string"),
        "region": raw["region"].astype("string")}, raw.geometry)


# --- boundaries, places ------------------------------------------------------------------

def load_boundaries(data_dir: Path | None = None, bbox_4326: Sequence[float] | None = None,
                    *, source: Literal["dcw", "naturalearth"] = "dcw",
                    iso3: str | Iterable[str] | None = None) -> gpd.GeoDataFrame:
    """National boundaries (EPSG:4326): ``iso3``, ``name``, ``source`` and (Multi)Polygon.

    ``"dcw"`` is DCW-GMT for GHA, CIV, TGO, ZWE (the more detailed outline);
    ``"naturalearth"`` is Natural Earth 1:50M for all of Africa. ``iso3`` selects
    countries.
    """
    if source == "dcw":
        raw = read_vector(vector_path("boundaries_dcw", data_dir), bbox_4326)
        codes, names, label = raw.get("iso_a3"), raw.get("name"), "DCW-GMT"
    elif source == "naturalearth":
        raw = read_vector(vector_path("boundaries_naturalearth", data_dir), bbox_4326)
        iso = _clean_strings(raw["ISO_A3"]) if len(raw) else pd.Series(dtype="string")
        codes = iso.mask(iso == "-99").fillna(_clean_strings(raw.get("ADM0_A3",
                                                                     pd.Series(index=raw.index))))
        names, label = raw.get("NAME"), "Natural Earth 50m"
    else:
        raise InvalidParameterError(f"unknown boundary source {source!r}",
                                    hint="use 'dcw' or 'naturalearth'")
    out = _frame({"iso3": _clean_strings(pd.Series(codes, index=raw.index)),
                  "name": _clean_strings(pd.Series(names, index=raw.index)),
                  "source": pd.Series(label, index=raw.index, dtype="string")}, raw.geometry)
    if iso3 is not None:
        wanted = {iso3} if isinstance(iso3, str) else set(iso3)
        out = out[out["iso3"].isin(wanted)].reset_index(drop=True)
    return out


def load_places(data_dir: Path | None = None, bbox_4326: Sequence[float] | None = None
                ) -> gpd.GeoDataFrame:
    """Natural Earth 1:10M populated places in GHA, CIV, TGO, ZWE (EPSG:4326): ``name``,
    ``iso3``, ``admin1``, ``feature_class``, ``pop_max``, Point geometry."""
    raw = read_vector(vector_path("places", data_dir), bbox_4326)
    return _frame({
        "name": _clean_strings(raw.get("NAME", pd.Series(index=raw.index))),
        "iso3": _clean_strings(raw.get("ADM0_A3", pd.Series(index=raw.index))),
        "admin1": _clean_strings(raw.get("ADM1NAME", pd.Series(index=raw.index))),
        "feature_class": _clean_strings(raw.get("FEATURECLA", pd.Series(index=raw.index))),
        "pop_max": pd.to_numeric(raw.get("POP_MAX"), errors="coerce").astype("Int64"),
    }, raw.geometry)


# --- USGS mineral points -----------------------------------------------------------------

def _usgs_columns(raw: gpd.GeoDataFrame, layer: str) -> dict:
    def col(name: str) -> pd.Series:
        if name in raw.columns:
            return _clean_strings(raw[name])
        return pd.Series(pd.NA, index=raw.index, dtype="string")

    attrs = sorted(c for c in raw.columns if c.startswith("DsgAttr"))
    if layer == "facilities":
        capacity = pd.to_numeric(raw.get("DsgAttr07"), errors="coerce") \
            if "DsgAttr07" in raw.columns else pd.Series(np.nan, index=raw.index)
        capacity = capacity.mask(capacity == _CAPACITY_MISSING)
        unit = col("DsgAttr08")
        commodity_cols = ["DsgAttr02", "DsgAttr03"]
        operator, status, year = col("OperateNam"), col("LocOpStat"), col("DsgAttr06")
    else:
        capacity = pd.Series(np.nan, index=raw.index)
        unit = pd.Series(pd.NA, index=raw.index, dtype="string")
        commodity_cols = [f"DsgAttr0{i}" for i in range(1, 8)]
        if layer == "exploration":
            operator, status, year = col("OwnerName"), col("LocOpStat"), col("DsgAttr11")
        else:
            operator = pd.Series(pd.NA, index=raw.index, dtype="string")
            status = pd.Series("deposit", index=raw.index, dtype="string")
            year = pd.Series(pd.NA, index=raw.index, dtype="string")
    commodity_cols = [c for c in commodity_cols if c in attrs]
    return {"name": col("FeatureNam"), "layer": pd.Series(layer, index=raw.index,
                                                          dtype="string"),
            "feature_uid": col("FeatureUID"), "country": col("Country"),
            "commodities": _joined([col(c) for c in commodity_cols], raw.index),
            "is_diamond": _is_diamond(raw, attrs),
            "capacity": capacity.astype(float), "capacity_unit": unit,
            "capacity_year": pd.to_numeric(year, errors="coerce").astype("Int64"),
            "operator": operator, "status": status, "location": col("MemoLoc"),
            "reference": col("InfSource1")}


def _joined(parts: list[pd.Series], index: pd.Index) -> pd.Series:
    """Distinct non-empty values of several columns, "; "-joined per row."""
    rows = zip(*parts, strict=True) if parts else ([] for _ in index)
    joined = ["; ".join(dict.fromkeys(v for v in row if not pd.isna(v))) for row in rows]
    return pd.Series(joined, index=index, dtype="string").mask(lambda s: s == "")


def _is_diamond(raw: pd.DataFrame, attrs: list[str]) -> np.ndarray:
    """The source's ``is_diamond`` flag, else any ``DsgAttr*`` equal to "Diamond"."""
    if "is_diamond" in raw.columns:
        return raw["is_diamond"].fillna(False).to_numpy(dtype=bool)
    hits = np.zeros(len(raw), dtype=bool)
    for name in attrs:
        hits |= _clean_strings(raw[name]).eq("Diamond").fillna(False).to_numpy(dtype=bool)
    return hits


def load_usgs_points(data_dir: Path | None = None, bbox_4326: Sequence[float] | None = None,
                     *, layers: Iterable[str] = USGS_LAYERS, diamond_only: bool = False
                     ) -> gpd.GeoDataFrame:
    """USGS Africa mineral facilities, deposits and exploration sites (EPSG:4326 points).

    Columns: ``name``, ``layer`` (facilities/deposits/exploration), ``feature_uid``,
    ``country``, ``commodities`` ("; "-joined), ``is_diamond``, ``capacity`` and
    ``capacity_unit`` (as published, facilities only; -999 read as NaN),
    ``capacity_year``, ``operator`` (facility operator or exploration owner),
    ``status`` (``"Assumed Active"``, ``"C&M"``, ``"Exploration"``, ``"deposit"``...),
    ``location``, ``reference``, geometry. Source: USGS Africa GIS supporting data,
    doi:10.5066/P97EQWXP.
    """
    frames = []
    for layer in layers:
        if layer not in USGS_LAYERS:
            raise InvalidParameterError(f"unknown USGS layer {layer!r}",
                                        hint=f"one of {list(USGS_LAYERS)}")
        raw = read_vector(vector_path(f"usgs_{layer}", data_dir), bbox_4326)
        frames.append(_frame(_usgs_columns(raw, layer), raw.geometry))
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326) if frames else \
        _frame({"name": pd.Series(dtype="string")}, [])
    if diamond_only and len(out):
        out = out[out["is_diamond"]].reset_index(drop=True)
    return out


def load_usgs_diamond_points(data_dir: Path | None = None,
                             bbox_4326: Sequence[float] | None = None) -> gpd.GeoDataFrame:
    """USGS points that name diamond (facilities, deposits, exploration; EPSG:4326).

    Columns: ``name``, ``layer``, ``capacity_kct`` (thousand carats a year, NaN where USGS
    gives none; Birim Valley ASM 900, Akwatia placer 360 in 2018), ``operator``,
    ``status``, ``country``, ``feature_uid``, geometry.
    """
    points = load_usgs_points(data_dir, bbox_4326, diamond_only=True)
    in_kct = points["capacity_unit"].fillna("").str.casefold().eq("thousand carats")
    points["capacity_kct"] = points["capacity"].where(in_kct.to_numpy(), np.nan)
    return points[["name", "layer", "capacity_kct", "operator", "status", "country",
                   "feature_uid", "geometry"]].reset_index(drop=True)
