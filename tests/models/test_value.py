"""Value footprint (lognormal fit) and size footprint (sieve mapping)."""

import math

import numpy as np
import pandas as pd
import pytest

from footprint.errors import InvalidParameterError
from footprint.value import (
    COMMON_CLASSES,
    DTC_SIEVE_CT,
    fit_lognormal_usd_per_ct,
    kp_usd_per_ct,
    map_sieve_shares,
    parse_sieve_class,
    size_class_shares,
)


def test_lognormal_fit_recovers_known_parameters_with_honest_uncertainty():
    rng = np.random.default_rng(1)
    samples = rng.lognormal(np.log(40.0), 0.5, size=400)
    fit = fit_lognormal_usd_per_ct(samples, n_boot=1000, seed=2)
    assert fit.median_usd_per_ct == pytest.approx(40.0, rel=0.1)
    assert fit.sigma == pytest.approx(0.5, rel=0.1)
    # bootstrap SE of mu ~ sigma / sqrt(n)
    assert fit.mu_se == pytest.approx(0.5 / math.sqrt(400), rel=0.2)
    assert fit.median_ci95[0] < 40.0 < fit.median_ci95[1]
    param = fit.to_parameter("test")
    assert param.sigma > fit.sigma and param.median == fit.median_usd_per_ct
    assert fit_lognormal_usd_per_ct(samples, n_boot=1000, seed=2) == fit


def test_weights_pull_the_fit_towards_heavy_years():
    fit = fit_lognormal_usd_per_ct([10.0, 100.0], [1.0, 9.0], n_boot=200, seed=0)
    assert fit.mu == pytest.approx(0.1 * math.log(10) + 0.9 * math.log(100))
    with pytest.raises(InvalidParameterError):
        fit_lognormal_usd_per_ct([10.0, -1.0])


def test_kp_usd_per_ct_uses_value_over_carats_and_drops_empty_years():
    kp = pd.DataFrame({"country": ["Ghana"] * 3 + ["Togo"], "year": [2003, 2004, 2005, 2004],
                       "carats": [100.0, 0.0, 50.0, 10.0], "value_usd": [2500.0, 0.0, 1500.0, 900.0]})
    out = kp_usd_per_ct(kp, "Ghana", range(2003, 2006))
    assert out["year"].tolist() == [2003, 2005]
    assert out["usd_per_ct"].tolist() == [25.0, 30.0]


@pytest.mark.parametrize("label, interval", [
    ("-1 gr", (0.0, 0.25)), ("1-2 gr", (0.25, 0.5)), ("+10.8 ct", (10.8, math.inf)),
    ("2-4 ct", (2.0, 4.0)), ("+9 -11", (DTC_SIEVE_CT[9], DTC_SIEVE_CT[11])),
    ("-11+9", (DTC_SIEVE_CT[9], DTC_SIEVE_CT[11])), ("+23", (DTC_SIEVE_CT[23], math.inf)),
    ("-3", (0.0, DTC_SIEVE_CT[3])),
])
def test_sieve_labels_parse_to_stone_weight_intervals(label, interval):
    assert parse_sieve_class(label) == interval


def test_dtc_sieve_weights_increase_with_sieve_number():
    weights = [DTC_SIEVE_CT[n] for n in range(1, 24)]
    assert all(b > a for a, b in zip(weights, weights[1:]))
    with pytest.raises(InvalidParameterError, match="sieve 30"):
        parse_sieve_class("+30")


def test_weight_classes_map_exactly_and_sum_to_one():
    mapped = map_sieve_shares({"-1 gr": 30.0, "1-2 gr": 20.0, "2-4 ct": 40.0, "+10.8 ct": 10.0})
    assert mapped.shares.sum() == pytest.approx(1.0)
    assert mapped.split == ["-1 gr"]  # -0.25 ct spans several common classes
    assert mapped.shares["0.25-0.5ct"] == pytest.approx(0.2)
    assert mapped.shares["2-4ct"] == pytest.approx(0.4)
    assert mapped.shares["+10.8ct"] == pytest.approx(0.1)
    below = [name for name, lo, hi in COMMON_CLASSES if hi <= 0.25]
    assert mapped.shares[below].sum() == pytest.approx(0.3)


def test_dtc_class_straddling_a_boundary_is_split_by_log_carat_overlap():
    dtc = map_sieve_shares({"-9": 50.0, "+9 -11": 20.0, "+11": 30.0})
    assert dtc.shares.sum() == pytest.approx(1.0)
    assert "+9 -11" in dtc.split
    low, high = DTC_SIEVE_CT[9], DTC_SIEVE_CT[11]
    part_above = math.log(high / 0.07) / math.log(high / low)
    above = [name for name, lo, hi in COMMON_CLASSES if lo >= 0.07]
    # +11 lies wholly above 0.07 ct; +9-11 contributes its log-overlap share
    assert dtc.shares[above].sum() == pytest.approx(0.30 + 0.20 * part_above)


def test_size_class_shares_match_a_sampled_parcel():
    rng = np.random.default_rng(4)
    mean_ct, sigma = 0.05, 1.0
    stones = rng.lognormal(np.log(mean_ct) - sigma ** 2 / 2, sigma, 1_000_000)
    edges = [c[1] for c in COMMON_CLASSES] + [np.inf]
    carats, _ = np.histogram(stones, bins=edges, weights=stones)
    shares = size_class_shares(mean_ct, sigma)[0]
    assert shares.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(shares, carats / carats.sum(), atol=0.005)


@pytest.mark.slow
@pytest.mark.parametrize("field, country, years", [
    ("gh-birim", "Ghana", range(2003, 2009)),
    ("ci-seguela", "Cote D'ivoire", range(2014, 2025)),
    ("zw-marange", "Zimbabwe", range(2010, 2017)),
])
def test_sheet_value_footprints_match_their_kp_fits(field, country, years):
    from footprint.params import load_sheet
    from footprint.settings import get_settings

    path = get_settings().data_dir / "kp_stats" / "kp_production_annual_GHA_CIV_TGO_ZWE.csv"
    if not path.is_file():
        pytest.skip("KP statistics not in the data directory")
    rows = kp_usd_per_ct(pd.read_csv(path), country, years)
    fit = fit_lognormal_usd_per_ct(rows["usd_per_ct"], rows["carats"], n_boot=2000, seed=0)
    sheet_value = load_sheet(field).parameters["usd_per_ct"]
    expected = fit.to_parameter("kp")
    assert sheet_value.median == pytest.approx(expected.median, abs=0.01)
    assert sheet_value.sigma == pytest.approx(expected.sigma, abs=0.001)
