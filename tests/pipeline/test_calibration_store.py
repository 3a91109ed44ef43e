"""Calibrations are stored per footprint version: a later report reuses the table, a new
version of a footprint does not see the old one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from footprint.pipeline import calibrate as calibration_pipeline
from footprint.pipeline.report import make_report
from footprint.reports.inputs import FieldFootprint

N = 400
YEARS = (2008, 2013)


def _footprint(version: str) -> FieldFootprint:
    rng = np.random.default_rng(4)
    base = rng.lognormal(math.log(5e4), 0.4, N)
    return FieldFootprint(
        field_id="tg-plateaux", capacity_ct_per_year=base,
        value_usd_per_ct=rng.lognormal(math.log(60), 0.2, N), size_shares=None,
        version=version, seed=4, sheet_sha256="0" * 64, code_version="test",
        capacity_by_year={y: base for y in range(YEARS[0], YEARS[1] + 1)}, synthetic=True)


@pytest.fixture
def count_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    runs: list[int] = []
    real = calibration_pipeline.calibrate

    def counted(*args, **kwargs):
        runs.append(kwargs["reps"])
        return real(*args, **kwargs)

    monkeypatch.setattr(calibration_pipeline, "calibrate", counted)
    return runs


def test_the_second_report_reuses_the_stored_calibration(settings, count_runs):
    v1 = _footprint("v1")
    first = make_report("TGO", *YEARS, footprints=lambda fid: v1, settings=settings,
                        calibrate_reps=8)
    stored = list(settings.state.calibrations("TGO").glob("*.json"))
    assert count_runs == [8] and len(stored) == 1
    again = make_report("TGO", *YEARS, footprints=lambda fid: v1, settings=settings,
                        calibrate_reps=8)
    shown = make_report("TGO", *YEARS, footprints=lambda fid: v1, settings=settings)
    assert count_runs == [8]  # read back, not simulated again
    assert again["characteristics"] == first["characteristics"]
    assert shown["characteristics"] == first["characteristics"]  # shown without asking
    params = shown["characteristics"]["parameters"]
    assert params["period"] == list(YEARS) and shown["characteristics"]["reps"] == 8
    assert "v1" in [f["version"] for f in params["footprints"]] and params["code_version"]


def test_a_new_footprint_version_invalidates_the_stored_calibration(settings, count_runs):
    v1, v2 = _footprint("v1"), _footprint("v2")
    make_report("TGO", *YEARS, footprints=lambda fid: v1, settings=settings, calibrate_reps=6)
    fresh = make_report("TGO", *YEARS, footprints=lambda fid: v2, settings=settings)
    assert fresh["characteristics"] is None  # v1's table is not shown for v2
    make_report("TGO", *YEARS, footprints=lambda fid: v2, settings=settings, calibrate_reps=6)
    assert count_runs == [6, 6]
    assert len(list(settings.state.calibrations("TGO").glob("*.json"))) == 2
