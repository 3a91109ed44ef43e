"""Download DEM tiles that are missing locally (for users with internet).

Tiles are 1°×1° and named by their south-west corner, SRTM style (``N05W001`` covers
5-6 N, 1-0 W). Public sources (:data:`TILE_SOURCES`):

``copernicus90``
    Copernicus DEM GLO-90 (≈ 90 m, Cloud-Optimized GeoTIFF) on AWS open data,
    ``https://copernicus-dem-90m.s3.amazonaws.com``; a surface model (includes canopy).
    No tiles over open ocean (HTTP 404).
``copernicus30``
    Copernicus DEM GLO-30 Public (≈ 30 m) on AWS open data; a few countries withheld.
``srtm_skadi``
    AWS Terrain Tiles "skadi" (Mapzen/Tilezen; SRTM-based 1″ ``.hgt``, gzip-compressed
    on the server, stored decompressed here).
``srtm3_github``
    the eight SRTM3 ``.hgt`` tiles of ``shared/data/dem/srtm3`` at their source (GitHub
    ``mrcheidel/elevation-service``, pinned commit; see ``SOURCES.md``), with known sha256.

Behaviour: the cache is ``<cache_dir>/dem/<source>/``; a download streams (httpx) into
``<file>.part``, resumes an interrupted ``.part`` with an HTTP ``Range`` request, is
checked against a sha256 (an explicit one, else :data:`KNOWN_SHA256`, else the one the
cache manifest recorded at the first download) and only then renamed atomically to its
final name, so a tile file under its final name is always complete. A checksum mismatch
deletes the download and raises :class:`footprint.errors.DownloadError`. The manifest
(``manifest.json`` in the source's cache directory) records the URL, size and sha256 of
every tile. Memory: constant (the body is streamed to disk as it arrives).
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from footprint.errors import DownloadError, InvalidParameterError
from footprint.io import require_dir
from footprint.provenance import sha256_file

_TILE_RE = re.compile(r"^([NS])(\d{2})([EW])(\d{3})$")
_CHUNK = 1 << 20

#: ``progress(done_bytes, total_bytes_or_None)``, called after every chunk written.
ProgressCallback = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class TileSource:
    """Where tiles of one product come from.

    ``url_template`` is formatted with ``name`` (``N05W001``), ``ns``/``ew`` (hemisphere
    letters), ``lat`` and ``lon`` (absolute SW-corner degrees, ints), ``lat_dir``
    (``N05``). ``gzip``: the server sends a gzip file that is stored decompressed.
    """

    key: str
    url_template: str
    suffix: str
    description: str
    gzip: bool = False

    def url(self, name: str) -> str:
        """The download URL of tile ``name`` (e.g. ``N05W001``)."""
        ns, lat, ew, lon = _parse(name)
        return self.url_template.format(name=name, ns=ns, lat=lat, ew=ew, lon=lon,
                                        lat_dir=f"{ns}{lat:02d}")

    def filename(self, name: str) -> str:
        """The file name of tile ``name`` in this source's cache."""
        return f"{name}{self.suffix}"


_COP = ("https://copernicus-dem-{res}m.s3.amazonaws.com/"
        "Copernicus_DSM_COG_{arcsec}_{{ns}}{{lat:02d}}_00_{{ew}}{{lon:03d}}_00_DEM/"
        "Copernicus_DSM_COG_{arcsec}_{{ns}}{{lat:02d}}_00_{{ew}}{{lon:03d}}_00_DEM.tif")

TILE_SOURCES: dict[str, TileSource] = {
    "copernicus90": TileSource(
        "copernicus90", _COP.format(res=90, arcsec=30), "_copernicus90.tif",
        "Copernicus DEM GLO-90 (ESA/Copernicus, AWS open data registry copernicus-dem)"),
    "copernicus30": TileSource(
        "copernicus30", _COP.format(res=30, arcsec=10), "_copernicus30.tif",
        "Copernicus DEM GLO-30 Public (ESA/Copernicus, AWS open data registry copernicus-dem)"),
    "srtm_skadi": TileSource(
        "srtm_skadi",
        "https://s3.amazonaws.com/elevation-tiles-prod/skadi/{lat_dir}/{name}.hgt.gz",
        ".hgt", "AWS Terrain Tiles skadi, SRTM-based 1 arc-second .hgt (Mapzen/Tilezen)",
        gzip=True),
    "srtm3_github": TileSource(
        "srtm3_github",
        "https://raw.githubusercontent.com/mrcheidel/elevation-service/"
        "abcfd8afc8aca2b3ca5a62ae934f153a0976d747/data/{name}.hgt",
        ".hgt", "SRTM3 .hgt tiles of GitHub mrcheidel/elevation-service (commit abcfd8a), "
                "the tiles in shared/data/dem/srtm3"),
}

#: sha256 of final (decompressed) tile files we know, per (source key, file name). The
#: SRTM3 tiles are those of ``shared/data/dem/srtm3`` (checksums from SOURCES.md).
KNOWN_SHA256: dict[tuple[str, str], str] = {
    ("srtm3_github", "N05W001.hgt"):
        "df5ebb4dc6da3584516b1e76bcae44d51184fe5ec2cf8b39e6d45a9983ad5a8a",
    ("srtm3_github", "N05W002.hgt"):
        "304e0fc3001456823713f605087be14ba69abcd4917c6503e6b9663c199a520c",
    ("srtm3_github", "N06E000.hgt"):
        "fbb02b949bb21590cffb22749dee1b94efeb04b6f1221bc9b570dc4b4aa51628",
    ("srtm3_github", "N06E001.hgt"):
        "e0a7f3655a165489add896d7290fedc06f9931e070ed8c187fab42a1a2667326",
    ("srtm3_github", "N06W001.hgt"):
        "15adf16007405119d67fc2ef0c9d4c2b55482347b14a6e4dced2d26e34eefba0",
    ("srtm3_github", "N06W002.hgt"):
        "63b0a1645e00555dd044e0029c2f751449056ab76368ae82319438d55d3c5f67",
    ("srtm3_github", "N07E000.hgt"):
        "109d258ad223c4595ad6f950b611ba2ced5294e318b0180e903cc5a2b50dac81",
    ("srtm3_github", "N07E001.hgt"):
        "3704b40706c8df5fb5e20f74fb287eca21b382c7d5dfb78299882ce7d358cf77",
}


# --- tile names --------------------------------------------------------------------------

def _parse(name: str) -> tuple[str, int, str, int]:
    match = _TILE_RE.match(name)
    if not match:
        raise InvalidParameterError(f"bad tile name {name!r}",
                                    hint="SRTM style south-west corner, e.g. N05W001")
    ns, lat, ew, lon = match.group(1), int(match.group(2)), match.group(3), int(match.group(4))
    if lat > 90 or lon > 180:
        raise InvalidParameterError(f"bad tile name {name!r}: corner outside the globe")
    return ns, lat, ew, lon


def tile_name(lon: int, lat: int) -> str:
    """SRTM-style name of the 1° tile whose south-west corner is (``lon``, ``lat``)."""
    return (f"{'N' if lat >= 0 else 'S'}{abs(lat):02d}"
            f"{'E' if lon >= 0 else 'W'}{abs(lon):03d}")


def tile_names_for_bbox(bbox_4326: Sequence[float]) -> list[str]:
    """Names of the 1° tiles a lon/lat box touches (SW-corner naming, e.g. ``N05W001``).

    Ordered south to north, then west to east. A box edge lying on a whole degree does
    not pull in the tile beyond it (``(-1, 5, 0, 6)`` is the single tile ``N05W001``).
    """
    if len(bbox_4326) != 4:
        raise InvalidParameterError("bbox_4326 must be (west, south, east, north) in degrees")
    west, south, east, north = (float(v) for v in bbox_4326)
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidParameterError(f"bad bbox_4326 {tuple(bbox_4326)}")
    lon0, lat0 = math.floor(west), math.floor(south)
    lon1 = max(lon0, math.ceil(east) - 1)
    lat1 = max(lat0, math.ceil(north) - 1)
    lon1, lat1 = min(lon1, 179), min(lat1, 89)
    return [tile_name(lon, lat) for lat in range(lat0, lat1 + 1)
            for lon in range(lon0, lon1 + 1)]


# --- cache and manifest ------------------------------------------------------------------

def _source(source: str | TileSource) -> TileSource:
    if isinstance(source, TileSource):
        return source
    if source not in TILE_SOURCES:
        raise InvalidParameterError(f"unknown tile source {source!r}",
                                    hint=f"one of {sorted(TILE_SOURCES)}")
    return TILE_SOURCES[source]


def tile_cache_dir(source: str | TileSource, cache_dir: Path | None = None) -> Path:
    """``<cache_dir>/dem/<source key>`` (``cache_dir`` is required)."""
    return require_dir(cache_dir, "cache_dir") / "dem" / _source(source).key


def read_manifest(directory: Path) -> dict[str, dict]:
    """The cache manifest of one source directory (``{}`` when there is none)."""
    path = directory / "manifest.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DownloadError(f"unreadable tile manifest {path}",
                            hint="delete it; checksums are recorded again") from err


def _record(directory: Path, filename: str, entry: dict) -> None:
    manifest = read_manifest(directory)
    manifest[filename] = entry
    tmp = directory / f"manifest.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, directory / "manifest.json")


# --- download ----------------------------------------------------------------------------

def _total_from(response: httpx.Response, offset: int) -> int | None:
    content_range = response.headers.get("content-range", "")
    if "/" in content_range and not content_range.endswith("/*"):
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("content-length")
    return offset + int(length) if length is not None else None


def _fetch_into(client: httpx.Client, url: str, part: Path,
                progress: ProgressCallback | None) -> None:
    """Stream ``url`` into ``part``, resuming from its current size with a Range request."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416 and offset:
            # Range not satisfiable: complete if the .part has the server's full size,
            # else the .part is stale: start over.
            content_range = response.headers.get("content-range", "")
            if content_range == f"bytes */{offset}":
                return
            response.close()
            part.unlink()
            _fetch_into(client, url, part, progress)
            return
        if response.status_code == 404:
            raise DownloadError(f"no such tile at {url} (HTTP 404)",
                                hint="ocean tiles and withheld areas do not exist; "
                                     "try another source")
        if response.status_code not in (200, 206):
            raise DownloadError(f"download of {url} failed: HTTP {response.status_code}")
        if response.status_code == 206:
            start = response.headers.get("content-range", "").split(" ")[-1].split("-")[0]
            if start != str(offset):
                raise DownloadError(f"server resumed {url} at byte {start}, not {offset}")
            mode = "ab"
        else:  # the server ignored Range: start over
            offset, mode = 0, "wb"
        total = _total_from(response, offset)
        done = offset
        with open(part, mode) as handle:
            for chunk in response.iter_bytes():
                handle.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        if total is not None and done != total:
            raise httpx.ReadError(f"connection closed at byte {done} of {total}")


def _gunzip(src: Path, dst: Path) -> None:
    try:
        with gzip.open(src, "rb") as zipped, open(dst, "wb") as out:
            shutil.copyfileobj(zipped, out, _CHUNK)
    except (OSError, EOFError) as err:
        dst.unlink(missing_ok=True)
        src.unlink(missing_ok=True)
        raise DownloadError(f"downloaded tile {src.name} is not valid gzip") from err


def ensure_tile(name: str, *, source: str | TileSource = "copernicus90",
                cache_dir: Path | None = None, client: httpx.Client | None = None,
                progress: ProgressCallback | None = None, expected_sha256: str | None = None,
                retries: int = 3) -> Path:
    """Path of a DEM tile in the cache, downloading it first when it is missing.

    Parameters
    ----------
    name
        tile name, SW corner (``N05W001``).
    source
        a key of :data:`TILE_SOURCES` or a :class:`TileSource`.
    cache_dir
        root of the cache (required: ``settings.cache_dir``).
    client
        an ``httpx.Client`` to use (default: a new one following redirects).
    progress
        called as ``progress(done_bytes, total_bytes_or_None)`` while downloading.
    expected_sha256
        checksum of the final file; default :data:`KNOWN_SHA256`, else the manifest.
    retries
        attempts on a broken connection; each resumes the ``.part`` file.

    Returns
    -------
    Path of the complete tile (GeoTIFF or ``.hgt``; heights in metres, see the source).

    Raises
    ------
    DownloadError
        HTTP error, tile absent at the source, connection failures after ``retries``
        attempts (the ``.part`` is kept for the next call), or checksum mismatch (nothing
        is kept).
    """
    src = _source(source)
    _parse(name)
    directory = tile_cache_dir(src, cache_dir)
    directory.mkdir(parents=True, exist_ok=True)
    filename = src.filename(name)
    dest = directory / filename
    recorded = read_manifest(directory).get(filename, {})
    expected = (expected_sha256 or KNOWN_SHA256.get((src.key, filename))
                or recorded.get("sha256"))
    url = src.url(name)

    if _cached(directory, dest, expected, recorded):
        return dest
    part = directory / (filename + (".gz" if src.gzip else "") + ".part")
    _download(url, part, client=client, progress=progress, retries=retries)
    ready = part
    if src.gzip:
        ready = directory / (filename + ".unzipped.part")
        _gunzip(part, ready)
    actual = sha256_file(ready)
    if expected is not None and actual != expected:
        ready.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
        raise DownloadError(f"checksum mismatch for tile {name} from {url}: got {actual}, "
                            f"expected {expected}",
                            hint="the source changed or the transfer was corrupted; "
                                 "nothing was kept")
    size = ready.stat().st_size
    os.replace(ready, dest)
    part.unlink(missing_ok=True)
    _record(directory, filename, {"url": url, "sha256": actual, "bytes": size,
                                  "recorded_at": _now(), "source": src.description})
    return dest


def _cached(directory: Path, dest: Path, expected: str | None, recorded: dict) -> bool:
    """Whether ``dest`` is in the cache with the ``expected`` checksum (recorded in the
    manifest if it was not); a tile with another checksum is deleted (fetched again)."""
    if not dest.is_file():
        return False
    actual = sha256_file(dest)
    if expected is None or actual == expected:
        if not recorded:
            _record(directory, dest.name, {"url": None, "sha256": actual,
                                           "bytes": dest.stat().st_size,
                                           "recorded_at": _now(), "note": "found in cache"})
        return True
    dest.unlink()  # a corrupt or replaced tile: fetch it again
    return False


def _download(url: str, part: Path, *, client: httpx.Client | None,
              progress: ProgressCallback | None, retries: int) -> None:
    """Fetch ``url`` into ``part``, resuming it on each of ``retries`` attempts."""
    own_client = client is None
    client = client or httpx.Client(follow_redirects=True,
                                    timeout=httpx.Timeout(30.0, read=120.0))
    try:
        for attempt in range(1, max(1, retries) + 1):
            try:
                _fetch_into(client, url, part, progress)
                return
            except httpx.TransportError as err:
                if attempt >= max(1, retries):
                    raise DownloadError(
                        f"download of {url} interrupted after {attempt} attempt(s): {err}",
                        hint=f"run again to resume from {part}") from err
    finally:
        if own_client:
            client.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
