"""erp-quality against a real local S3 server with Parquet written by pyarrow."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from decimal import Decimal
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from erp_quality import cli
from erp_quality.lake import Lake, LakeConfig, LakeError
from erp_quality.rules import Rules, RulesError
from erp_quality.table import render
from target_s3.testing import local_s3

RULES = """
max_row_drop: 0.10
streams:
  orders:
    primary_key: [order_id]
    version_column: updated_at
    not_null: [order_id, total]
"""


@pytest.fixture(scope="module")
def s3_endpoint():
    with local_s3() as server:
        yield server.endpoint_url


@pytest.fixture
def lake(s3_endpoint, monkeypatch) -> Lake:
    bucket = f"q-{uuid.uuid4().hex[:10]}"
    config = LakeConfig(
        bucket=bucket,
        client_id="acme",
        prefix="lake",
        endpoint_url=s3_endpoint,
        access_key_id="k",
        secret_access_key="s",
    )
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    ).create_bucket(Bucket=bucket)
    for key, value in {
        "BUCKET": bucket,
        "CLIENT_ID": "acme",
        "PREFIX": "lake",
        "ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
    }.items():
        monkeypatch.setenv(f"ERP_QUALITY_{key}", value)
    return Lake(config)


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "quality.yml"
    path.write_text(RULES)
    return path


def put_orders(lake: Lake, name: str, ids: list[int], totals: list[float | None], day: int = 1):
    table = pa.table(
        {
            "order_id": pa.array(ids, pa.int64()),
            "total": pa.array(totals, pa.float64()),
            "updated_at": pa.array([day] * len(ids), pa.int64()),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    lake._s3.put_object(
        Bucket=lake.config.bucket, Key=f"lake/acme/orders/{name}.parquet", Body=buf.getvalue()
    )


def put_audit(lake: Lake, run_id: str, rows: int):
    record = {
        "run_id": run_id,
        "client_id": "acme",
        "stream": "orders",
        "rows": rows,
        "files": 1,
        "bytes": 100,
        "duration_seconds": 0.5,
        "status": "succeeded",
        "error": None,
        "finished_at": f"2026-01-0{run_id[-1]}T00:00:00+00:00",
    }
    lake.write_json(f"_audit/{run_id}/orders.json", record)


def test_clean_load_passes_and_stores_a_report(lake, rules_file, capsys):
    put_orders(lake, "a", [1, 2, 3], [1.0, 2.0, 3.0])
    put_audit(lake, "run1", 3)
    assert cli.main(["check", "--rules", str(rules_file)]) == 0
    out = capsys.readouterr().out
    assert "run audit: client acme, run run1" in out
    assert "quality passed" in out
    report = lake.read_json("lake/acme/_quality/latest.json")
    assert report["streams"]["orders"]["rows"] == 3
    assert lake.read_json("lake/acme/_quality/run1.json")["status"] == "passed"


def test_same_key_and_version_twice_is_an_error(lake, rules_file, capsys):
    put_orders(lake, "a", [1, 2, 3], [1.0, 2.0, 3.0])
    put_orders(lake, "b", [3, 4], [3.0, 4.0])  # order 3 again, same version
    put_orders(lake, "c", [1], [1.5], day=2)  # a new version of order 1 is fine
    assert cli.main(["check", "--rules", str(rules_file)]) == 1
    out = capsys.readouterr().out
    assert "ERROR: orders: duplicates: 1 rows landed twice" in out
    assert "quality failed" in out


def test_nulls_in_a_key_column_and_missing_columns(lake, tmp_path, capsys):
    put_orders(lake, "a", [1, 2, 3, 4], [1.0, None, 3.0, 4.0])
    rules = tmp_path / "r.yml"
    rules.write_text(RULES.replace("[order_id, total]", "[order_id, total, currency]"))
    assert cli.main(["check", "--rules", str(rules), "--fail-on", "warning"]) == 1
    out = capsys.readouterr().out
    assert "WARNING: orders: nulls: total: 25.0% null" in out
    assert "ERROR: orders: columns: column 'currency' is missing" in out


def test_delete_records_in_the_history_are_no_nulls(lake, rules_file, capsys):
    put_orders(lake, "a", [1, 2, 3], [1.0, 2.0, 3.0])
    deletes = pa.table(
        {
            "order_id": pa.array([2], pa.int64()),
            "total": pa.array([None], pa.float64()),
            "updated_at": pa.array([2], pa.int64()),
            "_sdc_deleted_at": pa.array([dt.datetime(2026, 1, 2, tzinfo=dt.UTC)]),
        }
    )
    buf = io.BytesIO()
    pq.write_table(deletes, buf)
    lake._s3.put_object(
        Bucket=lake.config.bucket, Key="lake/acme/orders/b.parquet", Body=buf.getvalue()
    )
    assert cli.main(["check", "--rules", str(rules_file), "--fail-on", "warning"]) == 0
    assert "null" not in capsys.readouterr().out  # the delete's null total is no finding


def test_a_row_drop_against_the_last_check_is_flagged(lake, rules_file, capsys):
    put_orders(lake, "a", list(range(100)), [1.0] * 100)
    assert cli.main(["check", "--rules", str(rules_file)]) == 0
    lake._s3.delete_object(Bucket=lake.config.bucket, Key="lake/acme/orders/a.parquet")
    put_orders(lake, "b", list(range(80)), [1.0] * 80)
    assert cli.main(["check", "--rules", str(rules_file)]) == 0  # a warning does not fail
    out = capsys.readouterr().out
    assert "WARNING: orders: row count: 80 rows, 20% fewer than 100 at the last check" in out


def test_missing_bucket_is_one_clear_line(lake, rules_file, monkeypatch, capsys):
    monkeypatch.setenv("ERP_QUALITY_BUCKET", "no-such-bucket")
    assert cli.main(["check", "--rules", str(rules_file)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "erp-quality: bucket 'no-such-bucket' does not exist"


def test_missing_settings_are_named(monkeypatch):
    for name in ("ERP_QUALITY_BUCKET", "ERP_QUALITY_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LakeError, match=r"missing setting.*bucket, client_id"):
        LakeConfig.from_env({})


def test_rules_errors(tmp_path: Path):
    bad = tmp_path / "bad.yml"
    bad.write_text(json.dumps({"streams": {"orders": {"not_null": ["x"]}}}))
    with pytest.raises(RulesError, match="needs a primary_key"):
        Rules.load(bad)
    with pytest.raises(RulesError, match="not found"):
        Rules.load(tmp_path / "missing.yml")


def test_render_aligns_numbers_right():
    text = render(("name", "rows"), [("a", 5), ("bbb", 1234)])
    assert text.splitlines() == ["name  rows", "----  ----", "a        5", "bbb   1234"]


def test_a_missing_key_column_is_one_error_not_duplicates(lake, tmp_path, capsys):
    put_orders(lake, "a", [1, 2, 3], [1.0, 2.0, 3.0])
    rules = tmp_path / "r.yml"
    rules.write_text(RULES.replace("primary_key: [order_id]", "primary_key: [order_key]"))
    assert cli.main(["check", "--rules", str(rules)]) == 1
    out = capsys.readouterr().out
    assert out.count("column 'order_key' is missing") == 1
    assert "duplicates" not in out.split("data quality")[1].split("quality failed")[0].replace(
        "stream  rows  keys  duplicates", ""
    )


def put_current(lake: Lake, ids: list[int], updated: list[dt.datetime]) -> None:
    """A current-state Delta table of `orders`, as target-s3 `table_format: delta` writes it."""
    from deltalake import write_deltalake

    endpoint = lake.config.endpoint_url or ""
    table = pa.table(
        {
            "order_id": pa.array(ids, pa.int64()),
            "total": pa.array([1.0] * len(ids), pa.float64()),
            "updated_at": pa.array(updated, pa.timestamp("us", "UTC")),
        }
    )
    write_deltalake(
        f"s3://{lake.config.bucket}/lake/acme/_current/orders",
        table,
        mode="overwrite",
        storage_options={
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        },
    )


NOW = dt.datetime.now(dt.UTC)


@pytest.mark.parametrize(
    ("current_ids", "freshness", "code", "expected"),
    [
        # the history holds order 3 twice (lookback), the current table once: no finding
        ([1, 2, 3], "", 0, "quality passed"),
        ([1, 2, 2], "", 1, "ERROR: orders: duplicates: 1 keys appear twice in the current table"),
        ([1, 2, 3], "freshness_hours: 1", 1, "WARNING: orders: freshness: newest row changed"),
        ([1, 2, 3], "freshness_hours: 48", 0, "quality passed"),
    ],
)
def test_checks_read_the_current_table_where_there_is_one(
    lake, tmp_path, capsys, current_ids, freshness, code, expected
):
    put_orders(lake, "a", [1, 2, 3], [1.0, 2.0, 3.0])
    put_orders(lake, "b", [3], [3.0])  # re-read by lookback: same key and version again
    put_current(lake, current_ids, [NOW - dt.timedelta(hours=5)] * len(current_ids))
    rules = tmp_path / "r.yml"
    rules.write_text(RULES + freshness + "\n")
    assert cli.main(["check", "--rules", str(rules), "--fail-on", "warning"]) == code
    out = capsys.readouterr().out
    assert expected in out
    report = lake.read_json("lake/acme/_quality/latest.json")
    assert report["streams"]["orders"]["table"] == "current"


def test_freshness_hours_must_be_positive(tmp_path: Path):
    path = tmp_path / "r.yml"
    path.write_text(RULES + "freshness_hours: -3\n")
    with pytest.raises(RulesError, match="freshness_hours must be a positive number"):
        Rules.load(path)


def put_prices(lake: Lake, name: str, price: pa.Array, first_id: int) -> None:
    """One file of `orders` whose `total` column has the given type."""
    table = pa.table(
        {
            "order_id": pa.array(range(first_id, first_id + len(price)), pa.int64()),
            "total": price,
            "updated_at": pa.array([1] * len(price), pa.int64()),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    lake._s3.put_object(
        Bucket=lake.config.bucket, Key=f"lake/acme/orders/{name}.parquet", Body=buf.getvalue()
    )


@pytest.mark.parametrize(
    ("second", "code", "line"),
    [
        (pa.array([Decimal("2.500")], pa.decimal128(38, 3)), 0, None),
        (
            pa.array([2], pa.int64()),
            0,
            "WARNING: orders: column types: total: decimal128(38, 3) in 1 file(s), int64 in 1 "
            "file(s) (widened; one reader type holds both)",
        ),
        (
            pa.array(["2.5"], pa.string()),
            1,
            "ERROR: orders: column types: total: decimal128(38, 3) in 1 file(s), string in 1 "
            "file(s) (incompatible: one column with two types)",
        ),
    ],
    ids=["one type", "widened", "decimal and string"],
)
def test_one_column_with_two_types_across_files(lake, rules_file, capsys, second, code, line):
    put_prices(lake, "a", pa.array([Decimal("1.250")], pa.decimal128(38, 3)), first_id=1)
    put_prices(lake, "b", second, first_id=2)
    assert cli.main(["check", "--rules", str(rules_file)]) == code
    out = capsys.readouterr().out
    if line:
        assert line in out
    else:
        assert "column types" not in out
