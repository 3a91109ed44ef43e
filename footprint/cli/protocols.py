"""``footprint protocols calibrate``: size and power of every protocol, by simulation."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def calibrate(participant: str = typer.Argument(..., help="KP participant, ISO3 (GHA, CIV, "
                                                          "TGO, ZWE)."),
              year_from: int = typer.Option(..., "--from", help="First year (inclusive)."),
              year_to: int = typer.Option(..., "--to", help="Last year (inclusive)."),
              reps: int = typer.Option(1000, "--reps", help="Honest replicates."),
              seed: int = typer.Option(0, "--seed", help="Base seed of the simulation."),
              json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Simulate honest and dishonest declarations from the participant's footprints and
    print each test's size at alpha (with its Monte Carlo error) and power."""
    from footprint.pipeline.calibrate import calibrate_participant

    result = calibrate_participant(participant, year_from, year_to, reps=reps, seed=seed)
    if json_out:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        typer.echo(f"{participant.upper()} {year_from}-{year_to}")
        typer.echo(result.format())


def cases(readme: Path | None = typer.Option(None, "--write", dir_okay=False,
                                             help="Write the table into this README between "
                                                  "the case markers.")) -> None:
    """Compute the real-data case table (Togo 2003-04, Côte d'Ivoire 2006-13) from the
    KP statistics and the default footprints, and print it (or write it into a README)."""
    from footprint.pipeline.calibrate import CASES, case_table, write_case_table
    from footprint.pipeline.report import make_report

    reports = {code: make_report(code, 2003, 2015) for code in dict.fromkeys(c[0] for c in CASES)}
    table = case_table(reports)
    if readme is None:
        typer.echo(table)
    else:
        readme.write_text(write_case_table(readme.read_text(encoding="utf-8"), table),
                          encoding="utf-8")
        typer.echo(f"case table written to {readme}", err=True)
