"""DEM loading: mosaic, clip to the AOI, reproject to the field's UTM zone."""

import numpy as np
import pyproj
import pytest
import rasterio
from affine import Affine

from footprint.catalogue import get_field
from footprint.errors import DataMissingError, InvalidLayerError
from footprint.io.dem import find_tiles, load_dem, load_field_dem
from footprint.io.raster import read_grid, sample_lonlat, write_cog
from footprint.settings import get_settings

DATA = get_settings().data_dir
needs_tiles = pytest.mark.skipif(not (DATA / "dem/srtm3/N06W001.hgt").is_file(),
                                 reason="SRTM tiles not in the data directory")


@pytest.mark.slow
@needs_tiles
def test_birim_dem_is_utm_and_akwatia_is_plausible():
    field = get_field("gh-birim")
    settings = get_settings()
    grid = load_field_dem(field, data_dir=settings.data_dir, cache_dir=settings.cache_dir)
    assert grid.crs.to_epsg() == 32630
    assert grid.res_m == pytest.approx(90.0)
    # the AOI is ~78 km x 55 km: the grid must not be much larger (windowed to the AOI)
    assert grid.shape[0] * 90 < 60_000 and grid.shape[1] * 90 < 80_000
    x, y = pyproj.Transformer.from_crs(4326, 32630, always_xy=True).transform(-0.8097, 6.0361)
    # Akwatia town lies near 140 m (SOURCES.md sanity check: 138 m)
    assert 110 <= grid.value_at(x, y) <= 180
    # outside the AOI rectangle is NaN; inside almost all cells have values
    assert np.isnan(grid.data).mean() < 0.05


@pytest.mark.slow
@needs_tiles
def test_missing_tiles_are_named():
    field = get_field("ci-seguela")
    with pytest.raises(DataMissingError) as info:
        load_field_dem(field, data_dir=DATA, cache_dir=DATA / "nonexistent")
    assert "ci-seguela" in str(info.value) and "fetch" in str(info.value)


def _write_tile(path, data, transform, crs="EPSG:4326", nodata=-32768):
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1],
                       count=1, dtype=data.dtype, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(data, 1)
    return path


def test_load_dem_mosaics_two_tiles_and_keeps_voids_nan(tmp_path):
    from shapely import box

    step = 1 / 1200
    a = np.full((121, 121), 100, dtype="int16")
    b = np.full((121, 121), 200, dtype="int16")
    a[60, 60] = -32768  # a void
    _write_tile(tmp_path / "a.tif", a, Affine(step, 0, 0.0, 0, -step, 6.1))
    _write_tile(tmp_path / "b.tif", b, Affine(step, 0, 0.1, 0, -step, 6.1))
    grid = load_dem(box(0.01, 6.01, 0.19, 6.09), 32631, [tmp_path / "a.tif", tmp_path / "b.tif"], res_m=30)
    values = grid.data[np.isfinite(grid.data)]
    assert grid.crs.to_epsg() == 32631 and grid.res_m == 30
    assert values.min() >= 100 and values.max() <= 200
    assert (values == 100).sum() > 1000 and (values == 200).sum() > 1000
    assert np.isnan(grid.data).any()  # the void survives reprojection as NaN


def test_projected_tiles_are_refused(tmp_path):
    from shapely import box

    data = np.ones((10, 10), dtype="int16")
    _write_tile(tmp_path / "utm.tif", data, Affine(90, 0, 500000, 0, -90, 700000), crs="EPSG:32630")
    with pytest.raises(InvalidLayerError):
        load_dem(box(-1, 6, -0.9, 6.1), 32630, [tmp_path / "utm.tif"])


def test_write_cog_is_valid_and_samples(tmp_path):
    from rio_cogeo.cogeo import cog_validate

    data = np.arange(512 * 512, dtype="float32").reshape(512, 512)
    data[0, 0] = np.nan
    transform = Affine(90, 0, 600000, 0, -90, 700000)
    path = write_cog(tmp_path / "x.tif", data, transform, 32630)
    assert cog_validate(path, quiet=True)[0]
    back = read_grid(path)
    assert np.isnan(back.data[0, 0]) and back.data[1, 1] == data[1, 1]
    lon, lat = pyproj.Transformer.from_crs(32630, 4326, always_xy=True).transform(600000 + 90 * 5.5, 700000 - 90 * 7.5)
    assert sample_lonlat(path, lon, lat) == data[7, 5]
    assert sample_lonlat(path, 10.0, 10.0) is None


def test_find_tiles_reports_absent_ones(tmp_path):
    (tmp_path / "dem" / "srtm3").mkdir(parents=True)
    (tmp_path / "dem" / "srtm3" / "N05W001.hgt").write_bytes(b"")
    found = find_tiles(["N05W001", "N09W009"], tmp_path)
    assert found["N05W001"].name == "N05W001.hgt" and found["N09W009"] is None
