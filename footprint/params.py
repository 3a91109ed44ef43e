"""Parameter sheets: the distributions behind every Monte Carlo footprint.

A sheet (YAML, one per field in ``datasets/parameters/<field>.yaml``) lists named
parameters, each a distribution with a unit and either a published ``source`` or an
``assumption`` (stated as such), plus rank correlations between parameters applied with a
Gaussian copula. The same pydantic schema validates the sheets and describes the
simulation process in the API (:meth:`ParameterSheet.model_json_schema`).

The distributions (:mod:`footprint.distributions`) are sampled by their inverse CDF from
uniform variates, so the copula only has to produce correlated uniforms.

Parameter names carry their unit (``thickness_m``, ``grade_ct_m3``) and may be specialised
per deposit class or capacity mode with a dot: ``grade_ct_m3.terrace`` overrides
``grade_ct_m3`` for the ``terrace`` class (see :meth:`ParameterSheet.resolve`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from footprint.distributions import (  # the distributions, importable from here too
    Empirical as Empirical,
)
from footprint.distributions import (
    Fixed as Fixed,
)
from footprint.distributions import (
    Lognormal as Lognormal,
)
from footprint.distributions import (
    Normal as Normal,
)
from footprint.distributions import (
    Parameter as Parameter,
)
from footprint.distributions import (
    Pert as Pert,
)
from footprint.distributions import (
    Triangular as Triangular,
)
from footprint.distributions import (
    Uniform as Uniform,
)
from footprint.errors import InvalidParameterError, NotFoundError

#: The bundled sheets, a resource of the ``datasets`` package (a directory when installed
#: from a source tree or a wheel).
PARAMETERS_DIR = resources.files("datasets") / "parameters"

#: Tolerance on the smallest eigenvalue of a correlation matrix (numerical noise).
PSD_TOLERANCE = 1e-10

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)?$")
CapacityMode = Literal["artisanal", "mechanised", "imagery"]


#: First year of a footprint's span by default: the KP statistics start in 2003.
DEFAULT_FIRST_YEAR = 2003


class Period(BaseModel):
    """A dated period (inclusive ``start`` and ``end`` dates) with its source.

    ``start`` None: since before any year of interest; ``end`` None: still going on.
    Used for a field's activity periods and each capacity mode's operating periods
    (DOMAIN.md section 7): e.g. GCD's Akwatia plant ``end: 2007-09-30``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: dt.date | None = None
    end: dt.date | None = None
    source: str | None = None
    assumption: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _check(self):
        if not (self.source or self.assumption):
            raise ValueError("each period needs a 'source' or an 'assumption' (labelled as such)")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")
        return self

    def days_in(self, year: int) -> set[int]:
        """Ordinal days of ``year`` the period covers."""
        first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
        lo = max(first, self.start or first)
        hi = min(last, self.end or last)
        return set(range(lo.toordinal(), hi.toordinal() + 1)) if hi >= lo else set()


def active_fraction(periods: list[Period] | tuple[Period, ...] | None, year: int) -> float:
    """Share of ``year`` (0-1) covered by the union of ``periods``; no periods: always on."""
    if not periods:
        return 1.0
    days = set().union(*(p.days_in(year) for p in periods))
    return len(days) / (dt.date(year, 12, 31).toordinal() - dt.date(year, 1, 1).toordinal() + 1)


class WorkforcePeriod(BaseModel):
    """Which ``miners`` parameter holds in which years (e.g. the 2006-2008 Marange rush).

    ``parameter`` names a sheet parameter (``miners.rush``); the first entry covering a
    year wins, years no entry covers use ``miners``. Workforce counts uploaded as evidence
    add entries ``miners.<year>`` in front (:mod:`footprint.evidence`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_year: int = Field(..., ge=1900, le=2100)
    end_year: int = Field(..., ge=1900, le=2100)
    parameter: str
    source: str | None = None
    assumption: str | None = None

    @model_validator(mode="after")
    def _check(self):
        if not (self.source or self.assumption):
            raise ValueError("each workforce period needs a 'source' or an 'assumption'")
        if self.end_year < self.start_year:
            raise ValueError(f"workforce period ends ({self.end_year}) before it starts "
                             f"({self.start_year})")
        return self


class Timeline(BaseModel):
    """The dates that shape a field's capacity per year (DOMAIN.md section 7).

    Attributes
    ----------
    first_year, last_year
        The footprint's span (inclusive); ``last_year`` None: the build's current year.
    resource_year
        Year the resource (mapped ground minus mined ground) stands for; default the last
        year of the span. Earlier years had that resource plus what the imagery series shows
        was produced since; later years lose what capacity takes (depletion).
    activity
        Periods in which the field is worked at all (empty: throughout the span).
    modes
        Operating periods of each capacity mode (a mode not listed: whenever the field is).
    workforce
        Which ``miners`` parameter holds in which years.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_year: int = Field(DEFAULT_FIRST_YEAR, ge=1900, le=2100)
    last_year: int | None = Field(None, ge=1900, le=2100)
    resource_year: int | None = Field(None, ge=1900, le=2100)
    activity: list[Period] = Field(default_factory=list)
    modes: dict[CapacityMode, list[Period]] = Field(default_factory=dict)
    workforce: list[WorkforcePeriod] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self):
        if self.last_year is not None and self.last_year < self.first_year:
            raise ValueError(f"timeline last_year {self.last_year} is before first_year "
                             f"{self.first_year}")
        return self

    def years(self, current_year: int) -> list[int]:
        """The span's years, ``first_year`` to ``last_year`` (default ``current_year``)."""
        last = self.last_year if self.last_year is not None else current_year
        return list(range(self.first_year, max(last, self.first_year) + 1))

    def mode_fraction(self, mode: str, year: int) -> float:
        """Share of ``year`` in which ``mode`` runs: field activity × mode periods."""
        periods = next((v for k, v in self.modes.items() if k == mode), None)
        return active_fraction(self.activity, year) * active_fraction(periods, year)

    def miners_parameter(self, year: int) -> str:
        """The parameter holding the number of miners in ``year`` (default ``miners``)."""
        for entry in self.workforce:
            if entry.start_year <= year <= entry.end_year:
                return entry.parameter
        return "miners"


class ParameterSheet(BaseModel):
    """A field's parameter sheet: distributions, units, sources and rank correlations.

    ``correlations`` are Spearman rank correlations ``[name_a, name_b, rho]``; they are
    converted to the Gaussian copula's Pearson correlations by ``2 sin(pi rho / 6)``
    (exact for the Gaussian copula) and the resulting matrix must be positive
    semi-definite.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(..., min_length=1, description="Field id, e.g. 'gh-birim'.")
    title: str | None = None
    notes: list[str] = Field(default_factory=list)
    capacity_modes: list[CapacityMode] = Field(
        default_factory=list,
        description="Capacity modes present in the field; their sum is the capacity.")
    parameters: dict[str, Parameter]
    correlations: list[tuple[str, str, float]] = Field(default_factory=list)
    timeline: Timeline = Field(default_factory=lambda: Timeline(),
                               description="Activity periods, mode operating periods and "
                                           "workforce by year (capacity per year).")

    @field_validator("parameters")
    @classmethod
    def _names(cls, parameters: dict) -> dict:
        bad = [name for name in parameters if not _NAME.match(name)]
        if bad:
            raise ValueError(f"parameter names must be lower_snake_case with an optional '.class' "
                             f"suffix: {', '.join(bad)}")
        if not parameters:
            raise ValueError("a sheet needs at least one parameter")
        return parameters

    @model_validator(mode="after")
    def _check(self):
        self._check_correlation_pairs()
        copula_correlation(self)  # raises on a matrix that is not PSD
        self._check_modes()
        return self

    def _check_correlation_pairs(self) -> None:
        seen: set[frozenset[str]] = set()
        for a, b, rho in self.correlations:
            for name in (a, b):
                if name not in self.parameters:
                    raise ValueError(f"correlation [{a}, {b}] names unknown parameter '{name}'")
                if self.parameters[name].is_fixed:
                    raise ValueError(
                        f"correlation [{a}, {b}]: '{name}' is fixed and cannot be correlated")
            if a == b:
                raise ValueError(f"correlation [{a}, {b}] pairs a parameter with itself")
            if not -1.0 <= rho <= 1.0:
                raise ValueError(f"correlation [{a}, {b}] = {rho} is outside [-1, 1]")
            if frozenset((a, b)) in seen:
                raise ValueError(f"correlation [{a}, {b}] is given twice")
            seen.add(frozenset((a, b)))

    def _check_modes(self) -> None:
        missing = [f"{mode}: {name}" for mode in self.capacity_modes
                   for name in MODE_REQUIREMENTS[mode] if self.resolve(name, mode) is None]
        if missing:
            raise ValueError("capacity modes lack parameters (" + "; ".join(missing) + ")")
        stray = sorted(set(self.timeline.modes) - set(self.capacity_modes))
        if stray:
            raise ValueError(
                f"timeline gives periods for modes the sheet lacks: {', '.join(stray)}")
        unknown = [w.parameter for w in self.timeline.workforce
                   if w.parameter not in self.parameters]
        if unknown:
            raise ValueError(f"timeline workforce names unknown parameters: {', '.join(unknown)}")

    @property
    def stochastic_names(self) -> list[str]:
        """Names of the non-fixed parameters, in sheet order (the copula's dimensions)."""
        return [name for name, p in self.parameters.items() if not p.is_fixed]

    def resolve(self, name: str, qualifier: str | None = None) -> str | None:
        """The parameter used for ``name`` under ``qualifier`` (class or mode), else the
        generic one."""
        if qualifier is not None and f"{name}.{qualifier}" in self.parameters:
            return f"{name}.{qualifier}"
        return name if name in self.parameters else None

    def to_yaml_dict(self) -> dict:
        """The sheet as plain JSON/YAML-able data (what provenance stores and hashes)."""
        return self.model_dump(mode="json", exclude_none=True)


#: Parameters each capacity mode needs (grade and recovery may be specialised per mode).
MODE_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "artisanal": ("miners", "days_per_year", "m3_per_miner_day", "grade_ct_m3", "recovery"),
    "mechanised": ("plant_m3_per_h", "hours_per_year", "availability", "grade_ct_m3", "recovery"),
    "imagery": ("mined_area_m2_per_year", "thickness_m", "grade_ct_m3", "recovery"),
}


def spearman_to_pearson(rho_s: float | np.ndarray) -> float | np.ndarray:
    """Pearson correlation of a Gaussian copula giving Spearman ``rho_s``: 2 sin(pi rho_s / 6)."""
    return 2.0 * np.sin(np.pi * np.asarray(rho_s) / 6.0)


def _min_eigenvalue(matrix: np.ndarray) -> float:
    return float(np.linalg.eigvalsh(matrix).min()) if matrix.size else 1.0


def copula_correlation(sheet: ParameterSheet) -> np.ndarray:
    """Pearson correlation matrix of the Gaussian copula over ``sheet.stochastic_names``.

    Raises
    ------
    InvalidParameterError
        If the matrix is not positive semi-definite. The message names the smallest set
        of correlated parameters whose correlations cannot hold together, and the pair
        (the last of that set in sheet order) that breaks it.
    """
    names = sheet.stochastic_names
    index = {name: i for i, name in enumerate(names)}
    matrix = np.eye(len(names))
    for a, b, rho in sheet.correlations:
        i, j = index[a], index[b]
        matrix[i, j] = matrix[j, i] = float(spearman_to_pearson(rho))
    if _min_eigenvalue(matrix) >= -PSD_TOLERANCE:
        return matrix
    (a, b, rho), members = _breaking_pair(sheet, matrix, index)
    raise InvalidParameterError(
        f"correlation matrix is not positive semi-definite: [{a}, {b}, {rho}] cannot hold "
        f"together with the other correlations among {', '.join(members)}",
        hint="weaken this pair or the ones it chains with")


def _breaking_pair(sheet: ParameterSheet, matrix: np.ndarray,
                   index: dict[str, int]) -> tuple[tuple[str, str, float], list[str]]:
    """The last-listed pair of the smallest non-PSD principal sub-matrix, and its parameters."""
    names = sheet.stochastic_names
    involved = sorted({index[n] for a, b, _ in sheet.correlations for n in (a, b)})
    for size in range(3, len(involved) + 1):
        for subset in itertools.combinations(involved, size):
            if _min_eigenvalue(matrix[np.ix_(subset, subset)]) < -PSD_TOLERANCE:
                inside = [c for c in sheet.correlations
                          if index[c[0]] in subset and index[c[1]] in subset]
                return inside[-1], [names[i] for i in subset]
    return sheet.correlations[-1], [names[i] for i in involved]


def copula_factor(matrix: np.ndarray) -> np.ndarray | None:
    """A factor ``L`` with ``L @ L.T == matrix`` (None for the identity: no copula needed).

    Cholesky when the matrix is positive definite: it is unique and lower-triangular, so
    the draws do not depend on the LAPACK build (an eigen-decomposition with repeated
    eigenvalues may rotate and flip its vectors from one build to another) and a
    parameter correlated with nothing keeps its own normal column. Semi-definite
    matrices (rho = ±1) fall back to the eigen-decomposition with signs fixed.
    """
    if np.array_equal(matrix, np.eye(len(matrix))):
        return None
    try:
        return np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(matrix)
        # fix each vector's sign (largest component positive) so the factor is reproducible
        signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])])
        signs[signs == 0] = 1.0
        return (vectors * signs) * np.sqrt(np.clip(values, 0.0, None))


def parse_sheet(data: dict) -> ParameterSheet:
    """Validate sheet data; pydantic's errors become one readable
    :class:`InvalidParameterError`."""
    try:
        return ParameterSheet.model_validate(data)
    except ValidationError as error:
        lines = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {message}" if where else message)
        raise InvalidParameterError("invalid parameter sheet: " + "; ".join(lines)) from None


def load_sheet(path_or_field_id: str | Path) -> ParameterSheet:
    """Read and validate a sheet from a YAML path or a field id (``datasets/parameters/<id>.yaml``).

    Raises
    ------
    NotFoundError
        If there is no such file or no sheet for the field.
    InvalidParameterError
        If the YAML or the sheet is invalid.
    """
    path = Path(path_or_field_id)
    candidate: Path | Traversable = (
        path if path.suffix in (".yaml", ".yml") else PARAMETERS_DIR / f"{path_or_field_id}.yaml")
    if not candidate.is_file():  # the name only: error bodies carry no server paths
        raise NotFoundError(f"no parameter sheet {candidate.name!r}")
    try:
        data = yaml.safe_load(candidate.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InvalidParameterError(
            f"parameter sheet {candidate.name} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise InvalidParameterError(f"parameter sheet {candidate.name} must be a mapping")
    return parse_sheet(data)


# --------------------------------------------------------------------------------------
# other producers: a participant's producers outside the modelled alluvial fields
# --------------------------------------------------------------------------------------
PRODUCERS_FILE = resources.files("datasets") / "producers.yaml"


class ProducerPeriod(Period):
    """An operating period of a producer; ``share`` names a parameter (0-1) that scales
    the capacity in that period (a ramp-up, or an unknown status), else the full capacity."""

    share: str | None = None


class Producer(BaseModel):
    """A producer outside the modelled fields (a kimberlite mine, a plant), DOMAIN.md §7.

    ``parameters`` holds ``capacity_ct_per_year`` and ``usd_per_ct`` (and any ``share``
    parameters of the periods), each with a source or a labelled assumption; capacity is
    zero outside ``periods``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(..., pattern=r"^[a-z][a-z0-9-]*$")
    participant_iso3: str = Field(..., pattern=r"^[A-Z]{3}$")
    title: str = Field(..., min_length=1)
    kind: str = Field(..., min_length=1, description="e.g. 'kimberlite mine'.")
    status: str = Field(..., min_length=1, description="Operating status and its source.")
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    usgs_feature: str | None = None
    parameters: dict[str, Parameter]
    periods: list[ProducerPeriod] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _check(self):
        for name in ("capacity_ct_per_year", "usd_per_ct"):
            if name not in self.parameters:
                raise ValueError(f"producer {self.id} lacks '{name}'")
        missing = [p.share for p in self.periods if p.share and p.share not in self.parameters]
        if missing:
            raise ValueError(f"producer {self.id}: periods name unknown parameters "
                             f"{', '.join(missing)}")
        return self

    def as_sheet(self) -> ParameterSheet:
        """The producer's parameters as a sheet the Monte Carlo engine runs."""
        return ParameterSheet(field=self.id, title=self.title, parameters=self.parameters)


class ProducerSheet(BaseModel):
    """``datasets/producers.yaml``: every participant's other producers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    producers: list[Producer] = Field(default_factory=list)

    def of(self, participant_iso3: str) -> list[Producer]:
        """The producers of one KP participant (ISO3, any case)."""
        return [p for p in self.producers if p.participant_iso3 == participant_iso3.upper()]


def load_producers(path: str | Path | None = None) -> ProducerSheet:
    """Read and validate the other-producers file (default ``datasets/producers.yaml``)."""
    candidate: Path | Traversable = Path(path) if path is not None else PRODUCERS_FILE
    if not candidate.is_file():
        raise NotFoundError(f"no producers file {candidate.name}")
    try:
        data = yaml.safe_load(candidate.read_text(encoding="utf-8"))
        return ProducerSheet.model_validate(data or {})
    except yaml.YAMLError as error:
        raise InvalidParameterError(f"{candidate.name} is not valid YAML: {error}") from None
    except ValidationError as error:
        raise InvalidParameterError(f"invalid producers file: {error}") from None
