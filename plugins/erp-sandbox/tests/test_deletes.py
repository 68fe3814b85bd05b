"""Deleting rows: admin, the sandbox's own REST API, OData v4, and tombstones."""

from __future__ import annotations

import pytest
from erp_sandbox.testing import CREDENTIALS
from odata_client import read_all
from test_http import ACME, api, fetch_cursor, fetch_offset, fetch_pages


def keys_of(rows: list[dict], key: str) -> set:
    return {r[key] for r in rows}


@pytest.mark.parametrize(
    ("fetch", "tenant"),
    [(fetch_offset, "acme"), (fetch_cursor, "globex"), (fetch_pages, "initech")],
)
def test_admin_delete_removes_rows_from_every_paging_style(sb, http, fetch, tenant):
    gone = sb.delete(tenant, customers=[3, 150], sales_orders=[7])["deleted"]
    assert gone["customers"] == [3, 150] and gone["sales_orders"] == [7]
    assert gone["sales_order_lines"], "an order takes its lines along"
    admin = sb.records(tenant, "customers")
    assert keys_of(admin, "CustomerKey").isdisjoint({3, 150})
    assert sb.stats(tenant)["counts"]["customers"] == len(admin) == 198
    # the listing agrees with the admin view
    assert keys_of(fetch(http, sb, "customers"), "CustomerKey") == keys_of(admin, "CustomerKey")
    lines = keys_of(fetch(http, sb, "sales-order-lines"), "LineKey")
    assert lines.isdisjoint(gone["sales_order_lines"])


def test_advance_deletes_a_share_and_tombstones_list_them(sb, http):
    before = sb.stats("acme")["counts"]
    answer = sb.advance(
        "acme", seconds=60, deleted_customers=2, deleted_orders=20, updated_orders=5
    )
    deleted = answer["deleted"]
    assert len(deleted["customers"]) == 2 and len(deleted["sales_orders"]) == 20
    assert set(answer["changed"]["sales_orders"]).isdisjoint(deleted["sales_orders"])
    after = sb.stats("acme")["counts"]
    assert after["sales_orders"] == before["sales_orders"] - 20
    url = api(sb, "acme", "customers") + "/$deleted"
    tombstones = http.get(url, headers=ACME).json()["value"]
    assert [t["CustomerKey"] for t in tombstones] == deleted["customers"]
    assert all(t["DeletedOn"] == answer["clock"] for t in tombstones)
    later = http.get(url, headers=ACME, params={"deleted_since": "2030-01-01T00:00:00Z"})
    assert later.json()["value"] == []
    # updates never pick deleted rows, and rows keep deleting after updates
    again = sb.advance("acme", updated_customers=198, deleted_customers=1)
    assert set(again["changed"]["customers"]).isdisjoint(deleted["customers"])


def test_rest_delete_endpoint(sb, http):
    url = api(sb, "acme", "customers")
    assert http.delete(f"{url}/5", headers=ACME).status_code == 204
    assert http.delete(f"{url}/5", headers=ACME).status_code == 404
    assert http.delete(f"{url}/5").status_code == 401
    assert http.delete(f"{api(sb, 'acme', 'inventory')}/1", headers=ACME).status_code == 405
    assert 5 not in keys_of(fetch_offset(http, sb, "customers"), "CustomerKey")
    tombstones = http.get(f"{url}/$deleted", headers=ACME).json()["value"]
    assert [t["CustomerKey"] for t in tombstones] == [5]


@pytest.mark.parametrize(
    ("message", "body"),
    [
        ("cannot be deleted", {"inventory": [1]}),
        ("no row with key 99999", {"customers": [99999]}),
        ("list of integer keys", {"customers": "all"}),
    ],
)
def test_admin_delete_rejects_bad_input(sb, http, message, body):
    r = http.post(f"{sb.url}/_admin/acme/delete", json=body)
    assert r.status_code == 400 and message in r.text
    assert sb.stats("acme")["counts"]["customers"] == 200


@pytest.mark.parametrize(
    ("tenant", "entity_set", "key"),
    [("contoso", "customers", "id"), ("bestrun", "A_BusinessPartner", "BusinessPartner")],
)
def test_odata_delete_and_admin_deletes_show_in_entity_sets(sb, http, tenant, entity_set, key):
    url = (
        f"{sb.company_url('contoso')}/{entity_set}"
        if tenant == "contoso"
        else f"{sb.service_url('bestrun', 'business_partner')}/{entity_set}"
    )
    headers = sb.auth_headers(tenant)
    rows, _ = read_all(http, url, headers, page_size=500)
    victim = rows[10][key]
    literal = victim if tenant == "contoso" else f"'{victim}'"
    assert http.delete(f"{url}({literal})", headers=headers).status_code == 204
    assert http.delete(f"{url}({literal})", headers=headers).status_code == 404
    answer = sb.advance(tenant, deleted_customers=1)
    assert len(answer["deleted_sets"][entity_set]) == 1
    after, _ = read_all(http, url, headers, page_size=500)
    assert len(after) == len(rows) - 2
    assert victim not in keys_of(after, key)
    assert keys_of(after, key) == keys_of(sb.records(tenant, entity_set), key)


def test_deleted_order_lines_leave_expansions(sb, http):
    company, headers = sb.company_url("contoso"), sb.auth_headers("contoso")
    gone = sb.delete("contoso", sales_order_lines=[1])["deleted"]
    assert gone["sales_order_lines"] == [1]
    orders, _ = read_all(
        http, f"{company}/salesOrders", headers, {"$expand": "salesOrderLines"}, page_size=50
    )
    lines = [line for o in orders for line in o["salesOrderLines"]]
    assert len(lines) == len(sb.records("contoso", "salesOrderLines"))


def frappe_delete(sb, http, name: str) -> int:
    creds = CREDENTIALS["kestrel"]
    headers = {"Authorization": f"token {creds['api_key']}:{creds['api_secret']}"}
    url = f"{sb.tenant_url('kestrel')}/api/resource/Customer/{name}"
    return http.delete(url, headers=headers).status_code


def odoo_unlink(sb, http, ident: int) -> int:
    creds = CREDENTIALS["pelican"]
    url = f"{sb.tenant_url('pelican')}/json/2/res.partner/unlink"
    headers = {"Authorization": f"bearer {creds['api_key']}"}
    reply = http.post(url, headers=headers, json={"ids": [ident]})
    assert reply.status_code != 200 or reply.json() is True
    return reply.status_code


@pytest.mark.parametrize(
    ("tenant", "entity_set", "key", "delete", "done"),
    [
        ("kestrel", "Customer", "name", frappe_delete, 202),  # Frappe: {"message": "ok"}
        ("pelican", "res.partner", "id", odoo_unlink, 200),  # Odoo: true
    ],
)
def test_erpnext_and_odoo_delete_through_their_own_api(
    sb, http, tenant, entity_set, key, delete, done
):
    before = sb.records(tenant, entity_set)
    victim = before[5][key]
    assert delete(sb, http, victim) == done
    assert delete(sb, http, victim) == 404  # gone
    after = sb.records(tenant, entity_set)
    assert keys_of(after, key) == keys_of(before, key) - {victim}
    if tenant == "kestrel":  # Frappe keeps a Deleted Document
        creds = CREDENTIALS["kestrel"]
        reply = http.get(
            f"{sb.tenant_url('kestrel')}/api/resource/Deleted Document",
            headers={"Authorization": f"token {creds['api_key']}:{creds['api_secret']}"},
            params={
                "fields": '["deleted_name", "deleted_doctype", "creation"]',
                "filters": '[["deleted_doctype", "=", "Customer"]]',
            },
        )
        (document,) = reply.json()["data"]
        assert document["deleted_name"] == victim and document["deleted_doctype"] == "Customer"
