"""Real clients against a live server: OWSLib, GDAL's OAPIF driver, and schemathesis."""

from __future__ import annotations

import json
import logging
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


#: GDAL's OAPIF driver (the GDAL bundled with pyogrio) reads the floodplain deposits with
#: an attribute filter, in a child process like _OAPIF_READ.
_OAPIF_FILTERED_READ = """
import json, sys
import pyogrio
frame = pyogrio.read_dataframe(sys.argv[1], layer="deposits-gh-birim",
                               where="deposit_class = 'floodplain'")
print(json.dumps({"gdal": pyogrio.__gdal_version_string__, "n": len(frame),
                  "classes": sorted(set(frame["deposit_class"]))}))
"""

FLOODPLAIN = sum(1 for i in range(GRID) for j in range(GRID) if (i + j) % 2)


def _filters_received(records) -> list[tuple[str, str]]:
    """(filter, filter-lang) of each filtered items request the server logged."""
    return [(r.filter, r.filter_lang) for r in records
            if r.name == "api.features" and hasattr(r, "filter_lang")]


def _matched_logged(records) -> list[int]:
    return [r.number_matched for r in records
            if r.name == "api.features" and hasattr(r, "number_matched")]


def test_gdal_oapif_sends_the_where_to_the_server_as_cql(live_server, footprint, caplog):
    """GDAL finds ``cql-text`` among the ``filter-lang`` values of the items operation
    and the property among the queryables, and sends the filter: the server selects
    the floodplain deposits (its log shows the filter and the count), not the client."""
    with caplog.at_level(logging.INFO, logger="api.features"):
        result = subprocess.run([sys.executable, "-c", _OAPIF_FILTERED_READ,
                                 f"OAPIF:{live_server}/"],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    read = json.loads(result.stdout.strip().splitlines()[-1])
    assert read["n"] == FLOODPLAIN and read["classes"] == ["floodplain"], read
    assert _filters_received(caplog.records) == [("deposit_class = 'floodplain'", "cql-text")]
    assert _matched_logged(caplog.records) == [FLOODPLAIN]


@pytest.mark.skipif(shutil.which("ogr2ogr") is None and not os.environ.get("CI"),
                    reason="gdal-bin not installed (scripts/system-deps.sh installs it)")
def test_ogr2ogr_copies_typed_deposits_and_sends_the_filter(live_server, footprint, tmp_path,
                                                            caplog):
    """Debian's ogr2ogr copies the floodplain deposits to GeoPackage with numbers as Real,
    the ``-where`` sent to the server as CQL text, as the bundled GDAL does."""
    import pyogrio

    target = tmp_path / "deposits.gpkg"
    with caplog.at_level(logging.INFO, logger="api.features"):
        copied = subprocess.run(
            ["ogr2ogr", "-f", "GPKG", str(target), f"OAPIF:{live_server}/",
             "deposits-gh-birim", "-where", "deposit_class = 'floodplain'"],
            capture_output=True, text=True, timeout=120)
    assert copied.returncode == 0, copied.stderr
    info = pyogrio.read_info(target)
    types = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert types["area_m2"] == "float64"
    frame = pyogrio.read_dataframe(target)
    assert len(frame) == FLOODPLAIN and set(frame["deposit_class"]) == {"floodplain"}
    # GDAL 3.6 reads pages of 10 and follows the next link: each page carries the filter
    received = _filters_received(caplog.records)
    assert received and set(received) == {("deposit_class = 'floodplain'", "cql-text")}
    assert set(_matched_logged(caplog.records)) == {FLOODPLAIN}
