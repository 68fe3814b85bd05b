"""Business Central and S/4HANA clients end to end: `meltano --environment=<client> run
tap-erp target-s3` with the `business_central` (contoso) and `sap_s4hana` (bestrun)
profiles against the sandbox's OData v4 tenants lands the six standard tables with the
sandbox's own counts, exact money and the client's custom columns; after a change (an
edited order, a new order with lines, an edited customer) the next run lands exactly
those rows, snapshot streams excepted (they land whole on every run)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import pytest
import requests
from erp_testing.project import STREAMS
from erp_testing.standard_model import LINEAGE_COLUMNS, STANDARD_COLUMNS
from test_clients import CLIENT_VARIABLES

#: Exact decimals in every table (money, prices, quantities).
DECIMAL_COLUMNS = {
    "sales_orders": ["subtotal_amount", "tax_amount", "total_amount"],
    "sales_order_lines": ["quantity", "unit_price", "discount_amount", "line_amount"],
    "customers": ["credit_limit"],
    "products": ["list_price", "standard_cost"],
    "inventory": ["quantity_on_hand", "quantity_reserved", "quantity_available"],
}

CHANGE = {"seconds": 3600, "updated_orders": 1, "new_orders": 1, "updated_customers": 1}


@dataclasses.dataclass(frozen=True)
class Client:
    """A client company on one of the sandbox's OData tenants."""

    profile: str
    #: columns of the client's custom fields, by table
    custom: dict[str, list[str]]
    #: snapshot streams: every run lands them whole
    snapshots: frozenset[str]
    #: (table, column) -> (entity set, its key, the field landed there)
    exact: dict[tuple[str, str], tuple[str, str, str]]
    #: (answer of `advance`, the sandbox) -> keys the next run lands, by incremental table
    changed: Callable[[dict, object], dict[str, set]]
    #: the sales orders: entity set, key, change time
    orders: tuple[str, str, str]


def _contoso_changed(answer: dict, erp) -> dict[str, set]:
    orders = set(answer["changed_sets"]["salesOrders"])
    lines = {
        r["id"] for r in admin_rows(erp, "contoso", "salesOrderLines") if r["documentId"] in orders
    }
    return {
        "sales_orders": orders,
        "sales_order_lines": lines,  # every line of a changed order
        "customers": set(answer["changed_sets"]["customers"]),
    }


def _bestrun_changed(answer: dict, erp) -> dict[str, set]:
    partners = set(answer["changed_sets"]["A_BusinessPartner"])
    customers = {
        r["Customer"]
        for r in admin_rows(erp, "bestrun", "A_BusinessPartner")
        if r["BusinessPartner"] in partners and r["Customer"]
    }
    return {"sales_orders": set(answer["changed_sets"]["SalesOrder"]), "customers": customers}


CLIENTS = {
    "contoso": Client(
        profile="business_central",
        custom={
            "products": ["spec_color", "spec_weight_kg"],
            "customers": ["custom_segment", "custom_loyalty_tier"],
        },
        snapshots=frozenset({"inventory"}),
        exact={
            ("sales_orders", "total_amount"): ("salesOrders", "id", "totalAmountIncludingTax"),
            ("sales_orders", "tax_amount"): ("salesOrders", "id", "totalTaxAmount"),
            ("sales_order_lines", "unit_price"): ("salesOrderLines", "id", "unitPrice"),
            ("sales_order_lines", "quantity"): ("salesOrderLines", "id", "quantity"),
            ("products", "spec_weight_kg"): ("items", "id", "contosoWeightKg"),
        },
        changed=_contoso_changed,
        orders=("salesOrders", "id", "lastModifiedDateTime"),
    ),
    "bestrun": Client(
        profile="sap_s4hana",
        custom={
            "products": ["spec_color", "spec_weight_kg", "spec_hazardous"],
            "customers": ["custom_account_manager"],
        },
        snapshots=frozenset({"sales_order_lines", "inventory"}),
        exact={
            ("sales_orders", "subtotal_amount"): ("SalesOrder", "SalesOrder", "TotalNetAmount"),
            ("products", "spec_weight_kg"): ("Product", "Product", "YY1_WeightKg_PRD"),
        },
        changed=_bestrun_changed,
        orders=("SalesOrder", "SalesOrder", "LastChangeDateTime"),
    ),
}
KEY_COLUMN = {
    "sales_orders": "order_id",
    "sales_order_lines": "order_line_id",
    "customers": "customer_id",
    "vendors": "vendor_id",
    "products": "product_id",
    "inventory": "product_id",
}


def admin_rows(erp, tenant: str, entity_set: str) -> list[dict]:
    """An entity set's rows as the sandbox serves them, decimals exact."""
    resp = requests.get(f"{erp.url}/_admin/{tenant}/records/{entity_set}", timeout=300)
    resp.raise_for_status()
    return [json.loads(line, parse_float=Decimal) for line in resp.text.splitlines() if line]


def client_env(project, erp, client: str) -> None:
    """Only what the client's .env holds: its environment in clients/ does the rest."""
    ep = project.endpoints
    env = {k: v for k, v in project.env.items() if not k.startswith(CLIENT_VARIABLES)}
    prefix = client.upper()
    env.update(
        {
            f"{prefix}_ERP_BASE_URL": erp.tenant_url(client),
            f"{prefix}_LAKE_BUCKET": ep.bucket,
            f"{prefix}_LAKE_PREFIX": "clients",
            f"{prefix}_S3_ENDPOINT_URL": ep.s3_endpoint_url,
        }
    )
    if client == "contoso":
        env.update(
            {
                "CONTOSO_ERP_CLIENT_ID": "contoso-client",
                "CONTOSO_ERP_CLIENT_SECRET": "contoso-secret",
                "CONTOSO_ERP_TOKEN_URL": f"{erp.tenant_url(client)}/oauth2/v2.0/token",
                "CONTOSO_BC_COMPANY_ID": erp.company_url(client).rsplit("(", 1)[1].rstrip(")"),
            }
        )
    else:
        env.update({"BESTRUN_ERP_USERNAME": "BESTRUN_COMM", "BESTRUN_ERP_PASSWORD": "bestrun-pass"})
    project.env = env


def landed_by_run(lake, stream: str) -> list[tuple[int, set]]:
    """Rows and keys each run landed in a table, oldest run first."""
    rows = lake.query(
        f"SELECT _run_id, min(_loaded_at) AS t, count(*), list({KEY_COLUMN[stream]}) "
        f"FROM {lake.table(stream)} GROUP BY _run_id ORDER BY t"
    )
    return [(count, set(keys)) for _, _, count, keys in rows]


def column_types(lake, stream: str) -> dict[str, str]:
    return {r[0]: r[1] for r in lake.query(f"DESCRIBE SELECT * FROM {lake.table(stream)}")}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_client_lands_six_standard_tables_then_exactly_the_changes(project, erp, client):
    spec = CLIENTS[client]
    client_env(project, erp, client)
    run = ("--environment=" + client, "run", "tap-erp", "target-s3")
    project.run(*run)
    lake = project.lake(client_id=client, prefix="clients")
    counts = erp.stats(client)["counts"]
    assert lake.streams() == sorted(STREAMS)
    for stream in STREAMS:
        types = column_types(lake, stream)
        wanted = STANDARD_COLUMNS[stream] + LINEAGE_COLUMNS + spec.custom.get(stream, [])
        assert not set(wanted) - set(types), f"{stream} lacks {sorted(set(wanted) - set(types))}"
        assert all(types[c].startswith("DECIMAL") for c in DECIMAL_COLUMNS.get(stream, []))
        if "updated_at" in types:
            assert types["updated_at"] == "TIMESTAMP WITH TIME ZONE", stream
        total = lake.query(f"SELECT count(*) FROM {lake.table(stream)}")[0][0]
        assert total == counts[stream], stream  # the sandbox's own count
        source = lake.query(f"SELECT DISTINCT _source_system FROM {lake.table(stream)}")
        assert source == [(spec.profile,)], stream

    # Values exactly as the ERP holds them.
    for (stream, column), (entity_set, key, field) in spec.exact.items():
        landed = dict(
            lake.query(f"SELECT {KEY_COLUMN[stream]}, {column} FROM {lake.table(stream)}")
        )
        assert landed == {r[key]: r[field] for r in admin_rows(erp, client, entity_set)}, column

    # A change: an edited order, a new order with lines, an edited customer.
    before = counts
    answer = erp.advance(client, **CHANGE)
    changed = spec.changed(answer, erp)
    assert len(changed["sales_orders"]) == 2
    assert len(changed["customers"]) == 1
    project.run(*run)
    lake = project.lake(client_id=client, prefix="clients")
    counts = erp.stats(client)["counts"]
    for stream in STREAMS:
        runs = landed_by_run(lake, stream)
        if stream in spec.snapshots:  # read whole: every row again
            assert [count for count, _ in runs] == [before[stream], counts[stream]], stream
        elif stream in changed:
            assert len(runs) == 2, stream
            assert runs[-1] == (len(changed[stream]), changed[stream]), stream
        else:
            assert len(runs) == 1, f"{stream} landed again"
    # The newest version of every order is the ERP's now.
    entity_set, key, changed_at = spec.orders
    latest = dict(
        lake.query(
            f"SELECT order_id, max(updated_at) FROM {lake.table('sales_orders')} GROUP BY order_id"
        )
    )
    assert latest == {
        r[key]: datetime.fromisoformat(r[changed_at]) for r in admin_rows(erp, client, entity_set)
    }
