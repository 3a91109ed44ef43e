"""Make an anomaly report for a participant and period: declared data + footprints -> report.

Glue only: the KP production statistics come from :func:`footprint.io.kpstats.load_kp_production`,
uploads are parsed by :mod:`footprint.declarations`, the participant's fields come from the
catalogue, their footprints from a ``footprint_provider(field_id)`` (injectable: storage
plugs its stored versions in; the default computes the field's default parameter sheet
with the settings' seed and draws), and :func:`footprint.reports.build_report` does the
statistics.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footprint.declarations import parse_certificates, parse_exports
from footprint.errors import InvalidParameterError, NotFoundError
from footprint.io.kpstats import load_kp_production
from footprint.pipeline.calibrate import (
    cached_characteristics,
    calibrate_participant,
    market_and_series,
    participant_fields,
    value_reference_years,
)
from footprint.provenance import sha256_file
from footprint.reports import FieldFootprint, ReportInputs, build_report
from footprint.settings import Settings, get_settings

#: ``field_id -> FieldFootprint`` or a FootprintResult-like object (see
#: :func:`as_field_footprint`).
FootprintProvider = Callable[[str], Any]
#: ``progress(pct, message)`` between the steps of a report (pct in [0, 100]); raising
#: stops the report (a dismissed job's progress does)
ReportProgress = Callable[[float, str], None]


def _unwatched(pct: float, message: str) -> None:
    """The progress of a report nobody follows."""


def _parameter_summary(spec: dict) -> dict:
    """A parameter as the report shows it: no source text, and an empirical distribution
    (e.g. an evidence posterior of 1,000 quantiles) as its size and P5/P50/P95."""
    out = {k: v for k, v in spec.items() if k != "source"}
    samples = out.get("samples")
    if isinstance(samples, list) and len(samples) > 20:
        p5, p50, p95 = np.percentile(np.asarray(samples, dtype="float64"), [5, 50, 95])
        out["samples"] = {"n": len(samples), "p5": float(p5), "p50": float(p50),
                          "p95": float(p95)}
    return out


def as_field_footprint(result: Any, *, version: str | None = None) -> FieldFootprint:
    """Adapt a :class:`footprint.footprints.FootprintResult` (or a FieldFootprint) for reports.

    Reads the long table of draws: ``capacity_ct_per_year``, ``usd_per_ct`` and the
    capacity per year ``capacity_ct.<year>`` of every year of the span (older footprints
    without it: the imagery series ``capacity_imagery_ct.<year>`` where it exists); the size
    footprint's mean carat share per common class; seed, sheet sha256 and code version
    from the provenance. ``version`` defaults to the provenance's ``version`` or, for an
    unstored footprint, ``"draws:<first 12 hex of the draws sha256>"``.
    """
    if isinstance(result, FieldFootprint):
        return result
    sim = result.simulation
    prov = dict(result.provenance)
    if "usd_per_ct" not in sim.parameters and "usd_per_ct" not in getattr(sim, "summaries", {}):
        raise InvalidParameterError(f"footprint of {result.field_id} has no usd_per_ct draws",
                                    hint="add usd_per_ct to the field's parameter sheet")
    span = getattr(result, "capacity_by_year", None) or {}
    column = "capacity_ct" if span else "capacity_imagery_ct"
    by_year = {int(y): np.asarray(sim.column(f"{column}.{y}"), dtype="float64")
               for y in (span or result.capacity_series or {})}
    size = None if result.size is None else {str(k): float(v)
                                             for k, v in result.size["mean"].items()}
    # P5-P95 of a normal spans 3.29 sd: the footprint's own uncertainty of each share
    size_sd = None if result.size is None or not {"p5", "p95"} <= set(result.size.columns) else {
        str(k): float(hi - lo) / 3.29
        for k, lo, hi in zip(result.size.index, result.size["p5"], result.size["p95"], strict=True)}
    sheet = prov.get("sheet") or {}
    params = {name: _parameter_summary(spec)
              for name, spec in (sheet.get("parameters") or {}).items()
              if isinstance(spec, dict)}
    label = version or prov.get("version") or f"draws:{str(prov.get('draws_sha256', ''))[:12]}"
    value_spec = (sheet.get("parameters") or {}).get("usd_per_ct") or {}
    ref_years = value_reference_years(str(value_spec.get("source", "")))
    return FieldFootprint(
        field_id=result.field_id,
        capacity_ct_per_year=np.asarray(sim.column("capacity_ct_per_year"), dtype="float64"),
        value_usd_per_ct=np.asarray(sim.column("usd_per_ct"), dtype="float64"),
        size_shares=size, size_share_sd=size_sd, version=str(label),
        seed=int(prov.get("seed", -1)),
        sheet_sha256=str(prov.get("sheet_sha256", "")),
        code_version=str(prov.get("code_version", "")), parameters=params,
        capacity_by_year=by_year or None, value_reference_years=ref_years,
        sensitivity=getattr(result, "sensitivity", None))


def other_producer_footprints(participant: str, *, draws: int, base_seed: int,
                              current_year: int | None = None) -> list[FieldFootprint]:
    """The participant's producers outside the modelled fields (``datasets/producers.yaml``)
    as FieldFootprint objects of kind ``"other_producer"``.

    Each is a seeded Monte Carlo (seed ``field_seed(base_seed, producer id)``) with
    ``draws`` draws, so it sums draw by draw with the fields.
    """
    from footprint.footprints import compute_producer_capacity
    from footprint.params import load_producers
    from footprint.provenance import code_version, sha256_json
    from footprint.simulation import field_seed

    out = []
    for producer in load_producers().of(participant):
        seed = field_seed(base_seed, producer.id)
        sim = compute_producer_capacity(producer, seed=seed, draws=draws,
                                        current_year=current_year)
        by_year = {int(name.rsplit(".", 1)[1]): np.asarray(sim.column(name), dtype="float64")
                   for name in sim.outputs if name.startswith("capacity_ct.")}
        spec = producer.model_dump(mode="json", exclude_none=True)
        params = {name: {k: v for k, v in p.items() if k != "source"}
                  for name, p in spec["parameters"].items()}
        out.append(FieldFootprint(
            field_id=producer.id, title=producer.title, kind="other_producer",
            capacity_ct_per_year=np.asarray(sim.column("capacity_now_ct_per_year"), "float64"),
            value_usd_per_ct=np.asarray(sim.column("usd_per_ct"), dtype="float64"),
            size_shares=None, version=f"producers:{sha256_json(spec)[:12]}", seed=seed,
            sheet_sha256=sha256_json(spec), code_version=code_version(),
            parameters={**params, "status": producer.status,
                        "periods": spec["periods"]},
            capacity_by_year=by_year))
    return out


def default_footprint_provider(settings: Settings | None = None) -> FootprintProvider:
    """Compute a field's footprint afresh: delineation with the data present, then the
    Monte Carlo of its default parameter sheet (``datasets/parameters``).

    Uses the settings' ``seed`` and ``draws``; nothing is stored (stored versions come in
    through another provider). The version label is ``draws:<sha256 prefix>``.
    """
    from footprint.footprints import compute_footprint
    from footprint.params import load_sheet
    from footprint.pipeline.delineate import delineate_field
    from footprint.simulation import field_seed

    settings = settings or get_settings()

    def provide(field_id: str) -> FieldFootprint:
        delineation = delineate_field(field_id, None, settings=settings)
        result = compute_footprint(field_id, load_sheet(field_id), delineation.deposits,
                                   delineation.stream_length_km,
                                   seed=field_seed(settings.seed, field_id),
                                   draws=settings.draws)
        return as_field_footprint(result)

    return provide


def fields_of(participant: str) -> list[str]:
    """Catalogue field ids whose KP participant is ``participant`` (sorted)."""
    from footprint.catalogue import load_catalogue

    ids = sorted(fid for fid, f in load_catalogue().items() if f.participant_iso3 == participant)
    if not ids:
        raise NotFoundError(f"no field of participant {participant} in the catalogue",
                            hint="participants with fields: GHA, CIV, TGO, ZWE")
    return ids


def make_report(participant: str, year_from: int, year_to: int,
                exports_csv: str | Path | pd.DataFrame | None = None,
                certificates_csv: str | Path | pd.DataFrame | None = None,
                footprints: FootprintProvider | None = None,
                settings: Settings | None = None,
                provenance: Mapping[str, Any] | None = None,
                calibrate_reps: int = 0,
                progress: ReportProgress | None = None) -> dict[str, Any]:
    """The anomaly report of ``participant`` over ``year_from``-``year_to`` (inclusive).

    ``calibrate_reps`` > 0 runs the calibration harness (stored per footprint version and
    period in the state directory, :func:`footprint.pipeline.calibrate.calibrate_participant`)
    so each test row shows its size and power; 0 shows a stored calibration if one exists
    for these footprint versions and period.

    Parameters
    ----------
    participant
        ISO3 code (upper case) of a participant with fields in the catalogue.
    exports_csv, certificates_csv
        optional uploads (schemas in :mod:`footprint.declarations`), as files (their
        sha256 goes to the provenance) or tables in the upload schema; parsed
        all-or-nothing.
    footprints
        ``field_id -> FieldFootprint | FootprintResult``; default
        :func:`default_footprint_provider`.
    settings
        default :func:`footprint.settings.get_settings` (data directory, seed, draws).
    provenance
        entries added to the report's provenance (e.g. the checksums of stored uploads).
    progress
        ``progress(pct, message)`` before each step: each footprint read, each
        calibration replicate, the protocols. An exception it raises stops the report.

    Returns
    -------
    dict
        the report (:data:`footprint.reports.REPORT_JSON_SCHEMA`).
    """
    settings = settings or get_settings()
    participant = participant.strip().upper()
    if year_from > year_to:
        raise InvalidParameterError(f"--from {year_from} is after --to {year_to}")
    step = progress or _unwatched
    provenance = dict(provenance or {})
    step(5, "reading the declarations and the KP statistics")
    exports, certificates = _parse_uploads(exports_csv, certificates_csv, provenance)
    kp = load_kp_production(settings.data_dir)
    provenance.update(_kp_provenance(kp, participant, year_from, year_to))

    def on_field(field_id: str, i: int, n: int) -> None:
        step(10 + 50 * i / n, f"reading the footprint of {field_id} ({i + 1} of {n})")

    def on_replicate(done: int, reps: int) -> None:
        step(60 + 20 * done / reps, f"calibration: replicate {done} of {reps}")

    fields = participant_fields(participant, footprints, settings, on_field=on_field)
    market, series = market_and_series(kp.annual(), participant, fields)
    oc = _characteristics(participant, year_from, year_to, fields, settings, calibrate_reps,
                          on_replicate)
    step(80, "running the protocols")
    provenance["market"] = ("rough-diamond price index of every KP participant but "
                            f"{participant} (time-dummy fit), rebased on the value "
                            "footprints' fit years")
    inputs = ReportInputs(participant=participant, year_from=year_from, year_to=year_to,
                          production=kp.halfyear, fields=fields, exports=exports,
                          certificates=certificates, provenance=provenance, market=market,
                          volume_series=series,
                          characteristics=None if oc is None else oc.to_dict())
    return build_report(inputs)


def _parse_uploads(exports_csv: str | Path | pd.DataFrame | None,
                   certificates_csv: str | Path | pd.DataFrame | None,
                   provenance: dict[str, Any]) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The uploads parsed all-or-nothing; a file's sha256 goes to ``provenance``."""
    exports = certificates = None
    if isinstance(exports_csv, pd.DataFrame):
        exports = parse_exports(exports_csv)
    elif exports_csv is not None:
        exports = parse_exports(Path(exports_csv))
        provenance["exports_sha256"] = sha256_file(exports_csv)
    if isinstance(certificates_csv, pd.DataFrame):
        certificates = parse_certificates(certificates_csv)
    elif certificates_csv is not None:
        certificates = parse_certificates(Path(certificates_csv))
        provenance["certificates_sha256"] = sha256_file(certificates_csv)
    return exports, certificates


def _kp_provenance(kp: Any, participant: str, year_from: int, year_to: int) -> dict[str, Any]:
    """The KP statistics file behind a report and the quirks of its rows in the period."""
    out: dict[str, Any] = {}
    if kp.source is not None:
        out["kp_production_csv"] = kp.source.name
        out["kp_production_sha256"] = sha256_file(kp.source)
    out["kp_quirks"] = [
        f"{q['kind']}: {q['detail']}" for q in kp.quirks
        if q["participant"] == participant and q["year"] is not None
        and year_from <= q["year"] <= year_to]
    return out


def _characteristics(participant: str, year_from: int, year_to: int,
                     fields: list[FieldFootprint], settings: Settings, calibrate_reps: int,
                     on_replicate: Callable[[int, int], None] | None = None) -> Any:
    """The calibration to show: run (or read back) at ``calibrate_reps`` > 0, else the
    stored one of these footprint versions and period, if any."""
    if calibrate_reps > 0:
        by_id = {f.field_id: f for f in fields}
        return calibrate_participant(participant, year_from, year_to, reps=calibrate_reps,
                                     footprints=by_id.__getitem__, settings=settings,
                                     on_replicate=on_replicate)
    return cached_characteristics(participant, fields, year_from, year_to, settings)


_PIN = re.compile(r"^(?:(?P<field>[a-z][a-z0-9-]*):)?(?P<version>[1-9][0-9]{0,9})$")


def parse_version_pins(participant: str, text: str | None) -> dict[str, int]:
    """``field_id -> version`` from ``?version=`` / ``--version``.

    ``"3"`` pins version 3 of the participant's only field; ``"ci-seguela:2,ci-tortiya:4"``
    pins each named field (fields not named use their latest version). Raises
    :class:`InvalidParameterError` for another syntax, a bare number when the participant
    has several fields, or a field of another participant.
    """
    if text is None or not text.strip():
        return {}
    fields = fields_of(participant.strip().upper())
    pins: dict[str, int] = {}
    for part in text.split(","):
        match = _PIN.match(part.strip())
        if match is None:
            raise InvalidParameterError(f"version must be N or FIELD:N[,FIELD:N], got {part!r}")
        field_id = match["field"]
        if field_id is None:
            if len(fields) != 1:
                raise InvalidParameterError(
                    f"{participant.upper()} has several fields: pin each as FIELD:N",
                    hint=f"fields: {', '.join(fields)}")
            field_id = fields[0]
        if field_id not in fields:
            raise InvalidParameterError(f"{field_id!r} is not a field of {participant.upper()}",
                                        hint=f"fields: {', '.join(fields)}")
        pins[field_id] = int(match["version"])
    return pins


def stored_report(store: Any, settings: Settings, participant: str, year_from: int,
                  year_to: int, *, versions: Mapping[str, int] | None = None,
                  exports_csv: str | Path | None = None,
                  certificates_csv: str | Path | None = None,
                  calibrate_reps: int = 0, progress: ReportProgress | None = None) -> dict:
    """The anomaly report of ``participant`` from the stored footprints and the stored
    export statistics and certificates: what the service answers, and ``footprint report``.

    Parameters
    ----------
    versions
        ``field_id -> version`` pins (:func:`parse_version_pins`); other fields use their
        latest stored version.
    exports_csv, certificates_csv
        A file used instead of the stored declarations of that kind (the CLI's
        ``--exports`` / ``--certificates``); validated as an upload is.
    progress
        Reported between steps (:func:`make_report`).

    Raises
    ------
    ConflictError
        A field of the participant has no stored footprint yet (build one first).
    NotFoundError
        A pinned version does not exist.
    """
    participant = participant.strip().upper()
    if year_from > year_to:
        raise InvalidParameterError("'from' must not be after 'to'")
    provenance: dict[str, Any] = {}
    exports = certificates = None
    if exports_csv is None:  # a given file replaces the stored rows (its sha256 is recorded)
        exports, exports_uploads = _stored_declarations(store, "exports")
        if exports is not None:
            provenance["exports_upload_sha256"] = exports_uploads
    if certificates_csv is None:
        certificates, certificates_uploads = _stored_declarations(store, "certificates")
        if certificates is not None:
            provenance["certificates_upload_sha256"] = certificates_uploads
    return make_report(participant, year_from, year_to,
                       exports_csv=exports if exports_csv is None else exports_csv,
                       certificates_csv=(certificates if certificates_csv is None
                                         else certificates_csv),
                       footprints=stored_footprint_provider(store, settings,
                                                            versions=versions),
                       settings=settings, provenance=provenance,
                       calibrate_reps=calibrate_reps, progress=progress)


def _stored_declarations(store: Any, kind: str) -> tuple[pd.DataFrame | None, list[str]]:
    """The stored declarations of ``kind`` (every upload) as one table in the upload schema,
    and the sha256 of each upload its rows come from (what the users sent)."""
    from footprint import declarations

    frame = store.declarations(kind)
    if frame.empty:
        return None, []
    # upload order (row id): a later upload of the same record corrects the earlier one
    frame = frame.sort_values("id")
    rows = pd.DataFrame(list(frame["row"])).assign(_upload_sha256=list(frame["sha256"]))
    if kind == "exports":
        rows = rows.drop_duplicates(subset=["participant", "period", "flow", "partner"],
                                    keep="last")
        columns = list(declarations.EXPORT_COLUMNS)
    else:
        rows["date"] = pd.to_datetime(rows["date"]).dt.strftime("%Y-%m-%d")
        rows = rows.drop_duplicates(subset=["certificate_id"], keep="last")
        sieves = [c for c in rows.columns if c.startswith(declarations.SIEVE_PREFIX)]
        columns = list(declarations.CERTIFICATE_COLUMNS) + sieves
    return rows[columns].reset_index(drop=True), sorted(set(rows["_upload_sha256"]))


def stored_footprint_provider(store: Any, settings: Settings, *,
                              versions: Mapping[str, int] | None = None) -> Callable[[str], Any]:
    """``field_id -> footprint`` for reports, from the field's stored version (the pinned
    one in ``versions``, else the latest) and its draws file (``FootprintResult``-like:
    simulation columns read from Parquet)."""
    from types import SimpleNamespace

    import pandas as pd
    import pyarrow.parquet as pq

    from footprint.errors import ConflictError
    from footprint.simulation import SimulationResult

    pins = dict(versions or {})

    def provide(field_id: str) -> Any:
        record = (store.get_footprint(field_id, pins[field_id]) if field_id in pins
                  else store.latest_footprint(field_id))
        if record is None or not record.draws_path:
            raise ConflictError(f"field {field_id} has no stored footprint yet",
                                hint="run the build-footprint process for it first")
        draws_path = settings.state_dir / record.draws_path
        columns = pq.read_schema(draws_path).names
        simulation = SimulationResult(
            seed=record.seed, draws=record.n_draws,
            chunk_draws=int(record.provenance.get("chunk_draws", 0)), parameters=columns,
            outputs=[], summaries={}, tails_trusted=bool(record.summaries.get("tails_trusted")),
            draws_path=draws_path)
        size = record.summaries.get("size")
        return SimpleNamespace(
            field_id=field_id, simulation=simulation,
            provenance={**record.provenance, "version": f"v{record.version}"},
            capacity_series=record.summaries.get("capacity_series") or {},
            capacity_by_year=record.summaries.get("capacity_by_year") or {},
            sensitivity=record.summaries.get("sensitivity"),
            size=pd.DataFrame(size).set_index("size_class") if size else None)

    return provide
