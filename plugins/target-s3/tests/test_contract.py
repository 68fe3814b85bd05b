"""The schema contract, the row checks and the quarantine: what may change, what fails."""

from __future__ import annotations

import json
from decimal import Decimal

import pyarrow as pa
import pytest
from conftest import list_keys, messages, read_parquet, run_target, states
from target_s3.contract import resolve
from target_s3.convert import StreamConverter
from target_s3.delta import fit_numbers
from target_s3.errors import DataError
from target_s3.fault_proxy import fault_proxy
from target_s3.quarantine import find_rejects
from target_s3.widening import join

DEC = pa.decimal128


@pytest.mark.parametrize(
    ("old", "new", "joined"),
    [
        (pa.int64(), pa.int64(), pa.int64()),
        (pa.int64(), DEC(18, 3), DEC(22, 3)),
        (DEC(18, 3), pa.int64(), DEC(22, 3)),
        (DEC(10, 2), DEC(12, 2), DEC(12, 2)),
        (DEC(10, 2), DEC(10, 4), DEC(12, 4)),
        (DEC(38, 0), DEC(10, 5), None),
        (DEC(18, 3), pa.string(), None),
        (pa.string(), pa.int64(), None),
        (pa.int64(), pa.float64(), None),
        (pa.date32(), pa.timestamp("us", tz="UTC"), None),
        (
            pa.struct([("a", pa.int64())]),
            pa.struct([("a", DEC(20, 2)), ("b", pa.string())]),
            pa.struct([("a", DEC(21, 2)), ("b", pa.string())]),
        ),
        (pa.list_(pa.int64()), pa.list_(pa.string()), None),
    ],
)
def test_join_is_the_narrowest_type_holding_both(old, new, joined):
    result = join(old, new)
    assert (result is None) if joined is None else result.equals(joined)


def contract_of(types: dict, keys=("id",)) -> dict:
    return resolve("s", "k", types, non_null=[], key_properties=list(keys), stored=None).document(
        "run-0"
    )


@pytest.mark.parametrize(
    ("old", "new", "changes", "violations", "write_as"),
    [
        ({"id": pa.int64()}, {"id": pa.int64()}, [], [], {}),
        ({"id": pa.int64()}, {"id": pa.int64(), "x": pa.string()}, ["x added"], [], {}),
        (
            {"id": pa.int64(), "w": pa.int64()},
            {"id": pa.int64(), "w": DEC(18, 3)},
            ["w widened"],
            [],
            {"w": DEC(22, 3)},
        ),
        (
            {"id": pa.int64(), "w": DEC(12, 2)},
            {"id": pa.int64(), "w": DEC(10, 2)},
            [],
            [],
            {"w": DEC(12, 2)},
        ),
        (
            {"id": pa.int64(), "w": DEC(18, 3)},
            {"id": pa.int64(), "w": pa.string()},
            [],
            ["w type changed"],
            {"w": DEC(18, 3)},
        ),
        (
            {"id": pa.int64()},
            {"id": DEC(20, 0)},
            [],
            ["id key column type changed"],
            {"id": pa.int64()},
        ),
    ],
)
def test_a_schema_version_against_the_contract(old, new, changes, violations, write_as):
    res = resolve("s", "k", new, non_null=[], key_properties=["id"], stored=contract_of(old))
    assert [f"{c['column']} {c['change']}" for c in res.changes] == changes
    assert [f"{v['column']} {v['change']}" for v in res.violations] == violations
    assert {n: str(k) for n, k in res.write_types.items()} == {
        n: str(k) for n, k in write_as.items()
    }
    assert res.needs_write == bool(changes)


@pytest.mark.parametrize(
    ("prop", "value", "found"),
    [
        ({"type": "string", "format": "date-time"}, "0001-01-01T00:00:00+02:00", True),
        ({"type": "string", "format": "date-time"}, "9999-12-31T23:59:59.999999-05:00", True),
        ({"type": "string", "format": "date-time"}, "0001-01-01T00:00:00Z", False),
        ({"type": "string", "format": "date-time"}, "9999-12-31T23:59:59.999999Z", False),
        ({"type": "string", "format": "date"}, "9999-12-31", False),
    ],
)
def test_instants_outside_the_readable_range_are_found(prop, value, found):
    conv = StreamConverter("s", {"properties": {"at": prop}}, [])
    line = json.dumps({"type": "RECORD", "stream": "s", "record": {"at": value}}).encode()
    table = conv.to_table(line + b"\n", 1)
    rejects = find_rejects(table, conv.fields, [])
    assert bool(rejects) is found


@pytest.mark.parametrize(
    ("stored", "incoming", "lands_as"),
    [
        (DEC(22, 3), pa.int64(), DEC(22, 3)),
        (DEC(12, 2), DEC(10, 2), DEC(12, 2)),
        (pa.int64(), DEC(22, 3), None),
        (pa.int64(), pa.int64(), pa.int64()),
    ],
)
def test_the_current_table_never_narrows_a_number_silently(stored, incoming, lands_as):
    """A Delta merge would cast 2.125 into an int64 column as 2: cast losslessly or fail."""
    source = pa.table({"p": pa.array(["5"]).cast(pa.decimal128(3, 0)).cast(incoming)})
    target = pa.schema([("p", stored)])
    if lands_as is None:
        with pytest.raises(DataError, match=r"column 'p'.*stores int64 and cannot widen"):
            fit_numbers(target, source, "s", "s3://b/t")
        return
    assert fit_numbers(target, source, "s", "s3://b/t").schema.field("p").type.equals(lands_as)


# --- through the loader ----------------------------------------------------------------

SCHEMA = {
    "properties": {
        "id": {"type": ["integer"]},
        "price": {"type": ["number"], "multipleOf": 0.001},
        "at": {"type": ["string"], "format": "date-time"},
        "note": {"type": ["string", "null"]},
    }
}


def stream(records: list[dict], schema: dict = SCHEMA) -> bytes:
    return messages(
        {"type": "SCHEMA", "stream": "items", "schema": schema, "key_properties": ["id"]},
        *({"type": "RECORD", "stream": "items", "record": r} for r in records),
        {"type": "STATE", "value": {"done": len(records)}},
    )


def row(i: int, **values) -> dict:
    return {"id": i, "price": 1.5, "at": "2024-03-05T10:00:00Z", "note": None, **values}


def with_type(name: str, prop: dict) -> dict:
    return {"properties": {**SCHEMA["properties"], name: prop}}


def error_line(result) -> str:
    lines = [x for x in result.stderr.decode().splitlines() if "target-s3 failed:" in x]
    assert len(lines) == 1, result.stderr.decode()[-3000:]
    assert "Traceback" not in result.stderr.decode()
    return lines[0]


def landed(s3, bucket: str, folder: str) -> list[dict]:
    tables = read_parquet(s3, bucket, f"lake/acme/{folder}/")
    return [r for t in tables for r in t.to_pylist()]


#: (name, settings, runs: [(schema, records)], exit code of the last run, words of its
#:  one line, rows landed, rows quarantined). The end-to-end file
#:  tests/test_schema_contract.py runs the other cases through Meltano and the sandbox.
SCENARIOS = [
    (
        "decimal to string quarantined",
        {"stream_on_schema_violation": {"items": "quarantine"}},
        [
            (SCHEMA, [row(1)]),
            (with_type("price", {"type": ["string"]}), [row(2, price="2.5"), row(3, price="n/a")]),
        ],
        0,
        [],
        2,
        1,
    ),
    (
        "null in a non-null column fails",
        {},
        [(SCHEMA, [row(1), row(2, price=None)])],
        1,
        ["stream 'items'", "column 'price'", "declared non-null"],
        0,
        0,
    ),
    (
        "year 0 in the partition column fails",
        {"partition_field": "at"},
        [(SCHEMA, [row(1), row(2, at="0001-01-01T00:00:00+02:00")])],
        1,
        ["stream 'items'", "column 'at'", "0001-01-01T00:00:00+02:00", "0001-01-01..9999-12-31"],
        0,
        0,
    ),
]


@pytest.mark.parametrize(
    ("settings", "runs", "code", "words", "rows", "rejected"),
    [s[1:] for s in SCENARIOS],
    ids=[s[0] for s in SCENARIOS],
)
def test_contract_scenarios(
    s3, bucket, config, tmp_path, settings, runs, code, words, rows, rejected
):
    config.update(settings)
    for schema, records in runs:
        result = run_target(config, stream(records, schema), tmp_path)
    assert result.returncode == code, result.stderr.decode()[-3000:]
    if code:
        line = error_line(result)
        for word in words:
            assert word in line, line
    assert len(landed(s3, bucket, "items")) == rows
    quarantined = landed(s3, bucket, "_rejected/items")
    assert len(quarantined) == rejected
    assert all(r["reason"] and r["record"] for r in quarantined)
    assert newest_audit(s3, bucket)["rejected_rows"] == rejected


def newest_audit(s3, bucket) -> dict:
    """The last run's audit (by finish time: run ids of one second do not sort by time)."""
    client = s3.client()
    audits = [
        json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        for key in list_keys(s3, bucket, "lake/acme/_audit/")
    ]
    return max(audits, key=lambda audit: audit["finished_at"])


WIDENING = [
    (with_type("price", {"type": ["integer"]}), [row(1, price=7)]),
    (SCHEMA, [row(2, price=2.125)]),
]


def test_widening_is_in_the_contract_and_the_audit(s3, bucket, config, tmp_path):
    """int64 then decimal(38,3): both land, the contract and the audit say so."""
    for schema, records in WIDENING:
        assert run_target(config, stream(records, schema), tmp_path).returncode == 0
    prices = [r["price"] for r in landed(s3, bucket, "items")]
    assert sorted(prices) == [Decimal("2.125"), 7]
    client = s3.client()
    contract = json.loads(
        client.get_object(Bucket=bucket, Key="lake/acme/_schema/items.json")["Body"].read()
    )
    assert contract["columns"]["price"]["type"] == "decimal128(38, 3)"
    assert [c["change"] for c in contract["changes"]] == ["widened"]
    audit = newest_audit(s3, bucket)
    assert audit["schema_changes"][0]["column"] == "price"
    assert audit["schema_contract"] == "lake/acme/_schema/items.json"


def test_audit_refused_after_commit_says_the_data_is_safe(s3, bucket, config, tmp_path):
    def deny_audit(method, path, headers, n):
        return (403, "AccessDenied") if method == "PUT" and "/_audit/" in path else None

    with fault_proxy(s3.port, deny_audit) as proxy:
        config["endpoint_url"] = proxy.url
        result = run_target(config, stream([row(1), row(2)]), tmp_path)
    line = error_line(result)
    assert result.returncode == 1
    for word in (
        "audit could not be written",
        "_audit/",
        "data is committed and safe",
        "final STATE was emitted",
    ):
        assert word in line, line
    assert states(result.stdout) == [{"done": 2}]
    assert len(landed(s3, bucket, "items")) == 2
    assert not list_keys(s3, bucket, "lake/_staging/acme/")
