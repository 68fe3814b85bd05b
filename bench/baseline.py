"""Contender `baseline`: a hand-written extractor, requests + orjson + pyarrow → Parquet on S3.

    python bench/baseline.py BASE_URL API_KEY ENDPOINT_URL BUCKET PREFIX [PAGE_SIZE]

Pages are decoded with orjson, turned into typed Arrow columns (standard column
names, as the project's stream maps name them) and written as zstd Parquet files of
~250k rows with boto3 `put_object` from memory. Prints the number of rows written.

Exact decimals: orjson yields binary64 floats; Arrow's float → decimal128(18, s)
cast rounds each to the column's scale. The API sends at most that scale, and the
nearest double is within |value| * 1.2e-16 of the wire value, so the cast gives the
wire value back exactly while |value| < 10^(15 - scale): every page is checked against
that bound (the run fails beyond it). On one 5,000-row page this path takes ~10 ms,
the same as pyarrow.json on the raw body and ~1.8x faster than building `Decimal`s.
"""

from __future__ import annotations

import io
import sys

import boto3
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fetch_pages import iter_pages

TS = pa.timestamp("us", tz="UTC")
# native field, standard column, Arrow type
COLUMNS: tuple[tuple[str, str, pa.DataType], ...] = (
    ("LineKey", "order_line_id", pa.int64()),
    ("DocEntry", "order_id", pa.int64()),
    ("LineNum", "line_number", pa.int64()),
    ("ItemKey", "product_id", pa.int64()),
    ("ItemCode", "sku", pa.string()),
    ("ItemDescription", "description", pa.string()),
    ("Quantity", "quantity", pa.decimal128(18, 3)),
    ("UoMCode", "unit_of_measure", pa.string()),
    ("UnitPrice", "unit_price", pa.decimal128(18, 4)),
    ("DiscountAmount", "discount_amount", pa.decimal128(18, 2)),
    ("LineTotal", "line_amount", pa.decimal128(18, 2)),
    ("WhsCode", "warehouse_id", pa.string()),
    ("ModifiedOn", "updated_at", TS),
)
SCHEMA = pa.schema([(name, typ) for _, name, typ in COLUMNS])
PART_ROWS = 250_000


def exact_decimal(values: list[float], typ: pa.DataType) -> pa.Array:
    """Floats → decimal128 of the column's scale; fails where that could be inexact."""
    floats = pa.array(values, pa.float64())
    largest = pc.max(pc.abs(floats)).as_py() or 0.0
    if largest >= 10.0 ** (15 - typ.scale):
        msg = f"{largest} is too large to come back exactly from a float as {typ}"
        raise ValueError(msg)
    return floats.cast(typ)


def page_table(body: bytes) -> pa.Table:
    """One page body → a typed Arrow table."""
    rows = orjson.loads(body)["value"]
    arrays = []
    for native, _, typ in COLUMNS:
        values = [row[native] for row in rows]
        if pa.types.is_decimal(typ):
            arrays.append(exact_decimal(values, typ))
        elif pa.types.is_timestamp(typ):
            arrays.append(pa.array(values, pa.string()).cast(typ))  # offsets → UTC
        else:
            arrays.append(pa.array(values, typ))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def put_parquet(s3: object, bucket: str, key: str, tables: list[pa.Table]) -> int:
    """Write the tables as one zstd Parquet object; returns its row count."""
    table = pa.concat_tables(tables)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    s3.put_object(Bucket=bucket, Key=key, Body=sink.getvalue())  # type: ignore[attr-defined]
    return table.num_rows


def main(argv: list[str]) -> int:
    """Extract every page, land Parquet parts, print the row count."""
    base_url, api_key, endpoint_url, bucket, prefix = argv[:5]
    page_size = int(argv[5]) if len(argv) > 5 else 5000
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    pending: list[pa.Table] = []
    buffered = written = part = 0
    for body in iter_pages(base_url, api_key, page_size):
        table = page_table(body)
        pending.append(table)
        buffered += table.num_rows
        if buffered >= PART_ROWS:
            part += 1
            written += put_parquet(s3, bucket, f"{prefix}/part-{part:05d}.parquet", pending)
            pending, buffered = [], 0
    if buffered:
        part += 1
        written += put_parquet(s3, bucket, f"{prefix}/part-{part:05d}.parquet", pending)
    print(written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
