"""SAP S/4HANA through its OData v2 APIs end to end: `meltano --environment=bluepeak run
tap-erp target-s3` with the `sap_s4hana_v2` profile against the sandbox's OData v2 tenant
(bluepeak) lands the six standard tables with the sandbox's own counts, exact decimals,
the client's custom columns and change times exact to the microsecond in UTC; after a
change the next run lands exactly the changed sales orders and products (items,
customers, suppliers and stock carry no change time in v2: they land whole every run).
Bad input fails the run with SAP's message on one line, lands nothing and never prints
the password."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from erp_testing.project import STREAMS
from erp_testing.standard_model import LINEAGE_COLUMNS, STANDARD_COLUMNS
from tap_erp.profiles import PROFILES_DIR
from test_clients import CLIENT_VARIABLES
from test_odata_clients import DECIMAL_COLUMNS, admin_rows, column_types, landed_by_run

CLIENT = "bluepeak"
RUN = ("--environment=bluepeak", "run", "tap-erp", "target-s3")
PASSWORD = "bluepeak-pass"
CUSTOM = {
    "customers": ["custom_account_manager"],
    "products": ["spec_color", "spec_weight_kg"],
}
#: streams without a change time in OData v2: every run lands them whole
SNAPSHOTS = {"sales_order_lines", "customers", "vendors", "inventory"}
#: (table, column) -> (entity set, its key, the field landed there)
EXACT = {
    ("sales_orders", "subtotal_amount"): ("A_SalesOrder", "SalesOrder", "TotalNetAmount"),
    ("products", "spec_weight_kg"): ("A_Product", "Product", "YY1_WeightKg_PRD"),
    ("sales_orders", "updated_at"): ("A_SalesOrder", "SalesOrder", "LastChangeDateTime"),
    ("products", "updated_at"): ("A_Product", "Product", "LastChangeDateTime"),
    ("sales_orders", "order_date"): ("A_SalesOrder", "SalesOrder", "SalesOrderDate"),
    ("customers", "custom_account_manager"): ("A_Customer", "Customer", "YY1_AccountManager_cus"),
}
CHANGE = {
    "seconds": 3600,
    "updated_orders": 2,
    "new_orders": 1,
    "updated_lines": 3,  # items change without their header
    "updated_products": 2,
}
V2_DATE = re.compile(r"/Date\((-?\d+)(\+0000)?\)/")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def v2_value(value):
    """`/Date(ms+0000)/` -> an aware UTC datetime, `/Date(ms)/` -> a date, else as is."""
    match = V2_DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return value
    instant = EPOCH + timedelta(milliseconds=int(match.group(1)))
    return instant if match.group(2) else instant.date()


def client_env(project, erp, **overrides: str) -> None:
    """Only what bluepeak's .env holds: its environment in clients/ does the rest."""
    ep = project.endpoints
    env = {k: v for k, v in project.env.items() if not k.startswith(CLIENT_VARIABLES)}
    env.update(
        {
            "BLUEPEAK_ERP_BASE_URL": erp.tenant_url(CLIENT),
            "BLUEPEAK_ERP_USERNAME": "BLUEPEAK_COMM",
            "BLUEPEAK_ERP_PASSWORD": PASSWORD,
            "BLUEPEAK_LAKE_BUCKET": ep.bucket,
            "BLUEPEAK_LAKE_PREFIX": "clients",
            "BLUEPEAK_S3_ENDPOINT_URL": ep.s3_endpoint_url,
            **overrides,
        }
    )
    project.env = env


def test_bluepeak_lands_six_standard_tables_then_exactly_the_changes(project, erp):
    client_env(project, erp)
    project.run(*RUN)
    lake = project.lake(client_id=CLIENT, prefix="clients")
    counts = erp.stats(CLIENT)["counts"]
    assert lake.streams() == sorted(STREAMS)
    for stream in STREAMS:
        types = column_types(lake, stream)
        wanted = STANDARD_COLUMNS[stream] + LINEAGE_COLUMNS + CUSTOM.get(stream, [])
        assert not set(wanted) - set(types), f"{stream} lacks {sorted(set(wanted) - set(types))}"
        assert all(types[c].startswith("DECIMAL") for c in DECIMAL_COLUMNS.get(stream, []))
        assert types["updated_at"] == "TIMESTAMP WITH TIME ZONE", stream
        assert lake.query(f"SELECT count(*) FROM {lake.table(stream)}")[0][0] == counts[stream]
        source = lake.query(f"SELECT DISTINCT _source_system FROM {lake.table(stream)}")
        assert source == [("sap_s4hana_v2",)], stream

    # Values exactly as the ERP holds them: decimals, µs UTC change times, dates.
    for (stream, column), (entity_set, key, field) in EXACT.items():
        landed = dict(
            lake.query(f"SELECT {key_column(stream)}, {column} FROM {lake.table(stream)}")
        )
        erp_values = {r[key]: v2_value(r[field]) for r in admin_rows(erp, CLIENT, entity_set)}
        assert landed == erp_values, column
    on_hand = lake.query(f"SELECT sum(quantity_on_hand) FROM {lake.table('inventory')}")[0][0]
    rows = admin_rows(erp, CLIENT, "A_MatlStkInAcctMod")
    assert on_hand == sum(Decimal(r["MatlWrhsStkQtyInMatlBaseUnit"]) for r in rows)

    # A change: edited and new orders (with items), edited items, edited products.
    before = counts
    answer = erp.advance(CLIENT, **CHANGE)
    changed = {
        "sales_orders": set(answer["changed_sets"]["A_SalesOrder"]),
        "products": set(answer["changed_sets"]["A_Product"]),
    }
    assert len(changed["sales_orders"]) == 3 and len(changed["products"]) == 2
    project.run(*RUN)
    lake = project.lake(client_id=CLIENT, prefix="clients")
    counts = erp.stats(CLIENT)["counts"]
    for stream in STREAMS:
        runs = landed_by_run(lake, stream)
        if stream in SNAPSHOTS:
            assert [count for count, _ in runs] == [before[stream], counts[stream]], stream
        else:
            assert runs[-1] == (len(changed[stream]), changed[stream]), stream
    # Edited items land with the snapshot, their orders untouched.
    items = {tuple(k) for k in answer["changed_sets"]["A_SalesOrderItem"]}
    assert {order for order, _ in items} - changed["sales_orders"]
    landed = {
        (order, item): quantity
        for order, item, quantity in lake.query(
            "SELECT order_id, split_part(order_line_id, '/', 2), last(quantity ORDER BY _loaded_at)"
            f" FROM {lake.table('sales_order_lines')} GROUP BY ALL"
        )
    }
    for row in admin_rows(erp, CLIENT, "A_SalesOrderItem"):
        key = (row["SalesOrder"], row["SalesOrderItem"])
        if key in items:
            assert landed[key] == Decimal(row["RequestedQuantity"]), key
    latest = dict(
        lake.query(
            f"SELECT order_id, max(updated_at) FROM {lake.table('sales_orders')} GROUP BY order_id"
        )
    )
    orders = admin_rows(erp, CLIENT, "A_SalesOrder")
    assert latest == {r["SalesOrder"]: v2_value(r["LastChangeDateTime"]) for r in orders}


def key_column(stream: str) -> str:
    return {"sales_orders": "order_id", "products": "product_id", "customers": "customer_id"}[
        stream
    ]


def broken_filter_profile(tmp_path) -> dict[str, str]:
    """The profile with a `$filter` on a property SAP does not have."""
    source = (PROFILES_DIR / "sap_s4hana_v2.yaml").read_text()
    good = "LastChangeDateTime ge {since:odata_v2}"
    assert good in source
    path = tmp_path / "sap_s4hana_v2_broken.yaml"
    path.write_text(source.replace(good, "LastChangedAt ge {since:odata_v2}"))
    return {
        "TAP_ERP_PROFILE": str(path),
        "TAP_ERP_START_DATE": "2024-01-01",
        "TAP_ERP__SELECT": '["sales_orders.*"]',  # the run reads sales orders only
    }


def tap_message(line: str) -> str:
    """A log line without its time, level and logger (`tap-erp` or `tap-erp.<stream>`)."""
    return re.split(r"tap-erp(?:\.\w+)?\s+(?:\|\s+)?", line, maxsplit=1)[-1]


BAD_INPUT = {
    # what -> (.env overrides, SAP's message in the error line)
    "wrong password": (
        lambda _tmp: {"BLUEPEAK_ERP_PASSWORD": "Not-The-Pa55word"},
        "HTTP 401 invalid user name or password",
    ),
    "rejected $filter": (
        broken_filter_profile,
        "could not find a property named 'LastChangedAt'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line_with_saps_message_and_lands_nothing(project, erp, tmp_path, case):
    overrides, message = BAD_INPUT[case]
    settings = overrides(tmp_path)
    client_env(project, erp, **settings)
    result = project.run(*RUN, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    # One line with SAP's message (Meltano echoes the tap's lines with its own prefix).
    lines = {tap_message(line) for line in output.splitlines() if message in line}
    assert len(lines) == 1, lines
    for secret in (PASSWORD, settings.get("BLUEPEAK_ERP_PASSWORD", PASSWORD)):
        assert secret not in output
    listing = project.s3_client().list_objects_v2(Bucket=project.endpoints.bucket)
    landed = [o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith(".parquet")]
    assert landed == []
