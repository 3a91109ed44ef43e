"""An uploaded file as the services see it: a path on disk, its name, size and sha256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from footprint.errors import InvalidLayerError, PayloadTooLargeError

_CHUNK = 1 << 20


@dataclass
class Upload:
    """One uploaded file on disk (in a private temporary directory) and the form fields."""

    path: Path
    filename: str
    size_bytes: int
    sha256: str
    fields: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_path(cls, path: str | Path, *, max_upload_mb: int | None = None) -> Upload:
        """The upload of a local file (the CLI's): its sha256 and size, read once.

        Raises :class:`PayloadTooLargeError` past ``max_upload_mb`` (the service's limit)
        and :class:`InvalidLayerError` for an empty file.
        """
        path = Path(path)
        size = path.stat().st_size
        if max_upload_mb is not None and size > max_upload_mb * 1024 * 1024:
            raise PayloadTooLargeError.for_limit(max_upload_mb)
        if size == 0:
            raise InvalidLayerError("the uploaded file is empty")
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        return cls(path, path.name, size, digest.hexdigest())
