"""Hillshade on grids with known answers: planes, a fixed light, no per-grid stretch,
and the same bytes as GDAL's ``gdaldem hillshade`` (Horn's gradient)."""

from __future__ import annotations

import shutil
import subprocess

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


def test_a_plane_is_lit_uniformly_by_the_cosine_of_its_angle_to_the_sun():
    """Every cell of a plane has the same normal: its shade is n·s everywhere, edges too
    (Horn's window on a plane gives the plane's exact gradient)."""
    slope_east, slope_north = 0.3, -0.1
    normal = np.array([-slope_east, -slope_north, 1.0]) / np.sqrt(slope_east**2 + slope_north**2 + 1)
    az, alt = np.radians(200.0), np.radians(35.0)
    sun = np.array([np.sin(az) * np.cos(alt), np.cos(az) * np.cos(alt), np.sin(alt)])
    shade = hillshade(plane(slope_east, slope_north), 30.0, 30.0, azimuth_deg=200.0,
                      altitude_deg=35.0)
    assert shade == pytest.approx(np.full((16, 16), normal @ sun), abs=1e-12)


def test_horns_window_weighs_the_centre_row_twice():
    """A single raised cell: its east neighbour's gradient is (2 h) / (8 dx) by Horn's
    weights (central differences would give h / (2 dx))."""
    z = np.zeros((5, 5))
    z[2, 2] = 8.0
    shade = hillshade(z, 1.0, 1.0, azimuth_deg=90.0, altitude_deg=45.0)
    # east of the peak the ground falls eastwards by 2 m per m: dz_east = -2
    expected = (2.0 * np.sqrt(0.5) + np.sqrt(0.5)) / np.sqrt(2.0**2 + 1.0)
    assert shade[2, 3] == pytest.approx(expected)


def test_field_hillshade_marks_voids_nodata_and_fills_them_for_neighbours():
    from footprint.services.field_rasters import hillshade_uint8

    z = plane(0.05, 0.02)
    holed = z.copy()
    holed[5, 5] = np.nan
    shade = hillshade_uint8(holed, 30.0)
    assert shade.dtype == np.uint8 and shade[5, 5] == 0
    assert (shade[np.isfinite(holed)] >= 1).all()
    assert hillshade_uint8(np.full((3, 3), np.nan), 30.0).tolist() == [[0] * 3] * 3


@pytest.mark.skipif(shutil.which("gdaldem") is None, reason="gdal-bin is not installed")
def test_the_field_hillshade_is_gdaldem_hillshade(tmp_path):
    """The field's hillshade COG is what ``gdaldem hillshade -z 3`` gives on the same DEM,
    byte for byte inside the one-cell border gdaldem leaves as nodata."""
    import rasterio
    from rasterio.transform import from_origin

    from footprint.services.field_rasters import hillshade_uint8

    rng = np.random.default_rng(1)
    dem = (np.cumsum(np.cumsum(rng.normal(size=(24, 30)), 0), 1) * 2 + 100).astype("float32")
    path = tmp_path / "dem.tif"
    with rasterio.open(path, "w", driver="GTiff", width=30, height=24, count=1,
                       dtype="float32", crs="EPSG:32630",
                       transform=from_origin(500_000, 700_000, 30, 30)) as dst:
        dst.write(dem, 1)
    subprocess.run(["gdaldem", "hillshade", "-q", "-z", "3", "-az", "315", "-alt", "45",
                    str(path), str(tmp_path / "shade.tif")], check=True)
    with rasterio.open(tmp_path / "shade.tif") as src:
        gdal = src.read(1)
    ours = hillshade_uint8(dem.astype("float64"), 30.0)
    assert gdal[1:-1, 1:-1].std() > 20  # relief, not a flat grey
    np.testing.assert_array_equal(ours[1:-1, 1:-1], gdal[1:-1, 1:-1])
