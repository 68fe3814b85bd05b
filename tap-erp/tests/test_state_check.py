"""A state is checked before use: a bad one is one line naming the stream and the fix."""

from __future__ import annotations

import datetime as dt

import pytest
from tap_erp.state_check import StateError, check_state

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
KEYS = {"sales_orders": "ModifiedOn", "inventory": None}


def bookmark(value, key="ModifiedOn", **extra):
    entry = {"replication_key": key, "replication_key_value": value, **extra}
    return {"bookmarks": {"sales_orders": entry}}


BAD_STATES = [
    # (scenario, state, the line must say)
    ("not an object", "garbage", r"state: is 'garbage', not an object"),
    ("a list", [1, 2], r"not an object with 'bookmarks'"),
    ("bookmarks not an object", {"bookmarks": "x"}, r"'bookmarks' is 'x'"),
    ("stream bookmark not an object", {"bookmarks": {"sales_orders": 3}},
     r"stream 'sales_orders' is 3"),
    ("bookmark a number", bookmark(20260101),
     r"stream 'sales_orders'.*20260101 is not an ISO 8601"),
    ("bookmark not a date", bookmark("yesterday"), r"'yesterday' is not an ISO 8601 date-time"),
    ("another replication key", bookmark("2026-01-01T00:00:00Z", key="UpdatedOn"),
     r"replication key 'UpdatedOn', but the stream's is 'ModifiedOn'"),
    ("bookmark in 2099", bookmark("2099-01-01T00:00:00+00:00"), r"2099-01-01.* is later than now"),
    ("bookmark keys not a list", bookmark("2026-01-01T00:00:00Z", bookmark_keys=5),
     r"bookmark_keys 5"),
    ("bookmark on a snapshot stream",
     {"bookmarks": {"inventory": {"replication_key": "x", "replication_key_value": "2026-01-01"}}},
     r"stream 'inventory' has a bookmark but the stream is read whole"),
]  # fmt: skip


@pytest.mark.parametrize(("scenario", "state", "line"), BAD_STATES, ids=[c[0] for c in BAD_STATES])
def test_a_bad_state_is_one_line_with_the_fix(scenario, state, line):
    with pytest.raises(StateError, match=line) as caught:
        check_state(state, KEYS, NOW)
    message = str(caught.value)
    assert "\n" not in message
    assert "state clear <state_id>" in message
    assert "state set <state_id>" in message


GOOD_STATES = [
    ("empty", {}),
    ("no bookmarks yet", {"bookmarks": {}}),
    ("a bookmark", bookmark("2026-05-31T23:00:00.123456+00:00", bookmark_keys=[1, 2])),
    ("a bookmark minutes ahead (clock drift)", bookmark("2026-06-01T00:30:00Z")),
    ("a progress marker only", {"bookmarks": {"sales_orders": {"progress_markers": {}}}}),
    ("a snapshot stream's empty entry", {"bookmarks": {"inventory": {}}}),
]


@pytest.mark.parametrize(("scenario", "state"), GOOD_STATES, ids=[c[0] for c in GOOD_STATES])
def test_a_good_state_passes(scenario, state):
    assert check_state(state, KEYS, NOW) == []


def test_bookmarks_of_unknown_streams_are_reported():
    state = {"bookmarks": {"old_stream": {"replication_key_value": 1}}}
    assert check_state(state, KEYS, NOW) == ["old_stream"]


IN_THE_TAP = ("not an object", "bookmark in 2099", "another replication key")


@pytest.mark.parametrize(
    ("scenario", "state", "line"),
    [c for c in BAD_STATES if c[0] in IN_THE_TAP],
)
def test_the_tap_checks_its_state_before_reading_anything(run_tap, scenario, state, line):
    """In the tap: the error comes before any request for data."""
    with pytest.raises(StateError, match=line):
        run_tap(streams=("sales_orders",), state=state)
