"""Protocol 5: mirror statistics, A's exports to B against B's imports from A (DOMAIN.md 4.5)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from footprint.errors import InvalidParameterError
from footprint.protocols.verdicts import (
    DEFAULT_THRESHOLDS,
    TestResult,
    VerdictThresholds,
    verdict_from_relative,
    worst_verdict,
)


def mirror_pairs(exports: pd.DataFrame, participant: str) -> pd.DataFrame:
    """Pair a participant's partner flows with the partners' mirror declarations.

    From a parsed export-statistics table (:func:`footprint.declarations.parse_exports`):
    for every row of ``participant`` with a partner B, the row of B with partner
    ``participant``, the opposite flow and the same period. Columns: ``period``,
    ``partner``, ``flow`` (as declared by the participant), ``declared_ct``,
    ``mirror_ct``, ``declared_usd``, ``mirror_usd``. Rows without a mirror are dropped.
    """
    own = exports[(exports["participant"] == participant) & (exports["partner"] != "")]
    other = exports[exports["partner"] == participant]
    agg = {"carats": "sum", "value_usd": "sum"}
    own = own.groupby(["period", "partner", "flow"], as_index=False).agg(agg)
    other = other.groupby(["period", "participant", "flow"], as_index=False).agg(agg)
    other = other.assign(flow=other["flow"].map({"export": "import", "import": "export"}))
    merged = own.merge(other.rename(columns={"participant": "partner"}),
                       on=["period", "partner", "flow"], suffixes=("_declared", "_mirror"))
    return merged.rename(columns={"carats_declared": "declared_ct", "carats_mirror": "mirror_ct",
                                  "value_usd_declared": "declared_usd",
                                  "value_usd_mirror": "mirror_usd"})


def compare_mirror(pairs: pd.DataFrame, *, period: str | None = None,
                   thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """Mirror statistics: A's exports to B against B's imports from A (DOMAIN.md 4.5).

    Compared in carats (US$ differ legitimately: FOB against CIF). Discrepancy of a pair:
    ``(declared - mirror) / max(declared, mirror)`` in [-1, 1]; the statistic is the
    largest absolute one; per-pair table in the evidence.
    """
    if pairs.empty:
        raise InvalidParameterError("mirror statistics: no pair of mirror declarations")
    frame = pairs.copy()
    declared = frame["declared_ct"].to_numpy(dtype="float64")
    larger = np.maximum(declared, frame["mirror_ct"].to_numpy(dtype="float64"))
    frame["discrepancy"] = np.divide(declared - frame["mirror_ct"].to_numpy(dtype="float64"),
                                     larger, out=np.zeros_like(larger), where=larger > 0)
    frame["verdict"] = [verdict_from_relative(d, thresholds.mirror_watch,
                                              thresholds.mirror_anomalous)
                        for d in frame["discrepancy"]]
    worst = float(frame["discrepancy"].abs().max())
    return TestResult(
        name="mirror", period=period, statistic=worst,
        statistic_name="max |declared - mirror| / max(declared, mirror) (carats)",
        p_value=None, probability=None, verdict=worst_verdict(list(frame["verdict"])),
        thresholds={"watch": thresholds.mirror_watch, "anomalous": thresholds.mirror_anomalous},
        evidence={"pairs": frame.to_dict(orient="records")},
        method="relative discrepancy of carats between mirror declarations")
