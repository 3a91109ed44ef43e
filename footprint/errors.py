"""One root error for the whole project.

Every error a user can cause derives from :class:`FootprintError` and also from the
matching builtin, so callers can catch either. Each carries a user-safe message (shown by
the CLI on one line and by the API in an OGC exception body); details go to the log.
The API maps classes to HTTP status codes in one table (``api.errors``); the CLI maps
them to exit codes (:data:`EXIT_CODES`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping


class FootprintError(Exception):
    """Root of every error this project raises on purpose."""

    #: OGC exception code used by the API (``type`` in the exception JSON).
    code = "NoApplicableCode"

    #: Seconds a client should wait before trying again (``Retry-After``), for
    #: transient errors only.
    retry_after_s: int | None = None

    def __init__(self, message: str, *, hint: str | None = None,
                 detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        #: Operator detail (URLs, paths, driver messages): logged, never shown to callers.
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigurationError(FootprintError, RuntimeError):
    """Settings are missing or unsafe (for example a default secret in production)."""


class NotFoundError(FootprintError, LookupError):
    """A field, layer, footprint version, job or report does not exist."""

    code = "NotFound"


class UnknownFieldError(NotFoundError, KeyError):
    """A field id is not in the catalogue."""

    def __str__(self) -> str:  # KeyError would quote the message
        return FootprintError.__str__(self)


class DataMissingError(FootprintError, FileNotFoundError):
    """Input data (a DEM tile, a vector file) is not present in the data directory."""

    code = "DataMissing"


class InvalidLayerError(FootprintError, ValueError):
    """An uploaded or bundled layer fails validation (CRS, geometry, schema, extent)."""

    code = "InvalidParameterValue"


class InvalidParameterError(FootprintError, ValueError):
    """A parameter sheet or a request parameter is out of bounds or malformed."""

    code = "InvalidParameterValue"


class InvalidDeclarationError(FootprintError, ValueError):
    """Declared statistics (exports, certificates) fail validation."""

    code = "InvalidParameterValue"


class PayloadTooLargeError(FootprintError, ValueError):
    """An upload (or a zip's expanded content) is larger than the configured limit."""

    code = "PayloadTooLarge"

    @classmethod
    def for_limit(cls, limit_mb: int) -> PayloadTooLargeError:
        """The error for an upload past ``limit_mb`` megabytes."""
        return cls(f"upload larger than the limit of {limit_mb} MB",
                   hint="FOOTPRINT_MAX_UPLOAD_MB sets the limit")


class NotAcceptableError(FootprintError, ValueError):
    """The client accepts none of the formats a resource comes in."""

    code = "NotAcceptable"


class JobDismissedError(FootprintError, RuntimeError):
    """Raised inside a job's progress callback once the job has been dismissed."""

    code = "Dismissed"


class ConflictError(FootprintError, RuntimeError):
    """The request conflicts with stored state (duplicate, job not finished, ...)."""

    code = "Conflict"


class StorageError(FootprintError, RuntimeError):
    """The database or the state directory refused an operation."""

    code = "StorageUnavailable"
    retry_after_s = 30


class StorageUnavailableError(StorageError, ConnectionError):
    """The database cannot be reached (down, restarting, out of connections): transient."""

    retry_after_s = 10


class StorageFullError(StorageError, OSError):
    """The disk holding the state directory or the database is full (or over quota)."""

    code = "InsufficientStorage"
    retry_after_s = 300


class QuotaExceededError(FootprintError, RuntimeError):
    """A caller asks for more work than its quota allows (running jobs, draws × fields)
    while earlier jobs of theirs are unfinished: transient, try again when they end."""

    code = "TooManyRequests"
    retry_after_s = 30


class DownloadError(FootprintError, OSError):
    """A download failed or its checksum did not match."""


class PermissionDeniedError(FootprintError, PermissionError):
    """The caller's key lacks the role the operation needs."""

    code = "Forbidden"


class AuthenticationError(FootprintError, PermissionError):
    """No API key, or an unknown one."""

    code = "Unauthorized"


class InvalidTokenError(AuthenticationError, ValueError):
    """A signed token (session cookie, report link) is malformed, altered or expired."""


#: CLI exit codes per error class (most specific first; ``1`` otherwise).
EXIT_CODES: dict[type[FootprintError], int] = {
    NotFoundError: 3,
    DataMissingError: 4,
    InvalidLayerError: 2,
    InvalidParameterError: 2,
    InvalidDeclarationError: 2,
    PayloadTooLargeError: 2,
    ConfigurationError: 5,
    ConflictError: 6,
    StorageError: 7,
    DownloadError: 8,
}


#: ``errno`` values meaning "no space left" (ENOSPC, EDQUOT).
_FULL_ERRNOS = frozenset({28, 122})


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or one of its causes) says the disk is full or over quota."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return True
        text = str(current).lower()
        if "no space left" in text or "disk is full" in text or "disk quota" in text:
            return True
        current = current.__cause__ or current.__context__
    return False


def as_footprint_error(error: BaseException) -> FootprintError | None:
    """``error`` as the :class:`FootprintError` a caller should see, or None if unexpected.

    The one place where builtin failures that are not bugs get their name: a full disk
    anywhere (GDAL, pyogrio, Parquet, the database) is a :class:`StorageFullError`.
    """
    if isinstance(error, FootprintError):
        if is_disk_full(error) and not isinstance(error, StorageFullError):
            return StorageFullError("storage full: the server has no space left to store this",
                                    hint="free space on the server, then try again",
                                    detail=str(error))
        return error
    if is_disk_full(error):
        return StorageFullError("storage full: the server has no space left to store this",
                                hint="free space on the server, then try again",
                                detail=f"{type(error).__name__}: {error}")
    return None


#: An absolute POSIX path (not the path part of a URL): its last component is kept.
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.>])/(?:[\w.+-]+/)+([\w.+-]+)")


def public_text(text: str, directories: Mapping[str, object]) -> str:
    """``text`` for a caller (API body, job message): the server's directories never shown.

    Paths under a directory of ``directories`` (name -> path) read ``<name>/...``
    (``<data_dir>/kp_stats/...``); any other absolute path is cut to its file name; URLs
    keep their paths. The one path-stripping rule of the project: the log keeps the full
    message.
    """
    pairs = [(str(path), f"<{name}>") for name, path in directories.items() if path]
    for path, label in sorted(pairs, key=lambda pair: -len(pair[0])):
        if len(path) > 1:
            text = text.replace(path, label)
    return _ABSOLUTE_PATH.sub(lambda match: match.group(1), text)


def exit_code_for(error: BaseException) -> int:
    """Exit code of the CLI for ``error``: the entry of its nearest class, else 1."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1
