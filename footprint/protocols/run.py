"""Every p-valued protocol on one participant and period (what reports and the harness run)."""

from __future__ import annotations

import math

import numpy as np

from footprint.protocols.breaks import break_value_test, break_volume_test
from footprint.protocols.data import MIN_BREAK_YEARS, MIN_SHIPMENTS, ProtocolData
from footprint.protocols.shipments import compare_shipment_values
from footprint.protocols.sizes import compare_size_distribution
from footprint.protocols.value import compare_value_band
from footprint.protocols.verdicts import DEFAULT_THRESHOLDS, TestResult, VerdictThresholds, _span
from footprint.protocols.volume import compare_volume


def protocol_seeds(seed: int) -> list[int]:
    """The seeds of the volume break, value break and size tests of a report seeded
    ``seed`` (spawned ``SeedSequence`` children; the harness reuses them)."""
    return [int(x.generate_state(1)[0]) for x in np.random.SeedSequence(seed).spawn(3)]


def run_protocols(data: ProtocolData, *, seed: int = 0, n_sim: int = 999,
                  thresholds: VerdictThresholds = DEFAULT_THRESHOLDS
                  ) -> tuple[list[TestResult], list[dict[str, str]]]:
    """The p-valued protocols on one participant and period, before the FDR step.

    Volume per year, value band per priced year, breaks in volume and US$/ct, the
    shipment test and the size test where certificates allow. The report
    (:func:`footprint.reports.build_report`) and the calibration harness
    (:mod:`footprint.calibration`) both call this, so what is calibrated is what is
    reported. ``seed`` seeds the simulated null distributions (breaks, size bootstrap).
    Returns ``(results, not_run)``; ``not_run`` names each test that could not run.
    """
    data = data.with_predictive()
    years = [int(y) for y in data.years]
    declared = np.asarray(data.declared_ct, dtype="float64")
    usd = np.asarray(data.declared_usd, dtype="float64")
    values = np.asarray(data.value_draws_usd_per_ct, dtype="float64")
    tests: list[TestResult] = []
    not_run: list[dict[str, str]] = []
    priced = 0
    for t, year in enumerate(years):
        cap = data.capacity_by_year[t]
        tests.append(compare_volume(float(declared[t]), cap, period=str(year),
                                    status=data.status[t], utilisation=data.utilisation,
                                    thresholds=thresholds))
        price = usd[t] / declared[t] if declared[t] > 0 else math.nan
        if math.isfinite(price) and price > 0:
            tests.append(compare_value_band(price, values, index=data.market.at(year),
                                            annual_sd_ln=data.market.annual_sd_ln,
                                            period=str(year), thresholds=thresholds))
            priced += 1
    seeds = protocol_seeds(seed)
    if len(years) >= MIN_BREAK_YEARS:
        tests.append(break_volume_test(data, seed=seeds[0], n_sim=n_sim, thresholds=thresholds))
    else:
        not_run.append({"name": "break_volume",
                        "reason": f"{len(years)} year(s); at least {MIN_BREAK_YEARS} needed"})
    value_break = break_value_test(data, seed=seeds[1], n_sim=n_sim, thresholds=thresholds)
    if value_break is not None:
        tests.append(value_break)
    else:
        not_run.append({"name": "break_value", "reason": f"US$/ct declared in {priced} "
                        f"year(s); at least {MIN_BREAK_YEARS} needed"})
    certs = data.certificates
    span = _span(years)
    if certs is None or len(certs.usd_per_ct) == 0:
        for name in ("shipment_values", "size_distribution"):
            not_run.append({"name": name, "reason": "no certificate records of this "
                                                    "participant in the period"})
        return tests, not_run
    prices = np.asarray(certs.usd_per_ct, dtype="float64")
    ok = np.isfinite(prices) & (prices > 0)
    if ok.sum() >= MIN_SHIPMENTS:
        idx = np.array([data.market.at(y) for y in certs.year])
        tests.append(compare_shipment_values(
            prices, values, index=idx, shipment_years=np.asarray(certs.year),
            annual_sd_ln=data.market.annual_sd_ln, annual_ar1=data.market.annual_ar1,
            period=span, thresholds=thresholds))
    else:
        not_run.append({"name": "shipment_values", "reason": f"{int(ok.sum())} certificate(s) "
                        f"with a finite US$/ct; at least {MIN_SHIPMENTS}"})
    if certs.stones is None or np.asarray(certs.stones).sum() == 0:
        not_run.append({"name": "size_distribution",
                        "reason": "no certificate has a sieve-class breakdown"})
    elif data.stone_share is None or data.size_classes is None:
        not_run.append({"name": "size_distribution",
                        "reason": "the footprints have no size distribution"})
    else:
        tests.append(compare_size_distribution(
            certs.stones, data.stone_share, classes=data.size_classes,
            concentration=data.size_concentration, null=data.size_null, seed=seeds[2],
            n_boot=n_sim, period=span, thresholds=thresholds))
    return tests, not_run
