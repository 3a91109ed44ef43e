"""What the p-valued protocols read for one participant and period."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from footprint.protocols.nulls import (
    DEFAULT_UTILISATION,
    DEFAULT_VOLUME_SERIES,
    SeriesModel,
    UtilisationModel,
    VolumePredictive,
)
from footprint.protocols.sizes import DEFAULT_SIZE_NULL, SizeNullModel
from footprint.protocols.value import MarketModel


@dataclass(frozen=True)
class Certificates:
    """A period's certificates as the protocols read them.

    ``usd_per_ct`` and ``year`` per certificate; ``stones`` ``(n_cert, K)`` whole stones
    per common class (:func:`stone_counts`) for the certificates with a sieve breakdown
    (or None).
    """

    usd_per_ct: np.ndarray
    year: np.ndarray
    stones: np.ndarray | None = None


@dataclass(frozen=True)
class ProtocolData:
    """Everything the p-valued protocols read for one participant and period.

    Attributes
    ----------
    years
        tested years.
    declared_ct, declared_usd
        per year (ct, US$); ``status`` per year (:data:`DECLARED_STATUS`).
    capacity_by_year
        per year, the participant's capacity draws (ct/yr, fields summed draw by draw).
    value_draws_usd_per_ct
        the participant's field value at index 1 (US$/ct draws).
    market
        :class:`MarketModel`.
    certificates
        :class:`Certificates` or None.
    size_classes, stone_share, size_concentration
        the footprint's expected stone share per common class and the Dirichlet
        concentration of its uncertainty (None: no size footprint).
    """

    years: Sequence[int]
    declared_ct: np.ndarray
    declared_usd: np.ndarray
    status: Sequence[str]
    capacity_by_year: Sequence[np.ndarray]
    value_draws_usd_per_ct: np.ndarray
    market: MarketModel
    certificates: Certificates | None = None
    size_classes: Sequence[str] | None = None
    stone_share: np.ndarray | None = None
    size_concentration: float | None = None
    utilisation: UtilisationModel = DEFAULT_UTILISATION
    volume_series: SeriesModel = DEFAULT_VOLUME_SERIES
    size_null: SizeNullModel = DEFAULT_SIZE_NULL
    predictive: VolumePredictive | None = None

    def with_predictive(self) -> ProtocolData:
        """This data with its volume predictive built (reuse it across replicates)."""
        if self.predictive is not None:
            return self
        return replace(self, predictive=VolumePredictive.build(self.capacity_by_year,
                                                               self.utilisation))


#: Fewest certificates for the shipment test; fewest years for a break test.
MIN_SHIPMENTS = 3
MIN_BREAK_YEARS = 5
