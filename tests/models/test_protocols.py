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

CAP = np.random.default_rng(5).lognormal(math.log(1e5), 0.5, 4000)


def test_volume_p_value_is_the_utilisation_predictive_tail():
    declared = 1.6e5
    result = P.compare_volume(declared, CAP)
    u = P.DEFAULT_UTILISATION
    p_le = float(np.mean(stats.beta.cdf(np.minimum(declared / CAP, 1), u.a, u.b)))
    n = CAP.size
    expected = min(1, 2 * min((n * p_le + 1) / (n + 1), (n * (1 - p_le) + 1) / (n + 1)))
    assert result.p_value == pytest.approx(expected)
    assert result.probability == pytest.approx(np.mean(CAP >= declared))  # P(capacity >= x)


def test_volume_at_honest_utilisation_has_size_alpha():
    rng = np.random.default_rng(11)
    u = P.DEFAULT_UTILISATION
    honest = CAP[rng.integers(CAP.size, size=600)] * stats.beta.rvs(u.a, u.b, size=600,
                                                                    random_state=rng)
    p = np.array([P.compare_volume(x, CAP).p_value for x in honest])
    assert 0.025 <= np.mean(p <= 0.05) <= 0.075


def test_above_what_the_fields_give_and_below_low_utilisation_are_flagged_apart():
    above = P.compare_volume(3 * CAP.max(), CAP)
    assert above.verdict == "anomalous" and above.evidence["tail"] == "above"
    low = P.compare_volume(0.6 * np.median(CAP) * 0.5, CAP)  # half the mean utilisation
    assert low.verdict == "consistent"  # producing below the maximum is normal
    hidden = P.compare_volume(0.0, CAP, status="no_record")
    assert hidden.verdict == "anomalous" and hidden.evidence["tail"] == "below"
    assert hidden.evidence["declared_status"] == "no_record"


def test_no_lower_tail_without_real_capacity():
    th = P.VerdictThresholds(real_capacity_ct=50.0)
    result = P.compare_volume(0.0, np.full(100, 10.0), thresholds=th)
    assert result.verdict == "consistent"
    assert result.evidence["lower_tail_tested"] is False


def test_without_a_lower_tail_the_upper_tail_alone_has_size_alpha():
    # Togo-like: no capacity in 3 draws of 4, so only the upper tail is tested; doubling
    # that one-sided p made a test of size alpha / 2
    rng = np.random.default_rng(8)
    cap = np.where(rng.random(4000) < 0.75, 0.0, CAP[:4000] / 100)
    u = P.DEFAULT_UTILISATION
    honest = cap[rng.integers(cap.size, size=4000)] * stats.beta.rvs(
        u.a, u.b, size=4000, random_state=rng)
    p = np.array([P.compare_volume(x, cap).p_value for x in honest])
    assert 0.04 <= np.mean(p <= 0.05) <= 0.06


def test_a_field_that_has_not_started_gives_zero_and_zero_is_consistent():
    result = P.compare_volume(0.0, np.zeros(500))
    assert result.p_value == 1.0 and result.verdict == "consistent"


# ------------------------------------------------------------------ value

VALUE = np.random.default_rng(2).lognormal(math.log(40), 0.15, 4000)


def test_value_band_reads_price_against_the_market_index():
    boom = P.compare_value_band(40 * 1.3, VALUE, index=1.3, annual_sd_ln=0.2)
    assert boom.verdict == "consistent"  # a market boom is not an anomaly
    nominal = P.compare_value_band(40 * 1.3 * 2.5, VALUE, index=1.3, annual_sd_ln=0.2)
    assert nominal.verdict == "anomalous" and nominal.evidence["direction"] == "above"
    cdf = float(np.mean(stats.norm.cdf((math.log(40) - np.log(VALUE)) / 0.2)))
    assert boom.evidence["predictive_cdf"] == pytest.approx(cdf)


def test_price_index_is_out_of_sample_and_follows_a_common_market():
    from footprint.value import rough_price_index

    rows = []
    market = {2003: 1.0, 2004: 1.2, 2005: 0.8, 2006: 1.1}
    for i, code in enumerate(["AAA", "BBB", "CCC", "GHA"]):
        for year, m in market.items():
            level = (10 + 20 * i) * m * (5.0 if code == "GHA" else 1.0)
            rows.append({"participant": code, "year": year, "carats": 1e5,
                         "value_usd": 1e5 * level})
    index = rough_price_index(pd.DataFrame(rows), exclude=["GHA"])
    assert index.excluded == ("GHA",) and index.n_participants == 3
    ratios = [index.at(y) / index.at(2003) for y in market]
    assert ratios == pytest.approx(list(market.values()), rel=1e-9)


def test_shipments_scatter_around_the_field_value_without_alarm():
    rng = np.random.default_rng(4)
    p = []
    for _ in range(300):
        v = VALUE[rng.integers(VALUE.size)]
        parcels = v * np.exp(rng.normal(0, 0.4, 20))  # wide parcel scatter
        p.append(P.compare_shipment_values(parcels, VALUE, annual_sd_ln=0.01).p_value)
    assert np.mean(np.array(p) <= 0.05) <= 0.075  # the old test called 30-87 % of these


def test_shipments_of_another_fields_value_are_anomalous_and_inf_rows_are_left_out():
    rng = np.random.default_rng(6)
    parcels = 100 * np.exp(rng.normal(0, 0.3, 20))
    parcels[0] = math.inf  # a certificate with carats ~ 0
    result = P.compare_shipment_values(parcels, VALUE, annual_sd_ln=0.1)
    assert result.verdict == "anomalous"
    assert result.evidence["n_left_out"] == 1 and result.evidence["n_shipments"] == 19


# ------------------------------------------------------------------ sizes

CLASSES = list(P.representative_stone_ct())
SHARE = np.array(list(P.expected_stone_share({"0.01-0.03ct": 0.3, "0.03-0.07ct": 0.4,
                                                 "0.07-0.15ct": 0.2, "0.15-0.25ct": 0.1}
                                                ).values()))


def _parcels(share, rng, n_cert=10, stones=500):
    q = rng.dirichlet(50 * np.maximum(share, 1e-12), size=n_cert)
    return rng.multinomial(stones, q)


def test_one_large_stone_does_not_condemn_a_parcel():
    rng = np.random.default_rng(8)
    counts = _parcels(SHARE, rng, n_cert=1)
    counts[0, CLASSES.index("+10.8ct")] += 1  # one 12 ct stone in a 500-stone parcel
    result = P.compare_size_distribution(counts, SHARE, classes=CLASSES, seed=1)
    assert result.verdict == "consistent"
    assert any("+10.8ct" in g and len(g) > 1 for g in result.evidence["pooled"])


def test_another_fields_sizes_are_anomalous():
    rng = np.random.default_rng(9)
    coarse = np.roll(SHARE, 2)  # stones two classes larger
    result = P.compare_size_distribution(_parcels(coarse, rng), SHARE, classes=CLASSES, seed=1)
    assert result.verdict == "anomalous"


def test_stone_counts_come_from_carats_and_class_weights():
    w = P.representative_stone_ct()
    counts = P.stone_counts(np.array([[w["1-2ct"] * 10, np.nan]]), ["1-2ct", "2-4ct"])
    assert counts.tolist() == [[10, 0]]


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

YEARS = list(range(2003, 2016))


def _data(declared, caps, usd_per_ct=40.0):
    declared = np.asarray(declared, dtype=float)
    return P.ProtocolData(years=YEARS, declared_ct=declared, declared_usd=declared * usd_per_ct,
                          status=["declared"] * len(YEARS), capacity_by_year=caps,
                          value_draws_usd_per_ct=VALUE,
                          market=P.MarketModel(index={}, annual_sd_ln=0.2))


def test_a_jump_that_capacity_explains_is_not_a_break():
    caps = [CAP * (1 if y < 2009 else 5) for y in YEARS]  # a plant opens in 2009
    declared = [0.6 * np.median(c) for c in caps]
    result = P.break_volume_test(_data(declared, caps), seed=1)
    assert result.p_value > 0.2 and result.verdict == "consistent"


def test_a_jump_that_capacity_does_not_explain_is_a_break():
    caps = [CAP] * len(YEARS)
    declared = [0.3 * np.median(CAP) if y < 2009 else 0.95 * np.median(CAP) * 3 for y in YEARS]
    result = P.break_volume_test(_data(declared, caps), seed=1)
    assert result.p_value <= 0.01 and result.evidence["break_year"] == 2009


def test_a_field_opening_explains_its_jump_whatever_its_share_of_the_capacity():
    rng = np.random.default_rng(3)
    old_field = rng.lognormal(math.log(1e5), 0.3, 2000)
    new_field = rng.lognormal(math.log(1e6), 1.0, 2000)  # uncertain, 10 x larger
    caps = [old_field + (new_field if y >= 2009 else 0.0) for y in YEARS]
    i = int(np.linspace(0, 1999, P.PROFILE_DRAWS).astype(int)[7])  # one trajectory
    u = P.DEFAULT_UTILISATION.ppf(stats.norm.cdf(
        P.SeriesModel(ar1=0.5, trend_sd=0.0).simulate(len(YEARS), 1, rng)[0]))
    honest = np.array([c[i] for c in caps]) * u  # production follows the opening
    result = P.break_volume_test(_data(honest, caps), seed=2)
    assert result.p_value > 0.1 and result.evidence["explained"]
    tripled = honest * np.where(np.array(YEARS) >= 2012, 3.0, 1.0)  # capacity unchanged
    assert P.break_volume_test(_data(tripled, caps), seed=2).p_value <= 0.05


def test_a_series_no_capacity_trajectory_explains_ranks_above_every_explained_one():
    caps = [CAP] * len(YEARS)
    declared = [10 * CAP.max()] * len(YEARS)  # above every draw, and flat
    result = P.break_volume_test(_data(declared, caps), seed=1, n_sim=199)
    assert not result.evidence["explained"] and result.statistic >= P.UNEXPLAINED_STATISTIC
    assert result.p_value <= 0.05


def test_a_tiny_year_weighs_little_in_the_value_break():
    w = P.precision_weights(np.array([10.0, 1e3, 1e5, 1e6]))
    assert w[0] < 0.01 and w[1] == pytest.approx(0.5) and w[3] / w[2] == pytest.approx(1.0, 0.01)


def test_break_null_is_calibrated_for_the_series_length():
    rng = np.random.default_rng(12)
    null = P.DEFAULT_VOLUME_SERIES.simulate(len(YEARS), 400, rng)
    p = [P.detect_break(YEARS, z, n_sim=199,
                        seed=k).p_value for k, z in enumerate(null[199:])]
    assert 0.01 <= np.mean(np.array(p) <= 0.05) <= 0.10


# ------------------------------------------------------------------ mass balance with stock

def test_stock_unknown_caps_the_mass_balance_at_watch():
    balance = pd.DataFrame({"period": ["2010", "2011"], "production_ct": [100.0, 100.0],
                            "imports_ct": [0.0, 0.0], "exports_ct": [50.0, 50.0],
                            "stock_change_ct": [50.0, np.nan]})
    result = P.check_mass_balance(balance)
    rows = result.evidence["periods"]
    assert rows[0]["verdict"] == "consistent"  # the stock built up explains the residual
    assert rows[1]["verdict"] == "watch" and rows[1]["stock"] == "stock unknown"
    assert result.evidence["stock_unknown"] == ["2011"]


# ------------------------------------------------------------------ FDR

def test_benjamini_hochberg_decisions_at_one_alpha():
    ps = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    results = [P.TestResult("t", None, 0.0, "", p, None, "consistent", {}) for p in ps]
    adjusted, summary = P.adjust_benjamini_hochberg(results)
    reject, p_adj, _, _ = multipletests(ps, alpha=0.05, method="fdr_bh")
    watch = multipletests(ps, alpha=0.10, method="fdr_bh")[0]
    assert [r.p_adjusted for r in adjusted] == pytest.approx(list(p_adj))
    assert [r.verdict == "anomalous" for r in adjusted] == list(reject)
    assert [r.verdict == "watch" for r in adjusted] == list(watch & ~reject)
    assert summary["n_rejected"] == sum(r.verdict == "anomalous" for r in adjusted)


def test_thresholds_are_validated():
    with pytest.raises(ValidationError):
        P.VerdictThresholds(alpha=0.2, watch_alpha=0.1)
    assert P.VerdictThresholds().alpha == 0.05
