"""The ERPNext (kestrel) and Odoo (pelican) tenants where they must behave like the
vendors' servers: Frappe filters and sorts naive local times as local times (around the
hour that repeats when summer time ends), Odoo's `active in [true, false]` keeps
archived records, and the shared faults reach both dialects."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
import requests
from erp_sandbox.testing import CREDENTIALS, SandboxServer, sandbox_server

KESTREL = CREDENTIALS["kestrel"]
PELICAN = CREDENTIALS["pelican"]
TOKEN = {"Authorization": f"token {KESTREL['api_key']}:{KESTREL['api_secret']}"}


@pytest.fixture(scope="module")
def dst() -> Iterator[SandboxServer]:
    """Berlin at 01:30 CEST on 25 October 2026; the clocks go back at 03:00 CEST."""
    with sandbox_server(
        orders=400, tenants=["kestrel", "pelican"], clock="2026-10-24T23:30:00Z"
    ) as sb:
        yield sb


def orders_since(sb: SandboxServer, local_time: str) -> list[tuple[str, str]]:
    resp = requests.get(
        f"{sb.tenant_url('kestrel')}/api/resource/Sales Order",
        params={
            "fields": '["name", "modified"]',
            "filters": orjson.dumps([["modified", ">=", local_time]]).decode(),
            "order_by": "modified asc, name asc",
        },
        headers=TOKEN,
        timeout=30,
    )
    resp.raise_for_status()
    return [(r["name"], r["modified"]) for r in resp.json()["data"]]


def test_frappe_filters_and_sorts_the_repeated_hour_by_local_time(dst):
    (first,) = dst.advance("kestrel", seconds=4800, updated_orders=1)["changed_sets"]["Sales Order"]
    (second,) = dst.advance("kestrel", seconds=1800, updated_orders=1)["changed_sets"][
        "Sales Order"
    ]
    # 02:50 CEST, then 02:20 CET (40 minutes later): by local time the later save is first.
    assert orders_since(dst, "2026-10-25 02:00:00") == [
        (second, "2026-10-25 02:20:00"),
        (first, "2026-10-25 02:50:00"),
    ]
    # As in Frappe's SQL: a bound of 02:50 leaves out the newer save at 02:20 CET.
    assert orders_since(dst, "2026-10-25 02:50:00") == [(first, "2026-10-25 02:50:00")]


def odoo_partners(sb: SandboxServer, domain: list) -> list[dict]:
    body = {
        "jsonrpc": "2.0",
        "method": "call",
        "id": 1,
        "params": {
            "service": "object",
            "method": "execute_kw",
            "args": [
                PELICAN["db"], 2, PELICAN["api_key"], "res.partner", "search_read",
                [domain], {"fields": ["id", "active"]},
            ],
        },
    }  # fmt: skip
    resp = requests.post(f"{sb.tenant_url('pelican')}/jsonrpc", json=body, timeout=30)
    return resp.json()["result"]


@pytest.mark.parametrize(
    ("domain", "archived"),
    [([], False), ([["active", "in", [True, False]]], True), ([["active", "=", False]], True)],
)
def test_odoo_archived_records_only_when_the_domain_names_active(dst, domain, archived):
    rows = odoo_partners(dst, domain)
    assert rows
    assert any(not r["active"] for r in rows) is archived
    if domain == [["active", "=", False]]:
        assert all(not r["active"] for r in rows)


def test_faults_reach_both_dialects(dst):
    for tenant, request in (
        ("kestrel", lambda: orders_since(dst, "2026-10-25 02:00:00")),
        ("pelican", lambda: odoo_partners(dst, [])),
    ):
        dst.set_faults(tenant, {"rate_limit": {"every": 1, "retry_after": 1}})
        with pytest.raises((requests.HTTPError, KeyError, ValueError)):
            request()
        dst.set_faults(tenant, {})
        request()
