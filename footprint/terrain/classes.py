"""Deposit classes of valley-bottom cells: codes, names, HAND thresholds (issue 12)."""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from rasterio.features import sieve


class DepositClass(IntEnum):
    """Raster codes of the valley-bottom classes (0 = not a deposit)."""

    NONE = 0
    ACTIVE_CHANNEL = 1
    FLOODPLAIN = 2
    LOW_TERRACE = 3
    HIGH_TERRACE = 4


#: Names used in vector outputs (``deposit_class`` column), by raster code.
DEPOSIT_CLASS_NAMES: dict[int, str] = {
    DepositClass.ACTIVE_CHANNEL: "active_channel",
    DepositClass.FLOODPLAIN: "floodplain",
    DepositClass.LOW_TERRACE: "low_terrace",
    DepositClass.HIGH_TERRACE: "high_terrace",
}


class ValleyClassParameters(BaseModel):
    """How valley-bottom cells are split by height above the channel (HAND, metres).

    A cell is *valley bottom* when ``MRVBF >= min_mrvbf`` (Gallant and Dowling 2003:
    values < 0.5 are not valley bottom). Stream cells are always ``active_channel`` (at
    90 m one cell stands for the channel belt; the Birim's placers are 10-120 m wide).
    Other valley-bottom cells are classed by HAND: ``< active_channel_max_m`` active
    channel (default 0 m: none, because depression filling leaves flats at exactly the
    stream's level that are not channel), ``<= floodplain_max_m`` floodplain,
    ``<= low_terrace_max_m`` low terrace, ``<= high_terrace_max_m`` high terrace; higher
    cells are not deposits (the high terrace only with ``include_high_terrace``, on
    evidence). Patches of fewer than ``min_patch_cells`` cells (at 90 m,
    3 cells = 2.4 ha) are merged into the largest neighbouring class, 0 included
    (``rasterio.features.sieve``): isolated cells are SRTM noise, not mappable ground.

    Defaults suit SRTM3 (vertical noise of a few metres): the Birim gravels lie in the
    present channel and flats and in terraces a few to some tens of metres above it
    (DOMAIN.md section 5; Birim placers 10-120 m wide, gravel 0.2-1.0 m thick).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_mrvbf: float = Field(0.5, ge=0, le=10,
                             description="Smallest MRVBF of a valley-bottom cell.")
    active_channel_max_m: float = Field(0.0, ge=0, le=20,
                                        description="Channel: HAND below this (m).")
    floodplain_max_m: float = Field(5.0, gt=0, le=50, description="Top of the floodplain (m).")
    low_terrace_max_m: float = Field(12.0, gt=0, le=100, description="Top of the low terrace (m).")
    high_terrace_max_m: float = Field(30.0, gt=0, le=200,
                                      description="Top of the high terrace (m).")
    min_patch_cells: int = Field(3, ge=1, le=1000,
                                 description="Smaller patches (cells) are sieved.")
    include_high_terrace: bool = Field(
        False, description="Class high_terrace painted only on evidence (mapped terrace "
        "gravels or samples in it): off by default, the 12-30 m band alone was 546 km2 "
        "of the Birim AOI without any evidence of gravel (issue 12).")

    @model_validator(mode="after")
    def _increasing(self) -> ValleyClassParameters:
        bounds = [self.active_channel_max_m, self.floodplain_max_m,
                  self.low_terrace_max_m, self.high_terrace_max_m]
        if any(lo >= hi for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)):
            raise ValueError("class heights must increase: active_channel_max_m < floodplain_max_m "
                             "< low_terrace_max_m < high_terrace_max_m")
        return self


def classify_valley_bottoms(mrvbf_index: np.ndarray, hand_m: np.ndarray, streams: np.ndarray,
                            params: ValleyClassParameters | None = None,
                            mask: np.ndarray | None = None) -> np.ndarray:
    """Class of each cell (:class:`DepositClass` codes, uint8; 0 = not a deposit).

    Parameters
    ----------
    mrvbf_index : MRVBF grid (NaN = nodata).
    hand_m : height above nearest drainage (m, NaN = unknown).
    streams : bool stream grid; stream cells are active channel.
    params : ValleyClassParameters.
    mask : optional bool grid (e.g. the area of interest); cells outside get 0.
    """
    p = params or ValleyClassParameters()
    return finish_classes(paint_valley_classes(mrvbf_index, hand_m, p), streams, p, mask)


def paint_valley_classes(mrvbf_index: np.ndarray, hand_m: np.ndarray,
                         params: ValleyClassParameters | None = None) -> np.ndarray:
    """Classes cell by cell from MRVBF and HAND alone (no sieve, streams or mask): the
    local part of :func:`classify_valley_bottoms`, which windows compute."""
    p = params or ValleyClassParameters()
    with np.errstate(invalid="ignore"):
        valley = np.nan_to_num(mrvbf_index, nan=-1.0) >= p.min_mrvbf
        hand = np.nan_to_num(hand_m, nan=np.inf)
    classes = np.zeros(hand.shape, dtype=np.uint8)
    upper_bounds = [(DepositClass.HIGH_TERRACE, p.high_terrace_max_m),
                    (DepositClass.LOW_TERRACE, p.low_terrace_max_m),
                    (DepositClass.FLOODPLAIN, p.floodplain_max_m),
                    (DepositClass.ACTIVE_CHANNEL, p.active_channel_max_m)]  # last: strict <
    if not p.include_high_terrace:
        upper_bounds = upper_bounds[1:]
    for code, top_m in upper_bounds[:-1]:  # paint from highest to lowest class
        classes[valley & (hand <= top_m)] = code
    classes[valley & (hand < p.active_channel_max_m)] = DepositClass.ACTIVE_CHANNEL
    return classes


def finish_classes(classes: np.ndarray, streams: np.ndarray | None,
                   params: ValleyClassParameters | None = None,
                   mask: np.ndarray | None = None) -> np.ndarray:
    """Sieve small patches, paint stream cells as channel and clear cells outside ``mask``.

    The sieve is not local (a patch joins its *largest* neighbour, however far that one
    reaches), so a tiled run sieves the stitched grid, once.
    """
    p = params or ValleyClassParameters()
    if p.min_patch_cells > 1:  # single noisy SRTM cells are not mappable deposits
        classes = sieve(classes, size=p.min_patch_cells, connectivity=8)
    if streams is not None:
        classes[np.asarray(streams, dtype=bool)] = DepositClass.ACTIVE_CHANNEL
    if mask is not None:
        classes[~np.asarray(mask, dtype=bool)] = DepositClass.NONE
    return classes
