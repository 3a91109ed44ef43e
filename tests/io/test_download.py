"""Tile downloader against a local HTTP server (127.0.0.1, Range support); never online."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from footprint.errors import DownloadError, InvalidParameterError
from footprint.io.download import (
    KNOWN_SHA256,
    TILE_SOURCES,
    TileSource,
    ensure_tile,
    read_manifest,
    tile_names_for_bbox,
)

TILE = "N05W001"


class _Server:
    """Serves ``files`` (path -> bytes) with Range support; can cut a response short."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[dict] = []
        self.cut_after: int | None = None  # bytes of body sent before closing, once
        self.honour_range = True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output quiet
                pass

            def do_GET(self):
                body = outer.files.get(self.path)
                rng = self.headers.get("Range")
                outer.requests.append({"path": self.path, "range": rng})
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and outer.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if outer.cut_after is not None:
                    cut, outer.cut_after = outer.cut_after, None
                    self.wfile.write(payload[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def bytes_sent_for(self, path: str) -> list[str | None]:
        return [r["range"] for r in self.requests if r["path"] == path]


@pytest.fixture()
def tile_bytes() -> bytes:
    rng = np.random.default_rng(5)
    return rng.integers(-20, 900, size=(201, 201), dtype=np.int16).astype(">i2").tobytes()


@pytest.fixture()
def server(tile_bytes):
    srv = _Server({f"/{TILE}.hgt": tile_bytes,
                   f"/gz/{TILE}.hgt.gz": gzip.compress(tile_bytes)})
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture()
def source(server) -> TileSource:
    return TileSource("local", server.base + "/{name}.hgt", ".hgt", "test server")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_records_checksum_and_reports_progress(tmp_path, server, source, tile_bytes):
    seen: list[tuple[int, int | None]] = []
    path = ensure_tile(TILE, source=source, cache_dir=tmp_path,
                       progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == tile_bytes
    assert path == tmp_path / "dem" / "local" / f"{TILE}.hgt"
    assert seen[-1] == (len(tile_bytes), len(tile_bytes))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    entry = read_manifest(path.parent)[f"{TILE}.hgt"]
    assert entry["sha256"] == _sha(tile_bytes)
    assert entry["url"].endswith(f"/{TILE}.hgt")
    assert not list(path.parent.glob("*.part"))
    # a second call is served from the cache
    ensure_tile(TILE, source=source, cache_dir=tmp_path)
    assert len(server.requests) == 1


def test_resume_requests_only_the_missing_bytes(tmp_path, server, source, tile_bytes):
    directory = tmp_path / "dem" / "local"
    directory.mkdir(parents=True)
    half = len(tile_bytes) // 2
    (directory / f"{TILE}.hgt.part").write_bytes(tile_bytes[:half])
    path = ensure_tile(TILE, source=source, cache_dir=tmp_path,
                       expected_sha256=_sha(tile_bytes))
    assert server.bytes_sent_for(f"/{TILE}.hgt") == [f"bytes={half}-"]
    assert path.read_bytes() == tile_bytes


def test_server_ignoring_range_restarts_cleanly(tmp_path, server, source, tile_bytes):
    server.honour_range = False
    directory = tmp_path / "dem" / "local"
    directory.mkdir(parents=True)
    (directory / f"{TILE}.hgt.part").write_bytes(b"garbage that must not survive")
    path = ensure_tile(TILE, source=source, cache_dir=tmp_path)
    assert path.read_bytes() == tile_bytes


def test_complete_part_file_is_finished_without_refetching(tmp_path, server, source,
                                                           tile_bytes):
    directory = tmp_path / "dem" / "local"
    directory.mkdir(parents=True)
    (directory / f"{TILE}.hgt.part").write_bytes(tile_bytes)
    path = ensure_tile(TILE, source=source, cache_dir=tmp_path)
    assert path.read_bytes() == tile_bytes  # the server answered 416 with the full size


def test_interrupted_transfer_leaves_no_final_file_then_resumes(tmp_path, server, source,
                                                                tile_bytes):
    server.cut_after = 10_000
    with pytest.raises(DownloadError) as info:
        ensure_tile(TILE, source=source, cache_dir=tmp_path, retries=1)
    assert "resume" in str(info.value)
    directory = tmp_path / "dem" / "local"
    assert not (directory / f"{TILE}.hgt").exists()  # atomic: no half tile under its name
    assert (directory / f"{TILE}.hgt.part").stat().st_size == 10_000
    path = ensure_tile(TILE, source=source, cache_dir=tmp_path)
    assert path.read_bytes() == tile_bytes
    assert server.bytes_sent_for(f"/{TILE}.hgt")[-1] == "bytes=10000-"


def test_broken_connection_is_retried_within_one_call(tmp_path, server, source, tile_bytes):
    server.cut_after = 5_000
    path = ensure_tile(TILE, source=source, cache_dir=tmp_path, retries=2)
    assert path.read_bytes() == tile_bytes
    assert server.bytes_sent_for(f"/{TILE}.hgt") == [None, "bytes=5000-"]


def test_checksum_mismatch_raises_and_keeps_nothing(tmp_path, server, source):
    with pytest.raises(DownloadError) as info:
        ensure_tile(TILE, source=source, cache_dir=tmp_path, expected_sha256="0" * 64)
    assert isinstance(info.value, OSError)
    assert "checksum" in str(info.value)
    assert list((tmp_path / "dem" / "local").glob(f"{TILE}*")) == []


def test_recorded_checksum_guards_later_downloads(tmp_path, server, source, tile_bytes):
    path = ensure_tile(TILE, source=source, cache_dir=tmp_path)
    path.unlink()
    server.files[f"/{TILE}.hgt"] = tile_bytes[::-1]  # the source changed under us
    with pytest.raises(DownloadError):
        ensure_tile(TILE, source=source, cache_dir=tmp_path)
    assert not path.exists()


def test_corrupt_cached_tile_is_fetched_again(tmp_path, server, source, tile_bytes):
    path = ensure_tile(TILE, source=source, cache_dir=tmp_path)
    path.write_bytes(b"truncated")
    assert ensure_tile(TILE, source=source, cache_dir=tmp_path).read_bytes() == tile_bytes
    assert len(server.requests) == 2


def test_gzip_source_is_stored_decompressed(tmp_path, server, tile_bytes):
    source = TileSource("gz", server.base + "/gz/{name}.hgt.gz", ".hgt", "gz", gzip=True)
    path = ensure_tile(TILE, source=source, cache_dir=tmp_path,
                       expected_sha256=_sha(tile_bytes))
    assert path.read_bytes() == tile_bytes
    assert not list(path.parent.glob("*.part"))


def test_missing_tile_is_a_download_error(tmp_path, server, source):
    with pytest.raises(DownloadError) as info:
        ensure_tile("S20E032", source=source, cache_dir=tmp_path)
    assert "404" in str(info.value)


def test_bad_tile_name_and_unknown_source(tmp_path):
    with pytest.raises(InvalidParameterError):
        ensure_tile("N5W1", cache_dir=tmp_path)
    with pytest.raises(InvalidParameterError):
        ensure_tile(TILE, source="nowhere", cache_dir=tmp_path)


# --- names and URLs ----------------------------------------------------------------------

def test_tile_names_for_bbox_birim_and_marange():
    assert tile_names_for_bbox((-1.2, 5.8, -0.5, 6.3)) == [
        "N05W002", "N05W001", "N06W002", "N06W001"]
    assert tile_names_for_bbox((32.2, -19.7, 32.5, -19.5)) == ["S20E032"]
    assert tile_names_for_bbox((-1.0, 5.0, 0.0, 6.0)) == ["N05W001"]  # edges on degrees
    assert tile_names_for_bbox((0.5, 7.5, 0.5, 7.5)) == ["N07E000"]  # a point


def test_source_urls_follow_the_published_layouts():
    assert TILE_SOURCES["copernicus90"].url(TILE) == (
        "https://copernicus-dem-90m.s3.amazonaws.com/Copernicus_DSM_COG_30_N05_00_W001_00_DEM/"
        "Copernicus_DSM_COG_30_N05_00_W001_00_DEM.tif")
    assert TILE_SOURCES["copernicus30"].url("S20E032").endswith(
        "Copernicus_DSM_COG_10_S20_00_E032_00_DEM.tif")
    assert TILE_SOURCES["srtm_skadi"].url(TILE).endswith("/skadi/N05/N05W001.hgt.gz")


@pytest.mark.slow
def test_known_checksums_match_the_shared_tiles():
    from footprint.provenance import sha256_file
    from footprint.settings import get_settings

    srtm = get_settings().data_dir / "dem" / "srtm3"
    tiles = sorted(srtm.glob("*.hgt")) if srtm.is_dir() else []
    if not tiles:
        pytest.skip("shared SRTM3 tiles not present")
    for tile in tiles:
        assert KNOWN_SHA256[("srtm3_github", tile.name)] == sha256_file(tile)


def test_manifest_is_valid_json_after_several_tiles(tmp_path, server, source, tile_bytes):
    server.files["/N06W001.hgt"] = tile_bytes[:1000]
    ensure_tile(TILE, source=source, cache_dir=tmp_path)
    ensure_tile("N06W001", source=source, cache_dir=tmp_path)
    manifest = json.loads((tmp_path / "dem" / "local" / "manifest.json").read_text())
    assert set(manifest) == {f"{TILE}.hgt", "N06W001.hgt"}
