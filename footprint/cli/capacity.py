"""``footprint capacity FIELD``: resource (ct) and capacity (ct/yr) summaries by Monte Carlo."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import typer

from footprint.provenance import sha256_file


def _deposits_for(field_id: str):
    """Deposits and stream length from the delineation, or ``(None, None, {}, note)`` without it."""
    try:
        from footprint.pipeline.delineate import delineate_field
    except ImportError:
        return None, None, {}, "delineation not available: using the sheet's area_m2"
    result = delineate_field(field_id)
    checksums = {}
    for item in (getattr(result, "summary", None) or {}).get("inputs", []):
        name = Path(item["path"]).name if item.get("path") else "layer"
        checksums[f"{item.get('role', 'input')}:{name}"] = item["sha256"]
    return result.deposits, getattr(result, "stream_length_km", None), checksums, None


def capacity(field: str = typer.Argument(..., help="Field id, e.g. gh-birim."),
             params: Path | None = typer.Option(None, "--params", help="Parameter sheet (YAML); "
                                                "default datasets/parameters/<field>.yaml."),
             draws: int | None = typer.Option(None, "--draws", min=1,
                                              help="Monte Carlo draws (default FOOTPRINT_DRAWS)."),
             seed: int | None = typer.Option(None, "--seed", min=0,
                                             help="Base seed (default FOOTPRINT_SEED); the field's "
                                                   "own seed is derived from it."),
             json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print a field's resource (ct) and production capacity (ct/yr): P5, P50, P95, mean."""
    from footprint.catalogue import get_field
    from footprint.footprints import compute_footprint
    from footprint.params import load_sheet
    from footprint.settings import get_settings
    from footprint.simulation import TooFewDrawsWarning, field_seed

    settings = get_settings()
    get_field(field)  # UnknownFieldError for a typo, before any work
    sheet = load_sheet(params if params is not None else field)
    draws = settings.draws if draws is None else draws
    seed = field_seed(settings.seed if seed is None else seed, field)  # a base seed, as in build
    deposits, stream_length_km, checksums, note = _deposits_for(field)
    if params is not None:
        checksums["parameter_sheet"] = sha256_file(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TooFewDrawsWarning)  # reported below instead
        result = compute_footprint(field, sheet, deposits, stream_length_km, seed=seed, draws=draws,
                                   input_checksums=checksums)
    resource = result.resource["resource_ct"].as_dict()
    capacity_ = result.capacity["capacity_ct_per_year"].as_dict()
    if note:
        typer.echo(f"footprint: note: {note}", err=True)
    if result.simulation.warning:
        typer.echo(f"footprint: warning: {result.simulation.warning}", err=True)
    if json_out:
        keys = ("p5", "p50", "p95", "mean", "sem")
        typer.echo(json.dumps({
            "field": field, "seed": seed, "draws": draws,
            "area_source": result.deposits["area_source"],
            "resource_ct": {k: resource[k] for k in keys},
            "capacity_ct_per_year": {k: capacity_[k] for k in keys},
            "tails_trusted": result.simulation.tails_trusted,
            "draws_sha256": result.provenance["draws_sha256"],
            "code_version": result.provenance["code_version"],
        }, indent=2))
        return
    out = sys.stdout
    out.write(f"{field}: {draws:,} draws, seed {seed}, "
              f"areas from {result.deposits['area_source']}\n")
    out.write(f"{'':26}{'P5':>14}{'P50':>14}{'P95':>14}{'mean':>14}\n")
    for label, row in (("resource (ct)", resource), ("capacity (ct/yr)", capacity_)):
        out.write(f"{label:26}" + "".join(f"{row[k]:>14,.0f}" for k in ("p5", "p50", "p95", "mean"))
                  + "\n")
