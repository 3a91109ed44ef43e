"""Content negotiation: the one helper that picks a response format.

``f`` (a query parameter) wins; else the best entry of ``Accept`` by q-value, ties in the
order the client listed them; a wildcard gives the default. A client that accepts none
of the formats gets a 406 (:class:`~footprint.errors.NotAcceptableError`).
"""

from __future__ import annotations

from collections.abc import Mapping

from footprint.errors import InvalidParameterError, NotAcceptableError


def prefers_html(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for HTML over JSON (a browser navigating)."""
    return accept is not None and "text/html" in accept and "json" not in accept


def wants_html(f: str | None, accept: str | None,
               offered: tuple[str, ...] = ("json", "html", "geojson")) -> bool:
    """Whether a resource offered as JSON (of some kind) and HTML answers with HTML.

    ``f`` wins and must be one of ``offered``; without it only a browser's ``Accept``
    (:func:`prefers_html`) gives HTML. Any other ``Accept`` gets JSON rather than a 406,
    because OGC clients ask for JSON variants (``application/schema+json``,
    ``application/geo+json``) that are all the same answer here.
    """
    if f is not None:
        if f not in offered:
            raise InvalidParameterError(f"f={f!r} is not offered",
                                        hint=" or ".join(f"f={name}" for name in offered))
        return f == "html"
    return prefers_html(accept)


def accept_ranges(accept: str) -> list[str]:
    """The media ranges of an ``Accept`` header with q > 0, best first (RFC 9110 §12.5.1)."""
    offers = []
    for order, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in params:
            if param.lower().startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if q > 0:
            offers.append((-q, order, media.lower()))
    return [media for _, _, media in sorted(offers)]


def negotiate(f: str | None, accept: str | None, formats: Mapping[str, str], *,
              default: str = "json") -> str:
    """The name of the format to answer with.

    Parameters
    ----------
    f : str or None
        The ``f`` query parameter (a key of ``formats``, any case).
    accept : str or None
        The ``Accept`` header.
    formats : mapping of name -> media type
        What the resource comes in, e.g. ``{"json": "application/json", ...}``.
    default : str
        The answer to no preference and to a wildcard.
    """
    if f:
        if f.lower() not in formats:
            raise InvalidParameterError(f"f must be one of {', '.join(formats)}, got {f!r}")
        return f.lower()
    if not accept:
        return default
    for media in accept_ranges(accept):
        if media in ("*/*", "application/*"):
            return default
        for name, media_type in formats.items():
            if media == media_type or (media == f"{media_type.split('/')[0]}/*"
                                       and name != default):
                return name
    wanted = ", ".join(formats.values())
    raise NotAcceptableError(f"cannot answer with any of: {accept}", hint=f"ask for {wanted}")
