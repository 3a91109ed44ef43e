"""A build with an uploaded DEM: merged with the bundled tiles, coverage in the footprint."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from footprint.pipeline.build import build_footprint

pytestmark = pytest.mark.slow


def test_build_with_a_dem_upload_reports_coverage_per_source(settings, store):
    tiles = settings.data_dir / "dem" / "srtm3"
    if not all((tiles / f"{t}.hgt").is_file() for t in ("N05W001", "N05W002", "N06W001", "N06W002")):
        pytest.skip("SRTM3 tiles for gh-birim not in the data directory")
    # a survey DEM over Akwatia (0.1 deg at 1"), in the state directory as uploads are
    path = settings.state_dir / "rasters" / "survey.tif"
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(tiles / "N06W001.hgt") as src:
        window = src.window(-0.87, 5.97, -0.77, 6.07)
        heights = src.read(1, window=window).astype("float32")
        transform = src.window_transform(window)
    with rasterio.open(path, "w", driver="GTiff", width=heights.shape[1], height=heights.shape[0],
                       count=1, dtype="float32", crs="EPSG:4326", nodata=-9999.0,
                       transform=from_origin(transform.c, transform.f, transform.a, -transform.e),
                       tiled=True, blockxsize=64, blockysize=64) as dst:
        dst.write(heights, 1)
    layer, _ = store.add_layer("gh-birim", "dem", "survey", "d" * 64, crs="EPSG:4326",
                               bounds_4326=[-0.87, 5.97, -0.77, 6.07],
                               path=str(path.relative_to(settings.state_dir)))
    record = build_footprint("gh-birim", store=store, settings=settings, seed=1, draws=2000)
    block = record.summaries["delineation"]
    shares = block["dem_coverage"]["share_of_aoi_by_source"]
    assert 0.01 < shares[f"upload:{layer.id}"] < 0.05  # 0.1 x 0.1 deg of a 0.7 x 0.5 deg AOI
    assert shares["bundled"] > 0.9 and block["dem_coverage"]["share_of_aoi_without_data"] < 0.001
    assert block["mode"] == "terrain" and block["placer_network"]["source_connected"]
    assert record.provenance["input_checksums"][f"layer:dem:{layer.id}"] == "d" * 64
    assert np.isfinite(record.summaries["resource"]["resource_ct"]["p50"])
