"""What a report is built from: declared tables and the footprints of the participant's fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from footprint import protocols as P
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
        its P5-P95 band); the size test's null draws the field's shares with it.
    value_reference_years
        ``(first, last)`` years the value footprint was fitted on (its US$ are those
        years' market); the price index is rebased on them. None: the index's own base.
    parcel_sd_ln
        sd of a certificate's ln US$/ct around the field's value in its year (parcel
        scatter, ln units): the calibration harness simulates parcels with it.
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
    value_reference_years: tuple[int, int] | None = None
    parcel_sd_ln: float = 0.35
    kind: str = "field"
    title: str = ""
    sensitivity: Mapping[str, Any] | None = None

    @property
    def n_draws(self) -> int:
        """Number of Monte Carlo draws (the size of the capacity sample)."""
        return int(np.asarray(self.capacity_ct_per_year).size)

    def capacity_for_year(self, year: int) -> np.ndarray:
        """Capacity draws (ct/yr) for ``year``: the annual series where it has the year."""
        if self.capacity_by_year and int(year) in self.capacity_by_year:
            return np.asarray(self.capacity_by_year[int(year)], dtype="float64")
        return np.asarray(self.capacity_ct_per_year, dtype="float64")

    def metadata(self) -> dict[str, Any]:
        """The field's identifying and provenance data as plain JSON-able values."""
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
        publishes nothing: nothing was declared) and labelled ``no_record``; False
        leaves it out.
    market
        the price index and annual scatter the US$/ct tests read
        (:class:`footprint.protocols.MarketModel`); None: index 1, default scatter.
    volume_series
        the honest series model of the break test (KP-like AR(1) and trend).
    characteristics
        size and power per test from the calibration harness
        (:meth:`footprint.calibration.CalibrationResult.to_dict`), shown per test row.
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
    market: P.MarketModel | None = None
    volume_series: P.SeriesModel = P.DEFAULT_VOLUME_SERIES
    characteristics: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.fields:
            raise InvalidParameterError(f"no footprint for {self.participant}: a report needs "
                                        "at least one field")
        if self.year_from > self.year_to:
            raise InvalidParameterError(f"year_from {self.year_from} > year_to {self.year_to}")
        missing = {"participant", "year", "carats", "value_usd"} - set(self.production.columns)
        if missing:
            raise InvalidParameterError(f"production table lacks {sorted(missing)}")


def size_inputs(fields: Sequence[FieldFootprint], null: P.SizeNullModel = P.DEFAULT_SIZE_NULL
                ) -> tuple[list[str] | None, np.ndarray | None, float | None]:
    """The participant's size footprint as the size test reads it.

    Carat shares of the fields with a size footprint, weighted by capacity P50
    (:func:`footprint.protocols.combine_size_shares`), turned into stone shares over the
    common classes; the Dirichlet concentration of their uncertainty from the share sds
    (:func:`footprint.protocols.footprint_concentration`). ``(None, None, None)`` when no
    field has a size footprint.
    """
    with_size = [f for f in fields if f.size_shares]
    if not with_size:
        return None, None, None
    weights = [float(np.median(f.capacity_ct_per_year)) for f in with_size]
    carat_share = P.combine_size_shares(
        [f.size_shares for f in with_size if f.size_shares], weights)
    stone_w = P.representative_stone_ct()
    classes = list(stone_w)
    stone = P.expected_stone_share(carat_share)
    share = np.array([stone[c] for c in classes])
    sd_arr = None
    if all(f.size_share_sd for f in with_size):
        sd = P.combine_size_shares([f.size_share_sd for f in with_size if f.size_share_sd],
                                   weights,
                                   normalise=False)
        scale = 1.0 / sum(carat_share.get(c, 0.0) / stone_w[c] for c in classes)
        sd_arr = np.array([sd.get(c, 0.0) / stone_w[c] * scale for c in classes])
    return classes, share, P.footprint_concentration(share, sd_arr,
                                                     null.footprint_concentration)
