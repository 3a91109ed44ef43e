"""The marginal distributions of a parameter sheet (:mod:`footprint.params`).

Each is a frozen pydantic model with a unit and either a published ``source`` or an
``assumption`` (stated as such), sampled by its inverse CDF (:meth:`ppf`) from a uniform
variate, so the copula only has to produce correlated uniforms (USGS MapMark4 keeps the
same draws-then-transform structure). :data:`Parameter` is their union, told apart by
``dist``.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from scipy import special

from footprint.errors import InvalidParameterError


class _Distribution(BaseModel):
    """Fields common to every parameter: unit and provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit: str = Field(..., min_length=1,
                      description="Unit of the parameter, e.g. 'm', 'ct/m3', '1'.")
    source: str | None = Field(None, description="Published source of the value(s).")
    assumption: str | None = Field(
        None,
        description="Why this value is assumed when nothing is published (labelled as such).")
    description: str | None = None

    @model_validator(mode="after")
    def _provenance(self):
        if not (self.source or self.assumption):
            raise ValueError(
                "each parameter needs a 'source' or an 'assumption' (labelled as such)")
        return self

    @property
    def is_fixed(self) -> bool:
        """Whether the parameter is a constant (never drawn, never correlated)."""
        return False

    def ppf(self, u: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Values at the uniform variates ``u`` (the inverse CDF, in the parameter's unit)."""
        raise NotImplementedError


class Fixed(_Distribution):
    """A known constant."""

    dist: Literal["fixed"]
    value: float

    @property
    def is_fixed(self) -> bool:
        """A constant: never drawn, never correlated."""
        return True

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Values at the uniform variates ``u`` (the inverse CDF, in the parameter's unit)."""
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
        """Values at the uniform variates ``u`` (the inverse CDF, in the parameter's unit)."""
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
        """Values at the uniform variates ``u`` (the inverse CDF, in the parameter's unit)."""
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
        """Values at the uniform variates ``u`` (the inverse CDF, in the parameter's unit)."""
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
        """Values at the uniform variates ``u`` (the inverse CDF, in the parameter's unit)."""
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
        """Log-space mean and sd.

        For (mean, sd): sigma² = ln(1 + sd²/mean²), mu = ln mean − sigma²/2.
        """
        if self.median is not None and self.sigma is not None:
            return math.log(self.median), float(self.sigma)
        if self.mean is None or self.sd is None:  # the validator requires one of the pairs
            raise InvalidParameterError("lognormal needs (median, sigma) or (mean, sd)")
        sigma2 = math.log1p((self.sd / self.mean) ** 2)
        return math.log(self.mean) - sigma2 / 2.0, math.sqrt(sigma2)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Values at the uniform variates ``u`` (the inverse CDF, in the parameter's unit)."""
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
        """Values at the uniform variates ``u`` (the inverse CDF, in the parameter's unit)."""
        ordered = np.sort(np.asarray(self.samples, dtype=np.float64))
        index = np.ceil(np.asarray(u, dtype=np.float64) * ordered.size).astype(np.int64) - 1
        return ordered[np.clip(index, 0, ordered.size - 1)]


Parameter = Annotated[Fixed | Uniform | Triangular | Pert | Normal | Lognormal | Empirical,
                      Field(discriminator="dist")]
