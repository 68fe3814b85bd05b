"""Deletes in the OData profiles (Business Central, S/4HANA): key snapshots against the
sandbox, rows deleted by its admin API and by OData DELETE."""

from __future__ import annotations

import pytest
import requests

from .test_odata_profiles import NAMES, TENANTS, by_key, config_for, erp_rows, run_tap

testing = pytest.importorskip("erp_sandbox.testing")

DELETED = "_sdc_deleted_at"
#: entity set and key of customers per tenant, for an OData DELETE (where customers
#: are read incrementally; elsewhere they are a snapshot, replaced in the current table)
CUSTOMER_SET = {
    "contoso": lambda sb: (f"{sb.company_url('contoso')}/customers", "{}"),
    "bestrun": lambda sb: (
        f"{sb.service_url('bestrun', 'business_partner')}/A_BusinessPartner",
        "'{}'",
    ),
}


@pytest.fixture(scope="module")
def sb():
    with testing.sandbox_server(orders=200, seed=11, tenants=NAMES) as server:
        yield server


@pytest.mark.parametrize("name", NAMES)
def test_key_snapshots_find_the_deleted_rows(sb, tmp_path, name):
    config = config_for(sb, name, page_size=50)
    first = run_tap(tmp_path, config)
    victim = None
    if name in CUSTOMER_SET:
        url, literal = CUSTOMER_SET[name](sb)
        victim = sorted(by_key(name, "customers", first.records["customers"]))[3][0]
        reply = requests.delete(
            f"{url}({literal.format(victim)})", headers=sb.auth_headers(name), timeout=30
        )
        assert reply.status_code == 204
    sb.advance(name, seconds=60, deleted_customers=1, deleted_orders=2, updated_orders=2)
    second = run_tap(tmp_path, config, state=first.state)
    gone: dict[str, set] = {}
    for stream in ("sales_orders", "sales_order_lines", "customers", "vendors"):
        if stream not in TENANTS[name].replication:
            continue  # read whole: a snapshot, replaced in the current table
        keys = TENANTS[name].keys[stream]
        before = set(by_key(name, stream, first.records[stream]))
        gone[stream] = before - set(erp_rows(sb, name, stream))
        records = second.records.get(stream, [])
        deleted = {tuple(r[k] for k in keys) for r in records if r.get(DELETED)}
        assert deleted == gone[stream], stream
        assert all(
            r[DELETED] == r[TENANTS[name].replication[stream]] for r in records if r[DELETED]
        )
    if victim is not None:
        assert (victim,) in gone["customers"]
        assert len(gone["customers"]) == 2
    assert len(gone["sales_orders"]) == 2
    assert gone.get("sales_order_lines", True)  # the deleted orders' lines went too
    third = run_tap(tmp_path, config, state=second.state)
    assert not any(r.get(DELETED) for rows in third.records.values() for r in rows)
