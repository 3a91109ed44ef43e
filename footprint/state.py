"""Where state lives: the one layout of the state directory (``FOOTPRINT_STATE_DIR``).

Every module that reads or writes under the state directory asks a :class:`StateLayout`
for the path instead of spelling the folder names. The database rows keep paths
relative to :attr:`StateLayout.root`, so the directory can move.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StateLayout:
    """The folders of a state directory.

    Parameters
    ----------
    root : Path
        The state directory (``Settings.state_dir``).
    """

    root: Path

    @property
    def database(self) -> Path:
        """The embedded SQLite database (the default ``FOOTPRINT_DATABASE_URL``)."""
        return self.root / "footprint.sqlite"

    @property
    def uploads(self) -> Path:
        """Private scratch directories of uploads in progress (removed after each)."""
        return self.root / "uploads"

    @property
    def delineations(self) -> Path:
        """``delineations/<job id>/``: the outputs of delineate jobs."""
        return self.root / "delineations"

    @property
    def reports(self) -> Path:
        """Reports written by ``footprint demo``."""
        return self.root / "reports"

    @property
    def footprints(self) -> Path:
        """``footprints/<field>/<version dir>/``: the files of stored footprint versions."""
        return self.root / "footprints"

    def calibrations(self, participant: str) -> Path:
        """``calibrations/<participant>/``: the calibration harness's size and power tables,
        one JSON file per set of footprint versions, period, replicates and seed."""
        return self.root / "calibrations" / participant

    def rasters(self, field_id: str) -> Path:
        """``rasters/<field>/``: the COGs of a field's uploaded DEMs, and its bundled DEM
        mosaic and hillshade (``dem.tif``, ``hillshade-horn.tif``)."""
        return self.root / "rasters" / field_id

    def field_footprints(self, field_id: str) -> Path:
        """``footprints/<field>/``: one sub-directory per stored version."""
        return self.footprints / field_id

    def ensure(self) -> None:
        """Create the state directory and the folders that are written to."""
        for path in (self.root, self.uploads, self.delineations, self.reports,
                     self.footprints, self.root / "rasters"):
            path.mkdir(parents=True, exist_ok=True)
