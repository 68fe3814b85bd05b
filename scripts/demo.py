"""The demo: sandbox ERP + local S3 -> `meltano run tap-erp target-s3` -> what landed.

Starts the sandbox ERP API and a local S3 server on free 127.0.0.1 ports, runs the
`demo` environment (client acme) from a clean state with `table_format: delta`, reads
every table back over the S3 API with DuckDB, compares row counts with the sandbox's
own totals and shows a sample of the standard columns. Then the ERP changes some
orders, a second run lands the changes, and a current-state query shows history
(every version) beside the current table (one row per order, as the ERP has it now).
Stops what it started.
"""

from __future__ import annotations

import sys

import boto3
from erp_quality.lake import Lake, LakeConfig
from erp_quality.table import render
from erp_sandbox.testing import sandbox_server
from erp_testing.project import STREAMS, Endpoints, meltano, meltano_env, state_id
from target_s3.testing import local_s3

SAMPLE_COLUMNS = {
    "sales_orders": "order_id, order_number, customer_id, order_date, status, total_amount",
    "sales_order_lines": "order_line_id, order_id, sku, quantity, unit_price, line_amount",
    "customers": "customer_id, customer_code, customer_name, billing_country, credit_limit",
    "vendors": "vendor_id, vendor_code, vendor_name, country, is_active",
    "products": "product_id, sku, product_name, list_price, spec_color, spec_weight_kg",
    "inventory": "product_id, warehouse_id, quantity_on_hand, spec_bin_location",
}


def show(lake: Lake, totals: dict[str, int]) -> bool:
    """Print row counts against the sandbox and a sample per table; True if all match."""
    rows, all_match = [], True
    for stream in STREAMS:
        (landed,) = lake.query(f"SELECT count(*) FROM {lake.table(stream)}")[0]
        expected = totals[stream]
        all_match &= landed == expected
        rows.append((stream, landed, expected, "yes" if landed == expected else "NO"))
    print(f"\nLanded in s3://{lake.config.bucket}/{lake.config.prefix}/{lake.config.client_id}/")
    print(render(("table", "rows landed", "rows in ERP", "match"), rows))
    for stream in STREAMS:
        columns = SAMPLE_COLUMNS[stream]
        sample = lake.query(f"SELECT {columns} FROM {lake.table(stream)} ORDER BY 1 LIMIT 3")
        print(f"\n{stream}:")
        print(render([c.strip() for c in columns.split(",")], sample))
    return all_match


def show_current(lake: Lake, erp_orders: int, order: int) -> bool:
    """History beside the current table after a run with updates; True if it matches."""
    history = lake.table("sales_orders")
    current = lake.current_table("sales_orders")
    (versions,) = lake.query(f"SELECT count(*) FROM {history}")[0]
    (rows, keys) = lake.query(f"SELECT count(*), count(DISTINCT order_id) FROM {current}")[0]
    print("\nCurrent state of sales_orders after the second run:")
    print(
        render(
            ("sales_orders", "rows", "rows in ERP"),
            [
                ("history (every version)", versions, erp_orders),
                ("current table", rows, erp_orders),
            ],
        )
    )
    sql = (
        f"SELECT order_id, status, total_amount, updated_at FROM {current} WHERE order_id = {order}"
    )
    print(f"\nOrder {order}, changed in the ERP: every version in the history ...")
    print(
        render(
            ("order_id", "status", "total_amount", "updated_at"),
            lake.query(sql.replace(current, history) + " ORDER BY updated_at"),
        )
    )
    print(f"... and the current table: {sql}")
    print(render(("order_id", "status", "total_amount", "updated_at"), lake.query(sql)))
    return rows == keys == erp_orders


def run(env: dict[str, str]) -> int:
    """`meltano run tap-erp target-s3 erp-quality:check` in the demo environment."""
    command = ("--environment=demo", "run", "tap-erp", "target-s3", "erp-quality:check")
    print(f"\n$ TARGET_S3_TABLE_FORMAT=delta meltano {' '.join(command)}")
    result = meltano(*command, env=env, check=False)
    if result.returncode != 0:
        print(f"\nmeltano run failed (exit {result.returncode}); see the log above.")
    return result.returncode


def main() -> int:
    """Run the demo and report whether the lake matches the ERP."""
    print("Starting the sandbox ERP API and a local S3 server on 127.0.0.1 ...")
    with sandbox_server(orders=2000) as erp, local_s3() as s3:
        endpoints = Endpoints(erp_url=erp.tenant_url("acme"), s3_endpoint_url=s3.endpoint_url)
        boto3.client(
            "s3",
            endpoint_url=s3.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=endpoints.access_key_id,
            aws_secret_access_key=endpoints.secret_access_key,
        ).create_bucket(Bucket=endpoints.bucket)
        env = meltano_env(endpoints)
        env["TARGET_S3_TABLE_FORMAT"] = "delta"  # history plus current-state tables
        meltano("state", "clear", "--force", state_id("demo"), env=env, capture=True)
        if code := run(env):
            return code
        lake = Lake(
            LakeConfig(
                bucket=endpoints.bucket,
                prefix=endpoints.prefix,
                client_id=endpoints.client_id,
                endpoint_url=s3.endpoint_url,
                access_key_id=endpoints.access_key_id,
                secret_access_key=endpoints.secret_access_key,
            )
        )
        matched = show(lake, erp.stats("acme")["counts"])
        changes = erp.advance("acme", seconds=3600, updated_orders=5, new_orders=3)
        print("\nThe ERP changes 5 orders and adds 3.")
        if code := run(env):
            return code
        changed = min(changes["changed"]["sales_orders"])  # new orders have higher keys
        orders = erp.stats("acme")["counts"]["sales_orders"]
        matched &= show_current(lake, orders, changed)
    print("\nEvery table matches the ERP." if matched else "\nSome tables do not match the ERP.")
    return 0 if matched else 1


if __name__ == "__main__":
    sys.exit(main())
