"""Parameter sheets: the distributions behind every Monte Carlo footprint.

A sheet (YAML, one per field in ``datasets/parameters/<field>.yaml``) lists named
parameters, each a distribution with a unit and either a published ``source`` or an
``assumption`` (stated as such), plus rank correlations between parameters applied with a
Gaussian copula. The same pydantic schema validates the sheets and describes the
simulation process in the API (:meth:`ParameterSheet.model_json_schema`).

Every distribution is sampled by its inverse CDF (:meth:`ppf`) from a uniform variate, so
the copula only has to produce correlated uniforms (USGS MapMark4 keeps the same
draws-then-transform structure).

Parameter names carry their unit (``thickness_m``, ``grade_ct_m3``) and may be specialised
per deposit class or capacity mode with a dot: ``grade_ct_m3.terrace`` overrides
``grade_ct_m3`` for the ``terrace`` class (see :meth:`ParameterSheet.resolve`).
"""

from __future__ import annotations

import itertools
import math
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from scipy import special

from footprint.errors import InvalidParameterError, NotFoundError

#: The bundled sheets, a resource of the ``datasets`` package (a directory when installed
#: from a source tree or a wheel).
PARAMETERS_DIR = resources.files("datasets") / "parameters"

#: Tolerance on the smallest eigenvalue of a correlation matrix (numerical noise).
PSD_TOLERANCE = 1e-10

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)?$")
CapacityMode = Literal["artisanal", "mechanised", "imagery"]


class _Distribution(BaseModel):
    """Fields common to every parameter: unit and provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit: str = Field(..., min_length=1, description="Unit of the parameter, e.g. 'm', 'ct/m3', '1'.")
    source: str | None = Field(None, description="Published source of the value(s).")
    assumption: str | None = Field(
        None, description="Why this value is assumed when nothing is published (labelled as such).")
    description: str | None = None

    @model_validator(mode="after")
    def _provenance(self):
        if not (self.source or self.assumption):
            raise ValueError("each parameter needs a 'source' or an 'assumption' (labelled as such)")
        return self

    @property
    def is_fixed(self) -> bool:
        return False

    @property
    def is_assumption(self) -> bool:
        return self.source is None

    def ppf(self, u: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class Fixed(_Distribution):
    """A known constant."""

    dist: Literal["fixed"]
    value: float

    @property
    def is_fixed(self) -> bool:
        return True

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return np.full(np.shape(u), self.value, dtype=np.float64)


class Uniform(_Distribution):
    """Uniform on [low, high]."""

    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _order(self):
        if not self.high > self.low:
            raise ValueError(f"uniform needs low < high (got low={self.low}, high={self.high})")
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.low + (self.high - self.low) * np.asarray(u, dtype=np.float64)


class Triangular(_Distribution):
    """Triangular on [low, high] with its mode."""

    dist: Literal["triangular"]
    low: float
    mode: float
    high: float

    @model_validator(mode="after")
    def _order(self):
        if not (self.low <= self.mode <= self.high and self.high > self.low):
            raise ValueError(f"triangular needs low <= mode <= high and low < high "
                             f"(got {self.low}, {self.mode}, {self.high})")
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        a, c, b = self.low, self.mode, self.high
        split = (c - a) / (b - a)
        left = a + np.sqrt(u * (b - a) * (c - a))
        right = b - np.sqrt((1.0 - u) * (b - a) * (b - c))
        return np.where(u < split, left, right)


class Pert(_Distribution):
    """Beta-PERT on [low, high] with its mode; ``lamb`` weights the mode (4 = classic PERT)."""

    dist: Literal["pert"]
    low: float
    mode: float
    high: float
    lamb: float = Field(4.0, gt=0)

    @model_validator(mode="after")
    def _order(self):
        if not (self.low <= self.mode <= self.high and self.high > self.low):
            raise ValueError(f"pert needs low <= mode <= high and low < high "
                             f"(got {self.low}, {self.mode}, {self.high})")
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:
        span = self.high - self.low
        alpha = 1.0 + self.lamb * (self.mode - self.low) / span
        beta = 1.0 + self.lamb * (self.high - self.mode) / span
        return self.low + span * special.betaincinv(alpha, beta, np.asarray(u, dtype=np.float64))


class Normal(_Distribution):
    """Normal (mean, sd), optionally truncated to [low, high] (either bound may be omitted)."""

    dist: Literal["normal"]
    mean: float
    sd: float = Field(..., gt=0)
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _order(self):
        if self.low is not None and self.high is not None and not self.high > self.low:
            raise ValueError(f"normal truncation needs low < high (got {self.low}, {self.high})")
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        f_low = 0.0 if self.low is None else special.ndtr((self.low - self.mean) / self.sd)
        f_high = 1.0 if self.high is None else special.ndtr((self.high - self.mean) / self.sd)
        if not f_high > f_low:
            raise InvalidParameterError("normal truncation interval has no probability mass")
        x = self.mean + self.sd * special.ndtri(f_low + u * (f_high - f_low))
        # The inverse CDF can round a hair outside the interval; the bounds are a promise.
        return np.clip(x, -np.inf if self.low is None else self.low,
                       np.inf if self.high is None else self.high)


class Lognormal(_Distribution):
    """Lognormal by ``median`` and ``sigma`` (log-space sd), or by arithmetic ``mean`` and ``sd``.

    Optional truncation ``low``/``high`` in natural units.
    """

    dist: Literal["lognormal"]
    median: float | None = Field(None, gt=0)
    sigma: float | None = Field(None, gt=0)
    mean: float | None = Field(None, gt=0)
    sd: float | None = Field(None, gt=0)
    low: float | None = Field(None, ge=0)
    high: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _form(self):
        by_median = self.median is not None and self.sigma is not None
        by_mean = self.mean is not None and self.sd is not None
        if by_median == by_mean or (by_median and (self.mean or self.sd)) or (
                by_mean and (self.median or self.sigma)):
            raise ValueError("lognormal needs exactly one of (median, sigma) or (mean, sd)")
        if self.low is not None and self.high is not None and not self.high > self.low:
            raise ValueError(f"lognormal truncation needs low < high (got {self.low}, {self.high})")
        return self

    @property
    def mu_sigma(self) -> tuple[float, float]:
        """Log-space mean and sd: for (mean, sd), sigma² = ln(1 + sd²/mean²), mu = ln mean − sigma²/2."""
        if self.median is not None:
            return math.log(self.median), float(self.sigma)
        sigma2 = math.log1p((self.sd / self.mean) ** 2)
        return math.log(self.mean) - sigma2 / 2.0, math.sqrt(sigma2)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        mu, sigma = self.mu_sigma
        u = np.asarray(u, dtype=np.float64)
        f_low = 0.0 if not self.low else special.ndtr((math.log(self.low) - mu) / sigma)
        f_high = 1.0 if self.high is None else special.ndtr((math.log(self.high) - mu) / sigma)
        if not f_high > f_low:
            raise InvalidParameterError("lognormal truncation interval has no probability mass")
        x = np.exp(mu + sigma * special.ndtri(f_low + u * (f_high - f_low)))
        return np.clip(x, self.low or 0.0, np.inf if self.high is None else self.high)


class Empirical(_Distribution):
    """Resampling of observed values (e.g. uploaded bulk-sample grades or pit-log thicknesses).

    Sampled by the inverted empirical CDF, which is exactly a bootstrap draw of the samples
    (every draw is one of the observed values) and still accepts copula uniforms.
    """

    dist: Literal["empirical"]
    samples: list[float] = Field(..., min_length=1)

    @field_validator("samples")
    @classmethod
    def _finite(cls, values: list[float]) -> list[float]:
        if not all(math.isfinite(v) for v in values):
            raise ValueError("empirical samples must be finite numbers")
        return values

    def ppf(self, u: np.ndarray) -> np.ndarray:
        ordered = np.sort(np.asarray(self.samples, dtype=np.float64))
        index = np.ceil(np.asarray(u, dtype=np.float64) * ordered.size).astype(np.int64) - 1
        return ordered[np.clip(index, 0, ordered.size - 1)]


Parameter = Annotated[Union[Fixed, Uniform, Triangular, Pert, Normal, Lognormal, Empirical],
                      Field(discriminator="dist")]


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
        default_factory=list, description="Capacity modes present in the field; their sum is the capacity.")
    parameters: dict[str, Parameter]
    correlations: list[tuple[str, str, float]] = Field(default_factory=list)

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
        seen: set[frozenset[str]] = set()
        for a, b, rho in self.correlations:
            for name in (a, b):
                if name not in self.parameters:
                    raise ValueError(f"correlation [{a}, {b}] names unknown parameter '{name}'")
                if self.parameters[name].is_fixed:
                    raise ValueError(f"correlation [{a}, {b}]: '{name}' is fixed and cannot be correlated")
            if a == b:
                raise ValueError(f"correlation [{a}, {b}] pairs a parameter with itself")
            if not -1.0 <= rho <= 1.0:
                raise ValueError(f"correlation [{a}, {b}] = {rho} is outside [-1, 1]")
            if frozenset((a, b)) in seen:
                raise ValueError(f"correlation [{a}, {b}] is given twice")
            seen.add(frozenset((a, b)))
        copula_correlation(self)  # raises on a matrix that is not PSD
        missing = [f"{mode}: {name}" for mode in self.capacity_modes
                   for name in MODE_REQUIREMENTS[mode] if self.resolve(name, mode) is None]
        if missing:
            raise ValueError("capacity modes lack parameters (" + "; ".join(missing) + ")")
        return self

    @property
    def stochastic_names(self) -> list[str]:
        """Names of the non-fixed parameters, in sheet order (the copula's dimensions)."""
        return [name for name, p in self.parameters.items() if not p.is_fixed]

    def resolve(self, name: str, qualifier: str | None = None) -> str | None:
        """The parameter used for ``name`` under ``qualifier`` (class or mode), else the generic one."""
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
    """Validate sheet data, turning pydantic's errors into one readable :class:`InvalidParameterError`."""
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
    candidate: Path | Traversable = Path(path_or_field_id)
    if candidate.suffix not in (".yaml", ".yml"):
        candidate = PARAMETERS_DIR / f"{path_or_field_id}.yaml"
    if not candidate.is_file():  # the name only: error bodies carry no server paths
        raise NotFoundError(f"no parameter sheet {candidate.name!r}")
    try:
        data = yaml.safe_load(candidate.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InvalidParameterError(f"parameter sheet {candidate.name} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise InvalidParameterError(f"parameter sheet {candidate.name} must be a mapping")
    return parse_sheet(data)
