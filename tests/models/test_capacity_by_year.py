"""Capacity per year: activity periods, mode operating periods, workforce by year, depletion,
and other producers (DOMAIN.md sections 3.3 and 7)."""

import datetime as dt

import numpy as np
import pytest

from footprint import capacity as cap
from footprint.errors import InvalidParameterError
from footprint.footprints import compute_footprint, compute_producer_capacity
from footprint.params import (
    Period,
    active_fraction,
    load_producers,
    load_sheet,
    parse_sheet,
)


def _p(**kw):
    return {"unit": "1", "assumption": "test", **kw}


BASE = {"thickness_m": _p(dist="fixed", value=0.5), "grade_ct_m3": _p(dist="fixed", value=2.0),
        "recovery": _p(dist="fixed", value=0.5), "miners": _p(dist="fixed", value=1000),
        "miners.rush": _p(dist="fixed", value=5000),
        "days_per_year": _p(dist="fixed", value=200), "m3_per_miner_day": _p(dist="fixed", value=0.25),
        "plant_m3_per_h": _p(dist="fixed", value=50), "hours_per_year": _p(dist="fixed", value=8760),
        "availability": _p(dist="fixed", value=0.4), "area_m2": _p(dist="fixed", value=1.0e6)}
ARTISANAL = 1000 * 200 * 0.25 * 2.0 * 0.5   # 50,000 ct/yr
MECHANISED = 50 * 8760 * 0.4 * 2.0 * 0.5    # 175,200 ct/yr


def _sheet(**timeline):
    return parse_sheet({"field": "t", "capacity_modes": ["artisanal", "mechanised"],
                        "parameters": BASE, "timeline": timeline})


def test_a_period_covers_the_share_of_each_year_it_spans():
    gcd = Period(end=dt.date(2007, 9, 30), source="test")
    assert active_fraction([gcd], 2006) == 1.0
    assert active_fraction([gcd], 2007) == pytest.approx(273 / 365)
    assert active_fraction([gcd], 2008) == 0.0
    assert active_fraction([], 2008) == 1.0
    # overlapping periods count each day once
    twice = [gcd, Period(start=dt.date(2007, 1, 1), end=dt.date(2007, 12, 31), source="t")]
    assert active_fraction(twice, 2007) == 1.0


def test_capacity_follows_field_start_plant_stop_and_workforce_by_year():
    sheet = _sheet(first_year=2003, last_year=2012,
                   activity=[{"start": "2005-01-01", "source": "t"}],
                   modes={"mechanised": [{"end": "2007-12-31", "source": "t"}]},
                   workforce=[{"start_year": 2006, "end_year": 2006, "parameter": "miners.rush",
                               "source": "t"}])
    fp = compute_footprint("t", sheet, None, seed=3, draws=1000)
    by_year = {y: s.p50 for y, s in fp.capacity_by_year.items()}
    assert sorted(by_year) == list(range(2003, 2013))
    assert by_year[2003] == by_year[2004] == 0.0                     # before the field starts
    assert by_year[2005] == pytest.approx(ARTISANAL + MECHANISED)
    assert by_year[2006] == pytest.approx(5 * ARTISANAL + MECHANISED)  # the rush workforce
    assert by_year[2008] == pytest.approx(ARTISANAL)                  # the plant is off
    assert fp.provenance["years"] == [2003, 2012]


def test_depletion_caps_later_years_by_what_capacity_took():
    small = {**BASE, "area_m2": _p(dist="fixed", value=300.0)}       # 300 m2 * 0.5 m * 1 ct
    sheet = parse_sheet({"field": "t", "capacity_modes": ["mechanised"], "parameters": small,
                         "timeline": {"first_year": 2020, "last_year": 2024,
                                      "resource_year": 2022}})
    fp = compute_footprint("t", sheet, None, seed=3, draws=500)
    resource = 300.0 * 0.5 * 2.0 * 0.5
    by_year = {y: s.p50 for y, s in fp.capacity_by_year.items()}
    # before the resource year the field had at least what it has now; after, nothing is left
    assert by_year[2020] == by_year[2021] == by_year[2022] == pytest.approx(resource)
    assert by_year[2023] == by_year[2024] == 0.0


def test_known_production_raises_what_remained_before_the_resource_year():
    wanted = {2010: np.array([100.0]), 2011: np.array([100.0]), 2012: np.array([100.0])}
    capped = cap.deplete_by_year(wanted, np.array([30.0]), 2012,
                                 produced_ct_by_year={2010: np.array([20.0]),
                                                      2011: np.array([40.0])})
    assert capped[2012][0] == 30.0 and capped[2011][0] == 70.0 and capped[2010][0] == 90.0


def test_round_off_below_zero_is_cleaned_and_a_real_negative_area_refused():
    assert cap.clean_mined_area_by_year({2011: -1.2e-10, 2010: 5.0}) == {2010: 5.0, 2011: 0.0}
    with pytest.raises(InvalidParameterError):
        cap.clean_mined_area_by_year({2011: -3.0})


def test_capacity_by_year_is_block_invariant_and_seeded():
    sheet = load_sheet("gh-birim")
    kw = {"stream_length_km": None, "seed": 11, "draws": 5000, "current_year": 2012}
    one = compute_footprint("gh-birim", sheet, {"floodplain": 5.0e7}, block_size=1000, **kw)
    two = compute_footprint("gh-birim", sheet, {"floodplain": 5.0e7}, block_size=5000, **kw)
    other = compute_footprint("gh-birim", sheet, {"floodplain": 5.0e7}, **{**kw, "seed": 12})
    assert one.simulation.draws_sha256 == two.simulation.draws_sha256
    assert other.simulation.draws_sha256 != one.simulation.draws_sha256
    # GCD's plant stopped in September 2007 (DOMAIN.md section 7)
    assert one.capacity_by_year[2008].p50 < one.capacity_by_year[2006].p50
    assert one.capacity_by_year[2006].p50 == pytest.approx(
        one.capacity["capacity_ct_per_year"].p50, rel=1e-9)


def test_timeline_refuses_unsourced_dates_and_unknown_names():
    with pytest.raises(InvalidParameterError, match="source"):
        _sheet(activity=[{"start": "2005-01-01"}])
    with pytest.raises(InvalidParameterError, match="unknown"):
        _sheet(workforce=[{"start_year": 2006, "end_year": 2008, "parameter": "miners.x",
                           "source": "t"}])
    with pytest.raises(InvalidParameterError, match="before it starts"):
        _sheet(activity=[{"start": "2005-01-01", "end": "2004-01-01", "source": "t"}])


def test_marange_produces_nothing_before_2006():
    fp = compute_footprint("zw-marange", load_sheet("zw-marange"), None, seed=1, draws=2000,
                           current_year=2012)
    assert fp.capacity_by_year[2005].p95 == 0.0
    assert fp.capacity_by_year[2006].p50 > 0.0
    assert fp.capacity_by_year[2010].p50 > fp.capacity_by_year[2008].p50   # plants from 2009


def test_other_producers_follow_their_periods():
    producers = {p.id: p for p in load_producers().of("ZWE")}
    assert set(producers) >= {"zw-murowa", "zw-river-ranch"}
    murowa = compute_producer_capacity(producers["zw-murowa"], seed=5, draws=2000,
                                       current_year=2020)
    assert murowa.summaries["capacity_ct.2003"].p95 == 0.0
    assert murowa.summaries["capacity_ct.2010"].p50 == 403_000.0   # USGS facilities layer
    assert 0 < murowa.summaries["capacity_ct.2004"].p50 < 403_000.0
    ranch = compute_producer_capacity(producers["zw-river-ranch"], seed=5, draws=2000,
                                      current_year=2020)
    assert ranch.summaries["capacity_ct.2019"].p95 == 0.0        # care and maintenance
    assert ranch.summaries["capacity_ct.2010"].p50 > 0.0
    again = compute_producer_capacity(producers["zw-murowa"], seed=5, draws=2000,
                                      current_year=2020)
    assert again.draws_sha256 == murowa.draws_sha256
