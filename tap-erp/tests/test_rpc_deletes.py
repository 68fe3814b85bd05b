"""Deletes in the ERPNext (tombstones: "Deleted Document") and Odoo (key snapshots)
profiles against the sandbox, rows deleted through each ERP's own API (Frappe
`DELETE /api/resource`, Odoo `unlink`) and by its admin API."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
import requests

from .test_sandbox import run_tap

testing = pytest.importorskip("erp_sandbox.testing")

DELETED = "_sdc_deleted_at"
CREDENTIALS = testing.CREDENTIALS


@dataclasses.dataclass(frozen=True)
class Tenant:
    profile: str
    settings: dict
    key: str
    #: stream -> entity set (doctype, model) of the sandbox
    sets: dict[str, str]
    #: deletes one customer through the ERP's API
    delete_customer: Callable[[testing.SandboxServer, object], None]


def frappe_delete(sb, name) -> None:
    creds = CREDENTIALS["kestrel"]
    reply = requests.delete(
        f"{sb.tenant_url('kestrel')}/api/resource/Customer/{name}",
        headers={"Authorization": f"token {creds['api_key']}:{creds['api_secret']}"},
        timeout=30,
    )
    assert reply.status_code == 202 and reply.json() == {"message": "ok"}


def odoo_unlink(sb, ident) -> None:
    creds = CREDENTIALS["pelican"]
    args = [creds["db"], 2, creds["api_key"], "res.partner", "unlink", [[ident]]]
    body = {"jsonrpc": "2.0", "method": "call", "id": 1,
            "params": {"service": "object", "method": "execute_kw", "args": args}}  # fmt: skip
    reply = requests.post(f"{sb.tenant_url('pelican')}/jsonrpc", json=body, timeout=30)
    assert reply.json().get("result") is True, reply.text


TENANTS = {
    "kestrel": Tenant(
        profile="erpnext",
        settings={
            "bearer_token": f"{CREDENTIALS['kestrel']['api_key']}:"
            f"{CREDENTIALS['kestrel']['api_secret']}",
            "site_timezone": "Europe/Berlin",
        },
        key="name",
        sets={"sales_orders": "Sales Order", "customers": "Customer", "vendors": "Supplier"},
        delete_customer=frappe_delete,
    ),
    "pelican": Tenant(
        profile="odoo",
        settings={
            "database": CREDENTIALS["pelican"]["db"],
            "username": CREDENTIALS["pelican"]["login"],
            "password": CREDENTIALS["pelican"]["api_key"],
        },
        key="id",
        sets={"sales_orders": "sale.order", "customers": "res.partner", "vendors": "res.partner"},
        delete_customer=odoo_unlink,
    ),
}


@pytest.fixture(scope="module")
def sb():
    with testing.sandbox_server(orders=150, seed=11, tenants=sorted(TENANTS)) as server:
        yield server


@pytest.mark.parametrize("name", sorted(TENANTS))
def test_deletes_are_found_for_rows_deleted_through_the_erp_api(sb, tmp_path, name):
    tenant = TENANTS[name]
    config = {
        "profile": tenant.profile,
        "base_url": sb.tenant_url(name),
        "page_size": 40,
        "backoff_base_seconds": 0.01,
        **tenant.settings,
    }
    first = run_tap(tmp_path, config)
    victim = sorted(r[tenant.key] for r in first.records["customers"])[2]
    tenant.delete_customer(sb, victim)
    sb.advance(name, seconds=60, deleted_orders=2, updated_orders=2, deleted_customers=1)
    second = run_tap(tmp_path, config, state=first.state)
    gone = {}
    for stream, entity_set in tenant.sets.items():
        now = {r[tenant.key] for r in sb.records(name, entity_set)}
        gone[stream] = {r[tenant.key] for r in first.records[stream]} - now
        records = second.records.get(stream, [])
        assert {r[tenant.key] for r in records if r.get(DELETED)} == gone[stream], stream
    assert victim in gone["customers"] and len(gone["customers"]) == 2
    assert len(gone["sales_orders"]) == 2
