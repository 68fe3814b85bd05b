"""Deletes: tombstones and key snapshots become records with `_sdc_deleted_at`."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from pathlib import Path

import pytest
import yaml
from tap_erp.deletes import DELETED, with_deleted_property
from tap_erp.errors import TapERPError
from tap_erp.key_sets import decode_keys, encode_keys
from tap_erp.profiles import PROFILES_DIR, SCHEMAS_DIR, load_profile

from .conftest import BASE_TS

RNG = random.Random(5)
GAPS = [sum(RNG.randint(1, 20) for _ in range(i % 50)) + 1000 * i for i in range(100_000)]


@pytest.mark.parametrize(
    ("kind", "keys", "at_most_bytes"),
    [
        ("consecutive ids", list(range(1, 100_001)), 1_000),
        ("ids with gaps", GAPS, 200_000),
        ("names", [f"CUST-{i:07d}" for i in range(100_000)], 10_000),
        ("composite", [(i, f"WH{i % 3}") for i in range(1, 1001)], 10_000),
        ("none", [], 100),
    ],
)
def test_key_sets_round_trip_compactly(kind, keys, at_most_bytes):
    stored = encode_keys(keys)
    size = len(json.dumps(stored))
    print(f"{kind}: {len(keys)} keys in {size} bytes of state")
    assert size <= at_most_bytes
    assert decode_keys(json.loads(json.dumps(stored)), "x") == set(keys)


@pytest.mark.parametrize(
    "damaged",
    [{"encoding": "json", "count": 1, "data": "!!"}, {"count": 2}, "text", None],
)
def test_a_damaged_key_set_is_one_line(damaged):
    with pytest.raises(TapERPError, match="state: here holds no readable key set"):
        decode_keys(damaged, "here")


def test_schema_gains_the_deleted_column_and_nullable_values():
    schema = {"properties": {"Key": {"type": ["integer"]}, "Name": {"type": "string"}}}
    out = with_deleted_property(schema, ["Key"])
    assert out["properties"] == {
        "Key": {"type": ["integer"]},
        "Name": {"type": ["string", "null"]},
        DELETED: {"type": ["string", "null"], "format": "date-time"},
    }


def tombstone(key: int, when: dt.datetime) -> dict:
    return {"CustomerKey": key, "DeletedOn": when.isoformat()}


def test_tombstones_become_delete_records_once(fake, run_tap):
    for key in range(1, 6):
        fake.add("customers", key, BASE_TS + dt.timedelta(minutes=key))
    first = run_tap()
    assert [r[DELETED] for r in first.records("customers")] == [None] * 5
    gone = BASE_TS + dt.timedelta(hours=1)
    del fake.tables["customers"][(2,)]
    fake.tombstones = [tombstone(2, gone)]
    second = run_tap(state=first.final_state)
    (record,) = second.records("customers")
    assert record["CustomerKey"] == 2
    assert record[DELETED] == record["ModifiedOn"] == "2025-01-01T01:00:00.000000Z"
    assert {v for k, v in record.items() if k not in ("CustomerKey", "ModifiedOn", DELETED)} == {
        None
    }
    bookmark = second.final_state["bookmarks"]["customers"]
    assert bookmark["deletes"] == {"since": "2025-01-01T01:00:00.000000Z", "keys_at_since": [2]}
    # the data bookmark did not move to the deletion time
    assert (
        bookmark["replication_key_value"]
        == first.final_state["bookmarks"]["customers"]["replication_key_value"]
    )
    # a tombstone listed again (>= since) is not sent again; a new one is
    fake.tombstones.append(tombstone(4, gone))
    third = run_tap(state=second.final_state)
    assert [r["CustomerKey"] for r in third.records("customers")] == [4]


@pytest.mark.parametrize(
    ("city", "mapped_city"),
    [("BillTo", {"City": "Oslo"}), ('BillTo["City"]', "Oslo")],  # a rename, an expression
)
def test_stream_maps_that_drop_other_fields_keep_the_delete(fake, run_tap, city, mapped_city):
    fake.add("customers", 1, BASE_TS, BillTo={"City": "Oslo"})
    fake.tombstones = [tombstone(7, BASE_TS)]
    maps = {
        "customers": {
            "__key_properties__": ["customer_id"],
            "customer_id": "CustomerKey",
            "city": city,
            "__else__": "__NULL__",
        }
    }
    run = run_tap(stream_maps=maps)
    assert run.records("customers") == [
        {"customer_id": 1, "city": mapped_city, DELETED: None},
        {"customer_id": 7, "city": None, DELETED: "2025-01-01T00:00:00.000000Z"},
    ]


def test_a_missing_tombstone_endpoint_fails_before_any_row(fake, run_tap):
    fake.add("customers", 1, BASE_TS)
    fake.add("sales_order_lines", 1, BASE_TS)
    fake.tombstones = None
    with pytest.raises(TapERPError) as failure:
        run_tap(streams=("sales_order_lines", "customers"))
    message = str(failure.value)
    assert re.fullmatch(
        r"stream '(\w+)': the ERP has no endpoint for the profile key 'streams\.\1\.deletes' "
        r"of profile 'erp_sandbox' \(HTTP 404 .*\); fix or remove it \(nothing was extracted\)",
        message,
    )
    # nothing but the first tombstone request was sent: no row read, none sent
    (request,) = [path for _, path, _ in fake.log if not path.endswith("/$metadata")]
    assert request.endswith("/$deleted")


def key_snapshot_profile(tmp_path: Path) -> str:
    """The sandbox profile with customers' deletes found by key snapshot."""
    profile = yaml.safe_load((PROFILES_DIR / "erp_sandbox.yaml").read_text())
    profile["schemas_dir"] = str(SCHEMAS_DIR / "erp_sandbox")
    profile["streams"]["customers"]["deletes"] = {"type": "key_snapshot"}
    path = tmp_path / "snapshot.yaml"
    path.write_text(yaml.safe_dump(profile))
    assert load_profile(str(path)).streams["customers"].deletes is not None
    return str(path)


@pytest.mark.parametrize(
    ("every_runs", "deleted_per_run"),
    [(1, [[], [2], [5], []]), (2, [[], [], [2, 5], []])],
)
def test_key_snapshots_every_n_runs(fake, run_tap, tmp_path, every_runs, deleted_per_run):
    profile = key_snapshot_profile(tmp_path)
    for key in range(1, 5):
        fake.add("customers", key, BASE_TS + dt.timedelta(minutes=key))
    changes = [
        lambda: None,
        lambda: (
            fake.tables["customers"].pop((2,)),
            fake.add("customers", 5, BASE_TS + dt.timedelta(hours=1)),
        ),
        lambda: fake.tables["customers"].pop((5,)),  # seen only by an incremental run
        lambda: None,
    ]
    state = None
    for change, expected in zip(changes, deleted_per_run, strict=True):
        change()
        run = run_tap(state=state, profile=profile, key_snapshot_every_runs=every_runs)
        deleted = [r["CustomerKey"] for r in run.records("customers") if r[DELETED]]
        assert deleted == expected
        state = run.final_state
    stored = state["bookmarks"]["customers"]["deletes"]["keys"]
    assert decode_keys(stored, "x") == {1, 3, 4}
