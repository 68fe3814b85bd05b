"""A small OData reader for the tests: follows `@odata.nextLink` (absolute or relative)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urljoin

import requests


def read_all(
    http: requests.Session,
    url: str,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
    page_size: int | None = None,
    max_pages: int = 10_000,
) -> tuple[list[dict], list[dict]]:
    """Every row of a collection and the bodies of its pages."""
    prefer = {"Prefer": f"odata.maxpagesize={page_size}"} if page_size else {}
    rows, bodies = [], []
    base = url.rsplit("/", 1)[0] + "/"
    for _ in range(max_pages):
        r = http.get(url, headers={**headers, **prefer}, params=params, timeout=60)
        assert r.status_code == 200, r.text
        body = r.json()
        bodies.append(body)
        rows.extend(body["value"])
        link = body.get("@odata.nextLink")
        if link is None:
            return rows, bodies
        url, params = urljoin(base, link), None
    raise AssertionError("too many pages")


def without_etag(rows: list[dict]) -> list[dict]:
    """Rows without their `@odata.etag` (as the admin records show them)."""
    return [{k: v for k, v in r.items() if k != "@odata.etag"} for r in rows]


def parse_dto(text: str) -> datetime:
    """An OData DateTimeOffset with 0-7 fractional digits (microseconds kept)."""
    head, _, frac = text.rstrip("Z").partition(".")
    dt = datetime.fromisoformat(head).replace(tzinfo=UTC)
    return dt.replace(microsecond=int((frac + "000000")[:6]))
