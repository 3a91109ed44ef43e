"""DEM loading: mosaic, clip to the AOI, reproject to the field's UTM zone."""

import numpy as np
import pyproj
import pytest
import rasterio
from affine import Affine

from footprint.catalogue import get_field
from footprint.errors import DataMissingError
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


def test_projected_dem_is_reprojected_not_refused(tmp_path):
    """A DEM in UTM is warped to the output grid (issue 11 row 4b), heights kept."""
    from shapely import box

    rows, cols = np.mgrid[0:200, 0:200]
    data = (100 + rows + cols).astype("float32")  # a plane in UTM metres
    _write_tile(tmp_path / "utm.tif", data, Affine(90, 0, 610000, 0, -90, 690000),
                crs="EPSG:32630", nodata=-9999)
    aoi = box(-1.98, 6.12, -1.9, 6.18)
    grid = load_dem(aoi, 32630, [tmp_path / "utm.tif"], res_m=90)
    values = grid.data[np.isfinite(grid.data)]
    assert values.size > 3000
    assert values.min() >= 100 and values.max() <= 100 + 398


def test_upload_wins_where_it_covers_and_nothing_is_extrapolated(tmp_path):
    """Later sources win where they have data; cells no source reaches stay NaN, and
    the coverage of each source is reported (issue 13 item 4)."""
    from shapely import box

    from footprint.io.dem import DemSource

    step = 1 / 1200
    bundled = np.full((121, 121), 100, dtype="int16")
    upload = np.full((61, 61), 300, dtype="int16")
    _write_tile(tmp_path / "tile.tif", bundled, Affine(step, 0, 0.0, 0, -step, 6.1))
    _write_tile(tmp_path / "up.tif", upload, Affine(step, 0, 0.02, 0, -step, 6.08))
    coverage: dict[str, float] = {}
    aoi = box(0.01, 6.01, 0.15, 6.09)  # reaches 0.05 deg beyond the bundled tile
    grid = load_dem(aoi, 32631, res_m=30, coverage=coverage,
                    sources=[DemSource((tmp_path / "tile.tif",), "bundled"),
                             DemSource((tmp_path / "up.tif",), "upload:1")])
    values = grid.data[np.isfinite(grid.data)]
    assert set(np.unique(np.round(values))) <= {100.0, 300.0} | set(range(101, 300))
    assert (values == 300).sum() > 1000 and (values == 100).sum() > 1000
    assert 0.15 < coverage["upload:1"] < 0.35 and 0.35 < coverage["bundled"] < 0.6
    assert coverage["upload:1"] + coverage["bundled"] < 0.9  # the rest is no data
    east = grid.value_at(*_utm(0.14, 6.05))
    assert np.isnan(east)  # beyond the tile: masked, never extrapolated


def _utm(lon, lat, epsg=32631):
    import pyproj

    return pyproj.Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)


def _hgt_samples(path):
    """An SRTM3 .hgt file as the raw 1201 x 1201 samples (big-endian int16)."""
    return np.fromfile(path, dtype=">i2").reshape(1201, 1201)


@pytest.mark.slow
@needs_tiles
def test_birim_mosaic_matches_exact_bilinear_resampling_of_srtm_samples():
    """The mosaic is registered to the 3-arc-second grid: against an exact bilinear
    interpolation of the SRTM samples at every output cell centre (lon/lat by pyproj),
    RMSE < 0.5 m over the four Birim tiles (issue 12: 6.1 m before the fix)."""
    import pyproj
    from rasterio.transform import xy
    from shapely import box

    names = ["N05W001", "N05W002", "N06W001", "N06W002"]
    tiles = {name: _hgt_samples(DATA / f"dem/srtm3/{name}.hgt").astype("float64") for name in names}
    for samples in tiles.values():
        samples[samples == -32768] = np.nan
    aoi = box(-1.95, 5.05, -0.05, 6.95)  # across all four tiles and both seams
    grid = load_dem(aoi, 32630, [DATA / f"dem/srtm3/{n}.hgt" for n in names], res_m=90)
    rows, cols = np.nonzero(np.isfinite(grid.data))
    pick = np.random.default_rng(0).choice(rows.size, size=min(rows.size, 200_000), replace=False)
    rows, cols = rows[pick], cols[pick]
    xs, ys = xy(grid.transform, rows, cols)
    lon, lat = pyproj.Transformer.from_crs(32630, 4326, always_xy=True).transform(xs, ys)
    lon, lat = np.asarray(lon), np.asarray(lat)
    expected = np.full(lon.size, np.nan)
    for name, samples in tiles.items():
        lat0 = int(name[1:3]) * (1 if name[0] == "N" else -1)
        lon0 = int(name[4:7]) * (-1 if name[3] == "W" else 1)
        inside = (lon >= lon0) & (lon < lon0 + 1) & (lat >= lat0) & (lat < lat0 + 1)
        fc = (lon[inside] - lon0) * 1200.0  # sample j sits at lon0 + j/1200
        fr = (lat0 + 1 - lat[inside]) * 1200.0  # sample i sits at lat0 + 1 - i/1200
        c0, r0 = np.floor(fc).astype(int), np.floor(fr).astype(int)
        wc, wr = fc - c0, fr - r0
        expected[inside] = ((1 - wr) * ((1 - wc) * samples[r0, c0] + wc * samples[r0, c0 + 1])
                            + wr * ((1 - wc) * samples[r0 + 1, c0] + wc * samples[r0 + 1, c0 + 1]))
    got = grid.data[rows, cols].astype("float64")
    ok = np.isfinite(expected) & np.isfinite(got)
    assert ok.sum() > 100_000
    error = got[ok] - expected[ok]
    rmse = float(np.sqrt(np.mean(error ** 2)))
    assert rmse < 0.5, f"RMSE {rmse:.3f} m, max {np.abs(error).max():.1f} m"


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
