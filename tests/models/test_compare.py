"""Two footprint versions compared, on hand-made records with known answers: deposits
added, removed and changed class; resource and capacity differences; the layers that
differ."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from shapely.geometry import box

from footprint.compare import DepositSet, compare_footprints


def _record(version: int, resource: tuple[float, float, float],
            capacity: tuple[float, float, float], layers: list[dict], checksums: dict):
    def block(q):
        return dict(zip(("p5", "p50", "p95"), q, strict=True))
    return SimpleNamespace(
        field_id="gh-birim", version=version, seed=1, n_draws=1000, code_version="test",
        sheet_sha256="s" * 64, n_deposits=0, created_at=None, inputs_sha256=f"{version}" * 64,
        summaries={"resource": {"resource_ct": block(resource)},
                   "capacity": {"capacity_ct_per_year": block(capacity)}},
        provenance={"inputs": {"layers": layers, "checksums": checksums}})


def _deposits(rows: list[tuple[str, int]]) -> DepositSet:
    """Deposits of ``(class, cell)``: cell i is a 0.01-degree square, 1 ha per cell."""
    return DepositSet([c for c, _ in rows], [1e4] * len(rows),
                      [box(i * 0.02, 0, i * 0.02 + 0.01, 0.01) for _, i in rows])


@pytest.fixture
def compared():
    mapped = {"id": 3, "kind": "deposits", "sha256": "a" * 64}
    samples = {"id": 5, "kind": "bulk_samples", "sha256": "b" * 64}
    pits_before = {"id": 7, "kind": "mined_areas", "sha256": "c" * 64}
    pits_after = {**pits_before, "sha256": "d" * 64}
    a = _record(1, (10.0, 20.0, 40.0), (1.0, 2.0, 5.0), [mapped, pits_before],
                {"dem:N05W001.hgt": "e" * 64, "rivers": "f" * 64})
    b = _record(2, (12.0, 25.0, 35.0), (1.5, 2.0, 4.0), [mapped, samples, pits_after],
                {"dem:N05W001.hgt": "0" * 64, "rivers": "f" * 64})
    # cells 0-1 kept, 2 and 6 reclassified floodplain -> low terrace, 3 dropped, 4 and 5 new
    before = _deposits([("active_channel", 0), ("floodplain", 1), ("floodplain", 2),
                        ("floodplain", 3), ("floodplain", 6)])
    after = _deposits([("active_channel", 0), ("floodplain", 1), ("low_terrace", 2),
                       ("floodplain", 4), ("high_terrace", 5), ("low_terrace", 6)])
    return compare_footprints(a, b, before, after)


def test_deposits_added_removed_and_changed_class(compared):
    dep = compared["deposits"]
    assert (dep["added"], dep["removed"], dep["changed_class"], dep["unchanged"]) == (2, 1, 2, 2)
    assert dep["from_n"] == 5 and dep["to_n"] == 6
    assert dep["class_changes"] == [{"from_class": "floodplain", "to_class": "low_terrace",
                                     "n": 2, "area_m2": 2e4}]
    assert dep["changed_class_area_m2"] == 2e4
    assert dep["added_by_class"] == {"floodplain": {"n": 1, "area_m2": 1e4},
                                     "high_terrace": {"n": 1, "area_m2": 1e4}}
    assert dep["removed_by_class"] == {"floodplain": {"n": 1, "area_m2": 1e4}}
    floodplain = next(r for r in dep["by_class"] if r["deposit_class"] == "floodplain")
    assert (floodplain["from_n"], floodplain["to_n"]) == (4, 2)
    assert floodplain["area_change_m2"] == -2e4


def test_resource_and_capacity_differences(compared):
    outputs = {row["output"]: row for row in compared["outputs"]}
    resource = outputs["resource_ct"]
    assert resource["difference"] == {"p5": 2.0, "p50": 5.0, "p95": -5.0, "band_width": -7.0}
    assert resource["p50_change_pct"] == pytest.approx(25.0)
    assert resource["change_pct"] == pytest.approx({"p5": 20.0, "p50": 25.0, "p95": -12.5,
                                                    "band_width": -100 * 7 / 30})
    assert resource["band_width_change_pct"] == pytest.approx(-100 * 7 / 30)
    capacity = outputs["capacity_ct_per_year"]
    assert capacity["difference"]["p50"] == 0.0 and capacity["unit"] == "ct/yr"


def test_layers_that_differ_and_other_checksums(compared):
    ev = compared["evidence"]
    status = {(row["id"], row["kind"]): row["status"] for row in ev["layers"]}
    assert status == {(3, "deposits"): "same", (5, "bulk_samples"): "added",
                      (7, "mined_areas"): "changed"}
    changed = next(row for row in ev["layers"] if row["id"] == 7)
    assert (changed["sha256_from"], changed["sha256_to"]) == ("c" * 64, "d" * 64)
    assert [e["id"] for e in ev["layers_added"]] == [5] and ev["layers_removed"] == []
    assert ev["checksums_changed"] == [{"input": "dem:N05W001.hgt", "from": "e" * 64,
                                        "to": "0" * 64}]
    assert not compared["same_inputs"]


def test_the_cli_lines_name_what_changed(compared):
    from footprint.pipeline.compare import comparison_lines

    text = "\n".join(comparison_lines(compared))
    assert "+ layer 5 bulk_samples" in text
    assert "~ layer 7 mined_areas '' sha256 cccccccccccc -> dddddddddddd" in text
    assert "difference 2 / 5 / -5" in text
    assert "2 changed class" in text and "floodplain -> low_terrace: 2" in text


def test_a_version_compared_with_itself_changes_nothing():
    rec = _record(1, (1.0, 2.0, 3.0), (1.0, 2.0, 3.0), [{"id": 1, "kind": "deposits",
                                                         "sha256": "a" * 64}], {})
    deposits = _deposits([("floodplain", 0), ("floodplain", 0), ("low_terrace", 1)])
    result = compare_footprints(rec, rec, deposits, deposits)
    dep = result["deposits"]
    assert (dep["added"], dep["removed"], dep["changed_class"], dep["unchanged"]) == (0, 0, 0, 3)
    assert all(row["status"] == "same" for row in result["evidence"]["layers"])
    assert result["outputs"][0]["difference"] == {"p5": 0.0, "p50": 0.0, "p95": 0.0,
                                                  "band_width": 0.0}


def test_deposits_without_ground_are_never_paired():
    """A deposit with no geometry (None) or an empty one has no ground to be the same as:
    it is removed from ``a`` and added to ``b``, never unchanged or changed class."""
    from shapely.geometry import Polygon

    rec = _record(1, (1.0, 2.0, 3.0), (1.0, 2.0, 3.0), [], {})
    kept = box(0, 0, 0.01, 0.01)
    before = DepositSet(["floodplain", "floodplain", "low_terrace", "active_channel"],
                        [1e4, 2e4, 3e4, 4e4], [kept, None, Polygon(), None])
    after = DepositSet(["floodplain", "high_terrace", "floodplain"],
                       [1e4, 5e4, 6e4], [kept, None, Polygon()])
    dep = compare_footprints(rec, rec, before, after)["deposits"]
    assert (dep["added"], dep["removed"], dep["changed_class"], dep["unchanged"]) == (2, 3, 0, 1)
    assert dep["class_changes"] == [] and dep["changed_class_area_m2"] == 0.0
    assert dep["removed_by_class"] == {"floodplain": {"n": 1, "area_m2": 2e4},
                                       "low_terrace": {"n": 1, "area_m2": 3e4},
                                       "active_channel": {"n": 1, "area_m2": 4e4}}
    assert dep["added_by_class"] == {"high_terrace": {"n": 1, "area_m2": 5e4},
                                     "floodplain": {"n": 1, "area_m2": 6e4}}
    assert (dep["added_area_m2"], dep["removed_area_m2"]) == (11e4, 9e4)


def test_features_without_geometry_have_no_ground():
    features = [{"properties": {"deposit_class": "floodplain", "area_m2": 1.0},
                 "geometry": None},
                {"properties": {"deposit_class": "floodplain", "area_m2": 2.0},
                 "geometry": {"type": "Polygon", "coordinates": []}},
                {"properties": {"deposit_class": "floodplain", "area_m2": 3.0}}]
    deposits = DepositSet.from_features(features)
    assert deposits.keys() == [None, None, None]
    rec = _record(1, (1.0, 2.0, 3.0), (1.0, 2.0, 3.0), [], {})
    dep = compare_footprints(rec, rec, deposits, deposits)["deposits"]
    assert (dep["added"], dep["removed"], dep["unchanged"]) == (3, 3, 0)
