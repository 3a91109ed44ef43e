"""The field catalogue: ids, projected CRSs, AOIs drawn from published coordinates."""

import pytest
from shapely.geometry import Point

from footprint.catalogue import get_field, load_catalogue, srtm_tile_names
from footprint.errors import FootprintError, UnknownFieldError

EXPECTED = {"gh-birim": 32630, "ci-seguela": 32629, "ci-tortiya": 32630,
            "tg-plateaux": 32631, "zw-marange": 32736}


def test_five_fields_with_their_utm_zones():
    catalogue = load_catalogue()
    assert {fid: f.crs_epsg for fid, f in catalogue.items()} == EXPECTED


@pytest.mark.parametrize("field_id", EXPECTED)
def test_usgs_points_lie_inside_the_aoi(field_id):
    field = get_field(field_id)
    for point in field.usgs_points:
        assert field.aoi_4326.contains(Point(point.lon, point.lat)), point.name
    assert field.aoi_method and field.aoi_approximate


def test_marange_circle_has_the_published_halo_area():
    # DOMAIN.md: dispersion halo 60,000-70,000 ha = 600-700 km2
    field = get_field("zw-marange")
    assert 600 <= field.aoi_area_km2 <= 700
    assert "USGS" in field.location_conflict


def test_birim_rectangle_matches_published_extent():
    west, south, east, north = get_field("gh-birim").bbox_4326
    assert (west, south, east, north) == pytest.approx((-1.2, 5.8, -0.5, 6.3))
    assert set(get_field("gh-birim").dem_tiles) == {"N05W001", "N05W002", "N06W001", "N06W002"}


def test_tile_names_follow_the_srtm_sw_corner_convention():
    assert srtm_tile_names((-0.5, 5.5, 0.5, 6.5)) == ("N05W001", "N05E000", "N06W001", "N06E000")
    assert srtm_tile_names((32.2, -19.7, 32.5, -19.4)) == ("S20E032",)


def test_unknown_field_names_the_known_ones():
    with pytest.raises(UnknownFieldError) as info:
        get_field("gh-akwatia")
    assert isinstance(info.value, FootprintError) and isinstance(info.value, KeyError)
    assert "gh-birim" in str(info.value)


def test_feature_is_lon_lat_geojson():
    feature = get_field("zw-marange").feature()
    lon, lat = feature["geometry"]["coordinates"][0][0]
    assert 32 < lon < 33 and -20 < lat < -19
