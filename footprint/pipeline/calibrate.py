"""Glue for the calibration harness and the reports' market model.

Reads the KP statistics (:func:`footprint.io.kpstats.load_kp_production`), builds the
out-of-sample price index and series dynamics for a participant (every participant but
it), gets its field footprints from a provider (as :func:`footprint.pipeline.report.make_report`
does) and calls :func:`footprint.calibration.calibrate`. Operating characteristics are
cached per footprint version, period and seed (in-process), so a report shows them
without re-simulating.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from footprint import protocols as P
from footprint.calibration import (
    CalibrationResult,
    CalibrationSetup,
    calibrate,
    setup_from_footprints,
)
from footprint.reports.inputs import FieldFootprint
from footprint.settings import Settings, get_settings

_YEARS = re.compile(r"\b((?:19|20)\d\d)\s*[-–]\s*((?:19|20)\d\d)\b")
_CACHE: dict[tuple, CalibrationResult] = {}


def value_reference_years(source_text: str) -> tuple[int, int] | None:
    """The ``YYYY-YYYY`` span a value sheet's source names (its fit years), or None."""
    match = _YEARS.search(source_text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def market_and_series(kp_annual: Any, participant: str,
                      fields: Sequence[FieldFootprint]) -> tuple[P.MarketModel, P.SeriesModel]:
    """The participant's market model (index of the *other* participants, rebased on the
    value footprints' fit years) and the KP-like volume series model."""
    from footprint.value import rough_price_index

    index = rough_price_index(kp_annual, exclude=[participant])
    spans = [f.value_reference_years for f in fields if f.value_reference_years]
    ref_years = sorted({y for a, b in spans for y in range(a, b + 1)}) or None
    index = index.rebased(ref_years)
    market = P.MarketModel(index=dict(index.index_by_year), annual_sd_ln=index.annual_sd_ln,
                           annual_ar1=index.annual_ar1)
    return market, P.kp_series_dynamics(kp_annual, exclude=[participant])


def participant_fields(participant: str, footprints: Any = None,
                       settings: Settings | None = None) -> list[FieldFootprint]:
    """A participant's field footprints (``footprints``: ``field_id -> FieldFootprint |
    FootprintResult``, default the provider ``footprint report`` uses) and its other
    producers (``datasets/producers.yaml``), as a report reads them."""
    from footprint.pipeline.report import (
        as_field_footprint,
        default_footprint_provider,
        fields_of,
        other_producer_footprints,
    )

    settings = settings or get_settings()
    provider = footprints or default_footprint_provider(settings)
    fields = [as_field_footprint(provider(fid)) for fid in fields_of(participant)]
    return fields + other_producer_footprints(participant, draws=fields[0].n_draws,
                                              base_seed=settings.seed)


def participant_setup(participant: str, year_from: int, year_to: int,
                      fields: Sequence[FieldFootprint], settings: Settings | None = None
                      ) -> CalibrationSetup:
    """The harness's :class:`footprint.calibration.CalibrationSetup` of a participant:
    its fields, the market of the other participants and the KP-like series model."""
    from footprint.io.kpstats import load_kp_production

    settings = settings or get_settings()
    kp = load_kp_production(settings.data_dir)
    market, series = market_and_series(kp.annual(), participant, fields)
    return setup_from_footprints(fields, range(year_from, year_to + 1), market,
                                 volume_series=series)


def calibrate_participant(participant: str, year_from: int, year_to: int, *, reps: int = 1000,
                          seed: int = 0, footprints: Any = None,
                          settings: Settings | None = None) -> CalibrationResult:
    """:func:`footprint.calibration.calibrate` on a participant's footprints and period.

    ``footprints``: ``field_id -> FieldFootprint | FootprintResult`` (default: the same
    provider ``footprint report`` uses). Cached per (field versions, period, reps, seed).
    """
    from footprint.errors import InvalidParameterError

    settings = settings or get_settings()
    participant = participant.strip().upper()
    if year_from > year_to:
        raise InvalidParameterError(f"--from {year_from} is after --to {year_to}")
    if not 1 <= reps <= 100_000:
        raise InvalidParameterError("--reps must be between 1 and 100000")
    fields = participant_fields(participant, footprints, settings)
    key = (participant, tuple(f.version for f in fields), year_from, year_to, reps, seed)
    if key in _CACHE:
        return _CACHE[key]
    setup = participant_setup(participant, year_from, year_to, fields, settings)
    result = calibrate(setup, reps=reps, seed=seed)
    result.parameters["participant"] = participant
    result.parameters["footprints"] = [f.metadata() for f in fields]
    _CACHE[key] = result
    return result


def cached_characteristics(participant: str, versions: Sequence[str], year_from: int,
                           year_to: int) -> CalibrationResult | None:
    """A calibration already computed for these footprint versions and period, if any."""
    for key, result in _CACHE.items():
        if key[:4] == (participant, tuple(versions), year_from, year_to):
            return result
    return None


#: The README's real-data cases: (participant, first year, last year, what must be caught).
CASES: tuple[tuple[str, int, int, str], ...] = (
    ("TGO", 2003, 2004, "above capacity (more carats than Togo's fields can give)"),
    ("CIV", 2006, 2013, "no declared production under the UN embargo"),
)
README_START, README_END = "<!-- cases:start -->", "<!-- cases:end -->"


def case_table(reports: dict[str, dict]) -> str:
    """A markdown table of the volume verdicts of :data:`CASES`, read from computed
    reports (``participant -> report``); nothing in it is typed by hand."""
    lines = [("| participant | year | declared (ct) | KP record | capacity P50 (ct/yr) | "
              "p (BH) | verdict | tail | expected |"), "|---|---|---|---|---|---|---|---|---|"]
    for code, first, last, expected in CASES:
        report = reports[code]
        volume = {t["period"]: t for t in report["tests"] if t["name"] == "volume_vs_capacity"}
        for year in range(first, last + 1):
            t = volume[str(year)]
            ev = t["evidence"]
            lines.append(f"| {code} | {year} | {ev['declared_ct']:,.0f} | "
                         f"{ev['declared_status'].replace('_', ' ')} | "
                         f"{ev['capacity_ct']['p50']:,.0f} | {t['p_adjusted']:.2g} | "
                         f"{t['verdict']} | {ev['tail']} | {expected} |")
    return "\n".join(lines)


def write_case_table(readme_text: str, table: str) -> str:
    """``readme_text`` with the text between the case markers replaced by ``table``."""
    if README_START not in readme_text or README_END not in readme_text:
        return readme_text.rstrip() + f"\n\n{README_START}\n{table}\n{README_END}\n"
    head, rest = readme_text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_START}\n{table}\n{README_END}{tail}"
