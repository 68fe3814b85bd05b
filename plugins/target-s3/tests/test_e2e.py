"""The console script against the real local S3 server: layout, values, audit."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pyarrow as pa
import pytest
from conftest import (
    duckdb_query,
    extracted_at,
    list_keys,
    messages,
    order_line,
    order_stream,
    read_parquet,
    run_target,
    states,
)


def expected_row(i: int) -> dict:
    rec = order_line(i)

    def ts(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text).astimezone(dt.UTC)

    return {
        **rec,
        "quantity": Decimal(rec["quantity"]),
        "unit_price": Decimal(rec["unit_price"]),
        "amount": None if rec["amount"] is None else Decimal(rec["amount"]),
        "delivery_date": dt.date.fromisoformat(rec["delivery_date"]),
        "created_at": ts(rec["created_at"]),
        "updated_at": ts(rec["updated_at"]),
    }


def test_round_trip_pyarrow_and_duckdb(s3, bucket, config, tmp_path):
    n = 3000
    config.update(batch_max_rows=1000, partition_field="@bookmark", source_system="erp")
    result = run_target(config, order_stream(range(1, n + 1), state_every=250), tmp_path)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert states(result.stdout)[-1] == {"last_id": n}

    keys = list_keys(s3, bucket)
    data_keys = [k for k in keys if k.endswith(".parquet")]
    assert data_keys and all(
        k.startswith("lake/acme/order_lines/year=2024/month=03/day=") for k in data_keys
    )
    assert all(size > 0 for size in keys.values())
    assert not [k for k in keys if "/_staging/" in k or k.startswith("lake/_staging")]

    table = pa.concat_tables(read_parquet(s3, bucket, "lake/acme/order_lines/"))
    assert table.num_rows == n
    rows = sorted(table.to_pylist(), key=lambda r: r["id"])
    run_ids = {r["_run_id"] for r in rows}
    assert len(run_ids) == 1
    for row in rows:
        assert row.pop("_client_id") == "acme"
        assert row.pop("_source_system") == "erp"
        row.pop("_run_id")
        assert isinstance(row.pop("_loaded_at"), dt.datetime)
        assert row.pop("_extracted_at") == dt.datetime.fromisoformat(extracted_at(row["id"]))
        assert row == expected_row(row["id"])

    # DuckDB over the S3 API: same values, hive partitions agree with updated_at's date
    got = duckdb_query(
        s3,
        f"SELECT id, quantity::VARCHAR, amount::VARCHAR, epoch_us(updated_at), "
        f"year, month, day FROM read_parquet('s3://{bucket}/lake/acme/order_lines/**/*.parquet',"
        " hive_partitioning=true) ORDER BY id",
    )
    assert len(got) == n
    for id_, qty, amount, updated_us, year, month, day in got:
        exp = expected_row(id_)
        assert Decimal(qty) == exp["quantity"]
        assert (None if amount is None else Decimal(amount)) == exp["amount"]
        assert updated_us == int(exp["updated_at"].timestamp() * 1_000_000)
        assert (int(year), int(month), int(day)) == exp["updated_at"].timetuple()[:3]

    audit = [k for k in keys if "/_audit/" in k]
    assert len(audit) == 1 and audit[0].startswith("lake/acme/_audit/")
    record = json.loads(s3.client().get_object(Bucket=bucket, Key=audit[0])["Body"].read())
    assert record["rows"] == n and record["status"] == "succeeded"
    assert record["files"] == len(data_keys) and record["client_id"] == "acme"
    assert set(record) >= {
        "run_id",
        "stream",
        "bytes",
        "duration_seconds",
        "error",
        "started_at",
        "finished_at",
    }
    assert "Summary" in result.stderr.decode()


def test_schema_change_starts_new_files(s3, bucket, config, tmp_path):
    v1 = {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}
    v2 = {
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "price": {"type": "number", "multipleOf": 0.01},
        }
    }
    data = messages(
        {"type": "SCHEMA", "stream": "items", "schema": v1, "key_properties": ["id"]},
        *[
            {"type": "RECORD", "stream": "items", "record": {"id": i, "name": f"n{i}"}}
            for i in range(5)
        ],
        {"type": "STATE", "value": {"v": 1}},
        {"type": "SCHEMA", "stream": "items", "schema": v2, "key_properties": ["id"]},
        *[
            {"type": "RECORD", "stream": "items", "record": {"id": i, "name": "x", "price": 1.25}}
            for i in range(5, 8)
        ],
        {"type": "STATE", "value": {"v": 2}},
    )
    result = run_target(config, data, tmp_path)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    tables = read_parquet(s3, bucket, "lake/acme/items/")
    assert len(tables) == 2
    assert sorted(t.num_rows for t in tables) == [3, 5]
    got = duckdb_query(
        s3,
        f"SELECT id, name, price FROM read_parquet('s3://{bucket}/lake/acme/items/**/*.parquet',"
        " union_by_name=true) ORDER BY id",
    )
    assert got == [(i, f"n{i}", None) for i in range(5)] + [
        (i, "x", Decimal("1.25")) for i in range(5, 8)
    ]
    assert states(result.stdout) == [{"v": 1}, {"v": 2}]


def test_empty_stream_and_state_only(s3, bucket, config, tmp_path):
    data = messages(
        {
            "type": "SCHEMA",
            "stream": "empty",
            "schema": {"properties": {"a": {"type": "integer"}}},
            "key_properties": [],
        },
        {"type": "STATE", "value": {"x": 1}},
    )
    result = run_target(config, data, tmp_path)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert states(result.stdout) == [{"x": 1}]
    keys = list_keys(s3, bucket)
    assert not [k for k in keys if k.endswith(".parquet")]
    audit = json.loads(
        s3.client()
        .get_object(Bucket=bucket, Key=next(k for k in keys if "/_audit/" in k))["Body"]
        .read()
    )
    assert audit["rows"] == 0 and audit["stream"] == "empty"


def test_settings_layout_and_no_lineage(s3, bucket, config, tmp_path):
    config.update(
        add_lineage_columns=False,
        compression="snappy",
        sse="AES256",
        prefix="",
        key_template="{client}/{stream}/{partition}/{run_id}_{batch}_{part}.parquet",
        partition_template="dt={year}-{month}-{day}",
        stream_partition_fields={"order_lines": "delivery_date"},
    )
    result = run_target(config, order_stream(range(1, 40)), tmp_path)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    keys = [k for k in list_keys(s3, bucket) if k.endswith(".parquet")]
    assert keys and all(k.startswith("acme/order_lines/dt=2024-03-") for k in keys)
    head = s3.client().head_object(Bucket=bucket, Key=keys[0])
    assert head.get("ServerSideEncryption") == "AES256"
    table = pa.concat_tables(read_parquet(s3, bucket, "acme/order_lines/"))
    assert table.num_rows == 39 and not [c for c in table.column_names if c.startswith("_")]


def test_stream_maps_path_keeps_exact_values(s3, bucket, config, tmp_path):
    config["stream_maps"] = {"order_lines": {"sku": "sku.lower()", "description": "__NULL__"}}
    result = run_target(config, order_stream(range(1, 30)), tmp_path)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    table = pa.concat_tables(read_parquet(s3, bucket, "lake/acme/order_lines/"))
    rows = {r["id"]: r for r in table.to_pylist()}
    assert len(rows) == 29 and "description" not in table.column_names
    assert rows[7]["sku"] == "sku-00007"
    assert rows[7]["amount"] == expected_row(7)["amount"]


@pytest.mark.parametrize(
    "setting",
    [{"stream_maps": {"order_lines": {"sku": "sku.lower()"}}}, {"validate_records": True}],
)
def test_per_record_path_keeps_time_extracted(s3, bucket, config, tmp_path, setting):
    """Records re-encoded by the per-record path (maps, validation) keep `_extracted_at`."""
    config.update(setting)
    result = run_target(config, order_stream(range(1, 30), state_every=10), tmp_path)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    table = pa.concat_tables(read_parquet(s3, bucket, "lake/acme/order_lines/"))
    got = {r["id"]: r["_extracted_at"] for r in table.select(["id", "_extracted_at"]).to_pylist()}
    assert got == {i: dt.datetime.fromisoformat(extracted_at(i)) for i in range(1, 30)}
