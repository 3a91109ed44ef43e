"""Parameter sheets: distributions, provenance labels, copula validation, the five field sheets."""

import numpy as np
import pytest
from scipy import stats

from footprint.errors import InvalidParameterError, NotFoundError
from footprint.params import (
    PARAMETERS_DIR,
    ParameterSheet,
    copula_correlation,
    load_sheet,
    parse_sheet,
    spearman_to_pearson,
)

FIELDS = ["gh-birim", "ci-seguela", "ci-tortiya", "tg-plateaux", "zw-marange"]


def _sheet(parameters, correlations=(), modes=()):
    return {"field": "test", "capacity_modes": list(modes), "parameters": parameters,
            "correlations": [list(c) for c in correlations]}


def _p(**kw):
    return {"unit": "1", "source": "test", **kw}


@pytest.mark.parametrize("field", FIELDS)
def test_every_field_sheet_validates_and_labels_every_parameter(field):
    sheet = load_sheet(field)
    assert sheet.field == field
    assert sheet.capacity_modes, "each field declares its capacity modes"
    for name, spec in sheet.parameters.items():
        assert spec.unit
        assert (spec.source or spec.assumption), name
    assert "usd_per_ct" in sheet.parameters


def test_sheet_loads_by_path_and_unknown_field_is_not_found(tmp_path):
    assert load_sheet(PARAMETERS_DIR / "gh-birim.yaml").field == "gh-birim"
    with pytest.raises(NotFoundError):
        load_sheet("xx-nowhere")
    bad = tmp_path / "bad.yaml"
    bad.write_text("field: [unclosed\n")
    with pytest.raises(InvalidParameterError, match="not valid YAML"):
        load_sheet(bad)


def test_parameter_without_source_or_assumption_is_rejected_clearly():
    with pytest.raises(InvalidParameterError, match="parameters.x.uniform.*'source' or an 'assumption'"):
        parse_sheet(_sheet({"x": {"dist": "uniform", "low": 0, "high": 1, "unit": "m"}}))


def test_bad_distribution_arguments_are_named():
    with pytest.raises(InvalidParameterError, match="low <= mode <= high"):
        parse_sheet(_sheet({"t": _p(dist="triangular", low=1, mode=0.5, high=2)}))
    with pytest.raises(InvalidParameterError, match="exactly one of"):
        parse_sheet(_sheet({"g": _p(dist="lognormal", median=1, sigma=0.5, mean=2, sd=1)}))
    with pytest.raises(InvalidParameterError, match="parameters.g"):
        parse_sheet(_sheet({"g": _p(dist="gamma", shape=2)}))


def test_correlation_with_unknown_parameter_or_out_of_range_is_rejected():
    params = {"a": _p(dist="uniform", low=0, high=1), "b": _p(dist="uniform", low=0, high=1)}
    with pytest.raises(InvalidParameterError, match="unknown parameter 'c'"):
        parse_sheet(_sheet(params, [("a", "c", 0.5)]))
    with pytest.raises(InvalidParameterError, match="outside"):
        parse_sheet(_sheet(params, [("a", "b", 1.5)]))


def test_non_psd_correlations_name_the_pair_that_breaks_the_matrix():
    params = {n: _p(dist="uniform", low=0, high=1) for n in "abc"}
    # a~b and b~c strongly positive force a~c positive: a~c = -0.9 is impossible
    corr = [("a", "b", 0.9), ("b", "c", 0.9), ("a", "c", -0.9)]
    with pytest.raises(InvalidParameterError, match=r"\[a, c, -0.9\].*among a, b, c"):
        parse_sheet(_sheet(params, corr))
    ok = parse_sheet(_sheet(params, corr[:2] + [("a", "c", 0.7)]))
    assert np.linalg.eigvalsh(copula_correlation(ok)).min() >= -1e-10


def test_capacity_mode_needs_its_parameters():
    with pytest.raises(InvalidParameterError, match="mechanised: plant_m3_per_h"):
        parse_sheet(_sheet({"grade_ct_m3": _p(dist="fixed", value=1.0)}, modes=["mechanised"]))


def test_json_schema_describes_the_distributions():
    schema = ParameterSheet.model_json_schema()
    text = str(schema)
    for dist in ("fixed", "uniform", "triangular", "pert", "normal", "lognormal", "empirical"):
        assert f"'{dist}'" in text
    assert "parameters" in schema["properties"]


def test_spearman_to_pearson_matches_gaussian_copula_theory():
    rng = np.random.default_rng(3)
    r = spearman_to_pearson(0.6)
    z = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], size=200_000)
    assert stats.spearmanr(z[:, 0], z[:, 1]).statistic == pytest.approx(0.6, abs=0.01)


@pytest.mark.parametrize("spec, dist", [
    (_p(dist="uniform", low=2, high=5), stats.uniform(2, 3)),
    (_p(dist="triangular", low=1, mode=2, high=4), stats.triang(1 / 3, loc=1, scale=3)),
    (_p(dist="pert", low=0, mode=1, high=4), stats.beta(2, 4, loc=0, scale=4)),
    (_p(dist="normal", mean=1, sd=2), stats.norm(1, 2)),
    (_p(dist="lognormal", median=3, sigma=0.5), stats.lognorm(0.5, scale=3)),
])
def test_inverse_cdf_matches_scipy(spec, dist):
    sheet = parse_sheet(_sheet({"x": spec}))
    u = np.linspace(0.01, 0.99, 25)
    np.testing.assert_allclose(sheet.parameters["x"].ppf(u), dist.ppf(u), rtol=1e-9, atol=1e-12)


def test_lognormal_by_mean_and_sd_has_that_mean_and_sd():
    sheet = parse_sheet(_sheet({"v": _p(dist="lognormal", mean=30.0, sd=12.0)}))
    mu, sigma = sheet.parameters["v"].mu_sigma
    dist = stats.lognorm(sigma, scale=np.exp(mu))
    assert dist.mean() == pytest.approx(30.0)
    assert dist.std() == pytest.approx(12.0)


def test_empirical_draws_only_observed_values_with_their_frequencies():
    sheet = parse_sheet(_sheet({"e": _p(dist="empirical", samples=[0, 0, 0, 1])}))
    u = np.random.default_rng(1).random(100_000)
    x = sheet.parameters["e"].ppf(u)
    assert set(np.unique(x)) == {0.0, 1.0}
    assert x.mean() == pytest.approx(0.25, abs=0.01)


def test_copula_factor_keeps_uncorrelated_parameters_on_their_own_normal():
    import numpy as np

    from footprint.params import copula_factor

    matrix = np.eye(4)
    matrix[0, 2] = matrix[2, 0] = -0.3
    factor = copula_factor(matrix)
    assert np.allclose(factor @ factor.T, matrix)
    # parameters 1 and 3 correlate with nothing: each is driven by its own column only
    assert np.allclose(factor[1], [0, 1, 0, 0]) and np.allclose(factor[3], [0, 0, 0, 1])
    # semi-definite (rho = 1) still factors, reproducibly
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    first, second = copula_factor(singular), copula_factor(singular)
    assert np.allclose(first @ first.T, singular) and np.array_equal(first, second)
