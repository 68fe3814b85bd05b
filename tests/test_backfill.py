"""scripts/backfill.py: one stream's bookmark dropped or set to a date, the others
untouched (end to end in test_nothing_silent.py)."""

from __future__ import annotations

import copy
import importlib.util

import pytest
from erp_testing.project import ROOT

spec = importlib.util.spec_from_file_location("backfill", ROOT / "scripts" / "backfill.py")
assert spec is not None and spec.loader is not None
backfill = importlib.util.module_from_spec(spec)
spec.loader.exec_module(backfill)

ORDERS = {"replication_key": "ModifiedOn", "replication_key_value": "2025-05-01T00:00:00.000000Z"}
STATE = {
    "singer_state": {
        "bookmarks": {
            "sales_orders": {**ORDERS, "bookmark_keys": [7], "columns": ["order_id"]},
            "customers": {**ORDERS, "bookmark_keys": [3]},
            "inventory": {"partitions": [{**ORDERS, "bookmark_keys": [1]}]},
        }
    }
}
SINCE = "2024-01-01T00:00:00.000000Z"


@pytest.mark.parametrize(
    ("stream", "since", "bookmark"),
    [
        ("sales_orders", None, None),
        (
            "sales_orders",
            SINCE,
            {
                "replication_key": "ModifiedOn",
                "replication_key_value": SINCE,
                "columns": ["order_id"],
            },
        ),
        ("inventory", SINCE, {"partitions": [{**ORDERS, "replication_key_value": SINCE}]}),
        ("products", SINCE, None),  # no bookmark to set: read from start_date
    ],
)
def test_only_the_named_stream_changes(stream, since, bookmark):
    state, what = backfill.rewound(copy.deepcopy(STATE), stream, since)
    bookmarks = state["singer_state"]["bookmarks"]
    assert bookmarks.get(stream) == bookmark
    for other, before in STATE["singer_state"]["bookmarks"].items():
        if other != stream:
            assert bookmarks[other] == before
    assert f"'{stream}'" in what


@pytest.mark.parametrize(
    ("text", "bookmark"),
    [
        ("2024-01-01", SINCE),
        ("2024-01-01T02:00:00+02:00", SINCE),
        ("2024-01-01T00:00:00Z", SINCE),
    ],
)
def test_from_is_written_as_the_tap_writes_bookmarks(text, bookmark):
    assert backfill.parse_from(text) == bookmark


def test_a_bad_from_is_one_line():
    with pytest.raises(backfill.BackfillError, match="--from 'yesterday' is not an ISO 8601"):
        backfill.parse_from("yesterday")
