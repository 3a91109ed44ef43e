"""HTML views (``f=html``) of the OGC API - Features resources.

Plain server-rendered pages: every value is escaped, no script runs except the service's
own map, embedded (``/map``) so a browser user sees the features where they are.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

_STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:70rem}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;"
          "text-align:left;vertical-align:top}"
          "iframe{width:100%;height:28rem;border:1px solid #ccc}")


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
            f"</title><style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}"
            "</body></html>")


def _links(links: list[dict[str, Any]]) -> str:
    items = "".join(f'<li><a href="{escape(str(l_["href"]))}">'
                    f'{escape(l_.get("title") or l_["rel"])}'
                    f"</a> ({escape(l_['rel'])}, {escape(l_.get('type', ''))})</li>"
                    for l_ in links)
    return f"<ul>{items}</ul>"


def _map(fragment: str = "") -> str:
    return f'<iframe title="map" src="/map{escape(fragment)}"></iframe>'


def landing(body: dict[str, Any], base: str) -> str:
    """The landing page: description, links and the map."""
    return _page(body["title"], f"<p>{escape(body['description'])}</p>{_links(body['links'])}"
                 f"{_map()}")


def listing(title: str, values: list[str]) -> str:
    """A titled list of values (e.g. the conformance classes)."""
    return _page(title, "<ul>" + "".join(f"<li>{escape(v)}</li>" for v in values) + "</ul>")


def collections(described: list[dict[str, Any]]) -> str:
    """The collections as a table, with the map."""
    rows = "".join(f'<tr><td><a href="collections/{escape(c["id"])}?f=html">{escape(c["id"])}'
                   f'</a></td><td>{escape(c["title"])}</td><td>{escape(c["description"])}</td></tr>'
                   for c in described)
    return _page("Collections", f"<table><tr><th>id</th><th>title</th><th>description</th></tr>"
                 f"{rows}</table>{_map()}")


def collection(described: dict[str, Any]) -> str:
    """One collection: description, extent, links and the map."""
    extent = described.get("extent", {}).get("spatial", {}).get("bbox")
    return _page(described["title"],
                 f"<p>{escape(described['description'])}</p>"
                 f"<p>Extent (CRS84): {escape(json.dumps(extent))}</p>"
                 f'<p><a href="{escape(described["id"])}/items?f=html">Features</a></p>'
                 f"{_links(described['links'])}{_map()}")


def _properties(properties: dict[str, Any]) -> str:
    return "<table>" + "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>"
                               for k, v in properties.items()) + "</table>"


def items(coll: Any, body: dict[str, Any], request: Any) -> str:
    """A page of features as a table of their properties, with paging links and the map."""
    rows = "".join(
        f'<tr><td><a href="items/{escape(str(f_["id"]))}?f=html">{escape(str(f_["id"]))}</a></td>'
        f"<td>{_properties(f_.get('properties') or {})}</td></tr>" for f_ in body["features"])
    nav = "".join(f'<a href="{escape(str(l_["href"]))}&amp;f=html">{escape(l_["rel"])}</a> '
                  for l_ in body["links"] if l_["rel"] in ("prev", "next"))
    return _page(f"{coll.title}: features",
                 f"<p>{body['numberReturned']} of {body['numberMatched']} features. {nav}</p>"
                 f"<table><tr><th>id</th><th>properties</th></tr>{rows}</table>{_map()}")


def item(coll: Any, feature: dict[str, Any]) -> str:
    """One feature: its properties, links and the map."""
    return _page(f"{coll.title}: {feature.get('id')}",
                 _properties(feature.get("properties") or {}) + _links(feature.get("links", []))
                 + _map())
