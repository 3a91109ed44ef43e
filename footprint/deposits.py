"""Deposit polygons: where the diamond-bearing gravels are, as vectors with areas.

Pure functions on numpy arrays, shapely geometries and GeoDataFrames (no files). Every
output is a GeoDataFrame in the field's projected CRS (UTM, metres) with the columns of
:data:`DEPOSIT_COLUMNS`:

``deposit_class``
    ``active_channel``, ``floodplain``, ``low_terrace``, ``high_terrace`` (terrain mode);
    ``active_channel`` for river buffers; the polygon's own class or
    ``mapped_deposit`` for expert polygons.
``area_m2``
    Gross area of the polygon inside the area of interest (m², projected CRS).
``mined_area_m2``
    Part of ``area_m2`` covered by mined ground (pits, tailings) (m²); 0 without a
    mined layer.
``remaining_area_m2``
    ``area_m2 - mined_area_m2``: the ground that can still be worked. The resource model
    (DOMAIN.md 3.2, ``C = Σ (A_d − A_mined,d) T_d G_d r``) uses ``area_m2`` and
    ``mined_area_m2``; the geometry stays the gross polygon.
``mode``
    ``terrain``, ``rivers`` or ``polygons`` (DOMAIN.md 3.1).
``thickness_m``, ``grade_ct_m3``
    Gravel thickness (m) and grade (ct/m³) where a mapped polygon carries them, else NaN.

Three ways to get them (DOMAIN.md 3.1, best first): :func:`polygonize_classes` (terrain
mode, from :func:`footprint.terrain.classify_valley_bottoms`), :func:`buffer_rivers`
(river-buffer mode), :func:`deposits_from_polygons` (deposit-polygon mode); then
:func:`subtract_mined` and :func:`area_by_class`.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from pydantic import BaseModel, ConfigDict, Field, model_validator
from rasterio.features import shapes
from shapely.geometry.base import BaseGeometry

from footprint.errors import InvalidLayerError
from footprint.terrain import DEPOSIT_CLASS_NAMES

__all__ = [
    "DEPOSIT_COLUMNS",
    "RiverBufferParameters",
    "WidthRange",
    "area_by_class",
    "buffer_rivers",
    "channel_belts",
    "deposits_from_polygons",
    "empty_deposits",
    "polygonize_classes",
    "subtract_mined",
    "with_channel",
]

DEPOSIT_COLUMNS = ["deposit_class", "area_m2", "mined_area_m2", "remaining_area_m2", "mode",
                   "thickness_m", "grade_ct_m3", "geometry"]


def empty_deposits(crs) -> gpd.GeoDataFrame:
    """A deposit table with no rows (same columns and dtypes as a full one)."""
    frame = gpd.GeoDataFrame({
        "deposit_class": pd.Series(dtype=str), "area_m2": pd.Series(dtype=float),
        "mined_area_m2": pd.Series(dtype=float), "remaining_area_m2": pd.Series(dtype=float),
        "mode": pd.Series(dtype=str), "thickness_m": pd.Series(dtype=float),
        "grade_ct_m3": pd.Series(dtype=float)}, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    return frame[DEPOSIT_COLUMNS]


def _finish(frame: gpd.GeoDataFrame, mode: str) -> gpd.GeoDataFrame:
    frame = frame[~frame.geometry.isna() & ~frame.geometry.is_empty].copy()
    frame["area_m2"] = frame.geometry.area.astype(float)
    frame = frame[frame["area_m2"] > 0]
    frame["mined_area_m2"] = 0.0
    frame["remaining_area_m2"] = frame["area_m2"]
    frame["mode"] = mode
    for column in ("thickness_m", "grade_ct_m3"):
        if column not in frame:
            frame[column] = np.nan
    extra = [c for c in frame.columns if c not in DEPOSIT_COLUMNS]
    return frame[DEPOSIT_COLUMNS[:-1] + extra + ["geometry"]].reset_index(drop=True)


def _check_projected(crs) -> None:
    if crs is None or not gpd.GeoSeries([], crs=crs).crs.is_projected:
        raise InvalidLayerError(f"areas need a projected CRS (metres), got {crs}",
                                hint="use the field's UTM zone")


# --------------------------------------------------------------------------- terrain mode


def polygonize_classes(classes: np.ndarray, transform: Affine, crs,
                       aoi: BaseGeometry | None = None,
                       names: Mapping[int, str] = DEPOSIT_CLASS_NAMES,
                       mode: str = "terrain") -> gpd.GeoDataFrame:
    """Polygons of a classified raster, one row per 8-connected patch of one class.

    Parameters
    ----------
    classes : integer grid of class codes (0 = not a deposit), e.g. from
        :func:`footprint.terrain.classify_valley_bottoms`.
    transform, crs : the grid's affine transform and projected CRS (metres).
    aoi : optional polygon in ``crs``; patches are clipped to it.
    names : class code to ``deposit_class`` name.

    Returns
    -------
    GeoDataFrame with :data:`DEPOSIT_COLUMNS`, areas in m². Memory: one polygon per patch;
    at 90 m a field of 0.5 M cells gives a few thousand patches.
    """
    _check_projected(crs)
    codes = np.asarray(classes)
    if codes.dtype.kind not in "iu":
        raise InvalidLayerError("class grid must hold integer codes")
    codes = codes.astype(np.uint8 if codes.max(initial=0) < 256 else np.int32)
    features = [(geom["coordinates"], names[int(value)])
                for geom, value in shapes(codes, mask=codes > 0, transform=transform,
                                          connectivity=8) if int(value) in names]
    if not features:
        return empty_deposits(crs)
    geoms = _polygons_from_rings([rings for rings, _ in features])
    # Traced cells touch at corners (a ring self-intersection in OGC terms): repair here,
    # at the source, keeping the polygonal area ("structure" drops only collapsed slivers).
    invalid = ~shapely.is_valid(geoms)
    geoms[invalid] = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
    frame = gpd.GeoDataFrame({"deposit_class": [label for _, label in features]},
                             geometry=geoms, crs=crs)
    if aoi is not None:
        shapely.prepare(aoi)
        geoms = np.asarray(frame.geometry.values)
        crossing = ~shapely.contains_properly(aoi, geoms)
        geoms[crossing] = shapely.intersection(geoms[crossing], aoi)
        frame["geometry"] = geoms
    return _finish(frame, mode)


def channel_belts(x0_m: np.ndarray, y0_m: np.ndarray, x1_m: np.ndarray, y1_m: np.ndarray,
                  width_m: np.ndarray, crs, aoi: BaseGeometry | None = None,
                  mode: str = "terrain") -> gpd.GeoDataFrame:
    """Active-channel polygons: each D8 step of a stream buffered to its channel width.

    Parameters
    ----------
    x0_m, y0_m, x1_m, y1_m : stream cell centre and its downstream cell centre
        (projected CRS, metres); an outlet has ``(x1, y1) == (x0, y0)``.
    width_m : channel width (m) of each step, e.g.
        :meth:`footprint.terrain.PlacerParameters.channel_width_m`.
    crs : projected CRS.
    aoi : optional polygon in ``crs``; belts are clipped to it.

    Returns
    -------
    GeoDataFrame (:data:`DEPOSIT_COLUMNS`), class ``active_channel``, one row per
    connected belt; areas in m² (the belts' union, so confluences count once).
    """
    _check_projected(crs)
    if len(x0_m) == 0:
        return empty_deposits(crs)
    coords = np.stack([np.column_stack([x0_m, y0_m]), np.column_stack([x1_m, y1_m])], axis=1)
    lines = shapely.linestrings(coords)
    belts = shapely.buffer(lines, np.asarray(width_m, dtype=float) / 2.0, quad_segs=2)
    union = shapely.union_all(belts)
    if aoi is not None:
        union = shapely.intersection(union, aoi)
    parts = shapely.get_parts(union)
    parts = parts[shapely.get_type_id(parts) == 3]  # polygons only
    frame = gpd.GeoDataFrame({"deposit_class": ["active_channel"] * len(parts)},
                             geometry=parts, crs=crs)
    return _finish(frame, mode)


def with_channel(channel: gpd.GeoDataFrame, others: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Channel belts on top of the other classes: the belts are cut out of the
    floodplain and terrace polygons they overlap, so no ground counts twice."""
    if channel.empty:
        return others
    if others.empty:
        return channel
    geoms = np.asarray(others.geometry.values).copy()
    tree = shapely.STRtree(np.asarray(channel.geometry.values))
    hits_other, hits_channel = tree.query(geoms, predicate="intersects")
    if hits_other.size:
        order = np.argsort(hits_other, kind="stable")
        hits_other, hits_channel = hits_other[order], hits_channel[order]
        starts = np.flatnonzero(np.r_[True, np.diff(hits_other) > 0])
        ends = np.r_[starts[1:], hits_other.size]
        channel_geoms = np.asarray(channel.geometry.values)
        for start, end in zip(starts, ends, strict=True):
            i = hits_other[start]
            cutter = shapely.union_all(channel_geoms[hits_channel[start:end]])
            geoms[i] = _polygonal(shapely.difference(geoms[i], cutter))
    cut = others.copy()
    cut["geometry"] = geoms
    cut = cut[~shapely.is_empty(geoms)]
    mode = str(others["mode"].iloc[0])
    merged = pd.concat([channel, _finish(cut[["deposit_class", "geometry"]], mode)],
                       ignore_index=True)
    return gpd.GeoDataFrame(merged, geometry="geometry", crs=others.crs)[DEPOSIT_COLUMNS]


def _polygons_from_rings(polygons_rings: list[list]) -> np.ndarray:
    """Shapely polygons from GeoJSON ring lists, built in bulk (4x faster than shape())."""
    rings = [ring for rings in polygons_rings for ring in rings]
    ring_lengths = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    coords = np.array([xy for ring in rings for xy in ring], dtype=np.float64)
    ring_of_coord = np.repeat(np.arange(len(rings)), ring_lengths)
    linear_rings = shapely.linearrings(coords, indices=ring_of_coord)
    owner = np.repeat(np.arange(len(polygons_rings)), [len(r) for r in polygons_rings])
    return shapely.polygons(linear_rings, indices=owner)


# --------------------------------------------------------------------------- river mode


class WidthRange(BaseModel):
    """Width of the gravel belt along a river (m), as a low-high range."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    low_m: float = Field(gt=0, le=5000, description="Narrowest gravel belt (m).")
    high_m: float = Field(gt=0, le=5000, description="Widest gravel belt (m).")
    source: str = Field("assumption", description="Where the range comes from.")

    @model_validator(mode="after")
    def _ordered(self) -> WidthRange:
        if self.low_m > self.high_m:
            raise ValueError("low_m must not exceed high_m")
        return self

    def at(self, quantile: float) -> float:
        """Width (m) at ``quantile`` of a uniform distribution on [low_m, high_m]."""
        return self.low_m + quantile * (self.high_m - self.low_m)


_BIRIM = "Birim placers 10-120 m wide (mining encyclopaedia entry on the Birim field; DOMAIN.md 5)"
_ASSUMED = "assumption scaled from the Birim range by river rank; no published width"


def _default_gmt_widths() -> dict[int, WidthRange]:
    # WDBII gmt_level: 0 double-lined, 1 permanent major, 2 additional major, 3 additional,
    # 4 minor, 5-7 intermittent; 8-10 canals carry no gravel and are left out.
    # The Birim itself is a level-4 line in WDBII (SOURCES.md), hence the published range there.
    return {
        0: WidthRange(low_m=100, high_m=500, source=_ASSUMED),
        1: WidthRange(low_m=50, high_m=300, source=_ASSUMED),
        2: WidthRange(low_m=30, high_m=200, source=_ASSUMED),
        3: WidthRange(low_m=20, high_m=150, source=_ASSUMED),
        4: WidthRange(low_m=10, high_m=120, source=_BIRIM),
        5: WidthRange(low_m=10, high_m=80, source=_ASSUMED),
        6: WidthRange(low_m=5, high_m=60, source=_ASSUMED),
        7: WidthRange(low_m=5, high_m=40, source=_ASSUMED),
    }


def _default_scalerank_widths() -> dict[int, WidthRange]:
    # Natural Earth scalerank: smaller is a bigger river (0-12).
    widths = {}
    for rank in range(0, 13):
        if rank <= 6:
            widths[rank] = WidthRange(low_m=100, high_m=500, source=_ASSUMED)
        elif rank <= 9:
            widths[rank] = WidthRange(low_m=50, high_m=300, source=_ASSUMED)
        else:
            widths[rank] = WidthRange(low_m=10, high_m=120, source=_ASSUMED)
    return widths


class RiverBufferParameters(BaseModel):
    """River-buffer mode: gravel-belt width per river rank and the quantile to draw.

    Each mapped river line is buffered by half its belt width on either side (round
    ends, so pieces of one river join without gaps). Width ranges per WDBII
    ``gmt_level`` (or Natural Earth ``scalerank``) are
    documented with their source; the only published one is the Birim's 10-120 m
    (WDBII level 4). ``width_quantile`` picks a width within each range (0 = low,
    1 = high) so the resource model can draw areas as a distribution.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    gmt_level_widths_m: dict[int, WidthRange] = Field(default_factory=_default_gmt_widths)
    scalerank_widths_m: dict[int, WidthRange] = Field(default_factory=_default_scalerank_widths)
    width_quantile: float = Field(0.5, ge=0, le=1, description="Quantile of each width range used.")
    deposit_class: str = Field("active_channel", min_length=1)


def buffer_rivers(rivers: gpd.GeoDataFrame, aoi: BaseGeometry, crs,
                  params: RiverBufferParameters | None = None) -> gpd.GeoDataFrame:
    """Gravel belts along mapped rivers, clipped to the area of interest.

    Parameters
    ----------
    rivers : line features in any CRS, with ``gmt_level`` (WDBII) or ``scalerank``
        (Natural Earth). Levels without a width (canals) are left out.
    aoi : area of interest in ``crs``.
    crs : projected CRS (metres) of the output.
    params : RiverBufferParameters.

    Returns
    -------
    GeoDataFrame with :data:`DEPOSIT_COLUMNS` plus ``river_level`` (the rank), ``width_m``
    and ``river_length_m`` (length of the line inside the AOI). Belts of different
    levels do not overlap: where they meet, the wider level keeps the ground, so areas
    add up.
    """
    p = params or RiverBufferParameters()
    _check_projected(crs)
    if rivers.crs is None:
        raise InvalidLayerError("river layer has no CRS")
    ranked = [(column, widths) for column, widths in (("gmt_level", p.gmt_level_widths_m),
                                                      ("scalerank", p.scalerank_widths_m))
              if column in rivers and rivers[column].notna().any()]
    if not ranked and not rivers.empty:
        raise InvalidLayerError("river layer needs a 'gmt_level' or 'scalerank' attribute")
    if rivers.empty:
        return empty_deposits(crs)
    rank_column, widths = ranked[0]
    lines = rivers[rivers[rank_column].notna()].to_crs(crs)
    lines = lines[~lines.geometry.isna() & ~lines.geometry.is_empty]
    lines = lines[lines.geometry.intersects(aoi)]
    rows = []
    for rank, group in lines.groupby(lines[rank_column].astype(int)):
        if rank not in widths:
            continue
        width_m = widths[rank].at(p.width_quantile)
        clipped = shapely.intersection(shapely.union_all(group.geometry.values), aoi)
        belt = shapely.buffer(clipped, width_m / 2.0)
        rows.append({"river_level": rank, "width_m": width_m,
                     "river_length_m": float(shapely.length(clipped)), "geometry": belt})
    if not rows:
        return empty_deposits(crs)
    rows.sort(key=lambda r: -r["width_m"])
    taken = None
    for row in rows:  # wider belts keep the ground where belts meet
        belt = shapely.intersection(row["geometry"], aoi)
        if taken is not None:
            belt = shapely.difference(belt, taken)
        taken = belt if taken is None else shapely.union(taken, belt)
        row["geometry"] = belt
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    frame["deposit_class"] = p.deposit_class
    return _finish(frame, "rivers")


# --------------------------------------------------------------------------- polygon mode


def deposits_from_polygons(polygons: gpd.GeoDataFrame, aoi: BaseGeometry, crs, *,
                           default_class: str = "mapped_deposit") -> gpd.GeoDataFrame:
    """Expert-mapped deposit polygons, validated, reprojected and clipped to the AOI.

    Parameters
    ----------
    polygons : (Multi)Polygon features in any CRS, optionally with ``deposit_class``,
        ``thickness_m`` (m, > 0) and ``grade_ct_m3`` (ct/m³, >= 0) attributes.
    aoi : area of interest in ``crs``.
    crs : projected output CRS (metres).
    default_class : ``deposit_class`` of polygons that carry none.

    Raises
    ------
    InvalidLayerError : no CRS, non-polygon geometries, or out-of-range attributes.
    """
    _check_projected(crs)
    if polygons.crs is None:
        raise InvalidLayerError("deposit polygons have no CRS")
    kinds = set(polygons.geom_type.dropna())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise InvalidLayerError(f"deposit layer must hold polygons, found {sorted(kinds)}")
    frame = polygons.to_crs(crs).copy()
    frame["geometry"] = shapely.make_valid(frame.geometry.values)
    for column, lower, inclusive in (("thickness_m", 0.0, False), ("grade_ct_m3", 0.0, True)):
        if column in frame:
            values = pd.to_numeric(frame[column], errors="coerce")
            bad = values < lower if inclusive else values <= lower
            if bad.any():
                raise InvalidLayerError(f"{column} must be {'>=' if inclusive else '>'} {lower:g}")
            frame[column] = values.astype(float)
    if "deposit_class" not in frame:
        frame["deposit_class"] = default_class
    frame["deposit_class"] = frame["deposit_class"].fillna(default_class).astype(str)
    frame["geometry"] = [_polygonal(g) for g in frame.geometry.intersection(aoi)]
    keep = ["deposit_class", "thickness_m", "grade_ct_m3", "geometry"]
    return _finish(frame[[c for c in keep if c in frame]], "polygons")


def _polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """The polygon parts of a geometry (a clip can leave stray lines and points)."""
    parts = shapely.get_parts(geometry)
    polygons = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
    return shapely.union_all(polygons) if polygons.size else shapely.Polygon()


# --------------------------------------------------------------------------- mined ground


def subtract_mined(deposits: gpd.GeoDataFrame, mined: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """Fill ``mined_area_m2`` and ``remaining_area_m2`` from mined pits/tailings polygons.

    The mined polygons are dissolved first, so overlapping pits are not counted twice.
    Geometry stays the gross deposit polygon.
    """
    result = deposits.copy()
    if mined is None or mined.empty or result.empty:
        result["mined_area_m2"] = 0.0
        result["remaining_area_m2"] = result["area_m2"]
        return result
    if mined.crs is None:
        raise InvalidLayerError("mined-ground layer has no CRS")
    kinds = set(mined.geom_type.dropna())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise InvalidLayerError(f"mined-ground layer must hold polygons, found {sorted(kinds)}")
    mined_union = shapely.union_all(shapely.make_valid(mined.to_crs(result.crs).geometry.values))
    shapely.prepare(mined_union)
    overlap = shapely.intersection(result.geometry.values, mined_union)
    mined_m2 = np.minimum(shapely.area(overlap), result["area_m2"].to_numpy())
    result["mined_area_m2"] = mined_m2
    result["remaining_area_m2"] = result["area_m2"] - mined_m2
    return result


def area_by_class(deposits: gpd.GeoDataFrame) -> pd.DataFrame:
    """Gross, mined and remaining area (m²) and polygon count per ``deposit_class``."""
    columns = ["area_m2", "mined_area_m2", "remaining_area_m2"]
    if deposits.empty:
        return pd.DataFrame(columns=columns + ["n_polygons"]).rename_axis("deposit_class")
    table = deposits.groupby("deposit_class")[columns].sum()
    table["n_polygons"] = deposits.groupby("deposit_class").size()
    return table
