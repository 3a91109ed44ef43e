"""Working directories owned by a process, and the sweep of what a crash leaves behind.

Everything written to the state directory is first written to a hidden working
directory named after its owner (:mod:`footprint.ownership`) and renamed into place when
complete:

``uploads/.upload-<owner>-*``
    an upload being received and converted (a layer, a half-written COG);
``footprints/<field>/.partial-<owner>-*``
    a footprint version being built;
``delineations/.partial-<owner>-<job>-*``
    a delineation being written.

A process killed with ``kill -9`` leaves its working directories, and one killed between
the rename of a footprint version and the commit of its row leaves a version directory no
row refers to. :func:`sweep_state_dir` removes both, without touching what a live process
(this one or another server on the same state directory) is still writing:

- a working directory whose owner is on this host is removed once that owner is gone;
- one whose owner is on another host (or unnamed, from an older version) once it has not
  changed for :data:`FOREIGN_GRACE_S`;
- a version directory no stored footprint refers to once it has not changed for
  ``version_grace_s`` (the seconds between a build's rename and its commit).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from footprint.errors import StorageFullError
from footprint.ownership import current_owner, owner_alive, parse_owner
from footprint.settings import Settings

log = logging.getLogger(__name__)

UPLOAD_PREFIX = ".upload-"
PARTIAL_PREFIX = ".partial-"
#: Age after which a working directory of another host (or of no known owner) is removed.
FOREIGN_GRACE_S = 6 * 3600.0
#: Age after which a footprint version directory without a database row is removed.
VERSION_GRACE_S = 600.0


def free_mb(settings: Settings) -> float:
    """Free space on the file system of the state directory, MB."""
    return shutil.disk_usage(settings.state_dir).free / (1 << 20)


def check_free_space(settings: Settings) -> None:
    """Raise :class:`StorageFullError` when the state directory's disk has less than
    ``settings.min_free_mb`` free: a write is refused before it starts, not half done."""
    try:
        free = free_mb(settings)
    except OSError:
        return
    if free < settings.min_free_mb:
        raise StorageFullError(
            "storage full: the server has too little space left to accept writes",
            hint="free space on the server, then try again",
            detail=f"{free:.0f} MB free under the state directory, "
                   f"FOOTPRINT_MIN_FREE_MB={settings.min_free_mb}")


def owned_workdir(root: Path, prefix: str, label: str = "") -> Path:
    """A new hidden working directory ``root/<prefix><owner>-<label>-XXXX`` of this process."""
    root.mkdir(parents=True, exist_ok=True)
    name = f"{prefix}{current_owner().tag}-" + (f"{label}-" if label else "")
    return Path(tempfile.mkdtemp(prefix=name, dir=root))


def _age_s(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:
        return 0.0


def _abandoned(path: Path, prefix: str, now: float) -> bool:
    owner = parse_owner(path.name[len(prefix):])
    alive = owner_alive(owner) if owner is not None else None
    if alive is not None:
        return not alive
    return _age_s(path, now) > FOREIGN_GRACE_S


def working_directories(settings: Settings) -> list[tuple[Path, str]]:
    """Every hidden working directory under the state directory, with its prefix."""
    state = settings.state_dir
    found = [(p, UPLOAD_PREFIX) for p in (state / "uploads").glob(f"{UPLOAD_PREFIX}*")]
    found += [(p, PARTIAL_PREFIX) for p in (state / "footprints").glob(f"*/{PARTIAL_PREFIX}*")]
    found += [(p, PARTIAL_PREFIX) for p in (state / "delineations").glob(f"{PARTIAL_PREFIX}*")]
    return [(p, prefix) for p, prefix in found if p.is_dir()]


def _referenced_versions(store: Any, settings: Settings) -> set[Path]:
    referenced = set()
    for record in store.list_footprints():
        for value in [getattr(record, "draws_path", None),
                      *(getattr(record, "rasters", None) or {}).values()]:
            if value:
                parts = Path(value).parts
                if len(parts) >= 3 and parts[0] == "footprints":
                    referenced.add(settings.state_dir.joinpath(*parts[:3]))
    return referenced


def unreferenced_versions(store: Any, settings: Settings,
                          grace_s: float = VERSION_GRACE_S) -> list[Path]:
    """Footprint version directories no stored footprint refers to, older than ``grace_s``."""
    now = time.time()
    referenced = _referenced_versions(store, settings)
    return [path for path in (settings.state_dir / "footprints").glob("*/*")
            if path.is_dir() and not path.name.startswith(".") and path not in referenced
            and _age_s(path, now) > grace_s]


def sweep_state_dir(settings: Settings, store: Any = None, *,
                    version_grace_s: float = VERSION_GRACE_S) -> list[Path]:
    """Remove what crashed processes left under the state directory; return the paths.

    With ``store``, footprint version directories without a row are removed too.
    """
    now = time.time()
    doomed = [path for path, prefix in working_directories(settings)
              if _abandoned(path, prefix, now)]
    if store is not None:
        doomed += unreferenced_versions(store, settings, version_grace_s)
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
        log.warning("removed %s left by a process that stopped",
                    path.relative_to(settings.state_dir))
    return doomed
