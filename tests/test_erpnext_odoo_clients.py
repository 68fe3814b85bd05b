"""ERPNext and Odoo clients end to end: `meltano --environment=<client> run tap-erp
target-s3` with the `erpnext` (kestrel: Frappe REST, a site in Europe/Berlin), `odoo`
(pelican: JSON-RPC) and `odoo_json2` (pelican-json2: Odoo 19's JSON-2) profiles against
the sandbox's tenants lands the six standard tables with the sandbox's own counts,
exact money, the client's custom fields (`custom_…` from the doctype meta, `x_…` from
fields_get) and every change time in UTC to the microsecond; Odoo's `false` lands as
null and its many2one pairs as the id. Pages are small, so groups of rows sharing one
change time span pages, and rows change while the first sync pages (nothing is lost,
the newest version lands). After a change (an edited order, a new order with lines, an
edited customer) the next run lands exactly those rows (snapshot streams land whole).
Bad input: test_erpnext_odoo_bad_input.py; the hour that repeats when summer time ends
at an ERPNext site: test_erpnext_dst.py.
"""

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

PAGE_SIZE = "37"  # tie groups of up to 32 rows (and one of 60 %) cross pages
CHANGE = {"seconds": 3600, "updated_orders": 1, "new_orders": 1, "updated_customers": 1}
#: Rows that change while the tap pages (once, after the run's first data requests).
MUTATION = {"after": 30, "change": {"seconds": 5, "updated_orders": 5, "updated_lines": 40}}

DECIMAL_COLUMNS = {
    "sales_orders": ["subtotal_amount", "tax_amount", "total_amount"],
    "sales_order_lines": ["quantity", "unit_price", "line_amount"],
    "products": ["list_price", "standard_cost"],
    "inventory": ["quantity_on_hand", "quantity_reserved", "quantity_available"],
}


def pair_id(value):
    """Odoo's many2one `[id, name]` (or `false`) as the id the lake holds."""
    return value[0] if isinstance(value, list) else None


def pair_name(value):
    """The name of a many2one `[id, name]` (or null for `false`)."""
    return value[1] if isinstance(value, list) else None


def same(value):
    """A boolean field's `false` is false."""
    return value


def plain(value):
    """Odoo's `false` for an empty value is null in the lake."""
    return None if value is False else value


@dataclasses.dataclass(frozen=True)
class Exact:
    """A landed column that must equal an ERP field, row by row."""

    table: str
    column: str
    entity_set: str
    field: str
    value: Callable = plain  # the ERP's value as the lake must hold it


@dataclasses.dataclass(frozen=True)
class Client:
    """A client company on one of the sandbox's ERPNext / Odoo tenants."""

    tenant: str
    profile: str
    #: the client's .env (variables of clients/<client>.meltano.yml)
    env: dict[str, str]
    custom: dict[str, list[str]]
    exact: tuple[Exact, ...]
    #: entity set of each incremental table, and its key field
    sets: dict[str, tuple[str, str]]
    #: the native key of a sales order as the lake holds it (order_id)
    order_key: str
    #: rows change while the first sync pages (else it must land exactly the totals)
    changes_while_paging: bool = False
    #: a second sync after a change (the JSON-2 transport shares the JSON-RPC reader)
    resync: bool = True
    snapshots: frozenset[str] = frozenset({"inventory"})


KESTREL = {
    "KESTREL_ERP_API_TOKEN": "kestrel-api-key:kestrel-api-secret",
}
PELICAN = {
    "PELICAN_ODOO_DATABASE": "pelican",
    "PELICAN_ERP_USERNAME": "api-reader@pelican.example",
    "PELICAN_ERP_API_KEY": "pelican-api-key",
}
ODOO_EXACT = (
    Exact("sales_orders", "total_amount", "sale.order", "amount_total"),
    Exact("sales_orders", "customer_id", "sale.order", "partner_id", pair_id),
    Exact("sales_order_lines", "unit_price", "sale.order.line", "price_unit"),
    Exact("sales_order_lines", "order_id", "sale.order.line", "order_id", pair_id),
    Exact("customers", "custom_account_manager", "res.partner", "x_account_manager"),
    Exact("customers", "billing_city", "res.partner", "city"),
    Exact("customers", "phone", "res.partner", "phone"),  # false for some: null
    Exact("customers", "payment_terms", "res.partner", "property_payment_term_id", pair_name),
    Exact("products", "spec_weight_kg", "product.product", "x_weight_kg"),
    Exact("products", "spec_hazardous", "product.product", "x_hazardous", same),  # boolean
)
ODOO_SETS = {
    "sales_orders": ("sale.order", "id"),
    "sales_order_lines": ("sale.order.line", "id"),
    "customers": ("res.partner", "id"),
}
CLIENTS = {
    "kestrel": Client(
        tenant="kestrel",
        profile="erpnext",
        env=KESTREL,
        custom={"customers": ["custom_segment"], "products": ["spec_color", "spec_weight_kg"]},
        exact=(
            Exact("sales_orders", "total_amount", "Sales Order", "grand_total"),
            Exact("sales_order_lines", "unit_price", "Sales Order Item", "rate"),
            Exact("sales_order_lines", "quantity", "Sales Order Item", "qty"),
            Exact("customers", "custom_segment", "Customer", "custom_segment"),
            Exact("products", "spec_weight_kg", "Item", "custom_weight_kg"),
            Exact("products", "is_active", "Item", "disabled", lambda v: not v),
        ),
        sets={
            "sales_orders": ("Sales Order", "name"),
            "sales_order_lines": ("Sales Order Item", "name"),
            "customers": ("Customer", "name"),
        },
        order_key="DocNum",
        changes_while_paging=True,
    ),
    "pelican": Client(
        tenant="pelican",
        profile="odoo",
        env=PELICAN,
        custom={
            "customers": ["custom_account_manager"],
            "products": ["spec_color", "spec_weight_kg", "spec_hazardous"],
        },
        exact=ODOO_EXACT,
        sets=ODOO_SETS,
        order_key="DocEntry",
        changes_while_paging=True,
    ),
    "pelican-json2": Client(
        tenant="pelican",
        profile="odoo_json2",
        env=PELICAN,
        custom={
            "customers": ["custom_account_manager"],
            "products": ["spec_color", "spec_weight_kg", "spec_hazardous"],
        },
        exact=ODOO_EXACT,
        sets=ODOO_SETS,
        order_key="DocEntry",
        resync=False,
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


def admin_rows(erp, tenant: str, entity: str) -> list[dict]:
    """Rows of an entity set (or a stream's native rows), decimals exact."""
    resp = requests.get(f"{erp.url}/_admin/{tenant}/records/{entity}", timeout=300)
    resp.raise_for_status()
    return [json.loads(line, parse_float=Decimal) for line in resp.text.splitlines() if line]


def client_env(project, erp, client: str, **extra: str) -> None:
    """Only what the client's .env holds: its environment in clients/ does the rest."""
    spec = CLIENTS[client]
    ep = project.endpoints
    prefix = spec.tenant.upper()
    env = {k: v for k, v in project.env.items() if not k.startswith(CLIENT_VARIABLES)}
    env.update(
        {
            f"{prefix}_ERP_BASE_URL": erp.tenant_url(spec.tenant),
            f"{prefix}_LAKE_BUCKET": ep.bucket,
            f"{prefix}_LAKE_PREFIX": "clients",
            f"{prefix}_S3_ENDPOINT_URL": ep.s3_endpoint_url,
            "TAP_ERP_PAGE_SIZE": PAGE_SIZE,
            **spec.env,
            **extra,
        }
    )
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


def changed_keys(spec: Client, answer: dict) -> dict[str, set]:
    """Keys of the rows `advance` changed, by incremental table."""
    sets = answer["changed_sets"]
    return {table: set(sets[entity_set]) for table, (entity_set, _key) in spec.sets.items()}


def latest_change_times(lake) -> dict:
    """The newest landed version of every sales order: its change time."""
    table = lake.table("sales_orders")
    return dict(lake.query(f"SELECT order_id, max(updated_at) FROM {table} GROUP BY order_id"))


def erp_change_times(erp, spec: Client) -> dict:
    """Every sales order's change time as the ERP holds it (an instant)."""
    return {
        r[spec.order_key]: datetime.fromisoformat(r["ModifiedOn"])
        for r in admin_rows(erp, spec.tenant, "sales_orders")
    }


def check_full_sync(lake, erp, spec: Client) -> None:
    """Six standard tables with the ERP's rows, values and change times."""
    counts = erp.stats(spec.tenant)["counts"]
    assert lake.streams() == sorted(STREAMS)
    for stream in STREAMS:
        table, key = lake.table(stream), KEY_COLUMN[stream]
        types = column_types(lake, stream)
        wanted = STANDARD_COLUMNS[stream] + LINEAGE_COLUMNS + spec.custom.get(stream, [])
        assert not set(wanted) - set(types), f"{stream} lacks {sorted(set(wanted) - set(types))}"
        assert all(types[c].startswith("DECIMAL") for c in DECIMAL_COLUMNS.get(stream, []))
        assert types["updated_at"] == "TIMESTAMP WITH TIME ZONE", stream
        total, distinct = lake.query(f"SELECT count(*), count(DISTINCT {key}) FROM {table}")[0]
        if stream == "inventory":  # one row per product and warehouse
            distinct = total
        assert distinct == counts[stream], stream  # the sandbox's own count
        if not spec.changes_while_paging:
            assert total == counts[stream], stream  # and no row twice
        source = lake.query(f"SELECT DISTINCT _source_system FROM {table}")
        assert source == [(spec.profile,)], stream
    for exact in spec.exact:
        key = KEY_COLUMN[exact.table]
        landed = dict(  # the newest version of each row
            lake.query(
                f"SELECT {key}, arg_max({exact.column}, updated_at) "
                f"FROM {lake.table(exact.table)} GROUP BY {key}"
            )
        )
        key_field = "name" if spec.profile == "erpnext" else "id"
        erp_values = {
            r[key_field]: exact.value(r[exact.field])
            for r in admin_rows(erp, spec.tenant, exact.entity_set)
            if r[key_field] in landed
        }
        assert landed == erp_values, f"{exact.table}.{exact.column}"
    # Change times in UTC to the microsecond, whatever the site's zone.
    assert latest_change_times(lake) == erp_change_times(erp, spec)


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_client_lands_six_standard_tables_then_exactly_the_changes(project, erp, client):
    spec = CLIENTS[client]
    client_env(project, erp, client)
    run = ("--environment=" + client, "run", "tap-erp", "target-s3")
    if spec.changes_while_paging:
        erp.set_faults(spec.tenant, {"mutate_after_requests": MUTATION})
    project.run(*run)
    erp.set_faults(spec.tenant, {})
    lake = project.lake(client_id=spec.tenant, prefix="clients")
    if spec.changes_while_paging:  # lines changed after the tap had read them: read again
        ((count, keys),) = landed_by_run(lake, "sales_order_lines")
        assert count > len(keys), "no line changed after it was read: the change came too late"
    check_full_sync(lake, erp, spec)
    if not spec.resync:
        return

    before = erp.stats(spec.tenant)["counts"]
    changed = changed_keys(spec, erp.advance(spec.tenant, **CHANGE))
    assert len(changed["sales_orders"]) == 2
    assert len(changed["customers"]) == 1
    project.run(*run)
    lake = project.lake(client_id=spec.tenant, prefix="clients")
    counts = erp.stats(spec.tenant)["counts"]
    for stream in STREAMS:
        runs = landed_by_run(lake, stream)
        if stream in spec.snapshots:  # read whole: every row again
            assert [count for count, _ in runs] == [before[stream], counts[stream]], stream
        elif stream in changed:
            assert len(runs) == 2, stream
            assert runs[-1] == (len(changed[stream]), changed[stream]), stream
        else:
            assert len(runs) == 1, f"{stream} landed again"
    assert latest_change_times(lake) == erp_change_times(erp, spec)
