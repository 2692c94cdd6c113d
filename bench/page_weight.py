"""Page weight: the bytes a browser downloads for a page, and every third-party URL it would ask."""

from __future__ import annotations

import gzip
import re
from typing import Any

from bench.app_client import App

_RESOURCE_RE = re.compile(
    rb"<(?:script|img|iframe|source|video|audio|embed)\b[^>]*?\ssrc=[\"']([^\"']+)[\"']"
    rb"|<link\b[^>]*?\shref=[\"']([^\"']+)[\"']",
    re.IGNORECASE,
)
_CSS_URL_RE = re.compile(rb"url\(\s*[\"']?([^\"')]+)[\"']?\s*\)|@import\s+[\"']([^\"']+)[\"']")
_ANY_URL_RE = re.compile(rb"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'<>)]*")


def page_weight(app: App, session: dict[str, Any], path: str) -> dict[str, Any]:
    """Bytes a browser downloads for `path` (HTML + CSS + JS + images, gzip where offered),
    and every third-party URL it would request."""
    cookies = {"__Host-sessionid": session["sessionid"], "__Host-csrftoken": session["csrftoken"]}
    accept = {"Accept-Encoding": "gzip"}
    status, headers, html = app.request("GET", path, cookies=dict(cookies), headers=accept)
    if status != 200:
        raise SystemExit(f"GET {path} answered {status}")
    items = [(path, len(html), headers.get("Content-Encoding") or "identity")]
    external: set[str] = set()
    queue = [m.group(1) or m.group(2) for m in _RESOURCE_RE.finditer(html)]
    seen: set[bytes] = set()
    while queue:
        url = queue.pop(0)
        if url in seen or url.startswith(b"data:"):
            continue
        seen.add(url)
        if url.startswith((b"http:", b"https:", b"//")):
            external.add(url.decode())
            continue
        status, headers, body = app.request("GET", url.decode(), headers=accept)
        if status != 200:
            raise SystemExit(f"GET {url.decode()} (from {path}) answered {status}")
        items.append((url.decode(), len(body), headers.get("Content-Encoding") or "identity"))
        if url.endswith(b".css"):
            text = gzip.decompress(body) if headers.get("Content-Encoding") == "gzip" else body
            queue += [m.group(1) or m.group(2) for m in _CSS_URL_RE.finditer(text)]
    # Anything that looks like an absolute URL in the HTML, for the record (links included).
    mentioned = sorted({m.group(0).decode() for m in _ANY_URL_RE.finditer(html)})
    return {
        "path": path,
        "requests": len(items),
        "bytes": sum(size for _, size, _ in items),
        "items": items,
        "third_party_requests": sorted(external),
        "absolute_urls_in_html": mentioned,
    }


def weigh_pages(app: App, session: dict[str, Any]) -> list[dict[str, Any]]:
    """The card list's and the first Mastercard card's reveal page's weight, as `session` sees them."""
    card = session["cards"]["mastercard"]["id"]
    return [page_weight(app, session, "/"), page_weight(app, session, f"/cards/{card}/")]
