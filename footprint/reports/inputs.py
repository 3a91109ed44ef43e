"""What a report is built from: declared tables and the footprints of the participant's fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from footprint.errors import InvalidParameterError
from footprint.protocols import DEFAULT_THRESHOLDS, VerdictThresholds


@dataclass(frozen=True)
class FieldFootprint:
    """The parts of one field's footprint version that the protocols read.

    Attributes
    ----------
    field_id
        catalogue id (``gh-birim``).
    capacity_ct_per_year
        capacity draws, carats per year, shape ``(n_draws,)``.
    value_usd_per_ct
        value draws, US$ per carat, shape ``(n_draws,)`` (same draw index as capacity).
    size_shares
        carat share per common size class (:data:`footprint.value.COMMON_CLASSES`), or
        None when the footprint has no size distribution.
    version, seed, sheet_sha256, code_version
        provenance of the footprint version (sheet = the parameter sheet's sha256).
    parameters
        JSON-able summary of the parameters used (shown in the report).
    capacity_by_year
        ``year -> draws`` (ct/yr) for every year of the footprint's span: zero draws
        before a field starts or while a mode is off, the imagery series where it exists,
        depletion applied (:mod:`footprint.footprints`); overrides
        ``capacity_ct_per_year`` for those years.
    synthetic
        True for footprints made up for a demonstration (the report says so loudly).
    size_share_sd
        the footprint's uncertainty of each class share (standard deviation, e.g. from
        its P5-P95 band); the size test adds it to the sampling variance.
    kind
        ``"field"`` (a modelled alluvial field) or ``"other_producer"`` (a participant's
        producer outside the modelled fields, e.g. Murowa: ``datasets/producers.yaml``).
    title
        human-readable name (``"Murowa Mine"``).
    sensitivity
        the version's stored Sobol table (``summaries["sensitivity"]``,
        :func:`footprint.sensitivity.sensitivity_summary`), shown in the report; or None.
    """

    field_id: str
    capacity_ct_per_year: np.ndarray
    value_usd_per_ct: np.ndarray
    size_shares: Mapping[str, float] | None
    version: str
    seed: int
    sheet_sha256: str
    code_version: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    capacity_by_year: Mapping[int, np.ndarray] | None = None
    synthetic: bool = False
    size_share_sd: Mapping[str, float] | None = None
    kind: str = "field"
    title: str = ""
    sensitivity: Mapping[str, Any] | None = None

    @property
    def n_draws(self) -> int:
        return int(np.asarray(self.capacity_ct_per_year).size)

    def capacity_for_year(self, year: int) -> np.ndarray:
        """Capacity draws (ct/yr) for ``year``: the annual series where it has the year."""
        if self.capacity_by_year and int(year) in self.capacity_by_year:
            return np.asarray(self.capacity_by_year[int(year)], dtype="float64")
        return np.asarray(self.capacity_ct_per_year, dtype="float64")

    def metadata(self) -> dict[str, Any]:
        return {"field_id": self.field_id, "version": self.version, "seed": int(self.seed),
                "n_draws": self.n_draws, "sheet_sha256": self.sheet_sha256,
                "code_version": self.code_version, "parameters": dict(self.parameters),
                "capacity_by_year": sorted(int(y) for y in (self.capacity_by_year or {})),
                "synthetic": bool(self.synthetic), "kind": self.kind, "title": self.title,
                "sensitivity": dict(self.sensitivity) if self.sensitivity else None}


@dataclass(frozen=True)
class ReportInputs:
    """Everything :func:`footprint.reports.build_report` needs (no paths, no I/O).

    Attributes
    ----------
    participant
        ISO3 code of the KP participant.
    year_from, year_to
        calendar years, inclusive.
    production
        declared production, tidy: ``participant``, ``year``, ``half``, ``carats``,
        ``value_usd`` (optionally ``no_production``); other participants are ignored.
    fields
        the footprints of the participant's fields (at least one).
    exports
        parsed export statistics (:func:`footprint.declarations.parse_exports`) or None.
    certificates
        parsed certificate records (:func:`footprint.declarations.parse_certificates`) or
        None.
    thresholds
        verdict thresholds.
    provenance
        JSON-able facts about the inputs (file checksums, KP quirks) copied into the report.
    absent_years_as_zero
        a year with no production row at all is tested as 0 ct declared (the KP
        publishes nothing: nothing was declared); False leaves it out.
    """

    participant: str
    year_from: int
    year_to: int
    production: pd.DataFrame
    fields: Sequence[FieldFootprint]
    exports: pd.DataFrame | None = None
    certificates: pd.DataFrame | None = None
    thresholds: VerdictThresholds = DEFAULT_THRESHOLDS
    provenance: Mapping[str, Any] = field(default_factory=dict)
    absent_years_as_zero: bool = True

    def __post_init__(self) -> None:
        if not self.fields:
            raise InvalidParameterError(f"no footprint for {self.participant}: a report needs "
                                        "at least one field")
        if self.year_from > self.year_to:
            raise InvalidParameterError(f"year_from {self.year_from} > year_to {self.year_to}")
        missing = {"participant", "year", "carats", "value_usd"} - set(self.production.columns)
        if missing:
            raise InvalidParameterError(f"production table lacks {sorted(missing)}")
