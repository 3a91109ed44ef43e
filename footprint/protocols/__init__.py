"""Statistical protocols: declared statistics against production footprints.

The six comparisons of DOMAIN.md section 4 (KPCS 2008 plenary: "statistical protocols ...
to allow comparison of the export footprints with the established production footprint
of the participants"). Every test is a pure function on numpy arrays / pandas tables and
returns a :class:`TestResult`: the statistic, a p-value or probability, a verdict
(``consistent``, ``watch``, ``anomalous``), the thresholds used and the evidence.

Conventions
-----------
* Carats (ct), US dollars (US$), US$/ct, carats per year (ct/yr).
* Every p-valued test states its statistic, its null and what it detects. Nulls are
  honest-data models, not "declared = footprint mean": production is utilisation x
  capacity (:class:`UtilisationModel`), US$/ct is the field's value x a market index of
  the other participants with an annual scatter (:class:`MarketModel`), parcels scatter
  around the field's value, stones are over-dispersed (:class:`SizeNullModel`), series
  have KP-like autocorrelation and trend (:class:`SeriesModel`).
* Monte Carlo p-values never go below ``1 / (n + 1)`` for ``n`` draws (Davison and
  Hinkley 1997, eq. 4.11). Band tests are two-sided.
* One alpha: :func:`adjust_benjamini_hochberg` decides every p-valued verdict
  (anomalous at ``alpha``, watch at ``watch_alpha``). Mass balance and mirror statistics
  have no p-value and keep relative thresholds.
* :func:`run_protocols` runs the p-valued tests; the report and the calibration harness
  (:mod:`footprint.calibration`) both call it.
* Modules: :mod:`~footprint.protocols.verdicts` (thresholds, results),
  :mod:`~footprint.protocols.combine` (fields summed draw by draw),
  :mod:`~footprint.protocols.nulls` (honest-data models), one module per protocol
  (``volume``, ``value``, ``shipments``, ``sizes``, ``massbalance``, ``mirror``,
  ``breaks``), :mod:`~footprint.protocols.fdr`, :mod:`~footprint.protocols.data` and
  :mod:`~footprint.protocols.run`. Import from the package. Non-finite inputs (a certificate with
  ``inf`` US$/ct) are left out and counted, never allowed to poison a report.
"""

from __future__ import annotations

from footprint.protocols.breaks import (
    UNEXPLAINED_STATISTIC,
    VALUE_HALF_WEIGHT_CT,
    break_result,
    break_value_test,
    break_volume_test,
    capacity_profile_statistic,
    detect_break,
    max_shift_statistic,
    precision_weights,
    volume_null_series,
)
from footprint.protocols.combine import (
    combine_size_shares,
    combine_value_draws,
    sum_capacity_draws,
)
from footprint.protocols.data import (
    MIN_BREAK_YEARS,
    MIN_SHIPMENTS,
    Certificates,
    ProtocolData,
)
from footprint.protocols.fdr import (
    adjust_benjamini_hochberg,
)
from footprint.protocols.massbalance import (
    check_mass_balance,
)
from footprint.protocols.mirror import (
    compare_mirror,
    mirror_pairs,
)
from footprint.protocols.nulls import (
    DEFAULT_UTILISATION,
    DEFAULT_VOLUME_SERIES,
    PROFILE_DRAWS,
    PROFILE_TAIL,
    SeriesModel,
    UtilisationModel,
    VolumePredictive,
    kp_series_dynamics,
)
from footprint.protocols.run import (
    protocol_seeds,
    run_protocols,
)
from footprint.protocols.shipments import (
    compare_shipment_values,
)
from footprint.protocols.sizes import (
    DEFAULT_SIZE_NULL,
    SizeNullModel,
    compare_size_distribution,
    expected_stone_share,
    footprint_concentration,
    observed_common_class_ct,
    representative_stone_ct,
    stone_counts,
)
from footprint.protocols.value import (
    MarketModel,
    compare_value_band,
)
from footprint.protocols.verdicts import (
    DEFAULT_THRESHOLDS,
    VERDICTS,
    TestResult,
    Verdict,
    VerdictThresholds,
    mc_p_value,
    mc_tail_probabilities,
    quantiles,
    verdict_from_p,
    verdict_from_relative,
    worst_verdict,
)
from footprint.protocols.volume import (
    DECLARED_STATUS,
    VOLUME_PATTERNS,
    compare_volume,
)

__all__ = [
    "Certificates",
    "DECLARED_STATUS",
    "DEFAULT_SIZE_NULL",
    "DEFAULT_THRESHOLDS",
    "DEFAULT_UTILISATION",
    "DEFAULT_VOLUME_SERIES",
    "MIN_BREAK_YEARS",
    "MIN_SHIPMENTS",
    "MarketModel",
    "PROFILE_DRAWS",
    "PROFILE_TAIL",
    "ProtocolData",
    "SeriesModel",
    "SizeNullModel",
    "TestResult",
    "UNEXPLAINED_STATISTIC",
    "UtilisationModel",
    "VALUE_HALF_WEIGHT_CT",
    "VERDICTS",
    "VOLUME_PATTERNS",
    "Verdict",
    "VerdictThresholds",
    "VolumePredictive",
    "adjust_benjamini_hochberg",
    "break_result",
    "break_value_test",
    "break_volume_test",
    "capacity_profile_statistic",
    "check_mass_balance",
    "combine_size_shares",
    "combine_value_draws",
    "compare_mirror",
    "compare_shipment_values",
    "compare_size_distribution",
    "compare_value_band",
    "compare_volume",
    "detect_break",
    "expected_stone_share",
    "footprint_concentration",
    "kp_series_dynamics",
    "max_shift_statistic",
    "mc_p_value",
    "mc_tail_probabilities",
    "mirror_pairs",
    "observed_common_class_ct",
    "precision_weights",
    "protocol_seeds",
    "quantiles",
    "representative_stone_ct",
    "run_protocols",
    "stone_counts",
    "sum_capacity_draws",
    "verdict_from_p",
    "verdict_from_relative",
    "volume_null_series",
    "worst_verdict",
]
