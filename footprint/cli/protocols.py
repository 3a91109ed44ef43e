"""``footprint protocols calibrate``: size and power of every protocol, by simulation."""

from __future__ import annotations

import json

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
