"""The statistical protocols against hand-computed and scipy/statsmodels reference values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import stats
from statsmodels.stats.multitest import multipletests

from footprint import protocols as P
from footprint.declarations import parse_exports
from footprint.errors import InvalidParameterError

STEPS = np.arange(1.0, 20.0)  # 19 draws 1..19: (k+1)/(n+1) has denominator 20


# ------------------------------------------------------------------ combining fields

def test_capacity_of_several_fields_is_summed_draw_by_draw():
    u = np.linspace(0.0, 1.0, 2001)
    field_a, field_b = 1000.0 * u, 1000.0 * (1.0 - u)  # perfectly anti-correlated fields
    total = P.sum_capacity_draws([field_a, field_b])
    np.testing.assert_allclose(total, 1000.0)  # every draw sums to 1000 ct/yr
    p95_of_sum = P.quantiles(total)["p95"]
    sum_of_p95 = P.quantiles(field_a)["p95"] + P.quantiles(field_b)["p95"]
    assert p95_of_sum == pytest.approx(1000.0)
    assert sum_of_p95 == pytest.approx(1900.0)  # adding percentiles would be wrong


def test_summing_fields_with_different_draw_counts_is_refused():
    with pytest.raises(InvalidParameterError):
        P.sum_capacity_draws([np.ones(10), np.ones(11)])
    with pytest.raises(InvalidParameterError):
        P.sum_capacity_draws([])


def test_value_of_several_fields_is_carat_weighted_per_draw():
    caps = [np.array([100.0, 0.0, 300.0]), np.array([300.0, 0.0, 100.0])]
    vals = [np.array([10.0, 10.0, 40.0]), np.array([50.0, 30.0, 20.0])]
    combined = P.combine_value_draws(caps, vals)
    # draw 0: (100*10 + 300*50) / 400 = 40; draw 1: no carats -> plain mean 20;
    # draw 2: (300*40 + 100*20) / 400 = 35
    np.testing.assert_allclose(combined, [40.0, 20.0, 35.0])


# ------------------------------------------------------------------ volume

def test_volume_probability_and_p_value_are_the_monte_carlo_estimates():
    rng = np.random.default_rng(5)
    cap = rng.lognormal(math.log(1e5), 0.5, 5000)
    declared = 1.6e5
    result = P.compare_volume(declared, cap)
    k_ge, k_le = int(np.sum(cap >= declared)), int(np.sum(cap <= declared))
    assert result.probability == pytest.approx(k_ge / cap.size)
    assert result.p_value == pytest.approx(min(1, 2 * (min(k_ge, k_le) + 1) / (cap.size + 1)))
    assert result.evidence["capacity_ct"]["p50"] == pytest.approx(np.quantile(cap, 0.5))


@pytest.mark.parametrize("declared, verdict, tail", [
    (100.0, "anomalous", "above"),   # above every draw: p = 2 * 1/20 = 0.10 (edge)
    (19.0, "watch", "above"),        # one draw >= 19: p = 2 * 2/20 = 0.20 (edge)
    (18.0, "consistent", "above"),   # p = 2 * 3/20 = 0.30
    (0.5, "anomalous", "below"),     # below every draw, capacity real: p = 0.10 (edge)
    (1.0, "watch", "below"),         # p = 2 * 2/20 = 0.20 (edge)
])
def test_volume_verdict_thresholds_at_their_edges(declared, verdict, tail):
    th = P.VerdictThresholds(real_capacity_ct=5.0)
    result = P.compare_volume(declared, STEPS, thresholds=th)
    assert result.verdict == verdict
    assert result.evidence["tail"] == tail


def test_far_below_capacity_is_not_flagged_when_capacity_is_not_real():
    th = P.VerdictThresholds(real_capacity_ct=50.0)  # capacity P50 = 10 ct/yr < 50
    result = P.compare_volume(0.5, STEPS, thresholds=th)
    assert result.verdict == "consistent"
    assert result.evidence["lower_tail_tested"] is False
    # the upper tail still is: Togo's 123,106 ct against a field with no capacity
    assert P.compare_volume(123_106.0, np.zeros(1000)).verdict == "anomalous"


# ------------------------------------------------------------------ value

def test_value_band_z_score_and_percentile():
    values = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    result = P.compare_value_band(30.0, values)
    logs = np.log(values)
    assert result.statistic == pytest.approx((math.log(30.0) - logs.mean()) / logs.std(ddof=1))
    assert result.evidence["percentile"] == pytest.approx(60.0)
    assert result.verdict == "consistent"


def test_value_band_edges():
    # 19 draws: above all -> p = 0.10 (anomalous edge); equal to the top draw -> 0.20 (watch)
    assert P.compare_value_band(25.0, STEPS).verdict == "anomalous"
    assert P.compare_value_band(19.0, STEPS).verdict == "watch"
    assert P.compare_value_band(10.0, STEPS).verdict == "consistent"


def test_shipment_values_against_hand_u_and_scipy():
    ships = np.array([1.0, 2.0, 3.0])
    draws = np.array([4.0, 5.0, 6.0, 7.0])
    result = P.compare_shipment_values(ships, draws)
    assert result.evidence["mann_whitney_u"] == 0.0  # every shipment below every draw
    assert result.statistic == 0.0
    reference = stats.mannwhitneyu(np.log(ships), np.log(draws), alternative="two-sided",
                                   method="asymptotic")
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.evidence["ks_statistic"] == pytest.approx(1.0)


def test_shipment_values_shifted_prices_are_anomalous():
    rng = np.random.default_rng(2)
    draws = rng.lognormal(math.log(30), 0.3, 4000)
    dear = P.compare_shipment_values(rng.lognormal(math.log(90), 0.3, 40), draws)
    fair = P.compare_shipment_values(rng.lognormal(math.log(30), 0.3, 40), draws)
    assert dear.verdict == "anomalous"
    assert fair.verdict != "anomalous"


# ------------------------------------------------------------------ size

def test_size_chi_square_against_hand_computation():
    observed = {"a": 30.0, "b": 20.0, "c": 50.0}
    expected = {"a": 0.3, "b": 0.3, "c": 0.4}
    result = P.compare_size_distribution(observed, expected,
                                         stone_weight_ct={"a": 1.0, "b": 1.0, "c": 1.0})
    chi2 = (30 - 30) ** 2 / 30 + (20 - 30) ** 2 / 30 + (50 - 40) ** 2 / 40
    assert result.statistic == pytest.approx(chi2)
    assert result.p_value == pytest.approx(stats.chi2.sf(chi2, df=2))
    assert result.verdict == "consistent"  # p = 0.054, just above the 0.05 watch edge


def test_size_chi_square_counts_stones_not_carats():
    # 10 ct in 0.5-ct stones = 20 stones; 10 ct in 1-ct stones = 10 stones
    observed = {"small": 10.0, "large": 10.0}
    expected = {"small": 0.5, "large": 0.5}
    result = P.compare_size_distribution(observed, expected,
                                         stone_weight_ct={"small": 0.5, "large": 1.0})
    assert result.evidence["observed_stones"] == pytest.approx([20.0, 10.0])
    assert result.statistic == pytest.approx(0.0)  # identical carat shares: no difference


def test_sieve_schemes_map_to_common_classes_before_comparison():
    observed = P.observed_common_class_ct({"1-2 ct": 60.0, "4-8 gr": 40.0})  # 4-8 grainers = 1-2 ct
    assert observed["1-2ct"] == pytest.approx(100.0)
    assert sum(observed.values()) == pytest.approx(100.0)


# ------------------------------------------------------------------ mass balance

@pytest.mark.parametrize("exports_ct, verdict", [
    (96.0, "consistent"),   # residual 4 % of supply
    (95.0, "watch"),        # 5 %: watch edge
    (80.0, "anomalous"),    # 20 %: anomalous edge
    (130.0, "anomalous"),   # exports exceed supply by 30 %
])
def test_mass_balance_edges(exports_ct, verdict):
    balance = pd.DataFrame({"period": ["2010"], "production_ct": [90.0], "imports_ct": [10.0],
                            "exports_ct": [exports_ct], "stock_change_ct": [0.0]})
    result = P.check_mass_balance(balance)
    assert result.statistic == pytest.approx(abs(100.0 - exports_ct) / 100.0)
    assert result.verdict == verdict


def test_mass_balance_exports_without_supply_is_anomalous():
    balance = pd.DataFrame({"period": ["2007"], "production_ct": [0.0], "imports_ct": [0.0],
                            "exports_ct": [500.0], "stock_change_ct": [0.0]})
    assert P.check_mass_balance(balance).verdict == "anomalous"


# ------------------------------------------------------------------ mirror

MIRROR_CSV = """participant,period,flow,partner,carats,value_usd,source
GHA,2010,export,ARE,1000,30000,GHA declaration
ARE,2010,import,GHA,{are},33000,ARE declaration
GHA,2010,export,BEL,500,15000,no mirror
"""


@pytest.mark.parametrize("mirror_ct, verdict", [(950, "consistent"), (900, "watch"),
                                                (750, "anomalous")])
def test_mirror_statistics_edges(mirror_ct, verdict):
    exports = parse_exports(MIRROR_CSV.format(are=mirror_ct).replace("BEL", "IND"))
    pairs = P.mirror_pairs(exports, "GHA")
    assert list(pairs["partner"]) == ["ARE"]  # the IND row has no mirror
    result = P.compare_mirror(pairs)
    assert result.statistic == pytest.approx((1000 - mirror_ct) / 1000)
    assert result.verdict == verdict


# ------------------------------------------------------------------ breaks

def test_break_found_at_the_step_and_judged_against_the_band():
    rng = np.random.default_rng(3)
    years = list(range(2003, 2016))
    series = np.r_[np.full(7, 0.9e6), np.full(6, 8.4e6)] * rng.lognormal(0, 0.05, 13)
    above = P.detect_break(years, series, np.full(13, 0.5e6), np.full(13, 3e6))
    assert above.evidence["breaks"] == [2010]
    assert above.verdict == "anomalous"  # the post-2010 level is above capacity P95
    inside = P.detect_break(years, series, np.full(13, 0.5e6), np.full(13, 20e6))
    assert inside.evidence["breaks"] == [2010]
    assert inside.verdict == "watch"
    flat = P.detect_break(years, np.full(13, 1e6) * rng.lognormal(0, 0.05, 13),
                          np.full(13, 0.5e6), np.full(13, 3e6))
    assert flat.evidence["breaks"] == []
    assert flat.verdict == "consistent"


# ------------------------------------------------------------------ FDR

def _result(p: float) -> P.TestResult:
    return P.TestResult(name="x", period=None, statistic=0.0, statistic_name="", p_value=p,
                        probability=None, verdict=P.verdict_from_p(p, 0.01, 0.05),
                        thresholds={"anomalous_p": 0.01, "watch_p": 0.05})


def test_benjamini_hochberg_matches_hand_values_and_statsmodels():
    pvals = [0.01, 0.02, 0.03, 0.5, 0.004]
    results = [_result(p) for p in pvals]
    no_p = P.TestResult(name="mirror", period=None, statistic=0.3, statistic_name="",
                        p_value=None, probability=None, verdict="anomalous", thresholds={})
    adjusted, summary = P.adjust_benjamini_hochberg([*results, no_p])
    # by hand: sorted p 0.004 0.01 0.02 0.03 0.5 -> p*m/rank 0.02 0.025 0.0333 0.0375 0.5,
    # then the running minimum from the top
    expected = [0.025, 0.03333333, 0.0375, 0.5, 0.02]
    assert [r.p_adjusted for r in adjusted[:5]] == pytest.approx(expected)
    assert [r.p_adjusted for r in adjusted[:5]] == pytest.approx(
        multipletests(pvals, method="fdr_bh")[1])
    assert adjusted[5] == no_p  # tests without a p-value are untouched
    assert summary["n_tests"] == 5 and summary["n_rejected"] == 4
    # verdicts are re-read from the adjusted values: raw 0.01 was anomalous, adjusted 0.025 watch
    assert results[0].verdict == "anomalous" and adjusted[0].verdict == "watch"


def test_thresholds_are_validated():
    with pytest.raises(ValidationError):
        P.VerdictThresholds(band_anomalous_p=0.3, band_watch_p=0.2)
    with pytest.raises(ValidationError):
        P.VerdictThresholds(mirror_watch=0.5, mirror_anomalous=0.25)
    with pytest.raises(ValidationError):
        P.VerdictThresholds(unknown=1)
    assert P.VerdictThresholds().band_anomalous_p == 0.10


def test_size_test_with_zero_share_uncertainty_is_scipys_chisquare():
    from scipy import stats

    from footprint import protocols as P

    weights = {"a": 0.02, "b": 0.1, "c": 0.5}
    observed = {"a": 100.0, "b": 300.0, "c": 600.0}
    expected = {"a": 0.15, "b": 0.35, "c": 0.5}
    plain = P.compare_size_distribution(observed, expected, stone_weight_ct=weights)
    zero_sd = P.compare_size_distribution(observed, expected, stone_weight_ct=weights,
                                          expected_share_sd={"a": 0, "b": 0, "c": 0})
    stones = np.array([100 / 0.02, 300 / 0.1, 600 / 0.5])
    exp_stones = np.array([0.15 / 0.02, 0.35 / 0.1, 0.5 / 0.5])
    reference = stats.chisquare(stones, exp_stones / exp_stones.sum() * stones.sum())
    assert zero_sd.statistic == pytest.approx(reference.statistic)
    assert zero_sd.p_value == pytest.approx(reference.pvalue)
    assert plain.statistic == pytest.approx(reference.statistic)


def test_a_parcel_within_the_footprints_share_band_is_not_anomalous():
    """Thousands of stones must not turn a few-percent share difference into an anomaly
    when the footprint itself only knows its shares to a few percent."""
    from footprint import protocols as P

    weights = {"a": 0.02, "b": 0.1, "c": 0.5}
    expected = {"a": 0.15, "b": 0.35, "c": 0.5}
    sd = {"a": 0.03, "b": 0.05, "c": 0.06}
    # 3 percentage points off in two classes, 5,000 ct: well inside the footprint's band
    observed = {"a": 0.18 * 5000, "b": 0.32 * 5000, "c": 0.5 * 5000}
    naive = P.compare_size_distribution(observed, expected, stone_weight_ct=weights)
    aware = P.compare_size_distribution(observed, expected, stone_weight_ct=weights,
                                        expected_share_sd=sd)
    assert naive.verdict == "anomalous"
    assert aware.verdict == "consistent"
    # and a parcel far outside the band is still caught
    odd = {"a": 0.6 * 5000, "b": 0.3 * 5000, "c": 0.1 * 5000}
    assert P.compare_size_distribution(odd, expected, stone_weight_ct=weights,
                                       expected_share_sd=sd).verdict == "anomalous"
