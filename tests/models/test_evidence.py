"""Evidence updates the parameters: posteriors recover a known truth, deterministically."""

import numpy as np
import pytest

from footprint.errors import InvalidLayerError
from footprint.evidence import (
    BulkSamples,
    Evidence,
    SurveyTruth,
    apply_evidence,
    synthetic_survey,
    update_grade,
    update_mean_lognormal,
    update_workforce,
)
from footprint.footprints import compute_footprint
from footprint.params import parse_sheet
from footprint.provenance import sha256_json


def _p(**kw):
    return {"unit": "1", "assumption": "test", **kw}


SHEET = parse_sheet({"field": "t", "capacity_modes": ["artisanal"], "parameters": {
    "area_m2": _p(dist="fixed", value=1.0e7),
    "grade_ct_m3": _p(dist="lognormal", median=1.0, sigma=0.8, high=20.0),
    "thickness_m": _p(dist="triangular", low=0.2, mode=0.6, high=2.0),
    "recovery": _p(dist="fixed", value=0.7),
    "miners": _p(dist="pert", low=500, mode=4000, high=20000),
    "days_per_year": _p(dist="fixed", value=200),
    "m3_per_miner_day": _p(dist="fixed", value=0.25)},
    "timeline": {"first_year": 2009, "last_year": 2011}})


def _trial(seed: int, n: int):
    """Truth drawn from the prior, then N samples: (truth, P5, P95) per quantity."""
    rng = np.random.default_rng([seed, 7])
    u = rng.uniform(size=3)
    truth = SurveyTruth(float(SHEET.parameters["grade_ct_m3"].ppf(u[0])),
                        float(SHEET.parameters["thickness_m"].ppf(u[1])),
                        float(SHEET.parameters["miners"].ppf(u[2])),
                        dispersion_k=float(np.exp(rng.uniform(np.log(0.5), np.log(5.0)))))
    ev = synthetic_survey(truth, n, seed)
    samples = ev.bulk_samples["floodplain"]
    grade = update_grade(SHEET.parameters["grade_ct_m3"], samples)[0]
    thickness = update_mean_lognormal(SHEET.parameters["thickness_m"],
                                      ev.pit_logs["floodplain"]["thickness_m"])[0]
    miners = update_workforce(SHEET.parameters["miners"], ev.workforce[2010])[0]
    # independent posteriors: pair the quantiles by a seeded permutation
    capacity = np.random.default_rng(seed).permutation(miners) * 200 * 0.25 * grade * 0.7
    out = {}
    for name, draws, true in (("grade", grade, truth.grade_ct_m3),
                              ("thickness", thickness, truth.thickness_m),
                              ("capacity", capacity, truth.miners * 35 * truth.grade_ct_m3)):
        lo, hi = np.percentile(draws, [5, 95])
        out[name] = (true, lo, hi)
    return out


@pytest.mark.parametrize("n", [5, 20])
def test_posterior_band_covers_the_truth_at_its_nominal_rate(n):
    rows = [_trial(seed, n) for seed in range(100)]
    for name in ("grade", "thickness", "capacity"):
        covered = np.mean([lo <= t <= hi for t, lo, hi in (r[name] for r in rows)])
        assert 0.82 <= covered <= 0.97, (name, covered)


def test_band_narrows_with_more_samples():
    widths = {n: np.median([np.log(r["grade"][2] / r["grade"][1])
                            for r in (_trial(s, n) for s in range(30))]) for n in (5, 20)}
    assert widths[20] < 0.7 * widths[5]


def test_the_posterior_replaces_the_prior_and_is_deterministic():
    truth = SurveyTruth(grade_ct_m3=2.0, thickness_m=0.8, miners=6000)
    ev = synthetic_survey(truth, 20, seed=1)
    one, block = apply_evidence(SHEET, ev)
    two, _ = apply_evidence(SHEET, ev)
    assert sha256_json(one.to_yaml_dict()) == sha256_json(two.to_yaml_dict())
    assert one.parameters["grade_ct_m3"].dist == "empirical"
    assert "grade_ct_m3.floodplain" in one.parameters
    assert one.timeline.miners_parameter(2010) == "miners.2010"
    assert one.timeline.miners_parameter(2011) == "miners"
    updates = {u["parameter"]: u for u in block["updates"]}
    grade = updates["grade_ct_m3"]
    assert set(grade["prior"]) == set(grade["posterior"]) == {"p5", "p50", "p95"}
    assert (grade["posterior"]["p95"] - grade["posterior"]["p5"]
            < grade["prior"]["p95"] - grade["prior"]["p5"])
    # the Monte Carlo of that version uses it: the census year's capacity band narrows
    before = compute_footprint("t", SHEET, None, seed=4, draws=4000)
    after = compute_footprint("t", one, None, seed=4, draws=4000)
    again = compute_footprint("t", one, None, seed=4, draws=4000)
    assert after.simulation.draws_sha256 == again.simulation.draws_sha256
    band = {y: fp.capacity_by_year[2010].p95 / fp.capacity_by_year[2010].p5
            for y, fp in (("before", before), ("after", after))}
    assert band["after"] < band["before"] / 3


def test_no_evidence_leaves_the_sheet_as_it_is():
    sheet, block = apply_evidence(SHEET, Evidence())
    assert sheet is SHEET and block["updates"] == []


def test_carats_without_stone_counts_use_the_lognormal_model():
    rng = np.random.default_rng(2)
    volume = rng.uniform(20, 100, 30)
    carats = volume * rng.lognormal(np.log(1.5) - 0.18, 0.6, 30)
    quantiles, model, n = update_grade(SHEET.parameters["grade_ct_m3"],
                                       BulkSamples(volume, carats))
    assert "lognormal" in model and n == 30
    assert np.percentile(quantiles, 5) < 1.5 < np.percentile(quantiles, 95)


def test_impossible_evidence_is_a_clear_error():
    with pytest.raises(InvalidLayerError):
        update_grade(SHEET.parameters["grade_ct_m3"],
                     BulkSamples(np.array([10.0]), np.array([0.0])))
    with pytest.raises(InvalidLayerError):
        update_grade(SHEET.parameters["grade_ct_m3"],
                     BulkSamples(np.array([0.0]), np.array([1.0])))


def test_evidence_that_cannot_inform_is_set_aside_not_fatal():
    useless = Evidence(bulk_samples={"floodplain": BulkSamples(np.array([10.0]), np.array([0.0]))},
                       workforce={2010: [3000.0]})
    sheet, block = apply_evidence(SHEET, useless)
    assert {s["parameter"] for s in block["skipped"]} == {"grade_ct_m3.floodplain", "grade_ct_m3"}
    assert sheet.parameters["grade_ct_m3"] == SHEET.parameters["grade_ct_m3"]
    assert "miners.2010" in sheet.parameters
