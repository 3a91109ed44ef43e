"""Glue for the calibration harness and the reports' market model.

Reads the KP statistics (:func:`footprint.io.kpstats.load_kp_production`), builds the
out-of-sample price index and series dynamics for a participant (every participant but
it), gets its field footprints from a provider (as :func:`footprint.pipeline.report.make_report`
does) and calls :func:`footprint.calibration.calibrate`. Operating characteristics are
stored per footprint version, period, replicates and seed in the state directory
(``calibrations/<participant>/``), so later reports of the same versions show them
without re-simulating.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from footprint import protocols as P
from footprint.calibration import (
    CalibrationResult,
    CalibrationSetup,
    calibrate,
    setup_from_footprints,
)
from footprint.errors import InvalidParameterError
from footprint.io.kpstats import load_kp_production
from footprint.provenance import code_version, sha256_json
from footprint.reports.inputs import FieldFootprint
from footprint.settings import Settings, get_settings
from footprint.value import rough_price_index

_YEARS = re.compile(r"\b((?:19|20)\d\d)\s*[-–]\s*((?:19|20)\d\d)\b")


def value_reference_years(source_text: str) -> tuple[int, int] | None:
    """The ``YYYY-YYYY`` span a value sheet's source names (its fit years), or None."""
    match = _YEARS.search(source_text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def market_and_series(kp_annual: Any, participant: str,
                      fields: Sequence[FieldFootprint]) -> tuple[P.MarketModel, P.SeriesModel]:
    """The participant's market model (index of the *other* participants, rebased on the
    value footprints' fit years) and the KP-like volume series model."""
    index = rough_price_index(kp_annual, exclude=[participant])
    spans = [f.value_reference_years for f in fields if f.value_reference_years]
    ref_years = sorted({y for a, b in spans for y in range(a, b + 1)}) or None
    index = index.rebased(ref_years)
    market = P.MarketModel(index=dict(index.index_by_year), annual_sd_ln=index.annual_sd_ln,
                           annual_ar1=index.annual_ar1)
    return market, P.kp_series_dynamics(kp_annual, exclude=[participant])


def participant_fields(participant: str, footprints: Any = None,
                       settings: Settings | None = None,
                       on_field: Callable[[str, int, int], None] | None = None
                       ) -> list[FieldFootprint]:
    """A participant's field footprints (``footprints``: ``field_id -> FieldFootprint |
    FootprintResult``, default the provider ``footprint report`` uses) and its other
    producers (``datasets/producers.yaml``), as a report reads them.
    ``on_field(field_id, i, n)`` before the ``i``-th of ``n`` footprints is read."""
    from footprint.pipeline.report import (
        as_field_footprint,
        default_footprint_provider,
        fields_of,
        other_producer_footprints,
    )

    settings = settings or get_settings()
    provider = footprints or default_footprint_provider(settings)
    ids = fields_of(participant)
    fields = []
    for i, fid in enumerate(ids):
        if on_field is not None:
            on_field(fid, i, len(ids))
        fields.append(as_field_footprint(provider(fid)))
    return fields + other_producer_footprints(participant, draws=fields[0].n_draws,
                                              base_seed=settings.seed)


def participant_setup(participant: str, year_from: int, year_to: int,
                      fields: Sequence[FieldFootprint], settings: Settings | None = None
                      ) -> CalibrationSetup:
    """The harness's :class:`footprint.calibration.CalibrationSetup` of a participant:
    its fields, the market of the other participants and the KP-like series model."""
    settings = settings or get_settings()
    kp = load_kp_production(settings.data_dir)
    market, series = market_and_series(kp.annual(), participant, fields)
    return setup_from_footprints(fields, range(year_from, year_to + 1), market,
                                 volume_series=series)


def _versions_key(participant: str, fields: Sequence[FieldFootprint], year_from: int,
                  year_to: int) -> str:
    """What a calibration is valid for: the footprint versions (with their sheets, seeds and
    draws), the period and the code version; 16 hex of its sha256."""
    versions = [{"field_id": f.field_id, "version": f.version, "sheet_sha256": f.sheet_sha256,
                 "seed": int(f.seed), "n_draws": f.n_draws} for f in fields]
    return sha256_json({"participant": participant, "versions": versions,
                        "period": [year_from, year_to], "code_version": code_version()})[:16]


def calibration_path(settings: Settings, participant: str, fields: Sequence[FieldFootprint],
                     year_from: int, year_to: int, reps: int, seed: int) -> Path:
    """``calibrations/<participant>/<versions key>-<reps>-<seed>.json`` in the state dir."""
    key = _versions_key(participant, fields, year_from, year_to)
    return settings.state.calibrations(participant) / f"{key}-{reps}-{seed}.json"


def _store(path: Path, result: CalibrationResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees half a table


def _load(path: Path) -> CalibrationResult | None:
    try:
        return CalibrationResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or unreadable: computed again


def calibrate_participant(participant: str, year_from: int, year_to: int, *, reps: int = 1000,
                          seed: int = 0, footprints: Any = None,
                          settings: Settings | None = None,
                          on_replicate: Callable[[int, int], None] | None = None
                          ) -> CalibrationResult:
    """:func:`footprint.calibration.calibrate` on a participant's footprints and period.

    ``footprints``: ``field_id -> FieldFootprint | FootprintResult`` (default: the same
    provider ``footprint report`` uses). Stored per footprint version in the state
    directory (:func:`calibration_path`, with reps, seed, code version and the footprint
    versions in the file) and read back instead of simulated again; a new footprint
    version (or code version) has another key, so an old table is never shown for it.
    ``on_replicate(done, reps)``: called after each simulated replicate.
    """
    settings = settings or get_settings()
    participant = participant.strip().upper()
    if year_from > year_to:
        raise InvalidParameterError(f"--from {year_from} is after --to {year_to}")
    if not 1 <= reps <= 100_000:
        raise InvalidParameterError("--reps must be between 1 and 100000")
    fields = participant_fields(participant, footprints, settings)
    path = calibration_path(settings, participant, fields, year_from, year_to, reps, seed)
    stored = _load(path)
    if stored is not None:
        return stored
    setup = participant_setup(participant, year_from, year_to, fields, settings)
    result = calibrate(setup, reps=reps, seed=seed, on_replicate=on_replicate)
    result.parameters.update({
        "participant": participant, "period": [year_from, year_to],
        "code_version": code_version(), "footprints": [f.metadata() for f in fields],
        "versions_key": path.name.split("-", 1)[0],
        "stored_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
    _store(path, result)
    return result


def cached_characteristics(participant: str, fields: Sequence[FieldFootprint], year_from: int,
                           year_to: int, settings: Settings | None = None
                           ) -> CalibrationResult | None:
    """The stored calibration of these footprint versions and period with the most
    replicates, if any (what a report without ``--calibrate-reps`` shows)."""
    settings = settings or get_settings()
    key = _versions_key(participant, fields, year_from, year_to)
    found = []
    for path in settings.state.calibrations(participant).glob(f"{key}-*.json"):
        result = _load(path)
        if result is not None:
            found.append(result)
    return max(found, key=lambda r: r.reps, default=None)


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
