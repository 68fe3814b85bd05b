"""Incremental reading against the fake ERP: paging styles, ties, live changes, state."""

from __future__ import annotations

import datetime as dt

import pytest
from tap_erp.paging import format_timestamp

from .conftest import BASE_TS

STYLES = ["offset", "page", "cursor"]


def seed(fake, n=95, group=(20, 57)):
    """n customers; keys in [group) share one timestamp (a tie group > page size)."""
    for key in range(1, n + 1):
        if group[0] <= key < group[1]:
            when = BASE_TS + dt.timedelta(hours=1)
        else:
            when = BASE_TS + dt.timedelta(minutes=key * 7)
        fake.add("customers", key, when, CardName=f"c{key}", U_Segment="A")


def latest_by_key(records):
    out = {}
    for rec in records:
        out[rec["CustomerKey"]] = rec
    return out


def expected(fake):
    return {
        row["CustomerKey"]: fake.render(row)["CardName"]
        for row in fake.tables["customers"].values()
    }


def assert_sorted_and_utc(records):
    values = [r["ModifiedOn"] for r in records]
    assert all(v.endswith("Z") and len(v) == 27 for v in values)
    assert values == sorted(values)


@pytest.mark.parametrize("style", STYLES)
def test_full_sync_emits_every_row_once(fake, run_tap, style):
    fake.style = style
    seed(fake)
    run = run_tap(pagination_style=style)
    records = run.records("customers")
    assert sorted(r["CustomerKey"] for r in records) == list(range(1, 96))
    assert_sorted_and_utc(records)
    # +02:00 on the wire, UTC with Z in the output
    first = min(fake.tables["customers"].values(), key=lambda r: r["_ts"])
    assert records[0]["ModifiedOn"] == format_timestamp(first["_ts"])
    state = run.final_state["bookmarks"]["customers"]
    assert state["replication_key"] == "ModifiedOn"
    assert state["replication_key_value"] == records[-1]["ModifiedOn"]
    assert state["bookmark_keys"] == [records[-1]["CustomerKey"]]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("after", [1, 2, 3, 4, 5, 7])
def test_rows_changing_mid_paging_are_never_skipped(fake, run_tap, style, after):
    """Rows of the current tie group (the anchor among them) and earlier rows move
    to the end while the tap pages; the union of emitted versions is complete."""
    fake.style = style
    seed(fake)
    later = BASE_TS + dt.timedelta(days=30)

    def mutate(erp, n):
        if n == after:
            for key in (1, 5, 20, 21, 28, 29, 30, 40, 56, 60):
                erp.touch("customers", key, later, CardName=f"changed{key}")
            erp.add("customers", 500, later, CardName="new500")

    fake.hooks.append(mutate)
    run = run_tap(pagination_style=style)
    records = run.records("customers")
    got = {k: r["CardName"] for k, r in latest_by_key(records).items()}
    assert got == expected(fake)
    # Unchanged rows are emitted exactly once.
    counts = {}
    for rec in records:
        counts[rec["CustomerKey"]] = counts.get(rec["CustomerKey"], 0) + 1
    assert all(c == 1 for k, c in counts.items() if not got[k].startswith("changed"))
    assert_sorted_and_utc(records)


@pytest.mark.parametrize("style", STYLES)
def test_second_sync_emits_exactly_the_changes(fake, run_tap, style):
    fake.style = style
    seed(fake)
    first = run_tap(pagination_style=style)
    state = first.final_state
    again = run_tap(pagination_style=style, state=state)
    assert again.records("customers") == []

    later = BASE_TS + dt.timedelta(days=40)
    for key in (3, 30, 31):
        fake.touch("customers", key, later, CardName=f"v2-{key}")
    fake.add("customers", 96, later, CardName="new")
    third = run_tap(pagination_style=style, state=again.final_state)
    keys = sorted(r["CustomerKey"] for r in third.records("customers"))
    assert keys == [3, 30, 31, 96]
    bookmark = third.final_state["bookmarks"]["customers"]
    assert bookmark["replication_key_value"] == format_timestamp(later)
    assert sorted(bookmark["bookmark_keys"]) == [3, 30, 31, 96]


@pytest.mark.parametrize("style", STYLES)
def test_resume_inside_a_tie_group_skips_only_emitted_keys(fake, run_tap, style):
    fake.style = style
    seed(fake)
    tie = format_timestamp(BASE_TS + dt.timedelta(hours=1))
    state = {
        "bookmarks": {
            "customers": {
                "replication_key": "ModifiedOn",
                "replication_key_value": tie,
                "bookmark_keys": list(range(20, 40)),
            }
        }
    }
    run = run_tap(pagination_style=style, state=state)
    keys = [r["CustomerKey"] for r in run.records("customers")]
    # rest of the tie group, then every later row
    later = [k for k in range(1, 96) if not 20 <= k < 57 and k * 7 > 60]
    assert keys == list(range(40, 57)) + later


def test_bookmark_with_offset_is_normalised(fake, run_tap):
    seed(fake)
    tie_local = (BASE_TS + dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=-5)))
    state = {
        "bookmarks": {
            "customers": {
                "replication_key": "ModifiedOn",
                "replication_key_value": tie_local.isoformat(),
                "bookmark_keys": list(range(20, 57)),
            }
        }
    }
    run = run_tap(state=state)
    keys = [r["CustomerKey"] for r in run.records("customers")]
    assert keys == [k for k in range(9, 96) if not 20 <= k < 57]


def test_lookback_re_emits_recent_rows_without_moving_the_bookmark_back(fake, run_tap):
    seed(fake)
    first = run_tap()
    bookmark = first.final_state["bookmarks"]["customers"]
    # the last rows are 7 minutes apart: 20 minutes of lookback re-reads 2 rows
    again = run_tap(state=first.final_state, lookback_seconds=20 * 60)
    keys = [r["CustomerKey"] for r in again.records("customers")]
    assert keys == [93, 94]
    assert again.final_state["bookmarks"]["customers"] == bookmark
    # The re-read rows move no bookmark, yet a STATE follows them: a loader lands only
    # records a STATE covers.
    last_record = max(i for i, m in enumerate(again.messages) if m["type"] == "RECORD")
    assert any(m["type"] == "STATE" for m in again.messages[last_record:])


@pytest.mark.parametrize("window", ["day", "week", "month"])
def test_backfill_windows_cover_everything_once(fake, run_tap, window):
    seed(fake)
    run = run_tap(start_date="2024-12-20T00:00:00Z", backfill_window=window)
    records = run.records("customers")
    assert sorted(r["CustomerKey"] for r in records) == list(range(1, 96))
    assert_sorted_and_utc(records)
    lists = [q for (_, path, q) in fake.log if path.endswith("/customers")]
    assert any("modified_before" in q for q in lists)
    assert "modified_before" not in lists[-1]  # the last window is open-ended


def test_start_date_filters_first_sync(fake, run_tap):
    seed(fake)
    run = run_tap(start_date="2025-01-01T05:00:00+00:00")
    keys = [r["CustomerKey"] for r in run.records("customers")]
    assert keys == [k for k in range(43, 96) if not 20 <= k < 57]
    assert fake.log[-1][2]["modified_since"].startswith("2025-01-01T")


def test_state_messages_match_records_already_written(fake, run_tap, monkeypatch):
    from tap_erp.client import ERPStream

    monkeypatch.setattr(ERPStream, "STATE_MSG_FREQUENCY", 7)
    seed(fake)
    run = run_tap()
    emitted: dict[str, set] = {}
    n_states = 0
    for msg in run.messages:
        if msg["type"] == "RECORD":
            rec = msg["record"]
            emitted.setdefault(rec["ModifiedOn"], set()).add(rec["CustomerKey"])
        elif msg["type"] == "STATE":
            bm = msg["value"].get("bookmarks", {}).get("customers")
            if not bm or "replication_key_value" not in bm:
                continue
            n_states += 1
            value = bm["replication_key_value"]
            assert set(bm["bookmark_keys"]) == emitted[value]
            assert value == max(emitted)
    assert n_states >= 10


def test_custom_fields_from_metadata_and_static_fallback(fake, run_tap):
    seed(fake, n=3, group=(0, 0))
    run = run_tap()
    schema = next(m for m in run.messages if m["type"] == "SCHEMA")["schema"]
    assert schema["properties"]["U_Segment"]["type"] == ["string", "null"]
    assert schema["properties"]["U_Weight"]["multipleOf"] == 0.001
    assert run.records("customers")[0]["U_Segment"] == "A"

    fake.metadata_status = 404
    run = run_tap()
    schema = next(m for m in run.messages if m["type"] == "SCHEMA")["schema"]
    assert "U_Segment" not in schema["properties"]
    assert "U_Segment" not in run.records("customers")[0]


@pytest.mark.parametrize("style", STYLES)
def test_full_table_inventory(fake, run_tap, style):
    fake.style = style
    for item in range(1, 9):
        for whs in ("WH01", "WH02", "WH03"):
            fake.add("inventory", (item, whs), BASE_TS, OnHand=1.5)
    run = run_tap(streams=["inventory"], pagination_style=style)
    keys = [(r["ItemKey"], r["WhsCode"]) for r in run.records("inventory")]
    assert keys == sorted(fake.tables["inventory"])
    assert all("modified_since" not in q for (_, p, q) in fake.log if p.endswith("inventory"))
    assert "inventory" not in run.final_state.get("bookmarks", {}) or not run.final_state[
        "bookmarks"
    ]["inventory"].get("replication_key_value")


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("seed_value", range(8))
def test_random_live_changes_never_lose_a_row(fake, run_tap, style, seed_value):
    import random

    rng = random.Random(seed_value)
    fake.style = style
    seed(fake, n=120, group=(10, 80))
    clock = [BASE_TS + dt.timedelta(days=10)]
    change_at = set(rng.sample(range(2, 30), 4))

    def mutate(erp, n):
        if n in change_at:
            clock[0] += dt.timedelta(seconds=1)
            for key in rng.sample(sorted(k[0] for k in erp.tables["customers"]), 6):
                erp.touch("customers", key, clock[0], CardName=f"changed{key}-{n}")

    fake.hooks.append(mutate)
    run = run_tap(pagination_style=style, page_size=rng.choice([2, 3, 7, 10]))
    records = run.records("customers")
    got = {k: r["CardName"] for k, r in latest_by_key(records).items()}
    assert got == expected(fake)
    assert_sorted_and_utc(records)
