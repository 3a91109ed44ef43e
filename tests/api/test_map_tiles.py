"""The map's server side: hillshade tiles that meet without seams, the offline basemap."""

from __future__ import annotations

import numpy as np
import pytest

from api.routers.tiles import _hillshade_tile
from footprint.settings import get_settings

#: Tile of zoom 12 over Akwatia (gh-birim), and its neighbours east and south.
Z, X, Y = 12, 2038, 1979
HAS_SRTM = (get_settings().data_dir / "dem" / "srtm3").is_dir()


def _shade(settings, x: int, y: int) -> np.ndarray:
    image = _hillshade_tile(settings, Z, x, y)
    assert image is not None
    return image.array[0].astype("float64")


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SRTM, reason="no bundled SRTM tiles")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_adjacent_hillshade_tiles_meet_without_a_seam(settings):
    """Across a tile edge the shade changes no more than between two columns (rows) of
    one tile: with a per-tile stretch or no halo the edge stands out."""
    here, east, south = _shade(settings, X, Y), _shade(settings, X + 1, Y), _shade(settings, X, Y + 1)
    across_x = np.abs(here[:, -1] - east[:, 0]).mean()
    inside_x = np.abs(here[:, -1] - here[:, -2]).mean()
    across_y = np.abs(here[-1, :] - south[0, :]).mean()
    inside_y = np.abs(here[-1, :] - here[-2, :]).mean()
    assert across_x < 1.5 * inside_x + 0.5
    assert across_y < 1.5 * inside_y + 0.5
    # and the tiles are not flat: a seam test on a blank image would prove nothing
    assert here.std() > 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_basemap_layers(client):
    layers = {name: client.get(f"/map/basemap/{name}") for name in
              ("countries", "rivers", "lakes", "places")}
    for name, response in layers.items():
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith("application/geo+json")
    places = layers["places"].json()["features"]
    towns = {f["properties"]["name"] for f in places if f["properties"]["town"]}
    assert towns == {"Akwatia", "Kade", "Séguéla", "Tortiya", "Mutare"}
    # a field's town is listed once, not again from Natural Earth
    names = [f["properties"]["name"] for f in places]
    assert names.count("Séguéla") == 1 and names.count("Mutare") == 1
    countries = {f["properties"]["iso3"] for f in layers["countries"].json()["features"]}
    assert {"GHA", "CIV", "TGO", "ZWE"} <= countries
    assert client.get("/map/basemap/roads").status_code in (400, 404, 422)



@pytest.mark.slow
@pytest.mark.skipif(not HAS_SRTM, reason="no bundled SRTM tiles")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_hillshade_tiles_are_bright_where_the_ground_faces_the_sun(settings):
    """The PNG's grey follows the shade: lit slopes white, slopes facing away dark (a
    reversed ramp would draw the relief inside out)."""
    import io

    from PIL import Image

    from api.routers.tiles import _render

    shade = _shade(settings, X, Y)
    png = _render("hillshade", "gh-birim", settings, None, Z, X, Y)
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype="float64")
    assert np.corrcoef(shade.ravel(), grey.ravel())[0, 1] > 0.99
