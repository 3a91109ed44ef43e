"""Real clients against a live server: OWSLib, GDAL's OAPIF driver, and schemathesis."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic_footprint import GRID

from footprint.catalogue import load_catalogue


def test_owslib_reads_collections_and_items(live_server, footprint):
    from owslib.ogcapi.features import Features

    client = Features(live_server)
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in \
        client.conformance()["conformsTo"]
    ids = {c["id"] for c in client.collections()["collections"]}
    assert {"fields", "deposits-gh-birim"} <= ids
    assert set(client.feature_collections()) == ids
    page = client.collection_items("deposits-gh-birim", limit=7)
    assert page["numberMatched"] == GRID * GRID and len(page["features"]) == 7
    fields = client.collection_items("fields", limit=100)
    assert {f["id"] for f in fields["features"]} == set(load_catalogue())
    one = client.collection_item("fields", "gh-birim")
    assert one["properties"]["participant_iso3"] == "GHA"


#: Runs in a child process: GDAL holds the GIL while it fetches, which would starve the
#: server thread of this process.
_OAPIF_READ = """
import json, sys
import pyogrio
url = sys.argv[1]
layers = [name for name, _ in pyogrio.list_layers(url)]
frame = pyogrio.read_dataframe(url, layer="deposits-gh-birim")
print(json.dumps({"layers": layers, "n": len(frame), "crs": frame.crs.to_string(),
                  "valid": bool(frame.geometry.is_valid.all()),
                  "positive_area": bool((frame.geometry.area > 0).all()),
                  "bounds": [float(v) for v in frame.total_bounds],
                  "classes": sorted(set(frame["deposit_class"]))}))
"""


def test_gdal_oapif_reads_deposits(live_server, footprint):
    result = subprocess.run([sys.executable, "-c", _OAPIF_READ, f"OAPIF:{live_server}/"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    read = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"fields", "deposits-gh-birim", "mined-areas-gh-birim"} <= set(read["layers"])
    assert read["n"] == GRID * GRID and read["crs"] in ("OGC:CRS84", "EPSG:4326")
    assert read["valid"] and read["positive_area"]
    west, south, east, north = load_catalogue()["gh-birim"].bbox_4326
    minx, miny, maxx, maxy = read["bounds"]
    assert west <= minx and maxx <= east and south <= miny and maxy <= north
    assert read["classes"] == ["active_channel", "floodplain"]


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="ogrinfo not installed")
def test_ogrinfo_lists_collections_and_counts_deposits(live_server, footprint):
    listing = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{live_server}/"],
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert "deposits-gh-birim" in listing.stdout and "fields" in listing.stdout
    summary = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{live_server}/",
                              "deposits-gh-birim"], capture_output=True, text=True, timeout=60)
    assert summary.returncode == 0, summary.stderr
    assert f"Feature Count: {GRID * GRID}" in summary.stdout


def test_schemathesis_finds_no_server_error(live_server, footprint, backend):
    """Fuzz every operation of the OpenAPI document, anonymously (reads, and the 401 of
    writes, so no fuzzed build or upload runs); a few examples per operation."""
    import httpx

    operations = sum(len(ops) for ops in httpx.get(f"{live_server}/openapi.json").json()["paths"].values())
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [str(st), "run", f"{live_server}/openapi.json", "--checks", "not_a_server_error",
         "--max-examples", "5" if backend == "sqlite" else "3", "--no-shrink",
         "--phases", "examples,fuzzing", "--seed", "20081106", "--workers", "1",
         "--warnings", "off"],
        capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "No issues found" in result.stdout
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert tested and int(tested.group(1)) == operations


@pytest.mark.skipif(shutil.which("ogr2ogr") is None and not os.environ.get("CI"),
                    reason="gdal-bin not installed (scripts/system-deps.sh installs it)")
def test_ogr2ogr_copies_typed_deposits_and_sends_the_filter(live_server, footprint, tmp_path,
                                                            caplog):
    """GDAL's OAPIF driver copies deposits with numbers as Real, and applies an attribute
    filter; GDAL >= 3.7 sends it to the server as CQL2 (the server logs it), GDAL 3.6
    (Debian 12) evaluates it on the client, which this test then states."""
    import logging

    import pyogrio

    target = tmp_path / "deposits.gpkg"
    with caplog.at_level(logging.INFO, logger="api.features"):
        copied = subprocess.run(
            ["ogr2ogr", "-f", "GPKG", str(target), f"OAPIF:{live_server}/",
             "deposits-gh-birim", "-where", "deposit_class = 'floodplain'",
             "--config", "CPL_DEBUG", "ON"],
            capture_output=True, text=True, timeout=120)
    assert copied.returncode == 0, copied.stderr
    info = pyogrio.read_info(target)
    types = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert types["area_m2"] == "float64"
    frame = pyogrio.read_dataframe(target)
    floodplain = sum(1 for i in range(GRID) for j in range(GRID) if (i + j) % 2)
    assert len(frame) == floodplain and set(frame["deposit_class"]) == {"floodplain"}
    filters = [r for r in caplog.records if r.name == "api.features" and "CQL2" in r.getMessage()]
    version = subprocess.run(["ogr2ogr", "--version"], capture_output=True, text=True).stdout
    major_minor = tuple(int(n) for n in re.search(r"GDAL (\d+)\.(\d+)", version).groups())
    if major_minor >= (3, 7):
        # the driver translates -where into filter=...&filter-lang=cql2-text
        assert filters and "floodplain" in filters[0].getMessage()
    else:
        # GDAL 3.6 (Debian 12) has no CQL2: it fetches every page and applies -where
        # itself. The server saw no filter, and the copy is still exactly the floodplain
        # deposits, so the filtering was the client's. (A query string on the
        # OAPIF:.../collections/<id> connection URL is sent to the collection document,
        # where OGC API - Features defines no filter, and is refused with a 400.)
        assert not filters
