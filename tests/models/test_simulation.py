"""The Monte Carlo engine against closed forms, and its reproducibility guarantees."""

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy import stats

from footprint.errors import InvalidParameterError
from footprint.params import parse_sheet
from footprint.simulation import TooFewDrawsWarning, simulate


def _p(**kw):
    return {"unit": "1", "assumption": "test", **kw}


def _product(params):
    return {"product": params["a"] * params["b"] * params["c"]}


LOGNORMALS = parse_sheet({"field": "t", "parameters": {
    "a": _p(dist="lognormal", median=2.0, sigma=0.3),
    "b": _p(dist="lognormal", median=0.5, sigma=0.4),
    "c": _p(dist="lognormal", median=10.0, sigma=0.2)}})


def test_product_of_independent_lognormals_has_known_median_and_mean():
    result = simulate(LOGNORMALS, _product, draws=200_000, seed=11, chunk_draws=50_000)
    sigma = np.sqrt(0.3 ** 2 + 0.4 ** 2 + 0.2 ** 2)
    median, mean = 2.0 * 0.5 * 10.0, 10.0 * np.exp(sigma ** 2 / 2)
    s = result.summaries["product"]
    assert s.mean == pytest.approx(mean, abs=4 * s.sem)
    # the sample median's sd is about 1.2533 * sd / sqrt(n) in log space
    assert np.log(s.p50) == pytest.approx(np.log(median), abs=4 * 1.2533 * sigma / np.sqrt(2e5))
    assert s.p95 == pytest.approx(median * np.exp(1.6449 * sigma), rel=0.02)
    assert s.sem == pytest.approx(result.column("product").std(ddof=1) / np.sqrt(2e5), rel=1e-9)


def test_fixed_parameters_give_the_exact_formula():
    sheet = parse_sheet({"field": "t", "parameters": {
        "a": _p(dist="fixed", value=3.0), "b": _p(dist="fixed", value=0.25),
        "c": _p(dist="fixed", value=7.0)}})
    result = simulate(sheet, _product, draws=3_000, seed=1)
    assert np.all(result.column("product") == 3.0 * 0.25 * 7.0)
    s = result.summaries["product"]
    assert s.p5 == s.p50 == s.p95 == s.mean == 5.25
    assert s.sem == 0.0


def test_truncation_bounds_hold_for_every_draw():
    sheet = parse_sheet({"field": "t", "parameters": {
        "n": _p(dist="normal", mean=0.0, sd=1.0, low=-0.5, high=2.0),
        "l": _p(dist="lognormal", median=1.0, sigma=2.0, low=0.2, high=3.0),
        "h": _p(dist="normal", mean=5.0, sd=1.0, low=4.9)}})
    result = simulate(sheet, lambda p: {}, draws=100_000, seed=5, chunk_draws=30_000)
    n, lognormal, h = (result.column(c) for c in "nlh")
    assert n.min() >= -0.5 and n.max() <= 2.0
    assert lognormal.min() >= 0.2 and lognormal.max() <= 3.0
    assert h.min() >= 4.9
    # a truncated normal, not a clipped one: no pile-up at the bounds
    assert np.mean(n == -0.5) < 1e-3
    assert stats.kstest(n, stats.truncnorm(-0.5, 2.0).cdf).pvalue > 0.001


def test_same_seed_identical_draws_whatever_blocks_or_workers(tmp_path):
    kw = dict(draws=10_000, seed=42, chunk_draws=1_000)
    one = simulate(LOGNORMALS, _product, block_size=10_000, **kw)
    many = simulate(LOGNORMALS, _product, block_size=1_000, **kw)
    with ThreadPoolExecutor(4) as pool:
        workers = simulate(LOGNORMALS, _product, block_size=2_500,
                           map_blocks=lambda f, xs: pool.map(f, xs), **kw)
    on_disk = simulate(LOGNORMALS, _product, block_size=3_000, draws_path=tmp_path / "d.parquet", **kw)
    reference = one.table
    for other in (many.table, workers.table, pq.read_table(tmp_path / "d.parquet")):
        assert other.equals(reference)
    for other in (many, workers, on_disk):
        assert other.draws_sha256 == one.draws_sha256
        assert other.summaries == one.summaries
    assert on_disk.table is None  # bounded memory: the table stays on disk
    other_seed = simulate(LOGNORMALS, _product, draws=10_000, seed=43, chunk_draws=1_000)
    assert other_seed.draws_sha256 != one.draws_sha256


def test_dask_client_gives_identical_draws():
    distributed = pytest.importorskip("dask.distributed")
    kw = dict(draws=4_000, seed=7, chunk_draws=1_000, block_size=1_000)
    local = simulate(LOGNORMALS, _product, **kw)
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1,
                            dashboard_address=":0") as client:
        remote = simulate(LOGNORMALS, _product,
                          map_blocks=lambda f, xs: client.gather(client.map(f, xs, pure=False)), **kw)
    assert remote.draws_sha256 == local.draws_sha256
    assert remote.table.equals(local.table)


@pytest.mark.parametrize("rho", [-0.6, 0.3, 0.8])
def test_requested_rank_correlation_is_achieved(rho):
    sheet = parse_sheet({"field": "t", "parameters": {
        "t": _p(dist="triangular", low=0.2, mode=0.5, high=1.0),
        "g": _p(dist="lognormal", median=1.5, sigma=0.5),
        "x": _p(dist="uniform", low=0, high=1)},
        "correlations": [["t", "g", rho]]})
    result = simulate(sheet, lambda p: {}, draws=100_000, seed=9)
    t, g, x = (result.column(c) for c in "tgx")
    assert stats.spearmanr(t, g).statistic == pytest.approx(rho, abs=0.02)
    assert abs(stats.spearmanr(t, x).statistic) < 0.02


def test_too_few_draws_warns_and_flags():
    with pytest.warns(TooFewDrawsWarning, match="too few"):
        result = simulate(LOGNORMALS, _product, draws=500, seed=1)
    assert not result.tails_trusted and result.warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", TooFewDrawsWarning)
        assert simulate(LOGNORMALS, _product, draws=2_000, seed=1).tails_trusted


def test_invalid_arguments_are_rejected():
    with pytest.raises(InvalidParameterError):
        simulate(LOGNORMALS, _product, draws=0, seed=1)
    with pytest.raises(InvalidParameterError):
        simulate(LOGNORMALS, _product, draws=10, seed=-1)
    with pytest.raises(InvalidParameterError, match="kept in memory"):
        simulate(LOGNORMALS, _product, draws=10, seed=1, keep_in_memory=False)


def test_fields_get_distinct_reproducible_default_seeds():
    from footprint.simulation import field_seed

    seeds = {fid: field_seed(20081106, fid) for fid in ("ci-seguela", "ci-tortiya", "gh-birim")}
    assert len(set(seeds.values())) == 3
    assert field_seed(20081106, "ci-seguela") == seeds["ci-seguela"]
    assert field_seed(1, "ci-seguela") != seeds["ci-seguela"]
