"""One alpha: the Benjamini-Hochberg decisions over every p-valued test of a report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from footprint.protocols.verdicts import DEFAULT_THRESHOLDS, TestResult, Verdict, VerdictThresholds


def adjust_benjamini_hochberg(results: Sequence[TestResult], *,
                              thresholds: VerdictThresholds = DEFAULT_THRESHOLDS
                              ) -> tuple[list[TestResult], dict[str, Any]]:
    """One Benjamini-Hochberg procedure over every test of a report that has a p-value.

    ``statsmodels.stats.multitest.multipletests(p, method="fdr_bh")`` at ``alpha`` and at
    ``watch_alpha``: rejected at ``alpha`` -> ``anomalous``; rejected only at
    ``watch_alpha`` -> ``watch``; else ``consistent``. ``p_adjusted`` is the BH-adjusted
    p-value (a test is anomalous exactly when ``p_adjusted <= alpha``). Tests without a
    p-value (mass balance, mirror) keep their own verdicts and are not counted.

    Returns
    -------
    (results, summary)
        the results in the same order, and ``{"method", "alpha", "watch_alpha",
        "n_tests", "n_rejected", "n_watch"}``; ``n_rejected`` equals the number of
        p-valued tests whose verdict is ``anomalous``.
    """
    from statsmodels.stats.multitest import multipletests

    idx = [i for i, r in enumerate(results) if r.p_value is not None]
    out = list(results)
    summary: dict[str, Any] = {"method": "Benjamini-Hochberg (statsmodels fdr_bh)",
                               "alpha": thresholds.alpha, "watch_alpha": thresholds.watch_alpha,
                               "n_tests": len(idx), "n_rejected": 0, "n_watch": 0}
    if not idx:
        return out, summary
    pvals = np.array([results[i].p_value for i in idx], dtype="float64")
    reject, adjusted, _, _ = multipletests(pvals, alpha=thresholds.alpha, method="fdr_bh")
    watch, _, _, _ = multipletests(pvals, alpha=thresholds.watch_alpha, method="fdr_bh")
    for j, i in enumerate(idx):
        verdict: Verdict = "anomalous" if reject[j] else "watch" if watch[j] else "consistent"
        out[i] = replace(results[i], p_adjusted=float(adjusted[j]), verdict=verdict)
    summary["n_rejected"] = int(reject.sum())
    summary["n_watch"] = int((watch & ~reject).sum())
    return out, summary
