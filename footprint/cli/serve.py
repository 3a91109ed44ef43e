"""``footprint serve``: run the web service (OGC API - Features and Processes)."""

from __future__ import annotations

import typer


def serve(host: str = typer.Option(None, help="Interface to bind (default FOOTPRINT_HOST)."),
          port: int = typer.Option(None, help="TCP port (default FOOTPRINT_PORT)."),
          reload: bool = typer.Option(False, "--reload",
                                      help="Restart on code changes (development)."),
          workers: int = typer.Option(1, min=1, max=64,
                                      help="Server processes sharing the database and state "
                                           "directory (each owns its own jobs).")) -> None:
    """Start the service with uvicorn and print the URL to open."""
    run_service(host, port, reload=reload, workers=workers)


def run_service(host: str | None = None, port: int | None = None, *, reload: bool = False,
                workers: int = 1) -> None:
    """The service on ``host:port`` (default the settings'), for ``footprint serve`` and
    ``footprint demo``: plain arguments, so a caller from Python gets no typer defaults."""
    from footprint.native_memory import reexec_with_python_malloc
    from footprint.settings import get_settings

    settings = get_settings()
    settings.check_serve_safe()
    reexec_with_python_malloc(settings.python_malloc)  # before uvicorn, threads, sockets
    import uvicorn

    host = host or settings.host
    port = port or settings.port
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"open the map: http://{shown}:{port}/map")
    typer.echo(f"footprint service on http://{shown}:{port}/  "
               f"(API docs: http://{shown}:{port}/docs; database: "
               f"{'PostGIS' if settings.is_postgres else 'SQLite'}; Ctrl-C stops it)")
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, reload=reload,
                workers=None if reload else workers,
                log_level=settings.log_level.lower(), access_log=False,
                timeout_keep_alive=settings.keep_alive_s)
