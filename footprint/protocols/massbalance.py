"""Protocol 4: production + imports - exports - stock change, per period (DOMAIN.md 4.4)."""

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


def check_mass_balance(balance: pd.DataFrame, *, period: str | None = None,
                       thresholds: VerdictThresholds = DEFAULT_THRESHOLDS) -> TestResult:
    """production + imports - exports - stock change, per period (DOMAIN.md 4.4).

    Parameters
    ----------
    balance
        one row per period: ``period``, ``production_ct``, ``imports_ct``, ``exports_ct``
        and optionally ``stock_change_ct`` (carats, + = stock built up; NaN or absent:
        stock unknown).

    Returns
    -------
    TestResult
        statistic: the largest ``|residual| / (production + imports)`` over the periods.
        No p-value (not part of the FDR procedure). A period whose stock change is
        unknown is computed with 0 and labelled ``stock unknown``; its verdict is at most
        ``watch``: a stockpile can explain any residual.
    """
    need = ["period", "production_ct", "imports_ct", "exports_ct"]
    missing = [c for c in need if c not in balance.columns]
    if missing or balance.empty:
        raise InvalidParameterError(f"mass balance needs columns {need} and at least one row")
    frame = balance[need].copy()
    stock = balance["stock_change_ct"] if "stock_change_ct" in balance.columns \
        else pd.Series(np.nan, index=balance.index)
    frame["stock_known"] = np.isfinite(stock.to_numpy(dtype=float))
    frame["stock_change_ct"] = stock.where(frame["stock_known"], 0.0).astype(float)
    frame["residual_ct"] = (frame["production_ct"] + frame["imports_ct"]
                            - frame["exports_ct"] - frame["stock_change_ct"])
    supply = frame["production_ct"] + frame["imports_ct"]
    rel = np.where(supply > 0, frame["residual_ct"].abs() / supply.where(supply > 0, 1.0),
                   np.where(frame["residual_ct"].abs() > 0, np.inf, 0.0))
    frame["relative"] = rel
    verdicts = []
    for r, known in zip(rel, frame["stock_known"], strict=False):
        v = verdict_from_relative(r, thresholds.mass_balance_watch,
                                  thresholds.mass_balance_anomalous)
        verdicts.append(v if known or v == "consistent" else "watch")
    frame["verdict"] = verdicts
    frame["stock"] = np.where(frame["stock_known"], "declared", "stock unknown")
    return TestResult(
        name="mass_balance", period=period, statistic=float(np.max(rel)),
        statistic_name="max |residual| / (production + imports)", p_value=None,
        probability=None, verdict=worst_verdict(verdicts),
        thresholds={"watch": thresholds.mass_balance_watch,
                    "anomalous": thresholds.mass_balance_anomalous},
        evidence={"periods": frame.to_dict(orient="records"),
                  "stock_unknown": [str(p) for p, k in zip(frame["period"], frame["stock_known"],
                                                            strict=False) if not k]},
        method="residual = production + imports - exports - stock change (carats), "
               "relative to production + imports; stock unknown caps the verdict at watch")
