"""The fast path: answers already published for a URL, sent before FastAPI runs.

:func:`api.cache.cached_response` publishes a finished answer under its request URL when
the URL decides it (an immutable footprint version's page, deposit or tile; a "latest"
URL with the version it resolved to; ``/collections``). :class:`PublishedAnswerMiddleware`
sits inside the request-id, security-header, Host and body-limit guards, so those still
apply, and answers a GET from that index with no routing, no dependency and no database
session. It steps aside (the route answers) when:

- the server does not allow anonymous reads, or the request carries a credential (the
  route checks the key: a bad key must still be a 401);
- the client prefers HTML (``Accept: text/html``): the route renders the page;
- nothing is published for the URL, or it was published for a "latest" version that is
  no longer the latest (:class:`api.cache.LatestVersions`: remembered for two seconds,
  then asked of the store once for all the requests waiting on it).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from api.cache import Prepared, index_of, latest_versions_of, url_key
from api.guards import has_credential
from api.negotiation import prefers_html


def _headers_of(scope: Scope) -> dict[bytes, str]:
    wanted = (b"accept", b"accept-encoding", b"if-none-match")
    return {name: value.decode("latin-1") for name, value in scope.get("headers", ())
            if name in wanted}


class PublishedAnswerMiddleware:
    """Answers GETs from the application's :class:`~api.cache.ResponseIndex` (see the
    module)."""

    def __init__(self, app: ASGIApp, public_reads: bool) -> None:
        self.app = app
        self.public_reads = public_reads

    def _published(self, scope: Scope, headers: dict[bytes, str]) -> Prepared | None:
        if (not self.public_reads or scope["type"] != "http" or scope["method"] != "GET"
                or has_credential(scope) or prefers_html(headers.get(b"accept"))):
            return None
        return index_of(scope["app"]).peek(url_key(scope))

    async def _still_latest(self, scope: Scope, prepared: Prepared) -> bool:
        if prepared.latest is None:
            return True
        app = scope["app"]
        store = getattr(app.state, "store", None)
        if store is None:
            return False
        field_id, version = prepared.latest
        try:
            return await latest_versions_of(app).current(field_id, store) == version
        except Exception:  # noqa: BLE001 - the route will answer (and report) it
            return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the published answer, or run the application."""
        headers = _headers_of(scope) if scope["type"] == "http" else {}
        prepared = self._published(scope, headers) if "app" in scope else None
        if prepared is None or not await self._still_latest(scope, prepared):
            await self.app(scope, receive, send)
            return
        status, raw_headers, body = prepared.answer(headers.get(b"accept-encoding", ""),
                                                    headers.get(b"if-none-match"))
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})
