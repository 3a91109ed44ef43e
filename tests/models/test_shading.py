"""Hillshade on grids with known answers: planes, a fixed light, no per-grid stretch."""

from __future__ import annotations

import numpy as np
import pytest

from footprint.shading import hillshade


def plane(slope_east: float, slope_north: float, n: int = 16, res_m: float = 30.0) -> np.ndarray:
    """Elevation (m) of a plane rising ``slope_*`` m per m eastwards / northwards, rows
    from north to south."""
    east = np.arange(n) * res_m
    north = (n - 1 - np.arange(n)) * res_m
    return slope_east * east[None, :] + slope_north * north[:, None]


def test_flat_ground_is_lit_by_the_sine_of_the_sun_altitude():
    shade = hillshade(np.zeros((8, 8)), 30.0, 30.0, altitude_deg=30.0)
    assert shade == pytest.approx(np.full((8, 8), 0.5))


def test_a_slope_facing_the_sun_is_fully_lit_and_one_facing_away_is_dark():
    # a 45-degree slope facing north-west (down towards the sun at 315 deg, 45 deg)
    # has its normal pointing at the sun
    s = 1.0 / np.sqrt(2.0)
    facing = hillshade(plane(s, -s), 30.0, 30.0, azimuth_deg=315.0, altitude_deg=45.0)
    assert facing == pytest.approx(np.ones_like(facing))
    away = hillshade(plane(-10 * s, 10 * s), 30.0, 30.0, azimuth_deg=315.0, altitude_deg=45.0)
    assert away == pytest.approx(np.zeros_like(away))


def test_the_z_factor_and_cell_size_trade_off_exactly():
    z = plane(0.1, 0.05)
    assert hillshade(z, 30.0, 30.0, z_factor=3.0) == pytest.approx(hillshade(z, 10.0, 10.0))


def test_a_cell_shade_does_not_depend_on_the_rest_of_the_grid():
    """No stretch to the grid's range: a sub-grid shades its cells as the grid does
    (inside a one-cell halo), which is what lets map tiles meet without seams."""
    rng = np.random.default_rng(3)
    z = np.cumsum(rng.normal(size=(40, 40)), axis=0) * 5
    whole = hillshade(z, 30.0, 30.0)
    part = hillshade(z[10:30, 5:25], 30.0, 30.0)
    assert part[1:-1, 1:-1] == pytest.approx(whole[11:29, 6:24], abs=1e-12)


def test_cell_width_per_row():
    z = plane(0.2, 0.0, n=4)
    per_row = hillshade(z, np.full((4, 1), 30.0), 30.0)
    assert per_row == pytest.approx(hillshade(z, 30.0, 30.0))


def test_not_a_grid():
    with pytest.raises(ValueError):
        hillshade(np.zeros(5), 30.0, 30.0)
