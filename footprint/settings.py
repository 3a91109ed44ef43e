"""Settings in one place: environment prefix ``FOOTPRINT_``.

Defaults suit a laptop: the data directory is ``../shared/data`` beside the repository
when it exists (else a user cache directory, filled by the downloader), state lives in a
user data directory, the database is an SQLite file there, jobs run in-process.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from footprint.errors import ConfigurationError, public_text
from footprint.state import StateLayout

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRET = "change-me-in-production"
MIN_SECRET_CHARS = 32


def _default_data_dir() -> Path:
    shared = REPO_ROOT.parent / "shared" / "data"
    if shared.is_dir():
        return shared
    return Path(platformdirs.user_cache_dir("footprint")) / "data"


def _default_state_dir() -> Path:
    return Path(platformdirs.user_data_dir("footprint"))


class Settings(BaseSettings):
    """Configuration of the library, the CLI and the service.

    Every field can be set by an environment variable ``FOOTPRINT_<NAME>`` (for example
    ``FOOTPRINT_DATABASE_URL``) or a ``.env`` file in the working directory.
    """

    model_config = SettingsConfigDict(env_prefix="FOOTPRINT_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(default_factory=_default_data_dir,
                           description="Read-only input data (DEM tiles, rivers, KP statistics).")
    cache_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_cache_dir("footprint")),
                            description="Downloaded tiles and other cached inputs.")
    state_dir: Path = Field(default_factory=_default_state_dir,
                            description="Database file, rasters (COG), draws, reports, uploads.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: sqlite:///<state_dir>/footprint.sqlite. "
        "Use postgresql+psycopg://... for PostGIS.")
    executor: Literal["local", "dask"] = "local"
    dask_scheduler: str | None = Field(default=None,
                                       description="tcp://host:port of a dask scheduler.")
    scratch_dir: Path | None = Field(
        default=None,
        description="Scratch files of routing by tiles (--window-cells), removed after each "
        "run; default <state_dir>/scratch. Not a tmpfs when the grid is larger than memory.")
    dask_connect_timeout_s: float = Field(
        default=10.0, gt=0, le=600,
        description="How long to wait for the dask scheduler before giving up (s).")
    workers: int = Field(default=2, ge=1, le=256, description="Local executor pool size.")
    secret_key: SecretStr = Field(
        default=SecretStr(DEFAULT_SECRET),
        description="Signs expiring tokens (the monitors' session cookie, report links; "
                    "footprint.signing). Changing it invalidates every token.")
    public_reads: bool = Field(default=True, description="Reads need no API key when true.")
    cors_origins: list[str] = Field(default_factory=list)
    max_upload_mb: int = Field(default=200, ge=1,
                               description="Largest multipart upload (a layer, a table), MB.")
    max_json_kb: int = Field(default=1024, ge=1,
                             description="Largest body of any other request (JSON), kB.")
    max_draws: int = Field(default=200_000, ge=100,
                           description="Most Monte Carlo draws one build may ask for.")
    max_jobs_per_key: int = Field(
        default=4, ge=1, description="Most unfinished (accepted or running) jobs one caller "
                                     "may have at once; more is a 429 with Retry-After.")
    max_draw_fields_per_key: int = Field(
        default=1_000_000, ge=100,
        description="Most Monte Carlo work one caller's unfinished jobs may ask for, in "
                    "draws × fields (a build: draws × 1; a calibration: replicates × the "
                    "participant's fields); more is a 429 with Retry-After.")
    min_free_mb: int = Field(default=200, ge=0,
                             description="Free space under state_dir below which writes are "
                                         "refused (507) and /readyz is not ready, MB.")
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "[::1]", "testserver"],
        description="Host names the service answers for (links are built from the Host "
                    "header); '*' allows any, refused in production.")
    max_items_limit: int = Field(default=1000, ge=1)
    draws: int = Field(default=20_000, ge=100, description="Default Monte Carlo draws.")
    seed: int = Field(default=20081106, ge=0,
                      description="Base Monte Carlo seed; each field derives its own from it "
                                  "(footprint.simulation.field_seed).")
    keep_alive_s: int = Field(
        default=75, ge=1, le=3600,
        description="Seconds an idle keep-alive connection stays open (uvicorn "
                    "timeout_keep_alive). Longer than clients' and proxies' idle timeouts "
                    "(httpx: 5 s, the uvicorn default too): when both are equal, a client "
                    "reusing a connection the server is closing gets a connection reset.")
    response_cache_mb: int = Field(
        default=64, ge=0, le=65536,
        description="Memory for the service's answers of immutable resources (pages, "
                    "tiles, plain and gzipped), MB in total: half for bodies by key, half "
                    "for finished answers by URL. A body held by both counts twice, so "
                    "this bounds what is held. 0 turns both off.")
    gdal_cache_mb: int = Field(
        default=64, ge=1, le=65536,
        description="GDAL's raster block cache in the service, MB (GDAL_CACHEMAX, unless "
                    "that is set; GDAL's own default is 5 % of the machine's memory).")
    malloc_arena_max: int = Field(
        default=2, ge=0, le=1024,
        description="glibc malloc arenas of the service (MALLOC_ARENA_MAX; 0: glibc's 8 "
                    "per core). Each request and job thread otherwise keeps its own "
                    "arena's free memory (see footprint.native_memory).")
    mmap_threshold_kb: int = Field(
        default=1024, ge=0, le=32768,
        description="Blocks of this size and more get their own mapping, returned to the "
                    "system when freed (glibc M_MMAP_THRESHOLD; 0: glibc's sliding one).")
    python_malloc: Literal["malloc", "pymalloc"] = Field(
        default="malloc",
        description="Python's allocator in `footprint serve` (PYTHONMALLOC, set by a "
                    "re-exec at start-up unless the environment sets it): 'malloc' lets "
                    "the freed memory of requests go back to the system; 'pymalloc', "
                    "Python's default, keeps any 1 MiB arena one object survives in "
                    "(see footprint.native_memory).")
    request_threads: int = Field(
        default=8, ge=1, le=1000,
        description="Threads of the service running blocking request code (anyio's "
                    "thread limiter; its default is 40). Requests beyond it wait their "
                    "turn holding nothing: on a few cores more threads add no throughput, "
                    "only requests in flight at once, each with its memory.")
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    @field_validator("data_dir", "state_dir", "cache_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file in the state directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state.database}"

    @property
    def is_postgres(self) -> bool:
        """The database is PostgreSQL (else the embedded SQLite)."""
        return self.effective_database_url.startswith("postgresql")

    def check_serve_safe(self) -> None:
        """Refuse to serve in production with a weak secret or any Host accepted."""
        if self.environment != "production":
            return
        secret = self.secret_key.get_secret_value()
        if secret.strip() == "" or secret == DEFAULT_SECRET or len(secret) < MIN_SECRET_CHARS:
            raise ConfigurationError(
                "refusing to start in production with the default, an empty or a short secret",
                hint=f"set FOOTPRINT_SECRET_KEY to a random value of at least "
                     f"{MIN_SECRET_CHARS} characters")
        if "*" in self.allowed_hosts:
            raise ConfigurationError(
                "refusing to start in production answering for any Host header",
                hint="set FOOTPRINT_ALLOWED_HOSTS to the service's public host names")

    def public_text(self, text: str) -> str:
        """``text`` without this server's directories (see footprint.errors.public_text)."""
        return public_text(text, {"state_dir": self.state_dir, "data_dir": self.data_dir,
                                  "cache_dir": self.cache_dir})

    @property
    def state(self) -> StateLayout:
        """The layout of :attr:`state_dir` (the one place its folder names are spelled)."""
        return StateLayout(self.state_dir)

    def ensure_dirs(self) -> None:
        """Create the state directory and the sub-folders that are written to."""
        self.state.ensure()


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
