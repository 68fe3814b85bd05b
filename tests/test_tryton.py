"""A real Tryton 8.2 server, end to end: `meltano --environment=riverside run tap-erp
target-s3` with the `tryton` profile lands the six standard tables with Tryton's own
counts and exact values, then exactly the rows changed in Tryton, and nothing else, then
the rows deleted in Tryton as deletes (`_sdc_deleted_at`)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from erp_testing.project import STREAMS
from erp_testing.standard_model import STANDARD_COLUMNS
from test_clients import CLIENT_VARIABLES
from tryton_testbed import tryton_server

#: Tryton's own count behind each landed table (tryton_testbed's `counts()`).
COUNTS = {
    "sales_orders": "sales",
    "sales_order_lines": "sale_lines",
    "customers": "customers",
    "vendors": "vendors",
    "products": "products",
    "inventory": "stock_levels",
}


@pytest.fixture(scope="module")
def tryton() -> Iterator:
    with tryton_server() as server:
        yield server


def riverside(project, tryton) -> None:
    """The project's environment as a client's .env would set it for riverside."""
    ep = project.endpoints
    env = {k: v for k, v in project.env.items() if not k.startswith(CLIENT_VARIABLES)}
    env.update(
        {
            "RIVERSIDE_ERP_BASE_URL": tryton.rest_base,
            "RIVERSIDE_ERP_API_KEY": tryton.api_key,
            "RIVERSIDE_TRYTON_COMPANY_ID": str(tryton.company_id),
            "RIVERSIDE_LAKE_BUCKET": ep.bucket,
            "RIVERSIDE_LAKE_PREFIX": "clients",
            "RIVERSIDE_S3_ENDPOINT_URL": ep.s3_endpoint_url,
        }
    )
    project.env = env


def landed_by_run(lake, stream: str, key: str) -> list[set]:
    """The keys each run landed, oldest run first."""
    rows = lake.query(
        f"SELECT _run_id, min(_loaded_at) AS t, list({key}) FROM {lake.table(stream)} "
        "GROUP BY _run_id ORDER BY t"
    )
    return [set(keys) for _, _, keys in rows]


def decimals(rows) -> dict:
    return {k: None if v is None else Decimal(str(v)) for k, v in rows}


def test_a_real_tryton_lands_six_tables_then_exactly_the_changes(project, tryton):
    riverside(project, tryton)
    project.run("--environment=riverside", "run", "tap-erp", "target-s3")
    lake = project.lake(client_id="riverside", prefix="clients")
    counts = tryton.counts()
    assert lake.streams() == sorted(STREAMS)
    for stream in STREAMS:
        assert set(STANDARD_COLUMNS[stream]) <= set(lake.columns(stream)), stream
        total = lake.query(f"SELECT count(*) FROM {lake.table(stream)}")[0][0]
        assert total == counts[COUNTS[stream]], stream

    # Money and quantities exact, as Tryton holds them.
    sales = tryton.search_read("sale.sale", [], ["total_amount", "untaxed_amount"])
    landed = lake.query(f"SELECT order_id, total_amount FROM {lake.table('sales_orders')}")
    assert decimals(landed) == {s["id"]: s["total_amount"] for s in sales}
    lines = tryton.search_read("sale.line", [], ["unit_price", "quantity"])
    landed = lake.query(
        f"SELECT order_line_id, unit_price, quantity FROM {lake.table('sales_order_lines')}"
    )
    assert {r[0]: (Decimal(str(r[1])), r[2]) for r in landed} == {
        ln["id"]: (ln["unit_price"], ln["quantity"]) for ln in lines
    }
    stock = lake.query(
        f"SELECT product_id, warehouse_id, quantity_on_hand, quantity_available "
        f"FROM {lake.table('inventory')}"
    )
    levels = tryton.stock_levels()
    assert {(p, w): (q, f) for p, w, q, f in stock} == {
        key: (v["quantity"], v["forecast_quantity"]) for key, v in levels.items()
    }

    # Changes in Tryton: an edited sale, a new sale with two lines, an edited party.
    draft = next(s for s in tryton.search_read("sale.sale", [("state", "=", "draft")], ["id"]))
    tryton.edit_sale(draft["id"], reference="PO-CHANGED")
    customer = tryton.search_read(
        "party.party",
        [("categories", "=", tryton.customer_category_id)],
        ["id", "categories"],
    )
    party = next(p for p in customer if len(p["categories"]) == 1)
    products = [p["id"] for p in tryton.search_read("product.product", [], ["id"])[:2]]
    new_sale = tryton.new_sale(
        party["id"], [(products[0], 3, Decimal("12.3456")), (products[1], 1, Decimal("99.99"))]
    )
    tryton.edit_party(party["id"], name="Renamed Customer Ltd")
    new_lines = {
        ln["id"] for ln in tryton.search_read("sale.line", [("sale", "=", new_sale)], ["id"])
    }

    project.run("--environment=riverside", "run", "tap-erp", "target-s3")
    lake = project.lake(client_id="riverside", prefix="clients")
    assert landed_by_run(lake, "sales_orders", "order_id")[-1] == {draft["id"], new_sale}
    assert landed_by_run(lake, "sales_order_lines", "order_line_id")[-1] == new_lines
    assert landed_by_run(lake, "customers", "customer_id")[-1] == {party["id"]}
    for stream, key in (("vendors", "vendor_id"), ("products", "product_id")):
        assert len(landed_by_run(lake, stream, key)) == 1, f"{stream} landed again"
    # inventory is a snapshot: every stock level again, as Tryton has it now
    assert len(landed_by_run(lake, "inventory", "product_id")[-1]) > 0
    renamed = lake.query(
        f"SELECT customer_name FROM {lake.table('customers')} WHERE customer_id = {party['id']} "
        "ORDER BY _loaded_at DESC LIMIT 1"
    )
    assert renamed == [("Renamed Customer Ltd",)]
    reference = lake.query(
        f"SELECT reference FROM {lake.table('sales_orders')} WHERE order_id = {draft['id']} "
        "ORDER BY _loaded_at DESC LIMIT 1"
    )
    assert reference == [("PO-CHANGED",)]

    # Deletes in Tryton, found by key snapshots: the new draft sale (its lines go with
    # it) and a customer without sales. The next run lands them as deletes.
    tryton.call("sale.sale", "delete", [new_sale])
    with_sales = {s["party"] for s in tryton.search_read("sale.sale", [], ["party"])}
    gone = next(p["id"] for p in customer if p["id"] not in with_sales | {party["id"]})
    tryton.call("party.party", "delete", [gone])
    project.run("--environment=riverside", "run", "tap-erp", "target-s3")
    lake = project.lake(client_id="riverside", prefix="clients")
    expected = {"sales_orders": {new_sale}, "sales_order_lines": new_lines, "customers": {gone}}
    for stream, keys in expected.items():
        key = STANDARD_COLUMNS[stream][0]
        deleted = lake.query(
            f"SELECT {key} FROM {lake.table(stream)} WHERE _sdc_deleted_at IS NOT NULL"
        )
        assert {row[0] for row in deleted} == keys, stream
