"""Responses of immutable resources, built and gzipped once per process.

A stored footprint version never changes, so a page of its deposits (or one deposit, or
one of its tiles) is the same bytes on every request: the route builds it once, this
module keeps the plain and the gzipped body with a strong ETag, and later requests are
answered from memory (304 when the client already holds it).

Two levels, both LRUs bounded by their total size (``FOOTPRINT_RESPONSE_CACHE_MB``, half
each; a body both hold is counted by both, so the sum bounds the memory held):

:class:`ResponseCache` (``cache_of``)
    bodies by a key the route chooses (e.g. ``("mvt", field, version, z, x, y)``).
:class:`ResponseIndex` (``index_of``)
    finished answers by request URL, published by :func:`cached_response` when the URL
    alone decides the body: a ``?version=`` URL, a deposit id, ``/collections``, or a
    "latest" URL together with the version it resolved to. :mod:`api.fastpath` answers
    from it before the request reaches FastAPI.

"Latest" URLs depend on the field's newest footprint version. :class:`LatestVersions`
remembers it per field, re-reads it behind the requests once it is :data:`LATEST_FRESH_S`
seconds old, and forgets it at once when this process's store records a new version
(``store.footprint_generation``): a build run by another process (dask, another server)
is seen at most :data:`LATEST_TTL_S` seconds late, and no request waits for the database
while traffic keeps coming.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

#: bodies below this size are not worth gzipping (as for the GZip middleware)
GZIP_MIN_BYTES = 1024
#: ``?version=`` URLs name an immutable resource
IMMUTABLE = "public, max-age=31536000, immutable"
#: "latest" URLs may move to a new version: revalidate with the ETag every time
REVALIDATE = "public, no-cache"
#: seconds a field's latest version is used as it is; after that it is re-read in the
#: background while requests keep being answered with it
LATEST_FRESH_S = 1.0
#: seconds after which a remembered latest version is no longer used: requests wait for
#: the store (a version built by another process is seen at most this late)
LATEST_TTL_S = 2.0
#: Python objects around one header (a tuple and two bytes), bytes
HEADER_OVERHEAD_BYTES = 140
#: default budget of each of the two LRUs (half of ``Settings.response_cache_mb``)
DEFAULT_LRU_BYTES = 32 * 2**20

_Value = TypeVar("_Value")


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


class _SizedLRU(Generic[_Value]):
    """Thread-safe LRU bounded to ``max_bytes``, each value sized by ``size_of``."""

    def __init__(self, max_bytes: int, size_of: Callable[[_Value], int]) -> None:
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._entries: OrderedDict[Hashable, _Value] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def peek(self, key: Hashable) -> _Value | None:
        """The value of ``key``, or None."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, value: _Value) -> None:
        """Keep ``value`` under ``key`` (replacing any), evicting the least recent."""
        size = self._size_of(value)
        if size > self.max_bytes:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= self._size_of(previous)
            self._entries[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= self._size_of(evicted)


class ResponseCache(_SizedLRU[CachedBody]):
    """Bodies by the route's key, bounded to ``max_bytes`` in total."""

    def __init__(self, max_bytes: int = DEFAULT_LRU_BYTES) -> None:
        super().__init__(max_bytes, lambda body: body.size)

    def get_or_build(self, key: Hashable, build: Callable[[], bytes]) -> CachedBody:
        """The cached body of ``key``, built (outside the lock) and kept when missing."""
        found = self.peek(key)
        if found is not None:
            return found
        body = CachedBody.of(build())
        if self.peek(key) is None:
            self.put(key, body)
        return body


def _accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _etag_matches(presented: str | None, *etags: str) -> bool:
    if presented is None:
        return False
    tags = {t.strip().removeprefix("W/") for t in presented.split(",")}
    return "*" in tags or any(etag in tags for etag in etags)


RawHeaders = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Prepared:
    """A finished answer of one URL: status 200, body and headers, plain and gzipped.

    ``latest`` is ``(field_id, version)`` when the URL serves the field's latest version
    (the answer holds while that is still the latest), None when the URL alone decides it.
    """

    body: CachedBody
    plain_headers: RawHeaders
    gzip_headers: RawHeaders | None
    latest: tuple[str, int] | None = None

    @classmethod
    def of(cls, body: CachedBody, media_type: str, *, immutable: bool,
           headers: Mapping[str, str] | None = None,
           latest: tuple[str, int] | None = None) -> Prepared:
        """The answer for ``body`` with its cache headers (a distinct ETag for each
        encoding, as strong ETags require)."""
        common = [(b"content-type", media_type.encode("latin-1")),
                  (b"cache-control", (IMMUTABLE if immutable else REVALIDATE).encode()),
                  (b"vary", b"Accept, Accept-Encoding"),
                  *((k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in (headers or {}).items())]
        plain = [(b"etag", body.etag.encode()),
                 (b"content-length", str(len(body.raw)).encode()), *common]
        zipped = None if body.gzipped is None else [
            (b"etag", (body.etag[:-1] + '-gzip"').encode()), (b"content-encoding", b"gzip"),
            (b"content-length", str(len(body.gzipped)).encode()), *common]
        return cls(body, plain, zipped, latest)

    @property
    def size(self) -> int:
        """Bytes this answer keeps alive: both bodies (the :class:`ResponseCache` may
        hold them too, or may have dropped them) and the headers."""
        headers = [*self.plain_headers, *(self.gzip_headers or [])]
        return self.body.size + sum(len(k) + len(v) + HEADER_OVERHEAD_BYTES
                                    for k, v in headers)

    def answer(self, accept_encoding: str, if_none_match: str | None
               ) -> tuple[int, RawHeaders, bytes]:
        """(status, headers, body) for a request with these two headers: 304 on a
        matching ``If-None-Match``, gzipped when the client accepts it."""
        use_gzip = self.gzip_headers is not None and _accepts_gzip(accept_encoding)
        headers = self.gzip_headers if use_gzip and self.gzip_headers else self.plain_headers
        etag = headers[0][1].decode()
        if _etag_matches(if_none_match, etag, self.body.etag):
            return 304, [h for h in headers if h[0] not in (b"content-length",
                                                            b"content-encoding",
                                                            b"content-type")], b""
        body = self.body.gzipped if use_gzip and self.body.gzipped is not None else self.body.raw
        return 200, headers, body


class ResponseIndex(_SizedLRU[Prepared]):
    """Finished answers by request URL (see :func:`url_key`)."""

    def __init__(self, max_bytes: int = DEFAULT_LRU_BYTES) -> None:
        super().__init__(max_bytes, lambda prepared: prepared.size)


def url_key(scope: Scope) -> tuple[str, str, str, str, bytes]:
    """What decides a cached answer besides the version: scheme, Host, root path, path
    and the raw query string (the links in a body are built from them)."""
    host = ""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1")
            break
    return (scope.get("scheme", "http"), host, scope.get("root_path", ""), scope["path"],
            scope.get("query_string", b""))


@dataclass(frozen=True)
class _Known:
    version: int | None
    generation: int
    read_at: float  # time.monotonic() when the store was asked


class LatestVersions:
    """Each field's newest footprint version, as last read from the store.

    A version read less than ``fresh_s`` ago is used as it is; one read less than
    ``ttl_s`` ago is used too, while one background query re-reads it (so requests do
    not queue behind a database round trip, which under load waits for the GIL as well);
    an older one, or one from before the store's ``footprint_generation`` moved, is
    re-read while the request waits. Concurrent waiters for a field share one query.
    """

    def __init__(self, fresh_s: float = LATEST_FRESH_S, ttl_s: float = LATEST_TTL_S) -> None:
        self.fresh_s = min(fresh_s, ttl_s)
        self.ttl_s = ttl_s
        self._known: dict[str, _Known] = {}
        self._pending: dict[tuple[str, int], asyncio.Future[int | None]] = {}

    def remember(self, field_id: str, version: int | None, generation: int,
                 read_at: float | None = None) -> None:
        """Record ``version`` as the field's latest as of ``generation`` (read from the
        store at ``read_at``, default now), unless a read of a later generation is known."""
        found = self._known.get(field_id)
        if found is None or found.generation <= generation:
            self._known[field_id] = _Known(version, generation,
                                           time.monotonic() if read_at is None else read_at)

    def _query(self, field_id: str, store: Any, generation: int) -> asyncio.Future[int | None]:
        """The one query in flight for ``field_id`` at ``generation``, started if there
        is none (a query begun before this process recorded a version is not joined)."""
        key = (field_id, generation)
        pending = self._pending.get(key)
        if pending is not None:
            return pending

        async def read() -> int | None:
            asked_at = time.monotonic()
            try:
                version = await run_in_threadpool(store.latest_footprint_version, field_id)
                self.remember(field_id, version, generation, asked_at)
                return version
            finally:
                self._pending.pop(key, None)

        pending = asyncio.ensure_future(read())
        # a background re-read nobody awaits may fail (database down): the next request
        # past the TTL asks again and the route reports it
        pending.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._pending[key] = pending
        return pending

    async def current(self, field_id: str, store: Any) -> int | None:
        """The field's latest version: remembered, else asked of ``store`` (in a thread;
        concurrent callers for the same field share one query)."""
        generation = store_generation(store)
        found = self._known.get(field_id)
        if found is not None and found.generation == generation:
            age_s = time.monotonic() - found.read_at
            if age_s < self.fresh_s:
                return found.version
            if age_s < self.ttl_s:
                self._query(field_id, store, generation)
                return found.version
        return await asyncio.shield(self._query(field_id, store, generation))


def _state_object(app: Any, name: str, make: Callable[[], Any]) -> Any:
    found = getattr(app.state, name, None)
    if found is None:
        found = make()
        setattr(app.state, name, found)
    return found


def _lru_bytes(app: Any) -> int:
    """Each LRU's budget: half of the settings' ``response_cache_mb``."""
    settings = getattr(app.state, "settings", None)
    if settings is None:
        return DEFAULT_LRU_BYTES
    return int(settings.response_cache_mb) * 2**20 // 2


def cache_of(request: Request) -> ResponseCache:
    """The application's body cache (made on first use)."""
    app = request.app
    return _state_object(app, "response_cache", lambda: ResponseCache(_lru_bytes(app)))


def index_of(app: Any) -> ResponseIndex:
    """The application's index of finished answers by URL (made on first use)."""
    return _state_object(app, "response_index", lambda: ResponseIndex(_lru_bytes(app)))


def latest_versions_of(app: Any) -> LatestVersions:
    """The application's record of each field's latest version (made on first use)."""
    return _state_object(app, "latest_versions", LatestVersions)


def store_generation(store: Any) -> int:
    """How many footprint versions this process's store has recorded (0 if it does not
    count them)."""
    return int(getattr(store, "footprint_generation", 0))


async def latest_version(request: Request, field_id: str) -> int | None:
    """The field's latest footprint version (see :meth:`LatestVersions.current`)."""
    return await latest_versions_of(request.app).current(field_id, request.app.state.store)


class _PreparedResponse(Response):
    def __init__(self, status_code: int, headers: RawHeaders, body: bytes) -> None:
        self.status_code = status_code
        self.body = body
        self.background = None
        self.raw_headers = list(headers)


def cached_response(request: Request, body: CachedBody, media_type: str, *, immutable: bool,
                    headers: Mapping[str, str] | None = None,
                    latest: tuple[str, int] | None = None,
                    url_decides: bool = False) -> Response:
    """The response for ``body``: 304 on a matching ``If-None-Match``, gzipped when the
    client accepts it.

    The answer is also published in the :class:`ResponseIndex` under the request's URL
    when that URL decides it: ``immutable`` ones, ``latest=(field_id, version)`` for a
    "latest" URL, or ``url_decides`` (a resource that changes only with the process,
    like ``/collections``).
    """
    prepared = Prepared.of(body, media_type, immutable=immutable, headers=headers,
                           latest=latest)
    if immutable or latest is not None or url_decides:
        index_of(request.app).put(url_key(request.scope), prepared)
    status, raw_headers, content = prepared.answer(
        request.headers.get("accept-encoding", ""), request.headers.get("if-none-match"))
    return _PreparedResponse(status, raw_headers, content)

