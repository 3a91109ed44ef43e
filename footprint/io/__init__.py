"""Input and output: DEM tiles, vector layers, KP statistics, downloads and checks.

I/O takes paths: no function here reads the settings. The CLI and the service pass
``settings.data_dir`` and ``settings.cache_dir`` in.
"""

from __future__ import annotations

from pathlib import Path

from footprint.errors import ConfigurationError


def require_dir(path: str | Path | None, name: str) -> Path:
    """``path`` as a :class:`Path`; :class:`ConfigurationError` when the caller gave none."""
    if path is None:
        raise ConfigurationError(f"{name} is required: footprint.io takes paths",
                                 hint=f"pass settings.{name}")
    return Path(path)
