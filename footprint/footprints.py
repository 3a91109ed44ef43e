"""A production footprint: deposits + resource + capacity + value + size + provenance.

:func:`compute_footprint` is the pure assembly (no paths except the optional draws file,
no database): storage and the CLI call it with the inputs they loaded and the checksums of
those inputs. Recomputing with the same inputs (sheet, areas, seed, draws) gives
bit-identical draws, and ``provenance["draws_sha256"]`` lets anyone check that.

Model chain (DOMAIN.md section 3), per Monte Carlo draw:

* resource by class ``c``: ``A_remaining,c × gravel_fraction_c × (1 − unmapped_mined_fraction)
  × T_c × G_c × r_c`` (``gravel_fraction`` and ``unmapped_mined_fraction`` are optional
  sheet parameters, default 1 and 0), summed over classes (``resource_volume_grade_ct``,
  the headline ``resource_ct`` when there are areas);
* resource by content per km of drainage ``L × c × (1 − unmapped_mined_fraction)``
  (``resource_per_km_ct``) when the sheet has ``content_ct_per_km``, or ``placer_width_m``
  from which ``c = 1000 × width × T × G × r`` (a placer ribbon along the drainage);
* capacity: the sum of the sheet's ``capacity_modes`` (artisanal, mechanised, imagery),
  capped by the resource (depletion), with years to exhaustion ``C / P``;
* capacity per year ``capacity_ct.<year>`` for every year of the span (the sheet's
  ``timeline``): each mode weighted by the share of the year it runs (field activity ×
  mode operating periods, e.g. GCD's plant off after September 2007), artisanal with that
  year's workforce parameter, at least the imagery series' production of that year, and
  capped by what remains that year (:func:`footprint.capacity.remaining_by_year`);
* an optional ``deposit_present`` parameter (0/1) multiplies resource and capacity: a
  reconnaissance screen's honest "there may be nothing here";
* value: ``usd_per_ct`` draws and the value of a year's capacity;
* size: carat share per common sieve class from ``stone_ct_mean`` and ``stone_size_sigma``.

Where the delineation gives no areas, ``area_m2`` / ``area_m2.<class>`` sheet parameters
are used instead and ``deposits["area_source"]`` says ``"sheet"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footprint import capacity as cap
from footprint import resources as res
from footprint.errors import InvalidParameterError
from footprint.params import DEFAULT_FIRST_YEAR, ParameterSheet, Producer, active_fraction
from footprint.provenance import code_version, sha256_json
from footprint.simulation import MapBlocks, OnChunk, SimulationResult, Summary, simulate
from footprint.value import COMMON_CLASSES, size_class_shares

RESOURCE_KEYS = ("resource_ct", "resource_volume_grade_ct", "resource_per_km_ct")
CAPACITY_KEYS = ("capacity_ct_per_year", "capacity_potential_ct_per_year",
                 "capacity_artisanal_ct_per_year", "capacity_mechanised_ct_per_year",
                 "capacity_imagery_ct_per_year", "years_to_exhaustion")
VALUE_KEYS = ("usd_per_ct", "capacity_value_usd_per_year")
#: Cap on draws used for the size footprint (class shares are smooth in their inputs).
SIZE_DRAWS = 65_536


def _need(sheet: ParameterSheet, name: str, qualifier: str | None, why: str) -> str:
    resolved = sheet.resolve(name, qualifier)
    if resolved is None:
        where = f" (or {name}.{qualifier})" if qualifier else ""
        raise InvalidParameterError(
            f"sheet for {sheet.field} lacks '{name}'{where}, needed for {why}")
    return resolved


@dataclass(frozen=True)
class FieldModel:
    """The vectorised model of one field: parameter draws in, resource and capacity out.

    Built once from a sheet and the delineated areas; picklable (plain data), so a dask
    worker can run it. ``remaining_area_m2`` maps deposit class to unmined area (m²);
    ``sheet_area_classes`` lists classes whose area is a sheet parameter instead.
    """

    sheet: ParameterSheet
    remaining_area_m2: Mapping[str, float] = field(default_factory=dict)
    sheet_area_classes: tuple[str, ...] = ()
    stream_length_km: float | None = None
    mined_area_m2_by_year: Mapping[int, float] = field(default_factory=dict)
    years: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for cls in self.classes:
            for name in ("thickness_m", "grade_ct_m3", "recovery"):
                _need(self.sheet, name, cls, f"the resource of class '{cls}'")
        if not self.classes and not self.uses_per_km:
            raise InvalidParameterError(
                f"no deposit areas for {self.sheet.field} and no content_ct_per_km in its sheet",
                hint="run the delineation, or give area_m2 or content_ct_per_km in the sheet")
        if self.mined_area_m2_by_year:
            for name in ("thickness_m", "grade_ct_m3", "recovery"):
                _need(self.sheet, name, "imagery", "the imagery time series")

    @property
    def classes(self) -> tuple[str, ...]:
        """Deposit classes modelled: delineated ones first, then sheet-area ones."""
        return tuple(self.remaining_area_m2) + tuple(self.sheet_area_classes)

    @property
    def uses_per_km(self) -> bool:
        """Whether a per-km resource applies (a stream length and a per-km parameter)."""
        names = self.sheet.parameters
        return self.stream_length_km is not None and (
            "content_ct_per_km" in names or "placer_width_m" in names)

    def __call__(self, p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Compute resource, capacity (and value) arrays from one block of parameter draws."""
        n = len(next(iter(p.values())))
        ones = np.ones(n)
        present = p.get("deposit_present", ones)
        unmined = 1.0 - p.get("unmapped_mined_fraction", 0.0 * ones)
        out: dict[str, np.ndarray] = {}
        resource = self._resource(p, ones, present, unmined, out)
        out["resource_ct"] = resource
        self._capacity(p, present, resource, out)
        return out

    def _param(self, p: Mapping[str, np.ndarray], name: str, qualifier: str) -> np.ndarray:
        """The draws of ``name`` specialised for ``qualifier`` (class or mode)."""
        return p[_need(self.sheet, name, qualifier, f"'{name}' of '{qualifier}'")]

    def _resource(self, p: Mapping[str, np.ndarray], ones: np.ndarray, present: np.ndarray,
                  unmined: np.ndarray, out: dict[str, np.ndarray]) -> np.ndarray:
        """Add the resource arrays to ``out`` and return the total resource (carats)."""
        sheet = self.sheet
        if self.classes:
            total = np.zeros(len(ones))
            for cls in self.classes:
                area = (self.remaining_area_m2[cls] if cls in self.remaining_area_m2
                        else p[_need(sheet, "area_m2", cls, f"the area of class '{cls}'")])
                gravel = sheet.resolve("gravel_fraction", cls)
                gravel_fraction = p[gravel] if gravel else ones
                carats = present * res.resource_volume_grade_ct(
                    area * gravel_fraction * unmined, self._param(p, "thickness_m", cls),
                    self._param(p, "grade_ct_m3", cls), self._param(p, "recovery", cls))
                out[f"resource_ct.{cls}"] = carats
                total = total + carats
            out["resource_volume_grade_ct"] = total
        if self.uses_per_km and self.stream_length_km is not None:
            if "content_ct_per_km" in p:
                content = p["content_ct_per_km"]
            else:  # a placer ribbon of known width along the drainage
                content = res.placer_content_ct_per_km(
                    p["placer_width_m"], self._param(p, "thickness_m", "placer"),
                    self._param(p, "grade_ct_m3", "placer"), self._param(p, "recovery", "placer"))
            out["resource_per_km_ct"] = present * unmined * res.resource_per_km_ct(
                self.stream_length_km, content)
        return out["resource_volume_grade_ct"] if self.classes else out["resource_per_km_ct"]

    def _capacity(self, p: Mapping[str, np.ndarray], present: np.ndarray, resource: np.ndarray,
                  out: dict[str, np.ndarray]) -> None:
        """Add the capacity (per mode, potential, depleted, imagery, by year) arrays to ``out``."""
        sheet = self.sheet
        potential = np.zeros(len(present))
        per_mode: dict[str, np.ndarray] = {}
        for mode in sheet.capacity_modes:
            grade = self._param(p, "grade_ct_m3", mode)
            recovery = self._param(p, "recovery", mode)
            if mode == "artisanal":
                mode_ct = self._artisanal(p, "miners")
            elif mode == "mechanised":
                mode_ct = cap.mechanised_capacity_ct_per_year(
                    p["plant_m3_per_h"], p["hours_per_year"], p["availability"], grade, recovery)
            else:
                mode_ct = cap.imagery_capacity_ct_per_year(
                    p["mined_area_m2_per_year"], self._param(p, "thickness_m", mode),
                    grade, recovery)
            out[f"capacity_{mode}_ct_per_year"] = present * mode_ct
            per_mode[mode] = present * mode_ct
            potential = potential + present * mode_ct
        out["capacity_potential_ct_per_year"] = potential
        out["capacity_ct_per_year"], out["years_to_exhaustion"] = cap.deplete(potential, resource)
        if "usd_per_ct" in p:
            out["capacity_value_usd_per_year"] = out["capacity_ct_per_year"] * p["usd_per_ct"]
        imagery: dict[int, np.ndarray] = {}
        if self.mined_area_m2_by_year:
            series = cap.capacity_series(
                self.mined_area_m2_by_year, self._param(p, "thickness_m", "imagery"),
                self._param(p, "grade_ct_m3", "imagery"), self._param(p, "recovery", "imagery"),
                resource)
            for year, values in series.items():
                imagery[year] = present * values
                out[f"capacity_imagery_ct.{year}"] = imagery[year]
        if self.years:
            out.update(self._capacity_by_year(p, present, per_mode, imagery, resource))

    def _artisanal(self, p: Mapping[str, np.ndarray], miners: str) -> np.ndarray:
        return cap.artisanal_capacity_ct_per_year(
            p[miners], p["days_per_year"], p["m3_per_miner_day"],
            self._param(p, "grade_ct_m3", "artisanal"), self._param(p, "recovery", "artisanal"))

    def _capacity_by_year(self, p: Mapping[str, np.ndarray], present: np.ndarray,
                          per_mode: Mapping[str, np.ndarray], imagery: Mapping[int, np.ndarray],
                          resource: np.ndarray) -> dict[str, np.ndarray]:
        """``capacity_ct.<year>`` for every year of the span (see the module docstring)."""
        timeline = self.sheet.timeline
        wanted: dict[int, np.ndarray] = {}
        artisanal_by_miners: dict[str, np.ndarray] = (
            {"miners": per_mode["artisanal"]} if "artisanal" in per_mode else {})
        for year in self.years:
            total = np.zeros_like(resource)
            for mode, mode_ct in per_mode.items():
                share = timeline.mode_fraction(mode, year)
                if share == 0.0:
                    continue
                if mode == "artisanal":
                    name = timeline.miners_parameter(year)
                    if name not in artisanal_by_miners:
                        artisanal_by_miners[name] = present * self._artisanal(p, name)
                    mode_ct = artisanal_by_miners[name]
                total = total + share * mode_ct
            if year in imagery:  # capacity is at least what the imagery shows was dug
                total = np.maximum(total, imagery[year])
            wanted[year] = total
        resource_year = timeline.resource_year or self.years[-1]
        capped = cap.deplete_by_year(wanted, resource, resource_year, produced_ct_by_year=imagery)
        return {f"capacity_ct.{year}": values for year, values in capped.items()}


@dataclass
class FootprintResult:
    """A computed footprint; ``to_dict()`` is what storage keeps and the API returns."""

    field_id: str
    deposits: dict[str, Any]
    resource: dict[str, Summary]
    capacity: dict[str, Summary]
    value: dict[str, Summary]
    capacity_series: dict[int, Summary]
    size: pd.DataFrame | None
    provenance: dict[str, Any]
    simulation: SimulationResult
    capacity_by_year: dict[int, Summary] = field(default_factory=dict)
    #: the vectorised model the draws ran through (for Sobol indices); not serialised
    model: FieldModel | None = None

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-able data (summaries as dicts, size table as records)."""
        def block(summaries: Mapping) -> dict:
            return {str(k): v.as_dict() for k, v in summaries.items()}

        return {
            "field_id": self.field_id,
            "deposits": self.deposits,
            "resource": block(self.resource),
            "capacity": block(self.capacity),
            "capacity_series": block(self.capacity_series),
            "capacity_by_year": block(self.capacity_by_year),
            "value": block(self.value),
            "size": (None if self.size is None
                     else self.size.reset_index().to_dict(orient="records")),
            "tails_trusted": self.simulation.tails_trusted,
            "warning": self.simulation.warning,
            "provenance": self.provenance,
        }


def _deposit_inputs(
    sheet: ParameterSheet, deposits
) -> tuple[dict[str, float], tuple[str, ...], dict]:
    if deposits is not None and len(deposits) > 0:
        areas = res.class_areas(deposits)
        summary = {"area_source": "delineation",
                   "classes": {k: v.__dict__ for k, v in areas.items()}}
        return {k: v.remaining_area_m2 for k, v in areas.items()}, (), summary
    specific = tuple(sorted(name.split(".", 1)[1] for name in sheet.parameters
                            if name.startswith("area_m2.")))
    classes = specific or (("all",) if "area_m2" in sheet.parameters else ())
    return {}, classes, {"area_source": "sheet" if classes else "none", "classes": {}}


def _size_footprint(result: SimulationResult) -> pd.DataFrame | None:
    if "stone_ct_mean" not in result.parameters or "stone_size_sigma" not in result.parameters:
        return None
    table = result.read_draws(["stone_ct_mean", "stone_size_sigma"]).slice(0, SIZE_DRAWS)
    shares = size_class_shares(table.column("stone_ct_mean").to_numpy(),
                               table.column("stone_size_sigma").to_numpy())
    p5, p50, p95 = np.percentile(shares, [5, 50, 95], axis=0)
    frame = pd.DataFrame({"low_ct": [c[1] for c in COMMON_CLASSES],
                          "high_ct": [c[2] for c in COMMON_CLASSES],
                          "p5": p5, "p50": p50, "p95": p95, "mean": shares.mean(axis=0)},
                         index=pd.Index([c[0] for c in COMMON_CLASSES], name="size_class"))
    frame["high_ct"] = frame["high_ct"].replace(np.inf, None)
    return frame


def compute_footprint(field_id: str, sheet: ParameterSheet, deposits=None,
                      stream_length_km: float | None = None, *, seed: int, draws: int,
                      block_size: int | None = None, draws_path: str | Path | None = None,
                      input_checksums: Mapping[str, str] | None = None,
                      mined_area_m2_by_year: Mapping[int, float] | None = None,
                      map_blocks: MapBlocks | None = None,
                      current_year: int | None = None,
                      on_chunk: OnChunk | None = None) -> FootprintResult:
    """Compute a field's footprint by Monte Carlo.

    Parameters
    ----------
    field_id
        Catalogue id; must match ``sheet.field``.
    sheet
        Validated parameter sheet.
    deposits
        Delineated deposits: a (Geo)DataFrame with ``deposit_class``, ``area_m2`` (m²,
        projected CRS) and ``mined_area_m2``, or a mapping ``class -> area_m2`` /
        ``class -> (area_m2, mined_area_m2)``. None or empty: the sheet's ``area_m2``.
    stream_length_km
        Drainage length for the content-per-km resource (km).
    seed, draws, block_size, draws_path, map_blocks, on_chunk
        See :func:`footprint.simulation.simulate`.
    input_checksums
        ``name -> sha256`` of the layers the inputs came from (recorded, not checked).
    mined_area_m2_by_year
        Newly mined area per year (m²) from imagery, for the capacity time series.
        Round-off below zero (> -1e-3 m²) counts as 0; a real negative area is refused.
    current_year
        Last year of the span when the sheet's timeline leaves ``last_year`` open
        (default: this calendar year, UTC); recorded in provenance as ``years``.
    """
    if sheet.field != field_id:
        raise InvalidParameterError(f"sheet is for '{sheet.field}', not '{field_id}'")
    remaining, sheet_classes, deposit_summary = _deposit_inputs(sheet, deposits)
    mined_by_year = cap.clean_mined_area_by_year(mined_area_m2_by_year or {})
    if current_year is None:
        current_year = datetime.now(UTC).year
    years = tuple(sheet.timeline.years(int(current_year)))
    model = FieldModel(sheet, remaining, sheet_classes, stream_length_km, mined_by_year, years)
    result = simulate(sheet, model, draws=draws, seed=seed, block_size=block_size,
                      draws_path=draws_path, map_blocks=map_blocks, on_chunk=on_chunk)
    s = result.summaries
    resource = {k: s[k] for k in s if k in RESOURCE_KEYS or k.startswith("resource_ct.")}
    capacity = {k: s[k] for k in CAPACITY_KEYS if k in s}
    value = {k: s[k] for k in VALUE_KEYS if k in s}
    series = {int(k.rsplit(".", 1)[1]): s[k] for k in s if k.startswith("capacity_imagery_ct.")}
    by_year = {int(k.rsplit(".", 1)[1]): s[k] for k in s if k.startswith("capacity_ct.")}
    sheet_dict = sheet.to_yaml_dict()
    provenance = {
        "field_id": field_id,
        "input_checksums": dict(input_checksums or {}),
        "sheet": sheet_dict,
        "sheet_sha256": sha256_json(sheet_dict),
        "deposit_areas_m2": deposit_summary,
        "stream_length_km": stream_length_km,
        "mined_area_m2_by_year": {str(k): v for k, v in mined_by_year.items()},
        "years": [years[0], years[-1]],
        "seed": seed,
        "draws": draws,
        "chunk_draws": result.chunk_draws,
        "draws_sha256": result.draws_sha256,
        "draws_path": None if draws_path is None else str(draws_path),
        "code_version": code_version(),
        "computed_at_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return FootprintResult(field_id, deposit_summary, resource, capacity, value, series,
                           _size_footprint(result), provenance, result, by_year,
                           model=model)


@dataclass(frozen=True)
class ProducerModel:
    """Capacity per year of a producer outside the modelled fields (picklable).

    ``capacity_ct.<year> = Σ_periods share_p × covered fraction of the year ×
    capacity_ct_per_year`` (periods do not overlap in practice; overlapping ones are
    capped at the full capacity). ``capacity_ct_per_year`` out is the last year's.
    """

    producer: Producer
    years: tuple[int, ...]

    def __call__(self, p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Capacity per year (``capacity_ct.<year>``, ``capacity_now_ct_per_year``) from draws."""
        capacity = p["capacity_ct_per_year"]
        out: dict[str, np.ndarray] = {}
        for year in self.years:
            share = np.zeros_like(capacity)
            for period in self.producer.periods:
                covered = active_fraction([period], year)
                if covered > 0:
                    share = share + covered * (p[period.share] if period.share else 1.0)
            out[f"capacity_ct.{year}"] = np.minimum(share, 1.0) * capacity
        out["capacity_now_ct_per_year"] = out[f"capacity_ct.{self.years[-1]}"]
        return out


def compute_producer_capacity(producer: Producer, *, seed: int, draws: int,
                              current_year: int | None = None,
                              first_year: int = DEFAULT_FIRST_YEAR) -> SimulationResult:
    """Seeded Monte Carlo of an other producer's capacity per year (draws in memory).

    Columns: the producer's parameters, ``capacity_ct.<year>`` for ``first_year`` to
    ``current_year`` (default this year, UTC) and ``capacity_now_ct_per_year``. Same
    engine as fields: same seed and draws give the same table.
    """
    if current_year is None:
        current_year = datetime.now(UTC).year
    years = tuple(range(first_year, max(int(current_year), first_year) + 1))
    return simulate(producer.as_sheet(), ProducerModel(producer, years), draws=draws, seed=seed)
