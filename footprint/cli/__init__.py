"""The ``footprint`` command line: one module per subcommand, the same functions as the API.

Errors derived from :class:`footprint.errors.FootprintError` print one line on stderr that
says what to fix and exit non-zero (codes in :data:`footprint.errors.EXIT_CODES`).

Every command module is imported here to register it, so at module level they import
only typer and the light leaves (errors, provenance); a command imports the services it
runs (and with them the scientific stack and the database) in its body. That keeps
``footprint --help`` and a usage error at about 0.1 s instead of 2-3 s.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from footprint.errors import FootprintError, exit_code_for
from footprint.provenance import code_version

app = typer.Typer(name="footprint", no_args_is_help=True, add_completion=False,
                  help="Production footprints of alluvial diamond fields (KP WGDE).",
                  pretty_exceptions_enable=False)
data_app = typer.Typer(no_args_is_help=True, help="Input data: what is present, what is missing.")
db_app = typer.Typer(no_args_is_help=True, help="The database: migrations.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys and their roles.")
protocols_app = typer.Typer(no_args_is_help=True, help="The statistical protocols: calibration.")
layers_app = typer.Typer(no_args_is_help=True,
                         help="Survey layers of a field: upload, list, retire.")
app.add_typer(data_app, name="data")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(layers_app, name="layers")
app.add_typer(protocols_app, name="protocols")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"footprint {code_version()}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit."),
          verbose: bool = typer.Option(False, "--verbose", "-v",
                                       help="Log progress details.")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


# (typer app, command name, module under footprint.cli, function name)
_COMMANDS = [
    (app, "fields", "catalogue", "fields"),
    (data_app, "check", "data", "check"),
    (data_app, "fetch", "data", "fetch"),
    (db_app, "upgrade", "db", "upgrade"),
    (keys_app, "create", "keys", "create"),
    (keys_app, "list", "keys", "list_"),
    (keys_app, "revoke", "keys", "revoke"),
    (layers_app, "add", "layers", "add"),
    (app, "delineate", "delineate", "delineate"),
    (app, "capacity", "capacity", "capacity"),
    (app, "build", "build", "build"),
    (app, "compare", "compare", "compare"),
    (layers_app, "list", "layers", "list_"),
    (layers_app, "retire", "layers", "retire"),
    (app, "report", "report", "report"),
    (protocols_app, "calibrate", "protocols", "calibrate"),
    (protocols_app, "cases", "protocols", "cases"),
    (app, "serve", "serve", "serve"),
    (app, "demo", "demo", "demo"),
]

for _target, _name, _module, _func in _COMMANDS:
    _mod = importlib.import_module(f"footprint.cli.{_module}") \
        if importlib.util.find_spec(f"footprint.cli.{_module}") else None
    if _mod is not None and hasattr(_mod, _func):
        _target.command(_name)(getattr(_mod, _func))


def _click_errors() -> tuple[type[Exception], ...]:
    """Click's usage-error class, from click itself and from the copy typer >= 0.29 bundles."""
    found = []
    for name in ("click.exceptions", "typer._click.exceptions"):
        try:
            found.append(importlib.import_module(name).ClickException)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def main() -> None:
    """Entry point of the console script: FootprintError and usage errors → one line on
    stderr, non-zero exit."""
    try:
        result = app(standalone_mode=False)
        # in non-standalone mode click returns typer.Exit's code instead of raising
        if isinstance(result, int) and result:
            sys.exit(result)
    except FootprintError as error:
        typer.echo(f"footprint: error: {error}", err=True)
        sys.exit(exit_code_for(error))
    except typer.Abort:
        typer.echo("footprint: aborted", err=True)
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except _click_errors() as error:  # usage errors: a bad option, a missing argument
        message = " ".join(error.format_message().split())  # type: ignore[attr-defined]
        typer.echo(f"footprint: error: {message} (see --help)", err=True)
        sys.exit(error.exit_code)  # type: ignore[attr-defined]
