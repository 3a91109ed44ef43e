"""Which unknown drives the spread: Sobol indices.

* :func:`sobol_indices` gives variance-based first-order (S1) and total (ST) indices
  (Sobol 2001; Saltelli et al. 2010 estimators, via SALib). Sobol indices assume
  independent inputs, so the sheet's correlations are *not* applied there: each
  parameter is sampled from its own marginal by its inverse CDF.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from footprint.errors import InvalidParameterError
from footprint.params import ParameterSheet
from footprint.simulation import Model

# Keep Sobol's unit-cube points off 0 and 1, where unbounded inverse CDFs are infinite.
_U_EPS = 1e-9


def sobol_indices(sheet: ParameterSheet, model: Model, outputs: Sequence[str], *,
                  n_base: int = 1024, seed: int = 0) -> pd.DataFrame:
    """Sobol first-order and total indices of ``outputs`` with respect to the stochastic parameters.

    Parameters
    ----------
    sheet, model
        The parameter sheet and the vectorised model (as for :func:`footprint.simulation.simulate`).
    outputs
        Model outputs to analyse.
    n_base
        Base sample size (a power of two); the model runs ``n_base × (k + 2)`` times for
        ``k`` stochastic parameters.
    seed
        Seed of the scrambled Sobol sequence and of the bootstrap confidence intervals.

    Returns
    -------
    pandas.DataFrame
        One row per (output, parameter): ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (95%
        bootstrap half-widths), sorted by ``ST`` within each output.
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    names = sheet.stochastic_names
    if len(names) < 2:
        raise InvalidParameterError("Sobol indices need at least two uncertain parameters")
    if n_base < 2 or n_base & (n_base - 1):
        raise InvalidParameterError(f"n_base must be a power of two (got {n_base})")
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    u = sobol_sample.sample(problem, n_base, calc_second_order=False, seed=seed)
    u = np.clip(u, _U_EPS, 1.0 - _U_EPS)
    params = {name: spec.ppf(np.zeros(len(u))) if spec.is_fixed
              else spec.ppf(u[:, names.index(name)])
              for name, spec in sheet.parameters.items()}
    results = model(params)
    rows = []
    for output in outputs:
        if output not in results:
            raise InvalidParameterError(f"model has no output '{output}'")
        y = np.broadcast_to(np.asarray(results[output], dtype=np.float64), (len(u),))
        if not np.all(np.isfinite(y)) or np.ptp(y) == 0:
            continue  # no spread to apportion (or infinite values): nothing to report
        indices = sobol_analyze.analyze(problem, np.ascontiguousarray(y), calc_second_order=False,
                                        seed=seed)
        for i, name in enumerate(names):
            rows.append({"output": output, "parameter": name, "S1": float(indices["S1"][i]),
                         "S1_conf": float(indices["S1_conf"][i]), "ST": float(indices["ST"][i]),
                         "ST_conf": float(indices["ST_conf"][i])})
    frame = pd.DataFrame(rows, columns=["output", "parameter", "S1", "S1_conf", "ST", "ST_conf"])
    return frame.sort_values(["output", "ST"], ascending=[True, False]).reset_index(drop=True)


#: Outputs whose spread the stored sensitivity table apportions.
SENSITIVITY_OUTPUTS = ("resource_ct", "capacity_ct_per_year")
SENSITIVITY_METHOD = ("Sobol first-order (S1) and total (ST) indices, Saltelli et al. (2010) "
                      "estimators via SALib, parameters sampled independently from their "
                      "marginals (the sheet's correlations are not applied)")


def sensitivity_summary(sheet: ParameterSheet, model: Model,
                        outputs: Sequence[str] = SENSITIVITY_OUTPUTS, *, n_base: int = 1024,
                        seed: int = 0) -> dict:
    """The JSON block a stored footprint keeps as ``summaries["sensitivity"]``.

    Parameters
    ----------
    sheet, model, outputs, n_base, seed
        As for :func:`sobol_indices`; outputs the model lacks or that do not vary are
        left out (a footprint without capacity modes has no capacity row).

    Returns
    -------
    dict
        ``method``, ``n_base``, ``seed``, ``model_runs`` and ``outputs``:
        ``{output: [{"parameter", "S1", "S1_conf", "ST", "ST_conf"}, ...]}`` sorted by
        ``ST`` descending. Indices are unitless shares of the output's variance.
        ``outputs`` is empty when the sheet has fewer than two uncertain parameters.
    """
    names = sheet.stochastic_names
    block: dict = {"method": SENSITIVITY_METHOD, "n_base": int(n_base), "seed": int(seed),
                   "model_runs": int(n_base * (len(names) + 2)), "outputs": {}}
    if len(names) < 2:
        return block
    probe = model({name: spec.ppf(np.full(2, 0.5)) for name, spec in sheet.parameters.items()})
    present = [name for name in outputs if name in probe]
    if not present:
        return block
    table = sobol_indices(sheet, model, present, n_base=n_base, seed=seed)
    for output, rows in table.groupby("output", sort=False):
        ordered = rows.sort_values("ST", ascending=False)
        block["outputs"][str(output)] = [
            {"parameter": str(name), "S1": float(s1), "S1_conf": float(s1c), "ST": float(st),
             "ST_conf": float(stc)}
            for name, s1, s1c, st, stc in zip(
                ordered["parameter"].tolist(), ordered["S1"].to_numpy(float),
                ordered["S1_conf"].to_numpy(float), ordered["ST"].to_numpy(float),
                ordered["ST_conf"].to_numpy(float), strict=True)]
    return block


def total_indices(block: dict | None, output: str) -> dict[str, float]:
    """``parameter -> ST`` of ``output`` in a stored sensitivity block (empty when absent)."""
    rows = ((block or {}).get("outputs") or {}).get(output) or []
    return {str(row["parameter"]): float(row["ST"]) for row in rows}
