"""Fetch-and-discard throughput: how fast the sandbox serves pages over loopback."""

from __future__ import annotations

import time
from typing import Any

import requests

from erp_sandbox.testing import sandbox_server


def _fetch_all(session: requests.Session, url: str, page_size: int) -> tuple[int, int]:
    """Fetch every page with offset paging; returns (pages, bytes)."""
    offset = pages = nbytes = 0
    headers = {"X-API-Key": "acme-key-123"}
    while True:
        resp = session.get(url, params={"offset": offset, "limit": page_size}, headers=headers)
        resp.raise_for_status()
        body = resp.content
        pages += 1
        nbytes += len(body)
        if len(body) < 32:  # '{"value":[]}'
            break
        offset += page_size
        if pages > 10_000_000:
            break
    return pages, nbytes


def bench_fetch(
    orders: int = 300_000,
    page_size: int = 5000,
    seed: int = 42,
    entity: str = "sales-order-lines",
    passes: int = 2,
) -> dict[str, Any]:
    """Start a server, fetch all pages of an entity `passes` times, report records/s."""
    report: list[str] = []
    results = []
    with sandbox_server(orders=orders, seed=seed, tenants=["acme"], startup_timeout=120) as sb:
        stream = entity.replace("-", "_")
        total = sb.stats("acme")["counts"][stream]
        url = f"{sb.tenant_url('acme')}/api/v1/{entity}"
        with requests.Session() as session:
            for n in range(passes):
                t0 = time.perf_counter()
                pages, nbytes = _fetch_all(session, url, page_size)
                dt = time.perf_counter() - t0
                rate = total / dt
                results.append(rate)
                report.append(
                    f"pass {n + 1}: {total:,} {entity} in {pages} pages, "
                    f"{nbytes / 1e6:,.0f} MB, {dt:.2f} s -> {rate:,.0f} records/s"
                )
    return {"records": total, "rates": results, "report": report}
