"""Contender `fetch`: fetch every page of sales order lines and discard the bodies.

    python bench/fetch_pages.py BASE_URL API_KEY [PAGE_SIZE]

The sandbox's limit: a keep-alive requests.Session with offset paging. Prints the
number of rows seen (counted as `"LineKey"` occurrences, no JSON decoding).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import requests

PATH = "/api/v1/sales-order-lines"
MAX_PAGES = 1_000_000


def iter_pages(base_url: str, api_key: str, page_size: int) -> Iterator[bytes]:
    """Raw bodies of every page; stops after the first page with fewer than `page_size` rows."""
    url = base_url.rstrip("/") + PATH
    with requests.Session() as session:
        session.headers["X-API-Key"] = api_key
        for page in range(MAX_PAGES):
            params = {"offset": page * page_size, "limit": page_size}
            resp = session.get(url, params=params, timeout=60)
            resp.raise_for_status()
            body = resp.content
            yield body
            if body.count(b'"LineKey"') < page_size:
                return
    msg = f"more than {MAX_PAGES} pages"
    raise RuntimeError(msg)


def main(argv: list[str]) -> int:
    """Fetch and discard; print the row count."""
    base_url, api_key = argv[0], argv[1]
    page_size = int(argv[2]) if len(argv) > 2 else 5000
    rows = sum(body.count(b'"LineKey"') for body in iter_pages(base_url, api_key, page_size))
    print(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
