"""``footprint compare FIELD A B``: what changed between two stored footprint versions."""

from __future__ import annotations

import json

import typer


def compare(field: str = typer.Argument(..., help="Field id, e.g. gh-birim."),
            version_from: int = typer.Argument(..., help="The earlier version (before).",
                                               min=1),
            version_to: int = typer.Argument(None, help="The later version (after); default "
                                                        "the latest.", min=1),
            as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON "
                                                               "(as the service answers)."),
            all_parameters: bool = typer.Option(False, "--all-parameters",
                                                help="List every parameter, not only the "
                                                     "shifted ones.")) -> None:
    """Evidence changed, parameter shifts, resource and capacity bands, deposits added and
    removed, and the Sobol total indices of both versions."""
    from footprint.catalogue import get_field
    from footprint.pipeline.compare import compare_versions, comparison_lines
    from footprint.services.store import open_store
    from footprint.settings import get_settings

    get_field(field)
    with open_store(get_settings()) as store:
        result = compare_versions(store, field, version_from, version_to)
    if as_json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        typer.echo("\n".join(comparison_lines(result, all_parameters=all_parameters)))
