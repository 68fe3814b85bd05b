"""`meltano run tap-erp target-s3` end to end: real Meltano, sandbox ERP, local S3."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

from erp_quality.audit import audit_records, last_run
from erp_testing.project import STREAMS, state_id
from erp_testing.standard_model import KEYS, LINEAGE_COLUMNS, SPEC_COLUMNS, STANDARD_COLUMNS

DEMO_RUN = ("--environment=demo", "run", "tap-erp", "target-s3")


def _count(lake, stream: str) -> int:
    return lake.query(f"SELECT count(*) FROM {lake.table(stream)}")[0][0]


def _state(project) -> dict:
    out = project.run("--environment=demo", "state", "get", state_id("demo")).stdout
    return json.loads(out[out.index("{") :])


def _bookmark(state: dict, stream: str) -> str:
    return state["singer_state"]["bookmarks"][stream]["replication_key_value"]


def test_full_run_lands_every_table_with_standard_columns(project, erp):
    project.run(*DEMO_RUN)
    lake = project.lake()
    totals = erp.stats("acme")["counts"]
    for stream in STREAMS:
        columns = set(lake.columns(stream))
        wanted = STANDARD_COLUMNS[stream] + LINEAGE_COLUMNS + SPEC_COLUMNS["acme"].get(stream, [])
        assert not set(wanted) - columns, f"{stream} lacks {sorted(set(wanted) - columns)}"
        assert _count(lake, stream) == totals[stream], stream
        assert lake.query(f"SELECT DISTINCT _client_id FROM {lake.table(stream)}") == [("acme",)]


def test_values_land_exactly(project, erp):
    """Money stays exact and timestamps keep their instant and microseconds."""
    project.run(*DEMO_RUN)
    lake = project.lake()
    table = lake.table("sales_orders")
    landed = {
        row[0]: row[1:]
        for row in lake.query(f"SELECT order_id, total_amount, updated_at, order_date FROM {table}")
    }
    source = erp.records("acme", "sales_orders")
    assert len(landed) == len(source)
    for record in source:
        total, updated_at, order_date = landed[record["DocEntry"]]
        assert total == Decimal(str(record["DocTotal"]))
        assert updated_at == datetime.fromisoformat(record["ModifiedOn"])
        assert order_date.isoformat() == record["DocDate"]


def test_second_run_lands_only_the_changes_and_state_advances(project, erp):
    project.run(*DEMO_RUN)
    first_state = _state(project)
    change = erp.advance(
        "acme",
        seconds=3600,
        new_orders=5,
        updated_orders=7,
        updated_lines=9,
        new_customers=2,
        updated_customers=4,
        updated_vendors=2,
        updated_products=3,
    )["changed"]
    assert all(change[s] for s in ("sales_orders", "sales_order_lines", "customers", "vendors"))
    project.run(*DEMO_RUN)
    lake = project.lake()
    run_id, records = last_run(audit_records(lake))
    rows = {r["stream"]: r["rows"] for r in records}
    for stream in STREAMS:
        if stream == "inventory":  # a snapshot endpoint: every run lands it whole
            assert rows[stream] == erp.stats("acme")["counts"]["inventory"]
            continue
        assert rows.get(stream, 0) == len(change.get(stream, [])), stream
    second_state = _state(project)
    for stream in ("sales_orders", "sales_order_lines", "customers"):
        assert _bookmark(second_state, stream) > _bookmark(first_state, stream)
    # The newest version of every key equals the ERP now.
    for stream in ("sales_orders", "customers"):
        (native_key,), (key,) = KEYS[stream]
        latest = dict(
            lake.query(f"SELECT {key}, max(updated_at) FROM {lake.table(stream)} GROUP BY {key}")
        )
        source = {
            r[native_key]: datetime.fromisoformat(r["ModifiedOn"])
            for r in erp.records("acme", stream)
        }
        assert latest == source, stream
    assert run_id


def test_job_checks_quality_and_prints_the_audit(project, erp):
    result = project.run("--environment=demo", "run", "erp-to-s3")
    output = result.stdout + result.stderr
    assert "run audit" in output
    assert "quality passed" in output
    report = project.lake().read_json(f"{project.endpoints.prefix}/acme/_quality/latest.json")
    assert report["status"] == "passed"
    assert report["streams"]["sales_orders"]["rows"] == erp.stats("acme")["counts"]["sales_orders"]
    assert report["streams"]["sales_orders"]["duplicate_versions"] == 0
