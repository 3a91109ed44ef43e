"""Responses of immutable resources, built and gzipped once per process.

A stored footprint version never changes, so a page of its deposits (or one deposit) is
the same bytes on every request: the route builds it once, this cache keeps the plain and
the gzipped body with a strong ETag, and later requests are answered from memory (304
when the client already holds it). Entries are bounded by their total size (LRU).
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

#: bodies below this size are not worth gzipping (as for the GZip middleware)
GZIP_MIN_BYTES = 1024
#: ``?version=`` URLs name an immutable resource
IMMUTABLE = "public, max-age=31536000, immutable"
#: "latest" URLs may move to a new version: revalidate with the ETag every time
REVALIDATE = "public, no-cache"


@dataclass(frozen=True)
class CachedBody:
    """A response body, its gzipped form (None when small) and its strong ETag."""

    etag: str
    raw: bytes
    gzipped: bytes | None

    @classmethod
    def of(cls, raw: bytes) -> CachedBody:
        """The body ``raw`` with its gzipped copy and ETag (blake2b of the bytes)."""
        digest = hashlib.blake2b(raw, digest_size=16).hexdigest()
        gzipped = gzip.compress(raw, compresslevel=6, mtime=0) \
            if len(raw) >= GZIP_MIN_BYTES else None
        return cls(f'"{digest}"', raw, gzipped)

    @property
    def size(self) -> int:
        """Bytes held: plain and gzipped."""
        return len(self.raw) + len(self.gzipped or b"")


class ResponseCache:
    """Thread-safe LRU of :class:`CachedBody` by key, bounded to ``max_bytes`` in total."""

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, CachedBody] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def peek(self, key: Hashable) -> CachedBody | None:
        """The cached body of ``key``, or None."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def get_or_build(self, key: Hashable, build: Callable[[], bytes]) -> CachedBody:
        """The cached body of ``key``, built (outside the lock) and kept when missing."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        body = CachedBody.of(build())
        with self._lock:
            if key not in self._entries and body.size <= self.max_bytes:
                self._entries[key] = body
                self._bytes += body.size
                while self._bytes > self.max_bytes:
                    _, evicted = self._entries.popitem(last=False)
                    self._bytes -= evicted.size
        return body


def cache_of(request: Request) -> ResponseCache:
    """The application's response cache (made on first use)."""
    cache = getattr(request.app.state, "response_cache", None)
    if cache is None:
        cache = request.app.state.response_cache = ResponseCache()
    return cache


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def cached_response(request: Request, body: CachedBody, media_type: str, *,
                    immutable: bool) -> Response:
    """The response for ``body``: 304 on a matching ``If-None-Match``, gzipped when the
    client accepts it (a distinct ETag for each encoding, as strong ETags require)."""
    use_gzip = body.gzipped is not None and _accepts_gzip(request)
    etag = body.etag[:-1] + '-gzip"' if use_gzip else body.etag
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE if immutable else REVALIDATE,
               "Vary": "Accept-Encoding"}
    presented = request.headers.get("if-none-match")
    if presented is not None:
        tags = {t.strip().removeprefix("W/") for t in presented.split(",")}
        if "*" in tags or etag in tags or body.etag in tags:
            return Response(status_code=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
        return Response(body.gzipped, media_type=media_type, headers=headers)
    return Response(body.raw, media_type=media_type, headers=headers)
