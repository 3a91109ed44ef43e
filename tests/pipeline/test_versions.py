"""Versions people can work with: build only on changed inputs, retire a layer, compare."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from shapely.geometry import Point, box
from typer.testing import CliRunner

from footprint.errors import NotFoundError
from footprint.pipeline.build import build_footprint_version
from footprint.pipeline.compare import compare_versions, comparison_lines
from footprint.storage.audit import Audit


def _deposits_layer(store, sha: str, boxes):
    frame = gpd.GeoDataFrame({"deposit_class": ["floodplain"] * len(boxes)},
                             geometry=[box(*b) for b in boxes], crs=4326)
    return store.add_layer("gh-birim", "deposits", f"mapped {sha[0]}", sha * 64,
                           crs="EPSG:4326", bounds_4326=None, features=frame)[0]


def _bulk_samples(store, sha: str = "b"):
    frame = gpd.GeoDataFrame({"volume_m3": [40.0, 55.0], "carats": [8.0, 13.0]},
                             geometry=[Point(-0.82, 6.02), Point(-0.815, 6.025)], crs=4326)
    return store.add_layer("gh-birim", "bulk_samples", "bulk 2009", sha * 64, crs="EPSG:4326",
                           bounds_4326=None, features=frame)[0]


def _build(store, settings, **kw):
    return build_footprint_version("gh-birim", store=store, settings=settings,
                                   seed=kw.pop("seed", 4), draws=kw.pop("draws", 2000), **kw)


def test_same_inputs_return_the_stored_version_and_changed_inputs_make_one(offline, store):
    _deposits_layer(store, "c", [(-0.83, 6.01, -0.81, 6.03)])
    first = _build(store, offline)
    assert first.created and first.record.version == 1
    assert first.record.inputs_sha256 == first.inputs_sha256
    assert first.record.provenance["inputs"]["layers"][0]["kind"] == "deposits"
    again = _build(store, offline)
    assert not again.created and again.record == first.record
    assert "no new version" in again.message
    assert [r.version for r in store.list_footprints("gh-birim")] == [1]
    # each input named in the hash changes it: seed, draws, the sheet, a new layer
    assert _build(store, offline, seed=5).record.version == 2
    assert _build(store, offline, draws=2048).record.version == 3
    bulk = _bulk_samples(store)
    with_bulk = _build(store, offline, draws=2048)
    assert with_bulk.created and with_bulk.record.version == 4
    assert bulk.id in {entry["id"] for entry in with_bulk.record.provenance["inputs"]["layers"]}


def test_a_retired_layer_is_kept_audited_and_left_out_of_the_next_build(offline, store):
    _deposits_layer(store, "c", [(-0.83, 6.01, -0.81, 6.03)])
    before = _build(store, offline).record
    bulk = _bulk_samples(store)
    with_bulk = _build(store, offline).record
    assert with_bulk.version == 2
    layer, retired = store.retire_layer(bulk.id, audit=Audit("key:surveyor"), field_id="gh-birim",
                                        reason="samples mislabelled")
    assert retired and layer.retired_at is not None and layer.retired_by == "key:surveyor"
    assert store.retire_layer(bulk.id, audit=Audit("key:x"))[1] is False  # idempotent, one audit
    entries = [e for e in store.list_audit() if e.action == "retire_layer"]
    assert len(entries) == 1 and entries[0].sha256 == bulk.sha256
    assert entries[0].detail["reason"] == "samples mislabelled"
    # kept for the old version's provenance, but no longer an input
    assert store.get_layer(bulk.id).sha256 == bulk.sha256
    assert bulk.id not in {x.id for x in store.list_layers("gh-birim")}
    assert bulk.id in {x.id for x in store.list_layers("gh-birim", include_retired=True)}
    assert store.layer_features(field_id="gh-birim", kind="bulk_samples")[1] == 0
    after = _build(store, offline)
    assert after.created and after.record.version == 3 and after.same_inputs_as == (1,)
    assert after.record.inputs_sha256 == before.inputs_sha256
    assert after.record.provenance["draws_sha256"] == before.provenance["draws_sha256"]
    with pytest.raises(NotFoundError):
        store.retire_layer(bulk.id, audit=Audit("key:x"), field_id="zw-marange")
    # uploading the same file again brings the layer back
    restored, created = store.add_layer("gh-birim", "bulk_samples", "bulk 2009", bulk.sha256,
                                        crs="EPSG:4326", bounds_4326=None)
    assert created and restored.id == bulk.id and restored.retired_at is None


def test_compare_names_the_evidence_the_deposits_and_the_sobol_indices(offline, store):
    first = _deposits_layer(store, "c", [(-0.83, 6.01, -0.81, 6.03), (-0.80, 6.04, -0.79, 6.05)])
    _build(store, offline)
    bulk = _bulk_samples(store)
    _build(store, offline)
    store.retire_layer(first.id, audit=Audit("t"))
    _deposits_layer(store, "d", [(-0.83, 6.01, -0.81, 6.03), (-0.78, 6.06, -0.77, 6.08)])
    _build(store, offline)

    same = compare_versions(store, "gh-birim", 1, 2)
    assert [e["id"] for e in same["evidence"]["layers_added"]] == [bulk.id]
    assert same["evidence"]["layers_added"][0]["name"] == "bulk 2009"
    assert same["deposits"] == {**same["deposits"], "added": 0, "removed": 0, "unchanged": 2}
    resource = next(r for r in same["outputs"] if r["output"] == "resource_ct")
    assert resource["from"]["band_width"] == pytest.approx(
        resource["from"]["p95"] - resource["from"]["p5"])
    # the bulk samples update the grade of the class they fall in: new draws, a shift
    assert not same["same_draws"] and not same["same_inputs"]
    shifted = {row["parameter"] for row in same["parameters"] if row["changed"]}
    assert any(name.startswith("grade_ct_m3") for name in shifted), shifted
    assert same["evidence"]["evidence_to"] and same["sensitivity"]["resource_ct"]
    assert all(row["ST_from"] is not None and row["ST_to"] is not None
               for row in same["sensitivity"]["resource_ct"])

    moved = compare_versions(store, "gh-birim", 2)  # to the latest
    assert moved["to"]["version"] == 3
    removed = moved["evidence"]["layers_removed"]
    assert [e["id"] for e in removed] == [first.id] and removed[0]["retired_at"]
    deposits = moved["deposits"]
    assert (deposits["added"], deposits["removed"], deposits["unchanged"]) == (1, 1, 1)
    assert deposits["added_area_m2"] > deposits["removed_area_m2"] > 0  # 1x2 vs 1x1 cells
    assert resource["to"]["p50"] < next(r for r in moved["outputs"]
                                        if r["output"] == "resource_ct")["to"]["p50"]
    text = "\n".join(comparison_lines(moved))
    assert f"- layer {first.id} deposits" in text and "(retired)" in text
    assert "1 added" in text and "Sobol total indices of resource_ct" in text
    with pytest.raises(NotFoundError):
        compare_versions(store, "gh-birim", 1, 9)


def test_cli_compare_and_layers_retire(offline, store, monkeypatch):
    from footprint.cli import app

    layer = _deposits_layer(store, "c", [(-0.83, 6.01, -0.81, 6.03)])
    _build(store, offline)
    bulk = _bulk_samples(store)
    _build(store, offline)
    runner = CliRunner()
    listed = runner.invoke(app, ["layers", "list", "gh-birim"])
    assert listed.exit_code == 0 and f"{bulk.id}\tbulk_samples" in listed.output
    retired = runner.invoke(app, ["layers", "retire", "gh-birim", str(bulk.id),
                                  "--reason", "duplicate"])
    assert retired.exit_code == 0, retired.output
    assert "retired" in retired.output and store.get_layer(bulk.id).retired_at is not None
    assert next(e.actor for e in store.list_audit()
                if e.action == "retire_layer").startswith("cli:")
    active = runner.invoke(app, ["layers", "list", "gh-birim", "--active-only"])
    assert f"{bulk.id}\t" not in active.output and f"{layer.id}\t" in active.output
    shown = runner.invoke(app, ["compare", "gh-birim", "1", "2"])
    assert shown.exit_code == 0, shown.output
    assert f"+ layer {bulk.id} bulk_samples 'bulk 2009'" in shown.output
    as_json = runner.invoke(app, ["compare", "gh-birim", "1", "2", "--json"])
    assert json.loads(as_json.output)["to"]["version"] == 2


def test_reports_pin_a_version_in_the_library_the_cli_and_the_service(settings, store,
                                                                       monkeypatch):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from footprint.cli import app
    from footprint.errors import InvalidParameterError
    from footprint.io.kpstats import KP_HALFYEAR_RELPATH
    from footprint.pipeline.report import parse_version_pins, stored_report

    if not (settings.data_dir / KP_HALFYEAR_RELPATH).is_file():
        pytest.skip("KP statistics not in the data directory")
    _deposits_layer(store, "c", [(-0.83, 6.01, -0.81, 6.03)])
    _build(store, settings, seed=4)
    _build(store, settings, seed=5)
    assert parse_version_pins("GHA", "1") == {"gh-birim": 1}
    assert parse_version_pins("civ", "ci-seguela:2,ci-tortiya:3") == {"ci-seguela": 2,
                                                                      "ci-tortiya": 3}
    for bad in ("2", "ci-seguela:x", "gh-birim:1"):
        with pytest.raises(InvalidParameterError):
            parse_version_pins("CIV", bad)

    def used(report):
        return [(f["field_id"], f["version"]) for f in report["footprints"]]

    latest = stored_report(store, settings, "GHA", 2005, 2008)
    pinned = stored_report(store, settings, "GHA", 2005, 2008, versions={"gh-birim": 1})
    assert used(latest) == [("gh-birim", "v2")] and used(pinned) == [("gh-birim", "v1")]
    assert pinned["footprints"][0]["sensitivity"]["outputs"]["resource_ct"]

    monitor = {"X-API-Key": store.create_api_key("m", "monitor")[1]}
    with TestClient(create_app(settings)) as client:
        url = "/participants/GHA/report?from=2005&to=2008"
        served = client.get(f"{url}&version=1", headers=monitor)
        assert served.status_code == 200, served.text
        assert used(served.json()) == [("gh-birim", "v1")]
        # the service and the library give the same verdicts from the same store
        assert served.json()["tests"] == pinned["tests"]
        assert client.get(f"{url}&version=9", headers=monitor).status_code == 404
        assert client.get(f"{url}&version=zw-marange:1", headers=monitor).status_code == 400
        html = client.get(f"{url}&version=1&f=html", headers=monitor).text
        assert "What drives the spread" in html
    out = settings.state_dir / "gha.json"
    result = CliRunner().invoke(app, ["report", "GHA", "--from", "2005", "--to", "2008",
                                      "--version", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["tests"] == pinned["tests"]
